"""Record real SmolLM2 replies for the decision-log fixture, and build the log from them.

Not a test. Two steps, run from the repository root:

1. ``python tests/decisions/make_medical_log.py record`` (needs the ``local`` extra: the embedded
   SmolLM2-135M-Instruct): asks every medical question of the documented audit run
   (``docs/audit-run/records.jsonl``, MMLU clinical knowledge, question stems only, in file order)
   through a :class:`~guardrail.Guard` under the bundled ``policies/medical.guard`` and appends
   every model call, exactly as the guard made it, to ``tests/decisions/data/medical_replay.jsonl``
   (:class:`~guardrail.providers.RecordingProvider`). Seeds: question ``i`` (0-based) uses seed
   ``1000 * i``; completion cap 48 tokens; one llama.cpp thread.
2. ``python tests/decisions/make_medical_log.py log``: replays those recorded calls
   (:class:`~guardrail.providers.ReplayProvider`, no model needed) through the same guard with a
   :class:`~guardrail.decisions.JSONLDecisionLog` and writes
   ``tests/decisions/data/medical_decisions.jsonl`` (one record per question; request id = the
   audit-run question id). Both steps use :func:`medical_policy` (the bundled file, schedule as
   recorded).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from guardrail import Guard
from guardrail.decisions import DecisionSink, JSONLDecisionLog
from guardrail.policy import Policy, load_policy
from guardrail.providers import ChatProvider, RecordingProvider, ReplayProvider

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "data"
RECORDS = ROOT / "docs" / "audit-run" / "records.jsonl"
POLICY = ROOT / "policies" / "medical.guard"
REPLAY = HERE / "medical_replay.jsonl"
LOG = HERE / "medical_decisions.jsonl"
MODEL = "SmolLM2-135M-Instruct"
MAX_TOKENS = 48


def medical_questions() -> list[tuple[str, str]]:
    """(audit-run question id, question stem) of every medical question, in file order."""
    seen: dict[str, str] = {}
    with RECORDS.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["domain"] == "medical" and r["question_id"] not in seen:
                seen[r["question_id"]] = r["question"]
    return list(seen.items())


def medical_policy() -> Policy:
    """The bundled medical policy with the call schedule the replies were recorded under: no
    ``plan`` (answer, follow-up, then one request for all 7 samples). Its decisions are the
    same in every plan (docs/sdk.md, Plans); ``plan cost`` would ask for the samples in waves,
    calls the recording does not hold."""
    return load_policy(POLICY).model_copy(update={"plan": None})


async def run(provider: ChatProvider, sink: DecisionSink | None) -> None:
    guard = Guard(
        {"medical": medical_policy()},
        provider,
        model=MODEL,
        max_tokens=MAX_TOKENS,
        timeout=None,
        decision_log=sink,
    )
    try:
        for i, (qid, question) in enumerate(medical_questions()):
            r = await guard.chat(
                [{"role": "user", "content": question}],
                domain="medical",
                request_id=qid,
                seed=1000 * i,
            )
            print(f"{qid}: {r.status} {r.action}", file=sys.stderr)
    finally:
        await guard.aclose()


def main() -> None:
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    HERE.mkdir(parents=True, exist_ok=True)
    if step == "record":
        from guardrail.providers.local import LocalProvider

        REPLAY.unlink(missing_ok=True)
        asyncio.run(run(RecordingProvider(LocalProvider(n_threads=1), REPLAY), None))
    elif step == "log":
        LOG.unlink(missing_ok=True)
        sink = JSONLDecisionLog(LOG)
        try:
            asyncio.run(run(ReplayProvider(REPLAY, model=MODEL), sink))
        finally:
            sink.close()
    else:
        raise SystemExit("usage: make_medical_log.py record|log")


if __name__ == "__main__":
    main()
