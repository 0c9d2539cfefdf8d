"""One prose answer extractor for agreement and the audit judge.

``guardrail.runner.judge.extract_answer`` calls ``guardrail.signals.answers.extract_answer``
with ``fallback="first_line"``, ``phrases="line_start"`` and its confidence-cutting clean-up, so
every marker rule is read alike by both. Expected answers are read off the replies by hand; the
documented-run replies are the committed ``docs/audit-run/records.jsonl`` (SmolLM2-135M).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from guardrail.runner.judge import extract_answer as judge_extract
from guardrail.signals.answers import extract_answer

RECORDS = Path(__file__).resolve().parents[2] / "docs" / "audit-run" / "records.jsonl"


@pytest.mark.parametrize(
    ("reply", "answer", "method"),
    [
        # nested braces inside \boxed{} (the judge's old reader stopped at one level)
        (r"So $x = \boxed{\frac{1}{\sqrt{2}}}$.", r"\frac{1}{\sqrt{2}}", "boxed"),
        # two "####" lines: the last one is the final answer
        ("Step 1: 3 + 4 = 7\n#### 7\nWait, 3 + 5 = 8\n#### 8", "8", "marker"),
        # a label standing alone takes the next line
        ("Let me think.\nFinal answer:\nParis", "Paris", "answer_line"),
        # GSM8K's "A:" convention
        ("She sells 16 - 3 - 4 = 9 eggs.\nSo 9 * 2 = $18 a day.\nA: 18", "18", "answer_line"),
        # a "####" line outranks a later "the answer is" line
        ("#### 72\nThe answer is 70.", "72", "marker"),
        # a label outranks a later "A:" line
        ("Answer: Canberra\nA: Sydney", "Canberra", "answer_line"),
        # "The answer: 300" (smollm2_agreement.jsonl): the judge used to keep the label
        ("The answer: 300", "300", "answer_phrase"),
        # reasoning ending in a wholly bold line
        ("She keeps 9 eggs and earns 9 * 2 dollars.\n**$18**", "$18", "bold_line"),
        # an invented follow-on question is cut before any marker is read
        (
            "Answer: Paris\nQuestion: What is the capital of Italy?\nAnswer: Rome",
            "Paris",
            "answer_line",
        ),
    ],
)
def test_judge_and_agreement_read_the_same_marker(reply: str, answer: str, method: str) -> None:
    got = extract_answer(reply)
    assert (got.text, got.method) == (answer, method)
    judged = judge_extract(reply)
    assert (judged.text, judged.source) == (answer, "answer_marker")


def test_a_percentage_after_the_answer_is_a_confidence_for_both() -> None:
    """Every committed documented-run reply of the shape "<letter>. <option text>" followed by a
    "The answer is: NN%" line: 11 records (3 distinct SmolLM2 replies, each under 3-4 sources;
    counted with the regex below over docs/audit-run/records.jsonl). Both callers read the
    letter line, not the percentage."""
    shape = re.compile(r"([A-J])\. [^\n]+\n\nThe answer is: (?:\d+|NN)%")
    found = []
    for line in RECORDS.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        m = shape.fullmatch(rec["reply"].strip())
        if m:
            found.append((rec["reply"], m.group(1)))
    assert len(found) == 11
    for reply, letter in found:
        assert extract_answer(reply).text == letter  # agreement: the leading option letter
        judged = judge_extract(reply)  # the judge: the first line, then read as a letter
        assert (judged.source, judged.text[:2]) == ("first_line", f"{letter}.")


def test_the_two_parameters_are_the_callers_differences() -> None:
    # "the answer is" inside a line: an answer for agreement, an explanation for the judge
    reply = "B\nExplanation: the answer is not A"
    assert extract_answer(reply).text == "not A"
    assert extract_answer(reply, phrases="line_start").text == "B"
    assert (judge_extract(reply).text, judge_extract(reply).source) == ("B", "first_line")
    # no marker: agreement picks the sentence about the question's focus, the judge line 1
    reply = "Anaphylaxis is a severe allergic reaction. The first-line treatment is epinephrine."
    q = "What is the first-line treatment for anaphylaxis?"
    got = extract_answer(reply, question=q)
    assert (got.text, got.method) == ("The first-line treatment is epinephrine.", "sentence")
    got = extract_answer(reply, question=q, fallback="first_line")
    assert (got.text, got.method) == (reply, "first_line")
    # tidy: a candidate it empties is passed over ("Confidence 90%" is no answer line)
    assert extract_answer("Answer: (90% sure)\nParis", fallback="first_line").text == ("(90% sure)")
    assert judge_extract("Answer: (90% sure)\nParis").text == "Paris"


@pytest.mark.parametrize(("name", "value"), [("fallback", "last_line"), ("phrases", "nowhere")])
def test_bad_parameters_are_a_clear_error(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        extract_answer("Paris", **{name: value})  # type: ignore[arg-type]


def test_json_without_an_answer_field_is_set_aside_for_both() -> None:
    # a confidence-only object before the answer line: neither caller reads the JSON as prose
    reply = '{"confidence": 80}\nParis'
    got = extract_answer(reply)
    assert (got.text, got.method) == ("Paris", "whole")
    assert (judge_extract(reply).text, judge_extract(reply).source) == ("Paris", "first_line")
