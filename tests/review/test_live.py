"""Live calibration: Horvitz-Thompson weighting (hand-worked values and known-answer synthetic
streams), the separation of review-queue labels, exclusions, windows and drift."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from guardrail.calibration import CalibrationMap, CalibrationProfile, audit
from guardrail.review import InMemoryReviewStore, ReviewItem, SpotCheckSampler
from guardrail.review.live import (
    horvitz_thompson_mean,
    korn_graubard_interval,
    live_audit,
    parse_window,
    to_audit_records,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_ht_mean_worked_by_hand() -> None:
    # y = [1, 0, 1], pi = [0.5, 0.5, 0.25] -> w = [2, 2, 4], N_hat = 8, mean = (2 + 4) / 8 = 0.75.
    # (1 - pi)/pi^2 = [2, 2, 12]; sum of (1-pi)/pi^2 (y - 0.75)^2 = 0.125 + 1.125 + 0.75 = 2.0;
    # V = 2 / 64 = 0.03125, se = 0.1767767.
    mean, se, low, high = horvitz_thompson_mean([1, 0, 1], [0.5, 0.5, 0.25])
    assert mean == pytest.approx(0.75, abs=1e-15)
    assert se == pytest.approx(math.sqrt(0.03125), rel=1e-12)
    assert low == pytest.approx(0.75 - 1.959963984540054 * se, rel=1e-12)
    assert high == 1.0  # clipped to max(y)
    # A census (pi = 1 everywhere) has no sampling error.
    assert horvitz_thompson_mean([1, 0, 0, 1], [1, 1, 1, 1])[:2] == (0.5, 0.0)
    with pytest.raises(ValueError):
        horvitz_thompson_mean([1], [0.0])
    with pytest.raises(ValueError):
        horvitz_thompson_mean([], [])


def test_korn_graubard_worked_by_hand() -> None:
    # variance 0.25/20 at p = 0.5 with n = 40 -> effective n* = 20, x* = 10: Clopper-Pearson for
    # 10 of 20 is [0.2720, 0.7280] (Clopper & Pearson 1934 tables; e.g. R binom.test(10, 20)).
    low, high = korn_graubard_interval(0.5, 0.25 / 20, 40)
    assert (round(low, 4), round(high, 4)) == (0.2720, 0.7280)
    # All correct (variance 0): n* = n. One of one -> [0.025, 1] (0.025 ** (1/1)); the normal
    # interval would be the useless [1, 1].
    assert korn_graubard_interval(1.0, 0.0, 1) == (pytest.approx(0.025, abs=1e-12), 1.0)
    # 30 of 30: lower bound 0.025 ** (1/30) = 0.88430.
    assert korn_graubard_interval(1.0, 0.0, 30)[0] == pytest.approx(0.025 ** (1 / 30), abs=1e-9)
    with pytest.raises(ValueError):
        korn_graubard_interval(1.2, 0.0, 3)


def test_all_correct_week_gets_an_honest_interval() -> None:
    items = [_spot(i, 0.9, "correct", 0.1) for i in range(1, 31)]
    (est,) = live_audit(items, n_bootstrap=0).spot_check
    assert est.accuracy == 1.0 and est.accuracy_se == 0.0
    assert est.accuracy_ci.low == pytest.approx(0.025 ** (1 / 30), abs=1e-9)
    census = [_spot(i, 0.9, "correct" if i % 2 else "incorrect", 1.0) for i in range(1, 11)]
    (c,) = live_audit(census, n_bootstrap=0).spot_check
    assert (c.accuracy_ci.low, c.accuracy, c.accuracy_ci.high) == (0.5, 0.5, 0.5)  # no sampling


def _spot(n: int, conf: float, label: str, rate: float, domain: str = "medical") -> ReviewItem:
    return ReviewItem(
        id=f"s{n}", created_at=T0 + timedelta(minutes=n), domain=domain, decision="pass",
        reason="spot_check", sampling_rate=rate, signals={"verbalized": conf},
        status="labelled", label=label, reviewer="ann",
    )  # fmt: skip


def test_weighted_ece_worked_by_hand() -> None:
    # conf 0.9 correct (pi 0.5, w 2); conf 0.9 wrong (pi 0.25, w 4); conf 0.3 correct (pi 1, w 1).
    # Bin (0.8, 0.9]: W 6, acc 2/6, conf 0.9 -> |gap| 0.566667; bin (0.2, 0.3]: W 1, gap 0.7.
    # ECE = 6/7 * 0.566667 + 1/7 * 0.7 = 0.585714 (unweighted would be 2/3*0.4 + 1/3*0.7 = 0.5).
    items = [_spot(1, 0.9, "correct", 0.5), _spot(2, 0.9, "incorrect", 0.25),
             _spot(3, 0.3, "correct", 1.0)]  # fmt: skip
    rep = live_audit(items, n_bootstrap=0)
    (est,) = rep.spot_check
    assert est.ece == pytest.approx(6 / 7 * (0.9 - 2 / 6) + 1 / 7 * 0.7, abs=1e-12)
    assert est.ece == pytest.approx(0.585714, abs=1e-6)
    assert est.accuracy == pytest.approx(3 / 7, abs=1e-12)  # (2 + 1) / 7
    assert est.estimated_answers == 7.0
    assert est.unweighted_accuracy == pytest.approx(2 / 3)
    b8 = est.bins[8]
    assert (b8.count, b8.weight, b8.accuracy) == (2, 6.0, pytest.approx(1 / 3))
    assert est.bins[0].count == 0 and est.bins[0].accuracy is None
    assert est.rates == [0.25, 0.5, 1.0]


def _stream(n: int, seed: int, med_share: float = 0.3) -> dict[str, np.ndarray]:
    """Synthetic production stream with known truth: confidence ~ U(0.5, 1); general is
    calibrated (P(correct) = conf), medical overconfident (P(correct) = conf - 0.2); the policy
    sends conf < 0.6 to review."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.5, 1.0, n)
    medical = rng.random(n) < med_share
    p = np.where(medical, conf - 0.2, conf)
    return {
        "conf": conf,
        "correct": rng.random(n) < p,
        "domain": np.where(medical, "medical", "general"),
        "review": conf < 0.6,
    }


def _fill(store: InMemoryReviewStore, s: dict[str, np.ndarray], sampler: SpotCheckSampler,
          tag: str) -> None:  # fmt: skip
    for i in range(s["conf"].size):
        rid = f"{tag}-{i}"
        dom = str(s["domain"][i])
        decision = "review" if s["review"][i] else "pass"
        rate = sampler.pick(rid, domain=dom, decision=decision)
        if decision == "review":
            kw: dict[str, object] = {"reason": "review"}
        elif rate is not None:
            kw = {"reason": "spot_check", "sampling_rate": rate}
        else:
            continue
        it = ReviewItem(id=rid, request_id=rid, domain=dom, decision=decision,
                        signals={"verbalized": float(s["conf"][i])}, **kw)  # type: ignore[arg-type]  # fmt: skip
        store.enqueue(it)
        store.label(rid, "correct" if s["correct"][i] else "incorrect", reviewer="r")


def test_known_answer_ten_percent_recovers_true_accuracy() -> None:
    """20,000 decisions, spot-checked at 10%: the HT interval contains the true accuracy of the
    traffic not sent to review, per domain and overall; review labels stay separate."""
    s = _stream(20_000, seed=11)
    store = InMemoryReviewStore()
    _fill(store, s, SpotCheckSampler(0.10, seed="known-answer"), "k")
    rep = live_audit(store.list(), n_bootstrap=0)
    keep = ~s["review"]
    est = {e.group: e for e in rep.spot_check}
    for dom in ("general", "medical"):
        m = keep & (s["domain"] == dom)
        truth = float(s["correct"][m].mean())
        e = est[dom]
        assert e.accuracy_ci.low <= truth <= e.accuracy_ci.high, (dom, truth, e.accuracy_ci)
        # About 10% of the domain's non-review traffic was labelled.
        assert abs(e.n / m.sum() - 0.10) < 5 * math.sqrt(0.09 / m.sum())
        assert abs(e.estimated_answers - m.sum()) < 5 * math.sqrt(m.sum() * 0.9 / 0.1)
    truth_all = float(s["correct"][keep].mean())
    assert est["all"].accuracy_ci.low <= truth_all <= est["all"].accuracy_ci.high
    # Medical is overconfident by 0.2 by construction; the live estimate sees it.
    assert est["medical"].overconfidence == pytest.approx(0.2, abs=0.05)
    assert est["general"].overconfidence == pytest.approx(0.0, abs=0.05)
    # Review-queue labels are reported separately and are a biased (harder) sample.
    assert rep.review_queue is not None
    assert rep.review_queue.overall.n == int(s["review"].sum())
    assert rep.review_queue.overall.accuracy.estimate < truth_all - 0.1
    # With one rate per domain the weighted ECE equals the calibration package's ECE.
    assert rep.spot_check_matrix is not None
    for g in rep.spot_check_matrix.groups:
        assert est[g.key["domain"]].ece == pytest.approx(g.ece, abs=1e-12)


def test_mixed_rates_need_the_weights() -> None:
    """Medical sampled at 50%, general at 5%: the unweighted pooled accuracy is badly biased
    toward medical; the HT estimate still covers the truth."""
    s = _stream(20_000, seed=5, med_share=0.25)
    store = InMemoryReviewStore()
    sampler = SpotCheckSampler(0.05, seed=9, domain_rates={"medical": 0.5})
    _fill(store, s, sampler, "m")
    rep = live_audit(store.list(), n_bootstrap=0)
    overall = next(e for e in rep.spot_check if e.group == "all")
    truth = float(s["correct"][~s["review"]].mean())
    assert overall.accuracy_ci.low <= truth <= overall.accuracy_ci.high
    assert overall.unweighted_accuracy < overall.accuracy_ci.low  # naive pooling fails
    assert truth - overall.unweighted_accuracy > 0.05


def test_interval_coverage_over_replications() -> None:
    """200 independent streams of 4,000 decisions at 10%: the reported 95% interval
    (Korn-Graubard) should cover the true accuracy in about 95% of them (binomial sd of the
    coverage = 0.015)."""
    covered = 0
    reps = 200
    for r in range(reps):
        s = _stream(4_000, seed=1000 + r)
        keep = ~s["review"]
        ids = np.arange(s["conf"].size)
        sampler = SpotCheckSampler(0.10, seed=r)
        picked = np.array([sampler.should_sample(f"c{i}") for i in ids]) & keep
        y = s["correct"][picked].astype(float)
        acc, se, _, _ = horvitz_thompson_mean(y, np.full(y.size, 0.10))
        low, high = korn_graubard_interval(acc, se * se, y.size)
        truth = float(s["correct"][keep].mean())
        covered += low <= truth <= high
    assert 0.90 <= covered / reps <= 0.99


def test_exclusions_partial_and_window() -> None:
    items = [
        _spot(1, 0.8, "correct", 0.1),
        _spot(2, 0.8, "partially", 0.1),
        _spot(3, 0.8, "cannot_judge", 0.1),
        ReviewItem(
            id="nosig",
            domain="medical",
            decision="pass",
            reason="spot_check",
            sampling_rate=0.1,
            status="labelled",
            label="correct",
            signals={"verbalized": None},
        ),
        _spot(9, 0.8, "incorrect", 0.1),
        ReviewItem(id="pending", domain="medical", signals={"verbalized": 0.5}),
    ]
    pairs, unjudgeable, missing = to_audit_records(items, signal="verbalized")
    assert [(r.id, r.correct) for r, _ in pairs] == [("s1", True), ("s2", False), ("s9", False)]
    assert (unjudgeable, missing) == (1, 1)
    pairs, unjudgeable, _ = to_audit_records(items, signal="verbalized", partial="exclude")
    assert [r.id for r, _ in pairs] == ["s1", "s9"] and unjudgeable == 2
    rep = live_audit(items, until=T0 + timedelta(minutes=5), n_bootstrap=0)
    assert rep.spot_check[0].n == 2  # s1, s2 (s9 is after the window)
    assert rep.n_unjudgeable == 1 and rep.n_missing_signal == 0


def test_parse_window() -> None:
    assert parse_window("7d") == timedelta(days=7)
    assert parse_window("12h") == timedelta(hours=12)
    assert parse_window("1.5w") == timedelta(days=10, hours=12)
    for bad in ("7", "d", "-1d", "7y", ""):
        with pytest.raises(ValueError, match="bad time window"):
            parse_window(bad)


def _profile(ece: float) -> CalibrationProfile:
    return CalibrationProfile(
        domain="medical", source="verbalized", binning="width", n_bins=10,
        edges=[i / 10 for i in range(11)],
        map=CalibrationMap(method="isotonic", x=[0.0, 1.0], y=[0.0, 1.0], n=[1, 1]),
        n=200, accuracy=0.7, mean_confidence=0.78, ece=ece, data_hash="test",
        created=T0,
    )  # fmt: skip


def test_drift_against_profile() -> None:
    s = _stream(20_000, seed=3)
    store = InMemoryReviewStore()
    _fill(store, s, SpotCheckSampler(0.10, seed=1), "d")
    rep = live_audit(store.list(), profiles={"medical": _profile(0.08)}, window="7d",
                     n_bootstrap=300)  # fmt: skip
    (row,) = rep.drift
    # Medical is overconfident by ~0.2 at every confidence, so its live ECE is about 0.2.
    assert row.live_ece == pytest.approx(0.2, abs=0.04)
    assert row.drifted and row.delta_ece > 0.08
    assert row.message.startswith("medical ECE was 0.08 at audit, 0.")
    assert "in the last 7 days" in row.message
    assert row.live_ece_ci is not None and row.live_ece_ci.low > 0.08
    # A profile that matches the live behaviour is not flagged.
    same = live_audit(store.list(), profiles={"medical": _profile(row.live_ece)}, n_bootstrap=300)
    assert not same.drift[0].drifted


def test_matrix_comes_from_the_calibration_package() -> None:
    items = [_spot(i, 0.9, "correct" if i % 3 else "incorrect", 0.1) for i in range(1, 31)]
    rep = live_audit(items, n_bootstrap=0)
    direct = audit([r for r, _ in to_audit_records(items, signal="verbalized")[0]],
                   ("domain",), n_bootstrap=0)  # fmt: skip
    assert rep.spot_check_matrix is not None
    assert rep.spot_check_matrix.groups[0].ece == direct.groups[0].ece
    assert rep.spot_check[0].ece == pytest.approx(direct.groups[0].ece, abs=1e-12)
