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

from collections.abc import Mapping
from dataclasses import dataclass

from guardrail.policy import Action, Policy
from guardrail.policy.decision import SignalValue

__all__ = ["SampleState", "consistency_box", "next_wave", "settled"]


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
