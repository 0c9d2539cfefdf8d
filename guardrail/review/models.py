"""Data models of the review queue: one :class:`ReviewItem` per answer sent to a human reviewer.

An item is created by the SDK for every ``review`` decision and for every spot-check pick (see
:mod:`guardrail.review.sampler`), moves ``pending -> claimed -> labelled`` (or
``pending -> expired`` when nobody reviewed it in time), and once labelled becomes an audit record
for live calibration (:mod:`guardrail.review.live`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guardrail._safety import clean_text

__all__ = [
    "DECISION_ACTIONS",
    "ReviewItem",
    "ReviewLabel",
    "ReviewReason",
    "ReviewStatus",
    "SignalValue",
    "new_review_id",
    "utcnow",
]

#: Policy actions, least to most severe (``docs/architecture.md``).
DECISION_ACTIONS: tuple[str, ...] = ("pass", "notice", "review", "abstain")

#: A signal value as stored: confidences are floats in [0, 1], counts are ints, labels are strings;
#: ``None`` marks a signal that was needed but missing.
SignalValue = float | int | str | bool | None


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC :class:`datetime`."""
    return datetime.now(UTC)


def new_review_id() -> str:
    """A fresh review id: 32 lowercase hex characters (a random UUID4, no dashes)."""
    return uuid.uuid4().hex


class ReviewReason(StrEnum):
    """Why an item is in the queue.

    ``review``: the policy's decision was ``review`` (a biased sample by design: the policy picked
    the doubtful answers). ``spot_check``: picked at random by the spot-check sampler from decisions
    that were *not* sent to review, with a known inclusion probability (``sampling_rate``).
    """

    REVIEW = "review"
    SPOT_CHECK = "spot_check"


class ReviewStatus(StrEnum):
    """Life cycle of an item: ``pending`` (waiting), ``claimed`` (a reviewer holds it until the
    claim expires, then it is ``pending`` again), ``labelled`` (done), ``expired`` (nobody reviewed
    it before the store's age limit; kept for accounting, never claimable again)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    LABELLED = "labelled"
    EXPIRED = "expired"


class ReviewLabel(StrEnum):
    """A reviewer's verdict on the answer that was shown."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    PARTIALLY = "partially"
    CANNOT_JUDGE = "cannot_judge"

    @classmethod
    def parse(cls, text: str) -> ReviewLabel:
        """Parse a label, accepting ``-``/space for ``_`` and any case (``"cannot judge"`` works).

        Raises:
            ValueError: the text is not one of the four labels (the message lists them).
        """
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        aliases = {"partial": "partially", "partially_correct": "partially"}
        key = aliases.get(key, key)
        try:
            return cls(key)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown label {text!r}; expected one of: {allowed}") from None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware (use UTC)")
    return value.astimezone(UTC)


class ReviewItem(BaseModel):
    """One answer waiting for (or carrying) a human label.

    Fields set by the application / SDK when enqueuing:

    - ``id``: unique string (default: fresh 32-hex id). ``request_id``: the app's request id (the
      spot-check sampler hashes it), optional.
    - ``created_at``: timezone-aware UTC time of the decision (default: now).
    - ``domain``, ``policy_name``, ``policy_version`` (version string or content hash).
    - ``question``, ``answer_shown`` (what the end user saw, after notices/abstention),
      ``raw_answer`` (the model's answer before the policy acted). Any of them may be ``None``
      when content storage is off; the store's redaction hook runs on them before they are written.
    - ``decision``: the policy action, one of ``pass``, ``notice``, ``review``, ``abstain``.
    - ``signals``: signal name (DSL vocabulary: ``verbalized``, ``consistency``, ...) -> value;
      confidences are floats in [0, 1].
    - ``explanation``: the decision's explanation lines (matched rules and the values that made them
      true), shown to the reviewer.
    - ``reason``: ``review`` or ``spot_check``; ``sampling_rate``: inclusion probability in (0, 1]
      (1.0 for review-queue items; the domain's spot-check rate for spot checks) - live calibration
      weights each spot-check label by ``1 / sampling_rate`` (Horvitz-Thompson).

    Fields the store manages: ``status``, ``reviewer``, ``claimed_at``, ``claim_expires_at``,
    ``labelled_at``, ``label``, ``corrected_answer``, ``note``.

    Text fields, explanation lines and string signal values are stored with NUL and lone UTF-16
    surrogates replaced by U+FFFD (every backend can then write them).

    Raises:
        pydantic.ValidationError: unknown decision, rate outside (0, 1], naive datetimes, a
            a review item must have rate 1, a spot check cannot carry a ``review`` decision.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(default_factory=new_review_id, min_length=1, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    request_id: str | None = None
    domain: str = Field(default="general", min_length=1)
    policy_name: str = ""
    policy_version: str | None = None
    question: str | None = None
    answer_shown: str | None = None
    raw_answer: str | None = None
    decision: str = "review"
    signals: dict[str, SignalValue] = Field(default_factory=dict)
    explanation: list[str] = Field(default_factory=list)
    reason: ReviewReason = ReviewReason.REVIEW
    sampling_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    status: ReviewStatus = ReviewStatus.PENDING
    reviewer: str | None = None
    claimed_at: datetime | None = None
    claim_expires_at: datetime | None = None
    labelled_at: datetime | None = None
    label: ReviewLabel | None = None
    corrected_answer: str | None = None
    note: str | None = None

    @field_validator("created_at", "claimed_at", "claim_expires_at", "labelled_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _aware(value)

    @field_validator(
        "id", "request_id", "domain", "policy_name", "policy_version", "question",
        "answer_shown", "raw_answer", "reviewer", "corrected_answer", "note",
    )  # fmt: skip
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        """NUL and lone surrogates as U+FFFD: SQLite's and PostgreSQL's encoders refuse them
        (``guardrail._safety.clean_text``, docs/security.md)."""
        return clean_text(value) if value is not None else None

    @field_validator("explanation")
    @classmethod
    def _storable_lines(cls, value: list[str]) -> list[str]:
        return [clean_text(line) for line in value]

    @field_validator("signals")
    @classmethod
    def _storable_signals(cls, value: dict[str, SignalValue]) -> dict[str, SignalValue]:
        return {clean_text(k): clean_text(v) if isinstance(v, str) else v for k, v in value.items()}

    @field_validator("decision")
    @classmethod
    def _decision(cls, value: str) -> str:
        if value not in DECISION_ACTIONS:
            allowed = ", ".join(DECISION_ACTIONS)
            raise ValueError(f"decision must be one of {allowed}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReviewItem:
        if self.reason is ReviewReason.REVIEW and self.sampling_rate != 1.0:
            raise ValueError("review-queue items are not sampled: sampling_rate must be 1.0")
        if self.reason is ReviewReason.SPOT_CHECK and self.decision == "review":
            raise ValueError("a review decision is never a spot check: use reason='review'")
        return self

    def signal_float(self, name: str) -> float | None:
        """The signal ``name`` as a float, or ``None`` when absent, missing or not numeric."""
        value = self.signals.get(name)
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return None
        return float(value)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (datetimes as ISO 8601 UTC strings)."""
        return self.model_dump(mode="json")


#: The SQL column names of a stored item, in :class:`ReviewItem` field order (shared by the
#: SQLite and PostgreSQL stores, whose tables mirror the model).
ITEM_COLUMNS: tuple[str, ...] = tuple(ReviewItem.model_fields)
