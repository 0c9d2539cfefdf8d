"""Acceptance test of issue 12: thousands of guarded chats against a server returning the hostile
fault mix (deep JSON, lone surrogates and NUL, 10 MB replies, trickling bodies, TCP resets,
5xx/429, truncated JSON). No exception may escape ``Guard.chat`` and no call may outlive its own
deadline (the guard timeout) by more than 1 s of time the event loop could run.

A deadline is an ``asyncio`` timeout: it fires when the event loop gets to run it. On a machine
whose other jobs take the CPU (a shared 2-core box at load 6 starves this process for seconds),
the loop itself stalls and every chat in flight is late by that stall, whatever guardrail does. A
monitor task measures those stalls (how late a 5 ms sleep wakes up, summed) and each chat's
elapsed time is counted without the stall that happened while it ran. A chat that ignored its
deadline while awaiting the network (the defect this test is for) is not excused by this: the
loop is free then, and the monitor sees no stall.

Everything runs on 127.0.0.1: the server (tests/servers/fake_openai.py) in its own process, so it
does not share the guard's GIL. Run time is kept small by a short guard deadline (1 s) and 16
chats in flight. Each HTTP attempt may take 3 s, longer than the deadline, so only the guard's
deadline can stop a trickling reply in time (with the guard's timeout raised to 100 s this test
fails with overruns of 2.6-4.5 s); bench/bench_faults.py runs the same mix and prints p99 latency
and RSS growth.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.review import InMemoryReviewStore

# one model call per chat (the hedge signals are free): the run stays short; the follow-on
# request of a sampled signal after a hostile answer is covered in test_guard_hardening.py
POLICY = """
policy general {
  rule hedged {
    when hedges >= 1
    then review "A person will check this answer."
  }
  otherwise pass
}
"""
CALLS = 5000
IN_FLIGHT = 16
GUARD_TIMEOUT = 1.0
SERVER = Path(__file__).resolve().parents[1] / "servers" / "fake_openai.py"


@pytest.fixture
def hostile_server() -> Iterator[str]:
    """The fake server with fault_mix(12) in a child process; yields its base URL."""
    cmd = [sys.executable, str(SERVER), "--fault-mix", "12"]
    cmd += ["--answer", "Paris.", "--answer", "Paris, I think."]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:1] == ["READY"], line
        yield line[1]
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow  # a real server process; ~25 s on a loaded 2-core machine
async def test_no_exception_escapes_and_deadlines_hold(hostile_server: str) -> None:
    policy = parse_policy(POLICY, "general.guard")
    store = InMemoryReviewStore()
    provider = OpenAICompatProvider(
        hostile_server,
        model="m",
        timeout=3.0,  # longer than the guard deadline: only the guard can stop a slow chat
        max_retries=2,
        retry_initial_wait=0.01,
        retry_max_wait=0.05,
    )
    guard = Guard({policy.name: policy}, provider, timeout=GUARD_TIMEOUT, review_store=store)
    gate = asyncio.Semaphore(IN_FLIGHT)
    stalled = [0.0]  # seconds the event loop woke up late, summed over the run
    done = asyncio.Event()

    async def monitor() -> None:
        tick = 0.005
        while not done.is_set():
            t = time.monotonic()
            await asyncio.sleep(tick)
            stalled[0] += max(0.0, time.monotonic() - t - tick)

    watcher = asyncio.create_task(monitor())
    escaped: list[BaseException] = []
    statuses: Counter[str] = Counter()
    overruns: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            t0, s0 = time.monotonic(), stalled[0]
            try:
                r = await guard.chat(
                    [{"role": "user", "content": f"Capital of France? ({i})"}],
                    request_id=f"r{i}",
                )
            except BaseException as exc:  # the property under test: nothing gets here
                escaped.append(exc)
                return
            took = time.monotonic() - t0 - (stalled[0] - s0)  # without the loop's stalls
            if took > GUARD_TIMEOUT + 1.0:
                overruns.append(took)
            statuses[r.status] += 1

    await asyncio.gather(*(one(i) for i in range(CALLS)))
    done.set()
    await watcher
    await guard.aclose()
    assert escaped == [], [repr(e) for e in escaped[:5]]
    assert overruns == [], sorted(overruns)[-5:]
    assert sum(statuses.values()) == CALLS
    # the mix really was hostile and really was survived: both outcomes occur in numbers
    assert statuses["failed"] > 100 and statuses["answered"] > 1000, statuses
    assert statuses["pending_review"] == len(store.list()) > 100, statuses
