"""The production loop: review queue, spot-check sampler and live calibration.

Public API (stable; the SDK depends on it)::

    from guardrail.review import (
        ReviewStore, ReviewItem, ReviewLabel, ReviewReason, ReviewStatus,
        InMemoryReviewStore, SQLiteReviewStore, PostgresReviewStore, open_store,
    )

See ``docs/review.md``.
"""

from __future__ import annotations

from guardrail.review.models import (
    ReviewItem,
    ReviewLabel,
    ReviewReason,
    ReviewStatus,
    new_review_id,
)
from guardrail.review.sqlite_store import SQLiteReviewStore
from guardrail.review.store import (
    DEFAULT_LEASE,
    AlreadyLabelled,
    ClaimConflict,
    DuplicateItem,
    InMemoryReviewStore,
    ItemNotFound,
    Redactor,
    RegexRedactor,
    ReviewError,
    ReviewStore,
    SchemaError,
)

__all__ = [
    "DEFAULT_LEASE",
    "AlreadyLabelled",
    "ClaimConflict",
    "DuplicateItem",
    "InMemoryReviewStore",
    "ItemNotFound",
    "Redactor",
    "RegexRedactor",
    "ReviewError",
    "ReviewItem",
    "ReviewLabel",
    "ReviewReason",
    "ReviewStatus",
    "ReviewStore",
    "SQLiteReviewStore",
    "SchemaError",
    "new_review_id",
]
