"""The answer call's request when the guard and the caller both set fields
(`guardrail.providers.params.merge_answer_options`, used by `OpenAICompatProvider` and the
drop-in's `OpenAIClientProvider`, streamed or not): the caller's values win, except that the
policy's log-probs stay asked for (`logprobs: false` from the caller does not remove them),
`top_logprobs` is the larger of the two, and `max_completion_tokens` replaces `max_tokens`.
Checked on the wire of the fake server on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer

from guardrail.providers import OpenAICompatProvider
from guardrail.providers.params import merge_answer_options
from guardrail.sdk import OpenAIClientProvider

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")

MSGS = [{"role": "user", "content": "Capital of France?"}]


def test_merge_rules_by_hand() -> None:
    guard = {"max_tokens": 64, "logprobs": True, "top_logprobs": 1, "temperature": None}
    caller = {"logprobs": False, "top_logprobs": 3, "max_completion_tokens": 9, "user": "u"}
    out = merge_answer_options(dict(guard), caller)
    assert out == {
        "logprobs": True,  # the policy's need wins for its call
        "top_logprobs": 3,  # max(3, 1)
        "max_completion_tokens": 9,  # and no max_tokens
        "temperature": None,
        "user": "u",
    }
    # the caller's top_logprobs below the policy's: the policy's
    assert merge_answer_options({"logprobs": True, "top_logprobs": 1}, {"top_logprobs": 0}) == {
        "logprobs": True,
        "top_logprobs": 1,
    }
    # no need of the policy's: the caller's values as given
    assert merge_answer_options({"max_tokens": 5}, {"logprobs": False, "top_p": 0.5}) == {
        "max_tokens": 5,
        "logprobs": False,
        "top_p": 0.5,
    }
    assert merge_answer_options({"a": 1}, None) == {"a": 1}


def _providers(server: FakeOpenAIServer) -> list[Any]:
    return [
        OpenAICompatProvider(server.base_url, model="m"),
        OpenAIClientProvider(openai.OpenAI(base_url=server.base_url, api_key="k"), model="m"),
        OpenAIClientProvider(openai.AsyncOpenAI(base_url=server.base_url, api_key="k"), model="m"),
    ]


async def test_both_providers_keep_the_policys_log_probs(server: FakeOpenAIServer) -> None:
    server.answers = ["Paris."]
    caller = {"logprobs": False, "top_logprobs": 2, "max_completion_tokens": 9}
    for provider in _providers(server):
        r = await provider.chat_with_options(
            MSGS, logprobs=True, top_logprobs=1, max_tokens=64, options=caller
        )
        sent = server.requests[-1]
        assert sent["logprobs"] is True and sent["top_logprobs"] == 2, provider
        assert sent["max_completion_tokens"] == 9 and "max_tokens" not in sent, provider
        assert r.choices[0].logprobs is not None  # the guard got its log-probs


async def test_streamed_answer_call_merges_the_same_way(server: FakeOpenAIServer) -> None:
    server.answers = ["Paris."]
    for provider in _providers(server):
        _ = [
            d
            async for d in provider.stream_chat(
                MSGS, max_tokens=64, options={"max_completion_tokens": 9, "presence_penalty": 1}
            )
        ]
        sent = server.requests[-1]
        assert sent["stream"] is True and sent["presence_penalty"] == 1, provider
        assert sent["max_completion_tokens"] == 9 and "max_tokens" not in sent, provider
