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
and 30/100 all land in bin ``(0.2, 0.3]`` whichever way they were computed. That tolerance is a
double's: inputs of lower precision (float32, float16) are first mapped to the double they stand
for (:func:`canonical_float64`: the simple fraction or shortest decimal the dtype rounds to the
value), so the float type of the input never changes a bin. Equal-mass (quantile)
edges are data values, so assignment there is an exact ``searchsorted`` on the interior edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Binning = Literal["width", "mass"]
EDGE_TOLERANCE = 1e-9
"""Confidences closer than this to an equal-width edge count as lying on the edge."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


# Largest denominator snapped to per low-precision float dtype (see ``canonical_float64``). Two
# distinct fractions with denominators <= Q differ by >= 1/Q**2, and a fraction p/q differs from a
# two-decimal value k/100 by >= 1/(100 q) unless equal; both bounds exceed twice the dtype's
# half-spacing on [0, 1] (float32: 2**-24, float16: 2**-11 = 4.9e-4 < 1/(100*20)), so at most one
# such fraction rounds to a given float32/float16 value and no two-decimal value is ever moved.
SNAP_DENOMINATOR: dict[str, int] = {"float16": 20, "float32": 100}
_DIGITS = {"float16": 5, "float32": 9}


def _fractions(q_max: int) -> FloatArray:
    """Sorted unique doubles nearest to every fraction p/q in [0, 1] with q <= q_max."""
    vals = [p / q for q in range(1, q_max + 1) for p in range(q + 1)]
    return np.unique(np.asarray(vals, dtype=np.float64))


_FRACTION_TABLES: dict[str, tuple[FloatArray, FloatArray]] = {}


def _fraction_table(dtype: np.dtype[np.floating]) -> tuple[FloatArray, FloatArray]:
    """(fractions as doubles, the same fractions rounded to ``dtype`` and back), both sorted."""
    key = dtype.name
    if key not in _FRACTION_TABLES:
        exact = _fractions(SNAP_DENOMINATOR[key])
        rounded = exact.astype(dtype).astype(np.float64)
        if np.any(np.diff(rounded) <= 0):  # pragma: no cover - guarded by SNAP_DENOMINATOR
            raise AssertionError(f"fractions collide in {key}")
        _FRACTION_TABLES[key] = (exact, rounded)
    return _FRACTION_TABLES[key]


def canonical_float64(x: NDArray[np.floating]) -> FloatArray:
    """Map float16/float32 values in [0, 1] to the double they stand for; float64 is unchanged.

    A float32 ``0.3`` is stored as 0.30000001192..., a float16 ``0.3`` as 0.2998046875; binning
    those as they are puts them in another bin than the double 0.3 (the edge tolerance of 1e-9 is
    far below their resolution). Each value ``v`` of a lower-precision dtype ``T`` is therefore
    replaced by

    1. the fraction ``p/q`` with ``q <= SNAP_DENOMINATOR[T]`` (100 for float32, 20 for float16)
       that ``T`` rounds to ``v``, if there is one (at most one exists), as the nearest double;
       this makes every equal-width bin edge ``k/B`` with ``B <= 100`` (float32) or ``B <= 20``
       (float16), and 1/3, 2/3, exact; else
    2. the shortest decimal that ``T`` rounds to ``v`` (what ``repr``/``str`` of the value shows,
       ``np.format_float_positional(v, unique=True)``), as the nearest double: a float32 column
       of two- to five-decimal confidences gets back exactly those decimals.

    Either way ``T(result) == v``: no value moves by more than its own dtype's rounding, so the
    result is the input to within that dtype's resolution (float32: 2**-24 relative, float16:
    2**-11). On a 1/100 grid and on the edges of up to 20 equal-width bins, every dtype gives the
    identical double, hence identical bins and metrics. float16 values not on such a grid keep
    their float16 rounding (a float16 0.123 is 0.1230 only to ~3 significant digits).

    Args:
        x: any shape, a floating dtype; values should lie in [0, 1] (others pass through step 2).

    Returns:
        float64 array of the same shape.
    """
    if x.dtype.name not in SNAP_DENOMINATOR:
        return np.asarray(x, dtype=np.float64)
    dtype = x.dtype
    x64 = x.astype(np.float64)  # exact: every float16/float32 value is a double
    out = x64.copy()
    exact, rounded = _fraction_table(dtype)
    pos = np.clip(np.searchsorted(rounded, x64), 0, rounded.shape[0] - 1)
    hit = rounded[pos] == x64
    out[hit] = exact[pos[hit]]
    todo = np.flatnonzero(~hit & np.isfinite(x64) & (x64 > 0.0))
    if todo.size:
        v = x64[todo]
        res = v.copy()
        open_ = np.ones(v.shape[0], dtype=bool)
        # decimal exponent e with 10**e <= v < 10**(e+1); +-1 slips only change the digit count
        # tried first, and every count is tried in turn
        e = np.floor(np.log10(v)).astype(np.int64)
        for digits in range(1, _DIGITS[dtype.name] + 1):
            m = digits - 1 - e  # decimals kept
            ok_scale = open_ & (m >= 0) & (m <= 22)  # 10**m exact as a double
            if not ok_scale.any():
                continue
            idx = np.flatnonzero(ok_scale)
            scale = 10.0 ** m[idx].astype(np.float64)
            base = np.rint(v[idx] * scale)
            best = np.full(idx.shape[0], np.nan)
            best_err = np.full(idx.shape[0], np.inf)
            for delta in (0.0, -1.0, 1.0):
                cand = (base + delta) / scale  # integer / 10**m: the double nearest the decimal
                good = (cand.astype(dtype).astype(np.float64) == v[idx]) & (cand >= 0.0)
                err = np.abs(cand - v[idx])
                better = good & (err < best_err)
                best[better] = cand[better]
                best_err[better] = err[better]
            found = np.isfinite(best)
            res[idx[found]] = best[found]
            open_[idx[found]] = False
            if not open_.any():
                break
        out[todo] = res
    return out


def as_confidences(confidences: object, *, percent: bool = False) -> FloatArray:
    """Validate confidences and return them as float64, shape (n,).

    Accepts numpy arrays of any float or integer dtype, Python sequences, pandas Series and any
    object with ``__array__`` (a CPU torch tensor, a pyarrow array), via ``np.asarray``, without
    importing those libraries. float16/float32 values are mapped to the double they stand for by
    :func:`canonical_float64`, so binning does not depend on the float type.

    Args:
        confidences: shape (n,), in [0, 1]; with ``percent=True`` in [0, 100] (any numeric dtype,
            divided by 100 after the dtype mapping, so an integer 70 becomes the double 0.7).
        percent: the values are percentages. Integer input other than 0/1 requires it.

    Raises:
        ValueError: not 1-D, empty, not numeric, NaN/inf, outside the range, or integers other
            than 0/1 without ``percent=True``.
    """
    try:
        raw = np.asarray(confidences)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"confidences could not be read as an array: {exc}") from exc
    kind = raw.dtype.kind
    if kind in "iu":
        if raw.ndim == 1 and not percent and raw.size and not np.all((raw == 0) | (raw == 1)):
            bad = int(np.flatnonzero((raw != 0) & (raw != 1))[0])
            raise ValueError(
                f"confidence at index {bad} is the integer {raw[bad]!r}: integer confidences "
                "other than 0/1 are read only as percentages; pass percent=True (0-100) or "
                "floats in [0, 1]"
            )
        conf = raw.astype(np.float64)
    elif kind == "f":
        conf = canonical_float64(raw)
    elif kind == "b":
        conf = raw.astype(np.float64)
    elif kind == "O":
        try:
            conf = raw.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"confidences must be numbers: {exc}") from exc
    else:
        raise ValueError(f"confidences must be numbers, got an array of dtype {raw.dtype}")
    if conf.ndim != 1:
        raise ValueError(f"confidences must be a 1-D array, got shape {conf.shape}")
    if conf.shape[0] == 0:
        raise ValueError("no records: confidences is empty")
    if not np.isfinite(conf).all():
        bad = int(np.flatnonzero(~np.isfinite(conf))[0])
        raise ValueError(f"confidence at index {bad} is not a finite number: {conf[bad]!r}")
    top = 100.0 if percent else 1.0
    if conf.min() < 0.0 or conf.max() > top:
        bad = int(np.flatnonzero((conf < 0.0) | (conf > top))[0])
        hint = "percentages" if percent else "pass percent=True for percentages"
        raise ValueError(
            f"confidence at index {bad} is {conf[bad]!r}, outside [0, {top:g}] ({hint})"
        )
    if percent:
        conf = conf / 100.0
    return conf


def as_arrays(
    confidences: ArrayLike, correct: ArrayLike, *, percent: bool = False
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Validate ``(confidences, correct)`` and convert them to float64 / bool arrays, shape (n,).

    ``confidences`` as in :func:`as_confidences` (any float/int dtype, lists, pandas Series,
    ``__array__`` objects; float16/float32 mapped by :func:`canonical_float64`).

    Raises:
        ValueError: shapes differ or are not 1-D, n == 0, a confidence is NaN/inf or outside
            [0, 1] ([0, 100] with ``percent``), integers other than 0/1 without ``percent``, or a
            ``correct`` value is not boolean / 0 / 1.
    """
    corr_raw = np.asarray(correct)
    conf = as_confidences(confidences, percent=percent)
    if corr_raw.ndim != 1:
        raise ValueError(f"correct must be a 1-D array, got shape {corr_raw.shape}")
    if conf.shape != corr_raw.shape:
        raise ValueError(
            f"confidences and correct differ in length: {conf.shape[0]} vs {corr_raw.shape[0]}"
        )
    if corr_raw.dtype == np.bool_:
        corr = corr_raw
    else:
        try:
            corr_num = corr_raw.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"correct must be bool or 0/1: {exc}") from exc
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


def mass_edges_of_records(conf: FloatArray, n_bins: int) -> FloatArray:
    """:func:`mass_edges` computed from the records without sorting them, shape (B+1,).

    The smallest value ``x`` with ``count(conf <= x) * B >= b * N`` is the order statistic of
    rank ``ceil(b N / B)`` (1-based): every smaller value has fewer than ``b N / B`` records at or
    below it. ``np.partition`` finds those B-1 order statistics in O(N) per edge, so the edges
    equal :func:`mass_edges` of the tie table of ``conf`` exactly.
    """
    check_n_bins(n_bins)
    n = conf.shape[0]
    if n == 0:
        raise ValueError("no records: cannot place equal-mass edges")
    edges = np.empty(n_bins + 1, dtype=np.float64)
    edges[0] = 0.0
    edges[-1] = 1.0
    if n_bins > 1:
        b = np.arange(1, n_bins, dtype=np.int64)
        kth = (b * n + n_bins - 1) // n_bins - 1  # 0-based rank ceil(b N / B) - 1
        uniq = np.unique(kth)
        part = np.partition(conf, uniq)
        edges[1:-1] = part[kth] + 0.0  # -0.0 -> +0.0 like the tie table
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
        # ceil(x B - B tol) - 1 clipped to [0, B-1], clipped in floating point first (one pass
        # fewer over the records; values are small integers, exact in a double)
        t = x * n_bins
        t -= n_bins * EDGE_TOLERANCE
        np.ceil(t, out=t)
        np.clip(t, 1.0, float(n_bins), out=t)
        out: IntArray = t.astype(np.int64)
        out -= 1
        return out
    idx = np.searchsorted(edges[1:-1], x, side="left").astype(np.int64)
    out = np.clip(idx, 0, n_bins - 1).astype(np.int64)
    return out


def bin_index(
    confidences: ArrayLike, n_bins: int = 10, binning: Binning = "width", *, percent: bool = False
) -> IntArray:
    """Bin of each confidence (shape (n,), values in ``0..n_bins-1``) under DESIGN.md's rule.

    Bin ``b`` holds ``(edge[b], edge[b+1]]``; bin 0 also holds 0.0; the last bin holds 1.0.
    Equal-width: ``b = clip(ceil(x * B - B * 1e-9) - 1, 0, B - 1)``, so values within 1e-9 of an
    edge count as on it (0.3 computed any way lands in ``(0.2, 0.3]``). Equal-mass: edges from
    :func:`mass_edges` over these confidences. Inputs are read by :func:`as_confidences`, so a
    float32 or float16 0.3 lands in the same bin as the double 0.3 (:func:`canonical_float64`).

    Args:
        confidences: shape (n,), in [0, 1] (any float dtype, 0/1 integers, lists, pandas Series,
            ``__array__`` objects); ``percent=True``: in [0, 100], any numeric dtype.

    Raises:
        ValueError: on NaN / out-of-range confidences, integers other than 0/1 without
            ``percent=True``, or a bad ``n_bins`` / ``binning``.
    """
    conf = as_confidences(confidences, percent=percent)
    check_n_bins(n_bins)
    if binning == "width":
        return assign_bins(conf, width_edges(n_bins), "width")
    table = TieTable.from_arrays(conf, np.zeros(conf.shape, dtype=bool))
    edges = make_edges(table, n_bins, binning)
    return assign_bins(conf, edges, binning)


@dataclass(frozen=True)
class BinSums:
    """Per-bin sums, each shape (B,); the second moments are ``None`` when not asked for."""

    edges: FloatArray
    count: IntArray
    n_correct: IntArray
    sum_conf: FloatArray
    sum_conf_sq: FloatArray | None
    sum_conf_correct: FloatArray | None

    @property
    def n(self) -> int:
        return int(self.count.sum())


def bin_sums(table: TieTable, edges: FloatArray, binning: Binning | Literal["custom"]) -> BinSums:
    """Per-bin sums over the tie table (sums taken in sorted-value order: canonical)."""
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


def _width_keys(conf: FloatArray, corr: NDArray[np.bool_], n_bins: int) -> IntArray:
    """``2 * k + correct`` per record, ``k = ceil(x B - B tol)`` in ``0..B`` (``k - 1`` is the
    bin; ``k = 0`` only for x within the tolerance of 0 and belongs to bin 0 too).

    Three passes and two allocations over the records; ``conf`` must be validated to [0, 1].
    """
    t = conf * n_bins
    t -= n_bins * EDGE_TOLERANCE
    np.ceil(t, out=t)
    key: IntArray = t.astype(np.int64)
    key <<= 1
    key |= corr.view(np.uint8)
    return key


def record_bin_sums(
    conf: FloatArray,
    corr: NDArray[np.bool_],
    edges: FloatArray,
    binning: Binning | Literal["custom"],
    *,
    second_moments: bool = True,
) -> BinSums:
    """Per-bin sums straight from the records with ``np.bincount`` (no sort, no tie table).

    Each record gets one key ``2 * bin + correct``; one bincount of the keys gives the count and
    the correct answers per bin, one weighted by the confidence gives the confidence sums of the
    correct and the wrong answers per bin (so ``sum_conf`` and ``sum_conf_correct``), and with
    ``second_moments`` one weighted by the squared confidence gives ``sum_conf_sq``. No mixed
    bool/float arithmetic and at most three temporaries of N elements.

    Same bins as :func:`bin_sums` over the tie table of the same records; the float sums are
    taken in record order, so they agree with the tie-table sums to rounding (~1e-16 relative),
    not bit for bit. Counts are exact integers either way.
    """
    n_bins = edges.shape[0] - 1
    if binning == "width":
        key = _width_keys(conf, corr, n_bins)
        slots = 2 * (n_bins + 1)

        def fold(v: NDArray[Any]) -> NDArray[Any]:
            v = v.reshape(n_bins + 1, 2)
            out = v[1:].copy()
            out[0] += v[0]  # k = 0 (x within the tolerance of 0) is bin 0
            return out

    else:
        key = assign_bins(conf, edges, binning)
        key <<= 1
        key |= corr.view(np.uint8)
        slots = 2 * n_bins

        def fold(v: NDArray[Any]) -> NDArray[Any]:
            return v.reshape(n_bins, 2)

    both = fold(np.bincount(key, minlength=slots))  # (B, 2): [wrong, correct]
    conf_sums = fold(np.bincount(key, weights=conf, minlength=slots))
    sq: FloatArray | None = None
    cc: FloatArray | None = None
    if second_moments:
        cc = conf_sums[:, 1].astype(np.float64)
        sq_sums = fold(np.bincount(key, weights=conf * conf, minlength=slots))
        sq = (sq_sums[:, 0] + sq_sums[:, 1]).astype(np.float64)
    return BinSums(
        edges=edges,
        count=(both[:, 0] + both[:, 1]).astype(np.int64),
        n_correct=both[:, 1].astype(np.int64),
        sum_conf=(conf_sums[:, 0] + conf_sums[:, 1]).astype(np.float64),
        sum_conf_sq=sq,
        sum_conf_correct=cc,
    )
