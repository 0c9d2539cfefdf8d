"""Exact early stopping for self-consistency samples (``plan latency`` / ``plan cost``).

After ``m`` of ``k`` samples (index order: sample ``i`` is drawn with seed ``seed + 1 + i``),
``a`` of them in the shown answer's cluster, the final ``consistency`` of all ``k`` samples lies
in ``[a/k, (a + k - m)/k]``. Why this is exact for the clustering guardrail uses
(:func:`guardrail.signals.consistency.self_consistency`):

* samples are clustered greedily in index order (Kuhn et al. 2023, arXiv:2302.09664, Alg. 1):
  sample ``i`` joins a cluster chosen from samples ``< i`` only, so the clusters of the first
  ``m`` samples are exactly the final clusters restricted to those samples (later samples only
  join clusters or open new ones);
* the lexical backend's similarity of two samples and each sample's non-answer kind depend on
  those texts (and the question) alone, not on the other samples;
* ``consistency`` = ``max over clusters g of (samples of g equivalent to the answer) / k``, and
  failed or empty samples count as not agreeing. A cluster's count can only grow by the
  ``k - m`` samples still to come, and a new cluster holds at most ``k - m``; the maximum never
  shrinks. Hence ``a/k <= consistency <= (a + k - m)/k``.

When every point of that box gives the same action
(:meth:`guardrail.policy.Policy.decide_on_ranges`, other not-yet-computed signals open), more
samples cannot change the decision and the rest is not drawn. The reported ``consistency`` is
then ``a/m`` (the agreement of the samples drawn), which lies in the box
(``a/k <= a/m`` and ``a(k - m) <= m(k - m)``), so the final evaluation gives the same action.

Only for the ``lexical`` backend: model-backed backends (embedding, entailment judge) would
spend a call per check and a judge's verdict is not guaranteed independent of the batch, so with
them all ``k`` samples are drawn (they still run concurrently in ``plan latency``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guardrail.policy import Action, Policy
from guardrail.policy.decision import SignalValue

if TYPE_CHECKING:
    from guardrail.signals.consistency import Similarity

__all__ = [
    "EnsembleState",
    "SampleState",
    "agreement_box",
    "agreement_settled",
    "consistency_box",
    "ensemble_state",
    "next_ensemble_wave",
    "next_wave",
    "settled",
]


@dataclass(frozen=True)
class SampleState:
    """``k`` planned samples, ``m`` drawn (a prefix in index order), ``a`` agreeing."""

    k: int
    m: int
    a: int

    def __post_init__(self) -> None:
        if not 0 <= self.a <= self.m <= self.k or self.k < 1:
            raise ValueError(f"need 0 <= a <= m <= k and k >= 1, got {self}")


def consistency_box(state: SampleState) -> tuple[float, float]:
    """``[a/k, (a + k - m)/k]``: where the consistency of all ``k`` samples will lie."""
    k, m, a = state.k, state.m, state.a
    return a / k, (a + k - m) / k


def settled(policy: Policy, known: Mapping[str, SignalValue], state: SampleState) -> Action | None:
    """The action no remaining sample can change, or None (see the module docstring)."""
    return policy.decide_on_ranges(known, {"consistency": consistency_box(state)})


def next_wave(policy: Policy, known: Mapping[str, SignalValue], state: SampleState) -> int:
    """How many samples to draw next in ``plan cost``: the fewest ``d`` after which *some*
    outcome (``j`` of the ``d`` agreeing, ``0 <= j <= d``) would settle the action; all that
    are left when no smaller wave can. Never more than ``k - m``; at least 1 when ``m < k``."""
    k, m, a = state.k, state.m, state.a
    left = k - m
    for d in range(1, left):
        for j in range(d + 1):
            if settled(policy, known, SampleState(k, m + d, a + j)) is not None:
                return d
    return left


# ------------------------------------------------------------------ ensemble agreement

#: Absolute widening of the agreement box: the final value is a sum of float weights divided by
#: another, summed in a different grouping than the bound's; 1e-9 covers that rounding (values
#: lie in [0, 1], float error ~1e-16) and widening only makes the stop test more careful.
AGREEMENT_SLACK = 1e-9


@dataclass(frozen=True)
class EnsembleState:
    """Ensemble models in ``policy`` order; the first ``m`` have replied (or failed).

    ``agreeing``: weight in the shown answer's cluster among the answer (weight 1) and those
    ``m``; ``answered``: weight of the answer plus the models of the ``m`` that answered;
    ``remaining``: the weights of models ``m ..`` in order."""

    agreeing: float
    answered: float
    remaining: tuple[float, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.agreeing <= self.answered or any(w < 0 for w in self.remaining):
            raise ValueError(f"need 0 <= agreeing <= answered and weights >= 0, got {self}")


def agreement_box(state: EnsembleState) -> tuple[float, float]:
    """Where ``agreement`` over all models will lie, ``[A/(T+R), (A+R)/(T+R)]`` widened by
    :data:`AGREEMENT_SLACK` and clipped to [0, 1].

    Why (:func:`guardrail.sdk.signal_steps.agreement_with_answer`, the answer first, models in
    policy order): agreement = weight of the answer's cluster / weight of the models that
    answered. The answer opens cluster 0 and a model joins a cluster chosen from the
    representatives of the models before it (greedy clustering, Kuhn et al. 2023,
    arXiv:2302.09664, Alg. 1; a failed model is left out and changes no one else's cluster), so
    the first ``m`` models' clusters are final. Each later model of weight ``w`` either fails
    (the value stays ``A/T``-like: ``T`` unchanged), answers outside the cluster (``T += w``) or
    joins it (``A += w``, ``T += w``). Over ``0 <= x <= y <= R`` (``x`` joining, ``y``
    answering), ``(A + x)/(T + y)`` is smallest at ``x = 0, y = R`` and largest at ``x = y =
    R`` (``(A + R)/(T + R) >= A/T`` because ``A <= T``)."""
    a, t, r = state.agreeing, state.answered, sum(state.remaining)
    lo = a / (t + r) - AGREEMENT_SLACK
    hi = (a + r) / (t + r) + AGREEMENT_SLACK
    return max(0.0, lo), min(1.0, hi)


def agreement_settled(
    policy: Policy, known: Mapping[str, SignalValue], state: EnsembleState
) -> Action | None:
    """The action no remaining ensemble model can change, or None."""
    return policy.decide_on_ranges(known, {"agreement": agreement_box(state)})


#: Largest wave :func:`next_ensemble_wave` enumerates outcomes for (2^d agreeing subsets).
MAX_ENUMERATED_WAVE = 10


def next_ensemble_wave(
    policy: Policy, known: Mapping[str, SignalValue], state: EnsembleState
) -> int:
    """How many further models to ask in ``plan cost``: the fewest ``d`` after which some
    outcome (any subset of the ``d`` agreeing, all of them answering) would settle the action;
    all that are left when none does (or past :data:`MAX_ENUMERATED_WAVE`)."""
    left = len(state.remaining)
    for d in range(1, min(left, MAX_ENUMERATED_WAVE + 1)):
        wave, rest = state.remaining[:d], state.remaining[d:]
        for mask in range(1 << d):
            joined = sum(w for i, w in enumerate(wave) if mask >> i & 1)
            after = EnsembleState(state.agreeing + joined, state.answered + sum(wave), rest)
            if agreement_settled(policy, known, after) is not None:
                return d
    return left


def ensemble_state(
    model: str,
    answer: str,
    models: Sequence[str],
    weights: Sequence[float] | None,
    replies: Sequence[str | None],
    *,
    similarity: Similarity | None = None,
    question: str | None = None,
) -> EnsembleState | None:
    """The :class:`EnsembleState` after the first ``len(replies)`` of ``models`` (policy order;
    a reply None or empty = that model failed), computed with the very function the final
    value comes from (:func:`~guardrail.sdk.signal_steps.agreement_with_answer`). None while no
    model of the prefix answered (the value could still end up missing). ``weights``: one per
    model (None: all 1).

    Raises:
        ValueError: more replies than models, or ``weights`` of another length."""
    from guardrail.sdk.signal_steps import agreement_with_answer
    from guardrail.signals.consistency import reply_kinds

    m = len(replies)
    w = list(weights) if weights is not None else [1.0] * len(models)
    if m > len(models) or len(w) != len(models):
        raise ValueError("need len(replies) <= len(models) == len(weights)")
    if m == 0:  # the answer alone (a non-answer agrees with nothing)
        kind = reply_kinds([answer], question=question)[0]
        return EnsembleState(1.0 if kind == "answer" else 0.0, 1.0, tuple(w))
    answers = {k: (r or None) for k, r in zip(models[:m], replies, strict=True)}
    out = agreement_with_answer(
        model,
        answer,
        answers,
        weights=dict(zip(models[:m], w[:m], strict=True)) if weights is not None else None,
        errors={},
        similarity=similarity,
        question=question,
    )
    value, _, detail = out["agreement"]
    if value is None:
        return None
    key = f"{model} (answer)"
    wk = {key: 1.0, **dict(zip(models[:m], w[:m], strict=True))}
    own: list[str] = next((c for c in detail["clusters"] if key in c), [])
    agreeing = 0.0 if key in detail["non_answers"] else sum(wk[k] for k in own)
    answered = 1.0 + sum(wk[k] for k, a in answers.items() if a and a.strip())
    return EnsembleState(agreeing, answered, tuple(w[m:]))
