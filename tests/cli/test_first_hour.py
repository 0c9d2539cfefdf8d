"""Rough edges a new user hits in the first hour (issue 11): install hints keep their extras,
the reviewer page checks every package it needs, errors are one literal line."""

from __future__ import annotations

import ast
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
    # fastapi and uvicorn "installed", jinja2 and python-multipart not (whatever this machine has)
    absent = {"python_multipart", "multipart", "jinja2"}

    def find_spec(name: str, *args: object) -> object:
        return None if name in absent else object()

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


def test_python_dash_m_guardrail_runs_the_cli(repo_root: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    out = subprocess.run(
        [sys.executable, "-m", "guardrail", "--version"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "guardrail 0.1.0", out.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["check"], ["fmt"], ["test"], ["explain"], ["ask"], ["audit", "report"],
        ["review", "list"], ["review", "show"], ["review", "claim"], ["review", "audit"],
    ],
)  # fmt: skip
def test_every_result_command_takes_format_text_or_json(command: list[str]) -> None:
    from guardrail.cli._common import OutputFormat

    result = runner.invoke(app, [*command, "--format", "yaml"])
    assert result.exit_code == 2  # usage error, the same code for every command
    assert "yaml" in result.output and "text" in result.output and "json" in result.output
    assert [f.value for f in OutputFormat] == ["text", "json"]


def test_errors_are_json_documents_under_format_json(tmp_path: Path) -> None:
    cases = [
        (["check", str(tmp_path / "nope"), "--format", "json"], 2, "no such file"),
        (["audit", "report", str(tmp_path / "nope.jsonl"), "--format", "json"], 2, "nope.jsonl"),
        (["explain", "medical", "--signals", "[1]", "--format", "json"], 2, "JSON object"),
        (["review", "list", "--store", str(tmp_path / "q.db"), "--format", "json"], 2, "q.db"),
    ]
    for args, code, text in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == code, (args, result.output)
        err = json.loads(result.stdout)["error"]
        assert err["exit_code"] == code and text in err["message"], (args, err)


def test_missing_embedded_model_is_an_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 3 (environment) from `ask` and `audit run` alike when the model is not installed."""
    monkeypatch.setenv("GUARDRAIL_LOCAL_MODEL", str(tmp_path / "absent.gguf"))
    monkeypatch.delenv("GUARDRAIL_BASE_URL", raising=False)
    result = runner.invoke(app, ["ask", "What is 2 + 2?", "--domain", "general"])
    assert result.exit_code == 3, result.output
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "1", "question": "2 + 2?", "answer": "4"}\n', encoding="utf-8")
    result = runner.invoke(app, ["audit", "run", str(questions), "-o", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 3, result.output
    # which of the two is missing first depends on whether the `local` extra is installed
    installed = importlib.util.find_spec("llama_cpp") is not None
    assert ("absent.gguf" if installed else "llama-cpp-python is not installed") in result.output


@pytest.mark.parametrize(
    ("code", "must_not_load"),
    [
        ("from guardrail import Guard", {"numpy", "matplotlib", "openai"}),
        (
            "import sys; sys.argv = ['guardrail', '--help']\n"
            "from guardrail.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass",
            {"numpy", "httpx", "lark", "rapidfuzz", "opentelemetry"},
        ),
        (
            "import sys; sys.argv = ['guardrail', 'check', 'policies/']\n"
            "from guardrail.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass",
            {"numpy", "httpx", "opentelemetry"},
        ),
    ],
)
def test_start_up_does_not_load_what_it_does_not_use(
    code: str, must_not_load: set[str], repo_root: Path
) -> None:
    """Issue 11: numpy, httpx and the calibration code loaded for every command (0.7 s for
    --help); `from guardrail import Guard` loaded numpy with no profile in use. Which modules a
    fresh interpreter imported is a property of the code, not of the machine's speed (the times
    are in bench/bench_startup.py)."""
    import os
    import subprocess
    import sys

    probe = code + "\nimport sys\nprint(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_root, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(repo_root)}, check=False, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    loaded = set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    assert "guardrail" in loaded
    assert not (loaded & must_not_load), loaded & must_not_load


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (["ask"], "(default: $GUARDRAIL_REVIEW_STORE or review.db in the user data directory)"),
        (["review", "list"], "(default: $GUARDRAIL_REVIEW_STORE or review.db in the user data"),
        (["audit", "report"], "(default: 100; 0: no minimum)"),
    ],
)
def test_help_texts_keep_their_bracketed_defaults(command: list[str], text: str) -> None:
    """Typer renders help as Rich markup: a "[default: ...]" written in a help string vanished."""
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    flat = " ".join(result.output.translate({c: " " for c in range(0x2500, 0x2580)}).split())
    assert text in flat
