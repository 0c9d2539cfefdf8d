"""Decision log: the JSONL sink's rotation and the Guard's one record per call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guardrail import Guard
from guardrail.decisions import DecisionRecord, JSONLDecisionLog, MemoryDecisionLog
from guardrail.decisions.log import now_utc
from guardrail.policy import parse_policy
from guardrail.providers import ReplayProvider
from guardrail.review import InMemoryReviewStore

POLICY = """policy t {
  on_missing review
  signals {
    samples 3
  }
  rule hedged {
    when hedges >= 1
    then notice "careful"
  }
  rule split {
    when hedges == 0 and consistency < 50%
    then abstain "no"
  }
  otherwise pass
}
"""


def _record(i: int) -> DecisionRecord:
    return DecisionRecord(
        request_id=f"r{i}",
        time=now_utc(),
        domain="t",
        policy="t",
        policy_version=None,
        status="answered",
        action="pass",
        values={"hedges": 0},
    )


def test_size_rotation_keeps_every_record(tmp_path: Path) -> None:
    # one record serialises to ~200 bytes; a 500-byte limit rotates every 2-3 records
    log = JSONLDecisionLog(tmp_path / "d" / "decisions.jsonl", rotate="size", max_bytes=500)
    for i in range(10):
        log.write(_record(i))
    log.close()
    files = sorted((tmp_path / "d").iterdir())
    assert len(files) >= 4  # 10 records of ~200 B cannot fit in fewer 500 B files
    ids = [json.loads(line)["request_id"] for f in files for line in f.read_text().splitlines()]
    assert sorted(ids) == sorted(f"r{i}" for i in range(10))
    for f in files:
        assert f.stat().st_size <= 500 + 250  # a file rotates before the record that overflows


def test_size_rotation_needs_backups(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="backup_count"):
        JSONLDecisionLog(tmp_path / "x.jsonl", rotate="size", backup_count=0)
    with pytest.raises(ValueError, match="rotate"):
        JSONLDecisionLog(tmp_path / "x.jsonl", rotate="hourly")  # type: ignore[arg-type]


def _replay_file(tmp_path: Path, question: str, answer: str) -> Path:
    doc: dict[str, Any] = {
        "id": "x",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
    }
    path = tmp_path / "replay.jsonl"
    line = {"model": "m", "messages": [{"role": "user", "content": question}], "response": doc}
    path.write_text(json.dumps(line) + "\n")
    return path


def _guard(tmp_path: Path, sink: Any, **kw: Any) -> Guard:
    policy = parse_policy(POLICY, "t.guard")
    provider = ReplayProvider(_replay_file(tmp_path, "Capital of France?", "It might be Paris."))
    return Guard({"t": policy}, provider, model="m", decision_log=sink, **kw)


def test_guard_writes_one_record_without_content(tmp_path: Path) -> None:
    sink = MemoryDecisionLog()
    guard = _guard(tmp_path, sink)
    r = guard.chat_sync([{"role": "user", "content": "Capital of France?"}], request_id="q1")
    assert r.action is not None and r.action.value == "notice"
    (rec,) = sink.records
    d = rec.to_dict()
    # "might" is one hedge cue: rule `hedged` fires (notice); `split` cannot fire with
    # hedges == 1 whatever consistency is, so the 3 samples were never asked for (skipped)
    assert d["request_id"] == "q1"
    assert d["action"] == "notice" and d["status"] == "answered"
    assert d["matched"] == ["hedged"]
    assert d["values"]["hedges"] == 1
    assert d["skipped"] == ["consistency"] and d["missing"] == []
    assert d["cost"]["calls"] == 1 and d["cost"]["input_tokens"] == 7
    assert "question" not in d and "answer" not in d


def test_capture_includes_redacted_content(tmp_path: Path) -> None:
    sink = MemoryDecisionLog()
    store = InMemoryReviewStore(redact=lambda s: s.replace("Paris", "[CITY]"))
    guard = _guard(tmp_path, sink, capture_content=True, review_store=store)
    guard.chat_sync([{"role": "user", "content": "Capital of France?"}])
    d = sink.records[0].to_dict()
    assert d["question"] == "Capital of France?"
    assert d["answer"] == "It might be [CITY]."


def test_failing_sink_does_not_fail_the_call(tmp_path: Path) -> None:
    class Broken:
        def write(self, record: DecisionRecord) -> None:
            raise OSError("disk full")

        def close(self) -> None:
            pass

    guard = _guard(tmp_path, Broken())
    r = guard.chat_sync([{"role": "user", "content": "Capital of France?"}])
    assert r.status == "answered"
    assert r.error is not None and "decision log failed: OSError: disk full" in r.error


def test_day_rotation_keeps_every_file(tmp_path: Path) -> None:
    import logging.handlers

    log = JSONLDecisionLog(tmp_path / "decisions.jsonl")
    log.write(_record(0))
    handler = log._handler
    assert isinstance(handler, logging.handlers.TimedRotatingFileHandler)
    handler.rolloverAt = 0  # as if UTC midnight had passed (no wall-clock dependence)
    log.write(_record(1))
    log.close()
    files = sorted(tmp_path.iterdir())
    assert len(files) == 2  # the active file and one dated file, nothing deleted
    rotated = next(f for f in files if f.name != "decisions.jsonl")
    assert rotated.name.startswith("decisions.jsonl.")
    assert json.loads(rotated.read_text())["request_id"] == "r0"
    assert json.loads((tmp_path / "decisions.jsonl").read_text())["request_id"] == "r1"


def test_a_logging_reconfiguration_does_not_close_the_log(tmp_path: Path) -> None:
    """uvicorn, Django and others call logging.config.dictConfig at start-up, which closes every
    handler the logging module knows (the sink's rotating handler too): the next write reopens
    the file in append mode; only the sink's own close() is final."""
    import logging.config

    log = JSONLDecisionLog(tmp_path / "decisions.jsonl")
    log.write(_record(0))
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})  # closes it
    assert log._handler.stream is None
    log.write(_record(1))
    log.close()
    with pytest.raises(OSError, match="closed"):
        log.write(_record(2))
    ids = [json.loads(x)["request_id"] for x in (tmp_path / "decisions.jsonl").open()]
    assert ids == ["r0", "r1"]
