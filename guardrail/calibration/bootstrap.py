"""Percentile bootstrap confidence intervals for ECE, Brier score and accuracy.

Method: Efron & Tibshirani, *An Introduction to the Bootstrap* (1993), ch. 13 (percentile
interval). Each resample draws N answers with replacement; bin edges stay those of the full sample
(for equal-mass bins too), so the interval is for the calibration error under that fixed binning.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict

from guardrail.calibration._core import (
    Binning,
    TieTable,
    as_arrays,
    assign_bins,
    bin_sums,
    make_edges,
)
from guardrail.calibration.metrics import Norm, _brier_value, calibration_error_value


class Interval(BaseModel):
    """A point estimate with a two-sided interval ``[low, high]`` at ``level`` (e.g. 0.95)."""

    model_config = ConfigDict(frozen=True)

    estimate: float
    low: float
    high: float
    level: float
    method: str


class BootstrapResult(BaseModel):
    """Percentile bootstrap intervals for the calibration error (``norm``), Brier and accuracy."""

    model_config = ConfigDict(frozen=True)

    n: int
    n_resamples: int
    seed: int
    level: float
    n_bins: int
    binning: Binning
    norm: Norm
    ece: Interval
    brier: Interval
    accuracy: Interval


def _ce_from_bins(
    count: np.ndarray, n_correct: np.ndarray, sum_conf: np.ndarray, n: int, norm: Norm
) -> float:
    nonempty = count > 0
    safe = np.where(nonempty, count, 1.0)
    acc = n_correct / safe
    gap = acc - sum_conf / safe
    weight = count / n
    if norm == "l1":
        return float(np.sum(weight * np.abs(gap)))
    if norm == "l2":
        return float(np.sqrt(np.sum(weight * gap * gap)))
    if norm == "max":
        return float(np.max(np.abs(gap[nonempty])))
    usable = count >= 2
    var = np.where(usable, acc * (1.0 - acc) / np.where(usable, count - 1.0, 1.0), 0.0)
    return float(np.sqrt(max(float(np.sum(weight * np.where(usable, gap * gap - var, 0.0))), 0.0)))


def bootstrap_from_table(
    table: TieTable,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
    binning: Binning = "width",
    norm: Norm = "l1",
    progress: Callable[[int], None] | None = None,
) -> BootstrapResult:
    """:func:`bootstrap_ci` on records already in a :class:`TieTable` (the merged accumulator
    of a chunked audit): same method (percentile bootstrap, Efron & Tibshirani 1993, ch. 13),
    same arguments and result; a resample draws ``table.n`` records with replacement.

    Raises:
        ValueError: ``n_resamples < 1``, ``level`` outside (0, 1), or an empty table.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = table.n
    if n == 0:
        raise ValueError("no records")
    edges = make_edges(table, n_bins, binning)
    conf, corr = table.expand()  # sorted by confidence, so bins are contiguous runs
    bins = assign_bins(conf, edges, binning)
    counts_full = np.bincount(bins, minlength=n_bins)
    nonempty = np.flatnonzero(counts_full > 0)
    starts = np.searchsorted(bins, nonempty, side="left")
    corr_f = corr.astype(np.float64)
    sq_err = (conf - corr_f) ** 2
    rng = np.random.default_rng(seed)
    ece = np.empty(n_resamples)
    brier = np.empty(n_resamples)
    acc = np.empty(n_resamples)
    count = np.zeros(n_bins)
    n_corr = np.zeros(n_bins)
    s_conf = np.zeros(n_bins)
    buf = np.empty(n)
    for r in range(n_resamples):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        count[nonempty] = np.add.reduceat(w, starts)
        n_corr[nonempty] = np.add.reduceat(np.multiply(w, corr_f, out=buf), starts)
        s_conf[nonempty] = np.add.reduceat(np.multiply(w, conf, out=buf), starts)
        ece[r] = _ce_from_bins(count, n_corr, s_conf, n, norm)
        # multiply + sum rather than a BLAS dot: the dot's threads cost 10-30x more on a busy
        # machine (bench/bench_calibration.py)
        brier[r] = float(np.multiply(w, sq_err, out=buf).sum()) / n
        acc[r] = float(n_corr.sum()) / n
        if progress is not None:
            progress(1)
    alpha = 1.0 - level
    q = [alpha / 2.0, 1.0 - alpha / 2.0]

    def interval(samples: np.ndarray, estimate: float) -> Interval:
        lo, hi = np.quantile(samples, q)
        return Interval(
            estimate=estimate, low=float(lo), high=float(hi), level=level, method="percentile"
        )

    # point estimates from the canonical tie-table sums (identical to the metric functions)
    sums = bin_sums(table, edges, binning)
    return BootstrapResult(
        n=n,
        n_resamples=n_resamples,
        seed=seed,
        level=level,
        n_bins=n_bins,
        binning=binning,
        norm=norm,
        ece=interval(ece, calibration_error_value(sums, norm)),
        brier=interval(brier, _brier_value(sums)),
        accuracy=interval(acc, int(table.n_correct.sum()) / n),
    )


def bootstrap_ci(
    confidences: ArrayLike,
    correct: ArrayLike,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
    binning: Binning = "width",
    norm: Norm = "l1",
    progress: Callable[[int], None] | None = None,
    *,
    percent: bool = False,
) -> BootstrapResult:
    """Percentile bootstrap intervals (Efron & Tibshirani 1993) for ECE, Brier score and accuracy.

    Draws ``n_resamples`` samples of N answers with replacement from a ``numpy`` PCG64 generator
    seeded with ``seed`` (same seed, same intervals) and takes the ``(1-level)/2`` and
    ``(1+level)/2`` quantiles of each statistic. The calibration error uses ``norm`` and the full
    sample's bin edges.

    Args:
        confidences: shape (n,), floats in [0, 1]. correct: shape (n,), bool or 0/1.
        n_resamples: B >= 1 resamples. level: in (0, 1).
        progress: called with 1 after each resample (for progress bars).

    Raises:
        ValueError: bad inputs (see :func:`~guardrail.calibration.expected_calibration_error`),
            ``n_resamples < 1`` or ``level`` outside (0, 1).
    """
    conf, corr = as_arrays(confidences, correct, percent=percent)
    return bootstrap_from_table(
        TieTable.from_arrays(conf, corr), n_resamples, level, seed, n_bins, binning, norm, progress
    )
