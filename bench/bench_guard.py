"""Benchmark the SDK against the fault-injecting test server with a fixed 50 ms latency.

    .venv/bin/python bench/bench_guard.py [--latency 0.05] [--repeats 3]

Prints ratios against baselines measured in the same run (numbers go into docs/sdk.md):

1. Overhead of a guarded call with local-only signals (hedges) vs a raw httpx call
   (goal <= 1.05x), sequential calls, mean latency.
2. k = 7 samples: concurrent single calls (server ignores `n`) and one `n=7` request, vs 7
   sequential calls, as multiples of one call's latency (goal: ~1x, vs ~7x).
3. Throughput of the guard under 200 concurrent chats (requests per second), vs raw httpx with the
   same concurrency.

The server runs in its own process (tests/servers/fake_openai.py) so it does not share the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardrail.policy import parse_policy  # noqa: E402
from guardrail.providers import OpenAICompatProvider  # noqa: E402
from guardrail.sdk import Guard  # noqa: E402

LOCAL_ONLY = """
policy bench {
  rule hedged {
    when hedge_label == "hedged"
    then notice "The model sounded unsure."
  }
}
"""
MSG = [{"role": "user", "content": "What is the capital of France?"}]
BODY = {"model": "bench", "messages": MSG, "max_tokens": 32}


def start_server(latency: float, ignore_n: bool) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        str(ROOT / "tests" / "servers" / "fake_openai.py"),
        "--latency",
        str(latency),
    ]
    if ignore_n:
        cmd.append("--ignore-n")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


async def raw_call(client: httpx.AsyncClient) -> None:
    r = await client.post("/chat/completions", json=BODY)
    r.raise_for_status()
    r.json()


async def timed(coro_factory, n: int) -> float:  # type: ignore[no-untyped-def]
    """Mean seconds per call over n sequential calls."""
    start = time.perf_counter()
    for _ in range(n):
        await coro_factory()
    return (time.perf_counter() - start) / n


async def bench(base: str, base_ignore: str, latency: float, repeats: int) -> None:
    policy = parse_policy(LOCAL_ONLY, "bench.guard")
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        provider = OpenAICompatProvider(base, model="bench")
        guard = Guard({"bench": policy}, provider, max_tokens=32)
        # warm up pools
        await raw_call(client)
        await guard.chat(MSG)

        # 1. overhead per call
        raws, guards = [], []
        for _ in range(repeats):
            raws.append(await timed(lambda: raw_call(client), 40))
            guards.append(await timed(lambda: guard.chat(MSG), 40))
        raw_s, guard_s = statistics.median(raws), statistics.median(guards)
        print(
            f"[1] sequential mean latency: raw httpx {raw_s * 1000:.1f} ms, "
            f"guarded (local-only signals) {guard_s * 1000:.1f} ms, "
            f"ratio {guard_s / raw_s:.3f}x (goal <= 1.05x)"
        )

        # 2. k = 7 samples
        ign = OpenAICompatProvider(base_ignore, model="bench", supports_n=False)
        nprov = OpenAICompatProvider(base, model="bench")
        await ign.chat(MSG)
        one = statistics.median(
            [await timed(lambda: ign.chat(MSG, max_tokens=32), 10) for _ in range(repeats)]
        )

        async def seq7() -> None:
            for _ in range(7):
                await ign.chat(MSG, max_tokens=32)

        seq = statistics.median([await timed(seq7, 3) for _ in range(repeats)])
        conc = statistics.median(
            [await timed(lambda: ign.chat(MSG, n=7, max_tokens=32), 5) for _ in range(repeats)]
        )
        viann = statistics.median(
            [await timed(lambda: nprov.chat(MSG, n=7, max_tokens=32), 5) for _ in range(repeats)]
        )
        print(
            f"[2] k=7 samples, as multiples of one call ({one * 1000:.1f} ms): "
            f"sequential {seq / one:.2f}x, concurrent single calls {conc / one:.2f}x, "
            f"one n=7 request {viann / one:.2f}x (goal ~1x vs ~7x)"
        )

        # 3. throughput under 200 concurrent chats
        async def burst(fn) -> float:  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            await asyncio.gather(*(fn() for _ in range(200)))
            return 200 / (time.perf_counter() - start)

        shards = [
            httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=32), timeout=30)
            for _ in range(8)
        ]
        rr = itertools.count()

        async def sharded() -> None:
            await raw_call(shards[next(rr) % 8])

        async def guarded() -> None:
            await guard.chat(MSG)

        async def one_pool() -> None:
            await raw_call(client)

        for fn in (one_pool, sharded, guarded):  # warm up every pool with a full burst
            await burst(fn)
        raw_rps = statistics.median([await burst(one_pool) for _ in range(repeats)])
        sh_rps = statistics.median([await burst(sharded) for _ in range(repeats)])
        g_rps = statistics.median([await burst(guarded) for _ in range(repeats)])
        for c in shards:
            await c.aclose()
        print(
            f"[3] 200 concurrent chats: raw httpx one pool {raw_rps:.0f} req/s, raw httpx 8 pools "
            f"{sh_rps:.0f} req/s, guard {g_rps:.0f} req/s; guard / raw 8 pools "
            f"{g_rps / sh_rps:.2f}, guard / raw one pool {g_rps / raw_rps:.2f} "
            f"(latency-bound ceiling {200 / latency:.0f} req/s)"
        )
        await guard.aclose()
        await ign.aclose()
        await nprov.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    p1, base = start_server(args.latency, ignore_n=False)
    p2, base_ignore = start_server(args.latency, ignore_n=True)
    try:
        asyncio.run(bench(base, base_ignore, args.latency, args.repeats))
    finally:
        for p in (p1, p2):
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
