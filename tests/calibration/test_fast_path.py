"""The bincount fast path (issue 17.3) gives today's numbers: checked against a reference.

``_reference`` below is the per-record definition the package implemented before the fast path
(DESIGN.md's right-closed bins ``clip(ceil(x B - B 1e-9) - 1, 0, B - 1)``, per-bin sums with
``np.add.at`` in record order, Clopper-Pearson per bin from ``stats.clopper_pearson``), written
out independently of ``_core``/``metrics``. Results agree to 1e-12 on continuous and on-edge data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import guardrail.calibration.metrics as metrics_mod
from guardrail.calibration import (
    CalibrationAccumulator,
    brier_score,
    clopper_pearson,
    expected_calibration_error,
    murphy_decomposition,
)

from ._compare import assert_same


def _reference(c: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, object]:
    b = np.clip(np.ceil(c * n_bins - n_bins * 1e-9).astype(int) - 1, 0, n_bins - 1)
    cnt = np.zeros(n_bins)
    cor = np.zeros(n_bins)
    sc = np.zeros(n_bins)
    sq = np.zeros(n_bins)
    np.add.at(cnt, b, 1.0)
    np.add.at(cor, b, y.astype(float))
    np.add.at(sc, b, c)
    np.add.at(sq, b, (c - y) ** 2)
    n = len(c)
    gaps = [(cor[k] / cnt[k] - sc[k] / cnt[k]) for k in range(n_bins) if cnt[k]]
    weights = [cnt[k] / n for k in range(n_bins) if cnt[k]]
    rows = []
    for k in range(n_bins):
        if cnt[k] == 0:
            rows.append((0, 0, None, None, None, None, None))
            continue
        ci = clopper_pearson(int(cor[k]), int(cnt[k]))
        rows.append(
            (
                int(cnt[k]),
                int(cor[k]),
                sc[k] / cnt[k],
                cor[k] / cnt[k],
                sq[k] / cnt[k],
                ci.low,
                ci.high,
            )
        )
    return {
        "ece": sum(w * abs(g) for w, g in zip(weights, gaps, strict=True)),
        "rmsce": math.sqrt(sum(w * g * g for w, g in zip(weights, gaps, strict=True))),
        "mce": max(abs(g) for g in gaps),
        "brier": float(np.mean((c - y) ** 2)),
        "rows": rows,
    }


def _continuous(n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    c = rng.beta(2.0, 2.0, n)
    # calibration gap changes sign across bins: under-confident below 0.5, over-confident above
    return c, rng.random(n) < 0.5 + 0.6 * (c - 0.5) + 0.15 * np.sin(6 * c)


def _on_edges(n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n_bins)
    k = rng.integers(0, n_bins + 1, 5000)
    # the same edge values computed three ways (k/B, k*(1/B), and k/B + 1e-12 round-off)
    c = np.concatenate([k / n_bins, k * (1.0 / n_bins), np.clip(k / n_bins + 1e-12, 0, 1)])
    return c, rng.random(c.shape[0]) < np.clip(c * 0.8 + 0.1, 0, 1)


@pytest.mark.parametrize("data", ["continuous", "edges10", "edges15"])
def test_fast_path_matches_the_reference(data: str) -> None:
    n_bins = 15
    if data == "continuous":
        c, y = _continuous()
    else:
        c, y = _on_edges(int(data[5:]))
    ref = _reference(c, y, n_bins)
    r = expected_calibration_error(c, y, n_bins)
    assert r.value == pytest.approx(ref["ece"], abs=1e-12)
    assert expected_calibration_error(c, y, n_bins, norm="l2").value == pytest.approx(
        ref["rmsce"], abs=1e-12
    )
    assert expected_calibration_error(c, y, n_bins, norm="max").value == pytest.approx(
        ref["mce"], abs=1e-12
    )
    assert brier_score(c, y, n_bins).value == pytest.approx(ref["brier"], abs=1e-12)
    for row, want in zip(r.bins, ref["rows"], strict=True):  # type: ignore[call-overload]
        got = (
            row.count,
            row.n_correct,
            row.mean_confidence,
            row.accuracy,
            row.mean_squared_error,
            row.accuracy_low,
            row.accuracy_high,
        )
        assert got[:2] == want[:2]
        for g, w in zip(got[2:], want[2:], strict=True):
            assert (g is None and w is None) or g == pytest.approx(w, abs=1e-12)
    # and the accumulator (tie-table path) agrees with the fast path to rounding
    acc = CalibrationAccumulator().update(c, y)
    assert_same(acc.expected_calibration_error(n_bins), r)
    assert_same(
        acc.expected_calibration_error(n_bins, "mass"),
        expected_calibration_error(c, y, n_bins, "mass"),
    )
    assert_same(acc.murphy_decomposition(n_bins), murphy_decomposition(c, y, n_bins))


def test_intervals_are_computed_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = metrics_mod.clopper_pearson

    def counting(k: int, n: int, level: float = 0.95) -> object:
        calls.append((k, n))
        return real(k, n, level)

    monkeypatch.setattr(metrics_mod, "clopper_pearson", counting)
    c, y = _continuous(2000)
    r = expected_calibration_error(c, y, 15)
    brier_score(c, y, 15)
    assert calls == []  # ECE and Brier alone never compute a Clopper-Pearson interval
    row = next(b for b in r.bins if b.count)
    low = row.accuracy_low
    assert len(calls) == 1 and row.accuracy_high is not None and len(calls) == 1  # cached
    assert low == real(row.n_correct, row.count).low
    dumped = r.model_dump()  # serializing asks for every non-empty bin's interval
    assert dumped["bins"][row.index]["accuracy_low"] == low
    assert len(calls) == sum(1 for b in r.bins if b.count)
