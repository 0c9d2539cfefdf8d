"""Judge: units converted within a dimension, bold final answers, contrasted mentions, yes/no.

Replies are shaped like real chat-model answers (reasoning then a bold last line; an answer that
also names the popular wrong answer); every verdict is worked out by hand in the comment.
"""

from __future__ import annotations

import pytest

from guardrail.runner.judge import extract_answer, judge_reply, judge_short_answer, parse_label
from guardrail.runner.questions import Question


@pytest.mark.parametrize(
    ("reply", "reference", "correct"),
    [
        ("The maximum daily dose for adults is 4,000 mg.", "4 g", True),  # 4000 x 1e-3 g = 4 g
        ("Up to 4 grams per day.", "4000 mg", True),
        ("The usual dose is 500 mcg.", "0.5 mg", True),  # 500 x 1e-6 g = 0.5 x 1e-3 g
        ("About 1.5 hours.", "90 minutes", True),  # 1.5 x 3600 s = 90 x 60 s
        ("Roughly 2 liters of water.", "2000 ml", True),
        ("The marathon is 42.195 km long.", "42195 m", True),
        ("It is 12 inches long.", "1 ft", True),  # 12 x 0.0254 m = 0.3048 m = 1 ft
        ("It takes 5 in total.", "5 days", True),  # "in" is a preposition, not inches
        ("It weighs 4 ml.", "4 g", False),  # volume is not mass
        ("The maximum daily dose is 400 mg.", "4 g", False),  # 0.4 g != 4 g
        ("It takes 365 days.", "1 year", False),  # calendar year vs days: not converted
    ],
)
def test_units_of_one_dimension_are_converted(reply: str, reference: str, correct: bool) -> None:
    j = judge_short_answer(reply, [reference])
    assert (j.correct, j.method) == (correct, "numeric"), j.detail


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("**Answer: 42**", "42"),
        ("The answer is **Canberra**", "Canberra"),
        (
            "Let's compute step by step.\nShe eats 3 eggs and bakes with 4, so 16 - 7 = 9 eggs "
            "are left.\nShe sells them at $2 each: 9 x 2 = 18.\n\n**$18**",
            "$18",
        ),
        (
            "To find the capital, recall that Australia's government sits in the ACT.\n\n"
            "**Canberra.**",
            "Canberra",
        ),
    ],
)
def test_bold_final_answer_is_extracted(reply: str, answer: str) -> None:
    got = extract_answer(reply)
    assert (got.text, got.source) == (answer, "answer_marker")


def test_bold_heading_or_long_bold_summary_is_not_the_answer() -> None:
    # a bold heading ending in ":" and a long bold sentence are not the final answer
    assert extract_answer("Paris\n\n**Explanation:**").text == "Paris"
    long = "Paris.\n\n**" + " ".join(["word"] * 13) + "**"
    assert extract_answer(long).source == "first_line"


@pytest.mark.parametrize(
    ("reply", "reference", "correct"),
    [
        ("Canberra, although many think Sydney.", "Sydney", False),
        ("Canberra, although many think Sydney.", "Canberra", True),
        ("Many people say Sydney, but it is Canberra.", "Sydney", False),
        ("The capital is Canberra rather than Sydney.", "Sydney", False),
        ("Canberra (often mistaken for Sydney).", "Sydney", False),
        ("Sydney is a common misconception; the capital is Canberra.", "Sydney", False),
        ("Canberra, unlike Sydney, is the seat of government.", "Sydney", False),
        ("Queens is not correct answer.", "Queens", False),
        ("It is Canberra, not Sydney.", "Sydney", False),
        ("Sydney? No, Canberra.", "Sydney", False),  # a self-correction
        ("A common misconception is that it is Sydney; it is Canberra.", "Sydney", False),
        ("Sydney is often thought to be the capital, but it is Canberra.", "Sydney", False),
        ("Sydney. No doubt about it.", "Sydney", True),  # "no doubt" corrects nothing
        # a concession that is not about the answer does not reach it
        ("Although it sounds surprising, Sydney is right.", "Sydney", True),
        ("Paris and not Lyon.", "Paris", True),
        # numbers: the contrasted value is skipped, the stated one is read
        ("Many think 5, but it is 4.", "4", True),
        ("Many think 5, but it is 4.", "5", False),
    ],
)
def test_contrasted_or_negated_mentions_are_not_credited(
    reply: str, reference: str, correct: bool
) -> None:
    j = judge_short_answer(reply, [reference])
    assert j.correct is correct, (j.method, j.detail)
    if not correct and j.method != "numeric":
        assert j.method == "negated"


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ("Nope.", "No"),
        ("Absolutely not. It is a myth.", "No"),
        ("Nah.", "No"),
        ("Not at all.", "No"),
        ("Yep, it is.", "Yes"),
        ("Absolutely.", "Yes"),
        ("Of course.", "Yes"),
        ("Not at all sure, but yes.", "Yes"),  # doubt, then the label word
    ],
)
def test_yes_no_words(reply: str, label: str) -> None:
    assert parse_label(reply, ("Yes", "No")) == label
    q = Question(id="q", question="?", kind="label", choices=("Yes", "No"), answer=label)
    assert judge_reply(q, reply).correct


@pytest.mark.parametrize(
    ("reply", "reference", "correct"),
    [
        ("Nope.", "No", True),
        ("Yep.", "Yes", True),
        ("Nope.", "Yes", False),
        ("Of course.", "Yes", True),
    ],
)
def test_yes_no_words_as_short_answers(reply: str, reference: str, correct: bool) -> None:
    # a short-answer question whose accepted answer is a yes/no word
    j = judge_short_answer(reply, [reference])
    assert (j.correct, j.method) == (correct, "label")
