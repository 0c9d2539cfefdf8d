"""Malformed decision logs: every format names the bad record by a 1-based position and says what
is wrong, never a traceback, never a silently different report.

Positions (docs/scale.md, "Malformed records"): JSONL ``file:LINE``; CSV ``file row N (line L)``
(N-th data row after the header); Parquet ``file row N`` (in the whole file); a table ``DB id K``.
The candidate is ``test_replay.CANDIDATE`` (reads ``consistency`` and ``verbalized``).
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guardrail.cli import app
from guardrail.decisions import DecisionRecord
from guardrail.decisions.replay import (
    HTCounts,
    ReplayInputError,
    iter_chunks,
    markdown_report,
    replay_files,
)
from guardrail.decisions.table import open_decision_table
from guardrail.policy import parse_policy

from .test_replay import CANDIDATE

runner = CliRunner()
T = "2026-12-01T10:00:00+00:00"
GOOD_VALUES = {"consistency": 0.9, "verbalized": 0.5}  # nothing fires -> pass


def _policies() -> dict[str, Any]:
    return {"t": parse_policy(CANDIDATE, "t.guard")}


def _rec(**kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "request_id": "1",
        "time": T,
        "domain": "t",
        "action": "pass",
        "values": dict(GOOD_VALUES),
    }
    rec.update(kw)
    return rec


def _jsonl(tmp_path: Path, *lines: str, name: str = "bad.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _csv(tmp_path: Path, rows: list[dict[str, Any]], name: str = "bad.csv") -> Path:
    path = tmp_path / name
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _flat(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"request_id": "1", "time": T, "domain": "t", "action": "pass",
                           "v.consistency": 0.9, "v.verbalized": 0.5}  # fmt: skip
    row.update(kw)
    return row


def _replay(path: Path | str) -> dict[str, Any]:
    return replay_files([path], _policies()).report()


# ------------------------------------------------------------------ 1. wrong-typed signal values

WRONG_TYPED = [
    # (signal, logged value, what the message says). Before the fix the candidate was evaluated
    # on these: it took a value of a signal it reads as invalid, i.e. missing, and the row
    # counted as its on_missing action (review); a list crashed the evaluation memo (TypeError:
    # unhashable); hedges and stakes, which this candidate does not read, passed unnoticed
    ("verbalized", "0.9", "expected a number, got str"),
    ("consistency", "high", "expected a number, got str"),
    ("consistency", True, "expected a number, got bool"),
    ("consistency", [0.9], "expected a number, got list"),
    ("consistency", 1.7, "1.7 is outside \\[0, 1\\]"),
    ("hedges", 2.5, "2.5 is not a whole count"),
    ("hedges", -1, "-1 is outside \\[0, inf\\]"),
    ("stakes", 3, "expected a string, got int"),
]


@pytest.mark.parametrize(("signal", "value", "why"), WRONG_TYPED)
def test_jsonl_signal_of_the_wrong_type_is_a_malformed_record(
    tmp_path: Path, signal: str, value: Any, why: str
) -> None:
    bad = _rec(request_id="2", values={**GOOD_VALUES, signal: value})
    path = _jsonl(tmp_path, json.dumps(_rec()), json.dumps(bad))
    with pytest.raises(
        ReplayInputError, match=rf"bad.jsonl:2: signal '{signal}' has the value .*{why}"
    ):
        _replay(path)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_jsonl_non_finite_confidence_is_a_malformed_record(tmp_path: Path, text: str) -> None:
    # Python's json reads NaN / Infinity (the JSONL sink can write them); 1e999 overflows to inf.
    # NaN was evaluated as missing (on_missing review), so a corrupt value changed the report
    line = '{"domain": "t", "action": "pass", "values": {"consistency": %s, "verbalized": 0.5}}'
    path = _jsonl(tmp_path, line % text)
    with pytest.raises(
        ReplayInputError, match=r"bad.jsonl:1: signal 'consistency' .* not a finite"
    ):
        _replay(path)


def test_category_outside_the_choices_is_replayed_as_production_saw_it(tmp_path: Path) -> None:
    # `stakes` comes from the application unchecked: production's evaluator treated "extreme" as
    # missing (on_missing), and so does the replay; only a non-string is malformed
    policy = parse_policy(
        'policy t {\n  on_missing abstain\n  rule s {\n    when stakes == "high"\n'
        '    then review "r"\n  }\n  otherwise pass\n}\n',
        "t.guard",
    )
    path = _jsonl(tmp_path, json.dumps(_rec(values={"stakes": "extreme"})), name="ok.jsonl")
    d = replay_files([path], {"t": policy}).report()["domains"]["t"]
    assert d["transitions"] == {"pass->abstain": 1}


def test_csv_numeric_cells_and_text_cells(tmp_path: Path) -> None:
    # CSV cells are text: a cell in decimal notation is a number for the signal ("0.9", "1e-1"),
    # anything else stays text, which is malformed for a numeric signal
    ok = _csv(tmp_path, [_flat(**{"v.consistency": "0.90", "v.verbalized": "5e-1"})], "ok.csv")
    ref = _jsonl(tmp_path, json.dumps(_rec()), name="ref.jsonl")
    assert _replay(ok) == _replay(ref)
    for cell, why in [
        ("high", "has the value 'high': expected a number, got str"),
        ("nan", "has the value 'nan': expected a number, got str"),
        ("inf", "has the value 'inf': expected a number, got str"),
        ("true", "has the value 'true': expected a number, got str"),
        ("1_0", "has the value '1_0': expected a number, got str"),  # float() would take it
        ("1e999", "has the value inf: not a finite number"),
        ("1.5", "has the value 1.5: 1.5 is outside"),
    ]:
        path = _csv(tmp_path, [_flat(), _flat(**{"v.consistency": cell})])
        with pytest.raises(
            ReplayInputError, match=rf"bad.csv row 2 \(line 3\): signal 'consistency' {why}"
        ):
            _replay(path)


def test_csv_values_json_column(tmp_path: Path) -> None:
    # a `values` column holds the JSONL record's values object as JSON text; it was ignored, so
    # every row lacked its signals (undetermined). Inside it JSON types count: "0.9" is a string
    row = {"request_id": "1", "time": T, "domain": "t", "action": "pass",
           "values": json.dumps({"consistency": 0.4, "verbalized": 0.5})}  # fmt: skip
    d = _replay(_csv(tmp_path, [row], "ok.csv"))["domains"]["t"]
    assert d["transitions"] == {"pass->abstain": 1}  # 0.4 < 50% -> abstain
    row["values"] = json.dumps({"consistency": "0.9", "verbalized": 0.5})
    with pytest.raises(
        ReplayInputError,
        match=r"bad.csv row 1 \(line 2\): signal 'consistency' has the value '0.9'",
    ):
        _replay(_csv(tmp_path, [row]))
    row["values"] = "{not json"
    with pytest.raises(ReplayInputError, match=r"bad.csv row 1 \(line 2\): values is not JSON"):
        _replay(_csv(tmp_path, [row]))
    both = {**_flat(), "values": json.dumps(GOOD_VALUES)}
    with pytest.raises(ReplayInputError, match=r"signals in both values and v.<signal> columns"):
        _replay(_csv(tmp_path, [both]))


@pytest.mark.parametrize(
    ("column", "first", "why"),
    [
        # a typed text or bool column is no number (unlike a CSV cell): every row is wrong
        (["0.9"] * 5, 1, "has the value '0.9': expected a number, got str"),
        ([True] * 5, 1, "has the value True: expected a number, got bool"),
        ([0.9, 0.9, 0.9, 0.9, float("nan")], 5, "has the value nan: not a finite number"),
        ([0.9, 0.9, 0.9, 0.9, float("inf")], 5, "has the value inf: not a finite number"),
        ([0.9, 0.9, 0.9, 0.9, 1.5], 5, "has the value 1.5: 1.5 is outside"),
    ],
)
def test_parquet_signal_of_the_wrong_type_is_named_by_its_row_in_the_file(
    tmp_path: Path, column: list[Any], first: int, why: str
) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the scale extra")
    import pyarrow.parquet as pq

    # five rows in row groups of two: the bad one is the fifth row of the file, in row group 2.
    # A typed string column is no number (unlike a CSV cell); NaN was dropped as "not logged"
    # (undetermined) and the others evaluated as missing (on_missing review)
    n = len(column)
    cols = {"request_id": [str(i) for i in range(n)], "time": [T] * n, "domain": ["t"] * n,
            "action": ["pass"] * n, "v.consistency": column, "v.verbalized": [0.5] * n}  # fmt: skip
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(cols), path, row_group_size=2)
    msg = rf"bad.parquet row {first}: signal 'consistency' {why}"
    with pytest.raises(ReplayInputError, match=msg):
        _replay(path)
    # a Dask partition reads row group 2 alone: still the position in the whole file (it said
    # "row 0" for the first row of any row group)
    with pytest.raises(ReplayInputError, match=r"bad.parquet row 5: signal 'consistency'"):
        list(iter_chunks(path, row_groups=[2]))


def test_parquet_count_column_checks(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the scale extra")
    import pyarrow.parquet as pq

    base = {"request_id": ["1", "2"], "time": [T, T], "domain": ["t", "t"],
            "action": ["pass", "pass"], "v.consistency": [0.9, 0.9],
            "v.verbalized": [0.5, 0.5]}  # fmt: skip
    path = tmp_path / "bad.parquet"
    for hedges, why in [([0, -3], "-3 is outside"), ([0.0, 2.5], "2.5 is not a whole count")]:
        pq.write_table(pa.table({**base, "v.hedges": hedges}), path)
        with pytest.raises(ReplayInputError, match=rf"bad.parquet row 2: signal 'hedges' .*{why}"):
            _replay(path)
    pq.write_table(pa.table({**base, "v.hedges": [0.0, 3.0]}), path)  # whole floats are counts
    assert _replay(path)["rows"] == 2


def test_parquet_values_struct_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the scale extra")
    import pyarrow.parquet as pq

    # a struct column `values` was ignored by the columnar path: every row undetermined
    cols = {"request_id": ["1", "2"], "time": [T, T], "domain": ["t", "t"],
            "action": ["pass", "pass"],
            "values": [{"consistency": 0.4, "verbalized": None},  # null field: not logged
                       {"consistency": 0.9, "verbalized": 0.5}]}  # fmt: skip
    path = tmp_path / "ok.parquet"
    pq.write_table(pa.table(cols), path)
    d = _replay(path)["domains"]["t"]
    # row 1: 0.4 < 50% -> abstain whatever verbalized is; row 2: nothing fires -> pass
    assert d["transitions"] == {"pass->abstain": 1} and d["undetermined"] == 0


def _table_with(url: str, values: list[dict[str, Any]]) -> list[int]:
    """Write one decision per values dict; returns their ids."""
    with open_decision_table(url) as table:
        for i, v in enumerate(values):
            table.write(DecisionRecord(str(i), datetime(2026, 12, 1, 10, tzinfo=UTC), "t", "t",
                                       None, "answered", "pass", values=v))  # fmt: skip
        span = table.id_range()
    assert span is not None
    return list(range(span[0], span[1] + 1))


def _check_table_wrong_type(url: str, label: str) -> None:
    # the sink writes what it is given: a string confidence reaches the table as JSON text
    ids = _table_with(url, [GOOD_VALUES, GOOD_VALUES, {**GOOD_VALUES, "verbalized": "0.9"}])
    msg = rf"{label} id {ids[2]}: signal 'verbalized' has the value '0.9': expected a number"
    with pytest.raises(ReplayInputError, match=msg):
        _replay(url)
    # a Dask partition of the last id only: the table's id, not a count from the partition start
    with pytest.raises(ReplayInputError, match=rf" id {ids[2]}: signal 'verbalized'"):
        list(iter_chunks(url, id_range=(ids[2], ids[2])))


def test_sqlite_table_signal_of_the_wrong_type(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'review.db'}"
    _check_table_wrong_type(url, "review.db")


@pytest.fixture
def pg_url() -> Iterator[str]:
    dsn = os.environ.get("GUARDRAIL_TEST_POSTGRES_DSN", "")
    if not dsn:
        pytest.skip("set GUARDRAIL_TEST_POSTGRES_DSN to a live PostgreSQL (CI does)")
    pytest.importorskip("psycopg", reason="PostgreSQL needs psycopg (extra postgres)")
    schema = f"m_{uuid.uuid4().hex[:12]}"
    yield f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_postgres_table_signal_of_the_wrong_type(pg_url: str) -> None:
    _check_table_wrong_type(pg_url, "")


def test_sqlite_row_that_does_not_decode_is_named_by_its_id(tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    ids = _table_with(f"sqlite:///{db}", [GOOD_VALUES, GOOD_VALUES])
    with sqlite3.connect(db) as conn:  # another program wrote this row (JSON decode failed)
        conn.execute("UPDATE decision_log SET signal_values = '{oops' WHERE id = ?", (ids[1],))
    with pytest.raises(ReplayInputError, match=rf"review.db id {ids[1]}: the row does not decode"):
        _replay(f"sqlite:///{db}")


# ------------------------------------------------------------------ 2. positions


def test_csv_rows_count_data_rows_and_give_the_line(tmp_path: Path) -> None:
    # a blank line and a quoted field over two lines: the 3rd data row ends on line 6; the old
    # count (2 + records read) said line 4
    path = tmp_path / "bad.csv"
    path.write_text(
        "request_id,time,domain,action,v.consistency,v.verbalized\n"
        f"1,{T},t,pass,0.9,0.5\n"
        "\n"
        f'"two\nlines",{T},t,pass,0.9,0.5\n'
        f"3,{T},t,maybe,0.9,0.5\n"
    )
    with pytest.raises(ReplayInputError, match=r"bad.csv row 3 \(line 6\): unknown action 'maybe'"):
        _replay(path)


def test_jsonl_lines_count_blank_lines(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, json.dumps(_rec()), "", json.dumps(_rec(action="maybe")))
    with pytest.raises(ReplayInputError, match=r"bad.jsonl:3: unknown action 'maybe'"):
        _replay(path)


# ------------------------------------------------------------------ 3. the rest of the input path

RATE = r"sampling_rate must be a number in \(0, 1\]"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        # each was read silently: a list/string `values` as "no values" (undetermined), a dict
        # `missing` as its keys, an int `missing` with "'int' object is not iterable"
        (_rec(values=[1, 2]), "values must be an object, got list"),
        (_rec(values="consistency=0.9"), "values must be an object, got str"),
        (_rec(missing={"verbalized": 1}), "missing must be a list of signal names, got dict"),
        (_rec(missing=5), "missing must be a list of signal names, got int"),
        (_rec(skipped=[1]), "skipped: 1 is not a signal name"),
        (_rec(skipped=["verbalized ok"]), "skipped: 'verbalized ok' is not a signal name"),
        (_rec(request_id=["a"]), "request_id must be a string, got list"),
        (_rec(policy_version=12), "policy_version must be a string, got int"),
        (_rec(values={**GOOD_VALUES, "domain": "other"}),
         "values.domain 'other' is not the domain 't'"),
        (_rec(time="2026-12-01garbage"),
         "time must be an ISO 8601 time .* got '2026-12-01garbage'"),
        (_rec(label="correct", sampling_rate="0.2"), rf"{RATE}, got '0.2'"),
        (_rec(label="correct", sampling_rate=True), rf"{RATE}, got True"),
        (_rec(label="correct", sampling_rate=[1]), rf"{RATE}, got \[1\]"),
    ],
)  # fmt: skip
def test_jsonl_wrong_json_types(tmp_path: Path, record: dict[str, Any], message: str) -> None:
    path = _jsonl(tmp_path, json.dumps(_rec()), json.dumps(record))
    with pytest.raises(ReplayInputError, match=rf"bad.jsonl:2: {message}"):
        _replay(path)


def test_jsonl_lines_that_crashed_the_reader(tmp_path: Path) -> None:
    # RecursionError, ValueError (int past 4,300 digits) and UnicodeDecodeError were tracebacks
    cases: list[tuple[bytes, str]] = [
        (b"[" * 100_000 + b"]" * 100_000, r"bad.jsonl:2: not JSON: nested too deeply"),
        (b'{"domain": "t", "hedges": ' + b"9" * 5000 + b"}", r"bad.jsonl:2: not JSON: Exceeds"),
        (b'{"domain": "t", "action": "pass", "x": "\xff"}',
         r"bad.jsonl:2: not UTF-8 text \(byte 0xff"),
    ]  # fmt: skip
    path = tmp_path / "bad.jsonl"
    for line, message in cases:
        path.write_bytes(json.dumps(_rec()).encode() + b"\n" + line + b"\n")
        with pytest.raises(ReplayInputError, match=message):
            _replay(path)


def test_a_byte_order_mark_is_not_part_of_the_first_record(tmp_path: Path) -> None:
    # Windows tools write a UTF-8 BOM: JSONL said "not JSON", and a CSV header's first column
    # became "\ufeffrequest_id", so request ids were silently lost and no label could join
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_rec(request_id="r1")).encode() + b"\n")
    assert next(iter_chunks(path))[0].request_id == "r1"
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfrequest_id,domain,action,time\nr1,t,pass,2026-12-01\n")
    assert next(iter_chunks(path))[0].request_id == "r1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # more fields than the header: AttributeError ('NoneType' has no 'startswith')
        ("request_id,domain,action\n1,t,pass,extra\n",
         r"bad.csv row 1 \(line 2\): 4 fields, the header has 3"),
        # fewer: the absent cells were read as "not logged"
        ("request_id,domain,action,v.consistency\n1,t,pass\n",
         r"bad.csv row 1 \(line 2\): 3 fields, the header has 4"),
        # a column twice: the reader kept the last one
        ("domain,action,v.consistency,v.consistency\nt,pass,0.9,0.3\n",
         "bad.csv: column 'v.consistency' appears more than once"),
        # no domain column, even with no rows
        ("request_id,action\n", "bad.csv: no 'domain' column"),
        ("request_id,domain\n1,t\n", "bad.csv: no 'action' column"),
    ],
)  # fmt: skip
def test_csv_shape_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ReplayInputError, match=message):
        _replay(path)


def test_csv_field_past_the_size_limit_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        f"domain,action,time,request_id\nt,pass,{T},1\n"
        f"t,pass,{T},{'x' * (csv.field_size_limit() + 1)}\n"
    )
    with pytest.raises(ReplayInputError, match=r"bad.csv:3: not readable as CSV \(field larger"):
        _replay(path)


def test_parquet_shape_errors(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the scale extra")
    import pyarrow.parquet as pq

    path = tmp_path / "bad.parquet"
    # an integer time was taken as the day "12345" by the columnar path (JSONL rejected it)
    pq.write_table(pa.table({"domain": ["t"], "action": ["pass"], "time": [12345]}), path)
    with pytest.raises(ReplayInputError, match=r"bad.parquet row 1: time must be an ISO 8601"):
        _replay(path)
    dup = pa.Table.from_arrays(
        [pa.array(["t"]), pa.array(["pass"]), pa.array([0.9]), pa.array([0.3])],
        names=["domain", "action", "v.consistency", "v.consistency"],
    )
    pq.write_table(dup, path)
    with pytest.raises(ReplayInputError, match=r"bad.parquet: column 'v.consistency' appears more"):
        _replay(path)
    pq.write_table(pa.table({"domain": ["t"]}), path)
    with pytest.raises(ReplayInputError, match=r"bad.parquet: no 'action' column"):
        _replay(path)


def test_a_decision_without_a_time_is_malformed(tmp_path: Path) -> None:
    # two review decisions on 2026-12-01 and one without a time: the undated row was counted as
    # one more "day" (""), so the review load read 3/2 = 1.5 items/day instead of failing
    path = _jsonl(
        tmp_path,
        json.dumps(_rec(action="review")),
        json.dumps(_rec(action="review")),
        json.dumps({k: v for k, v in _rec(action="review").items() if k != "time"}),
    )
    with pytest.raises(ReplayInputError, match=r"bad.jsonl:3: no time \(review load is counted"):
        _replay(path)


def test_times_with_an_offset_count_their_utc_day(tmp_path: Path) -> None:
    # 23:30 at UTC-5 is 04:30 UTC on 2026-12-02, the day of the other row: one day, review load
    # 2 items/day (it was read as "2026-12-01", two days, 1.0/day)
    path = _jsonl(
        tmp_path,
        json.dumps(_rec(action="review", time="2026-12-01T23:30:00-05:00")),
        json.dumps(_rec(action="review", time="2026-12-02T10:00:00Z")),
        name="ok.jsonl",
    )
    d = _replay(path)["domains"]["t"]
    assert d["days"] == 1 and d["before"]["review_per_day"] == 2.0
    # a Parquet timestamp column with a zone: the same UTC day (its local date was taken)
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the scale extra")
    import pyarrow.parquet as pq

    local = datetime(2026, 12, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    cols = {"domain": ["t"], "action": ["pass"],
            "time": pa.array([local], pa.timestamp("us", tz="-05:00"))}  # fmt: skip
    pq.write_table(pa.table(cols), tmp_path / "ok.parquet")
    assert next(iter_chunks(tmp_path / "ok.parquet"))[0].day == "2026-12-02"


def test_a_tiny_sampling_rate_gives_an_estimate_not_a_crash() -> None:
    # two spot checks at pi = 1e-200, one correct: (1/pi*1) / (2/pi) = 0.5;
    # V = (1-pi)/pi^2 * ((1-0.5)^2 + (0-0.5)^2) / (2/pi)^2 = 0.5/4 = 0.125.
    # 1/pi^2 overflows (r*r is 0.0): ZeroDivisionError before
    ht = HTCounts()
    ht.add(1, 1e-200)
    ht.add(0, 1e-200)
    est = ht.estimate()
    assert est is not None
    assert est["accuracy"] == 0.5 and est["se"] == pytest.approx(0.125**0.5)


def test_a_log_named_twice_is_an_error(tmp_path: Path) -> None:
    # its decisions were counted twice
    path = _jsonl(tmp_path, json.dumps(_rec()), name="log.jsonl")
    with pytest.raises(ReplayInputError, match="given twice"):
        replay_files([path, tmp_path / "." / "log.jsonl"], _policies())
    from guardrail.decisions.distributed import partitions  # the Dask path's work units

    with pytest.raises(ReplayInputError, match="given twice"):
        partitions([str(path), str(path)])


def test_mixed_policy_versions_are_reported(tmp_path: Path) -> None:
    # the "before" side of a log that spans a policy change is a mix: the report says so
    path = _jsonl(
        tmp_path,
        json.dumps(_rec(policy_version="aaaaaaaaaaaa")),
        json.dumps(_rec(policy_version="bbbbbbbbbbbb")),
        json.dumps(_rec(policy_version="bbbbbbbbbbbb")),
        json.dumps(_rec()),
        name="ok.jsonl",
    )
    rep = _replay(path)
    assert rep["domains"]["t"]["policy_versions"] == {
        "": 1,
        "aaaaaaaaaaaa": 1,
        "bbbbbbbbbbbb": 2,
    }
    md = markdown_report(rep, candidate="t.guard", logs=["ok.jsonl"])
    assert "Logged under 3 policy versions: no version (1 rows), aaaaaaaaaaaa (1 rows)" in md
    # a version string from the log is inert text in every report
    path = _jsonl(tmp_path, json.dumps(_rec(policy_version="<b>x</b>|#")), json.dumps(_rec()))
    rep = _replay(path)
    md = markdown_report(rep, candidate="t.guard", logs=["bad.jsonl"])
    assert "no version (1 rows), &lt;b&gt;x&lt;/b&gt;\\|\\# (1 rows)" in md
    pytest.importorskip("jinja2", reason="the HTML report needs jinja2 (extra web)")
    from guardrail.decisions.report_html import html_report

    page = html_report(rep, candidate="t.guard", logs=["bad.jsonl"])
    assert "<code>&lt;b&gt;x&lt;/b&gt;|#</code> (<span data-key=" in page
    assert 'data-key="[&#34;t&#34;, &#34;policy_versions&#34;, &#34;&#34;]" data-value="1"' in page


def test_cli_logs_without_decisions_are_an_error(tmp_path: Path) -> None:
    # an empty file, a CSV header alone: "0 logged decisions, 0 would change" and exit 0 before
    policy = tmp_path / "t.guard"
    policy.write_text(CANDIDATE)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    header = tmp_path / "header.csv"
    header.write_text("request_id,time,domain,action\n")
    res = runner.invoke(app, ["replay", str(policy), str(empty), str(header), "--format", "json"])
    assert res.exit_code == 2
    assert "no logged decisions in" in json.loads(res.stdout)["error"]["message"]


def test_cli_names_the_malformed_record(tmp_path: Path) -> None:
    policy = tmp_path / "t.guard"
    policy.write_text(CANDIDATE)
    bad = _rec(values={"consistency": "high", "verbalized": 0.5})
    log = _jsonl(tmp_path, json.dumps(_rec()), json.dumps(bad))
    res = runner.invoke(app, ["replay", str(policy), str(log), "--format", "json"])
    assert res.exit_code == 2
    message = json.loads(res.stdout)["error"]["message"]
    assert message.endswith(
        "bad.jsonl:2: signal 'consistency' has the value 'high': expected a number, got str "
        "(consistency is a probability signal; docs/scale.md, Malformed records)"
    )


def test_csv_name_lists_with_spaces(tmp_path: Path) -> None:
    # "hedges; verbalized" named a signal " verbalized", so verbalized counted as never gathered
    # (undetermined: rule `conf` could fire) instead of missing (on_missing review); consistency
    # 0.9 fires nothing else
    row = _flat(**{"v.verbalized": "", "missing": "hedges; verbalized"})
    d = _replay(_csv(tmp_path, [row], "ok.csv"))["domains"]["t"]
    assert d["transitions"] == {"pass->review": 1} and d["undetermined"] == 0
