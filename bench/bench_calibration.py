"""Benchmark guardrail.calibration against numpy and scikit-learn doing the same work.

Run: ``/work/venv/bin/python bench/bench_calibration.py [--n 1000000] [--resamples 100]``
(needs the ``bench`` extra: scikit-learn).

Data: N synthetic records whose calibration gap changes sign across bins (under-confident below
0.5, over-confident above: P(correct) = 0.15 + 0.7 c), so ECE is not just mean(conf) - accuracy
and a wrong bin assignment changes the number.

1. ECE alone, 15 equal-width bins: ``expected_calibration_error`` vs a plain numpy ``bincount``
   ECE (right-closed bins like ours) vs scikit-learn's ``calibration_curve`` recipe (its bin
   accuracies and mean confidences weighted by ``np.histogram`` counts). All three return the ECE
   from the same arrays; the script checks they agree.
2. Point metrics ECE + Brier + AUROC: three guardrail calls vs scikit-learn's
   ``calibration_curve`` + ``brier_score_loss`` + ``roc_auc_score``.
3. Bootstrap with equal work: every side computes ECE (15 bins), Brier and accuracy on each of B
   resamples and takes percentile intervals: ``bootstrap_ci`` vs a plain numpy loop vs the
   scikit-learn recipe loop (all B resamples measured, nothing scaled). No side computes AUROC.
4. 10 x N records audited in chunks through ``CalibrationAccumulator`` (peak traced memory),
   exact and with confidences rounded to 6 decimals.

Timing: ``--repeat`` interleaved rounds (every contender once per round, in turn), median and
min-max of ``time.perf_counter``; ratios are of medians from this run. The 1- and 5-minute load
averages are printed at the start and the end (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from guardrail.calibration import (
    CalibrationAccumulator,
    auroc,
    bootstrap_ci,
    brier_score,
    expected_calibration_error,
)

N_BINS = 15


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidence ~ Beta(2, 2); P(correct) = 0.15 + 0.7 c: the gap changes sign at c = 0.5."""
    rng = np.random.default_rng(seed)
    conf = rng.beta(2.0, 2.0, n)
    correct = rng.random(n) < 0.15 + 0.7 * conf
    return conf, correct


def numpy_ece(conf: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """The baseline: right-closed equal-width bins by ceil, and the two bincounts ECE needs
    (sum_b |correct_b - sum conf_b| / N equals sum_b (n_b/N) |acc_b - conf_b|)."""
    b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    cor = np.bincount(b, weights=correct, minlength=n_bins)
    sc = np.bincount(b, weights=conf, minlength=n_bins)
    return float(np.abs(cor - sc).sum() / conf.shape[0])


def sklearn_ece(conf: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """The common scikit-learn recipe: calibration_curve plus np.histogram counts."""
    from sklearn.calibration import calibration_curve

    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=n_bins)
    counts = np.histogram(conf, bins=np.linspace(0.0, 1.0, n_bins + 1))[0]
    w = counts[counts > 0] / conf.shape[0]
    return float(np.sum(w * np.abs(prob_true - prob_pred)))


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def show(
    times: dict[str, list[float]], baseline: str, unit: float = 1e3, label: str = "ms"
) -> None:
    base = statistics.median(times[baseline])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"   {name:34s} {med * unit:9.1f} {label}  (min {min(ts) * unit:.1f}, "
            f"max {max(ts) * unit:.1f})   {med / base:5.2f}x {baseline}"
        )


def peak_mib(fn: Callable[[], Any]) -> tuple[float, Any]:
    tracemalloc.start()
    out = fn()
    _, p = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return p / 2**20, out


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--resamples", type=int, default=100)
    ap.add_argument("--chunks", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-chunks", action="store_true", help="skip section 4")
    args = ap.parse_args()

    import sklearn
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss, roc_auc_score

    print(f"start: {load()}")
    conf, correct = synthetic(args.n, args.seed)
    print(
        f"records: {args.n:,} synthetic (confidence ~ Beta(2,2), P(correct) = 0.15 + 0.7 conf: "
        "under-confident below 0.5, over-confident above)"
    )
    print(f"numpy {np.__version__}, scikit-learn {sklearn.__version__}")

    ours = expected_calibration_error(conf, correct, N_BINS)
    ref = numpy_ece(conf, correct)
    skl = sklearn_ece(conf, correct)
    gaps = [b.gap for b in ours.bins if b.gap is not None]
    assert abs(ours.value - ref) < 1e-12, (ours.value, ref)
    assert abs(ours.value - skl) < 1e-9, (ours.value, skl)  # no record sits on an edge
    assert min(gaps) < 0 < max(gaps)
    print(
        f"\n1) ECE alone, {N_BINS} equal-width bins, {args.repeat} interleaved rounds "
        f"(ECE {ours.value:.6f} on all three; bin gaps from {min(gaps):+.3f} to {max(gaps):+.3f})"
    )
    t = interleaved(
        {
            "numpy bincount ECE (baseline)": lambda: numpy_ece(conf, correct),
            "guardrail expected_calibration_error": lambda: expected_calibration_error(
                conf, correct, N_BINS
            ),
            "scikit-learn calibration_curve ECE": lambda: sklearn_ece(conf, correct),
        },
        args.repeat,
    )
    show(t, "numpy bincount ECE (baseline)")
    m_o, _ = peak_mib(lambda: expected_calibration_error(conf, correct, N_BINS))
    m_n, _ = peak_mib(lambda: numpy_ece(conf, correct))
    m_s, _ = peak_mib(lambda: sklearn_ece(conf, correct))
    print(f"   peak traced memory: guardrail {m_o:.1f} MiB, numpy {m_n:.1f}, sklearn {m_s:.1f}")

    def ours_point() -> tuple[float, float, float | None]:
        return (
            expected_calibration_error(conf, correct, N_BINS).value,
            brier_score(conf, correct).value,
            auroc(conf, correct).value,
        )

    def sk_point() -> tuple[Any, float, float]:
        return (
            calibration_curve(correct, conf, n_bins=N_BINS),
            float(brier_score_loss(correct, conf)),
            float(roc_auc_score(correct, conf)),
        )

    r_o, r_s = ours_point(), sk_point()
    assert abs(r_o[1] - r_s[1]) < 1e-9 and r_o[2] is not None and abs(r_o[2] - r_s[2]) < 1e-9
    print(f"\n2) point metrics ECE + Brier + AUROC, {args.repeat} interleaved rounds")
    t = interleaved(
        {"scikit-learn trio (baseline)": sk_point, "guardrail, 3 calls": ours_point},
        args.repeat,
    )
    show(t, "scikit-learn trio (baseline)")
    print(f"   same Brier and AUROC to 1e-9: {r_o[1]:.6f} / {r_o[2]:.6f}")

    level = 0.95
    q = [(1 - level) / 2, (1 + level) / 2]

    def numpy_boot() -> np.ndarray:
        rng = np.random.default_rng(args.seed)
        out = np.empty((args.resamples, 3))
        for r in range(args.resamples):
            idx = rng.integers(0, args.n, args.n)
            c, y = conf[idx], correct[idx]
            out[r] = (numpy_ece(c, y), float(np.mean((c - y) ** 2)), float(y.mean()))
        return np.quantile(out, q, axis=0)

    def sk_boot() -> np.ndarray:
        rng = np.random.default_rng(args.seed)
        out = np.empty((args.resamples, 3))
        for r in range(args.resamples):
            idx = rng.integers(0, args.n, args.n)
            c, y = conf[idx], correct[idx]
            out[r] = (sklearn_ece(c, y), float(brier_score_loss(y, c)), float(y.mean()))
        return np.quantile(out, q, axis=0)

    def ours_boot() -> Any:
        return bootstrap_ci(
            conf, correct, n_resamples=args.resamples, seed=args.seed, n_bins=N_BINS
        )

    boot_rounds = 3
    print(
        f"\n3) bootstrap, equal work: ECE ({N_BINS} bins) + Brier + accuracy on each of "
        f"{args.resamples} resamples, percentile 95% intervals, {boot_rounds} interleaved rounds"
    )
    t = interleaved(
        {
            "numpy bootstrap loop (baseline)": numpy_boot,
            "guardrail bootstrap_ci": ours_boot,
            "scikit-learn recipe loop": sk_boot,
        },
        boot_rounds,
    )
    show(t, "numpy bootstrap loop (baseline)", unit=1.0, label="s ")
    boot = ours_boot()
    nb = numpy_boot()
    print(
        f"   guardrail ECE {boot.ece.estimate:.4f} [{boot.ece.low:.4f}, {boot.ece.high:.4f}]  "
        f"Brier {boot.brier.estimate:.4f} [{boot.brier.low:.4f}, {boot.brier.high:.4f}]"
    )
    print(
        f"   numpy     ECE interval [{nb[0, 0]:.4f}, {nb[1, 0]:.4f}]  "
        f"Brier [{nb[0, 1]:.4f}, {nb[1, 1]:.4f}]  (different resampling streams)"
    )

    if not args.skip_chunks:
        total = args.n * args.chunks

        def chunked(decimals: int | None = None) -> CalibrationAccumulator:
            acc = CalibrationAccumulator(decimals=decimals)
            for i in range(args.chunks):
                c, y = synthetic(args.n, args.seed + 1 + i)
                acc.update(c, y)
            acc.expected_calibration_error()
            acc.brier_score()
            acc.auroc()
            acc.aurc()
            return acc

        for decimals in (None, 6):
            t0 = time.perf_counter()
            m_c, acc = peak_mib(lambda d=decimals: chunked(d))
            dt = time.perf_counter() - t0
            what = "exact" if decimals is None else f"decimals={decimals}"
            print(
                f"\n4) {total:,} records in {args.chunks} chunks (CalibrationAccumulator, {what})"
            )
            print(
                f"   ECE {acc.expected_calibration_error().value:.4f}  "
                f"Brier {acc.brier_score().value:.4f}  AUROC {acc.auroc().value:.4f}  "
                f"AURC {acc.aurc().aurc:.4f}"
            )
            print(
                f"   {dt:8.3f} s (one run)   peak traced {m_c:8.1f} MiB   "
                f"distinct confidences {len(acc.table.values):,}"
            )

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess max RSS over the whole run: {rss:.0f} MiB")
    print(f"end: {load()}")
    print("netcal: not compared (netcal 1.4.0 on PyPI requires torch, gpytorch and pyro-ppl).")


if __name__ == "__main__":
    main()
