"""Regressions found by attacking the signals with hand-written replies in the style of real
chat models (GPT-4-style, Llama-style, terse) that are not in any test data.

Each expected value is what a careful reader of the reply says; the reasoning is in the comment.
"""

from __future__ import annotations

from guardrail.signals import answer_key, compare_answers

LOW_TEMP_Q = "What was the lowest temperature recorded in the town last winter, in Celsius?"


def test_answer_phrase_keeps_the_sign_of_a_negative_answer() -> None:
    # "The answer is -20." gives minus twenty: the "-" is the number's sign, not a separator
    # after "is" (it was cut, so -20 agreed with 20). -20 != 20 -> 0.0; -20 == -20 -> 1.0.
    neg = answer_key("The answer is -20.", question=LOW_TEMP_Q)
    assert neg.main is not None and neg.main.value == -20.0
    assert compare_answers(neg, answer_key("20", question=LOW_TEMP_Q)) == 0.0
    assert compare_answers(neg, answer_key("-20", question=LOW_TEMP_Q)) == 1.0
    # a dash followed by a word is still a separator: "The answer is - Paris" says Paris
    assert answer_key("The answer is - Paris", question="Capital of France?").core == "paris"
