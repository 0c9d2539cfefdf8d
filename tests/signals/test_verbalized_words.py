"""Verbalized confidence written in words, and two values in one statement.

Reply shapes of small chat models asked for "Confidence: NN%" (the word forms and the doubled
value occur in SmolLM2 / Llama-3.2 replies); expected values worked out by hand.
"""

from __future__ import annotations

import pytest

from guardrail.signals.verbalized import parse_verbalized, strip_confidence_line


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("Paris is the capital of France.\nConfidence: eighty-five percent", 0.85),  # 85/100
        ("Paris.\nConfidence: Ninety-nine percent.", 0.99),  # 99/100
        ("Paris.\n**Confidence:** a hundred percent", 1.0),  # 100/100
        ("Paris.\nConfidence: ninety-nine", 0.99),  # a bare 0-100 number word is a percentage
        ("Paris.\nConfidence: twenty %", 0.2),
        ("Paris.\nConfidence (0-10): eight", 0.8),  # 8 on the stated 0-10 scale
        ("It is Paris. I'm ninety percent sure.", 0.9),
        # the same value twice is no conflict: 8/10 = 80%
        ("Paris.\nConfidence: 8/10, i.e. 80%", 0.8),
        # a number after the value that is not a second value of the same form
        ("Paris.\nConfidence: 90%, 2 sources agree.", 0.9),
    ],
)
def test_number_words_and_agreeing_values(reply: str, value: float) -> None:
    got = parse_verbalized(reply)
    assert got.value == pytest.approx(value), got.reason


@pytest.mark.parametrize(
    "reply",
    [
        "Paris.\nConfidence: 80%, 90%",
        "Paris.\nConfidence: 80% or 90%",
        "Paris.\nConfidence: 80% to 90%",
        "Paris.\nConfidence: 0.8, 0.9",
    ],
)
def test_two_values_in_one_statement_conflict(reply: str) -> None:
    got = parse_verbalized(reply)
    assert got.value is None
    assert got.reason is not None and got.reason.startswith("conflicting confidence statements")


def test_word_values_are_not_read_from_prose() -> None:
    # "one of the ..." after the label is no value; a word number in the answer body is content
    assert parse_verbalized("Paris.\nConfidence: one of the highest").value is None
    assert parse_verbalized("The recipe needs eighty-five percent cocoa.").value is None


def test_word_confidence_line_is_stripped() -> None:
    assert strip_confidence_line("Paris\nConfidence: eighty-five percent") == "Paris"
    body = "Paris\nConfidence is one of the things a model lacks."
    assert strip_confidence_line(body) == body
