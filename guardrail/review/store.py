"""The :class:`ReviewStore` protocol, its errors, the redaction hook, and the in-memory store.

Every back end (in-memory, SQLite, PostgreSQL) implements the same protocol and passes the same test
suite (``tests/review/test_store_contract.py``). The semantics every back end guarantees:

- ``enqueue`` returns only after the item is durable (SQLite: committed with ``synchronous=FULL``;
  PostgreSQL: committed). An acknowledged item is never lost.
- ``claim`` is atomic: two reviewers (threads, processes or application instances) never hold the
  same item. A claim lasts ``lease`` (default 15 minutes); a lapsed claim returns the item to the
  queue (``pending``) and another reviewer may take it.
- Items are served oldest first (``created_at``, then ``id``).
- ``label`` is allowed on a ``pending`` item, on an item claimed by the same reviewer, on an item
  whose claim has lapsed, and on an ``expired`` item (a late label is still a label). Relabelling a
  ``labelled`` item needs ``overwrite=True``.
- The redaction hook runs on ``question``, ``answer_shown``, ``raw_answer`` and
  ``corrected_answer`` before they are written; with ``store_content=False`` those fields are
  dropped and only the decision, signals and labels are kept.
"""

from __future__ import annotations

import builtins
import heapq
import pickle
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import ClassVar, Protocol, runtime_checkable

from guardrail._safety import clean_text
from guardrail.review.models import (
    ReviewItem,
    ReviewLabel,
    ReviewReason,
    ReviewStatus,
    utcnow,
)

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MEMORY_CAPACITY",
    "MAX_LEASE",
    "AlreadyLabelled",
    "ClaimConflict",
    "Clock",
    "DuplicateItem",
    "InMemoryReviewStore",
    "ItemNotFound",
    "Redactor",
    "RegexRedactor",
    "ReviewError",
    "ReviewQueueFullWarning",
    "ReviewStore",
    "SchemaError",
    "StoreBase",
]

#: How long a claim lasts before the item returns to the queue.
DEFAULT_LEASE = timedelta(minutes=15)

#: The longest lease a claim may ask for (100 years; its expiry must stay a valid time).
MAX_LEASE = timedelta(days=36_525)

#: How many items an :class:`InMemoryReviewStore` keeps by default before it evicts the oldest.
#: About 1.8-2.2 KiB per ``medical`` review item (``bench/bench_review_memory.py``), so ~18-22 MiB.
DEFAULT_MEMORY_CAPACITY = 10_000

#: A redaction hook: text in, redacted text out. It must not raise on ordinary text; if it raises,
#: ``enqueue``/``label`` fail and nothing is stored (unredacted text is never written); if it
#: returns no ``str``, they raise ``TypeError`` and nothing is stored.
Redactor = Callable[[str], str]

#: A clock returning timezone-aware UTC datetimes (injectable for tests).
Clock = Callable[[], datetime]

CONTENT_FIELDS: tuple[str, ...] = ("question", "answer_shown", "raw_answer", "corrected_answer")


class ReviewError(Exception):
    """Base class of review-store errors."""


class ItemNotFound(ReviewError, KeyError):
    """No item with that id."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable.
        return str(self.args[0]) if self.args else "item not found"


class DuplicateItem(ReviewError):
    """An item with that id is already stored (the stored item is unchanged)."""


class ClaimConflict(ReviewError):
    """The item is claimed by another reviewer whose claim has not lapsed."""


class AlreadyLabelled(ReviewError):
    """The item already has a label; pass ``overwrite=True`` to replace it."""


class SchemaError(ReviewError):
    """The database schema is newer than this guardrail version understands."""


class ReviewQueueFullWarning(UserWarning):
    """An in-memory review store reached its capacity and dropped its oldest item(s)."""


class RegexRedactor:
    """A redaction hook that replaces regular-expression matches with a placeholder.

    The defaults mask e-mail addresses, phone-number-like digit runs and payment-card-like digit
    runs with ``[EMAIL]``, ``[PHONE]`` and ``[NUMBER]``. Pass ``patterns`` (name -> regex) to add
    your own; a pattern's name becomes its placeholder (``[NAME]`` upper-cased).

    Example:
        >>> RegexRedactor()("mail jo@example.org or call +1 415 555 0100")
        'mail [EMAIL] or call [PHONE]'
    """

    DEFAULTS: ClassVar[dict[str, str]] = {
        "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
        "number": r"\b\d(?:[ -]?\d){12,18}\b",
        "phone": r"(?<!\w)\+?\d{1,3}[ .-]?\(?\d{2,4}\)?(?:[ .-]?\d{2,4}){2,3}(?!\w)",
    }

    def __init__(self, patterns: dict[str, str] | None = None, *, defaults: bool = True) -> None:
        table = dict(self.DEFAULTS) if defaults else {}
        table.update(patterns or {})
        self._compiled = [(re.compile(rx), f"[{name.upper()}]") for name, rx in table.items()]

    def __call__(self, text: str) -> str:
        for rx, placeholder in self._compiled:
            text = rx.sub(placeholder, text)
        return text


@runtime_checkable
class ReviewStore(Protocol):
    """A durable review queue. See the module docstring for the guarantees every back end gives."""

    def enqueue(self, item: ReviewItem) -> str:
        """Store a new item (status forced to ``pending``, label fields cleared) and return its id.

        Raises:
            DuplicateItem: an item with the same id exists.
        """
        ...

    def get(self, item_id: str) -> ReviewItem:
        """The item with that id.

        Raises:
            ItemNotFound: no such item.
        """
        ...

    def list(
        self,
        *,
        status: ReviewStatus | str | None = None,
        domain: str | None = None,
        reason: ReviewReason | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[ReviewItem]:
        """Items matching every given filter, oldest first. ``since``/``until`` bound ``created_at``
        (``since <= created_at < until``). Lapsed claims are returned to ``pending`` first."""
        ...

    def count(
        self,
        *,
        status: ReviewStatus | str | None = None,
        domain: str | None = None,
        reason: ReviewReason | str | None = None,
    ) -> int:
        """How many items match (same filters as :meth:`list`)."""
        ...

    def claim(
        self,
        reviewer: str,
        *,
        domain: str | None = None,
        limit: int = 1,
        lease: timedelta | None = None,
    ) -> builtins.list[ReviewItem]:
        """Atomically claim up to ``limit`` of the oldest claimable items (``pending`` or with a
        lapsed claim), optionally only in ``domain``. Returns them oldest first ([] when none)."""
        ...

    def claim_item(
        self, item_id: str, reviewer: str, *, lease: timedelta | None = None
    ) -> ReviewItem:
        """Claim one specific item (or renew the same reviewer's claim).

        Raises:
            ItemNotFound: no such item.
            ClaimConflict: another reviewer holds an unexpired claim, or the item is not claimable
                (labelled / expired).
        """
        ...

    def release(self, item_id: str, reviewer: str) -> ReviewItem:
        """Give a claimed item back to the queue.

        Raises:
            ItemNotFound, ClaimConflict: not claimed by ``reviewer``.
        """
        ...

    def label(
        self,
        item_id: str,
        label: ReviewLabel | str,
        *,
        reviewer: str,
        corrected_answer: str | None = None,
        note: str | None = None,
        overwrite: bool = False,
    ) -> ReviewItem:
        """Record a reviewer's label (status becomes ``labelled``).

        Raises:
            ValueError: unknown label. ItemNotFound. ClaimConflict: claimed by someone else.
            AlreadyLabelled: already labelled and ``overwrite`` is false.
        """
        ...

    def expire_stale(self, older_than: timedelta) -> int:
        """Mark ``pending`` items created more than ``older_than`` ago as ``expired``; returns how
        many."""
        ...

    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""
        ...


class StoreBase:
    """Shared behaviour of the back ends: clock, lease, redaction and content switch.

    Args:
        redact: redaction hook run on content fields before they are stored (see :data:`Redactor`).
        store_content: ``False`` drops question/answer text entirely (signals and labels are kept).
        lease: default claim duration (> 0).
        clock: returns "now" as an aware UTC datetime (default:
            :func:`~guardrail.review.models.utcnow`).

    Raises:
        ValueError: a lease <= 0 or over :data:`MAX_LEASE` (100 years).
    """

    def __init__(
        self,
        *,
        redact: Redactor | None = None,
        store_content: bool = True,
        lease: timedelta = DEFAULT_LEASE,
        clock: Clock | None = None,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError(f"lease must be positive, got {lease}")
        if lease > MAX_LEASE:
            raise ValueError(f"lease must be at most {MAX_LEASE.days} days, got {lease}")
        self.redact = redact
        self.store_content = store_content
        self.lease = lease
        self.clock: Clock = clock or utcnow

    def _now(self) -> datetime:
        return self.clock()

    def _clean_text(self, text: str | None) -> str | None:
        if text is None or not self.store_content:
            return None
        text = clean_text(text)  # NUL / lone surrogates: PostgreSQL and UTF-8 refuse them
        if self.redact is None:
            return text
        out = self.redact(text)
        if not isinstance(out, str):
            raise TypeError(
                f"the redaction hook must return a str, got {type(out).__name__}; nothing stored"
            )
        return clean_text(out)

    @staticmethod
    def _clean_note(note: str | None) -> str | None:
        """A reviewer's note as stored: NUL and lone surrogates replaced by U+FFFD."""
        return clean_text(note) if note is not None else None

    def _prepare(self, item: ReviewItem) -> ReviewItem:
        """The item as it will be stored: fresh pending state, content redacted or dropped."""
        update: dict[str, object] = {
            "status": ReviewStatus.PENDING,
            "reviewer": None,
            "claimed_at": None,
            "claim_expires_at": None,
            "labelled_at": None,
            "label": None,
            "corrected_answer": None,
            "note": None,
        }
        for name in ("question", "answer_shown", "raw_answer"):
            update[name] = self._clean_text(getattr(item, name))
        return item.model_copy(update=update)

    def _lease(self, lease: timedelta | None) -> timedelta:
        lease = self.lease if lease is None else lease
        if lease <= timedelta(0):
            raise ValueError(f"lease must be positive, got {lease}")
        if lease > MAX_LEASE:
            raise ValueError(f"lease must be at most {MAX_LEASE.days} days, got {lease}")
        return lease

    @staticmethod
    def _check_reviewer(reviewer: str) -> str:
        """The reviewer's name as stored: stripped, NUL and lone surrogates as U+FFFD (as every
        other stored text; SQLite's and PostgreSQL's encoders refuse them)."""
        if not isinstance(reviewer, str) or not reviewer.strip():
            raise ValueError("reviewer must be a non-empty name")
        return clean_text(reviewer.strip())

    @staticmethod
    def _as_label(label: ReviewLabel | str) -> ReviewLabel:
        return label if isinstance(label, ReviewLabel) else ReviewLabel.parse(label)

    @staticmethod
    def _check_page(
        limit: int | None,
        offset: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        """``list`` arguments: ``limit`` None or >= 0, ``offset`` >= 0 (a negative one meant "all"
        on SQLite, "drop the last" or "only the last" in memory and an SQL error on PostgreSQL);
        ``since``/``until`` timezone-aware (a naive one raised a bare comparison TypeError).
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0 or None, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        for name, when in (("since", since), ("until", until)):
            if when is not None and when.utcoffset() is None:
                raise ValueError(f"{name} must be a timezone-aware datetime, got {when!r}")

    def _cutoff(self, older_than: timedelta) -> datetime | None:
        """``now - older_than`` for ``expire_stale``; None when that is before year 1 (nothing
        is that old)."""
        try:
            return self._now() - older_than
        except OverflowError:
            return None

    @staticmethod
    def _check_limit(limit: int) -> int:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        return limit

    def _check_label_allowed(
        self, item: ReviewItem, reviewer: str, overwrite: bool, now: datetime
    ) -> None:
        if item.status is ReviewStatus.LABELLED and not overwrite:
            raise AlreadyLabelled(
                f"item {item.id} is already labelled {item.label} by {item.reviewer}; "
                "pass overwrite=True (--overwrite) to replace the label"
            )
        if (
            item.status is ReviewStatus.CLAIMED
            and item.reviewer != reviewer
            and item.claim_expires_at is not None
            and item.claim_expires_at > now
        ):
            raise ClaimConflict(
                f"item {item.id} is claimed by {item.reviewer} until "
                f"{item.claim_expires_at.isoformat()}"
            )


class _Filterable(Protocol):
    """The fields every store query filters and sorts on (a :class:`ReviewItem` has them)."""

    @property
    def status(self) -> ReviewStatus: ...
    @property
    def domain(self) -> str: ...
    @property
    def reason(self) -> ReviewReason: ...
    @property
    def created_at(self) -> datetime: ...


def _matches(
    item: _Filterable,
    status: ReviewStatus | None,
    domain: str | None,
    reason: ReviewReason | None,
    since: datetime | None,
    until: datetime | None,
) -> bool:
    return (
        (status is None or item.status is status)
        and (domain is None or item.domain == domain)
        and (reason is None or item.reason is reason)
        and (since is None or item.created_at >= since)
        and (until is None or item.created_at < until)
    )


def as_status(status: ReviewStatus | str | None) -> ReviewStatus | None:
    """Coerce a status filter (``None`` passes through). Raises ``ValueError`` on unknown values."""
    return None if status is None else ReviewStatus(status)


def as_reason(reason: ReviewReason | str | None) -> ReviewReason | None:
    """Coerce a reason filter (``None`` passes through). Raises ``ValueError`` on unknown values."""
    return None if reason is None else ReviewReason(reason)


#: Bytes per piece of a stored item: a 255-byte ``bytes`` object is 288 bytes, one of CPython's
#: small-object size classes, so every piece of every item comes from the same allocator pools.
_PIECE = 255


#: The changes that return a claimed item to the queue (release, lapsed lease).
_UNCLAIMED: dict[str, object] = {
    "status": ReviewStatus.PENDING,
    "reviewer": None,
    "claimed_at": None,
    "claim_expires_at": None,
}


class _Entry:
    """What :class:`InMemoryReviewStore` keeps per item: the fields its queries filter and sort on,
    and the whole item pickled.

    One ``bytes`` object per item instead of a live pydantic model (a model with its field dict,
    strings, datetimes, signals and explanation lines is about 40 small objects): about 40 % of
    the memory per item, and a full store that drops its oldest item and takes a new one frees
    and allocates one block of about the same size instead of scattering small objects over the
    heap (``bench/bench_review_memory.py``). The pickle is written and read by this process only,
    never from outside.
    """

    __slots__ = ("blob", "claim_expires_at", "created_at", "domain", "reason", "status")

    def __init__(self, item: ReviewItem) -> None:
        blob = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        blob += bytes(-len(blob) % _PIECE)  # pickle.loads ignores bytes past the pickle's STOP
        self.blob = tuple(blob[i : i + _PIECE] for i in range(0, len(blob), _PIECE))
        self.status = item.status
        self.domain = item.domain
        self.reason = item.reason
        self.created_at = item.created_at
        self.claim_expires_at = item.claim_expires_at

    def item(self) -> ReviewItem:
        """A fresh copy of the stored item (the caller may change it freely)."""
        it = pickle.loads(b"".join(self.blob))
        assert isinstance(it, ReviewItem)
        return it


class InMemoryReviewStore(StoreBase):
    """A thread-safe, process-local, bounded store (tests, notebooks, single-process demos).

    Not durable: everything is lost when the process exits. Same semantics as the SQL stores,
    except that it holds at most ``capacity`` items: enqueueing one more evicts the oldest item
    (in enqueue order, whatever its status; a labelled, claimed or pending item is dropped alike),
    counts it in :attr:`evicted` and, the first time, warns with
    :class:`ReviewQueueFullWarning`. This is the :class:`~guardrail.Guard` default, so a
    long-running process does not grow without bound (``bench/bench_review_memory.py``); an
    application whose review items must survive should pass a
    :class:`~guardrail.review.SQLiteReviewStore` or
    :class:`~guardrail.review.PostgresReviewStore`.

    Items are kept serialized (about 1-2 KB each for a guarded chat's item; docs/review.md gives
    the measured figure), so reads return fresh copies and cost a deserialization (microseconds).

    Args:
        items: items to enqueue at construction.
        capacity: most items kept (>= 1), default :data:`DEFAULT_MEMORY_CAPACITY` (10,000);
            ``None`` keeps everything (unbounded: memory grows with every item).
        redact, store_content, lease, clock: see :class:`StoreBase`.

    Raises:
        ValueError: ``capacity`` not a whole number >= 1 (or None), a lease <= 0 or over
            :data:`MAX_LEASE`.
    """

    def __init__(
        self,
        items: Iterable[ReviewItem] = (),
        *,
        capacity: int | None = DEFAULT_MEMORY_CAPACITY,
        redact: Redactor | None = None,
        store_content: bool = True,
        lease: timedelta = DEFAULT_LEASE,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(redact=redact, store_content=store_content, lease=lease, clock=clock)
        if capacity is not None and (
            isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
        ):
            raise ValueError(
                f"capacity must be a positive number of items or None, got {capacity!r}"
            )
        self.capacity = capacity
        self._evicted = 0
        # enqueue order (updates keep an item's place); popitem(last=False) evicts in O(1)
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        # heaps with lazy deletion, so a claim costs O(log n) whatever the queue depth: per
        # domain, (created_at, id) of items that became pending (built at the first claim: a
        # store nobody claims from keeps none); (claim expiry, id) of claims. An entry is acted
        # on only if the item still has that state; _compact drops the others.
        self._pending: dict[str, builtins.list[tuple[datetime, str]]] | None = None
        self._claims: builtins.list[tuple[datetime, str]] = []
        self._lock = threading.RLock()
        for item in items:
            self.enqueue(item)

    @property
    def evicted(self) -> int:
        """How many items were dropped because the store was full (0 while under capacity)."""
        return self._evicted

    def enqueue(self, item: ReviewItem) -> str:
        stored = self._prepare(item)
        entry = _Entry(stored)
        dropped = 0
        with self._lock:
            if stored.id in self._items:
                raise DuplicateItem(f"an item with id {stored.id} is already stored")
            self._items[stored.id] = entry
            self._index(stored.id, entry)
            if self.capacity is not None:
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
                    dropped += 1
                first = self._evicted == 0 and dropped > 0
                self._evicted += dropped
            self._compact()
        if dropped and first:
            warnings.warn(
                f"in-memory review store is full ({self.capacity} items): dropping the oldest "
                "items from now on (count in store.evicted); pass a larger capacity or use a "
                "SQLite/PostgreSQL store to keep them",
                ReviewQueueFullWarning,
                stacklevel=2,
            )
        return stored.id

    def get(self, item_id: str) -> ReviewItem:
        with self._lock:
            try:
                return self._items[item_id].item()
            except KeyError:
                raise ItemNotFound(f"no review item with id {item_id!r}") from None

    def _update(self, item: ReviewItem, **changes: object) -> ReviewItem:
        """Store ``item`` with ``changes`` applied (in its place in enqueue order); return it."""
        new = item.model_copy(update=changes)
        entry = _Entry(new)
        self._items[new.id] = entry
        self._index(new.id, entry)
        self._compact()
        return new

    def _index(self, key: str, entry: _Entry) -> None:
        """Record an item's new state in the pending or claim heap (other states need none)."""
        if entry.status is ReviewStatus.PENDING:
            if self._pending is not None:
                heapq.heappush(self._pending.setdefault(entry.domain, []), (entry.created_at, key))
        elif entry.status is ReviewStatus.CLAIMED and entry.claim_expires_at is not None:
            heapq.heappush(self._claims, (entry.claim_expires_at, key))

    def _live_pending(self, key: str) -> bool:
        entry = self._items.get(key)
        return entry is not None and entry.status is ReviewStatus.PENDING

    def _live_claim(self, key: str, expires: datetime) -> bool:
        entry = self._items.get(key)
        return (
            entry is not None
            and entry.status is ReviewStatus.CLAIMED
            and entry.claim_expires_at == expires
        )

    def _compact(self) -> None:
        """Drop stale heap entries (items evicted or no longer in that state, duplicates) once
        they could make up a fifth of the heaps: at most a quarter of the store's size (+64)
        in stale entries, O(1) amortized per change."""
        heaps = [] if self._pending is None else builtins.list(self._pending.values())
        if sum(map(len, heaps)) + len(self._claims) <= len(self._items) * 5 // 4 + 64:
            return
        for heap in heaps:
            _prune(heap, lambda key, _created: self._live_pending(key))
        _prune(self._claims, self._live_claim)

    def _oldest_pending(self, domain: str | None) -> str | None:
        """Pop and return the id of the oldest pending item (in ``domain`` if given), or None."""
        if self._pending is None:  # first claim: index what is pending now
            self._pending = {}
            for key, entry in self._items.items():
                if entry.status is ReviewStatus.PENDING:
                    self._pending.setdefault(entry.domain, []).append((entry.created_at, key))
            for heap in self._pending.values():
                heapq.heapify(heap)
        heaps = [self._pending.get(domain, [])] if domain is not None else self._pending.values()
        best: builtins.list[tuple[datetime, str]] | None = None
        for heap in heaps:
            while heap and not self._live_pending(heap[0][1]):
                heapq.heappop(heap)
            if heap and (best is None or heap[0] < best[0]):
                best = heap
        return None if best is None else heapq.heappop(best)[1]

    def _release_lapsed(self, now: datetime) -> None:
        while self._claims and self._claims[0][0] <= now:
            expires, key = heapq.heappop(self._claims)
            if self._live_claim(key, expires):
                self._update(self._items[key].item(), **_UNCLAIMED)

    def _sorted(self, entries: Iterable[tuple[str, _Entry]]) -> builtins.list[_Entry]:
        """Oldest first: ``created_at``, then id (the SQL stores' order)."""
        return [e for _, e in sorted(entries, key=lambda kv: (kv[1].created_at, kv[0]))]

    def list(
        self,
        *,
        status: ReviewStatus | str | None = None,
        domain: str | None = None,
        reason: ReviewReason | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[ReviewItem]:
        self._check_page(limit, offset, since, until)
        st, rs = as_status(status), as_reason(reason)
        end = None if limit is None else offset + limit
        with self._lock:
            self._release_lapsed(self._now())
            found = self._sorted(
                (key, e)
                for key, e in self._items.items()
                if _matches(e, st, domain, rs, since, until)
            )
            # only the page asked for is deserialized
            return [e.item() for e in found[offset:end]]

    def count(
        self,
        *,
        status: ReviewStatus | str | None = None,
        domain: str | None = None,
        reason: ReviewReason | str | None = None,
    ) -> int:
        st, rs = as_status(status), as_reason(reason)
        with self._lock:
            self._release_lapsed(self._now())
            return sum(1 for e in self._items.values() if _matches(e, st, domain, rs, None, None))

    def claim(
        self,
        reviewer: str,
        *,
        domain: str | None = None,
        limit: int = 1,
        lease: timedelta | None = None,
    ) -> builtins.list[ReviewItem]:
        reviewer = self._check_reviewer(reviewer)
        limit = self._check_limit(limit)
        span = self._lease(lease)
        with self._lock:
            now = self._now()
            self._release_lapsed(now)
            out: builtins.list[ReviewItem] = []
            while len(out) < limit and (key := self._oldest_pending(domain)) is not None:
                out.append(
                    self._update(
                        self._items[key].item(),
                        status=ReviewStatus.CLAIMED,
                        reviewer=reviewer,
                        claimed_at=now,
                        claim_expires_at=now + span,
                    )
                )
            return out

    def claim_item(
        self, item_id: str, reviewer: str, *, lease: timedelta | None = None
    ) -> ReviewItem:
        reviewer = self._check_reviewer(reviewer)
        span = self._lease(lease)
        with self._lock:
            now = self._now()
            self._release_lapsed(now)
            it = self.get(item_id)
            if it.status not in (ReviewStatus.PENDING, ReviewStatus.CLAIMED) or (
                it.status is ReviewStatus.CLAIMED and it.reviewer != reviewer
            ):
                raise ClaimConflict(_not_claimable(it))
            return self._update(
                it,
                status=ReviewStatus.CLAIMED,
                reviewer=reviewer,
                claimed_at=now,
                claim_expires_at=now + span,
            )

    def release(self, item_id: str, reviewer: str) -> ReviewItem:
        reviewer = self._check_reviewer(reviewer)
        with self._lock:
            self._release_lapsed(self._now())
            it = self.get(item_id)
            if it.status is not ReviewStatus.CLAIMED or it.reviewer != reviewer:
                raise ClaimConflict(f"item {item_id} is not claimed by {reviewer}")
            return self._update(it, **_UNCLAIMED)

    def label(
        self,
        item_id: str,
        label: ReviewLabel | str,
        *,
        reviewer: str,
        corrected_answer: str | None = None,
        note: str | None = None,
        overwrite: bool = False,
    ) -> ReviewItem:
        lab = self._as_label(label)
        reviewer = self._check_reviewer(reviewer)
        corrected = self._clean_text(corrected_answer)
        note = self._clean_note(note)
        with self._lock:
            now = self._now()
            it = self.get(item_id)
            self._check_label_allowed(it, reviewer, overwrite, now)
            return self._update(
                it,
                status=ReviewStatus.LABELLED,
                reviewer=reviewer,
                label=lab,
                labelled_at=now,
                claim_expires_at=None,
                corrected_answer=corrected,
                note=note,
            )

    def expire_stale(self, older_than: timedelta) -> int:
        cutoff = self._cutoff(older_than)
        if cutoff is None:
            return 0
        with self._lock:
            stale = [
                e
                for e in self._items.values()
                if e.status is ReviewStatus.PENDING and e.created_at < cutoff
            ]
            for e in stale:
                self._update(e.item(), status=ReviewStatus.EXPIRED)
            return len(stale)

    def close(self) -> None:
        return None


def _prune(
    heap: builtins.list[tuple[datetime, str]], live: Callable[[str, datetime], bool]
) -> None:
    """Keep, in place, the first entry of each id that ``live(id, time)`` accepts; re-heapify."""
    seen: set[str] = set()
    kept = []
    for entry in heap:  # the tuples themselves are kept: no new allocations per entry
        when, key = entry
        if key not in seen and live(key, when):
            seen.add(key)
            kept.append(entry)
    heap[:] = kept
    heapq.heapify(heap)


def _not_claimable(item: ReviewItem) -> str:
    if item.status is ReviewStatus.CLAIMED:
        return f"item {item.id} is claimed by {item.reviewer}"
    return f"item {item.id} is {item.status.value} and cannot be claimed"
