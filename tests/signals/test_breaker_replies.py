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


ROAD_Q = "How far is it from New York to Chicago by road?"


def test_approximating_adverbs_do_not_split_the_same_quantity() -> None:
    # "About 790 miles." and "Roughly 790 mi" both say 790 miles ("mi" and "miles" are the same
    # unit in _UNITS; "about" was already ignored, "roughly" was left in the core and the
    # fuzzy score of "790 miles" vs "roughly 790 mi" was 0.61 < 0.90, two clusters).
    about = answer_key("About 790 miles.", question=ROAD_Q)
    for other in ("Roughly 790 mi", "approximately 790 miles", "Around 790 miles by road."):
        assert compare_answers(about, answer_key(other, question=ROAD_Q)) == 1.0, other
    # a different number stays a different answer: 790 != 800
    assert compare_answers(about, answer_key("Roughly 800 miles", question=ROAD_Q)) == 0.0
