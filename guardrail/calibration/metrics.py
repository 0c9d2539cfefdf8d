"""Calibration and selective-prediction metrics over arrays of confidences and correctness.

Inputs everywhere: ``confidences`` shape (n,), floats in [0, 1]; ``correct`` shape (n,), bool or
0/1. Outputs are pydantic models carrying the number *and* its per-bin table (every bin present,
empty bins with count 0 and ``None`` means). Bin convention: see :mod:`guardrail.calibration._core`
(bin ``b`` = ``(edge[b], edge[b+1]]``, bin 0 also holds 0.0).

ECE, Brier and Murphy on arrays bin the records directly with ``np.bincount`` (no sort). Every
public function also has a ``_from_table`` twin over a
:class:`~guardrail.calibration._core.TieTable`, which is how
:class:`~guardrail.calibration.CalibrationAccumulator` computes chunked audits; the two agree to
floating-point rounding (sums in record order vs in sorted-value order; tested to 1e-12).
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, computed_field

from guardrail.calibration._core import (
    Binning,
    BinSums,
    TieTable,
    as_arrays,
    bin_sums,
    make_edges,
    mass_edges_of_records,
    record_bin_sums,
    width_edges,
)
from guardrail.calibration.stats import clopper_pearson

Norm = Literal["l1", "l2", "max", "l2_debiased"]


class BinRow(BaseModel):
    """One row of a reliability table.

    ``lower``/``upper`` are the bin edges (the bin is ``(lower, upper]``; bin 0 also holds
    ``lower``). ``mean_confidence``, ``accuracy``, ``gap`` (= accuracy - mean_confidence) and
    ``mean_squared_error`` (the bin's Brier score) are ``None`` for an empty bin.
    ``accuracy_low``/``accuracy_high`` are the 95 % Clopper-Pearson interval of the bin accuracy
    (Clopper & Pearson 1934), ``None`` for an empty bin; they are computed on first access (or
    when the row is serialized) and then cached, so a caller that only wants the ECE never pays
    for them.
    """

    model_config = ConfigDict(frozen=True)

    index: int
    lower: float
    upper: float
    count: int
    n_correct: int
    mean_confidence: float | None
    accuracy: float | None
    gap: float | None
    mean_squared_error: float | None

    @cached_property
    def _interval(self) -> tuple[float, float] | None:
        if self.count == 0:
            return None
        ci = clopper_pearson(self.n_correct, self.count, 0.95)
        return ci.low, ci.high

    @computed_field  # type: ignore[prop-decorator]
    @property
    def accuracy_low(self) -> float | None:
        """Lower end of the 95 % Clopper-Pearson interval of ``accuracy`` (None if empty)."""
        ci = self._interval
        return None if ci is None else ci[0]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def accuracy_high(self) -> float | None:
        """Upper end of the 95 % Clopper-Pearson interval of ``accuracy`` (None if empty)."""
        ci = self._interval
        return None if ci is None else ci[1]


class CalibrationErrorResult(BaseModel):
    """A binned calibration error and the table it came from.

    ``value`` is ECE (``norm="l1"``), RMSCE (``"l2"``), MCE (``"max"``) or the debiased L2
    estimate (``"l2_debiased"``), in confidence units [0, 1].
    """

    model_config = ConfigDict(frozen=True)

    value: float
    norm: Norm
    binning: Binning
    n_bins: int
    n: int
    accuracy: float
    mean_confidence: float
    bins: list[BinRow]


class BrierResult(BaseModel):
    """Brier score ``(1/N) sum (c_i - y_i)^2`` in [0, 1] plus the per-bin table."""

    model_config = ConfigDict(frozen=True)

    value: float
    n: int
    bins: list[BinRow]


class MurphyDecomposition(BaseModel):
    """Binned Murphy decomposition of the Brier score; the identity
    ``brier = reliability - resolution + uncertainty + residual`` closes to rounding error.

    ``residual = within_bin_variance - within_bin_covariance`` (Stephenson, Coelho & Jolliffe 2008,
    "Two extra components in the Brier score decomposition", Weather and Forecasting 23(4)); it is
    0 when all forecasts in each bin are equal.
    """

    model_config = ConfigDict(frozen=True)

    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within_bin_variance: float
    within_bin_covariance: float
    residual: float
    n: int
    bins: list[BinRow]


class AUROCResult(BaseModel):
    """Area under the ROC curve of confidence for separating correct (positive) from wrong answers.

    ``value`` is ``None`` (with ``reason``) when all answers are correct or all wrong.
    """

    model_config = ConfigDict(frozen=True)

    value: float | None
    n_correct: int
    n_wrong: int
    reason: str | None = None


class RiskCoveragePoint(BaseModel):
    """Accept every answer with confidence >= ``threshold``: its coverage, risk and accuracy."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    coverage: float
    risk: float
    accuracy: float
    n_accepted: int
    n_correct: int


class RiskCoverageCurve(BaseModel):
    """Risk-coverage curve, one point per group of tied confidences, highest confidence first.

    ``aurc`` is the area under it (right-endpoint step integral), ``optimal_aurc`` the area for an
    oracle ranking with the same accuracy, ``eaurc = aurc - optimal_aurc`` (Geifman, Uziel &
    El-Yaniv 2019, arXiv 1805.08206). All in [0, 1].
    """

    model_config = ConfigDict(frozen=True)

    points: list[RiskCoveragePoint]
    n: int
    aurc: float
    optimal_aurc: float
    eaurc: float


class AURCResult(BaseModel):
    """AURC and E-AURC (see :class:`RiskCoverageCurve`)."""

    model_config = ConfigDict(frozen=True)

    aurc: float
    eaurc: float
    optimal_aurc: float
    n: int


# ---------------------------------------------------------------------------------------------
# table-level implementations


def bin_rows(sums: BinSums) -> list[BinRow]:
    """The reliability table of ``sums``: B rows (intervals are computed lazily, see BinRow)."""
    rows: list[BinRow] = []
    for b in range(sums.count.shape[0]):
        n_b = int(sums.count[b])
        k_b = int(sums.n_correct[b])
        if n_b == 0:
            rows.append(
                BinRow(
                    index=b,
                    lower=float(sums.edges[b]),
                    upper=float(sums.edges[b + 1]),
                    count=0,
                    n_correct=0,
                    mean_confidence=None,
                    accuracy=None,
                    gap=None,
                    mean_squared_error=None,
                )
            )
            continue
        conf_b = float(sums.sum_conf[b]) / n_b
        acc_b = k_b / n_b
        mse: float | None = None
        if sums.sum_conf_sq is not None and sums.sum_conf_correct is not None:
            mse = (float(sums.sum_conf_sq[b]) - 2.0 * float(sums.sum_conf_correct[b]) + k_b) / n_b
            mse = max(mse, 0.0)
        rows.append(
            BinRow(
                index=b,
                lower=float(sums.edges[b]),
                upper=float(sums.edges[b + 1]),
                count=n_b,
                n_correct=k_b,
                mean_confidence=conf_b,
                accuracy=acc_b,
                gap=acc_b - conf_b,
                mean_squared_error=mse,
            )
        )
    return rows


def _gaps(sums: BinSums) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = sums.count.astype(np.float64)
    nonempty = count > 0
    safe = np.where(nonempty, count, 1.0)
    acc = sums.n_correct / safe
    conf = sums.sum_conf / safe
    return acc - conf, count / count.sum(), nonempty


def calibration_error_value(sums: BinSums, norm: Norm) -> float:
    gap, weight, nonempty = _gaps(sums)
    if norm == "l1":
        return float(np.sum(weight * np.abs(gap)))
    if norm == "l2":
        return float(math.sqrt(np.sum(weight * gap * gap)))
    if norm == "max":
        return float(np.max(np.abs(gap[nonempty])))
    if norm == "l2_debiased":
        count = sums.count.astype(np.float64)
        acc = sums.n_correct / np.where(nonempty, count, 1.0)
        usable = count >= 2
        variance = np.where(usable, acc * (1.0 - acc) / np.where(usable, count - 1.0, 1.0), 0.0)
        per_bin = np.where(usable, gap * gap - variance, 0.0)
        return float(math.sqrt(max(float(np.sum(weight * per_bin)), 0.0)))
    raise ValueError(f"norm must be one of 'l1', 'l2', 'max', 'l2_debiased', got {norm!r}")


def _check_norm(norm: str) -> None:
    if norm not in ("l1", "l2", "max", "l2_debiased"):
        raise ValueError(f"norm must be one of 'l1', 'l2', 'max', 'l2_debiased', got {norm!r}")


def calibration_error_from_sums(
    sums: BinSums, n_bins: int, binning: Binning, norm: Norm
) -> CalibrationErrorResult:
    n = sums.n
    return CalibrationErrorResult(
        value=calibration_error_value(sums, norm),
        norm=norm,
        binning=binning,
        n_bins=n_bins,
        n=n,
        accuracy=int(sums.n_correct.sum()) / n,
        mean_confidence=float(sums.sum_conf.sum()) / n,
        bins=bin_rows(sums),
    )


def calibration_error_from_table(
    table: TieTable,
    n_bins: int = 10,
    binning: Binning = "width",
    norm: Norm = "l1",
    edges: np.ndarray | None = None,
) -> CalibrationErrorResult:
    if table.n == 0:
        raise ValueError("no records")
    _check_norm(norm)
    e = make_edges(table, n_bins, binning) if edges is None else edges
    return calibration_error_from_sums(bin_sums(table, e, binning), n_bins, binning, norm)


def brier_from_table(table: TieTable, n_bins: int = 10, binning: Binning = "width") -> BrierResult:
    if table.n == 0:
        raise ValueError("no records")
    sums = bin_sums(table, make_edges(table, n_bins, binning), binning)
    return BrierResult(value=_brier_value(sums), n=sums.n, bins=bin_rows(sums))


def _brier_value(sums: BinSums) -> float:
    assert sums.sum_conf_sq is not None and sums.sum_conf_correct is not None
    total = float(sums.sum_conf_sq.sum()) - 2.0 * float(sums.sum_conf_correct.sum())
    total += int(sums.n_correct.sum())
    return max(total / sums.n, 0.0)


def murphy_from_sums(sums: BinSums) -> MurphyDecomposition:
    assert sums.sum_conf_sq is not None and sums.sum_conf_correct is not None
    n = sums.n
    count = sums.count.astype(np.float64)
    nonempty = count > 0
    safe = np.where(nonempty, count, 1.0)
    f_bar = np.where(nonempty, sums.sum_conf / safe, 0.0)
    o_bar = np.where(nonempty, sums.n_correct / safe, 0.0)
    base = int(sums.n_correct.sum()) / n
    reliability = float(np.sum(count * (f_bar - o_bar) ** 2)) / n
    resolution = float(np.sum(count * (o_bar - base) ** 2)) / n
    uncertainty = base * (1.0 - base)
    wbv = float(np.sum(sums.sum_conf_sq - count * f_bar * f_bar)) / n
    wbc = 2.0 * float(np.sum(sums.sum_conf_correct - count * f_bar * o_bar)) / n
    return MurphyDecomposition(
        brier=_brier_value(sums),
        reliability=reliability,
        resolution=resolution,
        uncertainty=uncertainty,
        within_bin_variance=wbv,
        within_bin_covariance=wbc,
        residual=wbv - wbc,
        n=n,
        bins=bin_rows(sums),
    )


def murphy_from_table(
    table: TieTable, n_bins: int = 10, binning: Binning = "width"
) -> MurphyDecomposition:
    if table.n == 0:
        raise ValueError("no records")
    return murphy_from_sums(bin_sums(table, make_edges(table, n_bins, binning), binning))


def _record_sums(conf: np.ndarray, corr: np.ndarray, n_bins: int, binning: Binning) -> BinSums:
    """Per-bin sums of validated records without building the tie table (the fast path)."""
    if binning == "width":
        edges = width_edges(n_bins)
    elif binning == "mass":
        edges = mass_edges_of_records(conf, n_bins)
    else:
        raise ValueError(f"binning must be 'width' or 'mass', got {binning!r}")
    return record_bin_sums(conf, corr, edges, binning)


def auroc_from_table(table: TieTable) -> AUROCResult:
    pos = table.n_correct.astype(np.float64)
    neg = table.n_wrong.astype(np.float64)
    n_pos, n_neg = int(table.n_correct.sum()), int(table.n_wrong.sum())
    if n_pos == 0 or n_neg == 0:
        which = "wrong" if n_pos == 0 else "correct"
        return AUROCResult(
            value=None,
            n_correct=n_pos,
            n_wrong=n_neg,
            reason=f"undefined: every answer is {which}",
        )
    neg_below = np.cumsum(neg) - neg
    u = float(np.sum(pos * (neg_below + 0.5 * neg)))
    return AUROCResult(value=u / (n_pos * n_neg), n_correct=n_pos, n_wrong=n_neg)


def _optimal_aurc(n: int, n_correct: int) -> float:
    # oracle ranking: all correct answers first; risk at i accepted = max(0, i - n_correct) / i
    if n_correct >= n:
        return 0.0
    i = np.arange(n_correct + 1, n + 1, dtype=np.float64)
    return float(np.sum((i - n_correct) / i)) / n


def risk_coverage_from_table(table: TieTable) -> RiskCoverageCurve:
    n = table.n
    if n == 0:
        raise ValueError("no records")
    # highest confidence first
    vals = table.values[::-1]
    pos = table.n_correct[::-1]
    cnt = table.counts[::-1]
    acc_n = np.cumsum(cnt)
    acc_pos = np.cumsum(pos)
    coverage = acc_n / n
    accuracy = acc_pos / acc_n
    risk = 1.0 - accuracy
    prev_cov = np.concatenate([[0.0], coverage[:-1]])
    aurc = float(np.sum((coverage - prev_cov) * risk))
    opt = _optimal_aurc(n, int(acc_pos[-1]))
    points = [
        RiskCoveragePoint(
            threshold=float(vals[i]),
            coverage=float(coverage[i]),
            risk=float(risk[i]),
            accuracy=float(accuracy[i]),
            n_accepted=int(acc_n[i]),
            n_correct=int(acc_pos[i]),
        )
        for i in range(vals.shape[0])
    ]
    return RiskCoverageCurve(points=points, n=n, aurc=aurc, optimal_aurc=opt, eaurc=aurc - opt)


def aurc_from_table(table: TieTable) -> AURCResult:
    n = table.n
    if n == 0:
        raise ValueError("no records")
    cnt = table.counts[::-1]
    acc_n = np.cumsum(cnt)
    risk = 1.0 - np.cumsum(table.n_correct[::-1]) / acc_n
    aurc = float(np.sum(cnt / n * risk))
    opt = _optimal_aurc(n, int(table.n_correct.sum()))
    return AURCResult(aurc=aurc, eaurc=aurc - opt, optimal_aurc=opt, n=n)


def accuracy_at_coverage_from_table(table: TieTable, coverage: float) -> RiskCoveragePoint:
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    n = table.n
    if n == 0:
        raise ValueError("no records")
    acc_n = np.cumsum(table.counts[::-1])
    # smallest tie-closed top set whose coverage reaches the target (exact integer comparison)
    i = int(np.searchsorted(acc_n, math.ceil(coverage * n - 1e-9 * n), side="left"))
    i = min(i, acc_n.shape[0] - 1)
    k = int(np.cumsum(table.n_correct[::-1])[i])
    m = int(acc_n[i])
    return RiskCoveragePoint(
        threshold=float(table.values[::-1][i]),
        coverage=m / n,
        risk=1.0 - k / m,
        accuracy=k / m,
        n_accepted=m,
        n_correct=k,
    )


# ---------------------------------------------------------------------------------------------
# public array API


def expected_calibration_error(
    confidences: ArrayLike,
    correct: ArrayLike,
    n_bins: int = 10,
    binning: Binning = "width",
    norm: Norm = "l1",
    *,
    percent: bool = False,
) -> CalibrationErrorResult:
    """Binned calibration error of confidences against correctness.

    With ``n_b`` answers in bin b, accuracy ``acc_b`` and mean confidence ``conf_b``:

    * ``norm="l1"``: ECE = sum_b (n_b/N) |acc_b - conf_b| (Naeini, Cooper & Hauskrecht 2015,
      AAAI; Guo et al. 2017, arXiv 1706.04599).
    * ``norm="l2"``: RMSCE = sqrt(sum_b (n_b/N) (acc_b - conf_b)^2) (Hendrycks et al. 2019,
      arXiv 1812.04606).
    * ``norm="max"``: MCE = max over non-empty bins |acc_b - conf_b| (Naeini et al. 2015).
    * ``norm="l2_debiased"``: sqrt(max(0, sum_b (n_b/N) [(acc_b - conf_b)^2 -
      acc_b (1 - acc_b) / (n_b - 1)])), bins with n_b < 2 contribute 0 (Kumar, Liang & Ma 2019,
      "Verified Uncertainty Calibration", arXiv 1909.10155).

    ``binning="width"``: B equal-width bins; ``"mass"``: B equal-mass bins with edges at the
    inverted-CDF quantiles of the confidences (Nixon et al. 2019, arXiv 1904.01685). Bin b is
    ``(edge[b], edge[b+1]]``, bin 0 also holds 0.0 (DESIGN.md).

    The per-bin sums come straight from the records with ``np.bincount`` (no sort); the
    Clopper-Pearson interval of each bin is computed only when a row's ``accuracy_low`` /
    ``accuracy_high`` is read or the result is serialized.

    Args:
        confidences: shape (n,), in [0, 1]: numpy of any float dtype (float16/float32 are read
            as the doubles they stand for, see ``_core.canonical_float64``), 0/1 integers, lists,
            pandas Series, objects with ``__array__``.
        correct: shape (n,), bool or 0/1.
        n_bins: number of bins B >= 1.
        percent: confidences are percentages in [0, 100] (required for integers other than 0/1).

    Returns:
        The value in [0, 1] with the full per-bin table (B rows, empty bins with count 0).

    Raises:
        ValueError: mismatched/empty/non-1-D inputs, NaN or out-of-range confidences, integers
            other than 0/1 without ``percent=True``, non-binary ``correct``, bad ``n_bins``,
            ``binning`` or ``norm``.
    """
    _check_norm(norm)
    conf, corr = as_arrays(confidences, correct, percent=percent)
    return calibration_error_from_sums(
        _record_sums(conf, corr, n_bins, binning), n_bins, binning, norm
    )


def brier_score(
    confidences: ArrayLike,
    correct: ArrayLike,
    n_bins: int = 10,
    binning: Binning = "width",
    *,
    percent: bool = False,
) -> BrierResult:
    """Brier score ``(1/N) sum_i (c_i - y_i)^2`` in [0, 1] (Brier 1950, Monthly Weather Review 78).

    The per-bin table gives each bin's own mean squared error. Shapes, binning and errors as in
    :func:`expected_calibration_error`.
    """
    conf, corr = as_arrays(confidences, correct, percent=percent)
    sums = _record_sums(conf, corr, n_bins, binning)
    return BrierResult(value=_brier_value(sums), n=sums.n, bins=bin_rows(sums))


def murphy_decomposition(
    confidences: ArrayLike,
    correct: ArrayLike,
    n_bins: int = 10,
    binning: Binning = "width",
    *,
    percent: bool = False,
) -> MurphyDecomposition:
    """Murphy (1973) decomposition of the Brier score over the calibration bins.

    With base rate ``o = mean(y)``, bin forecast mean ``f_b`` and bin outcome mean ``o_b``:
    ``REL = sum_b (n_b/N)(f_b - o_b)^2``, ``RES = sum_b (n_b/N)(o_b - o)^2``, ``UNC = o(1 - o)``
    (Murphy, "A new vector partition of the probability score", J. Appl. Meteor. 12, 1973).
    Binning forecasts adds within-bin variance ``WBV = (1/N) sum (c_i - f_b)^2`` and covariance
    ``WBC = (2/N) sum (c_i - f_b)(y_i - o_b)`` (Stephenson et al. 2008), so
    ``Brier = REL - RES + UNC + WBV - WBC`` exactly; ``residual = WBV - WBC``.

    Shapes, binning and errors as in :func:`expected_calibration_error`.
    """
    conf, corr = as_arrays(confidences, correct, percent=percent)
    return murphy_from_sums(_record_sums(conf, corr, n_bins, binning))


def auroc(confidences: ArrayLike, correct: ArrayLike, *, percent: bool = False) -> AUROCResult:
    """AUROC of confidence as a score for "this answer is correct".

    ``AUROC = P(c+ > c-) + 0.5 P(c+ = c-)`` over pairs of a correct and a wrong answer (the
    Mann-Whitney U statistic / (n+ n-); Hanley & McNeil 1982, Radiology 143). Ties count one half.
    Used for LLM uncertainty by Kuhn, Gal & Farquhar 2023 (arXiv 2302.09664). ``value`` is ``None``
    when every answer is correct or every answer is wrong.

    Raises:
        ValueError: as in :func:`expected_calibration_error`.
    """
    conf, corr = as_arrays(confidences, correct, percent=percent)
    return auroc_from_table(TieTable.from_arrays(conf, corr))


def risk_coverage(
    confidences: ArrayLike, correct: ArrayLike, *, percent: bool = False
) -> RiskCoverageCurve:
    """Risk-coverage curve of selective prediction (El-Yaniv & Wiener 2010, JMLR 11).

    Answers are accepted from the highest confidence down; each group of tied confidences is one
    point (a threshold cannot split a tie), so shuffling tied records changes nothing.
    ``AURC = sum_g (coverage_g - coverage_{g-1}) * risk_g``, the right-endpoint integral of the
    curve; without ties it equals the per-answer average risk of Geifman, Uziel & El-Yaniv 2019
    ("Bias-Reduced Uncertainty Estimation for Deep Neural Classifiers", arXiv 1805.08206).
    ``E-AURC = AURC - AURC*`` with ``AURC* = (1/N) sum_{i > K} (i - K) / i`` for K correct answers,
    the exact discrete area of an oracle ranking (≈ r + (1 - r) ln(1 - r) for risk r).

    Raises:
        ValueError: as in :func:`expected_calibration_error`.
    """
    conf, corr = as_arrays(confidences, correct, percent=percent)
    return risk_coverage_from_table(TieTable.from_arrays(conf, corr))


def aurc(confidences: ArrayLike, correct: ArrayLike, *, percent: bool = False) -> AURCResult:
    """AURC and E-AURC, as defined in :func:`risk_coverage` (no curve points materialised)."""
    conf, corr = as_arrays(confidences, correct, percent=percent)
    return aurc_from_table(TieTable.from_arrays(conf, corr))


def accuracy_at_coverage(
    confidences: ArrayLike, correct: ArrayLike, coverage: float, *, percent: bool = False
) -> RiskCoveragePoint:
    """Selective accuracy when accepting the most confident answers up to ``coverage`` in (0, 1].

    The accepted set is the smallest tie-closed top set with coverage >= the target, so the
    returned ``coverage`` can exceed the request when a tie straddles it.

    Raises:
        ValueError: ``coverage`` outside (0, 1] or bad inputs as in
            :func:`expected_calibration_error`.
    """
    conf, corr = as_arrays(confidences, correct, percent=percent)
    return accuracy_at_coverage_from_table(TieTable.from_arrays(conf, corr), coverage)
