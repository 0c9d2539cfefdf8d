"""Structured (JSON) confidence: designated field, per-option probabilities, placeholders,
follow-on objects, conflicts. Real rows are cited by file and 0-based data row of
``model_outputs/llm_confidence_json/parsed/`` (read with ``csv.DictReader``)."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from guardrail.signals.structured import find_json_objects, read_structured_confidence
from guardrail.signals.verbalized import parse_verbalized

REPO = Path(__file__).resolve().parents[2]


def _row(shared_data: Path, name: str, i: int) -> dict[str, str]:
    csv.field_size_limit(2**31 - 1)
    path = shared_data / "model_outputs" / "llm_confidence_json" / "parsed" / name
    with path.open(newline="") as f:
        for j, row in enumerate(csv.DictReader(f)):
            if j == i:
                return row
    raise AssertionError(f"{name} has no row {i}")


# --- one field ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ('{"confidence": 0.85}', 0.85),
        ('{"Confidence": "0.9"}', 0.9),
        ('{"CONFIDENCE": 85}', 0.85),  # a number > 1 is a percentage: 85 / 100
        ('{"answer": "Paris", "confidence": "85%"}', 0.85),
        ('{"answer": "Paris", "certainty": "72 percent"}', 0.72),
        ('{"answer": "Paris", "probability": 1}', 1.0),  # JSON 0 / 1: the probability's ends
        ('{"answer": "Paris", "confidence_score": "8/10"}', 0.8),
        ('{"answer": "Paris", "confidence (0-10)": 9}', 0.9),  # scale in the key: 9 / 10
        ('{"answer": "Paris", "Confidence level": "high"}', 0.8),  # level word, as on a line
        ('```json\n{"answer": "Paris", "confidence": 0.6}\n```', 0.6),
        ('{"result": {"answer": "Paris", "confidence": 0.7}}', 0.7),  # nested
        ('Sure!\n{"answer": "Paris", "confidence": 0.95,}\nHope it helps.', 0.95),  # trailing ,
    ],
)
def test_json_field_values(reply: str, want: float) -> None:
    got = parse_verbalized(reply)
    assert got.value == pytest.approx(want), got.reason
    assert got.evidence["rule"] == "json_field"


@pytest.mark.parametrize(
    "template",
    [
        "<integer from 0 to 100>",
        "an integer between 0 and 100",
        "NN%",
        "0-100",
        "[your confidence]",
        "X%",
    ],
)
def test_placeholder_is_never_a_value(template: str) -> None:
    echoed = f'{{"answer": "<your answer>", "confidence": "{template}"}}'
    alone = parse_verbalized(echoed)
    assert alone.value is None
    assert "placeholder" in (alone.reason or "")
    # echoed template first, then the real object: the real one is read, no "conflict" with 0%
    both = parse_verbalized(echoed + '\n\n{"answer": "Canberra", "confidence": 90}')
    assert both.value == pytest.approx(0.9), both.reason


def test_echoed_placeholder_line_then_real_line() -> None:
    reply = "Answer: Canberra\nConfidence: <integer from 0 to 100>\nConfidence: 80%"
    assert parse_verbalized(reply).value == pytest.approx(0.8)
    assert (
        parse_verbalized("Answer: Canberra\nConfidence: an integer between 0 and 100").value is None
    )


def test_invented_follow_on_question_does_not_conflict() -> None:
    reply = (
        '{"answer": "Canberra", "confidence": 90}\n\n'
        "Question: What is the capital of New Zealand?\n"
        '{"answer": "Wellington", "confidence": 95}\n'
        "Q3: And of Fiji?\n"
        '{"confidence": 40}'
    )
    got = parse_verbalized(reply)
    assert got.value == pytest.approx(0.9), got.reason
    assert len(got.evidence["ignored"]) == 2


def test_second_object_for_another_answer_does_not_conflict() -> None:
    reply = '{"answer": "Canberra", "confidence": 0.9}\n{"answer": "Sydney", "confidence": 0.1}'
    assert parse_verbalized(reply).value == pytest.approx(0.9)


@pytest.mark.parametrize(
    "reply",
    [
        '{"answer": "Canberra", "confidence": 0.9}\n{"answer": "canberra.", "confidence": 0.6}',
        '{"answer": "Canberra", "confidence": 0.9}\nOn reflection:\n{"confidence": 0.6}',
        '{"answer": "Canberra", "confidence": 0.9, "certainty": 0.6}',
    ],
)
def test_two_values_for_the_same_answer_conflict(reply: str) -> None:
    got = parse_verbalized(reply)
    assert got.value is None
    assert "conflicting" in (got.reason or "")
    assert "90%" in (got.reason or "") and "60%" in (got.reason or "")


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ('{"answer": "Canberra", "confidence": -50}', "negative"),
        ('{"answer": "Canberra", "confidence": "-0.5"}', "negative"),
        ('{"answer": "Canberra", "confidence": 150}', "above 100"),
        ('{"answer": "Canberra", "confidence": "150%"}', "above 100%"),
        ('{"answer": "Canberra", "confidence": null}', "null"),
    ],
)
def test_out_of_range_field_has_no_value(reply: str, why: str) -> None:
    got = parse_verbalized(reply)
    assert got.value is None
    assert why in (got.reason or "")


def test_json_field_wins_over_prose() -> None:
    # prose numbers are content; the designated field is the statement
    reply = 'The trial had a 30% response rate. Confidence: 40%\n{"answer": "B", "confidence": 0.8}'
    assert parse_verbalized(reply).value == pytest.approx(0.8)


def test_truncated_json_reply_has_no_value() -> None:
    reply = '{"Reasoning": "...", "Answer": "C", "A": "0.0", "B": "0.2", "C'
    got = parse_verbalized(reply)
    assert got.value is None
    assert "cut off" in (got.reason or "")


def test_hostile_nesting_and_size_do_not_raise() -> None:
    # 10,000 nested lists exceed json's recursion limit: the object is read field by field
    deep = "[" * 10_000 + "]" * 10_000
    assert parse_verbalized('{"a": ' + deep + ', "confidence": 0.5}').value == 0.5
    # an object over MAX_OBJECT_CHARS (200,000) is not parsed at all
    huge = "[" * 100_000 + "]" * 100_000
    got = parse_verbalized('{"a": ' + huge + ', "confidence": 0.5}')
    assert got.value is None and got.reason
    objs, truncated = find_json_objects("{" * 50_000)
    assert objs == [] and truncated
    assert read_structured_confidence("{{{{ not json }}}} " * 2000).status == "absent"


# --- per-option probabilities ---------------------------------------------------------------------


def test_options_chosen_over_sum_by_hand() -> None:
    # 0.2 / (0.8 + 0.2 + 0.9 + 0.8 + 0.9) = 0.2 / 3.6 = 0.05556
    reply = '{"Answer": "B", "A": "0.8", "B": "0.2", "C": "0.9", "D": "0.8", "E": "0.9"}'
    got = parse_verbalized(reply)
    assert got.value == pytest.approx(0.2 / 3.6)
    assert got.method == "option"
    assert got.evidence["stated"] == 0.2 and got.evidence["sum"] == pytest.approx(3.6)


def test_options_as_percentages_and_nested() -> None:
    # 70 / (10 + 70 + 20) = 0.7
    reply = '{"answer": "(B) Lyon", "probabilities": {"A": "10%", "B": "70%", "C": "20%"}}'
    assert parse_verbalized(reply).value == pytest.approx(0.7)
    # option text instead of a letter: 0.6 / (0.6 + 0.4)
    assert parse_verbalized(
        '{"answer": "Paris", "probabilities": {"Paris": 60, "Lyon": 40}}'
    ).value == pytest.approx(0.6)


def test_options_restricted_to_the_question_options() -> None:
    # lsat_ar_test_claude-3-7-sonnet-20250219.csv row 102 ends with an "F": 0.05 key that is not an
    # option: with the question (options A-E) B's share is 0.95 / 0.95 = 1.0, as the authors have.
    reply = '{"Answer": "B", "A": 0.0, "B": 0.95, "C": 0.0, "D": 0.0, "E": 0.0, "F": 0.05}'
    q = "Which one?\nA) x\nB) y\nC) z\nD) w\nE) v"
    assert parse_verbalized(reply, question=q).value == pytest.approx(1.0)
    assert parse_verbalized(reply).value == pytest.approx(0.95)  # 0.95 / 1.0 without it


def test_options_without_chosen_or_with_unknown_choice() -> None:
    assert parse_verbalized('{"Answer": "", "A": 0.5, "B": 0.5}').value is None
    got = parse_verbalized('{"Answer": "G", "A": 0.5, "B": 0.5}')
    assert got.value is None and "no stated probability" in (got.reason or "")


# --- real rows (llm_confidence_json, parsed/) ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "row", "want"),
    [
        # Answer C, C = 0.7 of A-E summing to 1.0
        ("lsat_ar_test_gpt-4o.csv", 1, 0.7),
        # Answer B, 0.2 / 3.6 (authors' stated_confidence 0.05555...)
        ("lsat_ar_test_Meta-Llama-3.1-8B-Instruct.csv", 10, 0.2 / 3.6),
        # raw newlines inside the JSON strings; Answer D = 0.25 of 0.25 * 4 + 0.0
        ("lsat_ar_test_claude-3-haiku-20240307.csv", 19, 0.25),
        # all five options 0.0 (chosen A stated 0), then "Wait, I made a mistake" and a cut-off
        # second object: the authors' 0.0
        ("lsat_ar_test_Meta-Llama-3.1-70B-Instruct.csv", 116, 0.0),
        # ```json fence
        ("halu_eval_qa_gemini-2.5-flash.csv", 0, 1.0),
        # prompt echo with a Python-dict brace "{'1': ..." before "Response: {"Confidence": "1.0"}"
        ("halu_eval_qa_Meta-Llama-3.1-70B-Instruct.csv", 140, 1.0),
        # unescaped quotes inside "Answer" make the object invalid JSON: the field is still read
        ("halu_eval_qa_claude-3-haiku-20240307.csv", 5, 0.9),
    ],
)
def test_real_rows(shared_data: Path, name: str, row: int, want: float) -> None:
    content = _row(shared_data, name, row)["content"]
    assert parse_verbalized(content).value == pytest.approx(want)


def _eval_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "eval_structured_confidence", REPO / "eval" / "structured_confidence.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_agreement_with_the_authors_parse(shared_data: Path, monkeypatch: Any) -> None:
    """Acceptance (issue 10): >= 99% of the replies the authors parsed agree within 0.005, per
    task, over all 11 models (eval/structured_confidence.py; measured 21787/21787 HaluEval-QA and
    2292/2292 LSAT-AR, the counts of llm-confidence-correct.csv)."""
    monkeypatch.setenv("GUARDRAIL_SHARED_DATA", str(shared_data))
    mod = _eval_module()
    recs = mod.rows()
    for task, n_expected in (("halu_eval_qa", 21787), ("lsat_ar_test", 2292)):
        parsed = [r for r in recs if r["task"] == task and r["authors"] is not None]
        assert len(parsed) == n_expected
        assert len({r["model"] for r in parsed}) == 11
        rate = sum(mod.agree(r) for r in parsed) / len(parsed)
        assert rate >= 0.99, (task, rate)


def test_json_example_inside_an_answer_is_content() -> None:
    # a config example in a code block is not the model's confidence (issue 12: code is content)
    reply = (
        "Put this in your settings:\n```json\n"
        '{"model": "gpt-4o", "confidence": 0.9}\n```\n'
        "Then restart the service and check the logs for errors."
    )
    assert parse_verbalized(reply).value is None
    # the same object as the whole reply is the app's own schema: read
    only = '```json\n{"diagnosis": "flu", "confidence": 0.8}\n```'
    assert parse_verbalized(only).value == pytest.approx(0.8)


def test_letter_keys_with_text_values_are_not_option_probabilities() -> None:
    reply = '{"answer": "B", "A": "Paris", "B": "Lyon"}\nConfidence: 70%'
    assert parse_verbalized(reply).value == pytest.approx(0.7)
