"""Helpers shared by the review tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from guardrail.review import ReviewStore

StoreFactory = Callable[..., ReviewStore]


@dataclass
class FakeClock:
    """A settable UTC clock: ``clock()`` returns ``now``; ``advance`` moves it."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)
