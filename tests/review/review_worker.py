"""Subprocess worker for the durability and multi-process tests (not a test module).

    python review_worker.py write STORE START COUNT
        enqueue items START..START+COUNT-1, printing each id on its own line *after* enqueue
        returned (= acknowledged), flushed at once.
    python review_worker.py claim STORE REVIEWER GO_FILE
        open the store, print READY, wait until GO_FILE exists, then claim one item at a time
        until the queue is empty, printing each claimed id.

STORE is a path (SQLite) or ``postgresql://...#schema`` (the schema after ``#``).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from guardrail.review import ReviewItem, ReviewStore, open_store


def _open(spec: str) -> ReviewStore:
    if spec.startswith("postgresql://"):
        dsn, _, schema = spec.partition("#")
        return open_store(dsn, schema=schema or "public")
    return open_store(spec)


def main(argv: list[str]) -> None:
    mode, spec = argv[0], argv[1]
    store = _open(spec)
    if mode == "write":
        start, count = int(argv[2]), int(argv[3])
        t0 = datetime(2026, 11, 1, tzinfo=UTC)
        for n in range(start, start + count):
            store.enqueue(
                ReviewItem(
                    id=f"w-{n:07d}",
                    created_at=t0 + timedelta(milliseconds=n),
                    domain="general",
                    question="q" * 200,
                    answer_shown="a" * 400,
                    decision="review",
                    signals={"verbalized": (n % 100) / 100},
                )
            )
            sys.stdout.write(f"w-{n:07d}\n")
            sys.stdout.flush()
    elif mode == "claim":
        reviewer, go = argv[2], Path(argv[3])
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        while not go.exists():
            time.sleep(0.005)
        while batch := store.claim(reviewer):
            for it in batch:
                sys.stdout.write(it.id + "\n")
            time.sleep(0.002)  # a reviewer's moment between claims lets the others interleave
        sys.stdout.flush()
    store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
