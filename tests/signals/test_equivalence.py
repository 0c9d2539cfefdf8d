"""Answer-equivalence backends (guardrail.signals.equivalence): cosine by hand, embedding calls
and cache, the batched entailment judge's call count and reply parsing, fallbacks, registry."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest

from guardrail.policy.catalog import EQUIVALENCE_BACKENDS, MODEL_EQUIVALENCE_BACKENDS
from guardrail.signals import AnswerSimilarity, self_consistency, self_consistency_async
from guardrail.signals.equivalence import (
    BACKENDS,
    MODEL_BACKENDS,
    EmbeddingSimilarity,
    EntailmentSimilarity,
    PrecomputedSimilarity,
    backend_report,
    cosine_matrix,
    get_equivalence,
    parse_groups,
)

# ---------------------------------------------------------------- cosine


def test_cosine_matrix_by_hand() -> None:
    v = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-1.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    m = cosine_matrix(v)
    # (1,0)·(1,1) = 1; |(1,1)| = sqrt 2  -> 1/sqrt2 = 0.70711
    assert m[0, 1] == pytest.approx(1 / math.sqrt(2))
    # (1,1)·(0,2) = 2; sqrt2 * 2 -> 0.70711
    assert m[1, 2] == pytest.approx(1 / math.sqrt(2))
    # (1,0)·(0,2) = 0 -> 0; (1,0)·(-1,0) = -1 -> clipped to 0
    assert m[0, 2] == 0.0 and m[0, 3] == 0.0
    # zero vector: 0 to everything else, 1 to itself
    assert m[4, 0] == 0.0 and m[4, 5] == 0.0 and m[4, 4] == 1.0
    # (1,1)·(3,4) = 7; sqrt2 * 5 = 7.0711 -> 0.98995
    assert m[1, 5] == pytest.approx(7 / (5 * math.sqrt(2)))
    assert np.allclose(m, m.T) and np.all(np.diag(m) == 1.0)


# ---------------------------------------------------------------- embedding backend

VECTORS = {
    "Paris": [1.0, 0.0, 0.0],
    "It is Paris.": [0.9, 0.1, 0.0],  # cos with Paris = 0.9 / sqrt(0.82) = 0.99388
    "Lyon": [0.0, 1.0, 0.0],
    "Marseille": [0.6, 0.8, 0.0],  # cos with Paris = 0.6, with Lyon = 0.8
}


class Embedder:
    def __init__(self, table: dict[str, list[float]] | None = None) -> None:
        self.table = table or VECTORS
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.table[t] for t in texts]


def test_embedding_one_call_dedup_and_cache() -> None:
    emb = Embedder()
    sim = EmbeddingSimilarity(emb, threshold=0.95)
    m = sim.matrix(["Paris", "It is Paris.", "Lyon", "Paris", "Marseille"])
    assert emb.calls == [["Paris", "It is Paris.", "Lyon", "Marseille"]]  # one call, deduped
    assert m[0, 1] == pytest.approx(0.9 / math.sqrt(0.82))
    assert m[0, 3] == 1.0 and m[0, 4] == pytest.approx(0.6) and m[2, 4] == pytest.approx(0.8)
    # a later matrix over known texts costs no call ("cached per call")
    sim.matrix(["Lyon", "Paris"])
    assert len(emb.calls) == 1 and sim.calls == 1
    assert sim.report() == {
        "backend": "embedding",
        "calls": 1,
        "fallbacks": 0,
        "errors": [],
        "threshold": 0.95,
    }


def test_embedding_clusters_in_self_consistency() -> None:
    sim = EmbeddingSimilarity(Embedder(), threshold=0.95)
    res = self_consistency(["Paris", "It is Paris.", "Lyon", "Marseille"], similarity=sim)
    # Paris ~ It is Paris (0.994 >= 0.95); Lyon and Marseille (0.8) apart -> 2 / 4
    assert res.value == 0.5 and res.similarity == "embedding"
    assert [c.size for c in res.clusters] == [2, 1, 1]


async def test_embedding_async_call_is_awaited() -> None:
    seen: list[list[str]] = []

    async def embed(texts: list[str]) -> list[list[float]]:
        seen.append(texts)
        return [VECTORS[t] for t in texts]

    sim = EmbeddingSimilarity(embed, threshold=0.95)
    res = await self_consistency_async(["Paris", "It is Paris.", "Lyon"], similarity=sim)
    assert res.value == pytest.approx(2 / 3) and len(seen) == 1


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ([[1.0, 0.0]], "1 vectors for 2 texts"),
        ([[1.0, float("nan")], [0.0, 1.0]], "non-finite"),
        ([[1.0, 0.0], [1.0]], "not numbers"),
    ],
)
def test_embedding_unusable_reply_falls_back_to_lexical(reply: Any, problem: str) -> None:
    sim = EmbeddingSimilarity(lambda texts: reply, question="What is the capital of France?")
    texts = ["Paris", "It is Paris."]
    m = sim.matrix(texts)
    lex = AnswerSimilarity("What is the capital of France?")
    assert np.array_equal(m, (lex.matrix(texts) >= lex.threshold).astype(float))
    assert sim.stats.fallbacks == 1 and problem in sim.stats.errors[0]


def test_embedding_call_that_raises_falls_back_and_keeps_the_exception() -> None:
    boom = ConnectionError("refused")

    def embed(texts: list[str]) -> list[list[float]]:
        raise boom

    sim = EmbeddingSimilarity(embed)
    m = sim.matrix(["Paris", "Lyon"])
    assert m.shape == (2, 2) and sim.stats.fallbacks == 1
    assert sim.stats.errors == ["ConnectionError: refused"] and sim.stats.last_exception is boom


# ---------------------------------------------------------------- entailment: parsing


@pytest.mark.parametrize(
    ("reply", "groups"),
    [
        ('{"groups": [[1, 3], [2]]}', [[0, 2], [1]]),
        ('Sure! ```json\n{"groups": [["1", "3"], ["2"]]}\n``` done', [[0, 2], [1]]),
        ("[[2, 1], [3]]", [[1, 0], [2]]),
        ('{"A": [1, 2], "B": [3]}', [[0, 1], [2]]),
        ('{"groups": [[1]]}', [[0], [1], [2]]),  # 2 and 3 left out -> singletons
        ('{"groups": [[1, 2, 3]]}', [[0, 1, 2]]),
    ],
)
def test_parse_groups_reads_the_usual_shapes(reply: str, groups: list[list[int]]) -> None:
    assert parse_groups(reply, 3) == (groups, None)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("Answers 1 and 3 are the same.", "no JSON groups"),
        ('{"groups": [[1, 4], [2]]}', "not in 1..3"),
        ('{"groups": [[1, 2], [2, 3]]}', "in two groups"),
        ('{"groups": [[0, 1]]}', "not in 1..3"),
        ('{"groups": [[1.5]]}', "not in 1..3"),
        (None, "not text"),
    ],
)
def test_parse_groups_unreadable(reply: object, problem: str) -> None:
    groups, why = parse_groups(reply, 3)
    assert groups is None and why is not None and problem in why


# ---------------------------------------------------------------- entailment: batching


class Judge:
    """Answers a grouping prompt by a fixed rule over the listed answers: answers that contain
    the same city name are one group. Records every prompt."""

    CITIES = ("Paris", "Lyon", "Marseille", "Nice", "Lille", "Tours")

    def __init__(self, reply: str | None = None) -> None:
        self.prompts: list[str] = []
        self.reply = reply

    def listed(self, prompt: str) -> list[str]:
        block = prompt.split("Answers:\n", 1)[1].split("\n\n", 1)[0]
        return [re.sub(r"^\d+\. ", "", line) for line in block.splitlines()]

    def __call__(self, messages: list[dict[str, str]]) -> str:
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        if self.reply is not None:
            return self.reply
        groups: dict[str, list[int]] = {}
        for i, a in enumerate(self.listed(prompt), start=1):
            city = next((c for c in self.CITIES if c in a), a)
            groups.setdefault(city, []).append(i)
        return json.dumps({"groups": list(groups.values())})


SAMPLES = [
    "Paris",
    "paris.",  # same as "Paris" after normalisation: not shown to the judge
    "The capital is Paris.",
    "Lyon",
    "Lyon, on the Rhone.",
    "Marseille",
    "Paris",
]


def test_k_samples_cost_one_call_not_k_squared() -> None:
    judge = Judge()
    sim = EntailmentSimilarity(judge, question="Which French city?")
    res = self_consistency(SAMPLES, similarity=sim)
    # 7 samples, 5 distinct normalised forms -> one call listing 5 answers (pairwise would be 21)
    assert len(judge.prompts) == 1 and sim.calls == 1
    assert judge.listed(judge.prompts[0]) == [
        "Paris",
        "The capital is Paris.",
        "Lyon",
        "Lyon, on the Rhone.",
        "Marseille",
    ]
    assert "Question: Which French city?" in judge.prompts[0]
    # Paris x4, Lyon x2, Marseille x1 -> agreement 4/7
    assert res.value == pytest.approx(4 / 7)
    assert [c.size for c in res.clusters] == [4, 2, 1]
    assert sim.report() == {"backend": "entailment", "calls": 1, "fallbacks": 0, "errors": []}


def test_identical_answers_need_no_call() -> None:
    judge = Judge()
    sim = EntailmentSimilarity(judge)
    m = sim.matrix(["Paris", "paris", "PARIS."])
    assert judge.prompts == [] and np.all(m == 1.0)


def test_more_distinct_answers_than_a_batch_lists_representatives() -> None:
    judge = Judge()
    sim = EntailmentSimilarity(judge, max_items=4)
    texts = ["Paris", "Lyon", "in Paris", "Nice", "Lille", "Lyon city", "Tours"]
    m = sim.matrix(texts)
    # call 1 lists the first 4 distinct answers -> classes {Paris, in Paris}, {Lyon}, {Nice};
    # call 2 lists the 3 representatives + 1 new answer (4 - 3 = 1): Lille;
    # call 3: 4 representatives + Lyon city; call 4: 4 representatives (Lyon joined) + Tours
    assert [judge.listed(p) for p in judge.prompts] == [
        ["Paris", "Lyon", "in Paris", "Nice"],
        ["Paris", "Lyon", "Nice", "Lille"],
        ["Paris", "Lyon", "Nice", "Lille", "Lyon city"],
        ["Paris", "Lyon", "Nice", "Lille", "Tours"],
    ]
    assert m[0, 2] == 1.0 and m[1, 5] == 1.0 and m[0, 1] == 0.0 and m[4, 6] == 0.0
    assert sim.calls == 4


def test_cache_per_instance() -> None:
    judge = Judge()
    sim = EntailmentSimilarity(judge)
    sim.matrix(["Paris", "Lyon"])
    sim.matrix(["Paris", "Lyon"])
    assert len(judge.prompts) == 1


def test_unreadable_reply_falls_back_to_lexical_and_is_counted() -> None:
    judge = Judge(reply="Answer 1 and answer 2 are the same city.")
    q = "What is the capital of France?"
    sim = EntailmentSimilarity(judge, question=q)
    texts = ["Paris", "It is Paris.", "Lyon"]
    m = sim.matrix(texts)
    lex = AnswerSimilarity(q)
    assert np.array_equal(m, (lex.matrix(texts) >= lex.threshold).astype(float))
    assert sim.report() == {
        "backend": "entailment",
        "calls": 1,
        "fallbacks": 1,
        "errors": ["unreadable reply: no JSON groups in the reply"],
    }


async def test_async_judge_and_a_raising_judge() -> None:
    async def judge(messages: list[dict[str, str]]) -> str:
        return '{"groups": [[1, 2], [3]]}'

    sim = EntailmentSimilarity(judge)
    m = await sim.amatrix(["Paris", "It's Paris", "Lyon"])
    assert m.tolist() == [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]

    async def down(messages: list[dict[str, str]]) -> str:
        raise TimeoutError("judge timed out")

    sim2 = EntailmentSimilarity(down)
    await sim2.amatrix(["Paris", "Lyon"])
    assert sim2.stats.fallbacks == 1 and sim2.stats.errors == ["TimeoutError: judge timed out"]


def test_long_answers_are_shown_head_and_tail() -> None:
    judge = Judge(reply='{"groups": [[1], [2]]}')
    sim = EntailmentSimilarity(judge, max_chars=60)
    long = "Step one. " * 20 + "A: 18"
    sim.matrix([long, "A: 26"])
    first = judge.listed(judge.prompts[0])[0]
    # 60 chars: head 60 - 40 - 5 = 15, " ... ", tail 40 (ends with the final answer)
    assert len(first) == 60 and first.endswith("A: 18") and " ... " in first


# ---------------------------------------------------------------- registry


def test_registry_names_match_the_policy_catalog() -> None:
    assert BACKENDS == EQUIVALENCE_BACKENDS
    assert tuple(MODEL_BACKENDS) == MODEL_EQUIVALENCE_BACKENDS


def test_get_equivalence_builds_each_backend() -> None:
    lex = get_equivalence("lexical", question="Capital of France?")
    assert isinstance(lex, AnswerSimilarity) and lex.question == "Capital of France?"
    emb = get_equivalence("embedding", embed=Embedder(), threshold=0.8)
    assert isinstance(emb, EmbeddingSimilarity) and emb.threshold == 0.8
    ent = get_equivalence("entailment", judge=Judge(), question="Q?")
    assert isinstance(ent, EntailmentSimilarity) and ent.question == "Q?"
    assert backend_report(lex) == {"backend": "lexical", "calls": 0, "fallbacks": 0, "errors": []}
    assert backend_report(None)["backend"] == "lexical"


def test_get_equivalence_errors() -> None:
    with pytest.raises(ValueError, match="did you mean 'entailment'"):
        get_equivalence("entailmnt")
    with pytest.raises(ValueError, match="needs its model call: embed="):
        get_equivalence("embedding")
    with pytest.raises(ValueError, match="needs its model call: judge="):
        get_equivalence("entailment", question="q")
    with pytest.raises(TypeError):
        get_equivalence("embedding", embed=Embedder(), bogus=1)


def test_precomputed_similarity_serves_sub_matrices() -> None:
    m = np.array([[1.0, 0.2, 0.9], [0.2, 1.0, 0.1], [0.9, 0.1, 1.0]])
    pre = PrecomputedSimilarity(["a", "b", "c"], m, name="x", threshold=0.5)
    assert pre.matrix(["c", "a"]).tolist() == [[1.0, 0.9], [0.9, 1.0]]
    with pytest.raises(KeyError):
        pre.matrix(["zzz"])
    with pytest.raises(ValueError):
        PrecomputedSimilarity(["a"], m, name="x", threshold=0.5)


def test_fallback_verdicts_hold_under_the_backends_own_threshold() -> None:
    # "Paris" vs "Lyon": the lexical score is below its 0.90 threshold but may be above the
    # entailment backend's 0.5; the fallback must still say "different" (found on TriviaQA:
    # raw lexical scores under threshold 0.5 merged different answers)
    q = "Which French city?"
    texts = ["Paris", "Paris, France", "Lyon", "Lyons", "Marseille"]
    ent = EntailmentSimilarity(Judge(reply="no json"), question=q)
    emb = EmbeddingSimilarity(lambda ts: [[1.0]], question=q)  # wrong count -> fallback
    lexical = self_consistency(texts, question=q)
    for backend in (ent, emb):
        res = self_consistency(texts, question=q, similarity=backend)
        assert backend.stats.fallbacks == 1
        assert [c.members for c in res.clusters] == [c.members for c in lexical.clusters]
