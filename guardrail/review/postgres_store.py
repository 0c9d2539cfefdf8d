"""PostgreSQL review store, for several application instances sharing one queue (psycopg 3).

Install with ``pip install 'guardrail-uq[postgres]'``.

- Claims use ``SELECT ... FOR UPDATE SKIP LOCKED`` inside one ``UPDATE ... RETURNING`` statement,
  so concurrent reviewers (in any number of processes or hosts) never get the same item and never
  wait on each other's rows (PostgreSQL documentation, "SELECT - The Locking Clause").
- Every call is one transaction, committed before it returns (acknowledged = durable).
- The schema is versioned in ``<schema>.guardrail_review_schema``; migrations run under a
  transaction-level advisory lock so several instances starting together migrate once.
- Times come from the store's clock (the application host), stored as ``timestamptz``; keep the
  hosts' clocks in sync (NTP) for claim expiry to be fair across instances.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
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

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresReviewStore"]

#: Migrations (``{s}`` is the quoted schema); entry ``i`` brings version ``i`` to ``i + 1``.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE {s}.review_items (
            id               text PRIMARY KEY,
            created_at       timestamptz NOT NULL,
            request_id       text,
            domain           text NOT NULL,
            policy_name      text NOT NULL,
            policy_version   text,
            question         text,
            answer_shown     text,
            raw_answer       text,
            decision         text NOT NULL,
            signals          jsonb NOT NULL,
            explanation      jsonb NOT NULL,
            reason           text NOT NULL CHECK (reason IN ('review', 'spot_check')),
            sampling_rate    double precision NOT NULL
                             CHECK (sampling_rate > 0 AND sampling_rate <= 1),
            status           text NOT NULL
                             CHECK (status IN ('pending', 'claimed', 'labelled', 'expired')),
            reviewer         text,
            claimed_at       timestamptz,
            claim_expires_at timestamptz,
            labelled_at      timestamptz,
            label            text CHECK (label IS NULL OR
                             label IN ('correct', 'incorrect', 'partially', 'cannot_judge')),
            corrected_answer text,
            note             text
        )
        """,
        "CREATE INDEX review_items_queue ON {s}.review_items (status, created_at, id)",
        "CREATE INDEX review_items_domain ON {s}.review_items (domain, created_at)",
        "CREATE INDEX review_items_created ON {s}.review_items (created_at)",
    ),
    ("CREATE INDEX review_items_request ON {s}.review_items (request_id)",),
    # v3: claims cost the same at any queue depth (see SQLiteReviewStore's v3).
    (
        "CREATE INDEX review_items_pending_domain ON {s}.review_items (domain, created_at, id) "
        "WHERE status = 'pending'",
        "CREATE INDEX review_items_claimed ON {s}.review_items (claim_expires_at) "
        "WHERE status = 'claimed'",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

# One column per ReviewItem field, in field order (the table mirrors the model).
_COLUMNS: tuple[str, ...] = ITEM_COLUMNS
_COLS = ", ".join(_COLUMNS)


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "the PostgreSQL review store needs psycopg 3: pip install 'guardrail-uq[postgres]'"
        ) from exc
    return psycopg


class PostgresReviewStore(StoreBase):
    """A review store in a PostgreSQL database.

    Args:
        dsn: libpq connection string or URL, e.g. ``postgresql://user:pw@127.0.0.1:5432/db``.
        schema: PostgreSQL schema holding the tables (created if absent; default ``public``).
        redact, store_content, lease, clock: see :class:`~guardrail.review.store.StoreBase`.
        connect_timeout: seconds.

    Thread-safe (one connection per store, guarded by a lock; reconnects once if the connection
    broke). Open one store per process.

    Raises:
        ImportError: psycopg is not installed. psycopg.OperationalError: cannot connect.
        SchemaError: the database schema is newer than this guardrail understands.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        redact: Redactor | None = None,
        store_content: bool = True,
        lease: timedelta = DEFAULT_LEASE,
        clock: Clock | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__(redact=redact, store_content=store_content, lease=lease, clock=clock)
        self._pg = _import_psycopg()
        from psycopg import sql

        self.dsn = dsn
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._schema_sql: str = sql.Identifier(schema).as_string(None)
        self._table = f"{self._schema_sql}.review_items"
        self._lock = threading.RLock()
        self._conn: Any = self._connect()
        self._migrate()

    # -- plumbing ---------------------------------------------------------------------------------

    def _connect(self) -> Any:
        return self._pg.connect(
            self.dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout))
        )

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction; yields a cursor."""
        with self._lock:
            if self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield cur

    def _migrate(self) -> None:
        meta = f"{self._schema_sql}.guardrail_review_schema"
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('guardrail_review_migrate'))")
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema_sql}")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {meta} (version integer NOT NULL)")
            cur.execute(f"SELECT version FROM {meta}")
            row = cur.fetchone()
            if row is None:
                cur.execute(f"INSERT INTO {meta} (version) VALUES (0)")
                current = 0
            else:
                current = int(row[0])
            if current > SCHEMA_VERSION:
                raise SchemaError(
                    f"review database schema version {current} is newer than this guardrail "
                    f"understands ({SCHEMA_VERSION}); upgrade guardrail"
                )
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    cur.execute(statement.replace("{s}", self._schema_sql))
            cur.execute(f"UPDATE {meta} SET version = %s", (SCHEMA_VERSION,))

    def schema_version(self) -> int:
        """The database's schema version."""
        with self._tx() as cur:
            cur.execute(f"SELECT version FROM {self._schema_sql}.guardrail_review_schema")
            return int(cur.fetchone()[0])

    def _params(self, item: ReviewItem) -> tuple[Any, ...]:
        from psycopg.types.json import Jsonb

        data = item.model_dump()
        out: list[Any] = []
        for col in _COLUMNS:
            value = data[col]
            if col in ("signals", "explanation"):
                value = Jsonb(value)
            elif col in ("reason", "status", "label") and value is not None:
                value = str(value)
            out.append(value)
        return tuple(out)

    @staticmethod
    def _item(row: tuple[Any, ...]) -> ReviewItem:
        return ReviewItem.model_validate(dict(zip(_COLUMNS, row, strict=True)))

    def _fetch(self, cur: Any, item_id: str, *, lock: bool = False) -> ReviewItem:
        cur.execute(
            f"SELECT {_COLS} FROM {self._table} WHERE id = %s{' FOR UPDATE' if lock else ''}",
            (item_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise ItemNotFound(f"no review item with id {item_id!r}")
        return self._item(row)

    def _release_lapsed(self, cur: Any, now: datetime) -> None:
        cur.execute(
            f"UPDATE {self._table} SET status = 'pending', reviewer = NULL, claimed_at = NULL, "
            "claim_expires_at = NULL WHERE status = 'claimed' AND claim_expires_at <= %s",
            (now,),
        )

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
                clauses.append(f"{col} = %s")
                params.append(str(value))
        if since is not None:
            clauses.append("created_at >= %s")
            params.append(since)
        if until is not None:
            clauses.append("created_at < %s")
            params.append(until)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    # -- protocol ---------------------------------------------------------------------------------

    def enqueue(self, item: ReviewItem) -> str:
        stored = self._prepare(item)
        marks = ", ".join("%s" for _ in _COLUMNS)
        try:
            with self._tx() as cur:
                cur.execute(
                    f"INSERT INTO {self._table} ({_COLS}) VALUES ({marks})", self._params(stored)
                )
        except self._pg.errors.UniqueViolation:
            raise DuplicateItem(f"an item with id {stored.id} is already stored") from None
        return stored.id

    def get(self, item_id: str) -> ReviewItem:
        with self._tx() as cur:
            return self._fetch(cur, item_id)

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
        sql = f"SELECT {_COLS} FROM {self._table}{where} ORDER BY created_at, id"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        sql += " OFFSET %s"
        params.append(offset)
        with self._tx() as cur:
            self._release_lapsed(cur, self._now())
            cur.execute(sql, params)
            rows = cur.fetchall()
        return [self._item(r) for r in rows]

    def count(
        self,
        *,
        status: ReviewStatus | str | None = None,
        domain: str | None = None,
        reason: ReviewReason | str | None = None,
    ) -> int:
        where, params = self._where(as_status(status), domain, as_reason(reason))
        with self._tx() as cur:
            self._release_lapsed(cur, self._now())
            cur.execute(f"SELECT count(*) FROM {self._table}{where}", params)
            return int(cur.fetchone()[0])

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
        # Lapsed claims go back to the queue first (partial index on claimed rows), then the
        # oldest pending rows are taken from the pending index in claim order: no sort of the
        # whole queue per claim (the former "pending OR lapsed" condition could not use an index).
        inner = f"SELECT id FROM {self._table} WHERE status = 'pending'"
        params: list[Any] = [reviewer, now, now + span]
        if domain is not None:
            inner += " AND domain = %s"
            params.append(domain)
        inner += " ORDER BY created_at, id LIMIT %s FOR UPDATE SKIP LOCKED"
        params.append(limit)
        with self._tx() as cur:
            self._release_lapsed(cur, now)
            cur.execute(
                f"UPDATE {self._table} SET status = 'claimed', reviewer = %s, claimed_at = %s, "
                f"claim_expires_at = %s WHERE id IN ({inner}) RETURNING {_COLS}",
                params,
            )
            rows = cur.fetchall()
        return sorted((self._item(r) for r in rows), key=lambda it: (it.created_at, it.id))

    def claim_item(
        self, item_id: str, reviewer: str, *, lease: timedelta | None = None
    ) -> ReviewItem:
        reviewer = self._check_reviewer(reviewer)
        span = self._lease(lease)
        now = self._now()
        with self._tx() as cur:
            cur.execute(
                f"UPDATE {self._table} SET status = 'claimed', reviewer = %s, claimed_at = %s, "
                "claim_expires_at = %s WHERE id = %s AND (status = 'pending' OR "
                "(status = 'claimed' AND (reviewer = %s OR claim_expires_at <= %s))) "
                f"RETURNING {_COLS}",
                (reviewer, now, now + span, item_id, reviewer, now),
            )
            row = cur.fetchone()
            if row is None:
                raise ClaimConflict(_not_claimable(self._fetch(cur, item_id)))
        return self._item(row)

    def release(self, item_id: str, reviewer: str) -> ReviewItem:
        reviewer = self._check_reviewer(reviewer)
        now = self._now()
        with self._tx() as cur:
            cur.execute(
                f"UPDATE {self._table} SET status = 'pending', reviewer = NULL, "
                "claimed_at = NULL, claim_expires_at = NULL WHERE id = %s AND status = 'claimed' "
                f"AND reviewer = %s AND claim_expires_at > %s RETURNING {_COLS}",
                (item_id, reviewer, now),
            )
            row = cur.fetchone()
            if row is None:
                self._fetch(cur, item_id)
                raise ClaimConflict(f"item {item_id} is not claimed by {reviewer}")
        return self._item(row)

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
        with self._tx() as cur:
            now = self._now()
            current = self._fetch(cur, item_id, lock=True)
            self._check_label_allowed(current, reviewer, overwrite, now)
            cur.execute(
                f"UPDATE {self._table} SET status = 'labelled', reviewer = %s, label = %s, "
                "labelled_at = %s, claim_expires_at = NULL, corrected_answer = %s, note = %s "
                f"WHERE id = %s RETURNING {_COLS}",
                (reviewer, lab.value, now, corrected, note, item_id),
            )
            row = cur.fetchone()
        return self._item(row)

    def expire_stale(self, older_than: timedelta) -> int:
        cutoff = self._cutoff(older_than)
        if cutoff is None:
            return 0
        with self._tx() as cur:
            cur.execute(
                f"UPDATE {self._table} SET status = 'expired' WHERE status = 'pending' "
                "AND created_at < %s",
                (cutoff,),
            )
            return int(cur.rowcount)

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests and throwaway queues only)."""
        with self._tx() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self._schema_sql} CASCADE")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PostgresReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
