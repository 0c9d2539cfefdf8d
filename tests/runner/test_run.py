"""The async runner against a scripted provider (values worked out by hand per test)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from guardrail.calibration import load_records
from guardrail.runner.questions import Question
from guardrail.runner.records import (
    AuditRecord,
    RecordFileError,
    append_records,
    read_records,
    repair_torn_tail,
)
from guardrail.runner.run import AuditRunner, RunConfig, abstention_summary, question_seed
from guardrail.signals import FOLLOWUP_TEMPLATE

from .fakes import ScriptedProvider, letter_logprobs

MC = Question(
    id="mc/1",
    question="Which organ produces insulin?",
    kind="multiple_choice",
    choices=("Liver", "Pancreas", "Kidney", "Spleen"),
    answer="B",
    domain="medical",
    dataset="toy",
)
SHORT = Question(
    id="sa/1",
    question="What is the capital of France?",
    kind="short_answer",
    answer="Paris",
    domain="general",
    dataset="toy",
)
KU = Question(
    id="ku/1",
    question="What did Lincoln eat on his 10th birthday?",
    kind="multiple_choice",
    choices=("Corn bread", "Unknown"),
    answer="B",
    domain="general",
    dataset="ku",
    answerable=False,
)

SAMPLES = {
    "insulin": ["B", "(B)", "The answer is B.", "A", "C. Kidney"],  # 3 of 5 agree with B
    "France": ["Paris", "paris.", "Lyon", "Paris", "It's Paris."],
    "Lincoln": ["A", "A", "B", "A", "A"],
}
PRIMARY = {
    "insulin": "B. Pancreas\nConfidence: 80%",
    "France": "Paris\nConfidence: 95%",
    "Lincoln": "A. Corn bread",
}
FOLLOWUP = {
    "insulin": "Confidence: 70%",
    "France": "Confidence: 90%",
    "Lincoln": "Confidence: 100%",
}


def _topic(msgs: list[dict[str, str]]) -> str:
    first = msgs[0]["content"]
    return next(k for k in PRIMARY if k in first)


def script(msgs: list[dict[str, str]], kw: dict[str, Any]) -> list[str]:
    topic = _topic(msgs)
    if msgs[-1]["content"] == FOLLOWUP_TEMPLATE:
        return [FOLLOWUP[topic]]
    if kw["n"] > 1:
        return SAMPLES[topic]
    return [PRIMARY[topic]]


def logprobs_for(text: str) -> Any:
    if text.startswith("B. Pancreas"):
        return letter_logprobs(text, {"B": 0.6, "A": 0.2, "C": 0.1, "D": 0.05})
    if text.startswith("A. Corn"):
        return letter_logprobs(text, {"A": 0.7, "B": 0.1, "The": 0.2})
    if text.startswith("Paris"):
        # tokens "Paris" (p=0.8), "\n", "Confidence" ...: only the first line counts
        from guardrail.providers import TokenLogprob

        return [
            TokenLogprob(token="Paris", logprob=math.log(0.8)),
            TokenLogprob(token="\n", logprob=math.log(0.5)),
            TokenLogprob(token="Confidence", logprob=math.log(0.1)),
        ]
    return None


def _by_source(records: list[AuditRecord], qid: str) -> dict[str, AuditRecord]:
    return {r.source: r for r in records if r.question_id == qid}


async def test_every_source_for_one_multiple_choice_question(tmp_path: Path) -> None:
    provider = ScriptedProvider(script, logprobs_for=logprobs_for)
    out = tmp_path / "records.jsonl"
    summary = await AuditRunner(provider, RunConfig(samples=5)).run([MC], out, progress=False)
    recs = _by_source(read_records(out), "mc/1")
    assert set(recs) == {
        "verbalized",
        "verbalized_followup",
        "consistency",
        "logprob_confidence",
        "hedge_label",
    }
    assert recs["verbalized"].confidence == pytest.approx(0.80)
    assert recs["verbalized_followup"].confidence == pytest.approx(0.70)
    assert recs["consistency"].confidence == pytest.approx(3 / 5)
    assert recs["consistency"].evidence["samples"] == ["B", "B", "B", "A", "C"]
    # option probability: 0.6 / (0.6 + 0.2 + 0.1 + 0.05)
    assert recs["logprob_confidence"].confidence == pytest.approx(0.6 / 0.95)
    assert recs["hedge_label"].confidence == 0.5 and recs["hedge_label"].hedge_label == "neutral"
    r = recs["verbalized"]
    assert (r.correct, r.answer, r.judged_by, r.reference) == (
        True,
        "B",
        "choice_letter",
        "B. Pancreas",
    )
    assert r.id == "mc/1#verbalized" and r.reply == PRIMARY["insulin"]
    assert r.model == "fake-model" and r.seed == question_seed(0, "mc/1")
    # calls: primary (greedy, log-probs), follow-up, 5 samples in one call with n=5
    primary, follow, samples = provider.calls
    assert primary["temperature"] == 0.0 and primary["logprobs"] and primary["top_logprobs"] == 10
    assert "Confidence: NN%" in primary["messages"][-1]["content"]  # inline template
    assert follow["messages"][-2] == {"role": "assistant", "content": "B. Pancreas"}
    assert samples["n"] == 5 and samples["temperature"] == 0.9
    assert samples["seed"] == primary["seed"] + 1
    assert summary.calls == 3 and summary.answered_now == 1 and summary.failed == 0
    assert summary.input_tokens == 10 + 30 + 10 and summary.output_tokens == 3 + 3 + 15


async def test_short_answer_consistency_and_token_probability(tmp_path: Path) -> None:
    provider = ScriptedProvider(script, logprobs_for=logprobs_for)
    out = tmp_path / "r.jsonl"
    await AuditRunner(provider, RunConfig()).run([SHORT], out, progress=False)
    recs = _by_source(read_records(out), "sa/1")
    # "Paris", "paris.", "Paris", "It's Paris." agree with "Paris"; "Lyon" does not: 4/5.
    assert recs["consistency"].confidence == pytest.approx(0.8)
    # only the first line's token counts: exp(log 0.8) = 0.8
    assert recs["logprob_confidence"].confidence == pytest.approx(0.8)
    assert recs["verbalized_followup"].confidence == pytest.approx(0.9)
    assert recs["verbalized"].judged_by == "exact" and recs["verbalized"].correct


async def test_logprob_probe_is_a_one_token_greedy_call(tmp_path: Path) -> None:
    provider = ScriptedProvider(script, logprobs_for=logprobs_for)
    cfg = RunConfig(sources=("logprob_confidence",), logprob_probe=True)
    await AuditRunner(provider, cfg).run([MC], tmp_path / "r.jsonl", progress=False)
    primary, probe = provider.calls
    assert not primary["logprobs"]
    assert probe["logprobs"] and probe["max_tokens"] == 1 and probe["temperature"] == 0.0
    assert probe["seed"] == primary["seed"]
    (rec,) = read_records(tmp_path / "r.jsonl")
    assert rec.confidence == pytest.approx(0.6 / 0.95)


async def test_missing_signals_are_listed_not_faked(tmp_path: Path) -> None:
    def mute(msgs: list[dict[str, str]], kw: dict[str, Any]) -> list[str]:
        if msgs[-1]["content"] == FOLLOWUP_TEMPLATE:
            return ["I cannot say."]
        return ["A. Liver\nB. Pancreas\nC. Kidney"] * kw["n"]  # recites the options

    out = tmp_path / "r.jsonl"
    summary = await AuditRunner(ScriptedProvider(mute), RunConfig()).run([MC], out, progress=False)
    (rec,) = read_records(out)  # only the hedge label could be computed
    assert rec.source == "hedge_label" and not rec.correct and rec.judged_by == "unparsed"
    assert rec.missing == {
        "verbalized": "no confidence statement found",
        "verbalized_followup": "no confidence statement found",
        "consistency": "primary answer not parsed",
        "logprob_confidence": "answer not parsed",
    }
    per = {s.source: s for s in summary.per_source}
    assert per["consistency"].coverage == 0.0 and per["hedge_label"].coverage == 1.0
    assert per["consistency"].missing == {"primary answer not parsed": 1}


async def test_resume_skips_done_questions_and_retries_failures(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    flaky = ScriptedProvider(script, logprobs_for=logprobs_for, fail_on="France")
    s1 = await AuditRunner(flaky, RunConfig()).run([MC, SHORT], out, progress=False)
    assert s1.failed == 1 and s1.failures[0].startswith("sa/1: ProviderError")
    assert {r.question_id for r in read_records(out)} == {"mc/1"}
    good = ScriptedProvider(script, logprobs_for=logprobs_for)
    s2 = await AuditRunner(good, RunConfig()).run([MC, SHORT], out, progress=False)
    assert s2.skipped_done == 1 and s2.answered_now == 1 and s2.failed == 0
    assert all("France" in c["messages"][0]["content"] for c in good.calls)
    assert len(read_records(out)) == 10
    s3 = await AuditRunner(good, RunConfig()).run([MC, SHORT], out, progress=False)
    assert s3.skipped_done == 2 and s3.answered_now == 0


async def test_concurrency_does_not_change_records(tmp_path: Path) -> None:
    qs = [q.model_copy(update={"id": f"{q.id}/{i}"}) for i in range(6) for q in (MC, SHORT)]

    async def run(concurrency: int, name: str) -> list[dict[str, Any]]:
        provider = ScriptedProvider(script, logprobs_for=logprobs_for)
        out = tmp_path / name
        await AuditRunner(provider, RunConfig(concurrency=concurrency)).run(qs, out, progress=False)
        return sorted((r.model_dump() for r in read_records(out)), key=lambda d: d["id"])

    one, four = await run(1, "a.jsonl"), await run(4, "b.jsonl")
    assert one == four and len(one) == 60


def test_question_seed_is_stable() -> None:
    # sha256("0:mc/1")[:4] as a big-endian int, top bit cleared (computed once, fixed forever:
    # changing it would silently change every recorded run).
    import hashlib

    expected = int.from_bytes(hashlib.sha256(b"0:mc/1").digest()[:4], "big") & 0x7FFFFFFF
    assert question_seed(0, "mc/1") == expected
    assert question_seed(1, "mc/1") != question_seed(0, "mc/1")


async def test_abstention_on_known_unknowns(tmp_path: Path) -> None:
    provider = ScriptedProvider(script, logprobs_for=logprobs_for)
    out = tmp_path / "r.jsonl"
    answerable = KU.model_copy(update={"id": "ku/2", "answerable": True, "answer": "A"})
    summary = await AuditRunner(provider, RunConfig()).run([KU, answerable], out, progress=False)
    ab = summary.abstention
    assert ab is not None
    # Both questions get "A. Corn bread": the unanswerable one is a confident wrong answer.
    assert (ab.unanswerable, ab.abstained, ab.abstention_rate) == (1, 0, 0.0)
    assert (ab.answerable, ab.over_abstained) == (1, 0)
    # consistency 4/5 = 0.8 >= 0.7, follow-up 1.0, option prob 0.7 / (0.7 + 0.1) = 0.875:
    # all confidently wrong; hedge label neutral (0.5) is not.
    assert ab.confident_wrong == {
        "consistency": 1,
        "hedge_label": 0,
        "logprob_confidence": 1,
        "verbalized_followup": 1,
    }
    assert ab.confident_wrong_rate["consistency"] == 1.0


def test_abstention_summary_counts_picked_unknown() -> None:
    base: dict[str, Any] = {
        "domain": "general",
        "dataset": "ku",
        "question": "q",
        "answer": "B",
        "reference": "B. Unknown",
        "model": "m",
        "provider": "p",
        "reply": "B",
        "judged_by": "choice_letter",
    }
    recs = [
        AuditRecord(
            id="1#consistency",
            question_id="1",
            source="consistency",
            confidence=0.9,
            correct=True,
            answerable=False,
            abstained=True,
            **base,
        ),
        AuditRecord(
            id="2#consistency",
            question_id="2",
            source="consistency",
            confidence=0.9,
            correct=False,
            answerable=False,
            abstained=False,
            **base,
        ),
        AuditRecord(
            id="3#consistency",
            question_id="3",
            source="consistency",
            confidence=0.2,
            correct=False,
            answerable=False,
            abstained=False,
            **base,
        ),
        AuditRecord(
            id="4#consistency",
            question_id="4",
            source="consistency",
            confidence=0.9,
            correct=False,
            answerable=True,
            abstained=True,
            **base,
        ),
    ]
    ab = abstention_summary(recs, confident_at=0.7)
    assert ab is not None
    assert (ab.unanswerable, ab.abstained) == (3, 1)
    assert ab.abstention_rate == pytest.approx(1 / 3)
    assert ab.confident_wrong == {"consistency": 1}  # record 2 only (record 3 is unconfident)
    assert ab.confident_wrong_rate == {"consistency": pytest.approx(1 / 3)}
    assert (ab.answerable, ab.over_abstained) == (1, 1)
    assert abstention_summary(recs[3:]) is None  # no unanswerable question in scope


# ---------------------------------------------------------------- the records file contract


async def test_records_are_what_guardrail_audit_reads(tmp_path: Path) -> None:
    provider = ScriptedProvider(script, logprobs_for=logprobs_for)
    out = tmp_path / "r.jsonl"
    await AuditRunner(provider, RunConfig()).run([MC, SHORT, KU], out, progress=False)
    mine = read_records(out)
    rs = load_records(out, strict=True)  # guardrail.calibration's loader, strict: no bad rows
    assert len(rs.records) == len(mine) == 14  # KU has no inline confidence line
    for theirs, ours in zip(rs.records, mine, strict=True):
        assert (theirs.id, theirs.confidence, theirs.correct, theirs.domain, theirs.source) == (
            ours.id,
            ours.confidence,
            ours.correct,
            ours.domain,
            ours.source,
        )
        assert theirs.model == "fake-model" and theirs.reference == ours.reference


def _record(**fields: Any) -> AuditRecord:
    """A minimal audit record for question "x"; ``fields`` override the defaults."""
    base: dict[str, Any] = {
        "id": "x#consistency", "question_id": "x", "source": "consistency", "confidence": 0.5,
        "correct": True, "domain": "general", "dataset": "d", "question": "q", "answer": "a",
        "reference": "a", "model": "m", "provider": "p", "reply": "a", "judged_by": "exact",
    }  # fmt: skip
    return AuditRecord(**{**base, **fields})


def test_line_separators_are_escaped(tmp_path: Path) -> None:
    rec = _record(question="a\x85b\u2028c", reply="r\u2029")
    out = tmp_path / "r.jsonl"
    append_records(out, [rec, rec.model_copy(update={"id": "y#consistency"})])
    text = out.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 2  # what a splitlines() reader sees
    assert read_records(out)[0].question == "a\x85b\u2028c"
    assert len(load_records(out, strict=True).records) == 2


def test_torn_tail_is_repaired_and_bad_lines_reported(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    rec = _record(
        id="x#hedge_label", source="hedge_label", confidence=1.0, correct=False, domain="g",
        reference="b", judged_by="no_match",
    )  # fmt: skip
    append_records(out, [rec])
    good = out.read_bytes()
    with out.open("ab") as fh:
        fh.write(b'{"id": "y#hedge_label", "question_id": "y", "sou')  # killed mid-write
    assert [r.id for r in read_records(out)] == ["x#hedge_label"]
    assert repair_torn_tail(out) == len(b'{"id": "y#hedge_label", "question_id": "y", "sou')
    assert out.read_bytes() == good
    out.write_text(good.decode() + json.dumps({"id": "z"}) + "\n", encoding="utf-8")
    with pytest.raises(RecordFileError, match=r"r\.jsonl:2"):
        read_records(out)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="at least one confidence source"):
        RunConfig(sources=())
    with pytest.raises(ValueError):
        RunConfig(samples=1)
    assert RunConfig(sources=("consistency", "consistency")).sources == ("consistency",)


async def test_llm_judge_through_the_runner(tmp_path: Path) -> None:
    # "Lutetia" is Paris's Latin name: no alias, no fuzzy match (ratio < 85), so the rules say
    # no_match and the judge model (same scripted provider) is asked and says yes.
    def lutetia(msgs: list[dict[str, str]], kw: dict[str, Any]) -> list[str]:
        if "You are grading an answer" in msgs[-1]["content"]:
            return ["yes"]
        return ["Lutetia"] * kw["n"]

    provider = ScriptedProvider(lutetia)
    cfg = RunConfig(sources=("consistency",), llm_judge=True, judge_model="judge-m")
    summary = await AuditRunner(provider, cfg).run([SHORT], tmp_path / "r.jsonl", progress=False)
    (rec,) = read_records(tmp_path / "r.jsonl")
    assert (rec.correct, rec.judged_by) == (True, "llm_judge")
    assert "judge said 'yes'" in rec.judge_detail
    judge_call = provider.calls[1]
    assert judge_call["model"] == "judge-m" and judge_call["temperature"] == 0.0
    assert "Candidate answer: Lutetia" in judge_call["messages"][0]["content"]
    assert summary.calls == 3  # primary, judge, samples


async def test_option_percentage_answer_is_not_read_as_confidence(tmp_path: Path) -> None:
    # As in the SDK, the parser gets the question as asked (options rendered), so the reply's
    # first line "69%" (option B's text) is the answer, and the stated 80% is the confidence.
    # Without the question the two percentages conflict and verbalized would be missing.
    q = Question(
        id="pct/1",
        question="What share of adults voted?",
        kind="multiple_choice",
        choices=("59%", "69%", "79%", "89%"),
        answer="B",
        domain="general",
        dataset="toy",
    )

    def answer(msgs: list[dict[str, str]], kw: dict[str, Any]) -> list[str]:
        return ["69%\nConfidence: 80%"] * kw["n"]

    cfg = RunConfig(sources=("verbalized",))
    await AuditRunner(ScriptedProvider(answer), cfg).run([q], tmp_path / "r.jsonl", progress=False)
    (rec,) = read_records(tmp_path / "r.jsonl")
    assert rec.source == "verbalized" and rec.confidence == pytest.approx(0.80)
