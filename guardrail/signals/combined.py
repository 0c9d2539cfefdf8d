"""Combined view: stated (verbalized) confidence against sampled agreement (self-consistency).

Verbalized confidence is known to be overconfident (Xiong et al. 2023, arXiv 2306.13063), while
sample agreement tracks correctness better; a large positive gap ("I'm 85% sure" with three
different answers in five samples) is a warning sign that policies route to review.
"""

from __future__ import annotations

from typing import Any

from guardrail.signals.base import SignalResult
from guardrail.signals.consistency import ConsistencyResult
from guardrail.signals.verbalized import VerbalizedConfidence

__all__ = [
    "HIGH_VERBALIZED",
    "LOW_CONSISTENCY",
    "GapResult",
    "confidence_gap",
]

HIGH_VERBALIZED = 0.80
"""Default: stated confidence at or above this is "high"."""
LOW_CONSISTENCY = 0.60
"""Default: agreement at or below this is "samples disagree" (3 of 5 or fewer agree)."""


class GapResult(SignalResult):
    """Verbalized-vs-consistency gap.

    Attributes:
        value: overconfidence = max(0, verbalized - consistency), in [0, 1]; None when either
            input is missing (the reason names which).
        gap: signed verbalized - consistency, in [-1, 1] (the DSL's ``verbalized - consistency``).
        verbalized, consistency: the two inputs as numbers.
        confident_but_inconsistent: True when verbalized >= ``high`` and consistency <= ``low``.
    """

    name: str = "confidence_gap"
    gap: float | None = None
    verbalized: float | None = None
    consistency: float | None = None
    confident_but_inconsistent: bool = False


def _num(x: SignalResult | float | None, what: str) -> tuple[float | None, str | None]:
    if x is None:
        return None, f"{what} is missing"
    if isinstance(x, SignalResult):
        if x.value is None:
            return None, f"{what} is missing ({x.reason})"
        if isinstance(x.value, (str, bool)):
            return None, f"{what} is not a number"
        v = float(x.value)
    else:
        v = float(x)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {v!r}")
    return v, None


def confidence_gap(
    verbalized: VerbalizedConfidence | float | None,
    consistency: ConsistencyResult | float | None,
    *,
    high: float = HIGH_VERBALIZED,
    low: float = LOW_CONSISTENCY,
) -> GapResult:
    """Gap between stated confidence and sample agreement, and the "confident but samples
    disagree" flag.

    Args:
        verbalized: a :class:`VerbalizedConfidence` or a float in [0, 1] (None = missing).
        consistency: a :class:`ConsistencyResult` (its agreement) or a float in [0, 1].
        high: verbalized threshold for the flag (default 0.80).
        low: consistency threshold for the flag (default 0.60).

    Returns:
        :class:`GapResult`; value None with a reason when an input is missing.

    Raises:
        ValueError: a float input outside [0, 1].

    Example:
        ``confidence_gap(0.85, 0.4)`` -> gap 0.45, value 0.45, flag True.
    """
    v, rv = _num(verbalized, "verbalized")
    c, rc = _num(consistency, "consistency")
    if v is None or c is None:
        reason = "; ".join(r for r in (rv, rc) if r)
        return GapResult(
            value=None, reason=reason, evidence={"reason": reason}, verbalized=v, consistency=c
        )
    gap = v - c
    flag = v >= high and c <= low
    evidence: dict[str, Any] = {
        "verbalized": v,
        "consistency": c,
        "gap": gap,
        "confident_but_inconsistent": flag,
    }
    return GapResult(
        value=max(0.0, gap),
        gap=gap,
        verbalized=v,
        consistency=c,
        confident_but_inconsistent=flag,
        evidence=evidence,
    )
