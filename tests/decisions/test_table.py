"""Decision-log table in the review store's database: SQLite and a real PostgreSQL.

The records are the six hand-made rows of ``test_replay.py`` (labels dropped: the table holds
what the guard logs, labels come from the review store), so the replay's numbers are the ones
worked out by hand there: 4 changed decisions, one undetermined row lacking ``verbalized``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guardrail import Guard
from guardrail.cli import app
from guardrail.decisions import DecisionRecord, JSONLDecisionLog
from guardrail.decisions.replay import ReplayInputError, replay_files
from guardrail.decisions.table import SCHEMA_VERSION, open_decision_table
from guardrail.policy import load_policy, parse_policy
from guardrail.providers import ReplayProvider

from .test_decision_log import POLICY, _replay_file
from .test_replay import CANDIDATE, ROWS

runner = CliRunner()
PG_DSN = os.environ.get("GUARDRAIL_TEST_POSTGRES_DSN", "")

# the hand-worked transitions of test_replay.test_counts_by_hand (labels play no part in them)
TRANSITIONS = {
    "pass->abstain": 1,
    "pass->review": 1,
    "pass->undetermined": 1,
    "review->abstain": 1,
}


def records() -> list[DecisionRecord]:
    return [
        DecisionRecord(
            request_id=r["request_id"],
            time=datetime.fromisoformat(r["time"]),
            domain="t",
            policy="t",
            policy_version="0123456789ab",
            status={"pass": "answered", "review": "pending_review"}[r["action"]],
            action=r["action"],
            matched=["mid"] if r["action"] == "review" else [],
            values=r["values"],
            missing=r.get("missing", []),
            skipped=r.get("skipped", []),
            model="m",
            cost={"calls": 3, "input_tokens": 10 * i, "output_tokens": 5, "latency_s": 0.25},
            question="Q <b>\x00" if i == 0 else None,  # NUL is cleaned like the review store
            answer="A" if i == 0 else None,
        )
        for i, r in enumerate(ROWS)
    ]


def _check_table(url: str, tmp_path: Path) -> None:
    table = open_decision_table(url)
    assert table.schema_version() == SCHEMA_VERSION == 1
    for rec in records():
        table.write(rec)
    assert table.count() == 6
    span = table.id_range()
    assert span is not None and span[1] - span[0] == 5
    # read back in two chunks: the same dictionaries the JSONL sink writes (NUL -> U+FFFD)
    chunks = list(table.read(chunk_rows=4))
    assert [len(c) for c in chunks] == [4, 2]
    want = [r.to_dict() for r in records()]
    want[0]["question"] = "Q <b>\ufffd"
    assert [rec for c in chunks for rec in c] == want
    # an id range is inclusive at both ends
    lo, _ = span
    assert [r["request_id"] for c in table.read(id_range=(lo + 1, lo + 2)) for r in c] == ["2", "3"]
    with pytest.raises(ValueError, match="not a finite number"):
        table.write(DecisionRecord("x", records()[0].time, "t", "t", None, "answered", "pass",
                                   values={"consistency": float("nan")}))  # fmt: skip
    assert table.count() == 6  # nothing half-written
    table.close()
    # a second opener migrates nothing and sees the rows
    with open_decision_table(url) as again:
        assert again.count() == 6

    # the replay reads the table as it reads the JSONL sink's file
    policy = tmp_path / "t.guard"
    policy.write_text(CANDIDATE)
    jl = JSONLDecisionLog(tmp_path / "d.jsonl")
    for rec in records():
        jl.write(rec)
    jl.close()
    policies = {"t": load_policy(policy)}
    ref = replay_files([tmp_path / "d.jsonl"], policies).report()
    assert ref["domains"]["t"]["transitions"] == TRANSITIONS
    assert replay_files([url], policies, chunk_rows=4).report() == ref
    res = runner.invoke(app, ["replay", str(policy), url, "--format", "json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got == json.loads(json.dumps(ref))
    assert got["changed"] == 4 and got["domains"]["t"]["missing_signals"] == {"verbalized": 1}


def test_sqlite_table_beside_the_review_store(tmp_path: Path) -> None:
    from guardrail.review import ReviewItem, SQLiteReviewStore

    db = tmp_path / "review.db"
    store = SQLiteReviewStore(db)
    store.enqueue(ReviewItem(request_id="1", domain="t", decision="review"))
    _check_table(f"sqlite:///{db}", tmp_path)
    # the review store's own schema and rows are untouched
    assert store.schema_version() == 3 and store.count() == 1
    store.close()
    # a plain .db path on the command line is read as a table too
    res = runner.invoke(app, ["replay", str(tmp_path / "t.guard"), str(db), "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["changed"] == 4
    # decisions and labels from one database: row 2 (pass, stays pass) spot-checked at 20%
    # and labelled correct -> shown accuracy 1.0 before and after, n = 1
    with SQLiteReviewStore(db) as store:
        item = store.enqueue(
            ReviewItem(request_id="2", domain="t", decision="pass", reason="spot_check",
                       sampling_rate=0.2)
        )  # fmt: skip
        store.claim_item(item, "ann")
        store.label(item, "correct", reviewer="ann")
    url = f"sqlite:///{db}"
    res = runner.invoke(
        app, ["replay", str(tmp_path / "t.guard"), url, "--store", url, "--format", "json"]
    )
    d = json.loads(res.stdout)["domains"]["t"]
    assert d["labelled"] == 1
    for side in ("before", "after"):
        acc = d[side]["shown_accuracy"]
        assert acc["n"] == 1 and acc["accuracy"] == 1.0


def test_reading_a_database_without_the_table_is_a_clear_error(tmp_path: Path) -> None:
    from guardrail.review import SQLiteReviewStore

    db = tmp_path / "only-review.db"
    SQLiteReviewStore(db).close()
    policies = {"t": parse_policy(CANDIDATE, "t.guard")}
    with pytest.raises(ReplayInputError, match="no decision log table"):
        replay_files([f"sqlite:///{db}"], policies)
    with pytest.raises(ReplayInputError, match="no such SQLite file"):
        replay_files([f"sqlite:///{tmp_path / 'absent.db'}"], policies)
    assert not (tmp_path / "absent.db").exists()  # reading never creates a database


def test_guard_writes_to_the_table(tmp_path: Path) -> None:
    table = open_decision_table(f"sqlite:///{tmp_path / 'review.db'}")
    provider = ReplayProvider(_replay_file(tmp_path, "Capital of France?", "It might be Paris."))
    guard = Guard({"t": parse_policy(POLICY, "t.guard")}, provider, model="m", decision_log=table)
    guard.chat_sync([{"role": "user", "content": "Capital of France?"}], request_id="q1")
    ((rec,),) = list(table.read())
    # as test_decision_log: one hedge cue -> notice; consistency skipped
    assert rec["request_id"] == "q1" and rec["action"] == "notice"
    assert rec["values"]["hedges"] == 1 and rec["skipped"] == ["consistency"]
    assert "question" not in rec
    table.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_DSN:
        pytest.skip("set GUARDRAIL_TEST_POSTGRES_DSN to a live PostgreSQL (CI does)")
    schema = f"d_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_DSN else "?"
    yield f"{PG_DSN}{sep}schema={schema}"
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_postgres_table(pg_url: str, tmp_path: Path) -> None:
    from guardrail.review import open_store

    store = open_store(pg_url)  # the review store in the same schema
    _check_table(pg_url, tmp_path)
    assert store.schema_version() == 3
    store.close()


def test_postgres_missing_table(pg_url: str) -> None:
    policies: dict[str, Any] = {"t": parse_policy(CANDIDATE, "t.guard")}
    with pytest.raises(ReplayInputError, match="no decision log table"):
        replay_files([pg_url], policies)
