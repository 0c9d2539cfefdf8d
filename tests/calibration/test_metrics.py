"""Known-answer tests for the calibration metrics (worked by hand; sources cited per test)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from guardrail.calibration import (
    accuracy_at_coverage,
    aurc,
    auroc,
    brier_score,
    expected_calibration_error,
    murphy_decomposition,
    risk_coverage,
)


def test_ece_one_in_last_bin_not_extra_bin() -> None:
    # issue 3: [0.95, 1.0] / [1, 0], 15 bins: both in bin 14 = (14/15, 1]; acc 0.5, conf 0.975
    # -> ECE = |0.5 - 0.975| = 0.475. A library that puts 1.0 in an extra bin gets
    # 0.5 * 0.05 + 0.5 * 1.0 = 0.525.
    r = expected_calibration_error([0.95, 1.0], [1, 0], n_bins=15)
    assert r.value == pytest.approx(0.475, abs=1e-12)
    assert len(r.bins) == 15
    assert [b.count for b in r.bins] == [0] * 14 + [2]


def test_ece_zero_confidence_does_not_crash() -> None:
    # issue 3: [1, 1, 1, 1, 0] / [0, 0, 1, 1, 1], 2 bins: bin 1 = {1,1,1,1}: acc 0.5, conf 1
    # (gap 0.5, weight 0.8); bin 0 = {0.0}: acc 1, conf 0 (gap 1, weight 0.2) -> 0.4 + 0.2 = 0.6
    r = expected_calibration_error([1, 1, 1, 1, 0], [0, 0, 1, 1, 1], n_bins=2)
    assert r.value == pytest.approx(0.6, abs=1e-12)
    assert [b.count for b in r.bins] == [1, 4]


@pytest.mark.parametrize("binning", ["width", "mass"])
def test_ece_constant_confidence_both_binnings(binning: str) -> None:
    # issue 3: 100 answers at 0.95, 60 correct -> one non-empty bin, |0.6 - 0.95| = 0.35
    r = expected_calibration_error([0.95] * 100, [1] * 60 + [0] * 40, 10, binning)  # type: ignore[arg-type]
    assert r.value == pytest.approx(0.35, abs=1e-12)
    assert len(r.bins) == 10
    assert sum(b.count for b in r.bins) == 100
    assert sum(1 for b in r.bins if b.count == 0) == 9


def test_empty_bins_are_present_with_count_zero() -> None:
    r = expected_calibration_error([0.05, 0.95], [0, 1], n_bins=10)
    assert [b.count for b in r.bins] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    empty = r.bins[4]
    assert (empty.lower, empty.upper) == (0.4, 0.5)
    assert empty.mean_confidence is None and empty.accuracy is None
    assert r.value == pytest.approx(0.05, abs=1e-12)


# forecasts [0.2, 0.2, 0.8, 0.8, 0.8], outcomes [0, 1, 1, 1, 0] (issue 3, worked by hand):
# bin (0.1, 0.2]: n 2, conf 0.2, acc 0.5, gap +0.3; bin (0.7, 0.8]: n 3, conf 0.8, acc 2/3,
# gap -2/15.
F = [0.2, 0.2, 0.8, 0.8, 0.8]
Y = [0, 1, 1, 1, 0]


def test_norms_on_hand_example() -> None:
    # ECE = 0.4*0.3 + 0.6*(2/15) = 0.2; MCE = 0.3;
    # RMSCE = sqrt(0.4*0.09 + 0.6*(4/225)) = sqrt(0.046667) = 0.2160247
    assert expected_calibration_error(F, Y).value == pytest.approx(0.2, abs=1e-12)
    assert expected_calibration_error(F, Y, norm="max").value == pytest.approx(0.3, abs=1e-12)
    assert expected_calibration_error(F, Y, norm="l2").value == pytest.approx(
        np.sqrt(0.4 * 0.09 + 0.6 * 4 / 225), abs=1e-12
    )


def test_debiased_l2_kumar() -> None:
    # Kumar, Liang & Ma 2019 (arXiv 1909.10155) debiased estimator: one bin, 4 answers at 0.9,
    # 1 correct: acc 0.25, gap^2 = 0.4225, variance term acc(1-acc)/(n-1) = 0.1875/3 = 0.0625
    # -> sqrt(0.36) = 0.6 (plain RMSCE: 0.65)
    conf, corr = [0.9] * 4, [1, 0, 0, 0]
    assert expected_calibration_error(conf, corr, norm="l2_debiased").value == pytest.approx(0.6)
    assert expected_calibration_error(conf, corr, norm="l2").value == pytest.approx(0.65)
    # negative estimate clips at 0: 4 at 0.8 with 3 correct: 0.0025 - 0.0625 < 0
    assert expected_calibration_error([0.8] * 4, [1, 1, 1, 0], norm="l2_debiased").value == 0.0


def test_brier_known_answers() -> None:
    # issue 3: all correct at 1 -> 0; one wrong at 0.5 -> 0.25; one correct at 0.4 -> 0.36
    assert brier_score([1.0, 1.0, 1.0], [1, 1, 1]).value == 0.0
    assert brier_score([0.5], [0]).value == pytest.approx(0.25)
    assert brier_score([0.4], [1]).value == pytest.approx(0.36)


def test_murphy_decomposition_closes() -> None:
    # issue 3: Brier 0.28 = REL 0.046667 - RES 0.006667 + UNC 0.24 (forecasts equal within bins)
    m = murphy_decomposition(F, Y)
    assert m.brier == pytest.approx(0.28, abs=1e-12)
    assert m.reliability == pytest.approx(0.046667, abs=1e-6)
    assert m.resolution == pytest.approx(0.006667, abs=1e-6)
    assert m.uncertainty == pytest.approx(0.24, abs=1e-12)
    assert m.residual == pytest.approx(0.0, abs=1e-12)


def test_murphy_residual_with_spread_forecasts() -> None:
    # forecasts 0.1 and 0.3 share bin (0, 0.5] with 2 bins; outcomes 0, 1.
    # Brier = (0.01 + 0.49)/2 = 0.25; f_bar 0.2, o_bar 0.5 = base rate: REL 0.09, RES 0,
    # UNC 0.25; WBV = (0.01 + 0.01)/2 = 0.01; WBC = (2/2)((-0.1)(-0.5) + (0.1)(0.5)) = 0.1
    # -> 0.09 - 0 + 0.25 + 0.01 - 0.1 = 0.25 (Stephenson et al. 2008)
    m = murphy_decomposition([0.1, 0.3], [0, 1], n_bins=2)
    assert m.brier == pytest.approx(0.25)
    assert m.reliability == pytest.approx(0.09)
    assert m.within_bin_variance == pytest.approx(0.01)
    assert m.within_bin_covariance == pytest.approx(0.1)
    assert m.reliability - m.resolution + m.uncertainty + m.residual == pytest.approx(m.brier)


def test_murphy_identity_random() -> None:
    rng = np.random.default_rng(3)
    c = rng.random(5000)
    y = rng.random(5000) < c**1.5
    for binning in ("width", "mass"):
        m = murphy_decomposition(c, y, 15, binning)  # type: ignore[arg-type]
        assert m.reliability - m.resolution + m.uncertainty + m.residual == pytest.approx(
            m.brier, abs=1e-12
        )
        assert m.brier == pytest.approx(float(np.mean((c - y) ** 2)), abs=1e-12)


def test_auroc_with_ties_by_hand() -> None:
    # correct {0.9, 0.8}, wrong {0.8, 0.3}: pairs 1 + 1 + 0.5 + 1 = 3.5 of 4 -> 0.875
    assert auroc([0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0]).value == pytest.approx(0.875)


def test_auroc_undefined_when_one_class() -> None:
    r = auroc([0.9, 0.8], [1, 1])
    assert r.value is None and r.reason is not None and "correct" in r.reason


def test_risk_coverage_by_hand_with_ties() -> None:
    # groups from the top: 0.9 (1 correct) cov 1/4 risk 0; 0.8 (1 correct, 1 wrong) cov 3/4
    # risk 1/3; 0.3 (wrong) cov 1 risk 1/2. AURC = 1/4*0 + 1/2*1/3 + 1/4*1/2 = 0.2916667.
    # Oracle with K=2 of N=4: (1/4)(1/3 + 2/4) = 0.2083333; E-AURC = 0.0833333.
    c, y = [0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0]
    rc = risk_coverage(c, y)
    assert [(p.threshold, p.coverage, p.n_accepted) for p in rc.points] == [
        (0.9, 0.25, 1),
        (0.8, 0.75, 3),
        (0.3, 1.0, 4),
    ]
    assert [p.risk for p in rc.points] == pytest.approx([0.0, 1 / 3, 0.5])
    assert rc.aurc == pytest.approx(7 / 24)
    assert rc.optimal_aurc == pytest.approx(5 / 24)
    assert rc.eaurc == pytest.approx(2 / 24)
    a = aurc(c, y)
    assert (a.aurc, a.eaurc) == pytest.approx((rc.aurc, rc.eaurc))


def test_aurc_without_ties_equals_per_answer_mean_risk() -> None:
    # Geifman et al. 2019 (arXiv 1805.08206): mean over i of risk among the top i answers:
    # risks 0, 1/2, 1/3, 1/2 -> 1/3
    assert aurc([0.9, 0.7, 0.5, 0.3], [1, 0, 1, 0]).aurc == pytest.approx(1 / 3)


def test_aurc_invariant_to_shuffling_ties() -> None:
    c = [0.9, 0.8, 0.8, 0.8, 0.5, 0.5]
    y = [1, 1, 0, 0, 1, 0]
    values = set()
    for perm in itertools.permutations(range(6)):
        values.add(aurc([c[i] for i in perm], [y[i] for i in perm]).aurc)
    assert len(values) == 1
    # tie groups from the top: 0.9 (1 right) n=1 risk 0; 0.8 (1 right, 2 wrong) n=4 risk 2/4;
    # 0.5 (1 right, 1 wrong) n=6 risk 3/6 -> AURC = 1/6*0 + 3/6*1/2 + 2/6*1/2 = 5/12
    (value,) = values
    assert value == pytest.approx(5 / 12, abs=1e-15)


def test_accuracy_at_coverage_respects_ties() -> None:
    # asking for 50 % must take the whole 0.8 tie: 3 of 4 answers, 2 correct
    p = accuracy_at_coverage([0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0], 0.5)
    assert (p.n_accepted, p.n_correct, p.coverage, p.threshold) == (3, 2, 0.75, 0.8)
    assert p.accuracy == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("conf", "corr", "msg"),
    [
        ([], [], "empty"),
        ([0.5, 0.6], [1], "differ"),
        ([0.5], [2], "0/1"),
        ([float("nan")], [1], "finite"),
        ([50.0], [1], "outside"),
    ],
)
def test_bad_inputs_raise_clear_errors(conf: list[float], corr: list[int], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        expected_calibration_error(conf, corr)


def test_bad_binning_and_norm() -> None:
    with pytest.raises(ValueError, match="binning"):
        expected_calibration_error([0.5], [1], binning="log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="norm"):
        expected_calibration_error([0.5], [1], norm="l3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0.5], [1], n_bins=0)
