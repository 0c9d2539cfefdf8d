"""Review-store throughput and claim cost against queue depth.

    python bench/bench_review_store.py [--items 2000] [--depths 1000,10000,50000] [--postgres DSN]
        [--skip-throughput] [--skip-claims]

1. Throughput: enqueue, claim and label on each back end, as ratios against the in-memory store
   measured in the same run.
2. Claim cost at 1k, 10k and 50k pending items (issue 17.2): the queue is filled in one bulk
   transaction (setup, not timed), then ``claim(limit=1)`` is timed ``--claims`` times per depth
   in interleaved rounds (median ms per claim, min-max). Baselines in the same run: raw SQLite
   with the same durability (WAL + synchronous=FULL, one ``BEGIN IMMEDIATE`` ... ``COMMIT`` per
   claim) on a minimal table with an index on (status, created_at, id), and the store's former
   claim statement (``status = 'pending' OR (status = 'claimed' AND claim_expires_at <= now)``)
   run against the same file. The acceptance is claim at 50k within 2x of claim at 1k. The
   in-memory store (``capacity=None``, filled by ``enqueue``) is timed alongside.

SQLite runs on a temporary file with WAL + synchronous=FULL (one fsync per acknowledged item);
PostgreSQL runs when ``--postgres`` or ``$GUARDRAIL_TEST_POSTGRES_DSN`` gives a server. The load
average is printed at the start and the end (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from guardrail.review import (
    InMemoryReviewStore,
    PostgresReviewStore,
    ReviewItem,
    ReviewStore,
    SQLiteReviewStore,
)
from guardrail.review import postgres_store as pg
from guardrail.review import sqlite_store as sq
from guardrail.review.models import utcnow


def _items(n: int) -> list[ReviewItem]:
    return [
        ReviewItem(
            domain="medical", question="q" * 300, answer_shown="a" * 600, decision="review",
            signals={"verbalized": 0.9, "consistency": 0.5, "hedges": 0},
            explanation=["stated_vs_sampled: verbalized - consistency = 0.40 > 0.30"],
        )
        for _ in range(n)
    ]  # fmt: skip


def _run(store: ReviewStore, n: int) -> dict[str, float]:
    items = _items(n)
    t0 = time.perf_counter()
    for it in items:
        store.enqueue(it)
    t1 = time.perf_counter()
    claimed = 0
    while batch := store.claim("bench", limit=1):
        store.label(batch[0].id, "correct", reviewer="bench")
        claimed += 1
        if claimed >= n // 4:
            break
    t2 = time.perf_counter()
    store.list(status="labelled")
    t3 = time.perf_counter()
    return {
        "enqueue/s": n / (t1 - t0),
        "claim+label/s": claimed / (t2 - t1),
        "list labelled (ms)": (t3 - t2) * 1000,
    }


def _depth_items(n: int) -> list[ReviewItem]:
    t0 = utcnow() - timedelta(days=1)
    return [
        ReviewItem(
            id=f"d{i:07d}", created_at=t0 + timedelta(milliseconds=i), domain="medical",
            question="q" * 300, answer_shown="a" * 600, decision="review",
            signals={"verbalized": 0.9, "consistency": 0.5, "hedges": 0},
            explanation=["stated_vs_sampled: verbalized - consistency = 0.40 > 0.30"],
        )
        for i in range(n)
    ]  # fmt: skip


def _fill_sqlite(store: SQLiteReviewStore, n: int) -> None:
    cols = ", ".join(sq._COLUMNS)
    marks = ", ".join("?" for _ in sq._COLUMNS)
    rows = [sq._item_to_row(store._prepare(it)) for it in _depth_items(n)]
    with store._write() as conn:
        conn.executemany(f"INSERT INTO review_items ({cols}) VALUES ({marks})", rows)
        conn.execute("ANALYZE")


def _fill_postgres(store: PostgresReviewStore, n: int) -> None:
    cols = ", ".join(pg._COLUMNS)
    with store._tx() as cur:
        with cur.copy(f"COPY {store._table} ({cols}) FROM STDIN") as copy:
            for it in _depth_items(n):
                copy.write_row(store._params(store._prepare(it)))
        cur.execute(f"ANALYZE {store._table}")


class RawSQLite:
    """The baseline: a minimal queue table with the same durability settings."""

    def __init__(self, path: Path, n: int) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute(
            "CREATE TABLE q (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, "
            "status TEXT NOT NULL, reviewer TEXT, payload TEXT)"
        )
        self.conn.execute("CREATE INDEX q_queue ON q (status, created_at, id)")
        self.conn.execute("BEGIN")
        self.conn.executemany(
            "INSERT INTO q VALUES (?, ?, 'pending', NULL, ?)",
            ((f"d{i:07d}", i, "x" * 900) for i in range(n)),
        )
        self.conn.execute("COMMIT")
        self.conn.execute("ANALYZE")

    def claim(self) -> list[Any]:
        self.conn.execute("BEGIN IMMEDIATE")
        rows = self.conn.execute(
            "UPDATE q SET status = 'claimed', reviewer = 'bench' WHERE id IN (SELECT id FROM q "
            "WHERE status = 'pending' ORDER BY created_at, id LIMIT 1) RETURNING *"
        ).fetchall()
        self.conn.execute("COMMIT")
        return rows


def _former_claim(store: SQLiteReviewStore) -> list[Any]:
    """The claim statement before schema v3, on the same file (for comparison only)."""
    now = sq.to_micros(store._now())
    inner = (
        "SELECT id FROM review_items WHERE (status = 'pending' OR "
        "(status = 'claimed' AND claim_expires_at <= ?)) ORDER BY created_at, id LIMIT 1"
    )
    with store._write() as conn:
        return conn.execute(
            "UPDATE review_items SET status = 'claimed', reviewer = ?, claimed_at = ?, "
            f"claim_expires_at = ? WHERE id IN ({inner}) RETURNING {', '.join(sq._COLUMNS)}",
            ["bench-old", now, now + 900_000_000, now],
        ).fetchall()


def claim_depths(depths: list[int], claims: int, rounds: int, dsn: str | None) -> None:
    tmp = Path(tempfile.mkdtemp())
    per_round = max(1, claims // rounds)
    print(
        f"\nclaim(limit=1) cost against pending items: {rounds} interleaved rounds x "
        f"{per_round} claims per contender and depth; median ms per claim (min-max)"
    )
    results: dict[str, dict[int, list[float]]] = {}
    for depth in depths:
        contenders: dict[str, Callable[[], object]] = {}
        store = SQLiteReviewStore(tmp / f"g{depth}.db")
        _fill_sqlite(store, depth)
        contenders["sqlite store"] = lambda s=store: s.claim("bench")
        contenders["sqlite, former statement"] = lambda s=store: _former_claim(s)
        raw = RawSQLite(tmp / f"raw{depth}.db", depth)
        contenders["raw sqlite (baseline)"] = raw.claim
        mem = InMemoryReviewStore(_depth_items(depth), capacity=None)
        contenders["in-memory store"] = lambda s=mem: s.claim("bench")
        pgs: PostgresReviewStore | None = None
        if dsn:
            pgs = PostgresReviewStore(dsn, schema=f"bench_{uuid.uuid4().hex[:8]}")
            _fill_postgres(pgs, depth)
            contenders["postgres store"] = lambda s=pgs: s.claim("bench")
        for _ in range(rounds):
            for name, fn in contenders.items():
                t0 = time.perf_counter()
                for _ in range(per_round):
                    assert fn()
                dt = (time.perf_counter() - t0) / per_round * 1000
                results.setdefault(name, {}).setdefault(depth, []).append(dt)
        store.close()
        raw.conn.close()
        if pgs is not None:
            pgs.drop_schema()
            pgs.close()
    head = "".join(f"{d:>24,}" for d in depths)
    print(f"{'pending items':26}{head}   {depths[-1]}/{depths[0]}")
    for name, by_depth in results.items():
        cells = ""
        for d in depths:
            ts = by_depth[d]
            cell = f"{statistics.median(ts):.3f} ({min(ts):.2f}-{max(ts):.2f})"
            cells += f"{cell:>24}"
        ratio = statistics.median(by_depth[depths[-1]]) / statistics.median(by_depth[depths[0]])
        print(f"{name:26}{cells}   {ratio:5.2f}x")
    base = results["raw sqlite (baseline)"]
    ours = results["sqlite store"]
    print(
        "sqlite store / raw sqlite: "
        + ", ".join(
            f"{statistics.median(ours[d]) / statistics.median(base[d]):.2f}x at {d:,}"
            for d in depths
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--depths", default="1000,10000,50000")
    ap.add_argument("--claims", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-claims", action="store_true", help="only the throughput part")
    ap.add_argument("--postgres", default=os.environ.get("GUARDRAIL_TEST_POSTGRES_DSN"))
    args = ap.parse_args()
    one, five, _ = os.getloadavg()
    print(f"start: load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs")
    if not args.skip_throughput:
        throughput(args)
    if not args.skip_claims:
        depths = [int(d) for d in args.depths.split(",")]
        claim_depths(depths, args.claims, args.rounds, args.postgres)
    one, five, _ = os.getloadavg()
    print(f"end: load average {one:.2f} (1 min), {five:.2f} (5 min)")


def throughput(args: argparse.Namespace) -> None:
    backends: dict[str, Callable[[], ReviewStore]] = {"memory": InMemoryReviewStore}
    tmp = Path(tempfile.mkdtemp())
    backends["sqlite"] = lambda: SQLiteReviewStore(tmp / "bench.db")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        backends["postgres"] = lambda: PostgresReviewStore(args.postgres, schema=schema)
    results: dict[str, dict[str, float]] = {}
    for name, make in backends.items():
        store = make()
        try:
            results[name] = _run(store, args.items)
        finally:
            if isinstance(store, PostgresReviewStore):
                store.drop_schema()
            store.close()
    base = results["memory"]
    print(f"{args.items} items; ratios are against the in-memory store in this run")
    print(f"{'backend':10} {'enqueue/s':>12} {'ratio':>7} {'claim+label/s':>14} {'ratio':>7}")
    for name, r in results.items():
        print(
            f"{name:10} {r['enqueue/s']:12.0f} {r['enqueue/s'] / base['enqueue/s']:7.3f} "
            f"{r['claim+label/s']:14.0f} {r['claim+label/s'] / base['claim+label/s']:7.3f}"
        )


if __name__ == "__main__":
    main()
