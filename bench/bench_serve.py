"""Benchmark ``guardrail serve`` against the raw upstream it guards, measured in the same run.

    /work/venv/bin/python bench/bench_serve.py [--latency 0.1] [--stream-delay 0.02]
        [--rounds 9] [--clients 200] [--seconds 60]

Upstream: tests/servers/fake_openai.py in its own process, serving requests concurrently, every
request waiting ``--latency`` seconds; streamed replies send one token every ``--stream-delay``
seconds (non-streamed replies take the same generation time before they are sent). Every reply
is ``--answer`` (also the samples, so consistency is 1.0; the follow-up
"How likely ..." gets the same text, which states no confidence, so ``verbalized`` is missing).
The proxy (``guardrail serve``, 1 worker, SQLite review store in a temp dir) runs in another
process; this process is the client (httpx).

1. Streaming, sequential requests, ``--rounds`` interleaved rounds (every contender once per
   round, in turn): time to first content token (TTFT) and total time, for the raw upstream
   (``stream: true`` straight to it) and for the guarded proxy in ``hold`` and ``live`` mode on the
   bundled ``general`` and ``medical`` policies. Printed: medians, min-max, ratios of medians to
   raw.
2. ``--clients`` concurrent clients for ``--seconds`` against the proxy (non-streaming, domain
   ``general`` and ``medical`` alternating): requests/s, p50/p95 latency, number of 5xx, and
   review items: ids returned (review + spot check) vs items in the store afterwards.

The machine's 1- and 5-minute load averages are printed at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
Q = [{"role": "user", "content": "What is the capital of France?"}]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_upstream(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, str(ROOT / "tests/servers/fake_openai.py"), "--latency"]
    cmd += [str(args.latency), "--stream-delay", str(args.stream_delay), "--answer", args.answer]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("READY "), line
    return proc, line.split(" ", 1)[1]


def start_proxy(upstream: str, store: str, live: list[str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    cli = "from guardrail.cli import main; main()"
    cmd = [sys.executable, "-c", cli, "serve", "--upstream", upstream, "--policies"]
    cmd += [str(ROOT / "policies"), "--store", store, "--port", str(port)]
    for d in live:
        cmd += ["--live", d]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("guardrail serve did not start")
        time.sleep(0.2)


#: Sent to the "hold" proxy: a client may ask any domain for a hold stream (general's policy says
#: `stream live`; the live proxy also gets medical live through --live).
HOLD = {"X-Guardrail-Stream": "hold"}


async def one_stream(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[float, float]:
    """(TTFT, total) seconds of one streamed completion: first chunk with content, [DONE]."""
    t0 = time.perf_counter()
    ttft = None
    async with client.stream("POST", url, json=body, headers=headers) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if ttft is None and line.startswith("data: {"):
                doc = json.loads(line[6:])
                if doc.get("choices") and doc["choices"][0]["delta"].get("content"):
                    ttft = time.perf_counter() - t0
    total = time.perf_counter() - t0
    return (ttft if ttft is not None else total), total


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:7.1f} ms [{min(xs) * 1000:.1f}-{max(xs) * 1000:.1f}]"


async def streaming(args: argparse.Namespace, upstream: str, hold: str, live: str) -> None:
    contenders: dict[str, tuple[str, str]] = {
        "raw upstream": (upstream + "/chat/completions", "fake-model"),
        "hold general": (hold + "/v1/chat/completions", "fake-model@general"),
        "hold medical": (hold + "/v1/chat/completions", "fake-model@medical"),
        "live general": (live + "/v1/chat/completions", "fake-model@general"),
        "live medical": (live + "/v1/chat/completions", "fake-model@medical"),
    }
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in contenders}
    async with httpx.AsyncClient(timeout=120) as client:
        for name, (url, model) in contenders.items():  # warm-up, not measured
            h = HOLD if name.startswith("hold") else {}
            await one_stream(client, url, {"model": model, "messages": Q, "stream": True}, h)
        for _ in range(args.rounds):
            for name, (url, model) in contenders.items():
                body = {"model": model, "messages": Q, "stream": True}
                h = HOLD if name.startswith("hold") else {}
                res[name].append(await one_stream(client, url, body, h))
    raw_ttft = statistics.median(t for t, _ in res["raw upstream"])
    raw_total = statistics.median(t for _, t in res["raw upstream"])
    print(
        f"\n1. streaming, {args.rounds} interleaved rounds (median [min-max]); ratio = median / raw"
    )
    print(f"{'':14} {'TTFT':>28} {'x raw':>6}   {'total':>28} {'x raw':>6}")
    for name, xs in res.items():
        ttft = [t for t, _ in xs]
        total = [t for _, t in xs]
        print(
            f"{name:14} {fmt(ttft):>28} {statistics.median(ttft) / raw_ttft:6.2f}   "
            f"{fmt(total):>28} {statistics.median(total) / raw_total:6.2f}"
        )


async def burst(args: argparse.Namespace, hold: str, store_path: Path) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    ids: set[str] = set()
    stop = time.monotonic() + args.seconds

    async def client_loop(client: httpx.AsyncClient, i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            domain = "general" if (i + n) % 2 == 0 else "medical"
            body = {"model": f"fake-model@{domain}", "messages": Q}
            t0 = time.perf_counter()
            try:
                r = await client.post(hold + "/v1/chat/completions", json=body)
            except httpx.HTTPError as exc:  # no HTTP status: counted by exception type
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 200:
                v = r.json()["guardrail"]
                ids.update(x for x in (v["review_id"], v["spot_check_id"]) if x)
            n += 1

    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(client_loop(client, i) for i in range(args.clients)))
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    p95 = lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")
    five_xx = sum(c for s, c in statuses.items() if s >= 500)
    con = sqlite3.connect(store_path)
    try:
        stored = {row[0] for row in con.execute("SELECT id FROM review_items")}
    finally:
        con.close()
    print(
        f"\n2. {args.clients} concurrent clients for {args.seconds:.0f} s (hold, general/medical)"
    )
    print(
        f"requests: {len(lat)}  requests/s: {len(lat) / wall:.1f}  statuses: {statuses}  "
        f"transport errors: {errors or 0}"
    )
    print(f"latency p50 {statistics.median(lat) * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms")
    print(
        f"5xx: {five_xx}  review + spot-check ids returned: {len(ids)}  "
        f"of them in the store: {len(ids & stored)}  lost: {len(ids - stored)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--stream-delay", type=float, default=0.02)
    ap.add_argument("--answer", default="Paris is the capital and largest city of France.")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    print(load())
    print(f"upstream latency {args.latency * 1000:.0f} ms, {args.stream_delay * 1000:.0f} ms/token")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        up, upstream = start_upstream(args)
        procs.append(up)
        hold_proc, hold = start_proxy(upstream, f"sqlite:///{tmp / 'hold.db'}", [])
        procs.append(hold_proc)
        live_proc, live = start_proxy(
            upstream, f"sqlite:///{tmp / 'live.db'}", ["general", "medical"]
        )
        procs.append(live_proc)
        asyncio.run(streaming(args, upstream, hold, live))
        if args.clients > 0 and args.seconds > 0:
            asyncio.run(burst(args, hold, tmp / "hold.db"))
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    print(load())


if __name__ == "__main__":
    main()
