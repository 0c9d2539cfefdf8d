"""Loading audit records from JSONL / CSV, with bad rows reported by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrail.calibration import RecordsError, RecordsFormatError, load_records


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


JSONL = """{"id": "a", "confidence": 0.9, "correct": true, "domain": "medical", "source": "v"}
{"id": "b", "confidence": 0.4, "correct": 0, "domain": "law"}

{"id": "c", "confidence": "0.7", "correct": "yes"}
{"id": "d", "correct": 1}
{"id": "e", "confidence": NaN, "correct": 1}
{"id": "f", "confidence": 1.5, "correct": 1}
{"id": "a", "confidence": 0.5, "correct": 1}
not json at all
{"id": "g", "confidence": 0.5, "correct": "maybe"}
[1, 2]
"""


def test_jsonl_good_and_bad_rows_with_line_numbers(tmp_path: Path) -> None:
    p = _write(tmp_path, "audit.jsonl", JSONL)
    rs = load_records(p)
    assert [r.id for r in rs.records] == ["a", "b", "c"]
    assert rs.records[0].domain == "medical" and rs.records[0].source == "v"
    assert rs.records[2].confidence == 0.7 and rs.records[2].correct is True
    assert rs.confidences().tolist() == [0.9, 0.4, 0.7]
    assert rs.correct().tolist() == [True, False, True]
    by_line = {b.line: b.reason for b in rs.bad_rows}
    assert sorted(by_line) == [5, 6, 7, 8, 9, 10, 11]
    assert "missing field 'confidence'" in by_line[5]
    assert "nan" in by_line[6].lower()
    assert "outside [0, 1]" in by_line[7] and "--percent" in by_line[7]
    assert "duplicate id 'a'" in by_line[8] and "audit.jsonl:1" in by_line[8]
    assert "not valid JSON" in by_line[9]
    assert "correct must be" in by_line[10]
    assert "not a JSON object" in by_line[11]
    assert str(rs.bad_rows[0]).startswith(f"{p}:5: ")


def test_strict_raises_listing_every_bad_row(tmp_path: Path) -> None:
    p = _write(tmp_path, "audit.jsonl", JSONL)
    with pytest.raises(RecordsError) as info:
        load_records(p, strict=True)
    assert len(info.value.bad_rows) == 7
    assert "7 bad row(s)" in str(info.value)


def test_csv_with_quoted_newline_and_percent(tmp_path: Path) -> None:
    text = (
        "id,question,confidence,correct,domain\r\n"
        'q1,"multi\nline, with comma",85,1,finance\r\n'
        "q2,short,20,0,finance\r\n"
        "q3,bad,120,1,finance\r\n"
        "q4,missing,,1,finance\r\n"
    )
    p = _write(tmp_path, "audit.csv", text)
    rs = load_records(p, percent=True)
    assert [(r.id, r.confidence, r.correct) for r in rs.records] == [
        ("q1", 0.85, True),
        ("q2", 0.2, False),
    ]
    assert rs.records[0].question == "multi\nline, with comma"
    assert [(b.line, b.reason) for b in rs.bad_rows] == [
        (5, "confidence 120 is outside [0, 100] (--percent)"),
        (6, "missing field 'confidence'"),
    ]


def test_files_that_are_not_jsonl_or_csv(tmp_path: Path) -> None:
    with pytest.raises(RecordsFormatError, match="not a JSONL or CSV"):
        load_records(_write(tmp_path, "notes.txt", "hello world\nthis is prose\n"))
    with pytest.raises(RecordsFormatError, match="binary"):
        load_records(_write(tmp_path, "x.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00"))
    with pytest.raises(RecordsFormatError, match="lacks column"):
        load_records(_write(tmp_path, "a.csv", "conf,ok\n0.5,1\n"))
    with pytest.raises(RecordsFormatError, match="not a JSONL file"):
        load_records(_write(tmp_path, "b.jsonl", "a,b\n1,2\n"))
    with pytest.raises(FileNotFoundError):
        load_records(tmp_path / "missing.jsonl")


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.jsonl", '{"id": "x", "confidence": 0.5, "correct": 1}\n')
    b = _write(tmp_path, "b.jsonl", '{"id": "x", "confidence": 0.6, "correct": 0}\n')
    rs = load_records([a, b])
    assert len(rs.records) == 1
    assert rs.bad_rows[0].file == str(b) and "duplicate id 'x'" in rs.bad_rows[0].reason


def test_jsonl_string_with_unicode_line_separators_stays_one_record(tmp_path: Path) -> None:
    # JSON Lines separates records with "\n" only. json.dumps(ensure_ascii=False) writes U+0085,
    # U+2028 and \x1c raw inside strings (TriviaQA line 1781 has a raw U+0085); str.splitlines()
    # would cut such a record in two and report both halves as invalid JSON.
    q = "Who wrote\x85Hamlet?\u2028(act\x1c1)"
    text = json.dumps(
        {"id": "t", "question": q, "confidence": 0.6, "correct": 1}, ensure_ascii=False
    )
    p = _write(
        tmp_path, "u.jsonl", text + "\r\n" + '{"id": "u", "confidence": 0.2, "correct": 0}\n'
    )
    rs = load_records(p)
    assert rs.bad_rows == []
    assert [(r.id, r.confidence, r.correct) for r in rs.records] == [
        ("t", 0.6, True),
        ("u", 0.2, False),
    ]
    assert rs.records[0].question == q
