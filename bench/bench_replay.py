"""Benchmark of policy replay + audit at scale (numbers are printed, never asserted).

Generates ``--rows`` synthetic logged decisions as Parquet (row groups of ``--row-group``),
under the four bundled policies, then replays a candidate (``policies/`` with medical's review
bar moved from 90% to 85% and its abstain bar from 70% to 50%) and prints:

* the uncached ``Policy.evaluate`` rate on 20,000 of the rows (the compiled path, baseline);
* single process, chunked (``replay_files``, in a child process so its peak RSS is its own):
  wall time, rows/s, ``Policy.evaluate`` calls made (distinct signal-value tuples), peak RSS;
* Dask ``LocalCluster(n_workers=--workers, threads_per_worker=1, processes=True)`` started in a
  child process: cluster start time, replay wall time, and whether its report is identical to
  the single-process one (JSON equality);
* ratios: single-process rows/s over the uncached evaluate rate; Dask time over single time.

The generator: domain shares 40/20/20/20% (medical/legal/finance/general); consistency k/7 with
more mass at high agreement; stated confidence a whole percent (5% missing: a failed parse);
hedge count Poisson(0.7) capped at 5; reply kind 92% ``answer``; stakes uniform; 7 UTC days.
Logged action = the bundled policy's decision. Labels: every review decision (pi = 1) and
a Poisson spot-check sample of the others at the policy's ``spot_check`` rate; correct with
probability 0.3 + 0.6 x consistency.

Run: ``python bench/bench_replay.py --rows 1000000`` (extra ``scale``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from guardrail.policy import load_policies

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ("medical", "legal", "finance", "general")
KINDS = ("answer", "refusal", "dont_know", "restatement", "template", "loop", "empty")
LABELS3 = ("hedged", "neutral", "assertive")
STAKES = ("low", "medium", "high")


def candidate_dir(out: Path) -> Path:
    d = out / "candidate"
    d.mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "policies").glob("*.guard"):
        text = f.read_text()
        if f.stem == "medical":
            text = text.replace("when consistency < 90%", "when consistency < 85%")
            text = text.replace("when consistency < 70%", "when consistency < 50%")
        (d / f.name).write_text(text)
    for extra in (ROOT / "policies").iterdir():  # lexicons etc. the policies refer to
        if extra.is_file() and extra.suffix != ".guard" and not (d / extra.name).exists():
            (d / extra.name).write_bytes(extra.read_bytes())
    return d


def generate(path: Path, rows: int, row_group: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    policies = load_policies(ROOT / "policies")
    needed = {d: sorted(policies[d].needed_signals()) for d in DOMAINS}
    memo: dict[tuple[Any, ...], str] = {}
    rng = np.random.default_rng(seed)
    writer = None
    done = 0
    while done < rows:
        n = min(row_group, rows - done)
        dom = rng.choice(4, size=n, p=[0.4, 0.2, 0.2, 0.2])
        cons_k = rng.choice(8, size=n, p=[0.02, 0.03, 0.05, 0.08, 0.12, 0.15, 0.2, 0.35])
        verb = rng.integers(0, 101, size=n)
        verb_missing = rng.random(n) < 0.05
        hedges = np.minimum(rng.poisson(0.7, size=n), 5)
        hlabel = rng.choice(3, size=n, p=[0.3, 0.5, 0.2])
        kind = rng.choice(7, size=n, p=[0.92, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01])
        stakes = rng.integers(0, 3, size=n)
        day = rng.integers(0, 7, size=n)
        cons = cons_k / 7.0
        cols = {
            "consistency": cons_k,
            "verbalized": np.where(verb_missing, 101, verb),
            "hedges": hedges,
            "hedge_label": hlabel,
            "reply_kind": kind,
            "stakes": stakes,
        }
        action = np.empty(n, dtype=object)
        for di, dname in enumerate(DOMAINS):
            idx = np.nonzero(dom == di)[0]
            names = needed[dname]
            combo = np.stack([cols[s][idx] for s in names], axis=1)
            uniq, inv = np.unique(combo, axis=0, return_inverse=True)
            acts = []
            for u in uniq:
                key = (dname, *map(int, u))
                if key not in memo:
                    vals: dict[str, Any] = {}
                    for s, x in zip(names, u, strict=True):
                        vals[s] = _value(s, int(x))
                    memo[key] = policies[dname].evaluate(vals).action.value
                acts.append(memo[key])
            action[idx] = np.asarray(acts, dtype=object)[inv.ravel()]
        is_review = action == "review"
        rate = np.array([policies[d].spot_check or 0.0 for d in DOMAINS])[dom]
        spot = (~is_review) & (rng.random(n) < rate)
        labelled = is_review | spot
        correct = rng.random(n) < 0.3 + 0.6 * cons
        table = pa.table(
            {
                "request_id": [f"r{done + i}" for i in range(n)],
                "time": [f"2026-11-{24 + int(d):02d}T12:00:00+00:00" for d in day],
                "domain": np.asarray(DOMAINS, dtype=object)[dom].tolist(),
                "action": action.tolist(),
                "missing": np.where(verb_missing, "verbalized", "").tolist(),
                "skipped": [""] * n,
                "v.consistency": pa.array(cons),
                "v.verbalized": pa.array(verb / 100.0, mask=verb_missing),
                "v.hedges": pa.array(hedges),
                "v.hedge_label": np.asarray(LABELS3, dtype=object)[hlabel].tolist(),
                "v.reply_kind": np.asarray(KINDS, dtype=object)[kind].tolist(),
                "v.stakes": np.asarray(STAKES, dtype=object)[stakes].tolist(),
                "label": pa.array(
                    np.where(correct, "correct", "incorrect").tolist(), mask=~labelled
                ),
                "sampling_rate": pa.array(np.where(is_review, 1.0, rate), mask=~labelled),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=row_group)
        done += n
    assert writer is not None
    writer.close()


def _value(signal: str, x: int) -> Any:
    if signal == "consistency":
        return x / 7.0
    if signal == "verbalized":
        return None if x == 101 else x / 100.0
    if signal == "hedges":
        return x
    if signal == "hedge_label":
        return LABELS3[x]
    if signal == "reply_kind":
        return KINDS[x]
    return STAKES[x]


def evaluate_rate(path: Path, policies_dir: Path, n: int = 20_000) -> float:
    """Uncached Policy.evaluate calls per second on the first ``n`` rows' values."""
    from guardrail.decisions.replay import iter_chunks

    policies = load_policies(policies_dir)
    rows = next(iter_chunks(path, n))
    items = [(policies[r.domain], {**r.values, "domain": r.domain}) for r in rows]
    t0 = time.perf_counter()
    for p, v in items:
        p.evaluate(v)
    return len(items) / (time.perf_counter() - t0)


def phase_single(path: Path, policies_dir: Path, chunk_rows: int) -> dict[str, Any]:
    from guardrail.decisions.replay import replay_files

    policies = load_policies(policies_dir)
    t0 = time.perf_counter()
    acc = replay_files([path], policies, chunk_rows=chunk_rows)
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "seconds": secs,
        "peak_rss_mb": rss,
        "evaluations": acc.evaluations,
        "report": acc.report(),
    }


def phase_dask(path: Path, policies_dir: Path, chunk_rows: int, workers: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from guardrail.decisions.distributed import replay_distributed

    policies = load_policies(policies_dir)
    t0 = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter() - t0
        t1 = time.perf_counter()
        acc = replay_distributed(client, [path], policies, chunk_rows=chunk_rows)
        secs = time.perf_counter() - t1
    return {
        "cluster_start_s": start,
        "seconds": secs,
        "evaluations": acc.evaluations,
        "report": acc.report(),
    }


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--row-group", type=int, default=250_000)
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    ap.add_argument(
        "--reuse", action="store_true", help="reuse --dir's Parquet file when it has --rows rows"
    )
    ap.add_argument("--phase", choices=["single", "dask"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--policies", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase == "single":
        print(json.dumps(phase_single(a.file, a.policies, a.chunk_rows)))
        return
    if a.phase == "dask":
        print(json.dumps(phase_dask(a.file, a.policies, a.chunk_rows, a.workers)))
        return

    work = a.dir or Path(tempfile.mkdtemp(prefix="bench_replay_"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "decisions.parquet"
    cand = candidate_dir(work)
    load1 = os.getloadavg()[0]
    t0 = time.perf_counter()
    reused = False
    if a.reuse and path.exists():
        import pyarrow.parquet as pq

        md = pq.ParquetFile(path).metadata
        reused = md.num_rows == a.rows and md.row_group(0).num_rows == a.row_group
    if not reused:
        generate(path, a.rows, a.row_group)
    gen_s = time.perf_counter() - t0
    size_mb = path.stat().st_size / 1e6
    print(f"rows: {a.rows:,}  row groups of {a.row_group:,}  Parquet {size_mb:.0f} MB")
    print(f"machine: {os.cpu_count()} cores, load average {load1:.1f} at start")
    print(f"generate: {gen_s:.1f} s (not a claim){' (reused file)' if reused else ''}")
    base = evaluate_rate(path, cand)
    print(f"baseline: uncached Policy.evaluate {base:,.0f} evaluations/s (20,000 rows)")
    common = ["--file", str(path), "--policies", str(cand), "--chunk-rows", str(a.chunk_rows)]
    single = _child(["--phase", "single", *common])
    s_rate = a.rows / single["seconds"]
    print(
        f"single process, chunks of {a.chunk_rows:,}: {single['seconds']:.1f} s, "
        f"{s_rate:,.0f} rows/s, {single['evaluations']:,} Policy.evaluate calls "
        f"(distinct value tuples), peak RSS {single['peak_rss_mb']:.0f} MB"
    )
    dask = _child(["--phase", "dask", "--workers", str(a.workers), *common])
    same = json.dumps(dask["report"], sort_keys=True) == json.dumps(
        single["report"], sort_keys=True
    )
    print(
        f"dask LocalCluster {a.workers} workers: cluster start {dask['cluster_start_s']:.1f} s, "
        f"replay {dask['seconds']:.1f} s, {a.rows / dask['seconds']:,.0f} rows/s, "
        f"{dask['evaluations']:,} evaluate calls; report identical to single process: {same}"
    )
    print(f"ratio single-process rows/s / uncached evaluate/s: {s_rate / base:.1f}x")
    print(f"ratio dask time / single time: {dask['seconds'] / single['seconds']:.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    rep = single["report"]
    print(f"changed decisions: {rep['changed']:,} of {rep['rows']:,}")
    for name, d in rep["domains"].items():
        b, af = d["before"], d["after"]
        acc_b, acc_a = b["shown_accuracy"], af["shown_accuracy"]
        print(
            f"  {name}: changed {d['changed']:,}; review/day {b['review_per_day']:,.0f} -> "
            f"{af['review_per_day']:,.0f}; abstention {b['abstention_rate']:.3f} -> "
            f"{af['abstention_rate']:.3f}; shown accuracy "
            f"{acc_b['accuracy']:.4f} [{acc_b['low']:.4f}, {acc_b['high']:.4f}] -> "
            f"{acc_a['accuracy']:.4f} [{acc_a['low']:.4f}, {acc_a['high']:.4f}]"
        )


if __name__ == "__main__":
    main()
