"""Calibration profiles: a fitted monotone map from a raw confidence signal to observed accuracy.

A profile is JSON written by ``guardrail audit report --profile-out`` and referenced by a policy
(``calibration "calibration/medical.json"``); ``profile.calibrate(x)`` is the policy language's
``calibrated`` signal, applied to the raw signal named by ``profile.source``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from guardrail.calibration._core import (
    Binning,
    TieTable,
    as_arrays,
    assign_bins,
    canonical_float64,
    make_edges,
)
from guardrail.calibration.isotonic import pav
from guardrail.calibration.metrics import calibration_error_from_table
from guardrail.calibration.thresholds import (
    FittedThreshold,
    ThresholdMethod,
    threshold_for_accuracy_from_table,
    threshold_for_coverage_from_table,
)

PROFILE_SCHEMA_VERSION = 1


class CalibrationMap(BaseModel):
    """A non-decreasing map raw confidence -> observed accuracy, both in [0, 1].

    * ``method="isotonic"``: ``x`` are knot positions (non-decreasing), ``y`` the fitted accuracy
      at each knot, ``n`` the answers in the knot's PAV block. Between knots the map is linear,
      outside them constant (as in Zadrozny & Elkan 2002 / scikit-learn's IsotonicRegression).
    * ``method="histogram"``: ``x`` are the B+1 bin edges, ``y`` the B bin values (bin accuracy,
      made monotone by PAV; empty bins interpolated), ``n`` the answers per bin; the value of x
      is that of its bin under the right-closed rule (Zadrozny & Elkan 2001, ICML).
    """

    model_config = ConfigDict(frozen=True)

    method: Literal["isotonic", "histogram"]
    x: list[float]
    y: list[float]
    n: list[int]

    @model_validator(mode="after")
    def _check(self) -> CalibrationMap:
        if not self.y:
            raise ValueError("calibration map is empty")
        expected_x = len(self.y) + (1 if self.method == "histogram" else 0)
        if len(self.x) != expected_x or len(self.n) != len(self.y):
            raise ValueError(
                f"calibration map sizes disagree: {len(self.x)} x, {len(self.y)} y, {len(self.n)} n"
            )
        for name, seq in (("x", self.x), ("y", self.y)):
            if any(not (0.0 <= v <= 1.0) for v in seq):
                raise ValueError(f"calibration map {name} values must lie in [0, 1]")
            if any(b < a for a, b in itertools.pairwise(seq)):
                raise ValueError(f"calibration map {name} values must be non-decreasing")
        return self

    def __call__(self, x: float) -> float:
        if self.method == "isotonic":
            return float(np.interp(x, self.x, self.y))
        edges = np.asarray(self.x, dtype=np.float64)
        width = np.allclose(edges, np.arange(len(edges)) / (len(edges) - 1), rtol=0, atol=1e-15)
        b = assign_bins(np.asarray([x]), edges, "width" if width else "custom")
        return float(self.y[int(b[0])])


class CalibrationProfile(BaseModel):
    """A fitted calibration profile for one domain and one raw signal (JSON on disk).

    Fields: ``domain``; ``source``: the raw signal it maps (``verbalized``, ``consistency``,
    ``logprob_confidence``, ...); ``binning``/``n_bins``/``edges``: the reliability binning used
    for the summary ECE; ``map``: the monotone map; ``thresholds``: fitted pass thresholds on the
    raw confidence; ``n``, ``accuracy``, ``mean_confidence``, ``ece``: the audit data summary;
    ``data_hash``: SHA-256 of the canonical tie table (independent of record order);
    ``created``: UTC timestamp.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: int = PROFILE_SCHEMA_VERSION
    domain: str
    source: str
    model: str | None = None
    binning: Binning
    n_bins: int
    edges: list[float]
    map: CalibrationMap
    thresholds: list[FittedThreshold] = Field(default_factory=list)
    n: int
    accuracy: float
    mean_confidence: float
    ece: float
    data_hash: str
    created: datetime

    def calibrate(self, x: float) -> float:
        """Observed accuracy at raw confidence ``x`` in [0, 1] (the ``calibrated`` signal).

        Raises:
            ValueError: ``x`` is NaN or outside [0, 1].
        """
        try:
            # a float32/float16 scalar stands for the double canonical_float64 gives it, so it
            # falls in the same histogram bin as that double
            v = float(canonical_float64(np.asarray(x))) if isinstance(x, np.floating) else float(x)
        except (TypeError, ValueError):
            raise ValueError(f"raw confidence must be a number in [0, 1], got {x!r}") from None
        if isinstance(x, bool) or math.isnan(v) or not 0.0 <= v <= 1.0:
            raise ValueError(f"raw confidence must be a number in [0, 1], got {x!r}")
        return self.map(v)

    def save(self, path: str | Path) -> Path:
        """Write the profile as indented JSON (parent folders are created); returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> CalibrationProfile:
        """Read a profile written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not valid JSON or not a valid profile (pydantic ``ValidationError``),
                or a newer ``schema_version``.
        """
        p = Path(path)
        try:
            prof = cls.model_validate_json(p.read_text(encoding="utf-8"))
        except ValidationError as exc:  # one line, not pydantic's multi-line dump with URLs
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ValueError(
                f"{p}: not a calibration profile ({exc.error_count()} problem(s); first: "
                f"{where + ': ' if where else ''}{first['msg']})"
            ) from None
        if prof.schema_version > PROFILE_SCHEMA_VERSION:
            raise ValueError(
                f"{p}: profile schema_version {prof.schema_version} is newer than this guardrail "
                f"supports ({PROFILE_SCHEMA_VERSION})"
            )
        return prof


def data_hash(table: TieTable) -> str:
    """SHA-256 over the tie table (values, correct counts, wrong counts as little-endian bytes)."""
    h = hashlib.sha256()
    h.update(table.values.astype("<f8").tobytes())
    h.update(table.n_correct.astype("<i8").tobytes())
    h.update(table.n_wrong.astype("<i8").tobytes())
    return "sha256:" + h.hexdigest()


def isotonic_map(table: TieTable) -> CalibrationMap:
    """PAV fit of accuracy on the sorted distinct confidences, weighted by their counts."""
    counts = table.counts
    values, ends = pav(table.n_correct / counts, counts)
    starts = np.concatenate([[0], ends[:-1]])
    xs: list[float] = []
    ys: list[float] = []
    ns: list[int] = []
    for v, s, e in zip(values.tolist(), starts.tolist(), ends.tolist(), strict=True):
        block_n = int(counts[s:e].sum())
        lo, hi = float(table.values[s]), float(table.values[e - 1])
        v = min(max(v, 0.0), 1.0)
        xs.append(lo)
        ys.append(v)
        ns.append(block_n)
        if hi > lo:
            xs.append(hi)
            ys.append(v)
            ns.append(0)  # the block's count is carried by its first knot
    return CalibrationMap(method="isotonic", x=xs, y=ys, n=ns)


def histogram_map(table: TieTable, edges: np.ndarray, binning: Binning) -> CalibrationMap:
    """Bin accuracies, made monotone by PAV over non-empty bins; empty bins are interpolated."""
    n_bins = edges.shape[0] - 1
    b = assign_bins(table.values, edges, binning)
    cnt = np.bincount(b, weights=table.counts.astype(np.float64), minlength=n_bins)
    pos = np.bincount(b, weights=table.n_correct.astype(np.float64), minlength=n_bins)
    nonempty = np.flatnonzero(cnt > 0)
    values, ends = pav(pos[nonempty] / cnt[nonempty], cnt[nonempty])
    fitted = np.repeat(values, np.diff(np.concatenate([[0], ends])))
    centers = 0.5 * (edges[:-1] + edges[1:])
    y = np.interp(centers, centers[nonempty], fitted)
    y[nonempty] = fitted
    y = np.clip(np.maximum.accumulate(y), 0.0, 1.0)
    return CalibrationMap(
        method="histogram",
        x=[float(v) for v in edges],
        y=[float(v) for v in y],
        n=[int(v) for v in cnt],
    )


def fit_profile_from_table(
    table: TieTable,
    domain: str,
    source: str,
    *,
    model: str | None = None,
    method: Literal["isotonic", "histogram"] = "isotonic",
    n_bins: int = 10,
    binning: Binning = "width",
    target_accuracy: float | None = None,
    target_coverage: float | None = None,
    threshold_method: ThresholdMethod = "point",
    thresholds: list[FittedThreshold] | None = None,
) -> CalibrationProfile:
    if table.n == 0:
        raise ValueError("no records")
    edges = make_edges(table, n_bins, binning)
    ce = calibration_error_from_table(table, n_bins, binning, "l1", edges)
    cmap = isotonic_map(table) if method == "isotonic" else histogram_map(table, edges, binning)
    fitted = list(thresholds or [])
    if not fitted:
        if target_accuracy is not None:
            fitted.append(
                threshold_for_accuracy_from_table(table, target_accuracy, threshold_method)
            )
        if target_coverage is not None:
            fitted.append(threshold_for_coverage_from_table(table, target_coverage))
    return CalibrationProfile(
        domain=domain,
        source=source,
        model=model,
        binning=binning,
        n_bins=n_bins,
        edges=[float(e) for e in edges],
        map=cmap,
        thresholds=fitted,
        n=table.n,
        accuracy=ce.accuracy,
        mean_confidence=ce.mean_confidence,
        ece=ce.value,
        data_hash=data_hash(table),
        created=datetime.now(UTC).replace(microsecond=0),
    )


def fit_profile(
    confidences: ArrayLike,
    correct: ArrayLike,
    domain: str,
    source: str,
    *,
    model: str | None = None,
    method: Literal["isotonic", "histogram"] = "isotonic",
    n_bins: int = 10,
    binning: Binning = "width",
    target_accuracy: float | None = None,
    target_coverage: float | None = None,
    threshold_method: ThresholdMethod = "point",
    percent: bool = False,
) -> CalibrationProfile:
    """Fit a :class:`CalibrationProfile` from audit data (shapes (n,), confidences in [0, 1]).

    ``method="isotonic"`` fits the map by PAV (Zadrozny & Elkan 2002); ``"histogram"`` uses bin
    accuracies (Zadrozny & Elkan 2001) made monotone. Thresholds are fitted per
    :func:`~guardrail.calibration.fit_threshold` for each target given.

    Raises:
        ValueError: bad inputs or targets.
    """
    conf, corr = as_arrays(confidences, correct, percent=percent)
    return fit_profile_from_table(
        TieTable.from_arrays(conf, corr),
        domain,
        source,
        model=model,
        method=method,
        n_bins=n_bins,
        binning=binning,
        target_accuracy=target_accuracy,
        target_coverage=target_coverage,
        threshold_method=threshold_method,
    )
