"""Find speed claims in the docs and the bench script each one's section names (issue 17.5).

A *speed claim* is a line outside code that states a ratio (``1.06x``, ``2.5×``) or says
``faster`` / ``slower`` next to a number, and the same inside a fenced block (pasted bench output
is where most ratios live). A claim is *sourced* when the section it sits in (from its heading to
the next heading of any level, headings inside fences ignored) names a script: ``bench/<x>.py``,
``eval/<x>.py`` or a file name ``bench_<x>.py``. docs/benchmarks.md indexes every such script
with its baseline, N and load.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

RATIO = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:x|×)(?!\w)")
WORD = re.compile(r"\b(?:faster|slower)\b", re.IGNORECASE)
DIGIT = re.compile(r"\d")
SCRIPT = re.compile(r"\b(?:bench|eval)/[\w/]+\.py\b|\bbench_\w+\.py\b")
HEADING = re.compile(r"^#{1,6} ")


@dataclass(frozen=True)
class Claim:
    page: str
    line: int  # 1-based
    text: str
    scripts: tuple[str, ...]  # scripts named in the claim's section (empty: unsourced)


def is_claim(line: str) -> bool:
    return bool(RATIO.search(line)) or (bool(WORD.search(line)) and bool(DIGIT.search(line)))


def claims_in(text: str, page: str) -> list[Claim]:
    """Every speed-claim line of one markdown page with the scripts its section names."""
    lines = text.splitlines()
    heads: list[int] = []
    fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence and HEADING.match(line):
            heads.append(i)
    bounds = [0, *heads, len(lines)]
    out: list[Claim] = []
    for start, end in itertools.pairwise(bounds):
        section = lines[start:end]
        scripts = tuple(sorted({m.group(0) for ln in section for m in SCRIPT.finditer(ln)}))
        for offset, line in enumerate(section):
            if is_claim(line) and not line.lstrip().startswith("```"):
                out.append(Claim(page, start + offset + 1, line.strip(), scripts))
    return out


def doc_pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]
