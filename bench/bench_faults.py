"""Fault-injection bench: guarded chats against a server returning issue 12's hostile fault mix.

    .venv/bin/python bench/bench_faults.py [--calls 5000] [--in-flight 16] [--timeout 1.0]

Two runs in one process, same guard settings and concurrency, each against its own server process
(tests/servers/fake_openai.py, so the server does not share the guard's GIL):

1. baseline: the server answers every request normally;
2. faults: ``fault_mix(seed)`` (deep JSON, lone surrogates + NUL, 10 MB replies with and without
   Content-Length, trickling bodies, TCP resets, 500/503, 429 with Retry-After, truncated JSON).

For each run it prints calls, exceptions that escaped ``Guard.chat``, calls that ran past their
own deadline (guard timeout) + 1 s, p50 / p99 / max latency, and the process's RSS growth from
after a warm-up to the end; then the p99 and RSS ratios faults / baseline. Numbers go into
docs/security.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardrail.policy import parse_policy  # noqa: E402
from guardrail.providers import OpenAICompatProvider  # noqa: E402
from guardrail.sdk import Guard  # noqa: E402

POLICY = """
policy general {
  rule hedged {
    when hedges >= 1
    then review "A person will check this answer."
  }
  otherwise pass
}
"""


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; else the peak from getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def start_server(fault_seed: int | None) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, str(ROOT / "tests" / "servers" / "fake_openai.py")]
    cmd += ["--answer", "Paris.", "--answer", "Paris, I think."]
    if fault_seed is not None:
        cmd += ["--fault-mix", str(fault_seed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


async def run(base_url: str, calls: int, in_flight: int, timeout: float) -> dict[str, float]:
    policy = parse_policy(POLICY, "general.guard")
    provider = OpenAICompatProvider(
        base_url, model="m", timeout=timeout / 2, max_retries=2, retry_initial_wait=0.01,
        retry_max_wait=0.05,
    )  # fmt: skip
    guard = Guard({policy.name: policy}, provider, timeout=timeout, review_store=None)
    gate = asyncio.Semaphore(in_flight)
    took: list[float] = []
    escaped: Counter[str] = Counter()
    statuses: Counter[str] = Counter()

    async def one(i: int) -> None:
        async with gate:
            t0 = time.monotonic()
            try:
                r = await guard.chat([{"role": "user", "content": f"Capital of France? ({i})"}])
            except BaseException as exc:  # counted: the property measured
                escaped[type(exc).__name__] += 1
                return
            took.append(time.monotonic() - t0)
            statuses[r.status] += 1

    warm = min(200, calls // 10)
    await asyncio.gather(*(one(i) for i in range(warm)))
    rss0 = rss_bytes()
    took.clear()
    statuses.clear()
    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    wall = time.perf_counter() - start
    rss1 = rss_bytes()
    await guard.aclose()
    took.sort()
    return {
        "calls": float(calls),
        "escaped": float(sum(escaped.values())),
        "overruns": float(sum(t > timeout + 1.0 for t in took)),
        "p50": statistics.median(took),
        "p99": took[int(0.99 * (len(took) - 1))],
        "max": took[-1],
        "rss_growth_mb": (rss1 - rss0) / 1e6,
        "wall": wall,
        "failed": float(statuses["failed"]),
        "review": float(statuses["pending_review"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--in-flight", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=1.0, help="guard timeout (s)")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    print(
        f"# {args.calls} guarded chats, {args.in_flight} in flight, guard timeout "
        f"{args.timeout:g} s, attempt timeout {args.timeout / 2:g} s; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    results = {}
    for name, seed in (("baseline", None), ("faults", args.seed)):
        proc, url = start_server(seed)
        try:
            results[name] = asyncio.run(run(url, args.calls, args.in_flight, args.timeout))
        finally:
            proc.terminate()
            proc.wait(10)
        r = results[name]
        print(
            f"{name:9s} calls {r['calls']:.0f}  escaped {r['escaped']:.0f}  "
            f"past deadline+1s {r['overruns']:.0f}  failed {r['failed']:.0f}  "
            f"held {r['review']:.0f}  p50 {r['p50'] * 1000:.0f} ms  "
            f"p99 {r['p99'] * 1000:.0f} ms  max {r['max'] * 1000:.0f} ms  "
            f"RSS growth {r['rss_growth_mb']:+.1f} MB  wall {r['wall']:.1f} s"
        )
    b, f = results["baseline"], results["faults"]
    print(
        f"ratio faults/baseline: p99 {f['p99'] / b['p99']:.2f}x, wall {f['wall'] / b['wall']:.2f}x"
    )


if __name__ == "__main__":
    main()
