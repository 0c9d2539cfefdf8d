"""Judge: answers read from structured replies, numbers compared by value, negation.

Real data first (GSM8K GPT-3 solutions, LSAT-AR JSON replies of 11 models, UQ-NLG TriviaQA
LLaMA-13B samples, all from ``../shared/data/model_outputs``); then the reply shapes issue 10
lists (JSON ``{"answer", "confidence"}`` replies of a 3B instruct model), written by hand with
the verdict worked out by hand.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.runner.judge import (
    extract_answer,
    judge_reply,
    judge_short_answer,
    number_words_to_digits,
    parse_numbers,
)
from guardrail.runner.questions import Question

GSM8K = "model_outputs/gsm8k_gpt3_solutions/example_model_solutions.jsonl"
GSM8K_MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def _gsm8k(shared_data: Path) -> list[dict[str, object]]:
    text = (shared_data / GSM8K).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line]


def _reference(row: dict[str, object]) -> str:
    # the reference solution ends with "A: <number>"
    return str(row["ground_truth"]).rsplit("A:", 1)[1].strip()


def test_gsm8k_full_solutions_judged_like_the_authors(shared_data: Path) -> None:
    # Every one of the 1,319 x 4 GPT-3 solutions is a chain of thought ending in "A: <number>";
    # the file's `is_correct` is the authors' verdict (final answer equals the reference). The
    # judge reads the "A:" line, not the first line, and compares numbers by value. (The judge
    # before issue 10 agreed on 3,220 of 5,276: it took the first line of the reasoning.)
    rows = _gsm8k(shared_data)
    assert len(rows) == 1319
    agree = 0
    for row in rows:
        for model in GSM8K_MODELS:
            sol = row[model]
            assert isinstance(sol, dict)
            j = judge_short_answer(str(sol["solution"]), [_reference(row)])
            agree += j.correct == sol["is_correct"]
    assert agree == 5276


@pytest.mark.parametrize(
    ("row", "model", "reference", "answer", "correct"),
    [
        (249, "6b_verification", "5,600", "5600", True),  # thousands separator in the reference
        (419, "175b_finetuning", "3000", "3,000", True),  # ... and in the answer
        (41, "175b_finetuning", "200", "-200", False),  # the sign counts
        (1216, "6b_finetuning", "20", "-20", False),
    ],
)
def test_gsm8k_separator_and_sign_rows(
    shared_data: Path, row: int, model: str, reference: str, answer: str, correct: bool
) -> None:
    r = _gsm8k(shared_data)[row]  # 0-based line numbers of the file
    sol = r[model]
    assert isinstance(sol, dict) and _reference(r) == reference
    assert sol["is_correct"] is correct
    j = judge_short_answer(str(sol["solution"]), [reference])
    assert (j.correct, j.method, j.answer_from, j.parsed) == (
        correct,
        "numeric",
        "answer_marker",
        answer,
    )


def test_lsat_ar_json_replies_give_the_authors_letter(shared_data: Path) -> None:
    # 2,288 LSAT-AR replies of 11 models that the authors could parse (`coerce` True): a JSON
    # object {"Reasoning": ..., "Answer": "C", "A": 0.0, ...}, sometimes fenced or after prose.
    # The letter read from the reply equals the authors' `Answer` column for every one, also
    # when the reasoning walks through every option ("A) ... B) ...") before the JSON answer.
    csv.field_size_limit(1 << 30)
    folder = shared_data / "model_outputs" / "llm_confidence_json" / "parsed"
    letters = tuple("vwxyz")  # five options A-E; their texts play no part here
    q = Question(id="lsat", question="?", kind="multiple_choice", choices=letters, answer="A")
    n = agree = 0
    for path in sorted(folder.glob("lsat_ar_test_*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                if rec["coerce"] != "True":
                    continue
                n += 1
                j = judge_reply(q, rec["content"])
                agree += (j.parsed, j.answer_from) == (rec["Answer"], "json")
    assert (n, agree) == (2288, 2288)


@pytest.mark.parametrize(
    "name", ["gpt-4o-mini_normal_0_20_results.json", "gpt-4o-mini_distractors_0_20_results.json"]
)
def test_simpleqa_verdicts_of_the_simpleqa_grader(shared_data: Path, name: str) -> None:
    # Held out (not looked at while the rules were written): GPT-4o-mini's SimpleQA answers,
    # graded by the authors with gpt-4o-mini and the SimpleQA grader prompt (`output` 1 =
    # CORRECT, 0 = INCORRECT, -1 = not attempted). Free-text sentences ("The surgeon was ordered
    # to pay 1.5 million euros ..." for 120,000; "... received the Kato Memorial Prize in 2018"
    # for 1999) and bare answers; the judge agrees with the grader on all 20 of each file (as
    # the judge before issue 10 did: this guards against regressions on plain replies).
    path = shared_data / "model_outputs" / "gpt4o_mini_verbalized" / name
    items = json.loads(path.read_text(encoding="utf-8"))
    assert len(items) == 20
    agree = 0
    for item in items.values():
        j = judge_short_answer(
            str(item["predicted_answer"]), [str(item["gold_answer"])], question=item["question"]
        )
        agree += j.correct == (item["output"] == 1)
    assert agree == 20


@pytest.mark.parametrize(
    ("line", "sample", "correct", "method"),
    [
        # UQ-NLG TriviaQA (LLaMA-13B samples), line numbers 1-based in the JSONL file
        (22, " 8", True, "numeric"),  # gold "Eight"
        (97, " Five Years", True, "numeric"),  # gold "5 years"
        (97, " 4 years", False, "numeric"),
        (37, " 24,000 miles", False, "numeric"),  # gold "24,900 miles"
        (37, " 12, 632 km", False, "numeric"),
        (73, " 108-120", False, "no_match"),  # gold "120": a range is not an answer
        (117, " 3 (An Unexpected Journey, The Desolation of Smaug, The Battle of the Five Armies)",
         True, "numeric"),  # gold "3": the first number is the answer
    ],
)  # fmt: skip
def test_uq_nlg_triviaqa_numeric_samples(
    shared_data: Path, line: int, sample: str, correct: bool, method: str
) -> None:
    path = shared_data / "model_outputs" / "uq_nlg_triviaqa_samples"
    rows = (path / "triviaqa_llama13b_20samples.jsonl").read_text("utf-8").split("\n")
    row = json.loads(rows[line - 1])
    assert sample in row["samples_cleaned"]
    j = judge_short_answer(sample, [row["answer"]], question=row["question"])
    assert (j.correct, j.method) == (correct, method)


# --------------------------------------------------------------------------- reply shapes
# The shapes issue 10 reports from 4,000 JSON replies of a 3B instruct model; verdicts by hand.


@pytest.mark.parametrize(
    ("reply", "answer", "source"),
    [
        ('{"answer": "Paris", "confidence": 90}', "Paris", "json"),
        ('```json\n{"answer": "Paris", "confidence": 0.9}\n```', "Paris", "json"),
        ('Sure!\n{"Answer": 1200, "Confidence": 80}', "1200", "json"),
        ('{"result": {"answer": "Lyon"}, "confidence": 70}', "Lyon", "json"),
        # an invented follow-on question with its own answer does not replace the first
        ('{"answer": "42", "confidence": 70}\n\nQuestion: 2+2?\n{"answer": "4", "confidence": 99}',
         "42", "json"),
        # echoed template: no answer at all
        ('{"answer": "<your answer>", "confidence": "<integer from 0 to 100>"}', "", "none"),
        # cut off by the token limit: the quoted answer still counts
        ('{"answer": "The Treaty of Westphal', "The Treaty of Westphal", "json"),
        # the confidence object is not the answer; the text before it is
        ('Canberra\n{"confidence": 85}', "Canberra", "first_line"),
        ("Let me think step by step.\n3 + 4 = 7\nFinal answer: 7", "7", "answer_marker"),
        ("Answer:\nMount Everest", "Mount Everest", "answer_marker"),
        # chain-of-thought endings of math-tuned models
        ("3 * 6 = 18\nThe final answer is $\\boxed{18}$", "18", "answer_marker"),
        ("First, 16 - 3 - 4 = 9.\nTherefore, the answer is 18", "18", "answer_marker"),
        # an explanation that mentions "the answer is not ..." does not replace the answer line
        ("B\nExplanation: the answer is not A", "B", "first_line"),
        ("Paris (confidence: 90%)", "Paris", "first_line"),
        ("I'm 90% sure it is Paris", "it is Paris", "first_line"),
        ("", "", "none"),
        ("Confidence: 80%", "", "none"),
    ],
)  # fmt: skip
def test_extract_answer(reply: str, answer: str, source: str) -> None:
    got = extract_answer(reply)
    assert (got.text, got.source) == (answer, source)


@pytest.mark.parametrize(
    ("reply", "accepted", "correct", "method"),
    [
        # the whole first line (the JSON) is not the answer
        ('{"answer": "Queens", "confidence": 95}', ["Queens"], True, "exact"),
        ('{"answer": "Brooklyn", "confidence": 95}', ["Queens"], False, "no_match"),
        # numbers: separators, units, sign, words
        ('{"answer": "100,000", "confidence": 60}', ["100000"], True, "numeric"),
        ('{"answer": "1,200 mi", "confidence": 60}', ["1200"], True, "numeric"),
        ('{"answer": "-20", "confidence": 60}', ["20"], False, "numeric"),
        ('{"answer": "twelve", "confidence": 60}', ["12"], True, "numeric"),
        ("twenty-five", ["25"], True, "numeric"),
        ("1.2 million", ["1,200,000"], True, "numeric"),
        ("$2,500", ["$2,500"], True, "numeric"),
        ("2500 dollars", ["$2,500"], True, "numeric"),
        ("1,200 km", ["1,200 miles"], False, "numeric"),  # both state a unit: they differ
        ("10 - 20", ["20"], False, "no_match"),  # a range, not -20
        # a confidence number is never the numeric answer
        ('{"answer": "I am not sure", "confidence": 20}', ["20"], False, "no_match"),
        ("Not sure. Confidence: 20%", ["20"], False, "no_match"),
        ('{"confidence": 20}', ["20"], False, "unparsed"),
        ("I am 20% confident it is Paris", ["20"], False, "no_match"),
        # negation and containment
        ("Queens is not correct answer.", ["Queens"], False, "negated"),
        ("It is not Queens.", ["Queens"], False, "negated"),
        ("The answer isn't 20", ["20"], False, "negated"),
        ("Queens, not Brooklyn.", ["Queens"], True, "alias_in_answer"),
        ("Not Brooklyn but Queens", ["Queens"], True, "alias_in_answer"),
        ("Queens or Brooklyn", ["Queens"], False, "no_match"),  # alternatives are no answer
        ("It is Paris and not Lyon", ["Paris"], True, "alias_in_answer"),
        ("It is Paris and not Lyon", ["Lyon"], False, "negated"),
        ("I don't think it's Queens", ["Queens"], False, "negated"),
        ("Definitely not 20", ["20"], False, "negated"),
        ("20 is wrong", ["20"], False, "negated"),
        ("It is No Man's Land", ["No Man's Land"], True, "alias_in_answer"),  # "No" in the alias
    ],
)
def test_judge_structured_numbers_negation(
    reply: str, accepted: list[str], correct: bool, method: str
) -> None:
    j = judge_short_answer(reply, accepted)
    assert (j.correct, j.method) == (correct, method), j


def test_json_answer_for_choices_and_labels() -> None:
    mc = Question(id="m", question="?", kind="multiple_choice", choices=("a", "b", "c"), answer="B")
    j = judge_reply(mc, '{"answer": "B", "confidence": 80}')
    assert (j.correct, j.parsed, j.answer_from) == (True, "B", "json")
    yn = Question(id="y", question="?", kind="label", choices=("Yes", "No"), answer="No")
    j = judge_reply(yn, '```json\n{"answer": "no", "confidence": 70}\n```')
    assert (j.correct, j.parsed, j.answer_from) == (True, "No", "json")


def test_number_helpers() -> None:
    assert number_words_to_digits("one hundred and five dalmatians") == "105 dalmatians"
    assert number_words_to_digits("Eight Maids a-Milking") == "8 Maids a-Milking"
    got = [(n.value, n.unit) for n in parse_numbers("-20, 1,200 mi, $3.50 and 45%")]
    assert got == [(-20.0, None), (1200.0, "mile"), (3.5, "usd"), (45.0, "percent")]
    assert [n.value for n in parse_numbers("10-20")] == [10.0, 20.0]
    assert [n.value for n in parse_numbers("minus 7")] == [-7.0]


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("{}[]\"':,.-+$%0123456789 \nabcAnswer:Confidence")),
        max_size=300,
    ),
    st.sampled_from(["20", "Paris", "$2,500", "1,200 miles", "Eight"]),
)
def test_judge_never_raises_on_any_reply(reply: str, reference: str) -> None:
    # Model output of any shape degrades to a verdict, never an exception.
    j = judge_short_answer(reply, [reference])
    assert isinstance(j.correct, bool) and j.answer_from in (
        "json",
        "answer_marker",
        "first_line",
        "none",
    )
    assert extract_answer(reply).text == (j.parsed or "") or j.method == "unparsed"
