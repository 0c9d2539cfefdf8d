"""Weighted isotonic regression by the pool-adjacent-violators algorithm (PAV).

Source: Ayer, Brunk, Ewing, Reid & Silverman, "An empirical distribution function for sampling
with incomplete information", Ann. Math. Statist. 26(4), 1955; used for classifier calibration by
Zadrozny & Elkan, "Transforming classifier scores into accurate multiclass probability estimates",
KDD 2002.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def pav(y: ArrayLike, w: ArrayLike | None = None) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Non-decreasing least-squares fit to ``y`` (already ordered by x) with weights ``w``.

    Minimises ``sum_i w_i (f_i - y_i)^2`` subject to ``f_1 <= f_2 <= ... <= f_n``.

    Args:
        y: shape (n,), values in x order. w: shape (n,), positive weights (default 1).

    Returns:
        ``(block_values, block_ends)``: the fitted value of each pooled block (non-decreasing)
        and, for each block, the index one past its last member; ``f`` is
        ``np.repeat(block_values, np.diff([0, *block_ends]))``.

    Raises:
        ValueError: empty input, mismatched shapes, non-finite values or non-positive weights.
    """
    yv = np.asarray(y, dtype=np.float64)
    wv = np.ones_like(yv) if w is None else np.asarray(w, dtype=np.float64)
    if yv.ndim != 1 or yv.shape != wv.shape or yv.shape[0] == 0:
        raise ValueError("pav needs non-empty 1-D y and w of the same length")
    if not (np.all(np.isfinite(yv)) and np.all(np.isfinite(wv)) and np.all(wv > 0)):
        raise ValueError("pav needs finite y and finite positive weights")
    # stack of blocks: weighted sum, weight, end index
    sums: list[float] = []
    weights: list[float] = []
    ends: list[int] = []
    for i, (yi, wi) in enumerate(zip(yv.tolist(), wv.tolist(), strict=True)):
        s, ww = yi * wi, wi
        while sums and sums[-1] / weights[-1] >= s / ww:
            s += sums.pop()
            ww += weights.pop()
            ends.pop()
        sums.append(s)
        weights.append(ww)
        ends.append(i + 1)
    values = np.asarray(sums) / np.asarray(weights)
    return values, np.asarray(ends, dtype=np.int64)
