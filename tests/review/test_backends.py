"""open_store URL forms and PostgreSQL reconnection."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from guardrail.review import (
    InMemoryReviewStore,
    PostgresReviewStore,
    ReviewItem,
    SQLiteReviewStore,
    open_store,
)


def test_open_store_sqlite_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = open_store(tmp_path / "a.db")
    assert isinstance(a, SQLiteReviewStore) and a.path == str(tmp_path / "a.db")
    b = open_store(f"sqlite:///{tmp_path}/b.db")
    assert isinstance(b, SQLiteReviewStore) and b.path == f"{tmp_path}/b.db"
    monkeypatch.chdir(tmp_path)
    c = open_store("sqlite:c.db")
    assert isinstance(c, SQLiteReviewStore) and c.path == "c.db" and (tmp_path / "c.db").exists()
    for st in (a, b, c):
        st.close()
    assert isinstance(open_store("memory:"), InMemoryReviewStore)
    with pytest.raises(ValueError, match="unknown review store URL"):
        open_store("mysql://x")
    with pytest.raises(ValueError, match="empty"):
        open_store("  ")


def test_open_store_postgres_schema_parameter(postgres_dsn: str) -> None:
    schema = f"url_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in postgres_dsn else "?"
    store = open_store(f"{postgres_dsn}{sep}schema={schema}")
    assert isinstance(store, PostgresReviewStore) and store.schema == schema
    assert "schema=" not in store.dsn
    store.drop_schema()
    store.close()


def test_postgres_reconnects_after_the_connection_dies(postgres_dsn: str) -> None:
    import psycopg

    store = PostgresReviewStore(postgres_dsn, schema=f"re_{uuid.uuid4().hex[:8]}")
    try:
        store.enqueue(ReviewItem(id="before"))
        pid = store._conn.info.backend_pid
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            store.get("before")  # the call that finds the dead connection fails loudly
        store.enqueue(ReviewItem(id="after"))  # the next one reconnects
        assert [i.id for i in store.list()] == ["before", "after"]
    finally:
        store.drop_schema()
        store.close()
