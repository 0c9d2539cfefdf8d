"""Shared test fixtures.

Real public data sets live beside the checkout in ``../shared/data`` (see its README). Tests
that read them use the ``shared_data`` fixture, which skips with a clear reason when the folder
is absent.
Set ``GUARDRAIL_SHARED_DATA`` to point elsewhere.

Terminal width is pinned here, before any test module imports the CLI: Rich consoles (ours and
Typer's error panels) read ``COLUMNS`` when they are created, so without the pin a test's output
would depend on the terminal that runs pytest (``COLUMNS=80`` wraps error panels mid-message).
A test that checks narrow output sets its own width explicitly.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Width every Rich console sees during the tests (see the module docstring).
TEST_COLUMNS = "200"
os.environ["COLUMNS"] = TEST_COLUMNS
os.environ.pop("LINES", None)
os.environ.pop("TERMINAL_WIDTH", None)  # Typer's own width override, read at its import
# The policy parser keeps lark's tables in the user cache folder (platformdirs): a fresh one per
# test session, so tests neither read nor write the real one.
os.environ["XDG_CACHE_HOME"] = _CACHE = tempfile.mkdtemp(prefix="guardrail-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


def shared_data_dir() -> Path:
    """Where the real data sets are expected: ``$GUARDRAIL_SHARED_DATA`` or ``../shared/data``."""
    env = os.environ.get("GUARDRAIL_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real data folder; skips the test when it is not there."""
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.skip(
            f"real data not found at {path} (set GUARDRAIL_SHARED_DATA or place ../shared/data)"
        )
    return path


@pytest.fixture(autouse=True)
def _user_data_dir_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The user data directory (platformdirs, where `guardrail ask` keeps its default review
    store) points into a fresh temp folder: no test reads or writes the real one."""
    home = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (for bundled policies, examples and docs)."""
    return REPO_ROOT


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With ``GUARDRAIL_TESTS_NO_SKIP=1`` (set by ``.ci/run``) a skipped test fails instead.

    Tests skip with a reason when the real data, PostgreSQL, Chromium or the embedded model are
    absent, so the README's test command works on a bare machine. CI provides all of them; there,
    a skip means an install step silently failed, and must not pass unnoticed.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("GUARDRAIL_TESTS_NO_SKIP") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but GUARDRAIL_TESTS_NO_SKIP=1 forbids skips: {reason}"


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """The same rule for a whole module skipped at collection (``importorskip``)."""
    if report.skipped and os.environ.get("GUARDRAIL_TESTS_NO_SKIP") == "1":
        report.outcome = "failed"
