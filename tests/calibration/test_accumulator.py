"""Chunked / parallel audits through CalibrationAccumulator equal the one-shot audit exactly.

Exactly = bit for bit between accumulators however the records were split, ordered or merged
(the tie table is canonical); the array functions, which bin records directly with bincount,
agree with them to floating-point rounding (``assert_same``: 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.calibration import (
    CalibrationAccumulator,
    aurc,
    auroc,
    brier_score,
    expected_calibration_error,
    murphy_decomposition,
    risk_coverage,
)

from ._compare import assert_same


def _data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = np.round(rng.random(n), 3)  # many ties
    return c, rng.random(n) < c


def test_chunks_equal_one_shot_bit_for_bit() -> None:
    c, y = _data()
    acc = CalibrationAccumulator()
    for lo in range(0, len(c), 701):
        acc.update(c[lo : lo + 701], y[lo : lo + 701])
    assert acc.n == len(c)
    whole = CalibrationAccumulator().update(c, y)
    for binning in ("width", "mass"):
        for norm in ("l1", "l2", "max", "l2_debiased"):
            chunked = acc.expected_calibration_error(15, binning, norm)  # type: ignore[arg-type]
            assert chunked == whole.expected_calibration_error(15, binning, norm)  # type: ignore[arg-type]
            assert_same(chunked, expected_calibration_error(c, y, 15, binning, norm))  # type: ignore[arg-type]
    assert acc.brier_score() == whole.brier_score()
    assert_same(acc.brier_score(), brier_score(c, y))
    assert acc.murphy_decomposition() == whole.murphy_decomposition()
    assert_same(acc.murphy_decomposition(), murphy_decomposition(c, y))
    assert acc.auroc() == auroc(c, y)
    assert acc.aurc() == aurc(c, y)
    assert acc.risk_coverage() == risk_coverage(c, y)


def test_parallel_merge_is_order_free() -> None:
    c, y = _data(2000, 4)
    parts = [CalibrationAccumulator().update(c[i::3], y[i::3]) for i in range(3)]
    ab_c = (parts[0] + parts[1]) + parts[2]
    c_ba = parts[2].merge(parts[1].merge(parts[0]))
    one = CalibrationAccumulator().update(c, y).expected_calibration_error()
    assert ab_c.expected_calibration_error() == one
    assert c_ba.expected_calibration_error() == one
    assert_same(one, expected_calibration_error(c, y))


def test_bad_chunk_leaves_accumulator_unchanged() -> None:
    acc = CalibrationAccumulator().update([0.2, 0.9], [0, 1])
    with pytest.raises(ValueError):
        acc.update([0.5, 1.5], [1, 1])
    assert acc.n == 2


def test_empty_accumulator_says_so() -> None:
    with pytest.raises(ValueError, match="no records"):
        CalibrationAccumulator().expected_calibration_error()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20).map(lambda k: k / 20), st.booleans()), min_size=1, max_size=60
    ),
    st.integers(1, 7),
)
def test_any_split_gives_the_same_numbers(rows: list[tuple[float, bool]], n_chunks: int) -> None:
    c = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    acc = CalibrationAccumulator()
    for chunk in np.array_split(np.arange(len(rows)), n_chunks):
        if len(chunk):
            acc.update(c[chunk], y[chunk])
    whole = CalibrationAccumulator().update(c, y)
    assert acc.expected_calibration_error(10, "mass") == whole.expected_calibration_error(
        10, "mass"
    )
    assert_same(
        acc.expected_calibration_error(10, "mass"), expected_calibration_error(c, y, 10, "mass")
    )
    assert acc.aurc() == aurc(c, y)


def test_rounding_caps_state_and_matches_rounded_input() -> None:
    rng = np.random.default_rng(2)
    c = rng.random(20_000)
    y = rng.random(20_000) < c
    acc = CalibrationAccumulator(decimals=2)
    for lo in range(0, len(c), 5000):
        acc.update(c[lo : lo + 5000], y[lo : lo + 5000])
    assert len(acc.table.values) <= 101
    rounded = np.round(c, 2)
    assert_same(acc.expected_calibration_error(), expected_calibration_error(rounded, y))
    assert acc.auroc() == auroc(rounded, y)
    with pytest.raises(ValueError, match="decimals"):
        acc.merge(CalibrationAccumulator())
