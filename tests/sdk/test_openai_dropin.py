"""The drop-in against the real ``openai`` package (dev extra) pointed at the fake server
(tests/servers/fake_openai.py, a real HTTP server on 127.0.0.1): AsyncOpenAI, the exact
``create`` signature, real ``ChatCompletion`` results, openai exceptions, delegation."""

from __future__ import annotations

import inspect
import socket
from pathlib import Path
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.sdk import AsyncGuardedClient, Guard, GuardedClient, OpenAIClientProvider
from guardrail.sdk.client import ANSWER_ONLY_ARGS

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")
from openai.types.chat import ChatCompletion  # noqa: E402

POLICY = """
policy general {
  signals {
    samples 3 temperature 0.9
  }
  rule unstable {
    when consistency < 0.5
    then abstain "I am not sure enough to answer."
  }
  otherwise notice "Answers may be out of date."
}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]


def _guard(provider: Any) -> Guard:
    p = parse_policy(POLICY, "general.guard")
    return Guard({p.name: p}, provider)


async def test_async_openai_client_is_awaited_and_returns_a_chat_completion(
    server: FakeOpenAIServer,
) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    oa = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    # openai's required_args wrapper hides `async def` from inspect.iscoroutinefunction
    assert not inspect.iscoroutinefunction(oa.chat.completions.create)
    client = AsyncGuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    c = await client.chat.completions.create(model="main-model", messages=MSGS)
    assert isinstance(c, ChatCompletion)
    assert c.guardrail is not None and c.guardrail.status == "answered"
    assert c.choices[0].message.content == "Paris.\n\nAnswers may be out of date."
    # upstream id of the answer call (the fake server numbers requests: the first is 1)
    assert c.id == "chatcmpl-fake-1"
    assert c.choices[0].finish_reason == "stop"
    # the returned document validates as a plain ChatCompletion; guard fields are not in it
    doc = c.to_dict()
    assert "guardrail" not in doc and "guardrail_usage" not in doc
    assert ChatCompletion.model_validate(doc).id == "chatcmpl-fake-1"
    # usage: answer call "Capital of France?" = 3 words in, "Paris." = 1 out (fake server counts
    # words); guardrail_usage adds the n=3 sample call: 3 in, 3 out -> (2 calls, 6, 4, 10)
    assert c.usage is not None and (c.usage.prompt_tokens, c.usage.completion_tokens) == (3, 1)
    g = c.guardrail_usage
    assert (g.calls, g.prompt_tokens, g.completion_tokens, g.total_tokens) == (2, 6, 4, 10)
    async with client:
        pass
    assert oa.is_closed()


def test_every_argument_forwarded_to_the_answer_call_only(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    client = GuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    c = client.chat.completions.create(
        model="main-model",
        messages=MSGS,
        tools=[tool],
        tool_choice="auto",
        response_format={"type": "json_object"},
        stop=["\n\n"],
        max_completion_tokens=7,
        extra_body={"top_k": 5},
        extra_headers={"X-Trace": "abc"},
        timeout=12.5,
        user="u-1",
        top_p=0.5,
        seed=40,
    )
    assert c.guardrail is not None and c.guardrail.status == "answered"
    answer, samples = server.requests[0], server.requests[1]
    assert answer["tools"] == [tool] and answer["tool_choice"] == "auto"
    assert answer["response_format"] == {"type": "json_object"}
    assert answer["stop"] == ["\n\n"] and answer["max_completion_tokens"] == 7
    assert "max_tokens" not in answer  # servers reject both caps
    assert answer["top_k"] == 5 and answer["user"] == "u-1" and answer["top_p"] == 0.5
    assert server.headers_seen[0]["x-trace"] == "abc"
    assert answer["seed"] == 40 and samples["seed"] == 41  # samples use seed+1..
    for key in ("tools", "tool_choice", "response_format", "stop", "top_k", "user", "top_p"):
        assert key not in samples, key
    assert "x-trace" not in server.headers_seen[1]


def test_rejected_and_unknown_arguments(server: FakeOpenAIServer) -> None:
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    client = GuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    with pytest.raises(TypeError, match="temprature"):
        client.chat.completions.create(model="m", messages=MSGS, temprature=0.3)
    with pytest.raises(ValueError, match="n=2"):
        client.chat.completions.create(model="m", messages=MSGS, n=2)
    with pytest.raises(ValueError, match="stream_options"):
        client.chat.completions.create(model="m", messages=MSGS, stream_options={"x": 1})
    with pytest.raises(ValueError, match="audio"):
        client.chat.completions.create(model="m", messages=MSGS, modalities=["text", "audio"])
    assert server.requests == []
    # a guardrail provider cannot carry answer-only options: TypeError, nothing sent
    own = GuardedClient(guard=_guard(OpenAICompatProvider(server.base_url)), domain="general")
    with pytest.raises(TypeError, match="tools"):
        own.chat.completions.create(model="m", messages=MSGS, tools=[])
    assert server.requests == []
    # the sync and async create have the openai signature (every openai keyword is accepted)
    ours = set(inspect.signature(client.chat.completions.create).parameters)
    theirs = set(inspect.signature(oa.chat.completions.create).parameters)
    assert theirs <= ours and ours - theirs == {"domain"}
    assert set(ANSWER_ONLY_ARGS) <= theirs


def test_finish_reason_length_and_tool_calls_pass_through(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris is the", samples=["Paris."])

    def cut(doc: dict[str, Any]) -> dict[str, Any]:
        doc["choices"][0]["finish_reason"] = "length"
        doc["system_fingerprint"] = "fp_test"
        return doc

    server.faults.append(Fault.edit(cut))
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    client = GuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    c = client.chat.completions.create(model="main-model", messages=MSGS)
    assert c.choices[0].finish_reason == "length" and c.system_fingerprint == "fp_test"
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}

    def tools(doc: dict[str, Any]) -> dict[str, Any]:
        doc["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
        doc["choices"][0]["finish_reason"] = "tool_calls"
        return doc

    server.faults.append(Fault.edit(tools))
    before = len(server.requests)
    t = client.chat.completions.create(model="main-model", messages=MSGS, tools=[])
    assert t.guardrail is None  # tool calls are passed through unevaluated, no samples drawn
    assert len(server.requests) == before + 1
    assert t.choices[0].finish_reason == "tool_calls"
    assert t.choices[0].message.tool_calls[0].function.name == "lookup"


def test_abstention_is_content_filter(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Lyon.", "Nice.", "Paris."])
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    client = GuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    c = client.chat.completions.create(model="main-model", messages=MSGS)
    assert c.choices[0].finish_reason == "content_filter"
    assert c.choices[0].message.content == "I am not sure enough to answer."
    assert c.guardrail is not None and c.guardrail.status == "abstained"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connection refused


def test_failures_raise_openai_exceptions(server: FakeOpenAIServer) -> None:
    server.api_key = "right"
    oa = openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0)
    client = GuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    with pytest.raises(openai.AuthenticationError) as auth:
        client.chat.completions.create(model="main-model", messages=MSGS)
    assert auth.value.status_code == 401
    server.api_key = None
    server.faults.append(Fault.status(500))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="main-model", messages=MSGS)
    refused = openai.OpenAI(
        base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key="k", max_retries=0
    )
    c2 = GuardedClient(guard=_guard(OpenAIClientProvider(refused)), domain="general")
    with pytest.raises(openai.APIConnectionError):
        c2.chat.completions.create(model="main-model", messages=MSGS)
    # guardrail's own provider: the same openai exception classes
    own = GuardedClient(
        guard=_guard(OpenAICompatProvider(f"http://127.0.0.1:{_closed_port()}/v1", max_retries=0)),
        domain="general",
    )
    with pytest.raises(openai.APIConnectionError):
        own.chat.completions.create(model="main-model", messages=MSGS)


def test_models_with_options_raw_response(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    other = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    with GuardedClient(other) as probe:  # bundled policies by default
        assert probe.models.list().data[0].id == "fake-model"  # delegated, unguarded
    assert other.is_closed()  # `with` closes the wrapped client
    client = GuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    slow = client.with_options(timeout=33.0)
    assert slow.guard.policies is client.guard.policies
    c = slow.chat.completions.create(model="main-model", messages=MSGS)
    assert c.guardrail is not None and c.guardrail.status == "answered"
    raw = client.chat.completions.with_raw_response.create(model="main-model", messages=MSGS)
    assert raw.parse().choices[0].message.content == "Paris.\n\nAnswers may be out of date."


def test_from_policies_default_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUARDRAIL_POLICIES", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./policies: the bundled ones (the repo's policies/)
    bundled = Guard.from_policies()
    repo = Path(__file__).resolve().parents[2] / "policies"
    assert set(bundled.policies) == {p.stem for p in repo.glob("*.guard")}
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "general.guard").write_text(POLICY)
    assert set(Guard.from_policies().policies) == {"general"}  # ./policies wins


def test_without_openai_same_shape_as_pydantic(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import guardrail.sdk.client as client_mod
    from guardrail.providers import ProviderConnectionError
    from guardrail.sdk import GuardedCompletion

    monkeypatch.setattr(client_mod, "HAVE_OPENAI", False)  # as if `openai` were not installed
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    client = GuardedClient(guard=_guard(OpenAICompatProvider(server.base_url)), domain="general")
    c = client.chat.completions.create(model="main-model", messages=MSGS)
    assert type(c) is GuardedCompletion
    assert c.id == "chatcmpl-fake-1" and c.choices[0].finish_reason == "stop"
    assert c.usage is not None and (c.usage.prompt_tokens, c.usage.completion_tokens) == (3, 1)
    assert c.guardrail_usage.calls == 2
    # the same document validates as openai's ChatCompletion
    assert ChatCompletion.model_validate(c.model_dump()).id == "chatcmpl-fake-1"
    dead = GuardedClient(
        guard=_guard(OpenAICompatProvider(f"http://127.0.0.1:{_closed_port()}/v1", max_retries=0)),
        domain="general",
    )
    with pytest.raises(ProviderConnectionError):
        dead.chat.completions.create(model="main-model", messages=MSGS)


async def test_concurrent_calls_keep_their_own_options(server: FakeOpenAIServer) -> None:
    # two concurrent calls on one client: each task has its own answer slot (a context
    # variable), so each answer call gets its own options and no sample call gets any
    import asyncio

    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    oa = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    client = AsyncGuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    results = await asyncio.gather(
        *(
            client.chat.completions.create(model="main-model", messages=MSGS, stop=[f"#{i}"])
            for i in range(2)
        )
    )
    assert all(c.guardrail is not None for c in results)
    stops = sorted(tuple(r["stop"]) for r in server.requests if "stop" in r)
    assert stops == [("#0",), ("#1",)]  # each answer call got its own, no sample got one
    await client.aclose()
