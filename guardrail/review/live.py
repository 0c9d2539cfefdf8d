"""Live calibration: human labels from production traffic -> audit records -> live reliability.

Two samples, never pooled:

- **Spot checks** (``reason="spot_check"``) are a probability sample of the decisions that were not
  sent to review: item ``k`` was kept with known probability ``pi_k`` (its ``sampling_rate``).
  Weighting each label by ``w_k = 1 / pi_k`` makes the estimates design-unbiased for the whole
  traffic, even when domains (or periods) were sampled at different rates
  (Horvitz & Thompson 1952, "A generalization of sampling without replacement from a finite
  universe", JASA 47(260):663-685). Means use the ratio (Hajek) form, with the estimated
  population size ``N_hat = sum w_k`` in the denominator:

      acc_hat = sum_k w_k y_k / sum_k w_k,

  and its variance under Poisson sampling by Taylor linearisation (Sarndal, Swensson & Wretman
  1992, *Model Assisted Survey Sampling*, Springer, sections 3.6 and 5.7):

      V_hat(acc_hat) = (1 / N_hat^2) sum_k (1 - pi_k) / pi_k^2 (y_k - acc_hat)^2,

  The accuracy interval is the Korn-Graubard interval: Clopper-Pearson evaluated at the
  effective sample size ``n* = acc_hat (1 - acc_hat) / V_hat`` (at most n; n when V_hat = 0) and
  ``x* = n* acc_hat`` (Korn & Graubard 1998, "Confidence intervals for proportions with small
  expected number of positive counts estimated from survey data", Survey Methodology
  24(2):193-201), so a week where every labelled spot check was correct still gets an interval
  of honest width instead of the zero-width normal interval.
  The weighted ECE is the plug-in estimator of the population ECE with the same binning as
  :mod:`guardrail.calibration` (Naeini et al. 2015; Guo et al. 2017, arXiv 1706.04599):

      ECE_hat = sum_b (W_b / W) |acc_b - conf_b|,   W_b = sum_{k in b} w_k,
      acc_b = sum_{k in b} w_k y_k / W_b,  conf_b = sum_{k in b} w_k c_k / W_b,

  with a percentile bootstrap interval (resampling labelled items with replacement and keeping
  their weights; Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13). With one
  sampling rate in a domain the weights are equal and these reduce to the ordinary (unweighted)
  audit numbers, so each domain's full matrix row from :func:`guardrail.calibration.audit` is also
  reported.
- **Review-queue labels** (``reason="review"``) are the answers the policy itself doubted: a biased
  sample by design. They are audited separately (unweighted) and never mixed into the live
  estimate.

Labels become outcomes as: ``correct`` -> 1, ``incorrect`` -> 0, ``partially`` -> per
``partial`` (default: counts as incorrect, a strict reading), ``cannot_judge`` -> excluded.
Items without the confidence signal are excluded and counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from guardrail.calibration import (
    EDGE_TOLERANCE,
    AuditRecord,
    AuditReport,
    CalibrationProfile,
    Interval,
    assign_bins,
    audit,
    width_edges,
)
from guardrail.calibration.stats import beta_ppf
from guardrail.review.models import ReviewItem, ReviewLabel, ReviewReason, ReviewStatus

__all__ = [
    "DriftRow",
    "LiveAuditReport",
    "LiveEstimate",
    "PartialAs",
    "WeightedBin",
    "horvitz_thompson_mean",
    "korn_graubard_interval",
    "live_audit",
    "parse_window",
    "to_audit_records",
]

PartialAs = Literal["incorrect", "correct", "exclude"]


def parse_window(text: str) -> timedelta:
    """Parse a time window like ``7d``, ``12h``, ``30m``, ``2w`` or ``90s`` into a timedelta.

    Raises:
        ValueError: not ``<positive number><s|m|h|d|w>``.
    """
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    t = text.strip().lower()
    if len(t) >= 2 and t[-1] in units:
        try:
            value = float(t[:-1])
        except ValueError:
            value = -1.0
        if value > 0 and math.isfinite(value):
            return timedelta(**{units[t[-1]]: value})
    raise ValueError(f"bad time window {text!r}: use e.g. 7d, 12h, 30m, 2w")


def _outcome(label: ReviewLabel | None, partial: PartialAs) -> bool | None:
    if label is ReviewLabel.CORRECT:
        return True
    if label is ReviewLabel.INCORRECT:
        return False
    if label is ReviewLabel.PARTIALLY:
        return None if partial == "exclude" else partial == "correct"
    return None


def to_audit_records(
    items: Iterable[ReviewItem],
    *,
    signal: str | Mapping[str, str],
    partial: PartialAs = "incorrect",
) -> tuple[list[tuple[AuditRecord, ReviewItem]], int, int]:
    """Turn labelled items into :class:`~guardrail.calibration.AuditRecord` s.

    Args:
        items: review items; those not ``labelled`` are ignored.
        signal: the confidence signal to audit (e.g. ``"verbalized"``), or domain -> signal
            (domains not in the mapping use key ``"*"`` when present).
        partial: how a ``partially`` label counts.

    Returns:
        ``(pairs, n_unjudgeable, n_missing_signal)``: each record with its item; how many labelled
        items were excluded for ``cannot_judge`` (or ``partially`` with ``partial="exclude"``) and
        for lacking a numeric confidence in [0, 1].
    """
    pairs: list[tuple[AuditRecord, ReviewItem]] = []
    unjudgeable = missing = 0
    for it in items:
        if it.status is not ReviewStatus.LABELLED:
            continue
        outcome = _outcome(it.label, partial)
        if outcome is None:
            unjudgeable += 1
            continue
        name = signal if isinstance(signal, str) else signal.get(it.domain, signal.get("*", ""))
        conf = it.signal_float(name) if name else None
        if conf is None or not (0.0 <= conf <= 1.0) or math.isnan(conf):
            missing += 1
            continue
        rec = AuditRecord(
            confidence=conf,
            correct=outcome,
            id=it.id,
            domain=it.domain,
            source=name,
            question=it.question,
            answer=it.answer_shown,
        )
        pairs.append((rec, it))
    return pairs, unjudgeable, missing


def horvitz_thompson_mean(
    y: Sequence[float] | np.ndarray, pi: Sequence[float] | np.ndarray, level: float = 0.95
) -> tuple[float, float, float, float]:
    """Hajek (ratio) Horvitz-Thompson estimate of a population mean from a Poisson sample.

    ``mean = sum(y/pi) / sum(1/pi)``; ``se = sqrt(sum((1-pi)/pi^2 (y-mean)^2)) / sum(1/pi)``
    (Horvitz & Thompson 1952, JASA 47(260):663-685; Sarndal, Swensson & Wretman 1992, sec. 5.7).

    Args:
        y: shape (n,), outcomes (0/1 or any real values).
        pi: shape (n,), inclusion probabilities in (0, 1].
        level: two-sided confidence level in (0, 1) of the normal interval.

    Returns:
        ``(mean, se, low, high)``; the interval is clipped to [min(y), max(y)].

    Raises:
        ValueError: empty input, shapes differ, probabilities outside (0, 1], bad level.
    """
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(pi, dtype=np.float64)
    if yy.ndim != 1 or yy.shape != pp.shape or yy.size == 0:
        raise ValueError(
            f"y and pi must be non-empty 1-D arrays of one length, got {yy.shape}, {pp.shape}"
        )
    if np.any(~np.isfinite(pp)) or np.any(pp <= 0) or np.any(pp > 1):
        raise ValueError("inclusion probabilities must lie in (0, 1]")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    w = 1.0 / pp
    n_hat = float(w.sum())
    mean = float((w * yy).sum() / n_hat)
    var = float(((1.0 - pp) * w * w * (yy - mean) ** 2).sum()) / (n_hat * n_hat)
    se = math.sqrt(max(var, 0.0))
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    low = max(float(yy.min()), mean - z * se)
    high = min(float(yy.max()), mean + z * se)
    return mean, se, low, high


def korn_graubard_interval(
    p_hat: float, variance: float, n: int, level: float = 0.95
) -> tuple[float, float]:
    """Korn-Graubard interval for a proportion estimated from a weighted (survey) sample.

    Clopper-Pearson with effective sample size ``n* = p(1 - p) / variance`` (capped at ``n``;
    ``n* = n`` when ``variance`` is 0, i.e. ``p`` is 0 or 1) and effective count ``x* = n* p``:
    ``low = Beta^-1(alpha/2; x*, n* - x* + 1)``, ``high = Beta^-1(1 - alpha/2; x* + 1, n* - x*)``
    (Korn & Graubard 1998, Survey Methodology 24(2):193-201; Clopper & Pearson 1934, Biometrika
    26(4):404-413).

    Args:
        p_hat: estimated proportion in [0, 1]. variance: its estimated variance (>= 0).
        n: number of sampled units (>= 1). level: two-sided confidence level in (0, 1).

    Returns:
        ``(low, high)`` within [0, 1].

    Raises:
        ValueError: arguments out of range.
    """
    if not 0.0 <= p_hat <= 1.0 or variance < 0 or n < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"bad arguments p={p_hat}, variance={variance}, n={n}, level={level}")
    n_eff = float(n) if variance <= 0.0 else min(float(n), p_hat * (1.0 - p_hat) / variance)
    n_eff = max(n_eff, 1e-9)
    x = p_hat * n_eff
    alpha = 1.0 - level
    low = 0.0 if x <= 0.0 else beta_ppf(alpha / 2.0, x, n_eff - x + 1.0)
    high = 1.0 if x >= n_eff else beta_ppf(1.0 - alpha / 2.0, x + 1.0, n_eff - x)
    return low, high


class WeightedBin(BaseModel):
    """One bin of a weighted reliability table: ``(lower, upper]`` (bin 0 also holds ``lower``).

    ``count``: labelled items in the bin; ``weight``: sum of their ``1 / pi`` (estimated number of
    production answers the bin stands for); ``mean_confidence``/``accuracy``/``gap`` are weighted
    and ``None`` for an empty bin.
    """

    model_config = ConfigDict(frozen=True)

    index: int
    lower: float
    upper: float
    count: int
    weight: float
    mean_confidence: float | None
    accuracy: float | None
    gap: float | None


class LiveEstimate(BaseModel):
    """Horvitz-Thompson live estimate for one group of spot checks (a domain, or ``"all"``).

    ``n``: labelled spot checks used; ``estimated_answers``: ``N_hat = sum 1/pi``, the estimated
    number of non-review answers in the window; ``accuracy``/``accuracy_se``/``accuracy_ci``:
    Hajek estimate, linearisation standard error, Korn-Graubard interval; ``mean_confidence``,
    ``overconfidence`` (= mean confidence - accuracy), ``ece`` (weighted, with bootstrap
    interval ``ece_ci``), ``bins`` (weighted reliability table), ``rates`` (distinct sampling
    rates seen).
    """

    model_config = ConfigDict(frozen=True)

    group: str
    n: int
    estimated_answers: float
    accuracy: float
    accuracy_se: float
    accuracy_ci: Interval
    mean_confidence: float
    overconfidence: float
    ece: float
    ece_ci: Interval | None
    n_bins: int
    bins: list[WeightedBin]
    rates: list[float]
    unweighted_accuracy: float


class DriftRow(BaseModel):
    """Live spot-check calibration of a domain against the profile the policy references.

    ``drifted`` is true when the profile's ECE lies outside the live ECE's bootstrap interval.
    ``message`` is a one-line summary like "medical ECE was 0.08 at audit, 0.21 in the last 7 days".
    """

    model_config = ConfigDict(frozen=True)

    domain: str
    source: str
    profile_ece: float
    profile_accuracy: float
    profile_n: int
    live_ece: float
    live_ece_ci: Interval | None
    live_accuracy: float
    live_n: int
    delta_ece: float
    drifted: bool
    message: str


class LiveAuditReport(BaseModel):
    """Everything ``guardrail review audit`` prints.

    ``spot_check``: one :class:`LiveEstimate` per domain plus ``"all"`` (HT-weighted, unbiased for
    the traffic not sent to review); ``spot_check_matrix``: the calibration package's per-domain
    audit of the spot-check records (unweighted; equal to the weighted numbers when a domain had
    one rate); ``review_queue``: the separate, biased audit of review-decision labels;
    ``drift``: per-domain comparison with calibration profiles; counts of excluded items.
    """

    since: datetime | None
    until: datetime | None
    window: str
    signal: str | dict[str, str]
    partial: PartialAs
    n_labelled: int
    n_unjudgeable: int
    n_missing_signal: int
    spot_check: list[LiveEstimate]
    spot_check_matrix: AuditReport | None
    review_queue: AuditReport | None
    drift: list[DriftRow]


def _weighted_bins(
    conf: np.ndarray, y: np.ndarray, w: np.ndarray, edges: np.ndarray, custom: bool
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ECE, bin index per item, W_b, sum w*c, sum w*y) under the calibration package's rule."""
    idx = assign_bins(conf, edges, "custom" if custom else "width")
    nb = edges.shape[0] - 1
    wb = np.bincount(idx, weights=w, minlength=nb)
    wc = np.bincount(idx, weights=w * conf, minlength=nb)
    wy = np.bincount(idx, weights=w * y, minlength=nb)
    nz = wb > 0
    ece = float(np.abs(wy[nz] - wc[nz]).sum() / wb.sum())
    return ece, idx, wb, wc, wy


def _estimate(
    group: str,
    conf: np.ndarray,
    y: np.ndarray,
    pi: np.ndarray,
    *,
    edges: np.ndarray,
    custom_edges: bool,
    level: float,
    n_bootstrap: int,
    seed: int,
) -> LiveEstimate:
    w = 1.0 / pi
    acc, se, _, _ = horvitz_thompson_mean(y, pi, level)
    if np.all(pi == 1.0):  # a census: no sampling error at all
        low = high = acc
    else:
        low, high = korn_graubard_interval(acc, se * se, int(y.size), level)
    ece, idx, wb, wc, wy = _weighted_bins(conf, y, w, edges, custom_edges)
    counts = np.bincount(idx, minlength=edges.shape[0] - 1)
    bins: list[WeightedBin] = []
    for b in range(edges.shape[0] - 1):
        has = bool(wb[b] > 0)
        mc = float(wc[b] / wb[b]) if has else None
        ac = float(wy[b] / wb[b]) if has else None
        bins.append(
            WeightedBin(
                index=b,
                lower=float(edges[b]),
                upper=float(edges[b + 1]),
                count=int(counts[b]),
                weight=float(wb[b]),
                mean_confidence=mc,
                accuracy=ac,
                gap=None if mc is None or ac is None else ac - mc,
            )
        )
    ece_ci: Interval | None = None
    if n_bootstrap > 0 and conf.size >= 2:
        rng = np.random.default_rng(seed)
        stats = np.empty(n_bootstrap)
        for r in range(n_bootstrap):
            pick = rng.integers(0, conf.size, conf.size)
            stats[r] = _weighted_bins(conf[pick], y[pick], w[pick], edges, custom_edges)[0]
        alpha = (1.0 - level) / 2.0
        ece_ci = Interval(
            estimate=ece,
            low=float(np.quantile(stats, alpha)),
            high=float(np.quantile(stats, 1.0 - alpha)),
            level=level,
            method=f"percentile bootstrap, {n_bootstrap} resamples, weights kept",
        )
    mean_conf = float((w * conf).sum() / w.sum())
    return LiveEstimate(
        group=group,
        n=int(conf.size),
        estimated_answers=float(w.sum()),
        accuracy=acc,
        accuracy_se=se,
        accuracy_ci=Interval(
            estimate=acc, low=low, high=high, level=level, method="Hajek-HT, Korn-Graubard"
        ),
        mean_confidence=mean_conf,
        overconfidence=mean_conf - acc,
        ece=ece,
        ece_ci=ece_ci,
        n_bins=edges.shape[0] - 1,
        bins=bins,
        rates=sorted({float(p) for p in pi}),
        unweighted_accuracy=float(y.mean()),
    )


def _edges_for(profile: CalibrationProfile | None, n_bins: int) -> tuple[np.ndarray, bool]:
    if profile is None:
        return width_edges(n_bins), False
    edges = np.asarray(profile.edges, dtype=np.float64)
    uniform = np.allclose(
        edges, np.arange(edges.size) / (edges.size - 1), rtol=0, atol=EDGE_TOLERANCE
    )
    return edges, not (profile.binning == "width" and uniform)


def _window_text(since: datetime | None, until: datetime | None, window: str) -> str:
    if window:
        names = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
        w = window.strip()
        try:
            value = float(w[:-1])
            unit = names[w[-1].lower()]
            text = f"{value:g} {unit}{'' if value == 1 else 's'}"
        except (ValueError, KeyError, IndexError):
            text = w
        return f"in the last {text}"
    if since is None and until is None:
        return "live"
    parts = []
    if since is not None:
        parts.append(f"since {since:%Y-%m-%d %H:%M}")
    if until is not None:
        parts.append(f"until {until:%Y-%m-%d %H:%M}")
    return " ".join(parts)


def live_audit(
    items: Iterable[ReviewItem],
    *,
    signal: str | Mapping[str, str] = "verbalized",
    profiles: Mapping[str, CalibrationProfile] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    window: str = "",
    partial: PartialAs = "incorrect",
    n_bins: int = 10,
    level: float = 0.95,
    n_bootstrap: int = 500,
    seed: int = 0,
) -> LiveAuditReport:
    """Live calibration audit of labelled review items (see the module docstring for formulas).

    Args:
        items: review items (any status; only ``labelled`` ones count), e.g. ``store.list()``.
        signal: confidence signal to audit, or domain -> signal (``"*"`` = default). When a
            domain has a profile and no explicit mapping, the profile's ``source`` is used.
        profiles: domain -> calibration profile the policy references (for drift; its binning is
            reused for the domain's live ECE so the two numbers are comparable).
        since, until: keep items created in ``[since, until)`` (aware datetimes).
        window: human text for the window (e.g. ``"7d"``), used in drift messages.
        partial: how ``partially`` labels count.
        n_bins: equal-width bins for domains without a profile.
        level: confidence level of the intervals.
        n_bootstrap: resamples for the ECE intervals (0 = none).
        seed: bootstrap seed.

    Returns:
        A :class:`LiveAuditReport`; groups with no usable labels are absent.

    Raises:
        ValueError: bad ``n_bins``/``level``.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    profiles = dict(profiles or {})
    sig: dict[str, str] = {"*": signal} if isinstance(signal, str) else dict(signal)
    explicit = set(sig) - {"*"}
    for dom, dom_prof in profiles.items():
        if dom not in explicit:
            sig[dom] = dom_prof.source
    chosen = [
        it
        for it in items
        if (since is None or it.created_at >= since) and (until is None or it.created_at < until)
    ]
    pairs, unjudgeable, missing = to_audit_records(chosen, signal=sig, partial=partial)
    spot = [(r, it) for r, it in pairs if it.reason is ReviewReason.SPOT_CHECK]
    queue = [(r, it) for r, it in pairs if it.reason is ReviewReason.REVIEW]

    estimates: list[LiveEstimate] = []
    by_domain: dict[str, list[tuple[AuditRecord, ReviewItem]]] = {}
    for r, it in spot:
        by_domain.setdefault(it.domain, []).append((r, it))

    def arrays(
        rows: list[tuple[AuditRecord, ReviewItem]],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.array([r.confidence for r, _ in rows], dtype=np.float64),
            np.array([1.0 if r.correct else 0.0 for r, _ in rows], dtype=np.float64),
            np.array([it.sampling_rate for _, it in rows], dtype=np.float64),
        )

    drift: list[DriftRow] = []
    when = _window_text(since, until, window)
    for k, domain in enumerate(sorted(by_domain)):
        prof = profiles.get(domain)
        edges, custom = _edges_for(prof, n_bins)
        c, y, p = arrays(by_domain[domain])
        est = _estimate(domain, c, y, p, edges=edges, custom_edges=custom, level=level,
                        n_bootstrap=n_bootstrap, seed=seed + k)  # fmt: skip
        estimates.append(est)
        if prof is not None:
            ci = est.ece_ci
            drifted = ci is not None and not (ci.low <= prof.ece <= ci.high)
            drift.append(
                DriftRow(
                    domain=domain,
                    source=prof.source,
                    profile_ece=prof.ece,
                    profile_accuracy=prof.accuracy,
                    profile_n=prof.n,
                    live_ece=est.ece,
                    live_ece_ci=ci,
                    live_accuracy=est.accuracy,
                    live_n=est.n,
                    delta_ece=est.ece - prof.ece,
                    drifted=drifted,
                    message=f"{domain} ECE was {prof.ece:.2f} at audit, {est.ece:.2f} {when}"
                    + (f" (n={est.n})" if est.n else ""),
                )
            )
    if spot and len(by_domain) > 1:
        c, y, p = arrays(spot)
        edges, custom = _edges_for(None, n_bins)
        estimates.append(
            _estimate(
                "all",
                c,
                y,
                p,
                edges=edges,
                custom_edges=custom,
                level=level,
                n_bootstrap=n_bootstrap,
                seed=seed + len(by_domain),
            )
        )

    def matrix(rows: list[tuple[AuditRecord, ReviewItem]]) -> AuditReport | None:
        if not rows:
            return None
        return audit([r for r, _ in rows], ("domain",), n_bins=n_bins, n_bootstrap=n_bootstrap,
                     seed=seed, level=level)  # fmt: skip

    return LiveAuditReport(
        since=since,
        until=until,
        window=window,
        signal=signal if isinstance(signal, str) else dict(signal),
        partial=partial,
        n_labelled=len(pairs) + unjudgeable + missing,
        n_unjudgeable=unjudgeable,
        n_missing_signal=missing,
        spot_check=estimates,
        spot_check_matrix=matrix(spot),
        review_queue=matrix(queue),
        drift=drift,
    )
