"""Re-record ``smollm2_replay.jsonl`` and ``smollm2_records.jsonl`` (real SmolLM2-135M replies).

Run from the repository root with the ``local`` extra installed and ../shared/data present::

    .venv/bin/python tests/runner/data/record_replay.py

The replay file holds every call of an audit run of three real questions (MMLU anatomy row 0,
TriviaQA line 2, BIG-bench known_unknowns example 0) with the settings in ``CONFIG``; the
records file is what that run wrote. ``tests/runner/test_cli.py`` replays the calls through
``guardrail audit run --replay`` and must reproduce the records exactly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from guardrail.providers import LocalProvider, RecordingProvider
from guardrail.runner.questions import Question, load_questions
from guardrail.runner.run import AuditRunner, RunConfig

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2].parent / "shared" / "data"
CONFIG = RunConfig(
    max_tokens=24, sample_max_tokens=10, samples=5, shuffle_choices=True, logprob_probe=True
)
IDS = ("mmlu/anatomy/0", "triviaqa/1", "bigbench/known_unknowns/0")


def questions() -> list[Question]:
    pool = [
        *load_questions(DATA / "mmlu/test/anatomy_test.csv"),
        *load_questions(DATA / "triviaqa/triviaqa_sm_sub.jsonl")[:5],
        *load_questions(DATA / "bigbench/known_unknowns"),
    ]
    return [q for q in pool if q.id in IDS]


async def main() -> None:
    replay, records = HERE / "smollm2_replay.jsonl", HERE / "smollm2_records.jsonl"
    for p in (replay, records):
        p.unlink(missing_ok=True)
    provider = RecordingProvider(LocalProvider(n_ctx=2048, n_threads=1), replay)
    try:
        summary = await AuditRunner(provider, CONFIG).run(questions(), records, progress=False)
    finally:
        await provider.aclose()
    print(summary.model_dump_json(indent=1))


if __name__ == "__main__":
    asyncio.run(main())
