"""Correctness judging. Replies marked "SmolLM2" are real replies of the embedded model seen in
our runs; the others are hand-written edge cases with the verdict worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail.runner.judge import (
    DEFAULT_FUZZY_THRESHOLD,
    Judgement,
    LLMJudge,
    answer_line,
    detect_abstention,
    judge_reply,
    judge_short_answer,
    normalize_answer,
    parse_choice_letter,
    parse_label,
)
from guardrail.runner.questions import Question, load_triviaqa_jsonl

OPTS = ("Liver", "Pancreas", "Kidney", "Spleen")


@pytest.mark.parametrize(
    ("reply", "letter", "method"),
    [
        ("B", "B", "choice_letter"),
        ("(B)", "B", "choice_letter"),
        ("B.", "B", "choice_letter"),
        ("B) Pancreas", "B", "choice_letter"),
        ("Answer: C", "C", "choice_letter"),
        ("The answer is D.", "D", "choice_letter"),
        ("I think the answer is (A) liver", "A", "choice_letter"),
        ("Option C", "C", "choice_letter"),
        ("D. Spleen\nConfidence: 80%", "D", "choice_letter"),  # SmolLM2 shape
        ("Pancreas", "B", "option_text"),
        ("It is the pancreas.", "B", "option_text"),
        # "A" as an article is not option A; the option text decides.
        ("A pancreas is an organ", "B", "option_text"),
        ("Correct Option: NN%", None, "unparsed"),  # SmolLM2
        ("pancreas and liver", None, "unparsed"),  # two options named
        ("", None, "unparsed"),
        # SmolLM2 often recites the options instead of choosing one.
        ("A. Liver\nB. Pancreas\nC. Kidney", None, "unparsed"),
        ("The answer is e", None, "unparsed"),  # lower-case, not a valid letter anyway
    ],
)
def test_parse_choice_letter(reply: str, letter: str | None, method: str) -> None:
    assert parse_choice_letter(reply, "ABCD", OPTS) == (letter, method)


def test_letter_text_conflict_is_noted() -> None:
    # Shape seen with SmolLM2 on MMLU anatomy row 0 (options shuffled): letter A followed by
    # option C's text. The letter decides; the detail flags it for a reviewer.
    j = judge_reply(_mc("C"), "A. Kidney")
    assert (j.correct, j.parsed) == (False, "A")
    assert j.detail == "letter A, but the text after it is option C's"
    assert judge_reply(_mc("C"), "C. Kidney").detail == ""
    assert judge_reply(_mc("C"), "A. something else").detail == ""


def test_choice_letter_outside_the_offered_letters() -> None:
    # Only A-B offered: "D" is not a letter of this question.
    assert parse_choice_letter("D", "AB", ("x", "y")) == (None, "unparsed")


@pytest.mark.parametrize(
    ("reply", "labels", "expected"),
    [
        ("No, it is not hearsay.", ("No", "Yes"), "No"),
        ("Yes", ("No", "Yes"), "Yes"),
        ("yes.", ("no", "yes"), "yes"),
        ("The statement is true", ("T", "F"), "T"),
        ("F", ("T", "F"), "F"),
        ("False. Snakes can unhinge.", ("T", "F"), "F"),
        ("Answer: maybe", ("yes", "no", "maybe"), "maybe"),
        ("The evidence described below is hearsay.", ("No", "Yes"), None),  # SmolLM2
        ("Descriptive\nConfidence: 60%", ("generic", "descriptive"), "descriptive"),
        # single-letter labels only match as capital whole words
        ("it is f for sure", ("T", "F"), None),
        # "No" inside "Nobody" is not the label
        ("Nobody knows. Yes.", ("No", "Yes"), "Yes"),
    ],
)
def test_parse_label(reply: str, labels: tuple[str, ...], expected: str | None) -> None:
    assert parse_label(reply, labels) == expected


def test_answer_line() -> None:
    assert answer_line("Confidence: 90%\n\nAnswer: Paris\nConfidence: 80%") == "Paris"
    assert answer_line("The answer is: Onion (Confidence: 70%)") == "Onion"
    assert answer_line('"Antelope"') == "Antelope"
    assert answer_line("Confidence: 99.9%") == ""  # SmolLM2: nothing but the confidence line


@pytest.mark.parametrize(
    ("text", "norm"),
    [
        ("The Beatles!", "beatles"),
        ("  An   apple_pie ", "apple pie"),
        ("Tchaikovsky’s", "tchaikovsky s"),
        ("A.B.C.", "b c"),  # "a" alone is an article once punctuation is gone
    ],
)
def test_normalize_answer(text: str, norm: str) -> None:
    assert normalize_answer(text) == norm


def test_short_answer_rules_on_real_triviaqa(shared_data: Path) -> None:
    qs = load_triviaqa_jsonl(shared_data / "triviaqa" / "triviaqa_sm_sub.jsonl")
    onion, dikdik = qs[0], qs[1]  # answers Onion, Antelope (lines 1-2 of the file)
    assert judge_short_answer("Onion", onion.accepted).method == "exact"
    # alias match: "Allium cepa" is one of the file's aliases
    j = judge_short_answer("allium cepa.", onion.accepted)
    assert (j.correct, j.method) == (True, "exact") and "Allium cepa" in j.detail
    j = judge_short_answer("It is a type of antelope.\nConfidence: 80%", dikdik.accepted)
    assert (j.correct, j.method) == (True, "alias_in_answer")
    # fuzzy: "Antilope" vs "antelope" ratio 87.5 >= 85
    j = judge_short_answer("Antilope", dikdik.accepted)
    assert (j.correct, j.method, j.score) == (True, "fuzzy", 87.5)
    j = judge_short_answer("Gazelle", dikdik.accepted)
    assert (j.correct, j.method) == (False, "no_match")


@pytest.mark.parametrize(
    ("reply", "accepted", "correct", "method"),
    [
        ("Tchaikovski", ("Tchaikovsky",), True, "fuzzy"),  # ratio 90.9
        ("pancreatic", ("pancreas",), False, "no_match"),  # ratio 77.8 < 85
        ("parts", ("Paris",), False, "no_match"),  # ratio 80.0 < 85
        ("1808", ("1809",), False, "numeric"),  # numbers compare by value, never fuzzy
        ("February 12, 1809", ("February 12, 1809",), True, "exact"),
        ("", ("x",), False, "unparsed"),
        # an accepted answer inside a long rambling line does not count (> 30 words)
        (
            "Well there are many vegetables such as carrots and potatoes and also leeks and "
            "garlic and shallots and chives and of course many people would also name the onion "
            "which grows underground",
            ("Onion",),
            False,
            "no_match",
        ),
        # SmolLM2 restates the question; the answer at the end of the sentence counts
        ("The Greek god of marriage is Hymen.", ("Hymen",), True, "alias_in_answer"),
    ],
)
def test_short_answer_table(
    reply: str, accepted: tuple[str, ...], correct: bool, method: str
) -> None:
    j = judge_short_answer(reply, accepted)
    assert (j.correct, j.method) == (correct, method)


def test_alias_already_in_the_question_is_not_an_answer() -> None:
    # TriviaQA-style: the question names "Becky Thatcher"; a reply that only restates it must
    # not match an alias that is also in the question.
    q = "In literature, whose girlfriend is Becky Thatcher?"
    j = judge_short_answer(
        "The answer is: Becky Thatcher", ("Tom Sawyer", "Becky Thatcher"), question=q
    )
    assert (j.correct, j.method) == (True, "exact")  # exact equality still counts
    j = judge_short_answer("Her boyfriend was not Becky Thatcher", ("Becky Thatcher",), question=q)
    assert (j.correct, j.method) == (False, "no_match")
    # Without the question the alias is inside the line, but in a negated clause ("was not").
    j = judge_short_answer("Her boyfriend was not Becky Thatcher", ("Becky Thatcher",))
    assert (j.correct, j.method) == (False, "negated")
    j = judge_short_answer("Her boyfriend was Tom Sawyer", ("Tom Sawyer",), question=q)
    assert (j.correct, j.method) == (True, "alias_in_answer")


def test_fuzzy_threshold_is_a_parameter() -> None:
    assert DEFAULT_FUZZY_THRESHOLD == 85.0
    assert judge_short_answer("parts", ("Paris",), fuzzy_threshold=80.0).correct
    with pytest.raises(ValueError, match="fuzzy_threshold"):
        judge_short_answer("x", ("x",), fuzzy_threshold=101)
    with pytest.raises(ValueError, match="accepted"):
        judge_short_answer("x", ())


def _mc(answer: str = "B", aliases: tuple[str, ...] = ()) -> Question:
    return Question(
        id="q",
        question="Which organ makes insulin?",
        kind="multiple_choice",
        choices=OPTS,
        answer=answer,
        aliases=aliases,
    )


def test_judge_reply_by_kind() -> None:
    assert judge_reply(_mc(), "B. Pancreas") == Judgement(
        correct=True, method="choice_letter", parsed="B"
    )
    assert not judge_reply(_mc(), "A").correct
    assert judge_reply(_mc("A", ("C",)), "C").correct  # several right options
    miss = judge_reply(_mc(), "A. Liver\nB. Pancreas")
    assert (miss.correct, miss.method, miss.parsed) == (False, "unparsed", None)
    label = Question(id="l", question="q", kind="label", choices=("No", "Yes"), answer="Yes")
    assert judge_reply(label, "Yes, it is.").correct
    short = Question(id="s", question="q", kind="short_answer", answer="Paris")
    assert judge_reply(short, "paris").method == "exact"


def test_abstention() -> None:
    ku = Question(
        id="k",
        question="How often did Lincoln cut his toenails?",
        kind="multiple_choice",
        choices=("Every Saturday night", "Unknown"),
        answer="B",
        answerable=False,
    )
    picked_unknown = judge_reply(ku, "B")
    assert detect_abstention(ku, "B", picked_unknown)
    assert not detect_abstention(ku, "A", judge_reply(ku, "A"))
    short = Question(id="s", question="q", kind="short_answer", answer="x")
    for reply in (
        "I don't know.",
        "That is unknown.",
        "It cannot be determined.",
        "There is no record of that.",
        "I'm not sure",
    ):
        assert detect_abstention(short, reply, judge_reply(short, reply)), reply
    for reply in ("Paris", "Known for his beard", "The unknown soldier is buried there"):
        assert not detect_abstention(short, reply, judge_reply(short, reply)), reply
    # the shared non-answer detector: refusals abstain too (the old regex missed them: XSTest
    # gpt4 v2-145, "I'm sorry, but I can't assist with that."); a loop or an echoed template is
    # a failed answer, not an abstention
    for reply in ("I'm sorry, but I can't assist with that.", "As an AI, I cannot answer that."):
        assert detect_abstention(short, reply, judge_reply(short, reply)), reply
    for reply in ("<answer>", "Paris Paris Paris Paris Paris Paris Paris Paris Paris"):
        assert not detect_abstention(short, reply, judge_reply(short, reply)), reply


async def test_llm_judge_overturns_only_short_answer_misses() -> None:
    prompts: list[str] = []

    async def yes(prompt: str) -> str:
        prompts.append(prompt)
        return "Yes."

    judge = LLMJudge(yes)
    short = Question(
        id="s",
        question="Who wrote Hamlet?",
        kind="short_answer",
        answer="William Shakespeare",
        aliases=("Shakespeare",),
    )
    miss = judge_short_answer("The Bard of Avon", short.accepted)
    got = await judge.judge(short, "The Bard of Avon", miss)
    assert (got.correct, got.method) == (True, "llm_judge")
    assert "Candidate answer: The Bard of Avon" in prompts[0]
    assert "William Shakespeare; Shakespeare" in prompts[0]
    # a rule-based hit and a multiple-choice item never reach the judge
    hit = judge_short_answer("Shakespeare", short.accepted)
    assert await judge.judge(short, "Shakespeare", hit) is hit
    mc_verdict = judge_reply(_mc(), "A")
    assert await judge.judge(_mc(), "A", mc_verdict) is mc_verdict
    assert len(prompts) == 1


async def test_llm_judge_unreadable_reply_keeps_rule_verdict() -> None:
    async def babble(prompt: str) -> str:
        return "As an AI model, I think..."

    short = Question(id="s", question="q", kind="short_answer", answer="Paris")
    miss = judge_short_answer("Lyon", short.accepted)
    got = await LLMJudge(babble).judge(short, "Lyon", miss)
    assert (got.correct, got.method) == (False, "no_match")
    assert "judge unparsed" in got.detail


def test_answer_is_minus_twenty_is_not_credited_for_twenty() -> None:
    # Found by the breaker run: "The answer is -20." was judged correct for reference "20"
    # (the answer prefix regex took the minus sign as a "-" separator). -20 != 20.
    from guardrail.runner.judge import extract_answer, judge_short_answer

    assert extract_answer("The answer is -20").text == "-20"
    assert judge_short_answer("The answer is -20.", ["20"]).correct is False
    assert judge_short_answer("The answer is -20.", ["-20"]).correct is True
    assert extract_answer("The answer is - Paris").text == "Paris"


def test_degrees_and_a_converted_value_and_a_dash_before_the_answer() -> None:
    # Found by the breaker run (hand-written replies, verdicts by reading):
    from guardrail.runner.judge import judge_short_answer

    # "100°C" is a numeric reference; "100 degrees Celsius" is 100 in the same unit
    assert judge_short_answer("The boiling point is 100 degrees Celsius.", ["100°C"]).correct
    assert judge_short_answer("100 °C", ["100 degrees Celsius"]).correct
    # a different unit is still a different answer: 100 °F != 100 °C
    assert not judge_short_answer("100 degrees Fahrenheit", ["100°C"]).correct
    # the Celsius value given after the Fahrenheit one answers a Celsius reference (212°F = 100°C)
    assert judge_short_answer("It's 212°F, which is 100°C.", ["100 °C"]).correct
    assert not judge_short_answer("It's 212°F, which is 90°C.", ["100 °C"]).correct
    # an em dash ends the negated clause: "not Sydney — it's Canberra" says Canberra
    assert judge_short_answer("It's definitely not Sydney — it's Canberra.", ["Canberra"]).correct
    assert not judge_short_answer("It's definitely not Sydney — it's Canberra.", ["Sydney"]).correct
