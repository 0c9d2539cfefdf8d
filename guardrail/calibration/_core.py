"""Shared internals: input validation, the tie table, bin edges, bin assignment, per-bin sums.

Every metric in :mod:`guardrail.calibration` is computed from a *tie table*: the sorted unique
confidence values with, for each, the number of correct and wrong answers at exactly that value.
The table is canonical (it does not depend on record order or on how the records were split into
chunks), and all sums are taken over it in sorted order, so a chunked audit merged with
:class:`~guardrail.calibration.CalibrationAccumulator` gives bit-for-bit the same numbers as a
one-shot audit of the same records.

Bin convention (``/work/shared/DESIGN.md``): bin ``b`` holds ``(edge[b], edge[b+1]]``, bin 0 also
holds 0.0 and the last bin holds 1.0. Equal-width bins are assigned with rational arithmetic,
``b = ceil(x * B - B * EDGE_TOLERANCE) - 1`` clipped to ``[0, B - 1]``: a confidence within
``EDGE_TOLERANCE`` (1e-9) of an edge ``k / B`` counts as lying on that edge, so 0.3, 0.1 + 0.2, 3/10
and 30/100 all land in bin ``(0.2, 0.3]`` whichever way they were computed. Equal-mass (quantile)
edges are data values, so assignment there is an exact ``searchsorted`` on the interior edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Binning = Literal["width", "mass"]
EDGE_TOLERANCE = 1e-9
"""Confidences closer than this to an equal-width edge count as lying on the edge."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def as_arrays(confidences: ArrayLike, correct: ArrayLike) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Validate ``(confidences, correct)`` and convert them to float64 / bool arrays, shape (n,).

    Raises:
        ValueError: shapes differ or are not 1-D, n == 0, a confidence is NaN/inf or outside
            [0, 1], or a ``correct`` value is not boolean / 0 / 1.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    corr_raw = np.asarray(correct)
    if conf.ndim != 1 or corr_raw.ndim != 1:
        raise ValueError(
            f"confidences and correct must be 1-D arrays, got shapes {conf.shape} and "
            f"{corr_raw.shape}"
        )
    if conf.shape != corr_raw.shape:
        raise ValueError(
            f"confidences and correct differ in length: {conf.shape[0]} vs {corr_raw.shape[0]}"
        )
    if conf.shape[0] == 0:
        raise ValueError("no records: confidences is empty")
    if not np.all(np.isfinite(conf)):
        bad = int(np.flatnonzero(~np.isfinite(conf))[0])
        raise ValueError(f"confidence at index {bad} is not a finite number: {conf[bad]!r}")
    if conf.min() < 0.0 or conf.max() > 1.0:
        bad = int(np.flatnonzero((conf < 0.0) | (conf > 1.0))[0])
        raise ValueError(
            f"confidence at index {bad} is {conf[bad]!r}, outside [0, 1] "
            "(percentages must be divided by 100 first)"
        )
    if corr_raw.dtype == np.bool_:
        corr = corr_raw
    else:
        corr_num = corr_raw.astype(np.float64)
        ok = (corr_num == 0.0) | (corr_num == 1.0)
        if not np.all(ok):
            bad = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"correct at index {bad} is {corr_raw[bad]!r}; expected 0/1 or bool")
        corr = corr_num == 1.0
    return conf, corr


@dataclass(frozen=True)
class TieTable:
    """Sorted unique confidences with the number of correct / wrong answers at each (shape (k,))."""

    values: FloatArray
    n_correct: IntArray
    n_wrong: IntArray

    @property
    def n(self) -> int:
        return int(self.n_correct.sum() + self.n_wrong.sum())

    @property
    def counts(self) -> IntArray:
        return self.n_correct + self.n_wrong

    @staticmethod
    def from_arrays(conf: FloatArray, corr: NDArray[np.bool_]) -> TieTable:
        """Build the table with one sort of 64-bit keys.

        For doubles >= +0.0 the IEEE-754 bit pattern orders like the value, so
        ``key = bits(conf) << 1 | correct`` sorts by confidence; runs of equal ``key >> 1`` are
        the ties and the low bit counts the correct answers in each run.
        """
        if conf.shape[0] == 0:
            return TieTable.empty()
        c = conf + 0.0 if np.signbit(conf).any() else conf  # -0.0 -> +0.0
        key = (np.ascontiguousarray(c, dtype=np.float64).view(np.uint64) << np.uint64(1)) | (
            corr.astype(np.uint64)
        )
        key.sort()
        bits = key >> np.uint64(1)
        first = np.empty(key.shape[0], dtype=bool)
        first[0] = True
        np.not_equal(bits[1:], bits[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        values = bits[starts].view(np.float64)
        total = np.diff(np.append(starts, key.shape[0])).astype(np.int64)
        n_correct = np.add.reduceat((key & np.uint64(1)).astype(np.int64), starts)
        return TieTable(values, n_correct.astype(np.int64), total - n_correct)

    @staticmethod
    def empty() -> TieTable:
        return TieTable(
            np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        )

    def merge(self, other: TieTable) -> TieTable:
        values, inverse = np.unique(
            np.concatenate([self.values, other.values]), return_inverse=True
        )
        k = values.shape[0]
        pos = np.concatenate([self.n_correct, other.n_correct]).astype(np.float64)
        neg = np.concatenate([self.n_wrong, other.n_wrong]).astype(np.float64)
        # counts are integers < 2**53, so float64 bincount sums are exact
        n_correct = np.bincount(inverse, weights=pos, minlength=k).astype(np.int64)
        n_wrong = np.bincount(inverse, weights=neg, minlength=k).astype(np.int64)
        return TieTable(values, n_correct, n_wrong)

    def expand(self) -> tuple[FloatArray, NDArray[np.bool_]]:
        """Per-record arrays (sorted by confidence; correct before wrong within a tie)."""
        reps = np.column_stack([self.n_correct, self.n_wrong]).ravel()
        conf = np.repeat(np.repeat(self.values, 2), reps)
        corr = np.repeat(np.tile(np.array([True, False]), self.values.shape[0]), reps)
        return conf, corr


def width_edges(n_bins: int) -> FloatArray:
    """Equal-width edges ``b / n_bins`` (the doubles nearest the fractions), shape (B+1,)."""
    check_n_bins(n_bins)
    return np.arange(n_bins + 1, dtype=np.float64) / n_bins


def check_n_bins(n_bins: int) -> None:
    if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")


def mass_edges(table: TieTable, n_bins: int) -> FloatArray:
    """Equal-mass (quantile) edges, shape (B+1,): ``edge[0] = 0``, ``edge[B] = 1`` and, for
    ``0 < b < B``, ``edge[b]`` is the smallest observed confidence ``x`` with empirical CDF
    ``F(x) >= b / B`` (the inverted-CDF quantile, Hyndman & Fan 1996 definition 1). With
    right-closed bins this puts the ``ceil(b N / B)`` lowest confidences (and their ties) in
    bins ``0..b-1``; tied confidences always share a bin, so some bins can be empty.
    """
    check_n_bins(n_bins)
    n = table.n
    if n == 0:
        raise ValueError("no records: cannot place equal-mass edges")
    cum = np.cumsum(table.counts) * n_bins  # exact integer comparison cum / N >= b / B
    targets = np.arange(1, n_bins, dtype=np.int64) * n
    idx = np.searchsorted(cum, targets, side="left")
    edges = np.empty(n_bins + 1, dtype=np.float64)
    edges[0] = 0.0
    edges[-1] = 1.0
    edges[1:-1] = table.values[idx]
    return edges


def make_edges(table: TieTable, n_bins: int, binning: Binning) -> FloatArray:
    if binning == "width":
        return width_edges(n_bins)
    if binning == "mass":
        return mass_edges(table, n_bins)
    raise ValueError(f"binning must be 'width' or 'mass', got {binning!r}")


def assign_bins(x: FloatArray, edges: FloatArray, binning: Binning | Literal["custom"]) -> IntArray:
    """Bin index of each confidence under DESIGN.md's right-closed rule, shape like ``x``.

    ``edges`` (shape (B+1,), increasing, 0 and 1 at the ends) are the bin edges; bin ``b`` holds
    ``(edges[b], edges[b+1]]`` and bin 0 also holds 0.0. ``binning="width"`` means the edges are
    :func:`width_edges` and uses the tolerant rule of :func:`bin_index`; any other value places
    ``x`` by ``searchsorted`` on the inner edges (for stored or equal-mass edges). Never raises for
    values in [0, 1]; values outside are clipped into the first or last bin."""
    n_bins = edges.shape[0] - 1
    if binning == "width":
        idx = np.ceil(x * n_bins - n_bins * EDGE_TOLERANCE).astype(np.int64) - 1
    else:
        idx = np.searchsorted(edges[1:-1], x, side="left").astype(np.int64)
    out: IntArray = np.clip(idx, 0, n_bins - 1).astype(np.int64)
    return out


def bin_index(confidences: ArrayLike, n_bins: int = 10, binning: Binning = "width") -> IntArray:
    """Bin of each confidence (shape (n,), values in ``0..n_bins-1``) under DESIGN.md's rule.

    Bin ``b`` holds ``(edge[b], edge[b+1]]``; bin 0 also holds 0.0; the last bin holds 1.0.
    Equal-width: ``b = clip(ceil(x * B - B * 1e-9) - 1, 0, B - 1)``, so values within 1e-9 of an
    edge count as on it (0.3 computed any way lands in ``(0.2, 0.3]``). Equal-mass: edges from
    :func:`mass_edges` over these confidences.

    Raises:
        ValueError: on NaN / out-of-range confidences or a bad ``n_bins`` / ``binning``.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    conf, corr = as_arrays(conf, np.zeros(conf.shape, dtype=bool))
    table = TieTable.from_arrays(conf, corr)
    edges = make_edges(table, n_bins, binning)
    return assign_bins(conf, edges, binning)


@dataclass(frozen=True)
class BinSums:
    """Per-bin sums over the tie table, each shape (B,)."""

    edges: FloatArray
    count: IntArray
    n_correct: IntArray
    sum_conf: FloatArray
    sum_conf_sq: FloatArray
    sum_conf_correct: FloatArray

    @property
    def n(self) -> int:
        return int(self.count.sum())


def bin_sums(table: TieTable, edges: FloatArray, binning: Binning | Literal["custom"]) -> BinSums:
    n_bins = edges.shape[0] - 1
    b = assign_bins(table.values, edges, binning)
    counts = table.counts.astype(np.float64)
    pos = table.n_correct.astype(np.float64)
    v = table.values
    return BinSums(
        edges=edges,
        count=np.bincount(b, weights=counts, minlength=n_bins).astype(np.int64),
        n_correct=np.bincount(b, weights=pos, minlength=n_bins).astype(np.int64),
        sum_conf=np.bincount(b, weights=v * counts, minlength=n_bins).astype(np.float64),
        sum_conf_sq=np.bincount(b, weights=v * v * counts, minlength=n_bins).astype(np.float64),
        sum_conf_correct=np.bincount(b, weights=v * pos, minlength=n_bins).astype(np.float64),
    )
