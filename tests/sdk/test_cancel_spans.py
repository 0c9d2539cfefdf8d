"""Spans and call counts of the requests guardrail cancels on purpose (``plan latency`` with one
request per sample) versus a cancellation that comes from the host (its task is cancelled, a
deadline around the guarded call).

A cancellation guardrail decided (the stop test settled the action, or the answer alone did) is
not an error: the request's ``chat`` CLIENT span ends with status UNSET, no ``error.type``, and
``guardrail.cancelled = true`` with ``guardrail.cancel.reason`` (guardrail/tracing.py). A
cancellation from the host keeps ``error.type = CancelledError`` and status ERROR.

Scenario (by hand): policy ``pl``, plan latency, k = 5 samples, one request per sample (seeds
seed+1 .. seed+5 = 101 .. 105). Samples 101-103 say "Lyon." against the answer "Paris is the
capital."; 104 and 105 are held by the fake server until their client goes away. After 3 of 5
with none agreeing, consistency lies in [0/5, (0 + 5 - 3)/5] = [0, 0.4], all < 0.5: `guessing`
abstains whatever 104 and 105 say, so guardrail cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from servers.fake_openai import FakeOpenAIServer

from guardrail import Guard
from guardrail.policy import Action

Q = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "Paris is the capital."
SEED = 100

POLICY = """
policy pl {
  on_missing notice
  plan latency
  signals {
    samples 5 temperature 0.9
  }
  rule refused {
    when reply_kind == "refusal"
    then abstain "The model refused."
  }
  rule guessing {
    when consistency < 0.5
    then abstain "Not sure enough to answer."
  }
  otherwise pass
}
"""


def _respond(answer: str) -> Callable[[dict[str, Any], int], str]:
    def respond(body: dict[str, Any], _: int) -> str:
        seed = int(body.get("seed") or 0)
        return "Lyon." if seed > SEED else answer

    return respond


@pytest.fixture
def traced(
    make_guard: Callable[..., Guard],
) -> tuple[Guard, InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    guard = make_guard(POLICY, provider_kw={"supports_n": False}, tracer_provider=tp)
    return guard, exp


def _sample_spans(exp: InMemorySpanExporter) -> dict[int, ReadableSpan]:
    """The sample requests' chat spans by seed."""
    out: dict[int, ReadableSpan] = {}
    for s in exp.get_finished_spans():
        attrs = s.attributes or {}
        if attrs.get("guardrail.purpose") == "consistency":
            seed = attrs.get("gen_ai.request.seed")
            assert isinstance(seed, int)
            out[seed] = s
    return out


async def _wait_disconnected(server: FakeOpenAIServer, count: int) -> None:
    for _ in range(500):  # the close reaches the server's thread asynchronously
        if len(server.disconnected) == count:
            return
        await asyncio.sleep(0.01)


async def test_requests_cancelled_after_the_stop_end_without_error(
    server: FakeOpenAIServer, traced: tuple[Guard, InMemorySpanExporter]
) -> None:
    guard, exp = traced
    server.answers = _respond(ANSWER)
    server.hold = lambda body: int(body.get("seed") or 0) >= SEED + 4
    r = await guard.chat(Q, domain="pl", seed=SEED)
    assert r.action is Action.ABSTAIN
    rep = r.signal("consistency")
    assert rep is not None and rep.detail["drawn"] == 3
    spans = _sample_spans(exp)
    assert sorted(spans) == [101, 102, 103, 104, 105]
    for seed in (101, 102, 103):  # replied and used: ordinary successful spans
        attrs = spans[seed].attributes or {}
        assert spans[seed].status.status_code is StatusCode.UNSET
        assert "error.type" not in attrs and "guardrail.cancelled" not in attrs
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    for seed in (104, 105):  # cancelled by guardrail: not an error
        attrs = spans[seed].attributes or {}
        assert spans[seed].status.status_code is StatusCode.UNSET, seed
        assert "error.type" not in attrs
        assert attrs["guardrail.cancelled"] is True
        assert attrs["guardrail.cancel.reason"] == "stopped_early"
    # nothing on the trace is an error: the guard span neither
    assert all(s.status.status_code is not StatusCode.ERROR for s in exp.get_finished_spans())
    # calls started: answer + 5 sample requests = 6; used: answer + samples 101-103 = 4;
    # unused: the 2 cancelled requests
    assert (r.cost.calls, r.cost.unused_calls) == (6, 2)
    await _wait_disconnected(server, 2)
    assert sorted(int(b["seed"]) for b in server.disconnected) == [104, 105]


async def test_requests_the_answer_made_pointless_are_cancelled_as_not_needed(
    server: FakeOpenAIServer, traced: tuple[Guard, InMemorySpanExporter]
) -> None:
    # a refusal abstains whatever the samples say (abstain is the most severe action), so the
    # five sample requests started with the answer are not needed at all
    guard, exp = traced
    server.answers = _respond("I'm sorry, but I can't help with that.")
    server.hold = lambda body: int(body.get("seed") or 0) > SEED
    r = await guard.chat(Q, domain="pl", seed=SEED)
    assert r.action is Action.ABSTAIN and r.values["reply_kind"] == "refusal"
    spans = _sample_spans(exp)
    assert sorted(spans) == [101, 102, 103, 104, 105]
    for s in spans.values():
        attrs = s.attributes or {}
        assert s.status.status_code is StatusCode.UNSET and "error.type" not in attrs
        assert attrs["guardrail.cancelled"] is True
        assert attrs["guardrail.cancel.reason"] == "not_needed"
    # 6 requests started, only the answer's reply was used
    assert (r.cost.calls, r.cost.unused_calls) == (6, 5)
    await _wait_disconnected(server, 5)


@pytest.mark.parametrize("how", ["task.cancel", "deadline"])
async def test_a_cancellation_by_the_host_is_still_reported_as_an_error(
    server: FakeOpenAIServer, traced: tuple[Guard, InMemorySpanExporter], how: str
) -> None:
    # every sample request is held: the chat cannot finish; the host gives up on it
    guard, exp = traced
    server.answers = _respond(ANSWER)
    server.hold = lambda body: int(body.get("seed") or 0) > SEED
    if how == "task.cancel":
        task = asyncio.create_task(guard.chat(Q, domain="pl", seed=SEED))
        for _ in range(500):  # until the answer and the 5 sample requests reached the server
            if len(server.requests) == 6 and server.held == 5:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    else:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(guard.chat(Q, domain="pl", seed=SEED), timeout=0.5)
    spans = _sample_spans(exp)
    assert sorted(spans) == [101, 102, 103, 104, 105]
    for s in spans.values():
        attrs = s.attributes or {}
        assert s.status.status_code is StatusCode.ERROR
        assert attrs["error.type"] == "CancelledError"
        assert "guardrail.cancelled" not in attrs
    guard_span = next(s for s in exp.get_finished_spans() if s.name == "guardrail.guard")
    assert guard_span.status.status_code is StatusCode.ERROR
    assert (guard_span.attributes or {})["error.type"] == "CancelledError"
    await _wait_disconnected(server, 5)


async def test_live_tool_call_reply_stops_the_assessment_without_error(
    server: FakeOpenAIServer, traced: tuple[Guard, InMemorySpanExporter]
) -> None:
    # a live stream whose answer is a tool call: nothing is judged, so guardrail stops the
    # assessment and its held sample requests: its own decision, not an error
    from guardrail.sdk.answer_call import AnswerSlot
    from guardrail.sdk.streaming import guarded_stream

    guard, exp = traced
    server.answers = _respond(ANSWER)
    server.tool_call = {"name": "lookup", "arguments": "{}"}
    server.hold = lambda body: int(body.get("seed") or 0) > SEED
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    slot = AnswerSlot(options={"tools": tools})
    events = [
        ev async for ev in guarded_stream(guard, Q, domain="pl", mode="live", seed=SEED, slot=slot)
    ]
    assert events[-1].type == "done" and events[-1].tool_calls
    await _wait_disconnected(server, 5)
    spans = _sample_spans(exp)
    assert sorted(spans) == [101, 102, 103, 104, 105]
    for s in spans.values():
        attrs = s.attributes or {}
        assert s.status.status_code is StatusCode.UNSET and "error.type" not in attrs
        assert attrs["guardrail.cancel.reason"] == "tool_calls"
    guard_span = next(s for s in exp.get_finished_spans() if s.name == "guardrail.guard")
    assert guard_span.status.status_code is StatusCode.UNSET
    assert (guard_span.attributes or {})["guardrail.cancel.reason"] == "tool_calls"


async def test_live_stream_closed_by_the_consumer_is_the_hosts_cancellation(
    server: FakeOpenAIServer, traced: tuple[Guard, InMemorySpanExporter]
) -> None:
    guard, exp = traced
    server.answers = _respond(ANSWER)
    server.hold = lambda body: int(body.get("seed") or 0) > SEED
    stream = guard.stream(Q, domain="pl", mode="live", seed=SEED)
    first = await anext(stream)
    assert first.type == "delta" and first.text == "Paris"
    for _ in range(500):  # the 5 sample requests are at the server
        if server.held == 5:
            break
        await asyncio.sleep(0.01)
    await stream.aclose()  # type: ignore[attr-defined]  # the consumer goes away
    await _wait_disconnected(server, 5)
    for _ in range(500):  # the assessment task ends after the close
        if len(_sample_spans(exp)) == 5:
            break
        await asyncio.sleep(0.01)
    spans = _sample_spans(exp)
    assert sorted(spans) == [101, 102, 103, 104, 105]
    for s in spans.values():
        attrs = s.attributes or {}
        assert s.status.status_code is StatusCode.ERROR
        assert attrs["error.type"] == "CancelledError" and "guardrail.cancelled" not in attrs


class _LateReplies:
    """A ``ChatProvider`` whose sample replies 104 and 105 arrive just as guardrail cancels
    them: the cancellation is absorbed and the reply returned (what ``asyncio.wait_for`` does
    when the inner call finished in the same loop step as the cancel). Replies are counted."""

    name = "late"
    default_model = "m"
    supports_n = False

    def __init__(self) -> None:
        self.calls = 0

    async def chat(self, messages: Any, **kw: Any) -> Any:
        from guardrail.providers import ChatResult, Choice

        self.calls += 1
        seed = int(kw.get("seed") or 0)
        text = ANSWER if seed == SEED else "Lyon."
        if seed >= SEED + 4:
            with contextlib.suppress(asyncio.CancelledError):  # the reply was already there
                await asyncio.sleep(30)
        return ChatResult(provider="late", model="m", choices=[Choice(index=0, text=text)])

    async def aclose(self) -> None:
        return None


async def test_a_reply_that_beats_the_cancel_is_counted_once() -> None:
    from guardrail.policy import parse_policy

    policy = parse_policy(POLICY, "pl.guard")
    provider = _LateReplies()
    guard = Guard({policy.name: policy}, provider)  # type: ignore[arg-type]
    r = await guard.chat(Q, domain="pl", seed=SEED)
    # stopped after 101-103 (module docstring): 104 and 105 were cancelled but replied anyway.
    # Requests started: the answer + 5 samples = 6, each counted once (the cancel used to add
    # one more for each of the two: 8); used: the answer + 101-103 = 4, unused 2
    assert r.action is Action.ABSTAIN and provider.calls == 6
    assert (r.cost.calls, r.cost.unused_calls) == (6, 2)


class _GatedAnswer:
    """A ``ChatProvider`` whose answer waits for the test to release it; samples never come."""

    name = "gated"
    default_model = "m"

    def __init__(self) -> None:
        self.gate: asyncio.Future[None] | None = None
        self.started = asyncio.Event()

    async def chat(self, messages: Any, **kw: Any) -> Any:
        from guardrail.providers import ChatResult, Choice

        if kw.get("temperature") == 0.9:  # a sample: slower than the host is patient
            await asyncio.sleep(30)
        self.gate = asyncio.get_running_loop().create_future()
        self.started.set()
        await self.gate
        return ChatResult(provider="gated", model="m", choices=[Choice(index=0, text=ANSWER)])

    async def aclose(self) -> None:
        return None


async def test_a_host_cancel_arriving_with_the_answer_is_not_lost() -> None:
    # The answer's reply and the host's cancel land in the same event-loop step. Python 3.11's
    # asyncio.wait_for returned the reply and dropped the cancel, so the chat ran on to its
    # deadline (3 s here, 120 s by default) and returned a verdict nobody awaited any more.
    from guardrail.policy import parse_policy

    policy = parse_policy(POLICY.replace("  plan latency\n", ""), "pl.guard")
    provider = _GatedAnswer()
    guard = Guard({policy.name: policy}, provider, timeout=3.0)  # type: ignore[arg-type]
    task = asyncio.create_task(guard.chat(Q, domain="pl"))
    await provider.started.wait()
    assert provider.gate is not None
    provider.gate.set_result(None)  # the reply arrives ...
    task.cancel()  # ... as the host cancels
    with pytest.raises(asyncio.CancelledError):
        await task


class _SlowEnsemble:
    """Samples reply at once, ensemble models ``m1``/``m2`` 0.2 s later; every reply "Paris."."""

    name = "slow-ensemble"
    default_model = "main"
    supports_n = False

    async def chat(self, messages: Any, **kw: Any) -> Any:
        from guardrail.providers import ChatResult, Choice

        if kw.get("model") in ("m1", "m2"):
            await asyncio.sleep(0.2)
        return ChatResult(provider="s", model="m", choices=[Choice(index=0, text="Paris.")])

    async def aclose(self) -> None:
        return None


async def test_samples_done_without_a_stop_leave_the_ensemble_running() -> None:
    # plan latency starts 3 samples and the 2 ensemble models with the answer. The samples
    # (all "Paris.", agreeing) finish first and no prefix of them settles the action: `dis`
    # reads `agreement`, still open, so review and pass both stay possible. The ensemble calls
    # used to be cancelled with the samples anyway, and their CancelledError escaped
    # Guard.chat. Now: consistency 3/3 = 1.0, agreement 3/3 = 1.0 -> pass, 6 calls, all used.
    from guardrail.policy import parse_policy

    text = """
policy both {
  plan latency
  signals {
    samples 3 temperature 0.9
    ensemble "m1", "m2"
  }
  rule low {
    when consistency < 0.5
    then abstain "Not sure."
  }
  rule dis {
    when agreement < 0.6
    then review "Models disagree."
  }
  otherwise pass
}
"""
    policy = parse_policy(text, "both.guard")
    guard = Guard({policy.name: policy}, _SlowEnsemble(), timeout=5.0)  # type: ignore[arg-type]
    r = await guard.chat([{"role": "user", "content": "Capital of France?"}], domain="both")
    assert r.status == "answered" and r.action is Action.PASS
    assert r.values["consistency"] == 1.0 and r.values["agreement"] == 1.0
    # the answer + 3 samples + 2 models, all used
    assert (r.cost.calls, r.cost.unused_calls) == (6, 0)
