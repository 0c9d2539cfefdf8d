"""Bin convention of DESIGN.md: bin b holds (edge_b, edge_{b+1}], bin 0 also holds 0.0.

Known answers worked by hand from that rule (issue 3).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.calibration import bin_index


def test_tenths_land_in_bins_0_to_9_and_zero_in_bin_0() -> None:
    # issue 3: confidences 0.1, 0.2, ..., 1.0 land in bins 0..9 of 10 equal-width bins, 0.0 in bin 0
    x = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert bin_index(x, 10).tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_tenths_computed_different_ways_share_a_bin() -> None:
    # 0.3, 0.6, 0.7 as literals, sums, products and percent divisions: floats that differ in
    # the last bit (0.1 + 0.2 = 0.30000000000000004, 0.7 * 100 / 100 ...) must share a bin.
    ways = {
        2: [0.3, 0.1 + 0.2, 3 / 10, 30 / 100, 0.1 * 3, 1 - 0.7],
        5: [0.6, 0.2 * 3, 6 / 10, 60 / 100, 0.3 + 0.3, 0.1 * 6],
        6: [0.7, 7 / 10, 70 / 100, 0.1 * 7, 0.4 + 0.3, 1 - 0.3],
    }
    for expected, values in ways.items():
        assert bin_index(values, 10).tolist() == [expected] * len(values), values


def test_verbalized_percentages_on_multiples_of_five() -> None:
    # right-closed: 70/100 is in (0.6, 0.7], 75/100 in (0.7, 0.8], 85/100 in (0.8, 0.9]
    assert bin_index([70 / 100, 75 / 100, 85 / 100, 20 / 100, 30 / 100], 10).tolist() == [
        6,
        7,
        8,
        1,
        2,
    ]


def test_values_just_above_an_edge_go_up() -> None:
    assert bin_index([0.3 + 1e-6, 0.5 + 1e-7], 10).tolist() == [3, 5]


def test_fifteen_bins_one_in_last_bin() -> None:
    # 1.0 belongs to the last bin, not to an extra bin (the ECE 0.525 vs 0.475 bug)
    assert bin_index([1.0, 0.95], 15).tolist() == [14, 14]


def test_mass_bins_put_ties_together() -> None:
    # 100 identical confidences: every record in one bin, the other bins empty
    b = bin_index([0.95] * 100, 10, "mass")
    assert set(b.tolist()) == {0}


@pytest.mark.parametrize("bad", [[float("nan")], [1.2], [-0.1]])
def test_bad_confidences_raise(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        bin_index(bad, 10)


@settings(deadline=None)
@given(
    st.integers(min_value=1, max_value=40),
    st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=50),
)
def test_width_bins_match_exact_rational_rule(n_bins: int, thousandths: list[int]) -> None:
    # exact reference with Fractions: bin = ceil(q * B) - 1 clipped to [0, B - 1]
    xs = [k / 1000 for k in thousandths]
    expected = []
    for k in thousandths:
        q = Fraction(k, 1000) * n_bins
        b = -(-q.numerator // q.denominator) - 1
        expected.append(min(max(b, 0), n_bins - 1))
    assert bin_index(np.asarray(xs), n_bins).tolist() == expected
