"""Answer extraction and answer-level agreement (issue 10 part 1's default backend).

Expected values are worked out by hand (arithmetic in the comments) or read off real model
outputs in ../shared/data (file and line cited; "line N" is the N-th JSON line, 1-based) and the
committed SmolLM2 replies in tests/fixtures/smollm2_anaphylaxis.jsonl.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from guardrail.signals import (
    AnswerSimilarity,
    Similarity,
    answer_key,
    compare_answers,
    ensemble_agreement,
    extract_answer,
    parse_options,
    parse_quantities,
    self_consistency,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GSM8K = "model_outputs/gsm8k_gpt3_solutions/example_model_solutions.jsonl"
TRIVIAQA = "model_outputs/uq_nlg_triviaqa_samples/triviaqa_llama13b_20samples.jsonl"
ANAPHYLAXIS = "What is the first-line treatment for anaphylaxis?"


def same(a: str, b: str, question: str | None = None) -> bool:
    ka, kb = answer_key(a, question=question), answer_key(b, question=question)
    return compare_answers(ka, kb) >= 0.9


# --- extraction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "question", "text", "method"),
    [
        (
            "She sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18.\nA: 18",
            None,
            "18",
            "answer_line",
        ),
        ("Let me think.\nFinal answer: Paris", None, "Paris", "answer_line"),
        ("**Answer:** 42", None, "42", "answer_line"),
        ("Natalia sold 48/2 = 24 clips in May.\n#### 72", None, "72", "marker"),
        (r"So the total is $\boxed{\frac{1}{2}}$.", None, r"\frac{1}{2}", "boxed"),
        ('{"answer": "Paris", "confidence": 90}', None, "Paris", "json"),
        ('Sure!\n```json\n{"final_answer": 18, "confidence": 0.8}\n```', None, "18", "json"),
        ("I computed it twice. The answer is 1,200 miles.", None, "1,200 miles", "answer_phrase"),
        ("9 eggs are left. Therefore, she makes 9 * 2 = $18", None, "$18", "conclusion"),
        ("B) Paris", None, "B", "option"),
        ("The answer is B.", None, "B", "answer_phrase"),
        ("(C)", None, "C", "option"),
        # an invented follow-on question is cut before extraction
        (" Appaloosa\nQ: Who wrote Hamlet?\nA: Shakespeare", None, "Appaloosa", "whole"),
        # preamble skipped; the sentence about the question's focus chosen over background
        (
            "Anaphylaxis is a severe allergic reaction. The first-line treatment is epinephrine.",
            ANAPHYLAXIS,
            "The first-line treatment is epinephrine.",
            "sentence",
        ),
        (
            "Great question! Epinephrine is the first-line treatment for anaphylaxis.",
            ANAPHYLAXIS,
            "Epinephrine is the first-line treatment for anaphylaxis.",
            "sentence",
        ),
        # a verbless short first sentence before an explanation is the answer
        ("Epinephrine. It works within minutes.", ANAPHYLAXIS, "Epinephrine", "first_line"),
        ("", None, "", "empty"),
    ],
)
def test_extract_answer(reply: str, question: str | None, text: str, method: str) -> None:
    got = extract_answer(reply, question=question)
    assert (got.text, got.method) == (text, method)


def test_option_list_lines_are_not_answer_lines() -> None:
    reply = "The options are:\nA: Paris\nB: Lyon\nAnswer: B"
    assert extract_answer(reply).text == "B"
    q = "Capital of France?\nA. Lyon\nB. Paris\nC. Nice"
    assert parse_options(q) == {"A": "Lyon", "B": "Paris", "C": "Nice"}
    # an answer given as the option's text is that option's letter
    assert answer_key("Paris", question=q).letter == "B"
    assert same("B", "It is Paris.", q) and not same("A", "Paris", q)


def test_extraction_never_raises_on_odd_replies() -> None:
    odd: list[Any] = [None, 42, "", "   ", "{", '{"answer": }', "\\boxed{", "####", "A:"]
    odd += ["🙂" * 50, "1/0", "-", "x" * 20000, "A: " + "9" * 400, "\u200b\u200b"]
    for reply in odd:
        key = answer_key(reply, question="How many?")
        assert 0.0 <= compare_answers(key, key) <= 1.0


# --- numbers --------------------------------------------------------------------------------------


def test_parse_quantities_values_signs_units() -> None:
    qs = parse_quantities("It costs $18, or 1,200 mi at -20 degrees; 50% of 3/4 is 1.5 million")
    assert [(q.value, q.unit) for q in qs] == [
        (18.0, "usd"),
        (1200.0, "mile"),
        (-20.0, "degree"),
        (50.0, "percent"),
        (0.75, None),  # 3/4
        (1_500_000.0, None),  # 1.5 x 10^6
    ]
    # a hyphen between numbers is a range, not a minus sign; number words are read
    assert [q.value for q in parse_quantities("3-4 days, twenty-five people")] == [3, 4, 25]


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("100,000", "100000", True),  # thousands separator
        ("$18", "18 dollars", True),  # currency sign = currency word
        ("1,200 mi", "1200", True),  # a unit on one side only
        ("-20", "20", False),  # sign
        ("minus 20", "-20", True),
        ("0.5", "1/2", True),  # 1/2 = 0.5
        ("50%", "0.5", True),  # 50/100 = 0.5, the other written as a decimal <= 1
        ("50%", "50", True),  # "what percentage": 50 = 50%
        ("50", "0.5", False),  # no percent sign: 50 != 0.5
        ("5 km", "5 miles", False),  # different units
        ("18.0", "18", True),
        ("3,000", "0.3", False),
    ],
)
def test_numeric_answers_compare_by_value(a: str, b: str, equal: bool) -> None:
    q = "How much in dollars does she make every day?"
    assert same(f"A: {a}", f"A: {b}", q) is equal
    assert same(a, b, q) is equal


# --- words ----------------------------------------------------------------------------------------


def test_negation_yes_no_entities_and_lists() -> None:
    # the runner's judge credited "Queens is not correct answer." for "Queens" (issue 10)
    assert not same("Queens is not correct answer.", "Queens")
    assert same("Yes, ibuprofen is an NSAID.", "Yes.", "Is ibuprofen an NSAID?")
    assert not same("No.", "Yes, it is.", "Is ibuprofen an NSAID?")
    # token_set_ratio("austria", "australia") = 87.5 < 90
    assert not same("Austria", "Australia")
    # regnal numbers are numbers: Elizabeth I != Elizabeth II; "Queen Elizabeth I" = "Elizabeth I"
    assert not same("Elizabeth I", "Elizabeth II")
    assert same("Queen Elizabeth I", "Elizabeth I")
    # written as one word or two
    assert same("Hayfever", "Hay fever")
    # naming two things is not naming one of them; the same three names in another order agree
    q = "The Kalahari Desert lies chiefly in which country?"
    assert not same("Botswana and South Africa", "Botswana", q)
    assert same("Huey, Louie and Dewey", "Huey, Dewey, and Louie")
    assert same("Paris", "Paris, France")


def test_sentence_answers_compare_their_answer_not_their_wording() -> None:
    q = ANAPHYLAXIS
    short = "The first-line treatment for anaphylaxis is epinephrine."
    agree = [
        "Epinephrine.",
        "Epinephrine is the first-line treatment for anaphylaxis.",
        "The first-line treatment for anaphylaxis is epinephrine, which is given as an "
        "intramuscular injection into the outer thigh and can be repeated after 5 minutes.",
        "In adults, the first-line treatment is intramuscular epinephrine.",
        "Sure! The treatment of choice is epinephrine (adrenaline).",
    ]
    for reply in agree:
        assert same(short, reply, q), reply
    disagree = [
        "The first-line treatment for anaphylaxis is antihistamines.",
        "The first-line treatment for anaphylaxis is not epinephrine.",
        "The first-line treatment for anaphylaxis is epinephrine and antihistamines.",
    ]
    for reply in disagree:
        assert not same(short, reply, q), reply


# --- the SmolLM2 anaphylaxis replies (README command 1) -------------------------------------------


def _anaphylaxis() -> list[dict[str, Any]]:
    lines = (FIXTURES / "smollm2_anaphylaxis.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines if x.strip()]


# Hand labels of the recorded samples (read, not computed): every sample names epinephrine as the
# first-line treatment; one per run says "an EpiPen Emergency Kit, which contains Epinephrine"
# (the same drug under a brand name, which a model-free comparison cannot know).
EPIPEN_SAMPLE = {"anaphylaxis-seed1": 6, "anaphylaxis-seed2": 5, "anaphylaxis-seed3": 4,
                 "anaphylaxis-seed4": 3}  # fmt: skip


@pytest.mark.parametrize("rec", _anaphylaxis(), ids=lambda r: str(r["id"]))
def test_recorded_anaphylaxis_epinephrine_replies_form_one_cluster(rec: dict[str, Any]) -> None:
    samples, answer, q = rec["samples"], rec["answer"], rec["question"]
    assert len(samples) == 7 and answer.startswith(
        "The first-line treatment for anaphylaxis is epinephrine."
    )
    r = self_consistency(samples, primary=answer, question=q)
    epinephrine = [i for i in range(7) if i != EPIPEN_SAMPLE[rec["id"]]]
    biggest = r.clusters[0]
    assert biggest.members == epinephrine  # 6 samples, one cluster
    assert r.primary_agreement == pytest.approx(6 / 7)  # the shown answer is in it
    assert r.non_answers == {}
    # The old 40-word switch to key-claim comparison made the score depend on the length of
    # the shown answer (0.0-0.14 for the short one, 0.71 one word longer). Every prefix of the
    # shown answer from its first sentence (7 words) to the whole reply (39-57 words), and the
    # reply one word longer, scores the same.
    words = answer.split()
    assert len(words) >= 39
    for n in range(7, len(words) + 1):
        cut = self_consistency(samples, primary=" ".join(words[:n]), question=q)
        assert cut.primary_agreement == pytest.approx(6 / 7), n
    longer = self_consistency(samples, primary=answer + " Indeed.", question=q)
    assert longer.primary_agreement == pytest.approx(6 / 7)


# --- real rows ----------------------------------------------------------------------------------


def _rows(shared_data: Path, rel: str) -> list[dict[str, Any]]:
    text = (shared_data / rel).read_text(encoding="utf-8")
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def test_gsm8k_rows_agreement_on_full_solutions(shared_data: Path) -> None:
    rows = _rows(shared_data, GSM8K)
    others = ("6b_finetuning", "6b_verification", "175b_finetuning")
    # line 1 (Janet's ducks): 175B-verifier ends "A: 18"; the others "A: 26", "A: 224", "A: 4"
    r = rows[0]
    res = ensemble_agreement(
        {m: r[m]["solution"] for m in others},
        primary=r["175b_verification"]["solution"],
        question=r["question"],
    )
    assert res.primary_agreement == 0.0
    # line 420 (Stanley's comb): "A: 3000" vs "A: 0.3", "A: 3" and "A: 3,000" -> only 3,000
    # is the same number: 1 of 3 models
    r = rows[419]
    res = ensemble_agreement(
        {m: r[m]["solution"] for m in others},
        primary=r["175b_verification"]["solution"],
        question=r["question"],
    )
    assert res.primary_agreement == pytest.approx(1 / 3)
    assert res.majority_models == ["175b_finetuning"] or res.tie


@pytest.mark.parametrize(
    ("line", "agreeing"),
    [
        # line 2, Kalahari: sample 0 "Botswana"; of samples 1-19, 12 say Botswana (2, 3, 5, 6,
        # 8 ".. Botswana", 9, 11, 12, 14, 15, 16, 17); "Southern Africa", 3x "Namibia",
        # "Mozambique", "Botswana and South Africa", "Botswana, Namibia, South Africa and
        # Zimbabwe" do not -> 12/19
        (2, 12),
        # line 15, Eurovision 1968: sample 0 "London"; 14 of 19 say London (with asides such as
        # "London (Paris had energy problems in 1968)"); Amsterdam x2, Hilversum, The Hague,
        # Paris do not -> 14/19
        (15, 14),
        # line 18: sample 0 "Petersburg"; all 19 say St/Saint Petersburg -> 19/19
        (18, 19),
        # line 56: sample 0 "Shaolin"; all 19 name the Shaolin temple/monastery -> 19/19
        (56, 19),
    ],
)
def test_triviaqa_rows_agreement_with_sample_0(shared_data: Path, line: int, agreeing: int) -> None:
    r = _rows(shared_data, TRIVIAQA)[line - 1]
    s = r["samples"]
    res = self_consistency(s[1:], primary=s[0], question=r["question"])
    assert res.primary_agreement == pytest.approx(agreeing / 19)


def _eval_module() -> ModuleType:
    path = Path(__file__).resolve().parent.parent.parent / "eval" / "agreement.py"
    spec = importlib.util.spec_from_file_location("eval_agreement", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["eval_agreement"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_acceptance_auroc_on_real_outputs(shared_data: Path) -> None:
    """Issue 10 acceptance: GSM8K full solutions AUROC >= 0.78 (was 0.501 whole-text), TriviaQA
    AUROC >= 0.90, with the default backend (the numbers eval/agreement.py prints)."""
    ev = _eval_module()
    default = ev.backends()["answer (default)"]
    g_scores, g_labels, g_calls = ev.gsm8k(default, _rows(shared_data, GSM8K))
    t_scores, t_labels, t_calls = ev.triviaqa(default, _rows(shared_data, TRIVIAQA), "samples")
    assert len(g_labels) == 1319 and len(t_labels) == 500 and g_calls == t_calls == 0
    # the label rates are the README's: 175B verifier accuracy 0.5625 = 742/1319
    assert sum(g_labels) == 742
    g_auc, t_auc = ev.auroc_ci(g_scores, g_labels, 0)[0], ev.auroc_ci(t_scores, t_labels, 0)[0]
    assert g_auc >= 0.78, g_auc
    assert t_auc >= 0.90, t_auc
    # and the whole-text comparison the issue measured really was at chance on GSM8K
    old = ev.backends()["rapidfuzz (previous default)"]
    o_scores, o_labels, _ = ev.gsm8k(old, _rows(shared_data, GSM8K))
    assert math.isclose(ev.auroc_ci(o_scores, o_labels, 0)[0], 0.5, abs_tol=0.03)


def test_answer_similarity_is_a_similarity_with_a_batched_method() -> None:
    sim = AnswerSimilarity("How much in dollars does she make every day?")
    assert isinstance(sim, Similarity)
    m = sim.matrix(["A: 18", "She makes $18 every day.", "A: 26", ""])
    assert m.shape == (4, 4) and (m == m.T).all()
    assert m[0, 1] == 1.0 and m[0, 2] == 0.0 and m[3, 3] == 0.0
    assert list(sim.scores("A: 18", ["18 dollars", "26"])) == [1.0, 0.0]


def test_common_chat_phrasings_of_one_answer() -> None:
    # Written for this test (not taken from any data set): the same answer in the shapes chat
    # models give it, and near misses that must stay apart.
    q = "What is the capital of Australia?"
    for reply in [
        "**Answer:** The capital of Australia is **Canberra**.",
        "The capital of Australia is Canberra, not Sydney.",
        "It's Canberra.",
        "I believe the answer is Canberra.",
        "Canberra is the capital city of Australia. It was chosen as a compromise.",
        "1. Canberra\n2. It is in the ACT.",
    ]:
        assert same("Canberra", reply, q), reply
    assert not same("Canberra", "The capital of Australia is Sydney.", q)
    q = "How many legs does a spider have?"
    assert same("8", "A spider has eight legs.", q)  # number words are numbers
    assert same("8", "A spider has 8 legs and 2 body segments.", q)  # a statement, not a list
    assert not same("8", "Spiders have 6 legs.", q)
    q = "Who wrote Pride and Prejudice?"
    assert same("Jane Austen", "The author is Jane Austen.", q)  # "the author" restates
    assert same("Jane Austen", "Jane Austen is the author.", q)
    assert not same("Jane Austen", "It was written by Charlotte Bronte.", q)
    q = "What is the boiling point of water at sea level in Celsius?"
    assert same("100 degrees Celsius", "Water boils at 100 °C at sea level.", q)
    assert not same("100 °C", "212 °F", q)


def test_quoted_answers_and_cut_off_reasoning() -> None:
    # a quoted answer is taken whole, full stops inside it included
    assert extract_answer('The answer is: "P.S. I love you"').text == "P.S. I love you"
    assert extract_answer("The answer: 300").text == "300"
    # reasoning for a "how many" question cut off by the token limit gives no answer at all
    # (its last number is a step, not a result), so it agrees with nothing
    q = "How many stuffed goats should she buy?"
    cut = "She has 3 puppies. She has 5 koalas. So there are 3 + 5 = 8 animals. Then she buys"
    assert extract_answer(cut, question=q).method == "none"
    assert not same(cut, "8", q)
    done = "She has 3 puppies. She has 5 koalas. So there are 3 + 5 = 8 animals."
    assert extract_answer(done, question=q).text == "8 animals"
    assert same(done, "8", q)


def test_hand_labelled_smollm2_clustering() -> None:
    """Pairwise clustering against hand labels of 30 SmolLM2-135M questions x 8 replies
    (tests/fixtures/smollm2_agreement.jsonl; labels by reading, see docs/signals.md). The issue's
    target is F1 >= 0.90; on these replies (a 135M model that rarely gives one answer twice: 20
    agreeing pairs in 840) the default reaches far less. This pins the measured values
    (TP 6, FP 6, FN 14: precision 6/12, recall 6/20, F1 = 2 * 6 / (2 * 6 + 6 + 14) = 0.375;
    0.3429 before the question-aware answer span) so that a change that loses ground is seen,
    and checks the previous default and exact strings were worse."""
    ev = _eval_module()
    records = [
        json.loads(x)
        for x in (FIXTURES / "smollm2_agreement.jsonl").read_text("utf-8").splitlines()
        if x.strip()
    ]
    assert len(records) == 30 and all(len(r["labels"]) == 8 for r in records)
    p, r, f1, n_gold = ev.pairwise_f1(ev.backends()["answer (default)"], records)
    assert n_gold == 20
    assert f1 >= 0.375 - 1e-9, (p, r, f1)
    old = ev.pairwise_f1(ev.backends()["rapidfuzz (previous default)"], records)[2]
    exact = ev.pairwise_f1(ev.backends()["exact (baseline)"], records)[2]
    assert f1 > old and f1 > exact


def test_hand_labelled_smollm2_clustering_held_out() -> None:
    """The same measure on 30 further SmolLM2 questions (15 TriviaQA, 15 BoolQ yes/no), recorded
    and labelled after the rules were fixed (tests/fixtures/smollm2_agreement_heldout.jsonl).
    Measured untouched: precision 29/37, recall 29/144, F1 0.320. Two rules were then added
    after reading its misses ("a pig named X" cut at "named"; a yes/no read from a negation is
    firm), so it is held out no more: precision 48/68, recall 48/144,
    F1 = 2 * 0.7059 * 0.3333 / 1.0392 = 0.4528. The question-aware answer span (names for
    who/which questions, yes/no verdicts from a leading Yes/No or a restated claim, ...) was then
    developed on smollm2_clusters.jsonl without reading this set: TP 82, FP 36, FN 62,
    precision 82/118 = 0.6949, recall 82/144 = 0.5694, F1 = 2 * 82 / (2 * 82 + 36 + 62) = 0.6260
    (recall bought with a little precision). Far below the issue's 0.90 (docs/signals.md says
    why); pinned so a change that loses ground is seen."""
    ev = _eval_module()
    records = [
        json.loads(x)
        for x in (FIXTURES / "smollm2_agreement_heldout.jsonl").read_text("utf-8").splitlines()
        if x.strip()
    ]
    assert len(records) == 30 and all(len(r["labels"]) == 8 for r in records)
    p, r, f1, n_gold = ev.pairwise_f1(ev.backends()["answer (default)"], records)
    assert n_gold == 144
    assert p >= 82 / 118 - 1e-9 and r >= 82 / 144 - 1e-9, (p, r, f1)
    assert f1 >= 0.6259, (p, r, f1)


def test_hand_labelled_smollm2_clustering_third_set_untouched() -> None:
    """A third set (tests/fixtures/smollm2_agreement_fresh.jsonl: 15 TriviaQA + 15 BoolQ questions
    used by neither set above), recorded after the question-aware rules were fixed and labelled
    by reading every reply before any clustering ran on it (each question's ``why`` gives the
    calls). Measured once, untouched: TP 80, FP 32, FN 63 of 143 gold pairs, precision 80/112 =
    0.7143, recall 80/143 = 0.5594, F1 = 2 * 80 / (2 * 80 + 32 + 63) = 0.6275; the default before
    those rules scored 0.529 and the whole-text rapidfuzz similarity 0.418 on it. Two later
    general rules (written for the hand-made cases of test_question_aware_answer_span, not from
    this set: a name asked for outweighs years in the detail; a part of over four words is no
    list item) give TP 82, FP 33, FN 61: P 82/115 = 0.7130, R 82/143 = 0.5734, F1 0.6357."""
    ev = _eval_module()
    records = [
        json.loads(x)
        for x in (FIXTURES / "smollm2_agreement_fresh.jsonl").read_text("utf-8").splitlines()
        if x.strip()
    ]
    assert len(records) == 30 and all(len(r["labels"]) == 8 and r["why"] for r in records)
    ids = {r["id"] for r in records}
    for other in ("smollm2_agreement.jsonl", "smollm2_agreement_heldout.jsonl"):
        text = (FIXTURES / other).read_text("utf-8").splitlines()
        assert not ids & {json.loads(x)["id"] for x in text if x.strip()}  # no question reused
    p, r, f1, n_gold = ev.pairwise_f1(ev.backends()["answer (default)"], records)
    assert n_gold == 143
    assert p >= 82 / 115 - 1e-9 and r >= 82 / 143 - 1e-9, (p, r, f1)
    assert f1 >= 0.6356, (p, r, f1)
    old = ev.pairwise_f1(ev.backends()["rapidfuzz (previous default)"], records)[2]
    assert f1 > old


def test_detail_after_the_answer_and_explained_yes_no() -> None:
    # the answer to "what animal" is "pig"; the name that follows is detail
    q = "What animal is Snowball in George Orwell's book Animal Farm?"
    assert same("Snowball is a pig named Bigboss.", "In Animal Farm, Snowball is a pig.", q)
    assert not same("Snowball is a pig.", "Snowball is a horse named Boxer.", q)
    # a yes/no question: "No, ..." and an explanation built on "does not" give the same answer;
    # a statement without negation is not taken as a firm "yes"
    q = "Does the US constitution allow states to secede?"
    assert same("No, it does not.", "The Constitution does not explicitly allow secession.", q)
    assert not same("No.", "Yes, under the tenth amendment.", q)


def test_question_aware_answer_span() -> None:
    # Written for this test (not from any data set): the span of a reply that answers what the
    # question asks for, not the question's own entities or the detail around it.
    # names answer a who/which/where question; a reply's prose around them is not the answer
    q = "Which river flows through Vienna?"
    assert same(
        "The river that flows through Vienna is the Danube, one of the longest rivers in Europe.",
        "Vienna sits on the banks of the Danube, a major waterway of central Europe.",
        q,
    )
    assert not same(
        "The river that flows through Vienna is the Danube, a major waterway of central Europe.",
        "The river that flows through Vienna is the Rhine, a major waterway of central Europe.",
        q,
    )
    # an insert between subject and verb is not the answer
    q = "What is the capital of Peru?"
    assert same("The capital of Peru, which lies on the Pacific coast, is Lima.", "Lima.", q)
    # "X, a <description>" describes one thing: not a two-item list
    assert same("The capital of Peru is Lima, a large and busy city on the coast.", "Lima", q)
    # a refinement ("..., specifically in X") names what a "which country" question asks for
    q = "In which country is the Atacama desert?"
    assert same(
        "The Atacama desert lies in South America, specifically in the north of Chile.",
        "The Atacama desert is located in Chile, along the Pacific coast.",
        q,
    )
    # the agent of a passive answers "who"
    q = "Who painted the ceiling of the Sistine Chapel?"
    assert same(
        "The ceiling of the Sistine Chapel was painted by Michelangelo over four years.",
        "Michelangelo painted it between 1508 and 1512.",
        q,
    )
    assert not same(
        "The ceiling of the Sistine Chapel was painted by Michelangelo over four years.",
        "The ceiling of the Sistine Chapel was painted by Raphael over four years.",
        q,
    )
    # commas between the adjectives of one noun do not cut the answer short
    q = "What is a quokka?"
    assert not same(
        "A quokka is a small, furry, and friendly marsupial found in Australia.",
        "A quokka is a small, noisy bird that lives in the rainforest.",
        q,
    )
    # "how many X": the number that counts X, not another number in the sentence
    q = "How many strings does a standard violin have?"
    assert same("A violin has 4 strings and 2 f-holes.", "four", q)
    assert not same("A violin has 4 strings and 2 f-holes.", "2", q)


def test_yes_no_verdicts_of_long_replies() -> None:
    # Written for this test: a verdict is read from a leading Yes/No, "the answer to this
    # question is ...", or a sentence stating the question's claim; a reply without a verdict
    # does not give the same answer as one with it.
    q = "Is the Great Wall of China visible from the Moon?"
    no_lead = "No, it is far too narrow to be seen with the naked eye from that distance."
    no_phrase = "The answer to this question is indeed no. Astronauts have confirmed it."
    no_claim = "The Great Wall of China is not visible from the Moon without a telescope."
    yes_claim = "The Great Wall of China is visible from the Moon on a clear day."
    no_verdict = "The Great Wall of China is a series of fortifications built over centuries."
    assert same(no_lead, no_phrase, q) and same(no_lead, no_claim, q)
    assert not same(no_lead, yes_claim, q)
    assert not same(no_verdict, yes_claim, q) and not same(no_verdict, no_claim, q)
    # "not only ... but also" affirms
    q = "Is walking good for the heart?"
    assert same(
        "Walking is not only good for the heart, it also helps the joints.",
        "Yes, walking strengthens the heart.",
        q,
    )
    # the yes/no part of a question after a colon; "No one" opens no verdict
    q = "Vitamin D in winter: is there a benefit for bone health?"
    assert same("Yes, there is some benefit.", "Yes. Studies show fewer fractures.", q)
    assert not same("No one knows for sure.", "No, there is no benefit.", q)


def test_a_long_comma_loop_is_read_in_linear_time() -> None:
    # A real SmolLM2 reply (smollm2_agreement_fresh.jsonl, boolq-1596, the shown answer): "No, no,
    # ..." to the 96-token limit. The "A, B and C" list pattern used to backtrack exponentially on
    # it (minutes for 48 items); the non-answer detector sets loops aside before clustering, but
    # AnswerSimilarity and compare_answers are public and must stay total and fast on any reply.
    rec = next(
        json.loads(x)
        for x in (FIXTURES / "smollm2_agreement_fresh.jsonl").read_text("utf-8").splitlines()
        if '"boolq-1596"' in x
    )
    loop = rec["answer"]
    assert loop.count("no,") >= 45
    key = answer_key(loop, question=rec["question"])
    assert key.yesno == "no" and key.items == 1
    longer = "No, " + ", ".join(["no"] * 400) + ","
    m = AnswerSimilarity(rec["question"]).matrix([loop, longer, "Yes, they are related."])
    assert m[0, 1] == 1.0 and m[0, 2] == 0.0
