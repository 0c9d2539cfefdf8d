"""Acceptance test of issue 12: thousands of guarded chats against a server returning the hostile
fault mix (deep JSON, lone surrogates and NUL, 10 MB replies, trickling bodies, TCP resets,
5xx/429, truncated JSON). No exception may escape ``Guard.chat`` and no call may outlive its own
deadline (the guard timeout) by more than 1 s.

Everything runs on 127.0.0.1: the server (tests/servers/fake_openai.py) in its own process, so it
does not share the guard's GIL. Run time is kept small by short timeouts (guard 1 s, attempt
0.5 s) and 16 chats in flight; bench/bench_faults.py runs the same mix and prints p99 latency and
RSS growth.
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
        timeout=0.5,
        max_retries=2,
        retry_initial_wait=0.01,
        retry_max_wait=0.05,
    )
    guard = Guard({policy.name: policy}, provider, timeout=GUARD_TIMEOUT, review_store=store)
    gate = asyncio.Semaphore(IN_FLIGHT)
    escaped: list[BaseException] = []
    statuses: Counter[str] = Counter()
    overruns: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            t0 = time.monotonic()
            try:
                r = await guard.chat(
                    [{"role": "user", "content": f"Capital of France? ({i})"}],
                    request_id=f"r{i}",
                )
            except BaseException as exc:  # the property under test: nothing gets here
                escaped.append(exc)
                return
            took = time.monotonic() - t0
            if took > GUARD_TIMEOUT + 1.0:
                overruns.append(took)
            statuses[r.status] += 1

    await asyncio.gather(*(one(i) for i in range(CALLS)))
    await guard.aclose()
    assert escaped == [], [repr(e) for e in escaped[:5]]
    assert overruns == [], sorted(overruns)[-5:]
    assert sum(statuses.values()) == CALLS
    # the mix really was hostile and really was survived: both outcomes occur in numbers
    assert statuses["failed"] > 100 and statuses["answered"] > 1000, statuses
    assert statuses["pending_review"] == len(store.list()) > 100, statuses
