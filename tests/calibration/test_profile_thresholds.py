"""PAV, calibration profiles (JSON round trip, calibrate) and threshold fitting."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from guardrail.calibration import CalibrationProfile, fit_profile, fit_threshold, pav


def test_pav_by_hand() -> None:
    # y = 1, 0, 1, 1, 0, 1 (unit weights): pool (1, 0) -> 0.5; (1, 1, 0) -> 2/3; last 1 stays
    values, ends = pav([1, 0, 1, 1, 0, 1])
    assert values.tolist() == pytest.approx([0.5, 2 / 3, 1.0])
    assert ends.tolist() == [2, 5, 6]


def test_pav_weighted() -> None:
    # (0.8, w=3) then (0.2, w=1) violate: pooled (2.4 + 0.2) / 4 = 0.65
    values, ends = pav([0.8, 0.2], [3, 1])
    assert values.tolist() == pytest.approx([0.65])
    assert ends.tolist() == [2]


CONF = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.9, 0.95]
CORR = [0, 1, 0, 0, 1, 1, 1, 1]


def test_isotonic_profile_by_hand_and_round_trip(tmp_path: Path) -> None:
    # PAV on 0,1,0,0,1,1,1,1 -> blocks {0.1}=0, {0.2,0.3,0.4}=1/3, {0.6..0.95}=1
    prof = fit_profile(CONF, CORR, domain="medical", source="verbalized", target_accuracy=0.9)
    assert prof.calibrate(0.1) == 0.0
    assert prof.calibrate(0.3) == pytest.approx(1 / 3)
    assert prof.calibrate(0.5) == pytest.approx(2 / 3)  # linear between knots 0.4 and 0.6
    assert prof.calibrate(0.0) == 0.0 and prof.calibrate(1.0) == 1.0
    grid = [prof.calibrate(x) for x in np.linspace(0, 1, 101)]
    assert all(b >= a for a, b in itertools.pairwise(grid))
    assert prof.n == 8 and prof.accuracy == 0.625
    assert prof.thresholds[0].threshold == 0.6
    path = prof.save(tmp_path / "cal" / "medical.json")
    loaded = CalibrationProfile.load(path)
    assert loaded == prof
    raw = json.loads(path.read_text())
    assert raw["domain"] == "medical" and raw["source"] == "verbalized"
    assert raw["map"]["method"] == "isotonic" and raw["data_hash"].startswith("sha256:")


def test_data_hash_ignores_record_order() -> None:
    a = fit_profile(CONF, CORR, domain="d", source="s")
    b = fit_profile(CONF[::-1], CORR[::-1], domain="d", source="s")
    c = fit_profile(CONF, [*CORR[:-1], 0], domain="d", source="s")
    assert a.data_hash == b.data_hash != c.data_hash


def test_histogram_profile_is_monotone_and_binned() -> None:
    prof = fit_profile(CONF, CORR, domain="d", source="s", method="histogram", n_bins=5)
    # bins (0,.2]: {0.1, 0.2} acc 0.5; (.2,.4]: {0.3, 0.4} acc 0 -> PAV pools to 0.25;
    # (.4,.6]: {0.6} 1; (.6,.8]: {0.7} 1; (.8,1]: {0.9, 0.95} 1
    assert prof.map.y == pytest.approx([0.25, 0.25, 1.0, 1.0, 1.0])
    assert prof.calibrate(0.4) == pytest.approx(0.25)  # right-closed: 0.4 in (0.2, 0.4]
    assert prof.calibrate(0.41) == 1.0


def test_calibrate_rejects_out_of_range() -> None:
    prof = fit_profile(CONF, CORR, domain="d", source="s")
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError):
            prof.calibrate(bad)


def test_load_rejects_broken_profile(tmp_path: Path) -> None:
    prof = fit_profile(CONF, CORR, domain="d", source="s")
    data = json.loads(prof.model_dump_json())
    data["map"]["y"] = list(reversed(data["map"]["y"]))
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="non-decreasing"):
        CalibrationProfile.load(p)


# thresholds, by hand: sorted by confidence, cumulative accuracy of the top i answers is
# 1, 1, 1, 3/4, 4/5, 4/6
TC = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
TY = [1, 1, 1, 0, 1, 0]


def test_threshold_for_target_accuracy() -> None:
    t = fit_threshold(TC, TY, target_accuracy=0.8)
    assert (t.threshold, t.n_accepted, t.n_correct, t.reached) == (0.6, 5, 4, True)
    assert t.coverage is not None and t.coverage.estimate == pytest.approx(5 / 6)
    t9 = fit_threshold(TC, TY, target_accuracy=0.9)
    assert (t9.threshold, t9.n_accepted) == (0.8, 3)


def test_threshold_lower_bound_method() -> None:
    # Clopper-Pearson 95 % lower bounds: 3/3 -> 0.025^(1/3) = 0.2924, 4/5 -> 0.2836
    # (scipy.stats.beta.ppf(0.025, 4, 2)), 4/6 -> 0.2228; target 0.28 -> 4/5 (coverage 5/6)
    t = fit_threshold(TC, TY, target_accuracy=0.28, method="lower_bound")
    assert (t.threshold, t.n_accepted) == (0.6, 5)
    # no top set has a lower bound >= 0.5 -> not reachable: abstain on everything
    none = fit_threshold(TC, TY, target_accuracy=0.5, method="lower_bound")
    assert (none.reached, none.threshold, none.n_accepted, none.accuracy) == (False, None, 0, None)


def test_threshold_for_target_coverage() -> None:
    t = fit_threshold(TC, TY, target_coverage=0.5)
    assert (t.threshold, t.n_accepted, t.n_correct) == (0.8, 3, 3)
    assert t.accuracy is not None and t.accuracy.low == pytest.approx(0.025 ** (1 / 3))


def test_threshold_argument_errors() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        fit_threshold(TC, TY)
    with pytest.raises(ValueError, match="exactly one"):
        fit_threshold(TC, TY, target_accuracy=0.9, target_coverage=0.5)
    with pytest.raises(ValueError, match="target accuracy"):
        fit_threshold(TC, TY, target_accuracy=1.5)
