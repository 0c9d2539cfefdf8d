"""Real processes: SIGKILL durability (SQLite) and several processes claiming at once (SQLite and
PostgreSQL). Workers are ``review_worker.py`` run with this interpreter."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guardrail.review import ReviewItem, SQLiteReviewStore, open_store

WORKER = str(Path(__file__).with_name("review_worker.py"))


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_item(tmp_path: Path) -> None:
    """Kill the writer with SIGKILL three times while it is enqueueing; every id it printed (it
    prints only after ``enqueue`` returned) must be in the file, and the file must pass
    ``PRAGMA integrity_check``."""
    db = tmp_path / "queue.db"
    acknowledged: list[str] = []
    for round_no, kill_after in enumerate((120, 30, 250)):
        proc = _spawn("write", str(db), str(round_no * 1_000_000), "1000000")
        assert proc.stdout is not None
        for seen, line in enumerate(proc.stdout, start=1):
            acknowledged.append(line.strip())
            if seen == kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
        rest = proc.stdout.read()  # lines already written before the kill are acknowledged too
        acknowledged.extend(x for x in rest.split("\n") if x.strip())
        assert proc.wait(timeout=30) == -signal.SIGKILL
    with SQLiteReviewStore(db) as store:
        assert store.integrity_check() == "ok"
        stored = {it.id for it in store.list()}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged items lost, e.g. {sorted(missing)[:3]}"
    assert len(acknowledged) >= 400
    # At most one unacknowledged item per kill can be there (committed, not yet printed).
    assert len(stored) - len(acknowledged) <= 3
    # An independent reader agrees (the file, not our store object, holds the data).
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM review_items").fetchone()[0] == len(stored)


def _race(spec: str, tmp_path: Path, n_items: int, n_workers: int) -> list[list[str]]:
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    procs = [_spawn("claim", spec, f"rev-{k}", str(go)) for k in range(n_workers)]
    for proc in procs:  # every worker has its store open before any starts claiming
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
    go.touch()
    results: list[list[str]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append([x for x in out.split("\n") if x])
    return results


def _fill(store_spec: str, n_items: int, **options: object) -> None:
    store = open_store(store_spec, **options)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(n_items):
        store.enqueue(ReviewItem(id=f"c-{n:04d}", created_at=t0 + timedelta(seconds=n)))
    store.close()


def _check(results: list[list[str]], n_items: int) -> None:
    flat = [i for r in results for i in r]
    assert len(flat) == len(set(flat)), "an item was claimed twice"
    assert sorted(flat) == [f"c-{n:04d}" for n in range(n_items)]
    # Several workers really competed (each got something).
    assert sum(1 for r in results if r) >= 2


@pytest.mark.slow
def test_processes_claiming_at_once_sqlite(tmp_path: Path) -> None:
    db = str(tmp_path / "queue.db")
    _fill(db, 120)
    _check(_race(db, tmp_path, 120, 4), 120)
    with SQLiteReviewStore(db) as store:
        assert store.count(status="claimed") == 120


@pytest.mark.slow
def test_processes_claiming_at_once_postgres(tmp_path: Path, postgres_dsn: str) -> None:
    schema = f"race_{uuid.uuid4().hex[:10]}"
    _fill(postgres_dsn, 300, schema=schema)
    try:
        _check(_race(f"{postgres_dsn}#{schema}", tmp_path, 300, 4), 300)
    finally:
        from guardrail.review import PostgresReviewStore

        with PostgresReviewStore(postgres_dsn, schema=schema) as store:
            assert store.count(status="claimed") == 300
            store.drop_schema()
