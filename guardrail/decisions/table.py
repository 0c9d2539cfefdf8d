"""Decision log as a table in the review store's database (SQLite or PostgreSQL).

The table sits beside ``review_items`` in the same file / database (and PostgreSQL schema), opened
from the same URLs the CLI's ``--store`` accepts: ``sqlite:///abs/review.db``,
``sqlite:relative.db``, a plain file path, or ``postgresql://...`` (``?schema=NAME`` picks the
PostgreSQL schema, as for the review store). Same drivers as the review store: the standard
library's :mod:`sqlite3` (WAL, ``synchronous=FULL``, every write committed before ``write``
returns) and psycopg 3 (extra ``postgres``). The review store's ``request_id`` joins the two.

Schema (version in its own one-row table ``guardrail_decision_log_schema``; the review store's
``PRAGMA user_version`` is left alone; :data:`SCHEMA_VERSION` = 1)::

    decision_log (
        id             integer, ascending in insertion order (SQLite AUTOINCREMENT /
                       PostgreSQL identity), the replay's keyset and partition key
        time           SQLite: integer microseconds since the Unix epoch, UTC; PG: timestamptz
        request_id, domain, policy, policy_version, status, action, model   text
        matched, signal_values, missing, skipped, cost   JSON (SQLite text; PG jsonb)
        question, answer   text, NULL unless content capture was on (already redacted)
    )
    indexes: (time), (request_id), (domain, time)

Reading (:meth:`DecisionTable.read`) pages by ``id`` (``WHERE id > last ORDER BY id LIMIT n``),
so a replay holds one chunk at a time and a Dask task can read an id range
(:func:`guardrail.decisions.distributed.partitions`).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from guardrail._safety import clean_text, redact_url
from guardrail.decisions.log import DecisionRecord

__all__ = [
    "SCHEMA_VERSION",
    "DecisionTable",
    "DecisionTableError",
    "is_table_url",
    "open_decision_table",
]

SCHEMA_VERSION = 1
_META = "guardrail_decision_log_schema"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEXT = ("request_id", "domain", "policy", "policy_version", "status", "action", "model")
_JSON = ("matched", "signal_values", "missing", "skipped", "cost")
_CONTENT = ("question", "answer")
#: Columns in read order (after ``id`` and ``time``).
_COLUMNS = (*_TEXT, *_JSON, *_CONTENT)
_ACTIONS = "'pass', 'notice', 'review', 'abstain'"

_SQLITE_V1 = f"""
CREATE TABLE decision_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    time           INTEGER NOT NULL,
    request_id     TEXT NOT NULL,
    domain         TEXT NOT NULL,
    policy         TEXT NOT NULL,
    policy_version TEXT,
    status         TEXT NOT NULL,
    action         TEXT CHECK (action IS NULL OR action IN ({_ACTIONS})),
    model          TEXT NOT NULL,
    matched        TEXT NOT NULL,
    signal_values  TEXT NOT NULL,
    missing        TEXT NOT NULL,
    skipped        TEXT NOT NULL,
    cost           TEXT NOT NULL,
    question       TEXT,
    answer         TEXT
);
CREATE INDEX decision_log_time ON decision_log (time);
CREATE INDEX decision_log_request ON decision_log (request_id);
CREATE INDEX decision_log_domain ON decision_log (domain, time)
"""

_PG_V1 = (
    f"""
    CREATE TABLE {{s}}.decision_log (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time           timestamptz NOT NULL,
        request_id     text NOT NULL,
        domain         text NOT NULL,
        policy         text NOT NULL,
        policy_version text,
        status         text NOT NULL,
        action         text CHECK (action IS NULL OR action IN ({_ACTIONS})),
        model          text NOT NULL,
        matched        jsonb NOT NULL,
        signal_values  jsonb NOT NULL,
        missing        jsonb NOT NULL,
        skipped        jsonb NOT NULL,
        cost           jsonb NOT NULL,
        question       text,
        answer         text
    )
    """,
    "CREATE INDEX decision_log_time ON {s}.decision_log (time)",
    "CREATE INDEX decision_log_request ON {s}.decision_log (request_id)",
    "CREATE INDEX decision_log_domain ON {s}.decision_log (domain, time)",
)


class DecisionTableError(ValueError):
    """The URL names no usable decision-log table (no such file, no table, newer schema)."""


def is_table_url(source: str) -> bool:
    """Whether ``source`` names a database (``sqlite:...``, ``postgresql://``, ``postgres://``)
    rather than a log file."""
    return source.strip().startswith(("sqlite:", "postgresql://", "postgres://"))


def _finite(values: Mapping[str, Any], request_id: str) -> None:
    for k, v in values.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"request {request_id!r}: signal {k!r} is {v}, not a finite number")


def _row(record: DecisionRecord) -> dict[str, Any]:
    d = record.to_dict()
    _finite(d["values"], record.request_id)
    _finite(d["cost"], record.request_id)
    out: dict[str, Any] = {"time": record.time.astimezone(UTC)}
    for col in _TEXT:
        v = d.get(col)
        out[col] = None if v is None else clean_text(str(v))
    out["signal_values"] = d["values"]
    for col in ("matched", "missing", "skipped", "cost"):
        out[col] = d[col]
    for col in _CONTENT:
        v = d.get(col)
        out[col] = None if v is None else clean_text(v)
    return out


def _record_dict(time: datetime, cols: Mapping[str, Any]) -> dict[str, Any]:
    """A row as :meth:`DecisionRecord.to_dict` wrote it (what the replay's ``normalize``
    reads)."""
    out: dict[str, Any] = {"time": time.astimezone(UTC).isoformat()}
    for col in _TEXT:
        out[col] = cols[col]
    out["values"] = cols["signal_values"]
    for col in ("matched", "missing", "skipped", "cost"):
        out[col] = cols[col]
    for col in _CONTENT:
        if cols[col] is not None:
            out[col] = cols[col]
    return out


class DecisionTable(ABC):
    """The ``decision_log`` table of a review-store database: a :class:`DecisionSink` and the
    replay's reader.

    Open it with :func:`open_decision_table`. ``write`` commits each record before returning
    (one transaction per record; durable as the review store's writes). Thread-safe (one
    connection guarded by a lock).
    """

    backend: str
    url: str
    _lock: threading.RLock

    @abstractmethod
    def write(self, record: DecisionRecord) -> None:
        """Insert one record.

        Raises:
            ValueError: a signal value or cost is NaN or infinite (JSON has no such number).
            sqlite3.Error / psycopg.Error: the database refused the write.
        """

    # what the backends differ in: the parameter mark, the table's qualified name, row decoding
    _conn: Any
    _mark: str = "?"

    def _qualified(self, table: str) -> str:
        """``table`` as the SQL statements name it (PostgreSQL prefixes the schema)."""
        return table

    @abstractmethod
    def _decode(self, row: Any) -> dict[str, Any]:
        """One ``SELECT id, time, <columns>`` row as a :meth:`DecisionRecord.to_dict` dict."""

    def read(
        self, chunk_rows: int = 50_000, *, id_range: tuple[int, int] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Records in ``id`` order, ``chunk_rows`` at a time, as :meth:`DecisionRecord.to_dict`
        dictionaries; ``id_range=(lo, hi)`` restricts to ``lo <= id <= hi``.

        Raises:
            DecisionTableError: a row that does not decode (see :meth:`read_rows`).
        """
        for page in self.read_rows(chunk_rows, id_range=id_range):
            yield [rec for _, rec in page]

    def read_rows(
        self, chunk_rows: int = 50_000, *, id_range: tuple[int, int] | None = None
    ) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        """As :meth:`read`, each record with its ``id`` (what the replay names a malformed
        record by).

        Raises:
            DecisionTableError: a row that does not decode (``id K: ...``): a JSON column that
                is no JSON, a time that is no time (only a table written by other code).
        """
        last = -1 if id_range is None else id_range[0] - 1
        hi = (1 << 63) - 1 if id_range is None else id_range[1]
        m = self._mark
        sql = (
            f"SELECT id, time, {', '.join(_COLUMNS)} FROM {self._qualified('decision_log')} "
            f"WHERE id > {m} AND id <= {m} ORDER BY id LIMIT {m}"
        )
        while True:
            with self._lock:
                rows = self._conn.execute(sql, (last, hi, chunk_rows)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(int(row[0]), self._decode_checked(row)) for row in rows]

    def _decode_checked(self, row: Any) -> dict[str, Any]:
        try:
            return self._decode(row)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise DecisionTableError(f"id {row[0]}: the row does not decode: {exc}") from exc

    def _one(self, sql: str) -> Any:
        with self._lock:
            return self._conn.execute(sql).fetchone()

    def id_range(self) -> tuple[int, int] | None:
        """``(min id, max id)``, or None for an empty table."""
        lo, hi = self._one(f"SELECT min(id), max(id) FROM {self._qualified('decision_log')}")
        return None if lo is None else (int(lo), int(hi))

    def count(self) -> int:
        """Rows in the table."""
        return int(self._one(f"SELECT count(*) FROM {self._qualified('decision_log')}")[0])

    def schema_version(self) -> int:
        """The table's schema version."""
        return int(self._one(f"SELECT version FROM {self._qualified(_META)}")[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> DecisionTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- SQLite


def _micros(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


class SQLiteDecisionTable(DecisionTable):
    """``decision_log`` in an SQLite file (see :func:`open_decision_table`)."""

    backend = "sqlite"

    def __init__(self, path: str, *, create: bool = True, busy_timeout: float = 30.0) -> None:
        self.url = path
        self._lock = threading.RLock()
        if not create:  # read: never create a file (mode=ro fails on a missing one)
            from pathlib import Path

            if path != ":memory:" and not Path(path).is_file():
                raise DecisionTableError(f"{path}: no such SQLite file")
        self._conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if create:
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._migrate()
        else:
            self._check_readable()

    def _migrate(self) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(f"CREATE TABLE IF NOT EXISTS {_META} (version INTEGER NOT NULL)")
            row = c.execute(f"SELECT version FROM {_META}").fetchone()
            current = 0 if row is None else int(row[0])
            if row is None:
                c.execute(f"INSERT INTO {_META} (version) VALUES (0)")
            if current > SCHEMA_VERSION:
                raise DecisionTableError(
                    f"decision log schema version {current} is newer than this guardrail "
                    f"understands ({SCHEMA_VERSION}); upgrade guardrail"
                )
            if current < 1:
                for stmt in _SQLITE_V1.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
            c.execute(f"UPDATE {_META} SET version = ?", (SCHEMA_VERSION,))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def _check_readable(self) -> None:
        try:
            version = self.schema_version()
        except sqlite3.DatabaseError as exc:
            raise DecisionTableError(f"{self.url}: no decision log table ({exc})") from exc
        if version > SCHEMA_VERSION:
            raise DecisionTableError(
                f"{self.url}: decision log schema version {version} is newer than this "
                f"guardrail understands ({SCHEMA_VERSION})"
            )

    def write(self, record: DecisionRecord) -> None:
        r = _row(record)
        vals: list[Any] = [_micros(r["time"])]
        for col in _COLUMNS:
            v = r[col]
            vals.append(json.dumps(v, allow_nan=False) if col in _JSON else v)
        marks = ", ".join("?" for _ in vals)
        with self._lock:
            self._conn.execute(
                f"INSERT INTO decision_log (time, {', '.join(_COLUMNS)}) VALUES ({marks})", vals
            )

    def _decode(self, row: Any) -> dict[str, Any]:
        cols = dict(zip(_COLUMNS, row[2:], strict=True))
        for col in _JSON:
            cols[col] = json.loads(cols[col])
        return _record_dict(_EPOCH + timedelta(microseconds=row[1]), cols)


# ---------------------------------------------------------------------------- PostgreSQL


class PostgresDecisionTable(DecisionTable):
    """``decision_log`` in a PostgreSQL schema (see :func:`open_decision_table`)."""

    backend = "postgres"
    _mark = "%s"

    def _qualified(self, table: str) -> str:
        return f"{self._s}.{table}"

    def __init__(
        self, dsn: str, *, schema: str = "public", create: bool = True, connect_timeout: float = 10
    ) -> None:
        from guardrail.review.postgres_store import _import_psycopg

        self._pg = _import_psycopg()
        from psycopg import sql

        self.url = dsn
        self.schema = schema
        self._s: str = sql.Identifier(schema).as_string(None)
        self._lock = threading.RLock()
        self._conn: Any = self._pg.connect(
            dsn, autocommit=True, connect_timeout=max(1, int(connect_timeout))
        )
        if create:
            self._migrate()
        else:
            try:
                version = self.schema_version()
            except self._pg.errors.UndefinedTable as exc:
                raise DecisionTableError(
                    f"{redact_url(dsn)}: no decision log table in schema {schema!r}"
                ) from exc
            if version > SCHEMA_VERSION:
                raise DecisionTableError(
                    f"decision log schema version {version} is newer than this guardrail "
                    f"understands ({SCHEMA_VERSION})"
                )

    def _migrate(self) -> None:
        meta = f"{self._s}.{_META}"
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('guardrail_decision_log_migrate'))")
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self._s}")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {meta} (version integer NOT NULL)")
            cur.execute(f"SELECT version FROM {meta}")
            row = cur.fetchone()
            current = 0 if row is None else int(row[0])
            if row is None:
                cur.execute(f"INSERT INTO {meta} (version) VALUES (0)")
            if current > SCHEMA_VERSION:
                raise DecisionTableError(
                    f"decision log schema version {current} is newer than this guardrail "
                    f"understands ({SCHEMA_VERSION}); upgrade guardrail"
                )
            if current < 1:
                for stmt in _PG_V1:
                    cur.execute(stmt.replace("{s}", self._s))
            cur.execute(f"UPDATE {meta} SET version = %s", (SCHEMA_VERSION,))

    def write(self, record: DecisionRecord) -> None:
        from psycopg.types.json import Jsonb

        r = _row(record)
        for col in _JSON:
            json.dumps(r[col], allow_nan=False)  # ValueError before the database sees it
        vals = [r["time"], *(Jsonb(r[c]) if c in _JSON else r[c] for c in _COLUMNS)]
        marks = ", ".join("%s" for _ in vals)
        with self._lock:
            if self._conn.closed or self._conn.broken:
                self._conn = self._pg.connect(self.url, autocommit=True)
            self._conn.execute(
                f"INSERT INTO {self._s}.decision_log (time, {', '.join(_COLUMNS)}) "
                f"VALUES ({marks})",
                vals,
            )

    def _decode(self, row: Any) -> dict[str, Any]:
        return _record_dict(row[1], dict(zip(_COLUMNS, row[2:], strict=True)))


def open_decision_table(
    url: str, *, create: bool = True, schema: str | None = None
) -> DecisionTable:
    """Open the ``decision_log`` table of the database ``url`` names.

    Args:
        url: ``postgresql://...`` / ``postgres://...`` (``?schema=NAME`` as for
            :func:`guardrail.review.open_store`), ``sqlite:///abs/path.db``,
            ``sqlite:relative.db``, or a plain file path (SQLite).
        create: create / migrate the table (a sink); False to read an existing one (the
            replay), which never creates a file, schema or table.
        schema: PostgreSQL schema (overrides ``?schema=``; default ``public``).

    Returns:
        A :class:`DecisionTable` (``write`` / ``read`` / ``close``).

    Raises:
        DecisionTableError: ``create=False`` and there is no table (or no file), or the schema
            is newer than this guardrail.
        ValueError: an empty URL or another ``scheme://``.
        ImportError: PostgreSQL without psycopg (extra ``postgres``).
    """
    from guardrail.review.backends import sqlite_path

    text = str(url).strip()
    if not text:
        raise ValueError("decision log database URL is empty")
    if text.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(text)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [v for k, v in query if k == "schema"]
        if schemas:
            rest = urlencode([(k, v) for k, v in query if k != "schema"])
            text = urlunsplit(parts._replace(query=rest))
        chosen = schema or (schemas[-1] if schemas else "public")
        return PostgresDecisionTable(text, schema=chosen, create=create)
    path = sqlite_path(text)
    if path is None:
        raise ValueError(
            f"unknown decision log database URL {redact_url(text)!r}: use a file path, "
            "sqlite:///path or postgresql://..."
        )
    return SQLiteDecisionTable(path, create=create)
