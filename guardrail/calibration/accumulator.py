"""Mergeable accumulator: audit a huge log in chunks or in parallel with identical results.

The accumulator keeps the tie table (sorted unique confidences with correct / wrong counts at
each). Merging two accumulators adds integer counts per confidence value, so the merged table is
exactly the table of all the records, whatever the split or order, and every metric computed from
it (equal-width or equal-mass ECE, Brier, Murphy, AUROC, risk-coverage, AURC, thresholds) is
bit-for-bit that of one accumulator fed all records at once. The array functions
(``expected_calibration_error(conf, correct)``) sum per bin in record order instead, so they agree
with the accumulator to floating-point rounding (tested to 1e-12), and exactly in counts.
Memory is 24 bytes per *distinct* confidence value (verbalized 0-100 confidences: 101
rows; continuous float64 confidences: up to 24 bytes per record).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from guardrail.calibration._core import Binning, TieTable, as_arrays
from guardrail.calibration.bootstrap import BootstrapResult, bootstrap_from_table
from guardrail.calibration.metrics import (
    AURCResult,
    AUROCResult,
    BrierResult,
    CalibrationErrorResult,
    MurphyDecomposition,
    Norm,
    RiskCoverageCurve,
    RiskCoveragePoint,
    accuracy_at_coverage_from_table,
    aurc_from_table,
    auroc_from_table,
    brier_from_table,
    calibration_error_from_table,
    murphy_from_table,
    risk_coverage_from_table,
)


class CalibrationAccumulator:
    """Counts per distinct confidence; ``update`` with chunks, ``merge`` across workers.

    Example::

        acc = CalibrationAccumulator()
        for conf, correct in chunks:
            acc.update(conf, correct)
        acc.expected_calibration_error(n_bins=15).value
    """

    def __init__(self, table: TieTable | None = None, decimals: int | None = None) -> None:
        """Start empty (or from ``table``).

        Args:
            decimals: if set, round each confidence to this many decimals before counting
                (``np.round``), which caps the state at ``10**decimals + 1`` rows (24 MB for 6)
                however many records arrive. Off by default: values are then kept exactly.
        """
        if decimals is not None and not 0 <= decimals <= 15:
            raise ValueError(f"decimals must be in 0..15, got {decimals}")
        self._table = table if table is not None else TieTable.empty()
        self._decimals = decimals

    @property
    def table(self) -> TieTable:
        """The merged tie table (read-only arrays)."""
        return self._table

    @property
    def n(self) -> int:
        """Number of records seen."""
        return self._table.n

    def update(
        self, confidences: ArrayLike, correct: ArrayLike, *, percent: bool = False
    ) -> CalibrationAccumulator:
        """Add a chunk (shapes (n,), validated as in the metric functions); returns ``self``.

        float16/float32 chunks are mapped to the doubles they stand for
        (:func:`~guardrail.calibration._core.canonical_float64`) before counting, so chunks of
        different float types merge into the table a float64 audit would build.

        Raises:
            ValueError: on a bad chunk; the accumulator is left unchanged.
        """
        conf, corr = as_arrays(confidences, correct, percent=percent)
        if self._decimals is not None:
            conf = np.round(conf, self._decimals)
        self._table = self._table.merge(TieTable.from_arrays(conf, corr))
        return self

    def merge(self, other: CalibrationAccumulator) -> CalibrationAccumulator:
        """A new accumulator holding both ``self`` and ``other`` (commutative, associative)."""
        if self._decimals != other._decimals:
            raise ValueError(
                f"cannot merge accumulators rounding to {self._decimals} and {other._decimals} "
                "decimals"
            )
        return CalibrationAccumulator(self._table.merge(other._table), self._decimals)

    def __add__(self, other: CalibrationAccumulator) -> CalibrationAccumulator:
        return self.merge(other)

    def _nonempty(self) -> TieTable:
        if self._table.n == 0:
            raise ValueError("the accumulator holds no records yet")
        return self._table

    def expected_calibration_error(
        self, n_bins: int = 10, binning: Binning = "width", norm: Norm = "l1"
    ) -> CalibrationErrorResult:
        """See :func:`guardrail.calibration.expected_calibration_error`."""
        return calibration_error_from_table(self._nonempty(), n_bins, binning, norm)

    def brier_score(self, n_bins: int = 10, binning: Binning = "width") -> BrierResult:
        """See :func:`guardrail.calibration.brier_score`."""
        return brier_from_table(self._nonempty(), n_bins, binning)

    def murphy_decomposition(
        self, n_bins: int = 10, binning: Binning = "width"
    ) -> MurphyDecomposition:
        """See :func:`guardrail.calibration.murphy_decomposition`."""
        return murphy_from_table(self._nonempty(), n_bins, binning)

    def auroc(self) -> AUROCResult:
        """See :func:`guardrail.calibration.auroc`."""
        return auroc_from_table(self._nonempty())

    def aurc(self) -> AURCResult:
        """See :func:`guardrail.calibration.aurc`."""
        return aurc_from_table(self._nonempty())

    def risk_coverage(self) -> RiskCoverageCurve:
        """See :func:`guardrail.calibration.risk_coverage`."""
        return risk_coverage_from_table(self._nonempty())

    def accuracy_at_coverage(self, coverage: float) -> RiskCoveragePoint:
        """See :func:`guardrail.calibration.accuracy_at_coverage`."""
        return accuracy_at_coverage_from_table(self._nonempty(), coverage)

    def bootstrap_ci(
        self,
        n_resamples: int = 1000,
        level: float = 0.95,
        seed: int = 0,
        n_bins: int = 10,
        binning: Binning = "width",
        norm: Norm = "l1",
    ) -> BootstrapResult:
        """See :func:`guardrail.calibration.bootstrap_ci` (expands the table: O(N) memory)."""
        return bootstrap_from_table(
            self._nonempty(), n_resamples, level, seed, n_bins, binning, norm
        )
