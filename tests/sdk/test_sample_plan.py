"""Issue 15: `plan latency` / `plan cost` with exact early stopping, end to end against the
real-socket fake server.

The replies are real: tests/fixtures/smollm2_clusters.jsonl holds SmolLM2-135M's answer (seed
7000) and 7 samples (seeds 7001-7007) for 34 questions. The fake server answers each request by
its seed, so every plan sees the same sample i for seed 7001 + i, and the decision of a plan that
stops early must equal the decision with all k samples (no `plan`: one request for all k).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer

from guardrail import Guard
from guardrail.policy import Action, parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.sdk.sample_plan import SampleState, consistency_box

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "smollm2_clusters.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
FOLLOWUP = "How likely is it that your previous answer is correct"
# stated confidence per question (no real follow-up replies are recorded): cycled so that the
# `confident_unhedged` and `stated_vs_sampled` rules of the medical policy both get exercised
STATED = ("Confidence: 60%", "Confidence: 95%", "Confidence: 80%")


def _with_plan(name: str, plan: str | None) -> str:
    text = (ROOT / "policies" / f"{name}.guard").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  plan \w+\n", "", text)
    if plan is not None:
        text = text.replace(f"policy {name} {{\n", f"policy {name} {{\n  plan {plan}\n", 1)
    return text


def _responder(rows: list[dict[str, Any]]) -> Callable[[dict[str, Any], int], str]:
    by_question = {r["question"]: (i, r) for i, r in enumerate(rows)}

    def respond(body: dict[str, Any], _: int) -> str:
        last = body["messages"][-1]["content"]
        if last.startswith(FOLLOWUP):
            question = body["messages"][0]["content"]
            return STATED[by_question[question][0] % len(STATED)]
        _, row = by_question[last]
        seed = int(body["seed"])
        return str(row["answer"]) if seed == 7000 else str(row["samples"][seed - 7001])

    return respond


def _guard(server: FakeOpenAIServer, name: str, plan: str | None) -> Guard:
    policy = parse_policy(_with_plan(name, plan), f"{name}.guard")
    # no `n`: every sample is its own request with seed 7001 + i (as against llama_cpp.server)
    provider = OpenAICompatProvider(server.base_url, model="m", supports_n=False)
    return Guard({policy.name: policy}, provider, timeout=30.0)


def _sample_requests(server: FakeOpenAIServer, start: int) -> int:
    return sum(1 for b in server.requests[start:] if int(b.get("seed") or 0) > 7000)


@pytest.mark.parametrize("name", ["general", "medical"])
async def test_plans_give_the_decision_of_all_k_samples_with_fewer_samples_in_cost(
    server: FakeOpenAIServer, name: str
) -> None:
    server.answers = _responder(ROWS)
    guards = {p: _guard(server, name, p) for p in (None, "cost", "latency")}
    samples = {p: 0 for p in guards}
    stopped = 0
    for row in ROWS:
        actions: dict[str | None, Action | None] = {}
        for plan, guard in guards.items():
            before = len(server.requests)
            r = await guard.chat(row["messages"], seed=7000)
            assert r.status in ("answered", "abstained", "pending_review"), r.error
            actions[plan] = r.action
            samples[plan] += _sample_requests(server, before)
            rep = next((s for s in r.signals if s.name == "consistency"), None)
            if plan is not None and rep is not None and "stopped_early" in rep.detail:
                stopped += 1
                # the reported a/m lies in the box [a/k, (a + k - m)/k] the stop was decided on
                lo, hi = rep.detail["stopped_early"]["bounds"]
                assert lo - 1e-12 <= r.values["consistency"] <= hi + 1e-12
                st = SampleState(
                    k=rep.detail["k_planned"],
                    m=rep.detail["drawn"],
                    a=rep.detail["agreeing"],
                )
                assert consistency_box(st) == (lo, hi)
        assert actions["cost"] == actions[None], row["id"]
        assert actions["latency"] == actions[None], row["id"]
    # cost mode never draws more samples than the old plan, and on this real mix strictly fewer
    assert samples["cost"] < samples[None]
    # latency mode sends all k with the answer, before knowing whether they are needed (the
    # documented speculation trade): at most k per chat, never more
    k = parse_policy(_with_plan(name, None), "p.guard").signals.samples
    assert k is not None and samples["latency"] <= k.k * len(ROWS)
    assert stopped > 0
    for g in guards.values():
        await g.aclose()


def test_waves_are_the_smallest_that_could_settle() -> None:
    # medical (k = 7): with verbalized 0.5, hedges 2, reply_kind "answer" known, only the two
    # agreement rules can fire: < 0.70 abstain, < 0.90 review, else the otherwise notice.
    from guardrail.sdk.sample_plan import next_wave

    medical = parse_policy(_with_plan("medical", "cost"), "medical.guard")
    known = {"verbalized": 0.5, "hedges": 2, "reply_kind": "answer"}
    # nothing drawn. d = 1: boxes [0, 6/7] and [1/7, 1] straddle 0.70. d = 2: [0, 5/7 = 0.714]
    # straddles 0.70, [1/7, 6/7] and [2/7, 1] too. d = 3 all disagreeing: [0, 4/7 = 0.571], all
    # < 0.70 -> abstain. So the first wave is 3.
    assert next_wave(medical, known, SampleState(k=7, m=0, a=0)) == 3
    # 3 drawn, all agree: box [3/7, 1]. d = 1: [3/7, 6/7] or [4/7, 1] -> neither settles;
    # d = 3: 3 more agreeing and 1 left -> [6/7, 1] straddles 0.90; 0 agreeing -> [3/7, 4/7]
    # abstain -> settles. d = 2: 0 agreeing -> [3/7, 5/7] straddles 0.70; so d = 3.
    assert next_wave(medical, known, SampleState(k=7, m=3, a=3)) == 3
    # one sample left: the last wave is 1
    assert next_wave(medical, known, SampleState(k=7, m=6, a=6)) == 1
