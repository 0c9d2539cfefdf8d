"""The per-domain confidence-accuracy matrix behind ``guardrail audit report``.

For each group of records (by domain, and optionally model / source) :func:`audit` reports n,
accuracy (Clopper-Pearson interval), mean confidence, overconfidence (mean confidence - accuracy),
ECE with a bootstrap interval, MCE, RMSCE, debiased L2, Brier score with interval and its Murphy
decomposition, AUROC, AURC, E-AURC, the reliability table, a verdict band and, when asked, the
fitted pass threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from guardrail.calibration._core import Binning, TieTable
from guardrail.calibration.bootstrap import Interval, bootstrap_from_table
from guardrail.calibration.metrics import (
    CalibrationErrorResult,
    MurphyDecomposition,
    aurc_from_table,
    auroc_from_table,
    calibration_error_from_table,
    murphy_from_table,
)
from guardrail.calibration.profile import CalibrationProfile, fit_profile_from_table
from guardrail.calibration.records import AuditRecord, BadRow, RecordSet
from guardrail.calibration.stats import BinomialInterval, clopper_pearson
from guardrail.calibration.thresholds import (
    FittedThreshold,
    ThresholdMethod,
    threshold_for_accuracy_from_table,
    threshold_for_coverage_from_table,
)

GroupField = Literal["domain", "model", "source"]
Verdict = Literal["good", "fair", "significant", "severe", "not applicable"]
UNSPECIFIED = "unspecified"
#: Sources whose "confidence" is an ordering, not a probability (hedge_label: hedged 0.0,
#: neutral 0.5, assertive 1.0): ECE has no meaning for them, so their verdict is
#: "not applicable" (read their AUROC).
ORDINAL_SOURCES = frozenset({"hedge_label"})
#: Below this many answers per bin on average the ECE is biased upward and its interval wide
#: (Roelofs et al. 2022, arXiv 2012.08668; Kumar et al. 2019, arXiv 1909.10155): flagged.
MIN_PER_BIN = 10
ProgressFn = Callable[[int, int], None]


def verdict_warnings(n: int, n_bins: int, auroc: float | None, sources: Sequence[str]) -> list[str]:
    """Why an ECE verdict should not be read on its own, as short sentences (empty: none).

    * ``auroc <= 0.5``: the confidence ranks right answers no better than chance (worse when
      below 0.5), whatever its ECE;
    * ``n < MIN_PER_BIN * n_bins``: fewer than 10 answers per bin on average;
    * an ordinal source (:data:`ORDINAL_SOURCES`): the ECE verdict does not apply.
    """
    out: list[str] = []
    if sources and all(s in ORDINAL_SOURCES for s in sources):
        out.append(
            f"{', '.join(sorted(set(sources)))} is an ordering, not a probability: no "
            "calibration verdict (read its AUROC)"
        )
    if auroc is not None and auroc <= 0.5:
        worse = "worse than" if auroc < 0.5 else "no better than"
        out.append(f"AUROC {auroc:.3f} <= 0.5: confidence ranks answers {worse} chance")
    if n < MIN_PER_BIN * n_bins:
        out.append(
            f"small n: {n} answers for {n_bins} bins (under {MIN_PER_BIN} per bin): ECE biased "
            "upward, interval wide"
        )
    return out


def verdict(ece: float) -> Verdict:
    """Verdict band of an ECE: < 0.05 good, < 0.1 fair, < 0.3 significant, >= 0.3 severe."""
    if ece < 0.05:
        return "good"
    if ece < 0.1:
        return "fair"
    if ece < 0.3:
        return "significant"
    return "severe"


class GroupAudit(BaseModel):
    """One row of the confidence-accuracy matrix (all rates in [0, 1])."""

    model_config = ConfigDict(frozen=True)

    key: dict[str, str]
    label: str
    n: int
    n_correct: int
    accuracy: BinomialInterval
    mean_confidence: float
    overconfidence: float
    ece: float
    ece_ci: Interval | None
    mce: float
    rmsce: float
    ece_debiased_l2: float
    brier: float
    brier_ci: Interval | None
    murphy: MurphyDecomposition
    auroc: float | None
    aurc: float
    eaurc: float
    verdict: Verdict
    warnings: list[str] = Field(default_factory=list)
    reliability: CalibrationErrorResult
    threshold: FittedThreshold | None = None
    sources: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)


class AuditSettings(BaseModel):
    """How the audit was computed."""

    model_config = ConfigDict(frozen=True)

    n_bins: int
    binning: Binning
    group_by: list[GroupField]
    n_bootstrap: int
    seed: int
    level: float
    target_accuracy: float | None
    target_coverage: float | None
    threshold_method: ThresholdMethod


class AuditReport(BaseModel):
    """The whole audit: settings, the pooled row, one row per group, and skipped rows."""

    settings: AuditSettings
    overall: GroupAudit
    groups: list[GroupAudit]
    n_bad_rows: int = 0
    bad_rows: list[BadRow] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)


def _audit_table(
    table: TieTable,
    key: dict[str, str],
    settings: AuditSettings,
    sources: list[str],
    models: list[str],
    tick: Callable[[int], None],
) -> GroupAudit:
    b, nb = settings.binning, settings.n_bins
    rel = calibration_error_from_table(table, nb, b, "l1")
    mce = calibration_error_from_table(table, nb, b, "max").value
    rmsce = calibration_error_from_table(table, nb, b, "l2").value
    deb = calibration_error_from_table(table, nb, b, "l2_debiased").value
    murphy = murphy_from_table(table, nb, b)
    roc = auroc_from_table(table)
    ar = aurc_from_table(table)
    ece_ci = brier_ci = None
    if settings.n_bootstrap > 0:
        boot = bootstrap_from_table(
            table, settings.n_bootstrap, settings.level, settings.seed, nb, b, "l1", tick
        )
        ece_ci, brier_ci = boot.ece, boot.brier
    else:
        tick(1)
    thr: FittedThreshold | None = None
    if settings.target_accuracy is not None:
        thr = threshold_for_accuracy_from_table(
            table, settings.target_accuracy, settings.threshold_method, settings.level
        )
    elif settings.target_coverage is not None:
        thr = threshold_for_coverage_from_table(table, settings.target_coverage, settings.level)
    k = int(table.n_correct.sum())
    label = ", ".join(f"{v}" for v in key.values()) if key else "all"
    return GroupAudit(
        key=key,
        label=label,
        n=table.n,
        n_correct=k,
        accuracy=clopper_pearson(k, table.n, settings.level),
        mean_confidence=rel.mean_confidence,
        overconfidence=rel.mean_confidence - rel.accuracy,
        ece=rel.value,
        ece_ci=ece_ci,
        mce=mce,
        rmsce=rmsce,
        ece_debiased_l2=deb,
        brier=murphy.brier,
        brier_ci=brier_ci,
        murphy=murphy,
        auroc=roc.value,
        aurc=ar.aurc,
        eaurc=ar.eaurc,
        verdict=(
            "not applicable"
            if sources and all(s in ORDINAL_SOURCES for s in sources)
            else verdict(rel.value)
        ),
        warnings=verdict_warnings(table.n, nb, roc.value, sources),
        reliability=rel,
        threshold=thr,
        sources=sources,
        models=models,
    )


def _records_of(
    records: RecordSet | Sequence[AuditRecord],
) -> tuple[list[AuditRecord], RecordSet | None]:
    if isinstance(records, RecordSet):
        return records.records, records
    return list(records), None


def group_tables(
    records: Sequence[AuditRecord], group_by: Sequence[GroupField]
) -> dict[tuple[str, ...], tuple[TieTable, list[str], list[str]]]:
    """Split records into tie tables per group key (values in ``group_by`` order)."""
    buckets: dict[tuple[str, ...], list[AuditRecord]] = {}
    for r in records:
        key = tuple((getattr(r, f) or UNSPECIFIED) for f in group_by)
        buckets.setdefault(key, []).append(r)
    out: dict[tuple[str, ...], tuple[TieTable, list[str], list[str]]] = {}
    for key in sorted(buckets):
        rs = buckets[key]
        conf = np.fromiter((r.confidence for r in rs), np.float64, len(rs))
        corr = np.fromiter((r.correct for r in rs), np.bool_, len(rs))
        sources = sorted({r.source for r in rs if r.source})
        models = sorted({r.model for r in rs if r.model})
        out[key] = (TieTable.from_arrays(conf, corr), sources, models)
    return out


def audit(
    records: RecordSet | Sequence[AuditRecord],
    group_by: Sequence[GroupField] = ("domain",),
    *,
    n_bins: int = 10,
    binning: Binning = "width",
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    target_accuracy: float | None = None,
    target_coverage: float | None = None,
    threshold_method: ThresholdMethod = "point",
    progress: ProgressFn | None = None,
) -> AuditReport:
    """Audit graded answers: the pooled row plus one row per ``group_by`` group.

    Records with no value for a grouping field fall in group ``"unspecified"``. ``progress`` is
    called as ``progress(done, total)`` while bootstrapping (for progress bars).

    Raises:
        ValueError: no records, an unknown ``group_by`` field, both targets given, or bad
            ``n_bins``/``binning``/targets.
    """
    recs, rs = _records_of(records)
    if not recs:
        raise ValueError("no records to audit")
    fields = list(dict.fromkeys(group_by))
    for f in fields:
        if f not in ("domain", "model", "source"):
            raise ValueError(f"cannot group by {f!r}: use domain, model or source")
    if target_accuracy is not None and target_coverage is not None:
        raise ValueError("give at most one of target_accuracy or target_coverage")
    settings = AuditSettings(
        n_bins=n_bins,
        binning=binning,
        group_by=fields,
        n_bootstrap=n_bootstrap,
        seed=seed,
        level=level,
        target_accuracy=target_accuracy,
        target_coverage=target_coverage,
        threshold_method=threshold_method,
    )
    tables = group_tables(recs, fields) if fields else {}
    all_table, all_src, all_mod = next(iter(group_tables(recs, []).values()))
    total = (len(tables) + 1) * max(n_bootstrap, 1)
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total)

    overall = _audit_table(all_table, {}, settings, all_src, all_mod, tick)
    groups = [
        _audit_table(t, dict(zip(fields, key, strict=True)), settings, s, m, tick)
        for key, (t, s, m) in tables.items()
    ]
    bad = rs.bad_rows if rs is not None else []
    return AuditReport(
        settings=settings,
        overall=overall,
        groups=groups,
        n_bad_rows=len(bad),
        bad_rows=bad,
        files=rs.files if rs is not None else [],
    )


def fit_profiles(
    records: RecordSet | Sequence[AuditRecord],
    group_by: Sequence[GroupField] = ("domain",),
    *,
    source: str | None = None,
    method: Literal["isotonic", "histogram"] = "isotonic",
    n_bins: int = 10,
    binning: Binning = "width",
    target_accuracy: float | None = None,
    target_coverage: float | None = None,
    threshold_method: ThresholdMethod = "point",
) -> dict[tuple[str, ...], CalibrationProfile]:
    """One :class:`CalibrationProfile` per group (``"domain"`` must be among ``group_by``).

    ``source`` overrides the records' ``source`` field; otherwise each group must hold exactly
    one source value.

    Raises:
        ValueError: no records, ``domain`` not grouped on, or a group mixing several sources /
            having none while ``source`` is not given.
    """
    recs, _ = _records_of(records)
    if not recs:
        raise ValueError("no records to fit profiles from")
    fields = list(dict.fromkeys(group_by))
    if "domain" not in fields:
        raise ValueError("profiles are per domain: include 'domain' in group_by")
    out: dict[tuple[str, ...], CalibrationProfile] = {}
    for key, (table, sources, models) in group_tables(recs, fields).items():
        kv = dict(zip(fields, key, strict=True))
        src = source
        if src is None:
            if len(sources) != 1:
                what = "no source field" if not sources else f"several sources {sources}"
                raise ValueError(
                    f"group {kv} has {what}: pass --source NAME or add 'source' to --group-by"
                )
            src = sources[0]
        out[key] = fit_profile_from_table(
            table,
            kv["domain"],
            src,
            model=kv.get("model") or (models[0] if len(models) == 1 else None),
            method=method,
            n_bins=n_bins,
            binning=binning,
            target_accuracy=target_accuracy,
            target_coverage=target_coverage,
            threshold_method=threshold_method,
        )
    return out
