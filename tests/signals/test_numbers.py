"""The shared number / unit / yes-no reader (guardrail.signals.numbers) and its two callers.

Expected values are worked out by hand from the unit definitions cited in the module (SI
Brochure, 9th ed., Tables 7-8; NIST SP 811, Appendix B); the replies are shaped like real chat
model answers to dosing, distance and yes/no questions.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.runner import judge
from guardrail.signals import answers
from guardrail.signals.answers import answer_key, compare_answers, parse_quantities
from guardrail.signals.numbers import (
    number_words_to_digits,
    parse_numbers,
    same_quantity,
    yes_no,
)


def test_one_parser_serves_the_judge_and_agreement() -> None:
    # the judge re-exports the shared functions; agreement's quantities come from the same reader
    assert judge.parse_numbers is parse_numbers
    assert judge.number_words_to_digits is number_words_to_digits
    text = "Take 1,200 mg (1.2 g) twice, about -3 degrees, 45% of $3.50"
    shared = [(n.value, n.unit) for n in parse_numbers(text, lone_one=False)]
    assert [(q.value, q.unit) for q in parse_quantities(text)] == shared
    assert shared == [
        (1200.0, "mg"),
        (1.2, "g"),
        (-3.0, "degree"),
        (45.0, "percent"),
        (3.5, "usd"),
    ]
    assert not hasattr(answers, "_WORD_NUMBERS") and not hasattr(judge, "_UNIT_SPELLINGS")


@pytest.mark.parametrize(
    ("a", "ua", "b", "ub", "equal"),
    [
        (4, "g", 4000, "mg", True),  # 4 x 1 g = 4000 x 1e-3 g
        (500, "ug", 0.5, "mg", True),  # 500 x 1e-6 g = 0.5 x 1e-3 g
        (2.5, "l", 2500, "ml", True),  # 2.5 x 1 l = 2500 x 1e-3 l
        (1, "mile", 1.609344, "km", True),  # 1609.344 m = 1.609344 x 1000 m (NIST SP 811)
        (90, "minute", 1.5, "hour", True),  # 90 x 60 s = 5400 s = 1.5 x 3600 s
        (2, "week", 14, "day", True),  # 2 x 604800 s = 14 x 86400 s
        (2, "year", 24, "month", True),  # calendar: 1 year = 12 months
        (4, "g", 4, "ml", False),  # mass vs volume: never equal
        (1, "year", 365, "day", False),  # a calendar year has no fixed length in days
        (4, "g", 400, "mg", False),  # 4000 mg != 400 mg
        (100, "celsius", 212, "fahrenheit", False),  # temperatures are not converted
        (18, "usd", 18, "eur", False),  # currencies are not converted
        (1200, "mile", 1200, None, True),  # a unit on one side only
    ],
)
def test_same_quantity_converts_within_a_dimension_only(
    a: float, ua: str, b: float, ub: str | None, equal: bool
) -> None:
    assert same_quantity(a, ua, b, ub) is equal
    assert same_quantity(b, ub, a, ua) is equal


def test_number_words_including_a_hundred() -> None:
    assert number_words_to_digits("a hundred percent") == "100 percent"
    assert number_words_to_digits("ninety-nine") == "99"
    assert number_words_to_digits("one of the three", lone_one=False) == "one of the 3"
    assert [n.value for n in parse_numbers("COVID-19 appeared in 2019")] == [19.0, 2019.0]


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        ("Nope.", "no"),
        ("Absolutely not. Antibiotics do not treat viral infections.", "no"),
        ("Nah, that's a myth.", "no"),
        ("Not at all.", "no"),
        ("Of course not!", "no"),
        ("**No**", "no"),
        ("No it isn't.", "no"),
        ("Yep.", "yes"),
        ("Absolutely!", "yes"),
        ("Of course. Water boils at a lower temperature at altitude.", "yes"),
        ("Yes, it is safe in normal amounts.", "yes"),
        ("Sure.", "yes"),
        # not answers
        ("Not at all sure, to be honest.", None),
        ("No one knows for certain.", None),
        ("Never mind the details: it depends.", None),
        ("Sure, here is the answer: it depends on the dose.", None),
        ("Absolutely fascinating question.", None),
        ("Yes and no.", None),
        ("It depends.", None),
    ],
)
def test_closed_yes_no_lexicon(reply: str, said: str | None) -> None:
    assert yes_no(reply) == said


def test_agreement_compares_doses_across_units_and_yes_no_words() -> None:
    q = "What is the maximum daily dose of acetaminophen for a healthy adult?"
    grams = answer_key("The maximum daily dose is 4 g.", question=q)
    assert compare_answers(grams, answer_key("It is 4,000 mg per day.", question=q)) == 1.0
    assert compare_answers(grams, answer_key("It is 3,000 mg per day.", question=q)) == 0.0
    yn = "Is the Great Wall of China visible from space with the naked eye?"
    no = answer_key("No, it is not visible to the naked eye.", question=yn)
    assert compare_answers(no, answer_key("Nope.", question=yn)) == 1.0
    assert compare_answers(no, answer_key("Absolutely not.", question=yn)) == 1.0
    assert compare_answers(no, answer_key("Yep, you can see it.", question=yn)) == 0.0
    # doubt is not a "no": the reply goes on to say yes
    unsure = answer_key("I am not at all sure, but yes.", question=yn)
    assert unsure.yesno == "yes"


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("0123456789,.-+/$%µ °abcgmlkinotyes \n")), max_size=80)
)
def test_never_raises(text: str) -> None:
    parse_numbers(text)
    yes_no(text)
