"""A guarded chat whose review item cannot be stored (issue 12, finding 1): the review store is
full, locked or closed, or the answer carries characters a database refuses. Nothing escapes
``Guard.chat``; a held answer that could not be queued is never shown; status and error say why."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.review import ReviewStore, SQLiteReviewStore
from guardrail.sdk.guard import DEFAULT_FAILURE_MESSAGE, GuardError

# every answer goes to review: hedges >= 0 always holds
POLICY = """
policy general {
  rule always_review {
    when hedges >= 0
    then review "A person will check this answer."
  }
  otherwise pass
}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def _guard(server: FakeOpenAIServer, store: ReviewStore, **kw: object) -> Guard:
    p = parse_policy(POLICY, "general.guard")
    prov = OpenAICompatProvider(server.base_url, model="m", max_retries=0)
    return Guard({p.name: p}, prov, review_store=store, **kw)  # type: ignore[arg-type]


def _full(store: SQLiteReviewStore) -> None:
    """Make the database file 'full' for real: SQLite refuses to grow beyond max_page_count and
    fails the INSERT with SQLITE_FULL ("database or disk is full"), as on a full disk."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")


def test_full_store_withholds_the_held_answer(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.answers = ["Paris. " + "x" * 20_000]  # needs new pages
    store = SQLiteReviewStore(tmp_path / "q.db")
    _full(store)
    r = _guard(server, store).chat_sync(MSGS)
    assert r.status == "failed" and r.text == DEFAULT_FAILURE_MESSAGE
    assert r.review_id is None and r.notices == []
    assert r.error is not None and "review store failed, the held answer was not shown" in r.error
    assert "full" in r.error
    assert r.decision is not None and r.action is not None and r.action.value == "review"
    store.close()


def test_unheld_review_is_shown_unreviewed_when_the_store_fails(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    store = SQLiteReviewStore(tmp_path / "q.db")
    store.close()  # a closed store: sqlite3.ProgrammingError from enqueue
    r = _guard(server, store, hold_reviews=False).chat_sync(MSGS)
    assert r.status == "answered" and r.text == "Paris."
    assert r.error is not None and "shown unreviewed" in r.error and "closed" in r.error


def test_locked_store_gives_failed_not_an_exception(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    store = SQLiteReviewStore(tmp_path / "q.db", busy_timeout=0.05)
    other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        r = _guard(server, store).chat_sync(MSGS)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.status == "failed" and r.error is not None and "locked" in r.error
    # strict mode raises the documented GuardError instead of sqlite3.OperationalError
    other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(GuardError, match="queueing the answer for review failed"):
            _guard(server, store, strict=True).chat_sync(MSGS)
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.close()


def test_surrogates_and_nul_are_stored_as_replacement_characters(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.answers = ["Paris \ud800 is\x00 it."]  # JSON-escaped by the fake server
    store = SQLiteReviewStore(tmp_path / "q.db")
    msgs = [{"role": "user", "content": "Capital \udfff of France?"}]
    r = _guard(server, store).chat_sync(msgs)
    assert r.status == "pending_review" and r.review_id is not None
    item = store.get(r.review_id)
    assert item.raw_answer == "Paris \ufffd is\ufffd it."
    assert item.question == "Capital \ufffd of France?"
    store.close()


def test_nul_in_answer_with_postgres(server: FakeOpenAIServer, postgres_dsn: str) -> None:
    from guardrail.review import PostgresReviewStore

    store = PostgresReviewStore(postgres_dsn, schema="t_hardening_nul")
    try:
        server.answers = ["Paris\x00 \ud800."]  # raised psycopg.DataError / UnicodeEncodeError
        r = _guard(server, store).chat_sync(MSGS)
        assert r.status == "pending_review" and r.review_id is not None
        assert store.get(r.review_id).raw_answer == "Paris\ufffd \ufffd."
    finally:
        store.drop_schema()
        store.close()


def test_every_store_accepts_nul_and_surrogates_directly(make_store: Any) -> None:
    # callers other than the Guard (an app enqueuing itself) get the same protection: the item
    # model stores U+FFFD in place of NUL / lone surrogates
    from guardrail.review import ReviewItem

    store = make_store()
    item = ReviewItem(
        question="q\x00", raw_answer="a\ud800", explanation=["x\udfff"],
        signals={"hedge_label": "h\x00"}, decision="review",
    )  # fmt: skip
    got = store.get(store.enqueue(item))
    assert (got.question, got.raw_answer, got.explanation) == ("q\ufffd", "a\ufffd", ["x\ufffd"])
    assert got.signals["hedge_label"] == "h\ufffd"


def test_a_locked_store_cannot_stretch_the_deadline(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    # the store would wait 20 s for the lock; the guard's 1 s deadline + 0.5 s grace holds
    store = SQLiteReviewStore(tmp_path / "q.db", busy_timeout=20.0)
    other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        r = _guard(server, store, timeout=1.0).chat_sync(MSGS)
        took = time.monotonic() - t0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.status == "failed" and r.text == DEFAULT_FAILURE_MESSAGE
    assert r.error is not None and "ReviewStoreTimeout" in r.error
    assert took < 1.0 + 1.0  # deadline + 1 s (was 20 s, the store's busy timeout)
    store.close()
