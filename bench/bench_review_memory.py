"""Memory of a long-running guard with the default review store (issue 17.1).

Run: ``python bench/bench_review_memory.py [--chats 20000] [--varied] [--review-every K]``
(``--baseline`` also runs an unbounded store)

N sequential guarded chats under the bundled ``medical`` policy (7 samples, verbalized follow-up,
hedges) against an in-process scripted provider (``tests/runner/fakes.py``: no network, no
latency). Every reply is unanimous, unhedged and states 95 % confidence, so the policy's
``confident_unhedged`` rule sends every chat to review: each chat enqueues one item in the
guard's default store, an ``InMemoryReviewStore`` with its default capacity. With ``--varied`` the
answer's length changes from chat to chat (32 to 750 characters), so stored items differ in size
as real answers do and a store that drops old items and takes new ones would show any heap
fragmentation. With ``--review-every K`` a reviewer claims the oldest pending item and labels it
every K chats, so the store's claim index (heaps, built at the first claim) is in use too.

Prints RSS (``/proc/self/statm``, MiB) every ``--every`` chats and the growth after the store is
full (from the chat that reached capacity to the last), the store's item count and its eviction
counter. The baseline is the same run's growth per chat *before* capacity (what every chat cost
without the cap); ``--baseline`` also runs ``InMemoryReviewStore(capacity=None)`` over the same
chats afterwards in the same process. The load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from runner.fakes import ScriptedProvider  # noqa: E402

from guardrail import Guard  # noqa: E402
from guardrail.policy import load_policies  # noqa: E402
from guardrail.review import DEFAULT_MEMORY_CAPACITY, InMemoryReviewStore  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


SENTENCES = (
    "Take ibuprofen 400 mg with food.",
    "Paracetamol 1 g is an alternative when ibuprofen does not suit you.",
    "Do not take more than three doses of either in 24 hours.",
    "Rest in a quiet, dark room and drink water through the day.",
    "Gentle massage of the neck and shoulders eases the pressure.",
    "A warm compress on the back of the neck helps as well.",
    "Regular sleep and meals make these headaches less frequent.",
    "Painkillers taken on more than ten days a month can cause rebound headaches.",
    "Keep a diary of when the headaches start to find their triggers.",
    "See a doctor if the headache is sudden and severe or follows a head injury.",
    "Also see one for fever, a stiff neck, weakness or changes in vision.",
    "Most tension headaches settle within a few hours with these measures.",
)
VARIED = False  # --varied: answers of 1 to 12 distinct sentences, changing from chat to chat


def script(msgs: list[dict[str, str]], kw: dict[str, Any]) -> list[str]:
    last = msgs[-1]["content"]
    if "confidence" in last.lower() or "how likely" in last.lower():
        return ["Confidence: 95%"]
    answer = SENTENCES[0]
    if VARIED:  # chat i (from "Question i:") answers with the first 1 + 7i mod 12 sentences
        i = int(msgs[-1]["content"].split(":", 1)[0].split()[-1])
        answer = " ".join(SENTENCES[: 1 + (7 * i) % len(SENTENCES)])
    return [answer] * max(1, int(kw.get("n") or 1))


async def run(
    chats: int, every: int, capacity: int | None, label: str, review_every: int = 0
) -> tuple[float, float]:
    policies = load_policies(ROOT / "policies")
    provider = ScriptedProvider(script)
    kw: dict[str, Any] = {}
    if capacity != DEFAULT_MEMORY_CAPACITY:
        kw["review_store"] = InMemoryReviewStore(capacity=capacity)
    guard = Guard(policies, provider, **kw)  # default store unless a baseline is asked for
    store = guard.review_store
    assert isinstance(store, InMemoryReviewStore)
    full_at: float | None = None
    print(f"\n{label}: capacity {store.capacity}")
    start = rss_mib()
    for i in range(1, chats + 1):
        r = await guard.chat(
            [{"role": "user", "content": f"Question {i}: what helps a tension headache?"}],
            domain="medical",
        )
        if r.decision.action != "review":  # every chat must enqueue one item
            raise SystemExit(f"chat {i} was not sent to review: {r.decision}")
        provider.calls.clear()  # the fake provider's own call log is not the guard's memory
        if review_every and i % review_every == 0:  # a reviewer takes the oldest item, labels it
            for got in store.claim("bench-reviewer"):
                store.label(got.id, "correct", reviewer="bench-reviewer")
        if capacity is not None and i == capacity:
            gc.collect()
            full_at = rss_mib()
        if i % every == 0:
            gc.collect()
            print(
                f"   chats {i:6d}   RSS {rss_mib():7.1f} MiB   items {store.count():6d}   "
                f"evicted {store.evicted:6d}"
            )
    gc.collect()
    end = rss_mib()
    if full_at is None:
        half = chats // 2
        print(f"   RSS {start:.1f} -> {end:.1f} MiB over {chats} chats (no capacity; half {half})")
        return end - start, (end - start) / chats * 1024
    print(
        f"   RSS at start {start:.1f} MiB, at capacity ({capacity} chats) {full_at:.1f} MiB "
        f"({(full_at - start) / capacity * 1024:.2f} KiB per chat before capacity), after "
        f"{chats} chats {end:.1f} MiB: growth after capacity {end - full_at:+.1f} MiB "
        f"({(end - full_at) / (chats - capacity) * 1024:.2f} KiB per chat)"
    )
    return end - full_at, (end - start) / chats * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--chats", type=int, default=20_000)
    ap.add_argument("--every", type=int, default=2_000)
    ap.add_argument("--baseline", action="store_true", help="also run capacity=None")
    ap.add_argument(
        "--varied", action="store_true", help="answers (and so items) of changing length"
    )
    ap.add_argument(
        "--review-every",
        type=int,
        default=0,
        help="every K chats a reviewer claims the oldest pending item and labels it (0: never)",
    )
    args = ap.parse_args()
    global VARIED
    VARIED = args.varied
    one, five, _ = os.getloadavg()
    print(f"start: load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs")
    print(
        f"{args.chats:,} sequential guarded chats, policy medical, scripted in-process provider; "
        "every chat goes to review (one store item each); answers "
        + ("of 32 to 750 characters, changing from chat to chat" if VARIED else "all alike")
        + (
            f"; every {args.review_every} chats a reviewer claims and labels one item"
            if args.review_every
            else ""
        )
    )
    warnings.simplefilter("ignore")  # the store's "full" warning fires once; counted below
    grow, _ = asyncio.run(
        run(
            args.chats,
            args.every,
            DEFAULT_MEMORY_CAPACITY,
            "default store (Guard default)",
            args.review_every,
        )
    )
    if args.baseline:
        # the baseline runs second, in the same process: its growth is from its own start
        grow_b, per = asyncio.run(run(args.chats, args.every, None, "baseline: capacity=None"))
        print(f"   unbounded growth {grow_b:+.1f} MiB ({per:.1f} KiB per chat)")
    print(f"\nresult: RSS growth after the default capacity was reached: {grow:+.1f} MiB")
    one, five, _ = os.getloadavg()
    print(f"end: load average {one:.2f} (1 min), {five:.2f} (5 min)")


if __name__ == "__main__":
    main()
