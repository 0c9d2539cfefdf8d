"""Every ``.guard`` file in the repository passes ``guardrail check`` (bundled policies, the
audit-run recommendations in docs/, anything added later), so a committed policy cannot rot."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from guardrail.cli import app

_SKIP_DIRS = {".git", ".ci-venv", ".venv", "venv", "node_modules", "build", "dist"}


def _guard_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*.guard")
        if not any(part in _SKIP_DIRS or part.startswith(".") for part in p.relative_to(root).parts)
    )


def test_every_guard_file_in_the_repo_passes_check(repo_root: Path) -> None:
    files = _guard_files(repo_root)
    # At least the four bundled policies and the four audit-run recommendations.
    assert {p.relative_to(repo_root).as_posix() for p in files} >= {
        "policies/medical.guard",
        "docs/audit-run/recommended/medical.guard",
    }
    for path in files:
        result = CliRunner().invoke(app, ["check", str(path)])
        assert result.exit_code == 0, (path, result.output)
