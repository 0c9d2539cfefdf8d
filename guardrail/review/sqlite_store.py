"""SQLite review store: the embedded default (one file, WAL mode, stdlib :mod:`sqlite3`).

Durability: every write is its own transaction, committed before the call returns, with
``journal_mode=WAL`` and ``synchronous=FULL`` (the WAL is fsynced at every commit), so an item
acknowledged by :meth:`SQLiteReviewStore.enqueue` survives the process being killed (SIGKILL) and
power loss (SQLite documentation, "Write-Ahead Logging" and "PRAGMA synchronous").

Concurrency: several processes may open the same file. Writes take SQLite's single write lock
(``BEGIN IMMEDIATE``, waiting up to ``busy_timeout``), and a claim is one atomic
``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING *`` statement, so two reviewers never get
the same item. Needs SQLite >= 3.35 (``RETURNING``).

Schema: versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` are applied in order, each in the
same transaction as the version bump, when a store opens the file.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from guardrail.review.models import (
    ITEM_COLUMNS,
    ReviewItem,
    ReviewLabel,
    ReviewReason,
    ReviewStatus,
)
from guardrail.review.store import (
    DEFAULT_LEASE,
    ClaimConflict,
    Clock,
    DuplicateItem,
    ItemNotFound,
    Redactor,
    SchemaError,
    StoreBase,
    _not_claimable,
    as_reason,
    as_status,
)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteReviewStore"]

#: Schema migrations; migration ``i`` (0-based) brings the file from version ``i`` to ``i + 1``.
MIGRATIONS: tuple[str, ...] = (
    # v1: the queue.
    """
    CREATE TABLE review_items (
        id               TEXT PRIMARY KEY,
        created_at       INTEGER NOT NULL,          -- microseconds since the Unix epoch, UTC
        request_id       TEXT,
        domain           TEXT NOT NULL,
        policy_name      TEXT NOT NULL,
        policy_version   TEXT,
        question         TEXT,
        answer_shown     TEXT,
        raw_answer       TEXT,
        decision         TEXT NOT NULL,
        signals          TEXT NOT NULL,             -- JSON object
        explanation      TEXT NOT NULL,             -- JSON array of strings
        reason           TEXT NOT NULL CHECK (reason IN ('review', 'spot_check')),
        sampling_rate    REAL NOT NULL CHECK (sampling_rate > 0 AND sampling_rate <= 1),
        status           TEXT NOT NULL
                         CHECK (status IN ('pending', 'claimed', 'labelled', 'expired')),
        reviewer         TEXT,
        claimed_at       INTEGER,
        claim_expires_at INTEGER,
        labelled_at      INTEGER,
        label            TEXT CHECK (label IS NULL OR
                         label IN ('correct', 'incorrect', 'partially', 'cannot_judge')),
        corrected_answer TEXT,
        note             TEXT
    );
    CREATE INDEX review_items_queue ON review_items (status, created_at, id);
    CREATE INDEX review_items_domain ON review_items (domain, created_at);
    CREATE INDEX review_items_created ON review_items (created_at);
    """,
    # v2: look items up by the application's request id (replays, joins with traces).
    """
    CREATE INDEX review_items_request ON review_items (request_id);
    """,
    # v3: claims cost the same at any queue depth: a partial index over the pending rows of a
    # domain in claim order (any domain: review_items_queue already is one) and one over the
    # claimed rows by lease end (the lapsed-claim sweep).
    """
    CREATE INDEX review_items_pending_domain ON review_items (domain, created_at, id)
        WHERE status = 'pending';
    CREATE INDEX review_items_claimed ON review_items (claim_expires_at) WHERE status = 'claimed';
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

# One column per ReviewItem field, in field order (the table mirrors the model).
_COLUMNS: tuple[str, ...] = ITEM_COLUMNS
_TIME_COLUMNS = frozenset({"created_at", "claimed_at", "claim_expires_at", "labelled_at"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(value: datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch (exact, sortable)."""
    return (value - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    """Inverse of :func:`to_micros`."""
    return _EPOCH + timedelta(microseconds=value)


def _item_to_row(item: ReviewItem) -> tuple[Any, ...]:
    data = item.model_dump()
    out: list[Any] = []
    for col in _COLUMNS:
        value = data[col]
        if col in _TIME_COLUMNS:
            value = None if value is None else to_micros(value)
        elif col in ("signals", "explanation"):
            value = json.dumps(value, sort_keys=True, allow_nan=False)
        elif col in ("reason", "status", "label") and value is not None:
            value = str(value.value) if hasattr(value, "value") else str(value)
        out.append(value)
    return tuple(out)


def _row_to_item(row: sqlite3.Row | Sequence[Any]) -> ReviewItem:
    data: dict[str, Any] = {}
    for col, value in zip(_COLUMNS, row, strict=True):
        if col in _TIME_COLUMNS:
            data[col] = None if value is None else from_micros(int(value))
        elif col in ("signals", "explanation"):
            data[col] = json.loads(value)
        else:
            data[col] = value
    return ReviewItem.model_validate(data)


def migrate(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to schema version ``target`` and return the version it had before.

    Runs inside one ``BEGIN IMMEDIATE`` transaction, so concurrent openers migrate once.

    Raises:
        SchemaError: the file's version is newer than ``target`` / than this code knows.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"review database schema version {current} is newer than this guardrail "
                f"understands ({SCHEMA_VERSION}); upgrade guardrail"
            )
        for version in range(current, target):
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return current


class SQLiteReviewStore(StoreBase):
    """A review store in one SQLite file (created if absent, migrated to the current schema).

    Args:
        path: database file (``":memory:"`` works for throwaway use but is not durable).
        redact, store_content, lease, clock: see :class:`~guardrail.review.store.StoreBase`.
        busy_timeout: seconds to wait for another process's write lock before failing with
            :class:`sqlite3.OperationalError` ("database is locked").

    Thread-safe (one connection guarded by a lock); open one store per process.

    Raises:
        SchemaError: the file was written by a newer guardrail.
        sqlite3.DatabaseError: the file is not an SQLite database.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        redact: Redactor | None = None,
        store_content: bool = True,
        lease: timedelta = DEFAULT_LEASE,
        clock: Clock | None = None,
        busy_timeout: float = 30.0,
    ) -> None:
        super().__init__(redact=redact, store_content=store_content, lease=lease, clock=clock)
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if self.path != ":memory:":
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"could not switch {self.path} to WAL mode ({mode})")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        migrate(self._conn)

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:  # SQLITE_FULL etc. already rolled it back
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def schema_version(self) -> int:
        """The file's schema version (``PRAGMA user_version``)."""
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for an intact file, else the problems found."""
        with self._lock:
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def _fetch(self, conn: sqlite3.Connection, item_id: str) -> ReviewItem:
        row = conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM review_items WHERE id = ?", (item_id,)
        ).fetchone()
        if row is None:
            raise ItemNotFound(f"no review item with id {item_id!r}")
        return _row_to_item(row)

    def _release_lapsed(self, conn: sqlite3.Connection, now: datetime) -> None:
        conn.execute(
            "UPDATE review_items SET status = 'pending', reviewer = NULL, claimed_at = NULL, "
            "claim_expires_at = NULL WHERE status = 'claimed' AND claim_expires_at <= ?",
            (to_micros(now),),
        )

    def _release_if_lapsed(self) -> None:
        """Return lapsed claims to the queue, taking the write lock only when there are some
        (reads stay lock-free WAL snapshots)."""
        now = to_micros(self._now())
        with self._lock:
            found = self._conn.execute(
                "SELECT 1 FROM review_items WHERE status = 'claimed' AND claim_expires_at <= ? "
                "LIMIT 1",
                (now,),
            ).fetchone()
        if found is not None:
            with self._write() as conn:
                self._release_lapsed(conn, from_micros(now))

    # -- protocol ---------------------------------------------------------------------------------

    def enqueue(self, item: ReviewItem) -> str:
        stored = self._prepare(item)
        row = _item_to_row(stored)
        marks = ", ".join("?" for _ in _COLUMNS)
        try:
            with self._write() as conn:
                conn.execute(
                    f"INSERT INTO review_items ({', '.join(_COLUMNS)}) VALUES ({marks})", row
                )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                raise DuplicateItem(f"an item with id {stored.id} is already stored") from None
            raise
        return stored.id

    def get(self, item_id: str) -> ReviewItem:
        with self._lock:
            return self._fetch(self._conn, item_id)

    @staticmethod
    def _where(
        status: ReviewStatus | None,
        domain: str | None,
        reason: ReviewReason | None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for col, value in (("status", status), ("domain", domain), ("reason", reason)):
            if value is not None:
                clauses.append(f"{col} = ?")
                params.append(str(value))
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(to_micros(since))
        if until is not None:
            clauses.append("created_at < ?")
            params.append(to_micros(until))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

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
        where, params = self._where(as_status(status), domain, as_reason(reason), since, until)
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM review_items{where} "
            "ORDER BY created_at, id LIMIT ? OFFSET ?"
        )
        params += [-1 if limit is None else limit, offset]
        self._release_if_lapsed()
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_row_to_item(r) for r in rows]

    def count(
        self,
        *,
        status: ReviewStatus | str | None = None,
        domain: str | None = None,
        reason: ReviewReason | str | None = None,
    ) -> int:
        where, params = self._where(as_status(status), domain, as_reason(reason))
        self._release_if_lapsed()
        with self._lock:
            row = self._conn.execute(f"SELECT COUNT(*) FROM review_items{where}", params).fetchone()
        return int(row[0])

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
        now = self._now()
        # Two statements in one write transaction instead of one "pending OR lapsed claim"
        # query (which sorted every pending row on each claim): first the lapsed claims go back
        # to the queue (partial index on claimed rows), then the oldest pending rows are taken
        # straight from the pending index in claim order. Same items, same order, O(limit).
        inner = "SELECT id FROM review_items WHERE status = 'pending'"
        params: list[Any] = [reviewer, to_micros(now), to_micros(now + span)]
        if domain is not None:
            inner += " AND domain = ?"
            params.append(domain)
        inner += " ORDER BY created_at, id LIMIT ?"
        params.append(limit)
        sql = (
            "UPDATE review_items SET status = 'claimed', reviewer = ?, claimed_at = ?, "
            f"claim_expires_at = ? WHERE id IN ({inner}) RETURNING {', '.join(_COLUMNS)}"
        )
        with self._write() as conn:
            self._release_lapsed(conn, now)
            rows = conn.execute(sql, params).fetchall()
        items = [_row_to_item(r) for r in rows]
        return sorted(items, key=lambda it: (it.created_at, it.id))

    def claim_item(
        self, item_id: str, reviewer: str, *, lease: timedelta | None = None
    ) -> ReviewItem:
        reviewer = self._check_reviewer(reviewer)
        span = self._lease(lease)
        now = self._now()
        with self._write() as conn:
            row = conn.execute(
                "UPDATE review_items SET status = 'claimed', reviewer = ?, claimed_at = ?, "
                "claim_expires_at = ? WHERE id = ? AND (status = 'pending' OR (status = 'claimed' "
                "AND (reviewer = ? OR claim_expires_at <= ?))) "
                f"RETURNING {', '.join(_COLUMNS)}",
                (
                    reviewer,
                    to_micros(now),
                    to_micros(now + span),
                    item_id,
                    reviewer,
                    to_micros(now),
                ),
            ).fetchone()
            if row is None:
                raise ClaimConflict(_not_claimable(self._fetch(conn, item_id)))
        return _row_to_item(row)

    def release(self, item_id: str, reviewer: str) -> ReviewItem:
        reviewer = self._check_reviewer(reviewer)
        now = self._now()
        with self._write() as conn:
            row = conn.execute(
                "UPDATE review_items SET status = 'pending', reviewer = NULL, claimed_at = NULL, "
                "claim_expires_at = NULL WHERE id = ? AND status = 'claimed' AND reviewer = ? "
                f"AND claim_expires_at > ? RETURNING {', '.join(_COLUMNS)}",
                (item_id, reviewer, to_micros(now)),
            ).fetchone()
            if row is None:
                self._fetch(conn, item_id)  # raises ItemNotFound when absent
                raise ClaimConflict(f"item {item_id} is not claimed by {reviewer}")
        return _row_to_item(row)

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
        with self._write() as conn:
            now = self._now()
            current = self._fetch(conn, item_id)
            self._check_label_allowed(current, reviewer, overwrite, now)
            row = conn.execute(
                "UPDATE review_items SET status = 'labelled', reviewer = ?, label = ?, "
                "labelled_at = ?, claim_expires_at = NULL, corrected_answer = ?, note = ? "
                f"WHERE id = ? RETURNING {', '.join(_COLUMNS)}",
                (reviewer, lab.value, to_micros(now), corrected, note, item_id),
            ).fetchone()
        return _row_to_item(row)

    def expire_stale(self, older_than: timedelta) -> int:
        cutoff = self._cutoff(older_than)
        if cutoff is None:
            return 0
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE review_items SET status = 'expired' WHERE status = 'pending' "
                "AND created_at < ?",
                (to_micros(cutoff),),
            )
            return int(cur.rowcount)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
