"""Threshold recommendations from audit records, printed as policy snippets.

For each domain and confidence source the runner recorded, fit the lowest confidence threshold
whose passed answers reach a target accuracy (selective prediction: answers below the threshold
are routed to review; Geifman & El-Yaniv 2017, arXiv 1705.08500), with the coverage it keeps.
The fit is :func:`guardrail.calibration.thresholds.fit_threshold` (ties pass or fail together;
95 % Clopper-Pearson intervals). Per domain the source that keeps the most coverage at the target
is recommended and written as a ``policy <domain> { ... }`` snippet for the bundled policy of
that name; a domain where no source reaches the target gets ``otherwise review``.

The trade-off: a higher threshold raises the accuracy of what passes and lowers coverage (the
share of answers the user gets without review). With few records per domain the intervals are
wide; the snippet states n and the intervals so nobody mistakes a 30-question audit for a
guarantee.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from guardrail.calibration.thresholds import fit_threshold
from guardrail.runner.records import SOURCE_SIGNAL, AuditRecord

#: Sources whose confidence is a probability-like number a ``when signal < t`` rule can use.
#: ``hedge_label`` is ordinal (three values) and is left out.
THRESHOLD_SOURCES = ("consistency", "verbalized", "verbalized_followup", "logprob_confidence")

#: Fewest records per domain and source for a recommendation.
MIN_RECORDS = 10


class Recommendation(BaseModel):
    """Fitted threshold for one domain and source.

    Attributes:
        domain, source: the group; ``signal`` is the policy-language name of the source.
        n: records in the group; accuracy_all: their accuracy (coverage 1).
        target_accuracy: the accuracy asked of the passed answers.
        reached: whether some threshold reaches it.
        threshold: pass when ``signal >= threshold`` (None when not reached).
        coverage, accuracy: share passed and its accuracy (None when not reached).
        coverage_ci, accuracy_ci: 95 % Clopper-Pearson intervals ``(low, high)``.
        n_passed: records at or above the threshold.
        best_accuracy, best_threshold, best_coverage: the highest accuracy any threshold gives
            while passing at least ``min_records`` answers (ties: the larger coverage), to show
            what *is* reachable when the target is not.
    """

    domain: str
    source: str
    signal: str
    n: int
    accuracy_all: float
    target_accuracy: float
    reached: bool
    threshold: float | None = None
    coverage: float | None = None
    accuracy: float | None = None
    coverage_ci: tuple[float, float] | None = None
    accuracy_ci: tuple[float, float] | None = None
    n_passed: int = 0
    best_accuracy: float | None = None
    best_threshold: float | None = None
    best_coverage: float | None = None


def best_selective_point(
    confidences: np.ndarray, correct: np.ndarray, min_passed: int
) -> tuple[float, float, float] | None:
    """``(accuracy, threshold, coverage)`` of the threshold ``t`` (an observed confidence) that
    maximises the accuracy of answers with confidence >= t among those passing at least
    ``min_passed`` answers; ties between thresholds go to the larger coverage. None when fewer
    than ``min_passed`` answers exist. Tied confidences pass or fail together."""
    n = len(confidences)
    if n < min_passed or n == 0:
        return None
    order = np.argsort(-confidences, kind="stable")
    conf, corr = confidences[order], correct[order].astype(np.float64)
    cum = np.cumsum(corr)
    # cut positions: the last index of each run of equal confidences
    last = np.flatnonzero(np.r_[conf[1:] != conf[:-1], True])
    passed = last + 1
    ok = passed >= min_passed
    if not ok.any():
        return None
    acc = cum[last] / passed
    best: tuple[float, float, float] | None = None
    for i in np.flatnonzero(ok).tolist():
        cand = (float(acc[i]), float(conf[last[i]]), float(passed[i] / n))
        if best is None or (cand[0], cand[2]) > (best[0], best[2]):
            best = cand
    return best


def recommend_thresholds(
    records: Sequence[AuditRecord],
    *,
    target_accuracy: float = 0.9,
    min_records: int = MIN_RECORDS,
) -> list[Recommendation]:
    """One :class:`Recommendation` per (domain, source) with at least ``min_records`` records,
    sorted by domain then source.

    Raises:
        ValueError: ``target_accuracy`` outside (0, 1].
    """
    if not 0.0 < target_accuracy <= 1.0:
        raise ValueError(f"target accuracy must be in (0, 1], got {target_accuracy}")
    groups: dict[tuple[str, str], list[AuditRecord]] = defaultdict(list)
    for r in records:
        if r.source in THRESHOLD_SOURCES:
            groups[(r.domain, r.source)].append(r)
    out: list[Recommendation] = []
    for (domain, source), rs in sorted(groups.items()):
        if len(rs) < min_records:
            continue
        conf = np.array([r.confidence for r in rs], dtype=np.float64)
        corr = np.array([r.correct for r in rs], dtype=np.bool_)
        fit = fit_threshold(conf, corr, target_accuracy=target_accuracy)
        point = best_selective_point(conf, corr, min_records)
        rec = Recommendation(
            domain=domain,
            source=source,
            signal=SOURCE_SIGNAL[source],
            n=len(rs),
            accuracy_all=float(corr.mean()),
            target_accuracy=target_accuracy,
            reached=fit.reached,
            best_accuracy=point[0] if point else None,
            best_threshold=point[1] if point else None,
            best_coverage=point[2] if point else None,
        )
        if fit.reached and fit.coverage is not None and fit.accuracy is not None:
            rec = rec.model_copy(
                update={
                    "threshold": fit.threshold,
                    "coverage": fit.coverage.estimate,
                    "accuracy": fit.accuracy.estimate,
                    "coverage_ci": (fit.coverage.low, fit.coverage.high),
                    "accuracy_ci": (fit.accuracy.low, fit.accuracy.high),
                    "n_passed": fit.n_accepted,
                }
            )
        out.append(rec)
    return out


def best_per_domain(recs: Sequence[Recommendation]) -> dict[str, Recommendation | None]:
    """Per domain, the reached recommendation with the largest coverage (ties: the cheaper
    signal, in the order logprob_confidence, verbalized, consistency); None when none reached."""
    cost = {"logprob_confidence": 0, "verbalized": 1, "verbalized_followup": 1, "consistency": 2}
    best: dict[str, Recommendation | None] = {}
    for r in recs:
        best.setdefault(r.domain, None)
        if not r.reached:
            continue
        cur = best[r.domain]
        key = (-(r.coverage or 0.0), cost.get(r.source, 9))
        if cur is None or key < (-(cur.coverage or 0.0), cost.get(cur.source, 9)):
            best[r.domain] = r
    return best


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _threshold_pct(t: float) -> str:
    # Policy numbers accept "NN%" or "NN.N%"; keep one decimal only when it matters.
    v = round(100 * t, 1)
    return f"{v:.0f}%" if v == int(v) else f"{v:.1f}%"


def policy_snippet(
    recs: Sequence[Recommendation],
    *,
    model: str,
    samples: int,
    sample_temperature: float,
) -> str:
    """All domains' policies of :func:`policy_snippets` in one text (for printing), separated by
    a blank line. Not one policy file: a ``.guard`` file holds one policy, so write each value of
    :func:`policy_snippets` to its own file."""
    snippets = policy_snippets(
        recs, model=model, samples=samples, sample_temperature=sample_temperature
    )
    return "\n".join(snippets[d] for d in sorted(snippets))


def policy_snippets(
    recs: Sequence[Recommendation],
    *,
    model: str,
    samples: int,
    sample_temperature: float,
) -> dict[str, str]:
    """Policy-language text per domain: ``{domain: "policy <domain> { ... }\\n"}``.

    Each text is one complete policy (a valid ``.guard`` file on its own: ``guardrail check``
    accepts it) with a ``signals`` entry for the recommended signal (with the run's ``samples``
    and temperature, which the threshold depends on), one ``review`` rule below the fitted
    threshold, and a comment with n, coverage and accuracy (95 % CIs). A domain where no source
    reached the target gets ``otherwise review``. Paste the rule into the bundled policy of the
    same name (``policies/<domain>.guard``).
    """
    out: dict[str, str] = {}
    best = best_per_domain(recs)
    for domain in sorted(best):
        lines: list[str] = []
        rec = best[domain]
        group = [r for r in recs if r.domain == domain]
        target = group[0].target_accuracy if group else 0.9
        lines.append(f"# audit of {model}: target accuracy {_pct(target)} on answers that pass")
        for r in group:
            if r.reached and r.coverage_ci and r.accuracy_ci:
                lines.append(
                    f"#   {r.source}: >= {_threshold_pct(r.threshold or 0.0)} keeps "
                    f"{_pct(r.coverage or 0)} of {r.n} (CI {_pct(r.coverage_ci[0])}-"
                    f"{_pct(r.coverage_ci[1])}) at accuracy {_pct(r.accuracy or 0)} "
                    f"(CI {_pct(r.accuracy_ci[0])}-{_pct(r.accuracy_ci[1])})"
                )
            else:
                reach = ""
                if r.best_accuracy is not None:
                    reach = (
                        f"; best: {_pct(r.best_accuracy)} at >= "
                        f"{_threshold_pct(r.best_threshold or 0.0)} "
                        f"(coverage {_pct(r.best_coverage or 0.0)})"
                    )
                lines.append(
                    f"#   {r.source}: no threshold reaches {_pct(target)} "
                    f"(accuracy of all {r.n}: {_pct(r.accuracy_all)}{reach})"
                )
        lines.append(f"policy {domain} {{")
        if rec is None:
            lines.append(
                f'  otherwise review "No confidence signal reached {_pct(target)} accuracy in '
                f'the audit of {model}; every {domain} answer is reviewed."'
            )
        else:
            lines.append("  signals {")
            if rec.signal == "consistency":
                lines.append(f"    samples {samples} temperature {sample_temperature:g}")
            elif rec.signal == "verbalized":
                mode = "followup" if rec.source == "verbalized_followup" else "inline"
                lines.append(f"    verbalized {mode}")
            elif rec.signal == "logprob_confidence":
                lines.append("    logprobs")
            lines.append("  }")
            name = f"audit_{rec.signal}"
            lines.append(f"  rule {name} {{")
            lines.append(f"    when {rec.signal} < {_threshold_pct(rec.threshold or 0.0)}")
            lines.append(
                f'    then review "Below the {rec.signal} level that kept '
                f'{_pct(target)} accuracy in the audit."'
            )
            lines.append("  }")
        lines.append("}")
        out[domain] = "\n".join(lines) + "\n"
    return out
