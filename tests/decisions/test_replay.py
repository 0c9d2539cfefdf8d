"""Replay on a hand-built log: every count worked out by hand in the comments."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from guardrail.decisions.replay import (
    ReplayAccumulator,
    ReplayInputError,
    iter_chunks,
    markdown_report,
    replay_files,
)
from guardrail.policy import parse_policy
from guardrail.review.live import horvitz_thompson_mean, korn_graubard_interval

CANDIDATE = """policy t {
  on_missing review
  signals {
    samples 3
    verbalized followup
  }
  rule low {
    when consistency < 50%
    then abstain "a"
  }
  rule mid {
    when consistency < 80%
    then review "r"
  }
  rule conf {
    when verbalized >= 90%
    then review "v"
  }
  otherwise pass
}
"""

D1, D2 = "2026-12-01T10:00:00+00:00", "2026-12-02T10:00:00+00:00"
ROWS: list[dict[str, Any]] = [
    # 1: 0.4 < 50% -> abstain (was review); a review label, pi = 1
    {"request_id": "1", "time": D1, "action": "review", "values": {"consistency": 0.4},
     "skipped": ["verbalized"], "label": "correct", "sampling_rate": 1.0},
    # 2: nothing fires -> pass (unchanged); spot check, pi = 0.2, correct
    {"request_id": "2", "time": D1, "action": "pass",
     "values": {"consistency": 0.9, "verbalized": 0.5}, "label": "correct", "sampling_rate": 0.2},
    # 3: 0.6 < 80% -> review (was pass); spot check, incorrect
    {"request_id": "3", "time": D1, "action": "pass", "values": {"consistency": 0.6},
     "skipped": ["verbalized"], "label": "incorrect", "sampling_rate": 0.2},
    # 4: verbalized was skipped and rule `conf` could still fire -> undetermined
    {"request_id": "4", "time": D2, "action": "pass", "values": {"consistency": 0.9},
     "skipped": ["verbalized"]},
    # 5: 0.3 -> abstain whatever verbalized is (nothing is more severe) -> determined
    {"request_id": "5", "time": D2, "action": "pass", "values": {"consistency": 0.3},
     "skipped": ["verbalized"]},
    # 6: verbalized failed (missing) -> `conf` undecided -> on_missing review (unchanged)
    {"request_id": "6", "time": D2, "action": "review", "values": {"consistency": 0.95},
     "missing": ["verbalized"]},
]  # fmt: skip


def _jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "log.jsonl"
    with path.open("w") as fh:
        for r in ROWS:
            fh.write(json.dumps({"domain": "t", "policy": "t", **r}) + "\n")
    return path


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in r.items() if k not in ("values", "missing", "skipped")}
    out["domain"] = "t"
    out["missing"] = ";".join(r.get("missing", []))
    out["skipped"] = ";".join(r.get("skipped", []))
    for name in ("consistency", "verbalized"):
        out[f"v.{name}"] = r["values"].get(name)
    out.setdefault("label", None)
    out.setdefault("sampling_rate", None)
    return out


def _policies() -> dict[str, Any]:
    return {"t": parse_policy(CANDIDATE, "t.guard")}


def test_counts_by_hand(tmp_path: Path) -> None:
    rep = replay_files([_jsonl(tmp_path)], _policies()).report()
    d = rep["domains"]["t"]
    assert rep["rows"] == 6 and d["days"] == 2
    # changed: rows 1, 3, 4, 5
    assert d["changed"] == 4
    assert d["transitions"] == {
        "pass->abstain": 1,
        "pass->review": 1,
        "pass->undetermined": 1,
        "review->abstain": 1,
    }
    assert d["undetermined"] == 1 and d["missing_signals"] == {"verbalized": 1}
    # review before: rows 1, 6 over 2 days; after: rows 3, 6 -> 1.0/day both
    assert d["before"]["review_per_day"] == 1.0 and d["after"]["review_per_day"] == 1.0
    # abstention: 0/6 before, rows 1 and 5 after -> 2/6
    assert d["before"]["abstention_rate"] == 0.0
    assert d["after"]["abstention_rate"] == pytest.approx(2 / 6)
    # shown before: rows 2, 3 labelled (pi 0.2): (1/0.2) / (1/0.2 + 1/0.2) = 0.5;
    # V = sum (1-pi)/pi^2 (y-m)^2 / N^2 = 2 * 20 * 0.25 / 10^2 = 0.1
    before = d["before"]["shown_accuracy"]
    assert before["n"] == 2 and before["accuracy"] == pytest.approx(0.5)
    assert before["se"] == pytest.approx(0.1**0.5)
    _, se, _, _ = horvitz_thompson_mean([1, 0], [0.2, 0.2])
    assert before["se"] == pytest.approx(se)
    assert (before["low"], before["high"]) == pytest.approx(korn_graubard_interval(0.5, 0.1, 2))
    # shown after: row 2 only (pass)
    after = d["after"]["shown_accuracy"]
    assert after["n"] == 1 and after["accuracy"] == 1.0
    assert d["labelled"] == 3 and d["unlabelled_now_shown"] == 0
    md = markdown_report(rep, candidate="t.guard", logs=["log.jsonl"])
    assert "| pass → review | 1 |" in md and "`verbalized` (1 rows)" in md


def test_formats_chunks_and_merge_agree(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the scale extra")
    import pyarrow.parquet as pq

    flat = [_flat(r) for r in ROWS]
    csv_path = tmp_path / "log.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(flat[0]))
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in row.items()} for row in flat)
    pq_path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pylist(flat), pq_path, row_group_size=2)
    ref = replay_files([_jsonl(tmp_path)], _policies()).report()
    assert replay_files([csv_path], _policies(), chunk_rows=1).report() == ref
    assert replay_files([pq_path], _policies(), chunk_rows=4).report() == ref
    # split in two halves, merged
    chunks = list(iter_chunks(_jsonl(tmp_path), chunk_rows=3))
    a = ReplayAccumulator(_policies()).add_rows(chunks[0])
    b = ReplayAccumulator(_policies()).add_rows(chunks[1])
    assert b.merge(a).report() == ref


def test_labels_joined_by_request_id(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"domain": "t", **{k: v for k, v in r.items() if k != "label"}})
            for r in ROWS
        )
    )
    # rows 2 and 3 labelled from the "store": the same estimate as in-log labels
    labels = {"2": (1, 0.2), "3": (0, 0.2)}
    d = replay_files([path], _policies(), labels=labels).report()["domains"]["t"]
    assert d["before"]["shown_accuracy"]["accuracy"] == pytest.approx(0.5)
    # row 1 (review, now abstain) is no longer labelled: nothing to count
    assert d["labelled"] == 2


def test_malformed_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"time": "2026-12-01T10:00:00+00:00", "domain": "t", "action": "pass", "values": {}}\n'
        "{not json\n"
    )
    with pytest.raises(ReplayInputError, match=r"bad.jsonl:2: not JSON"):
        replay_files([path], _policies())
    path.write_text(
        '{"time": "2026-12-01T10:00:00+00:00", "domain": "t", "action": "maybe", "values": {}}\n'
    )
    with pytest.raises(ReplayInputError, match=r"bad.jsonl:1: unknown action 'maybe'"):
        replay_files([path], _policies())
    with pytest.raises(ReplayInputError, match="unknown log format"):
        replay_files([tmp_path / "x.txt"], _policies())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # "not a time"[:10] was counted as one more UTC day, halving the review load per day
        (
            '{"time": "not a time", "domain": "t", "action": "pass", "values": {}}',
            r"bad.jsonl:2: time must be an ISO 8601 time .* got 'not a time'",
        ),
        (
            '{"time": 12345, "domain": "t", "action": "pass", "values": {}}',
            r"bad.jsonl:2: time must be an ISO 8601 time .* got 12345",
        ),
        # a list was reported as a domain named "['t']"
        (
            '{"domain": ["t"], "action": "pass", "values": {}}',
            r"bad.jsonl:2: domain must be a string, got list",
        ),
    ],
)
def test_malformed_time_or_domain_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    good = '{"time": "2026-12-01T10:00:00+00:00", "domain": "t", "action": "pass", "values": {}}'
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(ReplayInputError, match=message):
        replay_files([path], _policies())


def test_time_as_a_date_or_datetime_text_is_one_day(tmp_path: Path) -> None:
    # both spellings of 2026-12-01 (ISO with "T", and str(datetime) with a space) are one day
    path = tmp_path / "ok.jsonl"
    path.write_text(
        '{"time": "2026-12-01T10:00:00+00:00", "domain": "t", "action": "pass", "values": {}}\n'
        '{"time": "2026-12-01 23:59:59+00:00", "domain": "t", "action": "pass", "values": {}}\n'
    )
    assert replay_files([path], _policies()).report()["domains"]["t"]["days"] == 1


def test_markdown_report_writes_log_names_as_inert_text(tmp_path: Path) -> None:
    # a domain read from a log cannot add a heading, a table cell or raw HTML to the report
    hostile = "a|b\n# Injected <img src=x onerror=alert(1)>"
    path = tmp_path / "h.jsonl"
    path.write_text(
        json.dumps({"domain": hostile, "action": "review", "time": D1, "values": {}}) + "\n"
    )
    md = markdown_report(
        replay_files([path], _policies()).report(), candidate="t.guard", logs=["h.jsonl"]
    )
    assert "## a\\|b \\# Injected &lt;img src=x onerror=alert(1)&gt;\n" in md
    assert "<img" not in md
    assert not any(line.startswith("# Injected") for line in md.splitlines())


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("domain", 5, r"bad.parquet row 1: domain must be a string, got int"),
        ("time", "garbage", r"bad.parquet row 1: time must be an ISO 8601 time .* got 'garbage'"),
    ],
)
def test_parquet_rows_are_checked_like_jsonl_rows(
    tmp_path: Path, column: str, value: object, message: str
) -> None:
    # the columnar fast path took an int domain as domain "5" and "garbage" as one more day
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the scale extra")
    import pyarrow.parquet as pq

    row = {"time": "2026-12-01T10:00:00+00:00", "domain": "t", "action": "pass", column: value}
    cols = {k: [v, v] for k, v in row.items()}  # two rows alike: the second is named too
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(cols), path)
    with pytest.raises(ReplayInputError, match=message):
        replay_files([path], _policies())
