"""``guardrail explain --signals`` on hostile input (issue 12, finding 7): one clear line and
exit 2 (Typer's usage error), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardrail.cli import app

runner = CliRunner()


def _explain(signals: str) -> tuple[int, str]:
    result = runner.invoke(app, ["explain", "medical", "--signals", signals])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.replace("│", " ").split())


def test_deeply_nested_json(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"consistency": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    code, out = _explain(f"@{deep}")
    assert code == 2 and "error: --signals is nested too deeply" in out


@pytest.mark.parametrize("digits", [400, 5000])  # float overflow; Python's 4,300-digit limit
def test_huge_integers(digits: int) -> None:
    code, out = _explain('{"consistency": ' + "9" * digits + "}")
    assert code == 2 and f"a number with {digits} digits is too large" in out


def test_binary_file_and_endless_file(tmp_path: Path) -> None:
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xe0\x80\xff\x00" * 20)
    assert _explain(f"@{binary}")[0] == 2
    assert "is not UTF-8 text" in _explain(f"@{binary}")[1]
    if Path("/dev/zero").exists():  # endless: read at most 1 MiB + 1 byte
        code, out = _explain("@/dev/zero")
        assert code == 2 and "/dev/zero is larger than 1048576 bytes" in out
