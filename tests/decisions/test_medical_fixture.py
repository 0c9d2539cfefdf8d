"""Acceptance (issue 16): replay of the bundled medical.guard against a threshold variant, on a
decision log made from real SmolLM2-135M replies to the audit-run's medical questions, equals a
brute-force re-evaluation of every record.

Fixtures (tests/decisions/data, made by tests/decisions/make_medical_log.py): the guard's model
calls recorded from the embedded SmolLM2 (``medical_replay.jsonl``) and the decision log the
guard wrote when those calls were replayed through it (``medical_decisions.jsonl``). When a
signal's definition changes on purpose, re-run step 2 (``make_medical_log.py log``, no model
needed) and check the new log's counts below by hand.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

from guardrail import Guard
from guardrail.decisions import MemoryDecisionLog
from guardrail.decisions.replay import replay_files
from guardrail.policy import load_policy
from guardrail.providers import ReplayProvider

from .make_medical_log import (
    LOG,
    MAX_TOKENS,
    MODEL,
    POLICY,
    REPLAY,
    medical_policy,
    medical_questions,
)

#: the variant: abstain below 25% sample agreement instead of 70%, review below 80% instead of 90%
VARIANT = (("when consistency < 70%", "when consistency < 25%"),
           ("when consistency < 90%", "when consistency < 80%"))  # fmt: skip


#: values a lacking signal could take (None = it failed): the medical policy's signals, with
#: consistency in steps of 1/7 (7 samples) and stated confidence in whole percents
GRID: dict[str, list[Any]] = {
    "consistency": [k / 7 for k in range(8)] + [None],
    "verbalized": [i / 100 for i in range(101)] + [None],
    "hedges": [0, 1, 2, 3, None],
    "reply_kind": ["answer", "refusal", "dont_know", "restatement", "template", "loop", None],
}


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _variant(tmp_path: Path) -> Path:
    text = POLICY.read_text(encoding="utf-8")
    for old, new in VARIANT:
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = tmp_path / "medical.guard"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_committed_log_is_what_the_guard_writes() -> None:
    """Replaying the recorded calls through the guard reproduces the committed log (all but
    the wall-clock fields)."""
    sink = MemoryDecisionLog()
    guard = Guard(
        {"medical": medical_policy()},
        ReplayProvider(REPLAY, model=MODEL),
        model=MODEL,
        max_tokens=MAX_TOKENS,
        timeout=None,
        decision_log=sink,
    )

    async def run() -> None:
        for i, (qid, q) in enumerate(medical_questions()):
            await guard.chat([{"role": "user", "content": q}], request_id=qid, seed=1000 * i)

    asyncio.run(run())

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        d = {k: v for k, v in d.items() if k != "time"}
        d["cost"] = {k: v for k, v in d["cost"].items() if k != "latency_s"}
        return d

    got = [strip(r.to_dict()) for r in sink.records]
    want = [strip(r) for r in _records(LOG)]
    assert got == want
    assert len(want) == len(medical_questions()) == 50  # 50 medical questions in the audit run


def test_replay_equals_brute_force(tmp_path: Path) -> None:
    candidate = load_policy(_variant(tmp_path))
    report = replay_files([LOG], {"medical": candidate}).report()
    # brute force: every record re-evaluated on its own, no memo, no chunks
    # a record whose lacking signals (skipped by the guard) could take values that give
    # different actions is undetermined; otherwise its one action
    brute: Counter[str] = Counter()
    for r in _records(LOG):
        known = dict(r["values"]) | {m: None for m in r["missing"]} | {"domain": r["domain"]}
        lacking = sorted(candidate.needed_signals() - known.keys())
        actions = {
            candidate.evaluate(known | dict(zip(lacking, combo, strict=True))).action.value
            for combo in itertools.product(*(GRID[s] for s in lacking))
        }
        new = actions.pop() if len(actions) == 1 else "undetermined"
        if new != r["action"]:
            brute[f"{r['action']}->{new}"] += 1
    d = report["domains"]["medical"]
    assert d["transitions"] == dict(brute)
    assert d["changed"] == sum(brute.values())
    assert d["undetermined"] == sum(v for k, v in brute.items() if k.endswith("undetermined"))
    # by hand from the log: every record was abstained (consistency < 70%); consistency
    # values are k/7: 0/7 x32, 1/7 x8, 2/7 x6, 3/7 x3, 4/7 x1 (log rebuilt with
    # make_medical_log.py log after the question-aware answer span changed 8 consistency
    # values, issue 10; no action changed: it was 0/7 x30, 1/7 x11, 2/7 x6, 3/7 x2, 4/7 x1).
    # The variant abstains below 25% only, so 2/7 (0.286), 3/7 and 4/7 (6 + 3 + 1 = 10
    # records) now fall to `below_medical_bar` (< 80%): abstain -> review
    assert d["transitions"] == {"abstain->review": 10}
    assert d["after"]["abstention_rate"] == 40 / 50
