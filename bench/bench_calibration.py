"""Benchmark guardrail.calibration against scikit-learn on synthetic audit records.

Run: ``.venv/bin/python bench/bench_calibration.py [--n 1000000] [--resamples 200]``
(needs the ``bench`` extra: scikit-learn).

1. Point metrics on N records: our ECE + Brier + AUROC vs scikit-learn's
   ``calibration_curve`` + ``brier_score_loss`` + ``roc_auc_score`` on the same arrays.
2. The issue's workload, ECE + Brier + AUROC + B bootstrap resamples, vs the same scikit-learn
   trio run on B resamples (scikit-learn is timed on ``--sklearn-resamples`` resamples and scaled
   to B; the script says so in its output).
3. 10 x N records audited in chunks through ``CalibrationAccumulator`` (peak traced memory),
   exact and with confidences rounded to 6 decimals.

Time: best of ``--repeat`` runs (time.perf_counter). Memory: peak of tracemalloc (numpy reports
its buffers to tracemalloc) for that step alone, plus the process's max RSS at the end.
netcal is not compared: its current PyPI release (1.4.0) requires torch, gpytorch and pyro-ppl.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from guardrail.calibration import (
    CalibrationAccumulator,
    auroc,
    brier_score,
    expected_calibration_error,
)


def measure(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """(best seconds, peak MiB traced, last result)."""
    best = float("inf")
    peak = 0.0
    out: Any = None
    for _ in range(repeat):
        tracemalloc.start()
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        _, p = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        best = min(best, dt)
        peak = max(peak, p / 2**20)
    return best, peak, out


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    conf = rng.beta(2.0, 2.0, n)
    correct = rng.random(n) < conf**1.3  # overconfident model
    return conf, correct


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--sklearn-resamples", type=int, default=10)
    ap.add_argument("--chunks", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss, roc_auc_score

    conf, correct = synthetic(args.n, args.seed)
    print(f"records: {args.n:,} synthetic (confidence ~ Beta(2,2), P(correct) = conf^1.3)")

    def ours_point() -> tuple[float, float, float | None]:
        return (
            expected_calibration_error(conf, correct, 10).value,
            brier_score(conf, correct).value,
            auroc(conf, correct).value,
        )

    def sk_point(c: np.ndarray = conf, y: np.ndarray = correct) -> tuple[Any, float, float]:
        return (
            calibration_curve(y, c, n_bins=10),
            float(brier_score_loss(y, c)),
            float(roc_auc_score(y, c)),
        )

    def ours_one_table() -> tuple[float, float, float | None]:
        acc = CalibrationAccumulator().update(conf, correct)
        return (
            acc.expected_calibration_error(10).value,
            acc.brier_score().value,
            acc.auroc().value,
        )

    t_o, m_o, r_o = measure(ours_point, args.repeat)
    t_a, m_a, r_a = measure(ours_one_table, args.repeat)
    assert r_a == r_o
    t_s, m_s, r_s = measure(sk_point, args.repeat)
    assert abs(r_o[1] - r_s[1]) < 1e-9 and r_o[2] is not None and abs(r_o[2] - r_s[2]) < 1e-9
    print("\n1) point metrics (ECE + Brier + AUROC)")
    print(f"   guardrail, 3 calls      {t_o:8.3f} s   peak {m_o:8.1f} MiB")
    print(f"   guardrail, one table    {t_a:8.3f} s   peak {m_a:8.1f} MiB   (accumulator)")
    print(f"   scikit-learn            {t_s:8.3f} s   peak {m_s:8.1f} MiB")
    print(f"   sklearn/guardrail (3 calls):   time {t_s / t_o:5.2f}x  memory {m_s / m_o:5.2f}x")
    print(f"   sklearn/guardrail (one table): time {t_s / t_a:5.2f}x  memory {m_s / m_a:5.2f}x")
    print(f"   same Brier and AUROC: {r_o[1]:.6f} / {r_o[2]:.6f}")

    def ours_full() -> Any:
        acc = CalibrationAccumulator().update(conf, correct)
        acc.expected_calibration_error(10)
        acc.brier_score()
        acc.auroc()
        return acc.bootstrap_ci(n_resamples=args.resamples, seed=args.seed)

    def sk_boot() -> None:
        rng = np.random.default_rng(args.seed)
        for _ in range(args.sklearn_resamples):
            idx = rng.integers(0, args.n, args.n)
            sk_point(conf[idx], correct[idx])

    t_of, m_of, boot = measure(ours_full, 1)
    t_sb, m_sb, _ = measure(sk_boot, 1)
    t_sf = t_s + t_sb * args.resamples / args.sklearn_resamples
    print(f"\n2) ECE + Brier + AUROC + {args.resamples} bootstrap resamples")
    print(f"   guardrail     {t_of:8.3f} s   peak {m_of:8.1f} MiB   (measured)")
    print(
        f"   scikit-learn  {t_sf:8.3f} s   peak {max(m_s, m_sb):8.1f} MiB   "
        f"(point + {args.sklearn_resamples} resamples measured in {t_sb:.2f} s, scaled to "
        f"{args.resamples})"
    )
    print(f"   ratio sklearn/guardrail: time {t_sf / t_of:5.2f}x")
    print(
        f"   ECE {boot.ece.estimate:.4f} [{boot.ece.low:.4f}, {boot.ece.high:.4f}]  "
        f"Brier {boot.brier.estimate:.4f} [{boot.brier.low:.4f}, {boot.brier.high:.4f}]"
    )

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

    t_c, m_c, acc = measure(chunked, 1)
    print(f"\n3) {total:,} records in {args.chunks} chunks (CalibrationAccumulator)")
    print(
        f"   ECE {acc.expected_calibration_error().value:.4f}  Brier {acc.brier_score().value:.4f}"
        f"  AUROC {acc.auroc().value:.4f}  AURC {acc.aurc().aurc:.4f}"
    )
    print(
        f"   {t_c:8.3f} s   peak traced {m_c:8.1f} MiB   "
        f"distinct confidences {len(acc.table.values):,}"
    )
    t_q, m_q, acc_q = measure(lambda: chunked(6), 1)
    print("\n3b) the same records with CalibrationAccumulator(decimals=6)")
    print(
        f"   ECE {acc_q.expected_calibration_error().value:.4f}  "
        f"Brier {acc_q.brier_score().value:.4f}  AUROC {acc_q.auroc().value:.4f}"
    )
    print(
        f"   {t_q:8.3f} s   peak traced {m_q:8.1f} MiB   "
        f"distinct confidences {len(acc_q.table.values):,}"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess max RSS over the whole run: {rss:.0f} MiB")
    print("netcal: not compared (netcal 1.4.0 on PyPI requires torch, gpytorch and pyro-ppl).")


if __name__ == "__main__":
    main()
