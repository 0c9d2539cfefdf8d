"""Metrics against brute-force reference implementations written independently here."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.calibration import (
    AuditRecord,
    audit,
    aurc,
    auroc,
    brier_score,
    expected_calibration_error,
)
from guardrail.calibration.report import write_html_report

# confidences on a 1/20 grid hit the 10-bin edges exactly, the case the bin rule is about
rows = st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=40).map(
    lambda r: ([k / 20 for k, _ in r], [c for _, c in r], [k for k, _ in r])
)


def _reference_ece(twentieths: list[int], correct: list[bool], n_bins: int) -> float:
    """ECE with exact rational bin assignment: bin = ceil(x B) - 1 clipped (x = k/20)."""
    groups: dict[int, list[tuple[Fraction, bool]]] = {}
    for k, y in zip(twentieths, correct, strict=True):
        x = Fraction(k, 20)
        q = x * n_bins
        b = min(max(-(-q.numerator // q.denominator) - 1, 0), n_bins - 1)
        groups.setdefault(b, []).append((x, y))
    n = len(correct)
    total = Fraction(0)
    for members in groups.values():
        acc = Fraction(sum(y for _, y in members), len(members))
        conf = sum((x for x, _ in members), Fraction(0)) / len(members)
        total += Fraction(len(members), n) * abs(acc - conf)
    return float(total)


@settings(max_examples=80, deadline=None)
@given(rows, st.sampled_from([1, 2, 3, 5, 10, 15]))
def test_ece_matches_rational_reference(
    data: tuple[list[float], list[bool], list[int]], b: int
) -> None:
    conf, corr, k = data
    assert expected_calibration_error(conf, corr, b).value == pytest.approx(
        _reference_ece(k, corr, b), abs=1e-12
    )


@settings(max_examples=80, deadline=None)
@given(rows)
def test_auroc_matches_pair_count(data: tuple[list[float], list[bool], list[int]]) -> None:
    conf, corr, _ = data
    pos = [c for c, y in zip(conf, corr, strict=True) if y]
    neg = [c for c, y in zip(conf, corr, strict=True) if not y]
    r = auroc(conf, corr)
    if not pos or not neg:
        assert r.value is None
        return
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    assert r.value == pytest.approx(wins / (len(pos) * len(neg)), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.integers(0, 10_000))
def test_aurc_without_ties_matches_geifman_definition(corr: list[bool], seed: int) -> None:
    # distinct confidences: AURC = (1/N) sum_i risk(top i) (Geifman et al., arXiv 1805.08206)
    rng = np.random.default_rng(seed)
    conf = rng.permutation(len(corr)) / len(corr) + 1e-3
    conf = conf / conf.max()
    order = np.argsort(-conf)
    wrong = 1 - np.asarray(corr, dtype=float)[order]
    risks = np.cumsum(wrong) / np.arange(1, len(corr) + 1)
    assert aurc(conf, corr).aurc == pytest.approx(float(risks.mean()), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(rows)
def test_brier_matches_mean_squared_error(data: tuple[list[float], list[bool], list[int]]) -> None:
    conf, corr, _ = data
    ref = sum((c - y) ** 2 for c, y in zip(conf, corr, strict=True)) / len(conf)
    assert brier_score(conf, corr).value == pytest.approx(ref, abs=1e-12)


def test_mass_binning_audit_matches_metric() -> None:
    rng = np.random.default_rng(5)
    c = rng.random(300)
    y = rng.random(300) < c
    recs = [AuditRecord(confidence=float(a), correct=bool(b)) for a, b in zip(c, y, strict=True)]
    rep = audit(recs, group_by=(), binning="mass", n_bins=8, n_bootstrap=30)
    assert rep.overall.ece == expected_calibration_error(c, y, 8, "mass").value
    # inverted-CDF edges: bins 0..b-1 hold the ceil(300 b / 8) lowest of 300 distinct values,
    # i.e. 38, 75, 113, 150, 188, 225, 263, 300 cumulatively
    assert [b.count for b in rep.overall.reliability.bins] == [38, 37, 38, 37, 38, 37, 38, 37]


def test_html_report_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from guardrail.calibration import plot

    monkeypatch.setattr(plot, "matplotlib_available", lambda: False)
    recs = [AuditRecord(confidence=0.8, correct=i % 2 == 0, domain="law") for i in range(10)]
    files = write_html_report(audit(recs, n_bootstrap=10), tmp_path)
    assert sorted(f.name for f in files) == ["audit.json", "index.html"]
    html = (tmp_path / "index.html").read_text()
    assert "guardrail-uq[plot]" in html and "law" in html
