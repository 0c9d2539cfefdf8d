"""The committed records of the documented run (docs/audit-run/records.jsonl) stay consistent
with the code: re-judging every stored reply with the current judge gives the stored verdicts,
and the figures quoted in docs/audit-run.md follow from the records."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail.calibration import audit, load_records
from guardrail.runner.judge import judge_reply
from guardrail.runner.questions import Question, load_questions
from guardrail.runner.records import read_records
from guardrail.runner.run import question_seed

RECORDS = Path(__file__).resolve().parents[2] / "docs" / "audit-run" / "records.jsonl"
INPUTS = (
    "mmlu/test/clinical_knowledge_test.csv",
    "mmlu/test/jurisprudence_test.csv",
    "mmlu/test/professional_accounting_test.csv",
    "triviaqa/triviaqa_sm_sub.jsonl",
    "bigbench/known_unknowns",
)


@pytest.fixture(scope="module")
def questions(shared_data: Path) -> dict[str, Question]:
    out: dict[str, Question] = {}
    for rel in INPUTS:
        for q in load_questions(shared_data / rel):
            out[q.id] = q.with_shuffled_choices(0)  # the run used --shuffle-choices --seed 0
    return out


def test_rejudging_the_stored_replies_reproduces_every_verdict(
    questions: dict[str, Question],
) -> None:
    records = read_records(RECORDS)
    assert len(records) == 732
    assert len({r.question_id for r in records}) == 246
    for r in records:
        q = questions[r.question_id]
        j = judge_reply(q, r.reply)
        assert (j.correct, j.method) == (r.correct, r.judged_by), r.id
        assert r.reference == q.reference and r.seed == question_seed(0, q.id)


def test_letter_text_conflicts_in_the_run(questions: dict[str, Question]) -> None:
    # docs/audit-run.md (caveats): 30 primary replies give a letter followed by another option's
    # text; in 12 of them that text is the right answer.
    seen: set[str] = set()
    conflicts = text_right = 0
    for r in read_records(RECORDS):
        if r.question_id in seen:
            continue
        seen.add(r.question_id)
        q = questions[r.question_id]
        detail = judge_reply(q, r.reply).detail
        if detail.startswith("letter "):
            conflicts += 1
            text_right += detail.endswith(f"option {q.answer}'s")
    assert (conflicts, text_right) == (30, 12)


def test_figures_quoted_in_the_docs() -> None:
    rs = load_records(RECORDS, strict=True)
    report = audit(rs, ("source",), n_bootstrap=0)
    by = {g.key["source"]: g for g in report.groups}
    # docs/audit-run.md: pooled consistency ECE 0.157, AUROC 0.563; log-prob ECE 0.192,
    # AUROC 0.475; follow-up ECE 0.878; hedge-label AUROC 0.475; 16 inline verbalized values.
    assert round(by["consistency"].ece, 3) == 0.157
    assert round(by["consistency"].auroc or 0, 3) == 0.563
    assert round(by["logprob_confidence"].ece, 3) == 0.192
    assert round(by["logprob_confidence"].auroc or 0, 3) == 0.475
    assert round(by["verbalized_followup"].ece, 3) == 0.878
    assert round(by["hedge_label"].auroc or 0, 3) == 0.475
    assert by["verbalized"].n == 16 and by["verbalized"].n_correct == 0
