"""Fit the confidence threshold that reaches a target selective accuracy or coverage.

Answers with raw confidence >= ``threshold`` pass; the rest are abstained on / sent to review
(selective prediction, El-Yaniv & Wiener 2010, JMLR 11; Geifman & El-Yaniv 2017, "Selective
Classification for Deep Neural Networks", arXiv 1705.08500). Coverage and accuracy of the passed
set come with exact Clopper-Pearson intervals.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict

from guardrail.calibration._core import TieTable, as_arrays
from guardrail.calibration.metrics import accuracy_at_coverage_from_table
from guardrail.calibration.stats import BinomialInterval, clopper_pearson

ThresholdMethod = Literal["point", "lower_bound"]


class FittedThreshold(BaseModel):
    """A fitted acceptance threshold on the raw confidence.

    ``threshold`` is ``None`` when no threshold reaches the target (then every answer should be
    abstained on). ``coverage``/``accuracy`` are the passed set's share of all answers and its
    accuracy, with 95 % Clopper-Pearson intervals.
    """

    model_config = ConfigDict(frozen=True)

    target: Literal["accuracy", "coverage"]
    target_value: float
    method: ThresholdMethod
    reached: bool
    threshold: float | None
    n: int
    n_accepted: int
    n_correct: int
    coverage: BinomialInterval | None
    accuracy: BinomialInterval | None


def _result(
    target: Literal["accuracy", "coverage"],
    value: float,
    method: ThresholdMethod,
    threshold: float | None,
    n: int,
    m: int,
    k: int,
    level: float,
) -> FittedThreshold:
    return FittedThreshold(
        target=target,
        target_value=value,
        method=method,
        reached=threshold is not None,
        threshold=threshold,
        n=n,
        n_accepted=m,
        n_correct=k,
        coverage=clopper_pearson(m, n, level),
        accuracy=clopper_pearson(k, m, level) if m > 0 else None,
    )


def threshold_for_accuracy_from_table(
    table: TieTable, target: float, method: ThresholdMethod = "point", level: float = 0.95
) -> FittedThreshold:
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target accuracy must be in (0, 1], got {target}")
    n = table.n
    if n == 0:
        raise ValueError("no records")
    vals = table.values[::-1]
    acc_n = np.cumsum(table.counts[::-1])
    acc_k = np.cumsum(table.n_correct[::-1])
    # exact rational comparison k / m >= target, with 1e-12 slack for a target like 0.9
    ok = acc_k >= acc_n * target - 1e-9
    candidates = np.flatnonzero(ok)[::-1]  # largest coverage first
    for i in candidates.tolist():
        m, k = int(acc_n[i]), int(acc_k[i])
        if method == "lower_bound" and clopper_pearson(k, m, level).low < target:
            continue
        return _result("accuracy", target, method, float(vals[i]), n, m, k, level)
    return _result("accuracy", target, method, None, n, 0, 0, level)


def threshold_for_coverage_from_table(
    table: TieTable, target: float, level: float = 0.95
) -> FittedThreshold:
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target coverage must be in (0, 1], got {target}")
    p = accuracy_at_coverage_from_table(table, target)
    return _result(
        "coverage", target, "point", p.threshold, table.n, p.n_accepted, p.n_correct, level
    )


def fit_threshold(
    confidences: ArrayLike,
    correct: ArrayLike,
    target_accuracy: float | None = None,
    target_coverage: float | None = None,
    method: ThresholdMethod = "point",
    level: float = 0.95,
    *,
    percent: bool = False,
) -> FittedThreshold:
    """Fit the pass threshold for a target selective accuracy *or* a target coverage.

    * ``target_accuracy=a``: the lowest threshold (largest coverage) whose passed set has
      accuracy >= a (``method="point"``) or whose Clopper-Pearson lower bound is >= a
      (``method="lower_bound"``, a conservative, SGR-like choice after Geifman & El-Yaniv 2017).
      Thresholds sit on observed confidences; ties pass or fail together.
    * ``target_coverage=c``: the highest threshold passing at least a share c of the answers.

    Raises:
        ValueError: neither or both targets, a target outside (0, 1], or bad inputs.
    """
    if (target_accuracy is None) == (target_coverage is None):
        raise ValueError("give exactly one of target_accuracy or target_coverage")
    conf, corr = as_arrays(confidences, correct, percent=percent)
    table = TieTable.from_arrays(conf, corr)
    if target_accuracy is not None:
        return threshold_for_accuracy_from_table(table, target_accuracy, method, level)
    assert target_coverage is not None
    if math.isnan(target_coverage):
        raise ValueError("target coverage is NaN")
    return threshold_for_coverage_from_table(table, target_coverage, level)
