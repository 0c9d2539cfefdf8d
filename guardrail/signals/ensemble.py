"""Ensemble agreement: semantic agreement of answers from different models.

The same machinery as :mod:`guardrail.signals.consistency` (normalisation, pairwise similarity,
greedy semantic clustering), applied across models instead of across samples of one model
(cross-model disagreement as an uncertainty signal, cf. Manakul et al. 2023, arXiv 2303.08896, and
the ensemble scorers of uqlm, Bouchard & Chauhan 2025, arXiv 2504.19254). Models can be weighted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from guardrail.signals.answers import AnswerSimilarity
from guardrail.signals.base import SignalResult
from guardrail.signals.consistency import Similarity, _embed, cluster_answers, reply_kinds

__all__ = ["EnsembleResult", "ensemble_agreement"]


class EnsembleResult(SignalResult):
    """Agreement across models.

    Attributes:
        value: weighted agreement = weight of the heaviest cluster / total weight of the models
            that answered, in (0, 1]; None when fewer than 2 models answered.
        majority_answer: the first answer (in input order) of the heaviest cluster.
        majority_models: models in the heaviest cluster.
        dissenting_models: models that answered but are outside the heaviest cluster.
        failed_models: models whose answer was None or empty (excluded from the agreement).
        clusters: model names per cluster, heaviest first.
        tie: True when two or more clusters share the top weight (``majority_answer`` is then the
            earliest of them).
        primary_agreement: weighted share of the answering models equivalent to ``primary`` (the
            answer shown to the user), None without ``primary``.
        primary_in_majority: whether ``primary`` is equivalent to the majority answer.
        non_answers: model -> kind for the models whose reply is a non-answer (refusal,
            dont_know, restatement, template, loop): each is a cluster of its own and agrees with
            nothing, but still counts in the total weight.
        primary_kind: the primary's reply kind (``answer`` or a non-answer kind; a non-answer
            primary has ``primary_agreement`` 0), None without ``primary``.
    """

    name: str = "agreement"
    majority_answer: str | None = None
    majority_models: list[str] = Field(default_factory=list)
    dissenting_models: list[str] = Field(default_factory=list)
    failed_models: list[str] = Field(default_factory=list)
    clusters: list[list[str]] = Field(default_factory=list)
    weights: dict[str, float] = Field(default_factory=dict)
    tie: bool = False
    primary_agreement: float | None = None
    primary_in_majority: bool | None = None
    non_answers: dict[str, str] = Field(default_factory=dict)
    primary_kind: str | None = None


def ensemble_agreement(
    answers: Mapping[str, str | None],
    *,
    weights: Mapping[str, float] | None = None,
    similarity: Similarity | None = None,
    threshold: float | None = None,
    primary: str | None = None,
    question: str | None = None,
) -> EnsembleResult:
    """Agreement of answers from several models.

    Args:
        answers: model name -> its answer; None (or an empty string) means that model failed:
            it is excluded from the agreement and listed in ``failed_models``.
        weights: optional model name -> weight >= 0 (models not listed weigh 1.0).
        similarity: pairwise similarity (default
            :class:`~guardrail.signals.answers.AnswerSimilarity` with ``question``).
        threshold: overrides the similarity's threshold, in (0, 1].
        primary: the answer shown to the user (not counted as a model), for
            ``primary_agreement`` / ``primary_in_majority``.
        question: the question the models answered (recommended: drives answer extraction and
            the non-answer detector).

    Returns:
        :class:`EnsembleResult`; ``value`` None with a reason when fewer than two models answered
        or the answering models' weights sum to 0.

    Raises:
        ValueError: a negative or non-finite weight, a weight for a model not in ``answers``,
            or a threshold outside (0, 1].
    """
    sim_impl: Similarity = similarity if similarity is not None else AnswerSimilarity(question)
    thr = sim_impl.threshold if threshold is None else threshold
    if not 0.0 < thr <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {thr!r}")
    weights = dict(weights or {})
    for model, w in weights.items():
        if model not in answers:
            raise ValueError(f"weight given for {model!r}, which has no answer entry")
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"weight of {model!r} must be a finite number >= 0, got {w!r}")

    failed = [m for m, a in answers.items() if not (isinstance(a, str) and a.strip())]
    ok = [(m, a) for m, a in answers.items() if isinstance(a, str) and a.strip()]
    w_used = {m: float(weights.get(m, 1.0)) for m, _ in ok}
    base: dict[str, Any] = {"failed_models": failed, "weights": w_used}
    if len(ok) < 2:
        reason = f"need answers from at least 2 models, got {len(ok)}"
        if failed:
            reason += f" ({len(failed)} failed: {', '.join(failed)})"
        return EnsembleResult(value=None, reason=reason, evidence={"reason": reason}, **base)
    total = sum(w_used.values())
    if total <= 0:
        reason = "the answering models' weights sum to 0"
        return EnsembleResult(value=None, reason=reason, evidence={"reason": reason}, **base)

    texts = [a for _, a in ok]
    off = 1 if primary is not None else 0
    all_texts = ([primary] if primary is not None else []) + texts
    kinds = reply_kinds(all_texts, question=question)
    answer_idx = [i for i, kind in enumerate(kinds) if kind == "answer"]
    full = _embed(sim_impl.matrix([all_texts[i] for i in answer_idx]), answer_idx, len(all_texts))
    non_answers = {ok[i][0]: kind for i, kind in enumerate(kinds[off:]) if kind != "answer"}
    base["non_answers"] = non_answers
    sim = full[off:, off:]
    groups = cluster_answers(sim, thr)
    gw = [sum(w_used[ok[i][0]] for i in g) for g in groups]
    top = max(gw)
    tops = [i for i, w in enumerate(gw) if math.isclose(w, top)]
    best = tops[0]
    order = sorted(range(len(groups)), key=lambda g: (-gw[g], groups[g][0]))
    majority = [ok[i][0] for i in groups[best]]
    dissent = [m for m, _ in ok if m not in majority]
    clusters = [[ok[i][0] for i in groups[g]] for g in order]
    agreement = top / total
    prim: dict[str, Any] = {}
    if primary is not None:
        row = full[0, 1:]
        prim["primary_kind"] = kinds[0]
        prim["primary_agreement"] = min(
            1.0, sum(w_used[m] for (m, _), s in zip(ok, row, strict=True) if s >= thr) / total
        )
        prim["primary_in_majority"] = bool(row[groups[best][0]] >= thr)
        if kinds[0] != "answer":
            prim["primary_agreement"], prim["primary_in_majority"] = 0.0, False
    return EnsembleResult(
        value=min(1.0, agreement),
        evidence={
            "majority_answer": texts[groups[best][0]],
            "dissenting_models": dissent,
            "failed_models": failed,
            "clusters": clusters,
            **({"non_answers": non_answers} if non_answers else {}),
        },
        majority_answer=texts[groups[best][0]],
        majority_models=majority,
        dissenting_models=dissent,
        clusters=clusters,
        tie=len(tops) > 1,
        **prim,
        **base,
    )
