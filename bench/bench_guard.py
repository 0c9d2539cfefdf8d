"""Benchmark the SDK against the fault-injecting test server, with equal HTTP work on both sides.

    /work/venv/bin/python bench/bench_guard.py [--latency 0.05] [--burst-latency 0.1] [--repeats 3]

Prints ratios against baselines measured in the same run (numbers go into docs/sdk.md). The raw
baselines send exactly the HTTP requests the guard sends for one chat: before timing, one guarded
chat per policy is captured by an in-process copy of the test server (request bodies and arrival
times); requests that arrive together form a wave, and the raw baseline posts the same bodies,
waves one after another, the requests of a wave concurrently (``asyncio.gather``).

1. Sequential latency (mean of 40 chats per round, median over rounds), for a policy with
   local-only signals (hedges: one request) and for the bundled ``general`` policy (the answer,
   then 5 samples): guard vs raw httpx replaying the same requests.
2. k = 7 samples: concurrent single calls (server ignores ``n``) and one ``n=7`` request, vs 7
   sequential calls, as multiples of one call's latency (goal: ~1x, vs ~7x).
3. 200 concurrent chats under the bundled ``general`` policy with ``--burst-latency`` upstream
   latency: chats per second, median chat latency and client CPU milliseconds per chat
   (``time.process_time`` of this process over the burst / chats), guard vs raw httpx replaying
   the same requests over 8 connection pools; interleaved rounds.

The server runs in its own process (tests/servers/fake_openai.py) so it does not share the GIL.
The load average is printed at the start and the end (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tests"))

from servers.fake_openai import FakeOpenAIServer  # noqa: E402

from guardrail.policy import Policy, parse_policy  # noqa: E402
from guardrail.policy.bundled import resolve_policy_path  # noqa: E402
from guardrail.policy.loader import load_policy  # noqa: E402
from guardrail.providers import ChatResult, OpenAICompatProvider  # noqa: E402
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


Waves = list[list[dict[str, Any]]]


async def raw_call(client: httpx.AsyncClient, body: dict[str, Any] = BODY) -> None:
    r = await client.post("/chat/completions", json=body)
    r.raise_for_status()
    r.json()


def capture_waves(policy: Policy, gap: float = 0.05) -> Waves:
    """The HTTP requests one guarded chat sends, grouped into waves of concurrent requests."""
    with FakeOpenAIServer(latency=gap) as srv:

        async def once() -> None:
            provider = OpenAICompatProvider(srv.base_url, model="bench")
            guard = Guard({policy.name: policy}, provider, max_tokens=32)
            await guard.chat(MSG)
            await guard.aclose()

        asyncio.run(once())
        bodies, times = list(srv.requests), list(srv.request_times)
    waves: Waves = []
    last = -1.0
    for body, t in sorted(zip(bodies, times, strict=True), key=lambda bt: bt[1]):
        if not waves or t - last > gap / 2:
            waves.append([])
        waves[-1].append(body)
        last = t
    return waves


async def capture_results(base: str, policy: Policy) -> list[ChatResult]:
    """The provider results of one guarded chat (to replay them without HTTP)."""
    provider = OpenAICompatProvider(base, model="bench")
    got: list[ChatResult] = []
    real_chat = provider.chat

    async def recording(*args: Any, **kwargs: Any) -> ChatResult:
        res = await real_chat(*args, **kwargs)
        got.append(res)
        return res

    provider.chat = recording  # type: ignore[method-assign]
    guard = Guard({policy.name: policy}, provider, max_tokens=32)
    await guard.chat(MSG)
    await guard.aclose()
    return got


class CannedProvider:
    """Serves the captured results (matched by ``n``) with no I/O: the guard's own CPU."""

    name = "canned"
    default_model = "bench"

    def __init__(self, results: list[ChatResult]) -> None:
        self._by_n = {r.requested: r for r in results}

    async def chat(self, messages: Any, *, n: int = 1, **_: Any) -> ChatResult:
        await asyncio.sleep(0)
        return self._by_n[n]

    async def aclose(self) -> None:
        return None


async def replay(client: httpx.AsyncClient, waves: Waves) -> None:
    for wave in waves:
        await asyncio.gather(*(raw_call(client, b) for b in wave))


async def timed(coro_factory: Callable[[], Awaitable[Any]], n: int) -> float:
    """Mean seconds per call over n sequential calls."""
    start = time.perf_counter()
    for _ in range(n):
        await coro_factory()
    return (time.perf_counter() - start) / n


def describe(waves: Waves) -> str:
    parts = []
    for wave in waves:
        ns = [int(b.get("n") or 1) for b in wave]
        parts.append("+".join(f"n={n}" for n in ns))
    return f"{sum(len(w) for w in waves)} requests in {len(waves)} waves ({' then '.join(parts)})"


async def bench(
    base: str,
    base_ignore: str,
    base_burst: str,
    latency: float,
    burst_latency: float,
    repeats: int,
    policies: dict[str, tuple[Policy, Waves]],
    sections: set[int],
) -> None:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        # 1. sequential latency, equal HTTP work
        for name, (policy, waves) in policies.items():
            if 1 not in sections:
                break
            provider = OpenAICompatProvider(base, model="bench")
            guard = Guard({policy.name: policy}, provider, max_tokens=32)
            await replay(client, waves)  # warm up pools
            await guard.chat(MSG)
            raws, guards = [], []
            for _ in range(repeats):
                raws.append(await timed(lambda w=waves: replay(client, w), 40))
                guards.append(await timed(lambda g=guard: g.chat(MSG), 40))
            raw_s, guard_s = statistics.median(raws), statistics.median(guards)
            print(
                f"[1] sequential mean latency, policy {name} ({describe(waves)}): raw httpx "
                f"{raw_s * 1000:.1f} ms, guarded {guard_s * 1000:.1f} ms, ratio "
                f"{guard_s / raw_s:.3f}x ({repeats} rounds x 40 chats, {latency * 1000:.0f} ms "
                "upstream latency)"
            )
            await guard.aclose()

        # 2. k = 7 samples
        if 2 in sections:
            await samples_k7(base, base_ignore, repeats)

    if 3 not in sections:
        return
    await concurrent_burst(base_burst, burst_latency, repeats, policies)


async def samples_k7(base: str, base_ignore: str, repeats: int) -> None:
    """[2] k = 7 samples: sequential, concurrent single calls, one n=7 request."""
    firsts, warms = [], []
    for _ in range(repeats):  # a new provider builds its pools (and TLS context) on first use
        fresh = OpenAICompatProvider(base, model="bench")
        t0 = time.perf_counter()
        await fresh.chat(MSG, max_tokens=32)
        firsts.append(time.perf_counter() - t0)
        warms.append(await timed(lambda p=fresh: p.chat(MSG, max_tokens=32), 5))
        await fresh.aclose()
    first, warm = statistics.median(firsts), statistics.median(warms)
    print(
        f"[2] first call on a new provider {first * 1000:.1f} ms, later calls {warm * 1000:.1f} ms "
        f"(first / later {first / warm:.2f}x, median of {repeats})"
    )
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
    await ign.aclose()
    await nprov.aclose()


async def concurrent_burst(
    base_burst: str, burst_latency: float, repeats: int, policies: dict[str, tuple[Policy, Waves]]
) -> None:
    # 3. 200 concurrent chats, bundled general policy, equal HTTP work
    policy, waves = policies["general"]
    canned = await capture_results(base_burst, policy)

    def sharded(count: int, per_pool: int) -> Callable[[], Awaitable[None]]:
        pools = [
            httpx.AsyncClient(
                base_url=base_burst, limits=httpx.Limits(max_connections=per_pool), timeout=60
            )
            for _ in range(count)
        ]
        opened.extend(pools)
        rr = itertools.count()

        async def raw_chat() -> None:
            await replay(pools[next(rr) % count], waves)

        return raw_chat

    opened: list[httpx.AsyncClient] = []
    provider = OpenAICompatProvider(base_burst, model="bench")
    guard = Guard({policy.name: policy}, provider, max_tokens=32)
    local = Guard({policy.name: policy}, CannedProvider(canned), max_tokens=32)

    async def guarded_chat() -> None:
        await guard.chat(MSG)

    async def local_chat() -> None:
        await local.chat(MSG)

    runs: dict[str, Callable[[], Awaitable[None]]] = {
        "raw httpx, 8 pools x 32, same requests": sharded(8, 32),
        "raw httpx, 32 pools x 8, same requests": sharded(32, 8),
        "guard": guarded_chat,
        "guard, canned replies (no HTTP)": local_chat,
    }

    async def burst(fn: Callable[[], Awaitable[None]]) -> tuple[float, float, float]:
        """(chats/s, median chat latency s, client CPU ms per chat) for 200 concurrent chats."""
        lat: list[float] = []

        async def one_chat() -> None:
            t0 = time.perf_counter()
            await fn()
            lat.append(time.perf_counter() - t0)

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one_chat() for _ in range(200)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        return 200 / wall, statistics.median(lat), cpu / 200 * 1000

    for fn in runs.values():  # warm up every pool with a full burst
        await burst(fn)
    res: dict[str, list[tuple[float, float, float]]] = {k: [] for k in runs}
    for _ in range(repeats):  # interleaved rounds
        for k, fn in runs.items():
            res[k].append(await burst(fn))
    for c in opened:
        await c.aclose()
    await guard.aclose()
    med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in res.items()}
    floor = burst_latency * len(waves)
    print(
        f"[3] 200 concurrent chats, policy general ({describe(waves)}), "
        f"{burst_latency * 1000:.0f} ms upstream latency, median of {repeats} interleaved rounds:"
    )
    for k, (rps, p50, cpu) in med.items():
        print(
            f"    {k:40s} {rps:6.0f} chats/s   p50 {p50 * 1000:6.0f} ms   "
            f"client CPU {cpu:5.2f} ms/chat"
        )
    g = med["guard"]
    for k in list(runs)[:2]:
        r = med[k]
        print(
            f"    guard / {k.split(',')[1].strip()}: throughput {g[0] / r[0]:.2f}x, p50 latency "
            f"{g[1] / r[1]:.2f}x, CPU per chat {g[2] / r[2]:.2f}x"
        )
    own = med["guard, canned replies (no HTTP)"][2]
    print(
        f"    guard CPU per chat {g[2]:.2f} ms = {own:.2f} ms guardrail's own work (canned "
        f"replies) + {g[2] - own:.2f} ms HTTP (latency floor {floor * 1000:.0f} ms per chat)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--burst-latency", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--only", default="1,2,3", help="comma-separated sections to run (default: 1,2,3)"
    )
    args = ap.parse_args()
    sections = {int(x) for x in args.only.split(",") if x.strip()}
    one, five, _ = os.getloadavg()
    print(f"start: load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs")
    policies = {
        "local-only (hedges)": parse_policy(LOCAL_ONLY, "bench.guard"),
        "general": load_policy(resolve_policy_path("general")),
    }
    captured = {name: (pol, capture_waves(pol)) for name, pol in policies.items()}
    p1, base = start_server(args.latency, ignore_n=False)
    p2, base_ignore = start_server(args.latency, ignore_n=True)
    p3, base_burst = start_server(args.burst_latency, ignore_n=False)
    try:
        asyncio.run(
            bench(
                base,
                base_ignore,
                base_burst,
                args.latency,
                args.burst_latency,
                args.repeats,
                captured,
                sections,
            )
        )
    finally:
        for p in (p1, p2, p3):
            p.terminate()
            p.wait(10)
    one, five, _ = os.getloadavg()
    print(f"end: load average {one:.2f} (1 min), {five:.2f} (5 min)")


if __name__ == "__main__":
    main()
