"""Binning and metrics do not depend on the float type of the confidences (issue 18).

A float32 0.3 is 0.30000001192..., a float16 0.3 is 0.2998046875: binned as they are, they fall in
(0.3, 0.4] and (0.2, 0.3] respectively while the double 0.3 belongs in (0.2, 0.3]. The package maps
lower-precision values to the double they stand for (``canonical_float64``), so on a 1/100 grid
and on equal-width bin edges every dtype gives identical bins and identical numbers.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.calibration import (
    AuditRecord,
    CalibrationAccumulator,
    audit,
    bin_index,
    bootstrap_ci,
    brier_score,
    expected_calibration_error,
    fit_profile,
)
from guardrail.calibration._core import SNAP_DENOMINATOR, canonical_float64

from ._compare import assert_same

N_BINS = (5, 10, 15, 20)


class ArrayLikeTensor:
    """Stands in for a CPU torch tensor / pyarrow array: only ``__array__``, no sequence API."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)


def _grid_value(draw_index: int) -> Fraction:
    """Index into the 1/100 grid followed by the edges k/B of 5, 10, 15 and 20 bins."""
    points = sorted(
        {Fraction(k, 100) for k in range(101)}
        | {Fraction(k, b) for b in N_BINS for k in range(b + 1)}
    )
    return points[draw_index % len(points)]


def _exact_bin(x: Fraction, n_bins: int) -> int:
    """DESIGN.md's right-closed rule in exact rational arithmetic: bin b holds (b/B, (b+1)/B]."""
    k = -((-x.numerator * n_bins) // x.denominator)  # ceil(x * B)
    return min(max(k - 1, 0), n_bins - 1)


def _inputs(c64: np.ndarray) -> dict[str, Any]:
    return {
        "float64": c64,
        "float32": c64.astype(np.float32),
        "float16": c64.astype(np.float16),
        "list": [float(v) for v in c64],
        "pandas float32": pd.Series(c64.astype(np.float32)),
        "pandas float64": pd.Series(c64),
        "__array__ float32": ArrayLikeTensor(c64.astype(np.float32)),
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.booleans()), min_size=1, max_size=80),
    st.sampled_from(N_BINS),
)
def test_grid_and_edges_bin_identically_in_every_dtype(
    rows: list[tuple[int, bool]], n_bins: int
) -> None:
    exact = [_grid_value(i) for i, _ in rows]
    y = np.array([r[1] for r in rows])
    c64 = np.array([float(x) for x in exact])  # the doubles nearest to the fractions
    expected_bins = [_exact_bin(x, n_bins) for x in exact]
    ref_ece = expected_calibration_error(c64, y, n_bins)
    ref_mce = expected_calibration_error(c64, y, n_bins, norm="max")
    ref_brier = brier_score(c64, y, n_bins)
    for name, conf in _inputs(c64).items():
        assert bin_index(conf, n_bins).tolist() == expected_bins, name
        # identical, not approximately equal: every dtype gives the same doubles
        assert expected_calibration_error(conf, y, n_bins) == ref_ece, name
        assert expected_calibration_error(conf, y, n_bins, norm="max") == ref_mce, name
        assert brier_score(conf, y, n_bins) == ref_brier, name
        assert expected_calibration_error(conf, y, n_bins, "mass") == expected_calibration_error(
            c64, y, n_bins, "mass"
        ), name
        acc = CalibrationAccumulator().update(conf, y)
        assert acc.expected_calibration_error(n_bins) == CalibrationAccumulator().update(
            c64, y
        ).expected_calibration_error(n_bins), name


def test_issue_example() -> None:
    # issue 18: float32 [0.3, 0.6, 0.1] used to land in bins 3, 6, 1; they belong in 2, 5, 0
    for dtype in (np.float16, np.float32, np.float64):
        assert bin_index(np.array([0.3, 0.6, 0.1], dtype=dtype), 10).tolist() == [2, 5, 0]


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_mapping_stays_within_the_dtypes_rounding(dtype: type[np.floating[Any]]) -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.random(20_000), rng.random(200) * 1e-4]).astype(dtype)
    c = canonical_float64(x)
    assert np.array_equal(c.astype(dtype), x)  # no value leaves its own rounding interval
    # every value is either a fraction p/q with q <= the dtype's limit, or the shortest decimal
    # numpy prints for it (Steele & White / Ryu "unique" repr)
    q_max = SNAP_DENOMINATOR[np.dtype(dtype).name]
    n_decimal = 0
    for v, ci in zip(x[:3000], c[:3000], strict=True):
        frac = Fraction(float(ci)).limit_denominator(q_max)
        if float(frac) == ci and frac.denominator <= q_max:
            continue
        assert ci == float(np.format_float_positional(v, unique=True)), (v, ci)
        n_decimal += 1
    assert n_decimal > 1000  # the decimal branch is really exercised


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_non_grid_values_bin_by_their_dtype_value(dtype: type[np.floating[Any]]) -> None:
    # off the grid a float16/float32 copy keeps its own rounding (documented): its bins are the
    # exact right-closed bins of the value the dtype stands for
    rng = np.random.default_rng(3)
    x = rng.random(5000).astype(dtype)
    c = canonical_float64(x)
    for n_bins in N_BINS:
        got = bin_index(x, n_bins)
        # DESIGN.md's tolerant rule in exact arithmetic on the double: within 1e-9 of an edge
        # counts as on it (the double 0.8 is 0.80000000000000004441, it stays in (0.6, 0.8])
        want = [_exact_bin(Fraction(float(v)) - Fraction(1, 10**9), n_bins) for v in c]
        assert got.tolist() == want


def test_percent_integers() -> None:
    pct = np.array([70, 85, 20, 100, 0], dtype=np.int16)
    y = [1, 0, 0, 1, 0]
    as_float = [0.7, 0.85, 0.2, 1.0, 0.0]
    assert expected_calibration_error(pct, y, percent=True) == expected_calibration_error(
        as_float, y
    )
    assert bin_index(pct, 10, percent=True).tolist() == [6, 8, 1, 9, 0]
    # float32 percentages are mapped first, then divided: 70.0 -> 0.7 exactly
    assert bin_index(pct.astype(np.float32), 10, percent=True).tolist() == [6, 8, 1, 9, 0]
    with pytest.raises(ValueError, match="percent=True"):
        expected_calibration_error(pct, y)
    with pytest.raises(ValueError, match="percent=True"):
        bin_index([70, 85], 10)
    with pytest.raises(ValueError, match=r"outside \[0, 100\]"):
        bin_index([70, 101], 10, percent=True)
    # 0/1 integers are probabilities 0.0 and 1.0 and need no flag
    assert bin_index(np.array([0, 1, 1]), 10).tolist() == [0, 9, 9]


def test_bad_dtypes_are_refused() -> None:
    with pytest.raises(ValueError, match="numbers"):
        bin_index(np.array(["0.3", "0.4"]), 10)
    with pytest.raises(ValueError, match="numbers"):
        bin_index(np.array([0.3 + 0j]), 10)
    with pytest.raises(ValueError, match="1-D"):
        bin_index(np.zeros((2, 2), dtype=np.float32), 10)


def test_other_paths_use_the_mapping() -> None:
    # bootstrap and profiles see the same bins as the metric functions
    c = np.array([0.3, 0.6, 0.1, 0.7, 0.7, 0.9])
    y = np.array([1, 0, 0, 1, 1, 1], dtype=bool)
    b64 = bootstrap_ci(c, y, n_resamples=50, seed=1)
    assert bootstrap_ci(c.astype(np.float32), y, n_resamples=50, seed=1) == b64
    assert bootstrap_ci(c.astype(np.float16), y, n_resamples=50, seed=1) == b64
    p64 = fit_profile(c, y, "d", "verbalized", method="histogram")
    p32 = fit_profile(c.astype(np.float32), y, "d", "verbalized", method="histogram")
    assert p32.model_dump(exclude={"created"}) == p64.model_dump(exclude={"created"})
    # a float32 scalar handed to the profile is read as the double it stands for
    assert p64.calibrate(np.float32(0.3)) == p64.calibrate(0.3)
    # audit records (the audit command, reports and reliability diagrams are built from them)
    recs32 = [
        AuditRecord(confidence=v, correct=bool(t))
        for v, t in zip(c.astype(np.float32), y, strict=True)
    ]
    recs64 = [AuditRecord(confidence=float(v), correct=bool(t)) for v, t in zip(c, y, strict=True)]
    assert [r.confidence for r in recs32] == [r.confidence for r in recs64]
    rep32 = audit(recs32, n_bootstrap=20, seed=0).overall
    assert rep32 == audit(recs64, n_bootstrap=20, seed=0).overall


LLAMA = "model_outputs/conformal_llama13b_mmlu/llm_probs_gpt"


def test_llama_figures_from_float32_copies(shared_data: Path) -> None:
    # shared/data/README.md: pooled prompt 0 over the 16 subjects: n 2886, acc 0.4054,
    # mean confidence 0.4060, ECE 0.0547; all 10 prompts pooled: n 28860, acc 0.4067,
    # mean conf 0.4057, ECE 0.0397 (10 equal-width right-closed bins)
    files = sorted((shared_data / LLAMA).glob("*_scores.npy"))
    assert len(files) == 16
    conf, corr = [], []
    for f in files:
        scores = np.load(f, allow_pickle=False).astype(np.float32)  # what a torch softmax gives
        targets = np.load(str(f).replace("_scores", "_targets"), allow_pickle=False)
        conf.append(scores.max(axis=-1))
        corr.append(scores.argmax(axis=-1) == targets[None, :])
    c0 = np.concatenate([c[0] for c in conf])
    y0 = np.concatenate([y[0] for y in corr])
    assert c0.dtype == np.float32
    r = expected_calibration_error(c0, y0)
    assert (r.n, round(r.accuracy, 4), round(r.mean_confidence, 4)) == (2886, 0.4054, 0.4060)
    assert round(r.value, 4) == 0.0547
    acc = CalibrationAccumulator()
    for c, y in zip(conf, corr, strict=True):
        acc.update(c.ravel(), y.ravel())
    a = acc.expected_calibration_error()
    assert (a.n, round(a.accuracy, 4), round(a.mean_confidence, 4)) == (28860, 0.4067, 0.4057)
    assert round(a.value, 4) == 0.0397
    # the float32 copy stays within float32 rounding of the float64 result
    ref = expected_calibration_error(c0.astype(np.float64), y0)
    assert abs(r.value - ref.value) < 1e-6


@pytest.mark.parametrize(
    ("name", "ece", "acc", "mean_conf"),
    # shared/data/README.md GPT-4o-mini table: ECE right-closed, accuracy, mean confidence
    [("normal", 0.6550, 0.100, 0.7550), ("distractors", 0.2825, 0.550, 0.8025)],
)
def test_gpt4o_mini_figures_from_float32_and_percent(
    shared_data: Path, name: str, ece: float, acc: float, mean_conf: float
) -> None:
    path = (
        shared_data
        / "model_outputs/gpt4o_mini_verbalized"
        / f"gpt-4o-mini_{name}_0_20_results.json"
    )
    data = json.loads(path.read_text())
    pct = np.array([v["confidence"] for v in data.values()])
    y = np.array([v["output"] == 1 for v in data.values()])
    for conf, kw in (
        ((pct / 100).astype(np.float32), {}),
        ((pct / 100).astype(np.float16), {}),
        (pct.astype(np.float32), {"percent": True}),
        (pct.astype(np.int64), {"percent": True}),
    ):
        r = expected_calibration_error(conf, y, **kw)
        assert (r.n, r.accuracy, round(r.mean_confidence, 4)) == (20, acc, mean_conf)
        assert round(r.value, 4) == ece  # 70 sits in (0.6, 0.7] in every dtype
        assert_same(r, expected_calibration_error(pct / 100, y), tol=0.0)
