"""OpenAI-shaped drop-in clients: GuardedClient / AsyncGuardedClient, including wrapping the real
``openai`` Python client pointed at the fake server."""

from __future__ import annotations

import pytest
from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.sdk import AsyncGuardedClient, Guard, GuardedClient, OpenAIClientProvider

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


def _guard(provider: object) -> Guard:
    p = parse_policy(POLICY, "general.guard")
    return Guard({p.name: p}, provider)  # type: ignore[arg-type]


def test_sync_client_returns_completion_with_verdict(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    client = GuardedClient(guard=_guard(OpenAICompatProvider(server.base_url)), domain="general")
    c = client.chat.completions.create(model="main-model", messages=MSGS)
    assert c.object == "chat.completion" and c.model == "main-model"
    assert c.choices[0].message.role == "assistant"
    assert c.choices[0].message.content == "Paris.\n\nAnswers may be out of date."
    assert c.choices[0].finish_reason == "stop"
    assert c.guardrail.action is not None and c.guardrail.action.value == "notice"
    # the fake server counts space-separated words (tests/servers/fake_openai.py): answer call
    # "Capital of France?" 3 in, "Paris." 1 out -> usage (3, 1, 4), the answer call's alone;
    # the samples call (n=3) 3 in, 3 x "Paris." = 3 out -> guardrail_usage 6 + 4 = 10 in 2 calls
    assert len(server.requests) == 2 and server.requests[1]["n"] == 3
    assert c.usage is not None
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (3, 1, 4)
    g = c.guardrail_usage
    assert (g.calls, g.prompt_tokens, g.completion_tokens, g.total_tokens) == (2, 6, 4, 10)


async def test_async_client_abstention_is_content_filtered(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Lyon.", "Nice.", "Paris."])
    client = AsyncGuardedClient(guard=_guard(OpenAICompatProvider(server.base_url)))
    c = await client.chat.completions.create(model="main-model", messages=MSGS)
    assert c.choices[0].message.content == "I am not sure enough to answer."
    assert c.choices[0].finish_reason == "content_filter"
    assert c.guardrail.status == "abstained" and c.guardrail.answer == "Paris."
    await client.aclose()


def test_wrapping_the_real_openai_client(server: FakeOpenAIServer) -> None:
    openai = pytest.importorskip("openai", reason="the openai package is not installed")
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    server.ignore_n = True  # the adapter must top up missing samples with single calls
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    client = GuardedClient(guard=_guard(OpenAIClientProvider(oa)), domain="general")
    c = client.chat.completions.create(model="main-model", messages=MSGS)
    assert c.guardrail.values["consistency"] == 1.0
    assert len(server.requests) == 1 + 3  # answer, n=3 answered with one choice, 2 top-ups
    assert server.headers_seen[0]["authorization"] == "Bearer sk-test"
    server.api_key = "other"  # the wrapped client's own exception reaches the caller
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="main-model", messages=MSGS)


def test_adapter_rejects_non_clients() -> None:
    with pytest.raises(TypeError, match=r"chat\.completions\.create"):
        OpenAIClientProvider(object())


def test_content_parts_and_malformed_messages(server: FakeOpenAIServer) -> None:
    # OpenAI-client code often sends content as an array of text parts; the drop-in refused it
    # ("not a valid chat message"). Text parts are joined with newlines and sent as a string.
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    client = GuardedClient(guard=_guard(OpenAICompatProvider(server.base_url)), domain="general")
    parts = [{"type": "text", "text": "Capital of France?"}, {"type": "text", "text": "One word."}]
    c = client.chat.completions.create(
        model="main-model", messages=[{"role": "user", "content": parts}]
    )
    assert c.choices[0].message.content == "Paris.\n\nAnswers may be out of date."
    assert server.requests[0]["messages"][-1]["content"] == "Capital of France?\nOne word."
    # Image parts pass through to the upstream unchanged (text signals read the text parts).
    image = [
        {"type": "text", "text": "Capital of France?"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
    ]
    c = client.chat.completions.create(
        model="main-model", messages=[{"role": "user", "content": image}]
    )
    assert c.choices[0].message.content == "Paris.\n\nAnswers may be out of date."
    assert server.requests[-1]["messages"][-1]["content"] == image
    # A part without a type, a bare string and None are ValueErrors (None was a TypeError).
    untyped = [{"image_url": {"url": "https://x/y.png"}}]
    for bad in ([{"role": "user", "content": untyped}], "Capital of France?", None):
        with pytest.raises(ValueError, match="message"):
            client.chat.completions.create(model="main-model", messages=bad)  # type: ignore[arg-type]
