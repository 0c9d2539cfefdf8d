"""Clopper-Pearson intervals and the percentile bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from guardrail.calibration import bootstrap_ci, clopper_pearson, expected_calibration_error
from guardrail.calibration.stats import betainc


def test_clopper_pearson_closed_forms() -> None:
    # k = 0: upper = 1 - (alpha/2)^(1/n); k = n: lower = (alpha/2)^(1/n) (Clopper & Pearson 1934)
    zero = clopper_pearson(0, 10)
    assert zero.low == 0.0
    assert zero.high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    full = clopper_pearson(10, 10)
    assert full.high == 1.0
    assert full.low == pytest.approx(0.025 ** (1 / 10), abs=1e-12)  # 0.69150


def test_clopper_pearson_textbook_value() -> None:
    # 5 of 10: exact 95 % interval (0.1871, 0.8129) (e.g. Agresti & Coull 1998, Am. Stat. 52)
    ci = clopper_pearson(5, 10)
    assert (ci.low, ci.high) == pytest.approx((0.187086, 0.812914), abs=1e-6)


def test_all_correct_bin_has_nonzero_width() -> None:
    r = expected_calibration_error([0.95] * 5, [1] * 5)
    row = r.bins[9]
    assert row.accuracy == 1.0
    assert row.accuracy_high == 1.0
    assert row.accuracy_low == pytest.approx(0.025 ** (1 / 5))  # 0.4782
    assert row.accuracy_low is not None and row.accuracy_low < 1.0


def test_betainc_symmetry_and_integer_identity() -> None:
    # I_x(a, b) = 1 - I_{1-x}(b, a); I_x(1, 1) = x; I_x(2, 1) = x^2
    assert betainc(2.5, 4.0, 0.3) == pytest.approx(1 - betainc(4.0, 2.5, 0.7), abs=1e-14)
    assert betainc(1, 1, 0.37) == pytest.approx(0.37)
    assert betainc(2, 1, 0.6) == pytest.approx(0.36)


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, 0)])
def test_clopper_pearson_bad_input(k: int, n: int) -> None:
    with pytest.raises(ValueError):
        clopper_pearson(k, n)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    c = rng.random(400)
    return c, rng.random(400) < c**2


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    c, y = _data()
    a = bootstrap_ci(c, y, n_resamples=300, seed=5)
    b = bootstrap_ci(c, y, n_resamples=300, seed=5)
    other = bootstrap_ci(c, y, n_resamples=300, seed=6)
    assert a == b
    assert a.ece.low != other.ece.low
    # the bootstrap's estimate comes from the tie table, the function bins records directly
    assert a.ece.estimate == pytest.approx(expected_calibration_error(c, y).value, abs=1e-12)
    for iv in (a.ece, a.brier, a.accuracy):
        assert iv.low <= iv.high
        assert iv.low <= iv.estimate + 0.02 and iv.estimate - 0.02 <= iv.high
    assert a.accuracy.estimate == pytest.approx(float(np.mean(y)))
    assert a.brier.estimate == pytest.approx(float(np.mean((c - y) ** 2)))


def test_bootstrap_accuracy_interval_matches_binomial_spread() -> None:
    # the bootstrap sd of a proportion is sqrt(p(1-p)/n): 95 % width ~ 3.92 * that
    c, y = _data()
    r = bootstrap_ci(c, y, n_resamples=2000, seed=1)
    p = float(np.mean(y))
    expected = 3.92 * np.sqrt(p * (1 - p) / len(y))
    assert r.accuracy.high - r.accuracy.low == pytest.approx(expected, rel=0.12)


def test_bootstrap_degenerate_data_gives_zero_width() -> None:
    r = bootstrap_ci([0.7] * 50, [1] * 50, n_resamples=50)
    assert (r.ece.low, r.ece.high) == pytest.approx((0.3, 0.3))
    assert (r.accuracy.low, r.accuracy.high) == (1.0, 1.0)


def test_bootstrap_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci([0.5], [1], n_resamples=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([0.5], [1], level=1.5)
