"""Find the runnable snippets in README.md and docs/*.md (used by tests/docs/test_docs.py).

Convention (documented in docs/architecture.md, "Docs are tested"):

* A ```` ```python ```` fence is a Python snippet; it runs in a fresh interpreter (top-level
  ``await`` allowed).
* A ```` ```bash ```` / ```` ```sh ```` / ```` ```console ```` fence, and an unlabelled fence whose
  first line starts with ``$ ``, holds shell commands: in ``bash``/``sh`` fences every line, in the
  others only ``$ `` lines (with their ``\\`` continuation lines; the rest is shown output).
  Every command must exit 0.
* An HTML comment on the line(s) right before the fence changes that:
  ``<!-- no-test: REASON -->`` skips it (needs network, a model server, data not in the repo,
  or it is a fragment), ``<!-- test: slow -->`` marks it slow (runs the embedded model), and
  ``<!-- test: exit N -->`` expects exit code N from every command of the fence, and
  ``<!-- test: needs-data -->`` skips it (with the reason) when the real data folder
  (``$GUARDRAIL_SHARED_DATA`` or ``../shared/data``) is absent; CI has it, so there it runs.
* The snippets of one page share a working folder and run in page order, like a reader following
  the page (a file one snippet writes is there for the next).
* Other fences (output, grammar, policy text) are not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```(\S*)\s*$")
_MARK = re.compile(r"^<!--\s*(no-test|test):\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Snippet:
    """One runnable fence: ``kind`` is ``python`` or ``shell``; ``code`` the Python source or
    the list of shell commands (one string each, continuation lines joined)."""

    file: str
    line: int
    kind: str
    code: tuple[str, ...]
    skip: str | None = None
    slow: bool = False
    exit_code: int = 0
    needs_data: bool = False

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _shell_commands(body: list[str], prompt_only: bool) -> list[str]:
    cmds: list[str] = []
    current: str | None = None
    for raw in body:
        line = raw.rstrip()
        if current is not None:
            current += "\n" + line
            if not line.endswith("\\"):
                cmds.append(current)
                current = None
            continue
        if prompt_only:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        elif not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            current = line
        else:
            cmds.append(line)
    if current is not None:
        cmds.append(current)
    return cmds


def snippets(path: Path, root: Path) -> list[Snippet]:
    """Runnable snippets of one Markdown file, in file order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = path.relative_to(root).as_posix()
    out: list[Snippet] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1).lower(), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        body = lines[i + 1 : j]
        i = j + 1
        skip: str | None = None
        slow = needs_data = False
        exit_code = 0
        k = start - 1
        while k >= 0 and (mark := _MARK.match(lines[k].strip())):
            if mark.group(1) == "no-test":
                skip = mark.group(2) or "marked no-test"
            elif mark.group(2) == "slow":
                slow = True
            elif mark.group(2) == "needs-data":
                needs_data = True
            elif mark.group(2).startswith("exit "):
                exit_code = int(mark.group(2).split()[1])
            k -= 1
        if lang == "python":
            kind, code = "python", ("\n".join(body) + "\n",)
        elif lang in ("bash", "sh", "shell", "console"):
            kind, code = "shell", tuple(_shell_commands(body, prompt_only=lang == "console"))
        elif lang == "" and body and body[0].startswith("$ "):
            kind, code = "shell", tuple(_shell_commands(body, prompt_only=True))
        else:
            continue
        out.append(Snippet(rel, start + 1, kind, code, skip, slow, exit_code, needs_data))
    return out


def all_snippets(root: Path) -> list[Snippet]:
    """Snippets of README.md and every docs/*.md."""
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [s for f in files for s in snippets(f, root)]
