"""A server that ignores `"stream": true` and answers with a plain `application/json`
chat.completion: `stream_chat` reads it as one complete delta (content, finish_reason, usage),
so `Guard.stream` and the drop-in client's `create(stream=True)` go on as if it had streamed in
one chunk. Fake server (tests/servers/fake_openai.py, `ignore_stream`) on 127.0.0.1.

Expected values by hand: the fake server counts whitespace words as tokens, so "Capital of
France?" is 3 prompt tokens and "Paris is the capital." 4 completion tokens; with 3 samples at
temperature 0.9 all equal to the answer, consistency is 3/3 = 1.0 -> pass (nothing appended).
"""

from __future__ import annotations

from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider, ProviderError, StreamDelta, Usage
from guardrail.sdk import Guard, GuardedClient, OpenAIClientProvider

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")

POLICY = """
policy general {
  stream live
  on_missing notice
  signals {
    samples 3 temperature 0.9
  }
  rule unstable {
    when consistency < 0.5
    then abstain "I am not sure enough to answer."
  }
  otherwise pass
}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]
ANSWER = "Paris is the capital."


def _guard(provider: Any) -> Guard:
    p = parse_policy(POLICY, "general.guard")
    return Guard({p.name: p}, provider)


async def _deltas(provider: Any) -> list[StreamDelta]:
    return [d async for d in provider.stream_chat(MSGS, model="main-model")]


async def test_provider_reads_a_json_reply_as_one_complete_delta(server: FakeOpenAIServer) -> None:
    server.ignore_stream = True
    server.answers = [ANSWER]
    for provider in (
        OpenAICompatProvider(server.base_url, model="main-model"),
        OpenAIClientProvider(openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-t")),
        OpenAIClientProvider(openai.OpenAI(base_url=server.base_url, api_key="sk-t")),
    ):
        (delta,) = await _deltas(provider)
        assert delta.text == ANSWER and delta.finish_reason == "stop"
        assert delta.usage == Usage(input_tokens=3, output_tokens=4)
        assert not delta.tool_calls
        assert delta.raw is not None and delta.raw["object"] == "chat.completion.chunk"
    assert [b.get("stream") for b in server.requests] == [True, True, True]


async def test_provider_json_error_document_is_an_error(server: FakeOpenAIServer) -> None:
    server.ignore_stream = True
    provider = OpenAICompatProvider(server.base_url, model="main-model")
    server.faults.append(Fault.edit(lambda _: {"error": {"message": "model overloaded"}}))
    with pytest.raises(ProviderError, match="model overloaded"):
        await _deltas(provider)
    server.faults.append(Fault.status(503))
    with pytest.raises(ProviderError) as err:
        await _deltas(provider)
    assert err.value.status_code == 503


async def test_guard_stream_live_over_a_json_reply(server: FakeOpenAIServer) -> None:
    server.ignore_stream = True
    server.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    guard = _guard(OpenAICompatProvider(server.base_url, model="main-model"))
    events = [ev async for ev in guard.stream(MSGS, domain="general")]
    assert [(e.type, e.text) for e in events] == [("delta", ANSWER), ("done", "")]
    resp = events[-1].response
    assert resp is not None and resp.status == "answered"
    assert resp.values["consistency"] == 1.0
    # the JSON reply's usage is the streamed answer's: answer 3 in / 4 out + the n=3 sampling
    # call 3 in / 3 x 4 = 12 out -> 2 calls, 6 in, 16 out, as a non-streamed chat costs
    chat = await guard.chat(MSGS, domain="general")
    for r in (resp, chat):
        assert (r.cost.calls, r.cost.input_tokens, r.cost.output_tokens) == (2, 6, 16)
    assert resp.cost.unmetered_calls == 0


@pytest.mark.parametrize("wrapped", ["openai", "base_url"])
def test_dropin_stream_over_a_json_reply(server: FakeOpenAIServer, wrapped: str) -> None:
    server.ignore_stream = True
    server.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    provider: Any = (
        OpenAIClientProvider(openai.OpenAI(base_url=server.base_url, api_key="sk-t"))
        if wrapped == "openai"
        else OpenAICompatProvider(server.base_url)
    )
    client = GuardedClient(guard=_guard(provider), domain="general")
    chunks = list(client.chat.completions.create(model="main-model", messages=MSGS, stream=True))
    assert [c.choices[0].delta.content for c in chunks] == ["", ANSWER, None]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].guardrail is not None and chunks[-1].guardrail.status == "answered"
