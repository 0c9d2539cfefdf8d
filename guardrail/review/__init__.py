"""The production loop: review queue, spot-check sampler and live calibration.

Public API (stable; the SDK depends on it)::

    from guardrail.review import (
        ReviewStore, ReviewItem, ReviewLabel, ReviewReason, ReviewStatus,
        InMemoryReviewStore, SQLiteReviewStore, PostgresReviewStore, open_store,
    )

See ``docs/review.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guardrail.review.backends import (
    DEFAULT_STORE,
    STORE_ENV,
    default_store_path,
    open_store,
    sqlite_path,
    store_url,
)
from guardrail.review.models import (
    ReviewItem,
    ReviewLabel,
    ReviewReason,
    ReviewStatus,
    new_review_id,
)
from guardrail.review.postgres_store import PostgresReviewStore
from guardrail.review.sampler import DEFAULT_SPOT_CHECK_RATE, SpotCheckSampler, hash_fraction
from guardrail.review.sqlite_store import SQLiteReviewStore
from guardrail.review.store import (
    DEFAULT_LEASE,
    DEFAULT_MEMORY_CAPACITY,
    MAX_LEASE,
    AlreadyLabelled,
    ClaimConflict,
    DuplicateItem,
    InMemoryReviewStore,
    ItemNotFound,
    Redactor,
    RegexRedactor,
    ReviewError,
    ReviewQueueFullWarning,
    ReviewStore,
    SchemaError,
)

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MEMORY_CAPACITY",
    "DEFAULT_SPOT_CHECK_RATE",
    "DEFAULT_STORE",
    "MAX_LEASE",
    "STORE_ENV",
    "AlreadyLabelled",
    "ClaimConflict",
    "DriftRow",
    "DuplicateItem",
    "InMemoryReviewStore",
    "ItemNotFound",
    "LiveAuditReport",
    "LiveEstimate",
    "PostgresReviewStore",
    "Redactor",
    "RegexRedactor",
    "ReviewError",
    "ReviewItem",
    "ReviewLabel",
    "ReviewQueueFullWarning",
    "ReviewReason",
    "ReviewStatus",
    "ReviewStore",
    "SQLiteReviewStore",
    "SchemaError",
    "SpotCheckSampler",
    "default_store_path",
    "hash_fraction",
    "horvitz_thompson_mean",
    "live_audit",
    "new_review_id",
    "open_store",
    "parse_window",
    "sqlite_path",
    "store_url",
    "to_audit_records",
]

if TYPE_CHECKING:
    from guardrail.review.live import (
        DriftRow,
        LiveAuditReport,
        LiveEstimate,
        horvitz_thompson_mean,
        live_audit,
        parse_window,
        to_audit_records,
    )

# Live calibration needs numpy; imported on first use so the SDK and the CLI start fast.
_LIVE_NAMES = {
    "DriftRow",
    "LiveAuditReport",
    "LiveEstimate",
    "horvitz_thompson_mean",
    "live_audit",
    "parse_window",
    "to_audit_records",
}


def __getattr__(name: str) -> Any:
    if name in _LIVE_NAMES:
        from guardrail.review import live

        return getattr(live, name)
    raise AttributeError(f"module 'guardrail.review' has no attribute {name!r}")
