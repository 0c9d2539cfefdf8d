"""Record files with hostile JSON (issue 12, finding 7): a line nested 100k deep or holding a
5,000-digit integer is a bad line (RecursionError / ValueError escaped before), and the CLI
reports the file in one line with a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardrail.calibration import load_records
from guardrail.calibration.records import RecordsError, RecordsFormatError
from guardrail.cli import app


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_hostile_lines_are_bad_lines_not_crashes(tmp_path: Path) -> None:
    good = '{"confidence": 0.8, "correct": true}\n'
    path = _write(
        tmp_path,
        "r.jsonl",
        good + "[" * 100_000 + "]" * 100_000 + "\n" + '{"confidence": ' + "9" * 5000 + "}\n",
    )
    with pytest.raises((RecordsError, RecordsFormatError)) as info:
        load_records(path, strict=True)
    msg = str(info.value)
    assert "nested too deeply" in msg or "4300 digits" in msg


def test_cli_reports_deep_json_in_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n")
    result = CliRunner().invoke(app, ["audit", "report", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "nested too deeply" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_2_mb_csv_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "r.csv", "confidence,correct,question\n0.5,true," + "x" * 2_000_000)
    with pytest.raises(RecordsFormatError, match=r"r\.csv:2: not readable: field larger"):
        load_records(path)
