"""Rough edges a new user hits in the first hour (issue 11): install hints keep their extras,
the reviewer page checks every package it needs, errors are one literal line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardrail.calibration import plot
from guardrail.cli import _common, app

runner = CliRunner()


def _records(tmp_path: Path) -> Path:
    # 4 graded answers: enough for the matrix; the point here is the note about diagrams.
    p = tmp_path / "r.jsonl"
    rows = [{"confidence": c, "correct": k} for c, k in ((0.9, 1), (0.8, 0), (0.6, 1), (0.3, 0))]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def test_plot_hint_keeps_the_extra_in_brackets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rich read `[plot]` as a markup tag and printed `pip install 'guardrail-uq'`."""
    monkeypatch.setattr(plot, "matplotlib_available", lambda: False)
    result = runner.invoke(
        app,
        ["audit", "report", str(_records(tmp_path)), "--bootstrap", "0", "--group-by", "none",
         "--out", str(tmp_path / "rep")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pip install 'guardrail-uq[plot]'" in result.stderr


def test_review_serve_names_every_missing_web_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `pip install .[local]` FastAPI is importable (llama-cpp-python[server] brings it)
    but python-multipart and jinja2 may not be: one line names both, exit 3 (environment)."""
    real = importlib.util.find_spec
    absent = {"python_multipart", "multipart", "jinja2"}

    def find_spec(name: str, *args: object) -> object:
        return None if name in absent else real(name)

    monkeypatch.setattr(_common.importlib.util, "find_spec", find_spec)
    result = runner.invoke(app, ["review", "serve", "--store", str(tmp_path / "q.db")])
    assert result.exit_code == 3
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "missing: jinja2, python-multipart" in err
    assert "pip install 'guardrail-uq[web]'" in err


def test_missing_modules_reports_distribution_names() -> None:
    # `json` exists, `no_such_module_xyz` does not; the second entry is satisfied by its fallback.
    assert _common.missing_modules(
        {"a": ("no_such_module_xyz",), "b": ("no_such_module_xyz", "json"), "c": ("json",)}
    ) == ["a"]


def test_fail_prints_brackets_literally_and_json_on_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import typer

    with pytest.raises(typer.Exit) as info:
        _common.fail("pip install 'guardrail-uq[web]' [bold]x[/bold]", 3)
    assert info.value.exit_code == 3
    assert (
        capsys.readouterr().err.strip() == "error: pip install 'guardrail-uq[web]' [bold]x[/bold]"
    )
    with pytest.raises(typer.Exit):
        _common.fail("bad [plot]", 2, _common.OutputFormat.json)
    assert json.loads(capsys.readouterr().out) == {
        "error": {"message": "bad [plot]", "exit_code": 2}
    }
