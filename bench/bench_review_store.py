"""Review-store throughput: enqueue, claim and label on each back end, as ratios against the
in-memory store measured in the same run.

    python bench/bench_review_store.py [--items 2000] [--postgres DSN]

SQLite runs on a temporary file with WAL + synchronous=FULL (one fsync per acknowledged item);
PostgreSQL runs when ``--postgres`` or ``$GUARDRAIL_TEST_POSTGRES_DSN`` gives a server.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from guardrail.review import (
    InMemoryReviewStore,
    PostgresReviewStore,
    ReviewItem,
    ReviewStore,
    SQLiteReviewStore,
)


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--postgres", default=os.environ.get("GUARDRAIL_TEST_POSTGRES_DSN"))
    args = ap.parse_args()
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
