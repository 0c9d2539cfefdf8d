"""End to end against the embedded SmolLM2-135M model (the ``local`` extra): a tiny slice of
real questions with short answers. Skipped, with the reason, only when the extra is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail.calibration import load_records
from guardrail.runner.questions import load_questions
from guardrail.runner.records import ALL_SOURCES, read_records
from guardrail.runner.run import AuditRunner, RunConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_provider():  # type: ignore[no-untyped-def]
    from guardrail.providers import LocalModelUnavailable, LocalProvider

    try:
        provider = LocalProvider(n_ctx=1024)
    except LocalModelUnavailable as exc:
        pytest.skip(f"embedded model not installed (pip install 'guardrail-uq[local]'): {exc}")
    return provider


async def test_tiny_real_slice(local_provider, shared_data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    questions = [
        load_questions(shared_data / "bigbench" / "known_unknowns")[0],
        load_questions(shared_data / "triviaqa" / "triviaqa_sm_sub.jsonl")[1],
    ]
    cfg = RunConfig(
        max_tokens=12,
        sample_max_tokens=6,
        followup_max_tokens=8,
        samples=2,
        logprob_probe=True,
        shuffle_choices=True,
    )
    out = tmp_path / "records.jsonl"
    summary = await AuditRunner(local_provider, cfg).run(questions, out, progress=False)
    assert summary.failed == 0 and summary.answered_now == 2
    assert summary.provider == "llama_cpp" and summary.model == "SmolLM2-135M-Instruct"
    # primary + probe + follow-up + 2 samples = 5 generations per question
    assert summary.calls == 10 and summary.output_tokens > 0
    records = read_records(out)
    assert {r.question_id for r in records} == {q.id for q in questions}
    for r in records:
        assert r.source in ALL_SOURCES and 0.0 <= r.confidence <= 1.0
        assert r.judged_by in {
            "choice_letter",
            "option_text",
            "label",
            "exact",
            "alias_in_answer",
            "fuzzy",
            "unparsed",
            "no_match",
        }
        # every source is either recorded or listed as missing with its reason
        same_q = {x.source for x in records if x.question_id == r.question_id}
        assert same_q | set(r.missing) == set(ALL_SOURCES)
    ku = [r for r in records if r.question_id == "bigbench/known_unknowns/0"]
    assert ku and not ku[0].answerable
    assert summary.abstention is not None and summary.abstention.unanswerable == 1
    assert len(load_records(out, strict=True).records) == len(records)
    again = await AuditRunner(local_provider, cfg).run(questions, out, progress=False)
    assert again.skipped_done == 2 and again.calls == 0
