"""Schema versioning: old files are upgraded in place; newer files are refused clearly."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from guardrail.review import ReviewItem, SchemaError, SQLiteReviewStore
from guardrail.review import sqlite_store as sq


def test_sqlite_new_file_is_current_version_in_wal(tmp_path: Path) -> None:
    with SQLiteReviewStore(tmp_path / "q.db") as store:
        assert store.schema_version() == sq.SCHEMA_VERSION == 3
    conn = sqlite3.connect(tmp_path / "q.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


def test_sqlite_v1_file_is_migrated_keeping_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert sq.migrate(conn, target=1) == 0
    row = sq._item_to_row(ReviewItem(id="old-1", domain="legal", question="kept?"))
    conn.execute(f"INSERT INTO review_items VALUES ({', '.join('?' * len(row))})", row)
    conn.close()
    with SQLiteReviewStore(path) as store:
        assert store.schema_version() == 3
        assert store.get("old-1").question == "kept?"
        (claimed,) = store.claim("ann")  # the v1 row is found through the v3 pending index
        assert claimed.id == "old-1"
    indexes = {r[1] for r in sqlite3.connect(path).execute("PRAGMA index_list(review_items)")}
    assert {
        "review_items_request",
        "review_items_pending_domain",
        "review_items_claimed",
    } <= indexes
    # Opening again is a no-op.
    with SQLiteReviewStore(path) as store:
        assert store.count() == 1


def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteReviewStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaError, match="version 99 is newer"):
        SQLiteReviewStore(path)


def test_sqlite_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not sqlite\n" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        SQLiteReviewStore(path)


def test_postgres_migrates_once_and_refuses_newer(postgres_dsn: str) -> None:
    import psycopg

    from guardrail.review import PostgresReviewStore

    schema = f"mig_{uuid.uuid4().hex[:10]}"
    store = PostgresReviewStore(postgres_dsn, schema=schema)
    try:
        assert store.schema_version() == 3
        store.enqueue(ReviewItem(id="pg-1"))
        again = PostgresReviewStore(postgres_dsn, schema=schema)  # no-op migration
        assert again.get("pg-1").id == "pg-1"
        again.close()
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'UPDATE "{schema}".guardrail_review_schema SET version = 7')
        with pytest.raises(SchemaError, match="version 7 is newer"):
            PostgresReviewStore(postgres_dsn, schema=schema)
    finally:
        store.drop_schema()
        store.close()


def test_sqlite_claim_reads_the_pending_index_without_sorting(tmp_path: Path) -> None:
    # issue 17.2: the claim query must walk the pending rows in claim order from an index (no
    # "USE TEMP B-TREE FOR ORDER BY", no scan of the table), so its cost does not grow with the
    # queue; bench/bench_review_store.py measures it at 1k/10k/50k pending items.
    with SQLiteReviewStore(tmp_path / "q.db") as store:
        store.enqueue(ReviewItem(id="a", domain="legal"))
    conn = sqlite3.connect(tmp_path / "q.db")
    conn.execute("ANALYZE")
    queries = {
        "any domain": (
            "SELECT id FROM review_items WHERE status = 'pending' ORDER BY created_at, id LIMIT ?",
            (1,),
            "review_items_queue",  # (status, created_at, id) since v1
        ),
        "one domain": (
            "SELECT id FROM review_items WHERE status = 'pending' AND domain = ? "
            "ORDER BY created_at, id LIMIT ?",
            ("legal", 1),
            "review_items_pending_domain",
        ),
        "lapsed sweep": (
            "SELECT id FROM review_items WHERE status = 'claimed' AND claim_expires_at <= ?",
            (0,),
            "",  # either the claimed-rows index or (status=?) of review_items_queue: a SEARCH
        ),
    }
    for name, (sql, params, index) in queries.items():
        plan = " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert plan.startswith("SEARCH review_items USING") and index in plan, (name, plan)
        assert "TEMP B-TREE" not in plan, (name, plan)
