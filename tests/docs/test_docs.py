"""Every fenced Python snippet and shell command in README.md and docs/*.md runs (issue 11), so
the docs cannot drift from the code. The convention (which fences run, how to mark one that needs
the network or a model server) is in tests/docs/doc_snippets.py and docs/architecture.md.

Each snippet runs in a fresh interpreter / bash, in a temp folder holding a copy of the bundled
``policies/`` (a snippet that rewrites or writes files changes nothing in the checkout), with
the checkout first on ``PYTHONPATH`` and this interpreter's ``bin`` first on ``PATH`` (so
``guardrail`` and ``python`` are the ones under test). The real data folder is
``$GUARDRAIL_SHARED_DATA`` (snippets that read it skip without it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .doc_snippets import Snippet, all_snippets

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = all_snippets(ROOT)

_RUN_PY = """
import ast, asyncio, sys
src = open(sys.argv[1], encoding="utf-8").read()
code = compile(src, sys.argv[2], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__"})
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


def _params() -> list[object]:
    # Fences marked no-test are not collected (a skip would fail CI, GUARDRAIL_TESTS_NO_SKIP);
    # test_every_no_test_mark_gives_a_reason checks their marks instead.
    out: list[object] = []
    for s in SNIPPETS:
        if s.skip is not None:
            continue
        marks = [pytest.mark.slow] if s.slow else []
        out.append(pytest.param(s, id=s.id, marks=marks))
    return out


def test_the_convention_finds_the_documented_snippets() -> None:
    """The extractor sees the README's set-up commands (marked no-test: they install from the
    network) and its Python example; a test that silently found nothing would prove nothing."""
    ids = {s.id: s for s in SNIPPETS}
    setup = next(s for s in SNIPPETS if s.file == "README.md" and s.kind == "shell")
    assert setup.code[1] == 'pip install -e ".[all,dev]" && python -m pytest -q'
    assert setup.skip is not None and "network" in setup.skip
    assert sum(s.kind == "python" for s in ids.values()) >= 8
    assert sum(s.skip is None for s in ids.values()) >= 8


_PAGE_DIRS: dict[str, Path] = {}


def _page_dir(factory: pytest.TempPathFactory, page: str) -> Path:
    """One working folder per page, shared by its snippets (they run in page order)."""
    if page not in _PAGE_DIRS:
        folder = factory.mktemp("doc-" + page.replace("/", "-").removesuffix(".md"))
        shutil.copytree(ROOT / "policies", folder / "policies")
        _PAGE_DIRS[page] = folder
    return _PAGE_DIRS[page]


def test_every_no_test_mark_gives_a_reason() -> None:
    skipped = [s for s in SNIPPETS if s.skip is not None]
    assert skipped, "the README's set-up commands at least are marked no-test"
    for s in skipped:
        assert len(s.skip or "") >= 15, f"{s.id}: say why it cannot run (network, model, ...)"


@pytest.mark.parametrize("snippet", _params())
def test_doc_snippet_runs(
    snippet: Snippet, tmp_path_factory: pytest.TempPathFactory, shared_data_path: Path
) -> None:
    if snippet.needs_data and not (shared_data_path / "README.md").is_file():
        pytest.skip(f"{snippet.id}: needs the real data at {shared_data_path}")
    tmp_path = _page_dir(tmp_path_factory, snippet.file)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "GUARDRAIL_SHARED_DATA": str(shared_data_path),
        "GUARDRAIL_REVIEW_STORE": str(tmp_path / "review.db"),
        "GUARDRAIL_REPO": str(ROOT),
    }
    if snippet.kind == "python":
        src = tmp_path / f"snippet-{snippet.line}.py"
        src.write_text(snippet.code[0], encoding="utf-8")
        runs = [[sys.executable, "-c", _RUN_PY, str(src), snippet.id]]
    else:
        runs = [["bash", "-euo", "pipefail", "-c", cmd] for cmd in snippet.code]
    for argv in runs:
        out = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert out.returncode == snippet.exit_code, (
            f"{snippet.id}: {argv[-1] if snippet.kind == 'shell' else 'python snippet'} "
            f"exited {out.returncode}\n--- stdout\n{out.stdout[-3000:]}\n--- stderr\n"
            f"{out.stderr[-3000:]}"
        )


@pytest.fixture(scope="session")
def shared_data_path() -> Path:
    """Where the real data is expected (the same rule as the ``shared_data`` fixture); snippets
    that read it are marked no-test when it is not in the repo, so absence is not a skip here."""
    env = os.environ.get("GUARDRAIL_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"
