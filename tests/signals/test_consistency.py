"""Self-consistency: normalisation, clustering, agreement, semantic entropy, similarity plug-ins.

Semantic entropy values are worked out by hand from Kuhn et al. 2023 (arXiv 2302.09664):
SE = -Σ_c p_c ln p_c with p_c = |c| / k.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from unittest import mock

import numpy as np
import pytest
from numpy.typing import NDArray

from guardrail.signals import (
    AnswerSimilarity,
    FuzzySimilarity,
    LLMJudgeSimilarity,
    Similarity,
    cluster_answers,
    key_claims,
    normalize_answer,
    self_consistency,
    self_consistency_async,
)


def test_issue_example_paris() -> None:
    r = self_consistency(["Paris", "paris.", "It's Paris.", "Lyon", "Paris, France"])
    assert r.value == pytest.approx(0.8)
    assert len(r.clusters) == 2
    assert r.clusters[0].members == [0, 1, 2, 4]
    assert r.clusters[1].answers == ["Lyon"]
    # SE = -(0.8 ln 0.8 + 0.2 ln 0.2) = 0.500402
    assert r.semantic_entropy == pytest.approx(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2)))
    assert r.semantic_entropy == pytest.approx(0.500402, abs=1e-6)
    assert r.normalized_entropy == pytest.approx(0.500402 / math.log(5), abs=1e-6)
    assert r.k == 5


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("B", "b"),
        ("(B)", "b"),
        ("The answer is B.", "b"),
        ("B) Paris", "b"),
        ("Answer: C", "c"),
        ("It's Paris.", "paris"),
        ("It\u2019s Paris.", "paris"),
        ("  The   Eiffel  Tower!! ", "eiffel tower"),
        ("1,000", "1000"),
        ("1000.0 people", "1000 people"),
        ("three", "3"),
        ("A cat", "cat"),
        ("", ""),
    ],
)
def test_normalize_answer(raw: str, norm: str) -> None:
    assert normalize_answer(raw) == norm


def test_multiple_choice_letters_cluster_exactly() -> None:
    r = self_consistency(["B", "(B)", "The answer is B.", "A", "b"])
    assert r.value == pytest.approx(0.8)
    assert [c.size for c in r.clusters] == [4, 1]


def test_number_formats_and_number_mismatch() -> None:
    r = self_consistency(["1,000", "1000", "10000", "1000.0"])
    assert r.value == pytest.approx(0.75)
    # sentences that differ only in the number are different answers
    r2 = self_consistency(["The dose is 500 mg", "The dose is 50 mg", "the dose is 500 mg."])
    assert [c.size for c in r2.clusters] == [2, 1]


def test_polarity_mismatch_is_different() -> None:
    r = self_consistency(["Paris", "not Paris"])
    assert len(r.clusters) == 2
    assert r.semantic_entropy == pytest.approx(math.log(2))


def test_close_spellings_threshold() -> None:
    # token_set_ratio("austria", "australia") = 87.5 < 90: different countries
    r = self_consistency(["Austria", "Australia"])
    assert len(r.clusters) == 2
    # an explicit lower threshold merges them
    assert len(self_consistency(["Austria", "Australia"], threshold=0.85).clusters) == 1


def test_all_agree_and_all_differ() -> None:
    same = self_consistency(["Onion"] * 5)
    assert same.value == 1.0 and same.semantic_entropy == 0.0 and same.normalized_entropy == 0.0
    assert same.mean_pairwise_similarity == 1.0
    diff = self_consistency(["Onion", "Leek", "Garlic", "Carrot"])
    assert diff.value == 0.25
    assert diff.semantic_entropy == pytest.approx(math.log(4))
    assert diff.normalized_entropy == pytest.approx(1.0)


def test_primary_in_majority() -> None:
    samples = ["Paris", "Paris", "Lyon", "Paris, France", "Marseille"]
    r = self_consistency(samples, primary="It is Paris.")
    assert r.primary_in_majority is True
    assert r.primary_agreement == pytest.approx(0.6)
    r2 = self_consistency(samples, primary="Lyon")
    assert r2.primary_in_majority is False
    assert r2.primary_agreement == pytest.approx(0.2)
    assert r2.value == pytest.approx(0.6)  # agreement is over the samples only
    assert self_consistency(samples).primary_in_majority is None


def test_semantic_entropy_weighted_by_sample_probabilities() -> None:
    # clusters {0,1} and {2}; sample probabilities 0.5, 0.3, 0.2 -> p = (0.8, 0.2)
    r = self_consistency(
        ["Paris", "paris", "Lyon"], sample_logprobs=[math.log(0.5), math.log(0.3), math.log(0.2)]
    )
    assert r.semantic_entropy == pytest.approx(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2)))
    assert r.value == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="sample_logprobs has 1 entries for 3 samples"):
        self_consistency(["a", "b", "c"], sample_logprobs=[0.0])


def test_empty_samples_degrade() -> None:
    r = self_consistency([])
    assert r.value is None and r.reason == "no samples"
    r2 = self_consistency(["", "  "])
    assert r2.value is None and r2.reason == "all samples are empty" and r2.dropped == [0, 1]
    r3 = self_consistency(["Paris", "", "Paris"])
    assert r3.value == 1.0 and r3.k == 2 and r3.dropped == [1]
    assert r3.clusters[0].members == [0, 2]


def test_bad_input_errors() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        self_consistency("Paris")
    with pytest.raises(ValueError, match="threshold must be in"):
        self_consistency(["a"], threshold=0.0)
    with pytest.raises(ValueError, match="threshold must be in"):
        FuzzySimilarity(1.5)


def test_matrix_uses_rapidfuzz_cdist() -> None:
    from guardrail.signals import consistency

    with mock.patch.object(consistency.process, "cdist", wraps=consistency.process.cdist) as spy:
        FuzzySimilarity().matrix(["Paris", "Lyon", "paris"])
    assert spy.call_count == 1


def test_cluster_answers_greedy_against_representatives() -> None:
    # 0~1, 1~2 but 0 !~ 2: greedy joins 1 to 0's cluster; 2 compares with rep 0 only -> new cluster
    sim = np.array([[1.0, 0.95, 0.2], [0.95, 1.0, 0.95], [0.2, 0.95, 1.0]])
    assert cluster_answers(sim, 0.9) == [[0, 1], [2]]
    with pytest.raises(ValueError, match="square"):
        cluster_answers(np.zeros((2, 3)), 0.9)


LONG_A = (
    "Aspirin irreversibly inhibits cyclooxygenase, which lowers thromboxane A2 production in "
    "platelets. Because platelets have no nucleus, the effect lasts for their whole lifespan of "
    "about 7 to 10 days. This is why low dose aspirin is used to prevent heart attacks and strokes "
    "in people at high cardiovascular risk, although it raises the risk of bleeding."
)
LONG_B = (
    "Aspirin irreversibly inhibits the cyclooxygenase enzyme, lowering thromboxane A2 in "
    "platelets. Platelets cannot make new enzyme, so the effect lasts for 7 to 10 days, the "
    "platelet lifespan. Low dose aspirin is therefore used to prevent heart attacks, though "
    "bleeding risk rises and doctors weigh that against the benefit in each patient."
)
LONG_C = (
    "Paracetamol works mainly in the central nervous system and has little effect on platelets "
    "or on inflammation in the body. It is used for pain and fever and is not used to prevent "
    "heart attacks. Its main danger is liver damage in overdose, which can happen above 4 grams "
    "per day in adults, and the antidote is acetylcysteine given early."
)


def test_long_answers_compare_key_claims() -> None:
    assert len(LONG_A.split()) > 40
    kc = key_claims(LONG_A)
    assert kc.startswith("aspirin irreversibly inhibits cyclooxygenase")
    assert "7" in kc.split()  # the sentence with numbers is a key claim
    r = self_consistency([LONG_A, LONG_B, LONG_C])
    assert [c.members for c in r.clusters] == [[0, 1], [2]]


class _CountingJudge:
    """A deterministic stand-in for the injected model call: yes when both mention the same city."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def city(self, text: str) -> str:
        for c in ("paris", "lyon"):
            if c in text.lower():
                return c
        return text

    def __call__(self, messages: list[dict[str, str]]) -> str:
        content = messages[-1]["content"]
        self.prompts.append(content)
        a = content.split("Answer 1: ")[1].split("\n\nAnswer 2: ")[0]
        b = content.split("Answer 2: ")[1]
        return "Yes." if self.city(a) == self.city(b) else "No, they differ."


def test_llm_judge_sync() -> None:
    judge = _CountingJudge()
    sim = LLMJudgeSimilarity(judge, question="What is the capital of France?")
    samples = ["The capital is Paris.", "Paris", "I believe it's Lyon", "paris"]
    r = self_consistency(samples, similarity=sim)
    assert r.value == pytest.approx(0.75)
    assert r.similarity == "llm_judge"
    # 6 pairs; "Paris" == "paris" after normalisation needs no call
    assert sim.calls == 5 and len(judge.prompts) == 5
    assert "Question: What is the capital of France?" in judge.prompts[0]
    assert r.mean_pairwise_similarity == pytest.approx(3 / 6)


def test_llm_judge_async_and_failures() -> None:
    async def judge(messages: list[dict[str, str]]) -> str:
        await asyncio.sleep(0)
        content = messages[-1]["content"]
        if "Lyon" in content:
            raise RuntimeError("provider down")
        if "Marseille" in content:
            return "Hmm, hard to tell."
        return "yes"

    sim = LLMJudgeSimilarity(judge)
    r = asyncio.run(
        self_consistency_async(["Paris", "Paris, France", "Lyon", "Marseille"], similarity=sim)
    )
    # failures count as "not the same": Lyon and Marseille are singletons
    assert [c.size for c in r.clusters] == [2, 1, 1]
    assert sim.calls == 6
    assert sim.failures == 5  # 3 raised (Lyon pairs) + 2 unreadable (Marseille vs Paris*)


def test_async_with_default_similarity() -> None:
    r = asyncio.run(self_consistency_async(["Paris", "paris", "Lyon"]))
    assert r.value == pytest.approx(2 / 3)


class _ExactSimilarity:
    name = "exact"
    threshold = 1.0

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        t = np.array(texts, dtype=object)
        return (t[:, None] == t[None, :]).astype(np.float64)


def test_custom_similarity_protocol() -> None:
    sim = _ExactSimilarity()
    assert isinstance(sim, Similarity)
    r = self_consistency(["Paris", "paris", "Paris"], similarity=sim)
    assert r.value == pytest.approx(2 / 3)
    assert r.similarity == "exact"


def test_async_judge_in_running_loop_is_a_clear_error() -> None:
    async def judge(messages: list[dict[str, str]]) -> str:
        return "yes"

    async def main() -> None:
        with pytest.raises(RuntimeError, match="use self_consistency_async"):
            self_consistency(["a", "b"], similarity=LLMJudgeSimilarity(judge))

    asyncio.run(main())
    # outside a loop the sync entry point runs the async judge itself
    r = self_consistency(["Paris", "Lyon"], similarity=LLMJudgeSimilarity(judge))
    assert r.value == 1.0


def test_an_answer_listing_every_sampled_answer_is_not_fully_consistent() -> None:
    # token_set_ratio scores a subset as 1.0, so "It is either Paris or Lyon or Marseille."
    # matches each of the samples "Paris", "Lyon", "Marseille" on its own. Counting every
    # sample that matches the primary gave primary_agreement 5/5 = 1.0 although the samples
    # split 2/2/1 (semantic entropy ln-terms: -(0.4 ln 0.4 * 2 + 0.2 ln 0.2) = 1.0549).
    # The primary joins one cluster, the largest it matches (Paris: first among equal sizes),
    # so its agreement is 2/5.
    samples = ["Paris", "Lyon", "Marseille", "Paris", "Lyon"]
    r = self_consistency(samples, primary="It is either Paris or Lyon or Marseille.")
    assert r.primary_agreement == pytest.approx(0.4)
    assert r.semantic_entropy == pytest.approx(-(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2)))
    # A primary that matches a larger cluster joins that one: Lyon x3 vs Paris x2 -> 3/5.
    r = self_consistency(["Paris", "Lyon", "Lyon", "Paris", "Lyon"], primary="Paris or Lyon")
    assert r.primary_agreement == pytest.approx(0.6) and r.primary_in_majority is True
    # A primary that matches no cluster: 0.
    assert self_consistency(samples, primary="Berlin").primary_agreement == 0.0


def test_replies_without_words_are_non_answers() -> None:
    # Before issue 10 identical wordless replies ("🙂" x2) were one cluster (agreement 2/3). Issue
    # 10 part 2 makes an empty reply (no word character; classify_reply kind "empty") a
    # non-answer that agrees with nothing, so 🙂, 🙂, 🙃 are three singleton clusters:
    # agreement 1/3, SE = ln 3, and the 🙂 primary, itself a non-answer, has agreement 0.
    r = self_consistency(["🙂", "🙂", "🙃"], primary="🙂")
    assert r.value == pytest.approx(1 / 3)
    assert r.semantic_entropy == pytest.approx(math.log(3))
    assert r.primary_agreement == 0.0 and r.primary_kind == "empty"
    assert r.non_answers == {0: "empty", 1: "empty", 2: "empty"}
    # ...and never equal to an answer with words: Paris x2 of 3 samples.
    assert self_consistency(["?", "Paris", "Paris"]).value == pytest.approx(2 / 3)
    # The similarity itself still calls the same symbols the same (for callers without the
    # detector in front of it): 1 for 🙂/🙂, 0 for 🙂/🙃.
    m = AnswerSimilarity().matrix(["🙂", "🙂", "🙃"])
    assert m[0, 1] == 1.0 and m[0, 2] == 0.0
