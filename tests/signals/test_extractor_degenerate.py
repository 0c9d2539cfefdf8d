"""Degenerate replies of 20k-50k characters through the shared answer extractor and the judge.

A hostile or looping model server can send any text (docs/security.md, threat model). Several
patterns of ``guardrail.signals.answers.extract_answer`` and of the judge's clean-up rescanned a
run of blanks, line breaks or unclosed ``\\boxed{`` from each of its characters, so these
replies took time quadratic in their length (measured on this machine at 20k characters: line
breaks 6 s, spaces after an answer 20 s and more, 50k characters minutes). They are now read in
one pass. Tests never assert times: each case below did not return in reasonable time before
the fix; the expected answers are read off the replies by hand.
"""

from __future__ import annotations

import pytest

from guardrail.runner.judge import extract_answer as judge_extract
from guardrail.signals.answers import answer_key, compare_answers, extract_answer
from guardrail.signals.verbalized import parse_verbalized

N = 50_000


@pytest.mark.parametrize(
    ("reply", "answer", "method"),
    [
        # a line break run: the follow-on-question cut scanned it from every break
        ("Paris" + "\n" * N + "x", "Paris", "first_line"),
        ("Paris\n" + " \n" * N + "Q: what next?", "Paris", "whole"),
        # blanks inside a marker line: "#### 42   apples" is read to its last word
        ("#### 42" + " " * N + "apples", "42" + " " * N + "apples", "marker"),
        ("Answer: Paris" + " " * N + "France", "Paris" + " " * N + "France", "answer_line"),
        # "the answer is X" runs to the sentence end, blanks included
        (
            "I think the answer is Paris" + " " * N + "France.",
            "Paris" + " " * N + "France",
            "answer_phrase",
        ),
        # 7,142 unclosed \boxed{ after a closed one: the closed one is the answer
        ("\\boxed{7} then " + "\\boxed{" * (N // 7), "7", "boxed"),
        # 3,000 nested \boxed{: the innermost (last to start) holds the answer
        ("\\boxed{" * 3000 + "9" + "}" * 3000, "9", "boxed"),
        # 8,333 "A: 18" lines and no "B:" line: GSM8K-style answer lines, the last one counts
        ("A: 18\n" * (N // 6), "18", "answer_line"),
    ],
)
def test_long_degenerate_replies_are_read(reply: str, answer: str, method: str) -> None:
    got = extract_answer(reply, question="Which city?")
    assert (got.text, got.method) == (answer, method)


def test_abbreviation_glue_on_a_long_reply() -> None:
    # "St." glues the next part to its sentence; 5,000 of them make one sentence (the whole reply)
    reply = "It is St. " * 5000 + "Petersburg."
    got = extract_answer(reply, question="Which city?")
    assert got.method == "whole"
    assert got.text == reply.strip()


@pytest.mark.parametrize(
    ("reply", "answer", "source"),
    [
        ("Lyon" + "\n" * N + "x", "Lyon", "first_line"),
        # the judge's clean-up joins blanks; its leftover cut and confidence patterns rescanned
        # the run from every blank
        ("Lyon" + " " * N + "x", "Lyon x", "first_line"),
        ("Lyon" + " ." * N, "Lyon", "first_line"),  # blanks-then-dots leftovers are cut
        ("Lyon" + " ," * N, "Lyon", "first_line"),  # a trailing run ending in "," is cut
        ("Lyon" + " " * N + "confidencex", "Lyon confidencex", "first_line"),  # no label: kept
        ("Lyon" + " " * N + "Confidence: 80%", "Lyon", "first_line"),  # a label: cut
        ("#### 42" + " " * N + "apples", "42 apples", "answer_marker"),
        ("Answer: Paris" + " " * N + "France", "Paris France", "answer_marker"),
        ("\\boxed{7} then " + "\\boxed{" * (N // 7), "7", "answer_marker"),
    ],
)
def test_long_degenerate_replies_are_judged(reply: str, answer: str, source: str) -> None:
    got = judge_extract(reply)
    assert (got.text, got.source) == (answer, source)


@pytest.mark.parametrize(
    ("short", "core", "items"),
    [
        # the and-list split tried every split of a blank run from every blank (cubic: 3,000
        # spaces took 70 s); the clause cut, the aside remover and the "X, not Y" tail rescanned
        # the run from each blank (quadratic)
        ("a and b", "b", 2),
        ("Paris (France)", "paris", 1),
        ("Au, not Ag", "au", 1),  # "Au, not Ag" answers Au
        ("Lyon which is x", "lyon", 1),
    ],
)
def test_answer_keys_of_long_blank_runs(short: str, core: str, items: int) -> None:
    # the same answer with its first blank widened to 50,000 blanks reads alike
    long = short.replace(" ", " " * N, 1)
    q = "Which city?"
    a, b = answer_key(short, question=q), answer_key(long, question=q)
    assert (a.core, a.items) == (b.core, b.items) == (core, items)
    assert compare_answers(a, b) == 1.0


def test_verbalized_confidence_across_a_long_run_of_line_breaks() -> None:
    # parse_verbalized's follow-on-question cut had the same "\n\s*" pattern (13 s per reply of
    # 20k line breaks); the statement before an invented follow-on question is still the answer's
    gap = "\n" * N
    assert parse_verbalized("Paris" + gap + "x").value is None
    assert parse_verbalized("Paris\n" + gap + "Confidence: 80%").value == 0.8
    followed = "Paris\nConfidence: 90%\n" + gap + "Q: and Lyon?\nConfidence: 60%"
    assert parse_verbalized(followed).value == 0.9
