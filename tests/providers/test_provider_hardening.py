"""Hostile replies at the provider layer (issue 12, findings 1, 2 and 6): every one becomes a
documented :class:`ProviderError`, never a RecursionError / UnicodeEncodeError / an attempt that
outlives its deadline, and no secret reaches an error message."""

from __future__ import annotations

import json
import time

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault

from guardrail.providers import (
    AuthenticationError,
    OpenAICompatProvider,
    ProviderTimeoutError,
    ResponseFormatError,
    ServerError,
)
from guardrail.providers.openai_compat import ResponseTooLargeError, reply_budget

MSGS = [{"role": "user", "content": "Capital of France?"}]


def _doc(content: str) -> bytes:
    """A completion document whose answer is ``content``, JSON-escaped with ensure_ascii=True
    (so a lone surrogate travels as the 6-byte escape \\ud800, as a server may send it)."""
    doc = {"choices": [{"message": {"role": "assistant", "content": content}}]}
    return json.dumps(doc).encode()


async def test_deeply_nested_reply_is_a_format_error(server: FakeOpenAIServer) -> None:
    # 100,000 nested lists: json.loads raises RecursionError, which used to escape
    depth = 100_000
    server.faults.append(Fault.body(b"[" * depth + b"]" * depth))
    p = OpenAICompatProvider(server.base_url, model="m", max_retries=0, max_response_bytes=10**6)
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        await p.chat(MSGS)
    await p.aclose()


async def test_lone_surrogate_and_nul_in_a_reply_become_replacement_characters(
    server: FakeOpenAIServer,
) -> None:
    server.faults.append(Fault.body(_doc("Paris \ud800 is\x00 the capital")))
    p = OpenAICompatProvider(server.base_url, model="m", max_retries=0)
    r = await p.chat(MSGS)
    assert r.text == "Paris \ufffd is\ufffd the capital"
    r.text.encode("utf-8")  # raised UnicodeEncodeError before
    # and the reply can go into the next request body (the verbalized follow-up quotes it)
    r2 = await p.chat([*MSGS, {"role": "assistant", "content": "a \ud800 b"}])
    assert r2.text == "Paris."
    assert server.requests[-1]["messages"][1]["content"] == "a \ufffd b"
    await p.aclose()


def test_reply_budget_is_derived_from_max_tokens() -> None:
    # 64 KiB fixed + n * max_tokens * 64 bytes per token
    assert reply_budget(512) == 65_536 + 512 * 64 == 98_304
    assert reply_budget(100, n=3) == 65_536 + 3 * 100 * 64 == 84_736
    # log-probs with 1 alternative: per token 64 + 128 * (1 + 1) = 320
    assert reply_budget(100, logprobs=True, top_logprobs=1) == 65_536 + 100 * 320
    assert reply_budget(None) == 8 * 1024 * 1024


async def test_a_10_mb_reply_is_refused_without_retry(server: FakeOpenAIServer) -> None:
    big = _doc("x" * 10_000_000)
    server.faults.append(Fault.body(big))
    p = OpenAICompatProvider(server.base_url, model="m", max_retries=2, retry_initial_wait=0.01)
    with pytest.raises(ResponseTooLargeError, match="98304-byte limit") as info:
        await p.chat(MSGS, max_tokens=512)
    assert info.value.calls == 1  # not retried: the same request would be as large again
    # a reply within the budget passes: 90,000 characters < 98,304 bytes
    server.faults.append(Fault.body(_doc("y" * 90_000)))
    assert len((await p.chat(MSGS, max_tokens=512)).text) == 90_000
    await p.aclose()


async def test_size_cap_holds_without_content_length(server: FakeOpenAIServer) -> None:
    # no Content-Length to refuse up front: the cap is checked while the body streams in
    server.faults.append(Fault.body(_doc("z" * 5000), length_header=False))
    p = OpenAICompatProvider(server.base_url, model="m", max_retries=0, max_response_bytes=1000)
    with pytest.raises(ResponseTooLargeError, match="1000-byte limit"):
        await p.chat(MSGS)
    await p.aclose()


async def test_a_trickling_server_cannot_stretch_an_attempt(server: FakeOpenAIServer) -> None:
    # the ~200-byte document sent one byte every 0.2 s would take ~40 s; every single read is
    # far inside the 1 s read timeout, so only a total per-attempt deadline stops it
    server.faults.append(Fault.trickle(0.2))
    p = OpenAICompatProvider(server.base_url, model="m", timeout=1.0, max_retries=0)
    t0 = time.monotonic()
    with pytest.raises(ProviderTimeoutError, match="attempt limit 1 s"):
        await p.chat(MSGS)
    assert time.monotonic() - t0 < 1.0 + 1.0  # deadline + 1 s slack (was ~40 s)
    await p.aclose()


async def test_query_string_in_base_url_survives(server: FakeOpenAIServer) -> None:
    p = OpenAICompatProvider(server.base_url + "?api-version=2024-06-01", model="m")
    assert (await p.chat(MSGS)).text == "Paris."
    assert server.paths[-1] == "/v1/chat/completions?api-version=2024-06-01"
    await p.aclose()


async def test_secrets_in_base_url_never_reach_error_messages(server: FakeOpenAIServer) -> None:
    url = server.base_url.replace("http://", "http://alice:pw-Secret-1@") + "?api_key=sk-inurl-2"
    server.faults.append(Fault.status(500))
    p = OpenAICompatProvider(url, model="m", max_retries=0)
    with pytest.raises(ServerError) as info:
        await p.chat(MSGS)
    msg = str(info.value)
    assert "pw-Secret-1" not in msg and "sk-inurl-2" not in msg
    assert "alice:***@127.0.0.1" in msg and "api_key=***" not in msg  # query left off errors
    # the credentials were still sent: basic auth from the userinfo, the query kept
    assert server.headers_seen[-1]["authorization"].startswith("Basic ")
    assert server.paths[-1].endswith("/chat/completions?api_key=sk-inurl-2")
    await p.aclose()


async def test_a_401_echoing_the_key_is_redacted(server: FakeOpenAIServer) -> None:
    echo = json.dumps({"error": {"message": "Incorrect API key provided: sk-live-abcdef123"}})
    server.faults.append(Fault.body(echo.encode(), status=401))
    p = OpenAICompatProvider(server.base_url, api_key="sk-live-abcdef123", model="m")
    with pytest.raises(AuthenticationError) as info:
        await p.chat(MSGS)
    assert "sk-live-abcdef123" not in str(info.value)
    assert str(info.value).endswith("Incorrect API key provided: ***")
    await p.aclose()
