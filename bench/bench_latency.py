"""Issue 15: wall time of one guarded chat per `plan`, and model calls per chat in `plan cost`.

    /work/venv/bin/python bench/bench_latency.py [--latency 0.1] [--repeats 9]

1. Wall time. The fake upstream (tests/servers/fake_openai.py, its own thread, serves requests
   concurrently, supports ``n``) waits ``--latency`` seconds before every reply. For each bundled
   policy and plan (none = the plan before issue 15: the answer, then the follow-up, then one
   request for all k samples; ``latency``; ``cost``), guarded wall time / raw wall time (one
   plain ``provider.chat`` of the same question), interleaved repetitions, medians (min-max).
   Replies are real SmolLM2-135M answers/samples (tests/fixtures/smollm2_clusters.jsonl, served
   by seed) cycled over the 34 questions; the follow-up reply is "Confidence: 80%".
2. Calls per chat (the server refuses ``n``, as llama_cpp.server: every sample is one call).
   Realistic mix: every audit-run question with 5 recorded samples (docs/audit-run/records.jsonl,
   ``source == "consistency"``: the real reply and samples; the recorded follow-up confidence
   when there is one, else a reply with no confidence in it, as SmolLM2 gave) for the k = 5
   policies, and the 34 SmolLM2 questions with 7 real samples for every policy. Plan none vs
   ``cost`` (and ``latency``): mean calls per chat and how many decisions differ (must be 0).
   "calls" are requests *started* (``Cost.calls``: a cancelled speculative request was sent and
   counts); "used" are the requests whose reply a signal read (``calls - Cost.unused_calls``).
   "bound": the fewest calls any exact schedule could make (the answer plus the shortest
   prefix of samples whose consistency box settles the action with every other signal known
   for free), i.e. what no exact early stopping can beat on this mix.
3. A timeline of one guarded ``medical`` chat per plan (request arrival times at the server).
4. ``--parts llama``: part 1's table (plus mean calls per chat) against a real
   ``llama_cpp.server`` serving the embedded SmolLM2-135M GGUF (tests/servers/llama_server.py,
   ``--interrupt_requests false``), which answers one request at a time; a few questions only
   (``--llama-questions``, default 3), replies capped at ``--llama-max-tokens`` (default 48) in
   the raw call and the guarded one alike.

Prints the load average at start and end (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from servers.fake_openai import FakeOpenAIServer  # noqa: E402

from guardrail.policy import Policy, parse_policy  # noqa: E402
from guardrail.providers import OpenAICompatProvider  # noqa: E402
from guardrail.sdk import Guard  # noqa: E402
from guardrail.signals.verbalized import INLINE_TEMPLATE  # noqa: E402

POLICIES = ("general", "finance", "legal", "medical")
PLANS: tuple[str | None, ...] = (None, "latency", "cost")
FOLLOWUP = "How likely is it that your previous answer is correct"
SMOL = [
    json.loads(line)
    for line in (ROOT / "tests/fixtures/smollm2_clusters.jsonl").read_text().splitlines()
    if line.strip()
]


def policy_with_plan(name: str, plan: str | None) -> Policy:
    text = (ROOT / "policies" / f"{name}.guard").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  plan \w+\n", "", text)
    if plan is not None:
        text = text.replace(f"policy {name} {{\n", f"policy {name} {{\n  plan {plan}\n", 1)
    return parse_policy(text, f"{name}.guard")


def audit_rows() -> list[dict[str, Any]]:
    """Audit-run questions with 5 recorded samples: question, reply, samples, stated conf."""
    stated: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    for line in (ROOT / "docs/audit-run/records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["source"] == "verbalized_followup" and r.get("confidence") is not None:
            stated[r["question_id"]] = float(r["confidence"])
        if r["source"] == "consistency" and len(r["evidence"].get("samples") or []) == 5:
            rows.append(r)
    return [
        {
            "id": r["question_id"],
            "question": r["question"],
            "answer": r["reply"],
            "samples": r["evidence"]["samples"],
            "stated": stated.get(r["question_id"]),
        }
        for r in rows
    ]


def responder(rows: list[dict[str, Any]]) -> Callable[[dict[str, Any], int], str]:
    by_q = {r["question"]: r for r in rows}

    def respond(body: dict[str, Any], _: int) -> str:
        last = body["messages"][-1]["content"]
        if last.startswith(FOLLOWUP):
            row = by_q[body["messages"][0]["content"]]
            s = row.get("stated", 0.8)
            return "I cannot say." if s is None else f"Confidence: {round(s * 100)}%"
        inline = last.endswith(INLINE_TEMPLATE)  # plan latency asks the confidence inline
        row = by_q[last.removesuffix(INLINE_TEMPLATE).rstrip()]
        seed = int(body.get("seed") or 7000)
        if seed == 7000 and inline:
            # the model states inline what it stated in the follow-up (or nothing, as then)
            s = row.get("stated", 0.8)
            return str(row["answer"]) + ("" if s is None else f"\nConfidence: {round(s * 100)}%")
        if seed == 7000:
            return str(row["answer"])
        samples = row["samples"]
        return str(samples[(seed - 7001) % len(samples)])

    return respond


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}x ({min(xs):.2f}-{max(xs):.2f})"


async def wall_time(latency: float, repeats: int) -> None:
    print(f"\n1. guarded / raw wall time, upstream latency {latency * 1000:.0f} ms, concurrent, n")
    with FakeOpenAIServer(latency=latency) as srv:
        srv.answers = responder(SMOL)
        provider = OpenAICompatProvider(srv.base_url, model="m")
        guards = {
            (n, p): Guard({n: policy_with_plan(n, p)}, provider, timeout=60.0)
            for n in POLICIES
            for p in PLANS
        }
        ratios: dict[tuple[str, str | None], list[float]] = {key: [] for key in guards}
        raws: list[float] = []
        warm = [{"role": "user", "content": SMOL[0]["question"]}]
        await provider.chat(warm, seed=7000)  # open the connection pool before timing
        for guard in guards.values():
            await guard.chat(warm, seed=7000)
        for i in range(repeats):
            q = [{"role": "user", "content": SMOL[i % len(SMOL)]["question"]}]
            t0 = time.perf_counter()
            await provider.chat(q, seed=7000)
            raw = time.perf_counter() - t0
            raws.append(raw)
            for key, guard in guards.items():  # interleaved: every plan in every repetition
                t0 = time.perf_counter()
                await guard.chat(q, seed=7000)
                ratios[key].append((time.perf_counter() - t0) / raw)
        print(f"   raw call: median {statistics.median(raws) * 1000:.0f} ms over {repeats}")
        print(f"   {'policy':<9}" + "".join(f"{'plan ' + str(p or 'none'):>24}" for p in PLANS))
        for n in POLICIES:
            print(f"   {n:<9}" + "".join(f"{fmt(ratios[(n, p)]):>24}" for p in PLANS))
        await provider.aclose()


def lower_bound(policy: Policy, row: dict[str, Any], r: Any) -> int:
    """Fewest calls any exact schedule could make for this chat: the answer plus the shortest
    prefix of the samples (index order, drawn one at a time) whose consistency box settles the
    action when every other signal is known for free (the follow-up never paid for)."""
    from guardrail.sdk.sample_plan import SampleState, settled
    from guardrail.sdk.signal_steps import consistency_from_samples
    from guardrail.signals import parse_verbalized

    cfg = policy.signals.samples
    if cfg is None or r.status == "failed":
        return int(r.cost.calls)
    known = {k: v for k, v in r.values.items() if k not in ("consistency", "semantic_entropy")}
    if "verbalized" in policy.needed_signals() and "verbalized" not in known:
        stated = row.get("stated", 0.8)
        text = "I cannot say." if stated is None else f"Confidence: {round(stated * 100)}%"
        known["verbalized"] = parse_verbalized(text, mode="followup").value
    samples = [str(row["samples"][i % len(row["samples"])]) for i in range(cfg.k)]
    if settled(policy, known, SampleState(cfg.k, 0, 0)) is not None:
        return 1  # the answer alone settles it
    for m in range(1, cfg.k):
        out = consistency_from_samples(
            r.answer, samples[:m], requested=m, errors=[], question=row["question"]
        )
        value, _, detail = out["consistency"]
        a = 0 if value is None else int(detail["agreeing"])
        if value is not None and settled(policy, known, SampleState(cfg.k, m, a)) is not None:
            return 1 + m
    return 1 + cfg.k


async def calls_per_chat() -> None:
    print("\n2. model calls per guarded chat (server refuses `n`: one call per sample)")
    audit = audit_rows()
    mixes = [
        ("audit-run (5 real samples)", audit, ("general", "finance")),
        ("SmolLM2 fixture (7 real samples)", SMOL, POLICIES),
    ]
    with FakeOpenAIServer() as srv:
        srv.answers = responder(audit + SMOL)
        provider = OpenAICompatProvider(srv.base_url, model="m", supports_n=False)
        tot = {p: 0 for p in PLANS}
        tot_used = {p: 0 for p in PLANS}
        tot_bound = 0
        chats = 0
        for label, rows, names in mixes:
            for n in names:
                guards = {p: Guard({n: policy_with_plan(n, p)}, provider) for p in PLANS}
                calls = {p: 0 for p in PLANS}
                used = {p: 0 for p in PLANS}
                bound = 0
                differ = 0
                for row in rows:
                    q = [{"role": "user", "content": row["question"]}]
                    acts = {}
                    for p, g in guards.items():
                        r = await g.chat(q, seed=7000)
                        calls[p] += r.cost.calls
                        used[p] += r.cost.calls - r.cost.unused_calls
                        acts[p] = r.action
                        if p is None:
                            bound += lower_bound(guards[p].policy_for(n), row, r)
                    differ += sum(acts[p] != acts[None] for p in PLANS)
                chats += len(rows)
                for p in PLANS:
                    tot[p] += calls[p]
                    tot_used[p] += used[p]
                tot_bound += bound
                c0 = calls[None]
                k = len(rows)
                print(
                    f"   {label:<33} {n:<8} n={k:<4} calls/chat none "
                    f"{c0 / k:.2f}  latency {calls['latency'] / k:.2f} "
                    f"(used {used['latency'] / k:.2f})  "
                    f"cost {calls['cost'] / k:.2f} ({calls['cost'] / c0 - 1:+.0%})  "
                    f"bound {bound / k:.2f} ({bound / c0 - 1:+.0%})  "
                    f"decisions differing: {differ}"
                )
                for p in (None, "cost"):  # these plans never start a request they do not use
                    assert used[p] == calls[p], (n, p, used[p], calls[p])
        print(
            f"   all {chats} chats: calls/chat none {tot[None] / chats:.2f}, latency "
            f"{tot['latency'] / chats:.2f} started / {tot_used['latency'] / chats:.2f} used, "
            f"cost {tot['cost'] / chats:.2f} "
            f"(cost vs none: {tot['cost'] / tot[None] - 1:+.1%}; "
            f"bound {tot_bound / chats:.2f}, {tot_bound / tot[None] - 1:+.1%})"
        )
        await provider.aclose()


async def timeline(latency: float) -> None:
    print(f"\n3. timeline of one guarded medical chat ({latency * 1000:.0f} ms per call)")
    row = next(r for r in SMOL if r["domain"] == "medical")
    q = [{"role": "user", "content": row["question"]}]
    with FakeOpenAIServer(latency=latency) as srv:
        srv.answers = responder(SMOL)
        for p in PLANS:
            # one request per sample in every plan, so all plans see the same replies
            provider = OpenAICompatProvider(srv.base_url, model="m", supports_n=False)
            guard = Guard({"medical": policy_with_plan("medical", p)}, provider)
            other = [{"role": "user", "content": SMOL[-1]["question"]}]
            await guard.chat(other, seed=7000)  # warm-up: connections, lazy imports
            first = len(srv.requests)
            t0 = time.monotonic()
            r = await guard.chat(q, seed=7000)
            total = time.monotonic() - t0
            print(
                f"   plan {p or 'none'}: {total * 1000:.0f} ms, action {r.action}, "
                f"{r.cost.calls} requests started, {r.cost.calls - r.cost.unused_calls} used"
            )
            scale = 60 / max(total, 1e-9)
            for body, at in zip(srv.requests[first:], srv.request_times[first:], strict=True):
                last = body["messages"][-1]["content"]
                seed = int(body.get("seed") or 0)
                n = int(body.get("n") or 1)
                role = (
                    "follow-up"
                    if last.startswith(FOLLOWUP)
                    else "answer"
                    if seed == 7000
                    else f"sample {seed - 7000}" + (f"-{seed - 7000 + n - 1}" if n > 1 else "")
                )
                start = int((at - t0) * scale)
                width = max(1, int(latency * scale))
                print(f"     {role:<12}|{' ' * start}{'#' * width}")
            await provider.aclose()


async def llama(repeats: int, max_tokens: int) -> None:
    """The same ratios against a real, serial llama_cpp.server (the embedded SmolLM2 GGUF)."""
    from servers.llama_server import run_llama_server

    from guardrail.providers import embedded_model_path

    print(
        f"\n4. against llama_cpp.server (serial, SmolLM2-135M, max_tokens {max_tokens}, "
        f"{repeats} questions, every sample its own request)"
    )
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_latency_llama"
    log_dir.mkdir(exist_ok=True)
    args = ("--n_ctx", "1024", "--interrupt_requests", "false")
    with run_llama_server(log_dir, str(embedded_model_path()), *args) as base:
        provider = OpenAICompatProvider(base, model="smollm2", supports_n=False, timeout=120)
        guards = {
            (n, p): Guard(
                {n: policy_with_plan(n, p)}, provider, timeout=300.0, max_tokens=max_tokens
            )
            for n in POLICIES
            for p in PLANS
        }
        warm = [{"role": "user", "content": SMOL[-1]["question"]}]
        await provider.chat(warm, seed=7000, max_tokens=max_tokens)
        secs: dict[tuple[str, str | None], list[float]] = {key: [] for key in guards}
        calls: dict[tuple[str, str | None], list[int]] = {key: [] for key in guards}
        raws: list[float] = []
        for i in range(repeats):
            q = [{"role": "user", "content": SMOL[i * 7 % len(SMOL)]["question"]}]
            t0 = time.perf_counter()
            await provider.chat(q, seed=7000, max_tokens=max_tokens)
            raws.append(time.perf_counter() - t0)
            for key, guard in guards.items():
                t0 = time.perf_counter()
                r = await guard.chat(q, seed=7000)
                secs[key].append(time.perf_counter() - t0)
                calls[key].append(r.cost.calls)
        # one ratio per policy and plan: total guarded time / total raw time over the questions
        # (a per-question ratio is dominated by how long that one raw reply happened to be)
        raw_total = sum(raws)
        print(f"   raw call: median {statistics.median(raws) * 1000:.0f} ms over {repeats}")
        print(f"   {'policy':<9}" + "".join(f"{'plan ' + str(p or 'none'):>22}" for p in PLANS))
        for n in POLICIES:
            cells = [
                f"{sum(secs[(n, p)]) / raw_total:.2f}x {statistics.mean(calls[(n, p)]):.1f}c"
                for p in PLANS
            ]
            print(f"   {n:<9}" + "".join(f"{c:>22}" for c in cells))
        print("   (total guarded / total raw wall time over the questions; mean calls per chat)")
        await provider.aclose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument(
        "--parts", default="wall,calls,timeline", help="comma-separated subset (+ llama)"
    )
    ap.add_argument("--llama-questions", type=int, default=3)
    ap.add_argument("--llama-max-tokens", type=int, default=48)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    parts = set(args.parts.split(","))
    if "wall" in parts:
        await wall_time(args.latency, args.repeats)
    if "calls" in parts:
        await calls_per_chat()
    if "timeline" in parts:
        await timeline(args.latency)
    if "llama" in parts:
        await llama(args.llama_questions, args.llama_max_tokens)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
