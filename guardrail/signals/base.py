"""The common result model every uncertainty signal returns.

A signal either has a value or says why it has none: ``value is None`` always comes with a
``reason``. Malformed model replies never raise; they produce ``value=None`` and a reason.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["SignalResult", "SignalValue"]

SignalValue = float | int | str | None
"""A signal value: a probability-like float in [0, 1], an int count >= 0, a str label, or None."""


class SignalResult(BaseModel):
    """Base result of every signal in :mod:`guardrail.signals`.

    Attributes:
        name: the signal's DSL name (``verbalized``, ``consistency``, ``agreement``, ``hedges``,
            ``logprob_confidence``, ``confidence_gap``), see ``docs/architecture.md``.
        value: float in [0, 1] (confidence-like signals), int >= 0 (counts), str (labels), or None
            when the signal could not be computed.
        reason: why ``value`` is None (always set then); may also carry a note when a value exists.
        evidence: JSON-serialisable facts behind the value (spans, clusters, parsed text), meant
            for decision explanations and audit logs.

    Raises:
        pydantic.ValidationError: a float value outside [0, 1] or NaN, a negative count, a bool
            value, or ``value=None`` without a reason.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: float | int | str | None
    reason: str | None = None
    evidence: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check_value(self) -> SignalResult:
        v = self.value
        if isinstance(v, bool):
            raise ValueError("signal value must not be a bool")
        if isinstance(v, float) and (math.isnan(v) or not 0.0 <= v <= 1.0):
            raise ValueError(f"float signal value must be in [0, 1], got {v!r}")
        if isinstance(v, int) and v < 0:
            raise ValueError(f"count signal value must be >= 0, got {v!r}")
        if v is None and not self.reason:
            raise ValueError("a signal without a value must give a reason")
        return self

    @property
    def available(self) -> bool:
        """True when the signal has a value."""
        return self.value is not None
