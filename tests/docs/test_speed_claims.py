"""Every speed claim in README.md and docs/*.md sits in a section that names the bench script
printing it, and docs/benchmarks.md indexes every bench script (issue 17.5)."""

from __future__ import annotations

import re
from pathlib import Path

from .speed_claims import claims_in, doc_pages, is_claim

ROOT = Path(__file__).resolve().parents[2]
INDEX = ROOT / "docs" / "benchmarks.md"


def test_the_detector_tells_claims_from_other_numbers() -> None:
    assert is_claim("ECE alone: 1.06x the numpy baseline")
    assert is_claim("| 56.66 ms | 2.6x faster |")
    assert is_claim("evaluate takes 2.5× the time")
    assert is_claim("the former statement took 10x longer at 50k")
    assert is_claim("one round trip, 20% faster")
    assert not is_claim("n < 10 × `--bins` records per bin")  # a product, not a ratio
    assert not is_claim("makes replays faster and smaller")  # no number
    assert not is_claim("0x1F is hex; 3xx responses are redirects")
    assert not is_claim("a 2-core machine")


def test_a_claim_is_sourced_only_by_its_own_section() -> None:
    page = "\n".join(
        [
            "# Page",
            "## Fast part",
            "`python bench/bench_guard.py` prints:",
            "```",
            "## not a heading inside a fence: 1.20x",
            "```",
            "guard / raw 1.03x",
            "## Other part",
            "We are 3x faster than anything.",
        ]
    )
    claims = claims_in(page, "x.md")
    assert [(c.line, c.scripts) for c in claims] == [
        (5, ("bench/bench_guard.py",)),
        (7, ("bench/bench_guard.py",)),
        (9, ()),
    ]


def test_every_speed_claim_in_the_docs_names_its_script() -> None:
    claims = [c for p in doc_pages(ROOT) for c in claims_in(p.read_text("utf-8"), p.name)]
    # the pages do make claims (a detector that found none would prove nothing): at least the
    # ratios pasted from bench_calibration, bench_review_store, bench_guard, bench_policy,
    # bench_signals, bench_faults and bench_serve
    assert len(claims) >= 40
    assert {c.page for c in claims} >= {
        "audit.md",
        "review.md",
        "sdk.md",
        "policy-language.md",
        "signals.md",
        "security.md",
        "serve.md",
    }
    unsourced = [f"{c.page}:{c.line}: {c.text}" for c in claims if not c.scripts]
    assert not unsourced, "speed claims in a section naming no bench script:\n" + "\n".join(
        unsourced
    )
    for c in claims:  # a named script exists
        for s in c.scripts:
            if "/" in s:
                assert (ROOT / s).exists() or (ROOT / "docs" / s).exists(), (c, s)


def _index_rows() -> list[list[str]]:
    rows = []
    for line in INDEX.read_text("utf-8").splitlines():
        if line.startswith("| `") and line.count("|") >= 8:
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_index_lists_every_bench_script_with_baseline_n_and_load() -> None:
    rows = _index_rows()
    named = {re.sub(r"`", "", r[0]).split()[0] for r in rows}
    on_disk = {f"bench/{p.name}" for p in (ROOT / "bench").glob("bench_*.py")}
    assert on_disk <= named, f"bench scripts missing from docs/benchmarks.md: {on_disk - named}"
    for row in rows:
        script = re.sub(r"`", "", row[0]).split()[0]
        assert (ROOT / script).exists(), script
        page_links = re.findall(r"\(([\w\-/]+\.md)(?:#[\w\-]+)?\)", row[1])
        assert page_links, row
        for link in page_links:
            page = (INDEX.parent / link).resolve()
            assert page.exists(), (script, link)
            assert Path(script).name in page.read_text("utf-8"), (script, link)
        baseline, equal, n, load = row[3], row[4], row[5], row[6]
        assert baseline and n and load, row
        assert equal.split()[0].rstrip(",.;:") in {"yes", "no", "partly", "n/a"}, row
