"""The drop-in client's ``create(stream=True)`` (issue 14): real ``openai`` ``ChatCompletionChunk``
objects in the policy's stream mode, against the fake server (tests/servers/fake_openai.py) on
127.0.0.1 through the official ``openai`` client.

Expected decisions by hand: 3 samples at temperature 0.9 (what `role_answers` treats as a
sample); consistency = share equal to the answer; < 0.5 abstains, < 1.0 adds a notice.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.sdk import AsyncGuardedClient, Guard, GuardedClient, OpenAIClientProvider

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")
from openai.types.chat import ChatCompletionChunk  # noqa: E402

POLICY = """
policy general {{
  {stream}
  on_missing notice
  signals {{
    samples 3 temperature 0.9
  }}
  rule unstable {{
    when consistency < 0.5
    then abstain "I am not sure enough to answer."
  }}
  rule shaky {{
    when consistency < 1.0
    then notice "Some samples disagreed."
  }}
  otherwise pass
}}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]
ANSWER = "Paris is the capital."
DISAGREE = ["Paris is the capital.", "Lyon.", "Nice."]  # 1 of 3 -> 0.33 < 0.5 -> abstain


def _guard(provider: Any, stream: str) -> Guard:
    p = parse_policy(POLICY.format(stream=stream), "general.guard")
    return Guard({p.name: p}, provider)


def _client(server: FakeOpenAIServer, stream: str, **kw: Any) -> GuardedClient:
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return GuardedClient(guard=_guard(OpenAIClientProvider(oa), stream), domain="general", **kw)


def _content(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_hold_stream_sends_no_chunk_of_an_abstained_answer(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer=ANSWER, samples=DISAGREE)
    stream = _client(server, "").chat.completions.create(
        model="main-model", messages=MSGS, stream=True
    )
    assert stream.mode == "hold"  # the policy can abstain: hold by default
    chunks = list(stream)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "Paris" not in _content(chunks)
    assert _content(chunks) == "I am not sure enough to answer."
    last = chunks[-1]
    assert last.choices[0].finish_reason == "content_filter"
    assert last.guardrail is not None and last.guardrail.status == "abstained"
    assert "guardrail" not in last.to_dict()
    assert not any(b.get("stream") for b in server.requests)  # the answer was not streamed


def test_live_stream_flows_then_retracts(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer=ANSWER, samples=DISAGREE)
    chunks = list(
        _client(server, "stream live").chat.completions.create(
            model="main-model", messages=MSGS, stream=True
        )
    )
    # role chunk, the upstream's word tokens, then the retraction chunk
    assert [c.choices[0].delta.content for c in chunks[1:-1]] == [
        "Paris",
        " is",
        " the",
        " capital.",
    ]
    last = chunks[-1]
    assert last.choices[0].finish_reason == "content_filter"
    assert last.guardrail_retracted is True
    assert last.guardrail_replacement == "I am not sure enough to answer."
    assert last.guardrail is not None and last.guardrail.values["consistency"] == pytest.approx(
        1 / 3
    )
    assert [bool(b.get("stream")) for b in server.requests].count(True) == 1


def test_live_stream_notice_and_usage_chunk(server: FakeOpenAIServer) -> None:
    # 2 of 3 samples agree -> 0.67: a notice, streamed after the answer
    server.answers = role_answers(answer=ANSWER, samples=[ANSWER, ANSWER, "Lyon."])
    chunks = list(
        _client(server, "stream live").chat.completions.create(
            model="main-model",
            messages=MSGS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert _content(chunks) == f"{ANSWER}\n\nSome samples disagreed."
    final = chunks[-2]
    assert final.choices[0].finish_reason == "stop" and not final.guardrail_retracted
    usage = chunks[-1]
    # every call of the guard, the streamed answer included (the fake server counts words):
    # answer "Capital of France?" = 3 in, "Paris is the capital." = 4 out; the n=3 sampling
    # call 3 in, 4 + 4 + 1 = 9 out -> 6 in, 13 out (issue: the answer's 3 + 4 were left out)
    assert usage.choices == [] and usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (6, 13)
    assert usage.usage.total_tokens == 19
    # the upstream was asked for the streamed answer's usage
    streamed = [b for b in server.requests if b.get("stream")]
    assert [b.get("stream_options") for b in streamed] == [{"include_usage": True}]


@pytest.mark.parametrize("stream", ["stream live", "stream hold"])
def test_stream_usage_equals_the_non_stream_total(server: FakeOpenAIServer, stream: str) -> None:
    # the same scripted upstream three ways: create() (guardrail_usage: every call of the
    # guard), and stream=True in hold and in live (the usage chunk: the guard's total)
    server.answers = role_answers(answer=ANSWER, samples=[ANSWER, ANSWER, "Lyon."])
    client = _client(server, stream)
    plain = client.chat.completions.create(model="main-model", messages=MSGS)
    chunks = list(
        client.chat.completions.create(
            model="main-model",
            messages=MSGS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    u = chunks[-1].usage
    assert u is not None
    # answer 3 in / 4 out + samples 3 in / 9 out (see the test above), 2 calls either way
    want = (6, 13, 19)
    got = plain.guardrail_usage
    assert (got.prompt_tokens, got.completion_tokens, got.total_tokens) == want
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == want
    final = chunks[-2].guardrail
    assert final is not None and plain.guardrail is not None
    assert final.cost.calls == plain.guardrail.cost.calls == 2
    assert final.cost.unmetered_calls == 0
    # non-stream `usage` stays the upstream answer call's own (docs/sdk.md): 3 in, 4 out
    assert plain.usage is not None
    assert (plain.usage.prompt_tokens, plain.usage.completion_tokens) == (3, 4)


def test_live_stream_without_upstream_usage_reports_the_answer_as_unmetered(
    server: FakeOpenAIServer,
) -> None:
    # a server that ignores stream_options.include_usage: no usage chunk for the answer
    server.stream_usage = False
    server.answers = role_answers(answer=ANSWER, samples=[ANSWER, ANSWER, "Lyon."])
    chunks = list(
        _client(server, "stream live").chat.completions.create(
            model="main-model",
            messages=MSGS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    u = chunks[-1].usage
    r = chunks[-2].guardrail
    assert u is not None and r is not None
    # the answer call is counted (2 calls) but its tokens are unknown: only the n=3 sampling
    # call's 3 in / 9 out are in the totals, and the verdict says one call is unmetered
    assert (u.prompt_tokens, u.completion_tokens) == (3, 9)
    assert r.cost.calls == 2 and r.cost.unmetered_calls == 1


async def test_async_client_live_stream(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    oa = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    client = AsyncGuardedClient(
        guard=_guard(OpenAIClientProvider(oa), "stream live"), domain="general"
    )
    stream = await client.chat.completions.create(model="main-model", messages=MSGS, stream=True)
    chunks = [c async for c in stream]
    assert _content(chunks) == ANSWER  # 3 of 3 agree: pass, nothing appended
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].guardrail is not None and chunks[-1].guardrail.status == "answered"


def test_base_url_provider_streams_live_too(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer=ANSWER, samples=DISAGREE)
    client = GuardedClient(
        guard=_guard(OpenAICompatProvider(server.base_url), "stream live"), domain="general"
    )
    chunks = list(client.chat.completions.create(model="main-model", messages=MSGS, stream=True))
    assert chunks[-1].guardrail_replacement == "I am not sure enough to answer."


@pytest.mark.parametrize("stream", ["stream hold", "stream live"])
def test_tool_call_reply_streams_through_unguarded(server: FakeOpenAIServer, stream: str) -> None:
    server.tool_call = {"name": "lookup", "arguments": '{"q": "France"}'}
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    chunks = list(
        _client(server, stream).chat.completions.create(
            model="main-model",
            messages=MSGS,
            stream=True,
            tools=tools,  # type: ignore[arg-type]
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [(tc.function.name, tc.function.arguments) for tc in calls] == [  # type: ignore[union-attr]
        ("lookup", '{"q": "France"}')
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].guardrail is None  # not judged
    answer_calls = [b for b in server.requests if b.get("tools")]
    assert len(answer_calls) == 1  # tools went to the answer call only


def test_failure_before_the_first_chunk_raises_the_openai_error(server: FakeOpenAIServer) -> None:
    server.api_key = "sk-other"  # the upstream refuses the client's key
    for mode in ("", "stream live"):
        with pytest.raises(openai.AuthenticationError):
            _client(server, mode).chat.completions.create(
                model="main-model", messages=MSGS, stream=True
            )


def test_stream_options_without_stream_is_refused(server: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="stream_options applies only to stream=True"):
        _client(server, "").chat.completions.create(
            model="main-model", messages=MSGS, stream_options={"include_usage": True}
        )
    assert server.requests == []


def test_live_stream_cut_mid_answer_is_retracted_not_answered(server: FakeOpenAIServer) -> None:
    # the upstream closes the connection after two tokens (no finish_reason, no [DONE]): the
    # openai client ends its iteration silently, so the guard must see the answer is partial
    # (docs/serve.md: a stream that breaks after its first token ends with a retraction)
    # a policy with no sampling call: the one fault below can only meet the answer stream
    local = "policy general {\n  stream live\n  signals {\n    hedges\n  }\n  otherwise pass\n}\n"
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "main-model"}
    head = "".join(
        "data: " + json.dumps({**base, "choices": [{"index": 0, "delta": d}]}) + "\n\n"
        for d in ({"role": "assistant"}, {"content": "Paris"}, {"content": " is"})
    )
    server.faults.append(Fault.body(head.encode(), length_header=False))
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    p = parse_policy(local, "general.guard")
    client = GuardedClient(guard=Guard({p.name: p}, OpenAIClientProvider(oa)), domain="general")
    chunks = list(client.chat.completions.create(model="main-model", messages=MSGS, stream=True))
    assert _content(chunks) == "Paris is"
    last = chunks[-1]
    assert last.choices[0].finish_reason == "content_filter"
    assert last.guardrail_retracted is True
    assert last.guardrail_replacement == client.guard.failure_message
    assert last.guardrail is not None and last.guardrail.status == "failed"
    assert "before the answer was complete" in (last.guardrail.error or "")


@pytest.mark.parametrize("started", [False, True])
def test_closing_a_sync_stream_cancels_the_guards_calls(
    server: FakeOpenAIServer, started: bool
) -> None:
    # docs/sdk.md: close() / `with` stop the stream. The samples (temperature 0.9) are held by
    # the server; closing must cancel them (the server sees the client disconnect), whether or
    # not a chunk was read. close() used to reach nothing: the samples and the answer stream
    # stayed open and the assessment waited forever. (An httpx provider: a sync `openai`
    # client's calls run in threads, which cannot be cancelled.)
    import time

    server.answers = role_answers(answer=ANSWER, samples=DISAGREE)
    server.hold = lambda body: body.get("temperature") == 0.9
    client = GuardedClient(
        guard=_guard(OpenAICompatProvider(server.base_url), "stream live"), domain="general"
    )
    with client.chat.completions.create(model="main-model", messages=MSGS, stream=True) as s:
        for _ in range(500):  # the sampling call reaches the server asynchronously (polled)
            if server.held:
                break
            time.sleep(0.01)
        assert server.held == 1
        if started:
            assert next(iter(s)).choices[0].delta.role == "assistant"
    for _ in range(500):  # the disconnect reaches the server's thread asynchronously (polled)
        if server.disconnected:
            break
        time.sleep(0.01)
    assert [b.get("temperature") for b in server.disconnected] == [0.9]
