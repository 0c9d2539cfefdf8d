"""Calibration audit: metrics, bootstrap intervals, reliability diagrams, profiles, thresholds.

Pure functions over numpy arrays (confidences shape (n,) in [0, 1]; correct shape (n,) bool/0-1).
Bin convention (DESIGN.md): bin b holds ``(edge[b], edge[b+1]]``, bin 0 also holds 0.0, the last
bin holds 1.0; equal-width bins are assigned as ``clip(ceil(x*B - B*1e-9) - 1, 0, B-1)``.
Confidences may be any numpy float dtype (float16/float32 are read as the doubles they stand for,
so the dtype never changes a bin), 0/1 integers, lists, pandas Series or ``__array__`` objects;
0-100 percentages with ``percent=True``.
Plotting (:mod:`guardrail.calibration.plot`) needs the ``plot`` extra (matplotlib).
"""

from guardrail.calibration._core import (
    EDGE_TOLERANCE,
    Binning,
    TieTable,
    assign_bins,
    bin_index,
    width_edges,
)
from guardrail.calibration.accumulator import CalibrationAccumulator
from guardrail.calibration.audit import (
    AuditReport,
    AuditSettings,
    GroupAudit,
    audit,
    fit_profiles,
    verdict,
)
from guardrail.calibration.bootstrap import BootstrapResult, Interval, bootstrap_ci
from guardrail.calibration.isotonic import pav
from guardrail.calibration.metrics import (
    AURCResult,
    AUROCResult,
    BinRow,
    BrierResult,
    CalibrationErrorResult,
    MurphyDecomposition,
    RiskCoverageCurve,
    RiskCoveragePoint,
    accuracy_at_coverage,
    aurc,
    auroc,
    brier_score,
    expected_calibration_error,
    murphy_decomposition,
    risk_coverage,
)
from guardrail.calibration.profile import (
    CalibrationMap,
    CalibrationProfile,
    fit_profile,
)
from guardrail.calibration.records import (
    AuditRecord,
    BadRow,
    RecordsError,
    RecordSet,
    RecordsFormatError,
    load_records,
)
from guardrail.calibration.stats import BinomialInterval, clopper_pearson
from guardrail.calibration.thresholds import FittedThreshold, fit_threshold

__all__ = [
    "EDGE_TOLERANCE",
    "AURCResult",
    "AUROCResult",
    "AuditRecord",
    "AuditReport",
    "AuditSettings",
    "BadRow",
    "BinRow",
    "Binning",
    "BinomialInterval",
    "BootstrapResult",
    "BrierResult",
    "CalibrationAccumulator",
    "CalibrationErrorResult",
    "CalibrationMap",
    "CalibrationProfile",
    "FittedThreshold",
    "GroupAudit",
    "Interval",
    "MurphyDecomposition",
    "RecordSet",
    "RecordsError",
    "RecordsFormatError",
    "RiskCoverageCurve",
    "RiskCoveragePoint",
    "TieTable",
    "accuracy_at_coverage",
    "assign_bins",
    "audit",
    "aurc",
    "auroc",
    "bin_index",
    "bootstrap_ci",
    "brier_score",
    "clopper_pearson",
    "expected_calibration_error",
    "fit_profile",
    "fit_profiles",
    "fit_threshold",
    "load_records",
    "murphy_decomposition",
    "pav",
    "risk_coverage",
    "verdict",
    "width_edges",
]
