"""OpenAICompatProvider against a real HTTP server on 127.0.0.1 (tests/servers/fake_openai.py)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault

from guardrail.providers import (
    AuthenticationError,
    BadRequestError,
    OpenAICompatProvider,
    ProviderConnectionError,
    ResponseFormatError,
    ServerError,
    parse_retry_after,
)

MSG = [{"role": "user", "content": "What is the capital of France?"}]


def make(server: FakeOpenAIServer, **kw: object) -> OpenAICompatProvider:
    kw.setdefault("retry_initial_wait", 0.01)
    kw.setdefault("retry_max_wait", 2.0)
    return OpenAICompatProvider(server.base_url, model="fake-model", **kw)  # type: ignore[arg-type]


async def test_basic_answer_usage_and_api_key_from_env(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.api_key = "sk-test"
    p = make(server, headers={"X-Trace": "abc"})
    r = await p.chat(MSG, max_tokens=16)
    assert r.text == "Paris."
    assert [c.finish_reason for c in r.choices] == ["stop"]
    # prompt "What is the capital of France?" is 6 whitespace tokens; "Paris." is 1.
    assert (r.usage.input_tokens, r.usage.output_tokens) == (6, 1)
    assert r.calls == 1 and r.failed == 0 and r.requested == 1
    assert server.requests[0]["max_tokens"] == 16
    assert server.headers_seen[0]["x-trace"] == "abc"
    await p.aclose()


async def test_401_is_an_authentication_error_and_not_retried(server: FakeOpenAIServer) -> None:
    server.api_key = "right-key"
    p = make(server, api_key="wrong-key")
    with pytest.raises(AuthenticationError) as info:
        await p.chat(MSG)
    assert info.value.status_code == 401
    assert "Incorrect API key" in str(info.value)
    assert len(server.requests) == 1


async def test_other_4xx_never_retried(server: FakeOpenAIServer) -> None:
    server.faults.append(Fault.status(404))
    p = make(server)
    with pytest.raises(BadRequestError):
        await p.chat(MSG)
    assert len(server.requests) == 1


async def test_500s_are_retried_then_succeed(server: FakeOpenAIServer) -> None:
    server.faults.extend([Fault.status(500), Fault.status(503)])
    r = await make(server).chat(MSG)
    assert r.text == "Paris."
    assert r.calls == 3
    assert len(server.requests) == 3


async def test_retries_stop_after_max_retries(server: FakeOpenAIServer) -> None:
    server.faults.extend([Fault.status(500)] * 5)
    with pytest.raises(ServerError) as info:
        await make(server, max_retries=2).chat(MSG)
    assert info.value.status_code == 500
    assert len(server.requests) == 3  # 1 attempt + 2 retries, then it gives up
    assert len(server.faults) == 2


async def test_429_honours_retry_after(server: FakeOpenAIServer) -> None:
    server.faults.append(Fault.status(429, retry_after=1))
    r = await make(server).chat(MSG)
    assert r.calls == 2
    # Exponential back-off would wait ~0.01 s; the second request must come >= Retry-After later.
    gap = server.request_times[1] - server.request_times[0]
    assert gap >= 0.95


async def test_timeout_is_retried(server: FakeOpenAIServer) -> None:
    server.faults.append(Fault.hang(4.0))
    r = await make(server, timeout=1.0).chat(MSG)
    assert r.text == "Paris." and r.calls == 2


async def test_truncated_json_is_retried_then_reported(server: FakeOpenAIServer) -> None:
    server.faults.append(Fault.truncated())
    r = await make(server).chat(MSG)
    assert r.calls == 2
    server.faults.extend([Fault.truncated(), Fault.truncated()])
    with pytest.raises(ResponseFormatError):
        await make(server, max_retries=1).chat(MSG)


async def test_connection_reset_is_retried(server: FakeOpenAIServer) -> None:
    server.faults.append(Fault.reset())
    r = await make(server).chat(MSG)
    assert r.text == "Paris." and r.calls == 2
    server.faults.extend([Fault.reset(), Fault.reset()])
    with pytest.raises(ProviderConnectionError):
        await make(server, max_retries=1).chat(MSG)


async def test_n_is_sent_when_supported(server: FakeOpenAIServer) -> None:
    server.answers = ["A", "B", "C"]
    r = await make(server).chat(MSG, n=3, temperature=0.9)
    assert [c.text for c in r.choices] == ["A", "B", "C"]
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len(server.requests) == 1 and server.requests[0]["n"] == 3
    assert server.requests[0]["temperature"] == 0.9


async def test_ignored_n_falls_back_to_concurrent_single_calls(server: FakeOpenAIServer) -> None:
    server.ignore_n = True
    server.latency = 0.2
    server.answers = ["A", "B", "C", "D", "E", "F", "G"]
    p = make(server)
    r = await p.chat(MSG, n=4, seed=10)
    # "A" answers the n=4 request (the server ignores n); B, C, D answer the three concurrent
    # single calls in whatever order they reach the server
    texts = [c.text for c in r.choices]
    assert texts[0] == "A" and sorted(texts[1:]) == ["B", "C", "D"]
    assert len(server.requests) == 4
    # the three missing samples were asked at the same time, each with its own seed
    assert server.max_active == 3
    assert sorted(req["seed"] for req in server.requests[1:]) == [11, 12, 13]
    # remembered: the next k-sample call does not send `n` at all
    r2 = await p.chat(MSG, n=3)
    assert len(r2.choices) == 3
    assert all("n" not in req for req in server.requests[4:])
    assert len(server.requests) == 7


async def test_rejected_n_falls_back(server: FakeOpenAIServer) -> None:
    server.reject_n = True
    server.answers = ["A", "B"]
    r = await make(server).chat(MSG, n=2)
    assert sorted(c.text for c in r.choices) == ["A", "B"]
    assert [("n" in q) for q in server.requests] == [True, False, False]


async def test_one_failed_sample_out_of_k_is_reported_not_raised(server: FakeOpenAIServer) -> None:
    server.answers = ["A"]
    server.faults.append(Fault.status(500))
    r = await make(server, supports_n=False, max_retries=0).chat(MSG, n=3)
    assert len(r.choices) == 2 and r.failed == 1 and r.requested == 3
    assert r.errors[0].startswith("ServerError")


async def test_all_samples_failing_raises(server: FakeOpenAIServer) -> None:
    server.faults.extend([Fault.status(500)] * 3)
    with pytest.raises(ServerError):
        await make(server, supports_n=False, max_retries=0).chat(MSG, n=3)


async def test_max_concurrency_limits_requests_in_flight(server: FakeOpenAIServer) -> None:
    server.latency = 0.1
    p = make(server, max_concurrency=2)
    results = await asyncio.gather(*(p.chat(MSG) for _ in range(6)))
    assert len(results) == 6
    assert server.max_active == 2


async def test_logprobs_are_parsed(server: FakeOpenAIServer) -> None:
    server.answers = ["Paris is the capital."]
    server.token_logprob = -0.25
    r = await make(server).chat(MSG, logprobs=True, top_logprobs=2)
    lps = r.choices[0].logprobs
    assert lps is not None
    assert [t.token for t in lps] == ["Paris", " is", " the", " capital."]
    assert all(t.logprob == -0.25 for t in lps)
    assert [a.token for a in lps[0].top_logprobs] == ["Paris", "<alt>"]
    assert server.requests[0]["logprobs"] is True and server.requests[0]["top_logprobs"] == 2
    r2 = await make(server).chat(MSG)
    assert r2.choices[0].logprobs is None


async def test_sync_facade_inside_a_running_loop(server: FakeOpenAIServer) -> None:
    p = make(server)
    # Called directly on the event loop's thread: must not raise "loop already running".
    assert p.chat_sync(MSG).text == "Paris."
    # Called from the loop's default thread pool (what FastAPI does for sync endpoints).
    r = await asyncio.to_thread(p.chat_sync, MSG)
    assert r.text == "Paris."
    # And the async path still works on this loop with the same provider object.
    assert (await p.chat(MSG)).text == "Paris."


def test_sync_facade_from_plain_threads(server: FakeOpenAIServer) -> None:
    p = make(server)
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(p.chat_sync(MSG).text)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["Paris."] * 4


def test_invalid_arguments_are_clear_errors(server: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAICompatProvider("127.0.0.1:8000")
    p = OpenAICompatProvider(server.base_url)
    with pytest.raises(ValueError, match="no model"):
        p.chat_sync(MSG)
    with pytest.raises(ValueError, match="n must be"):
        p.chat_sync(MSG, model="m", n=0)
    with pytest.raises(ValueError, match="message 0"):
        p.chat_sync([{"role": "wizard", "content": "hi"}], model="m")
    assert server.requests == []


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-2") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    # RFC 9110's example date, 60 s after `now`
    assert parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now=now) == 60.0


async def test_error_reports_attempts(server: FakeOpenAIServer) -> None:
    server.faults.extend([Fault.status(503)] * 3)
    with pytest.raises(ServerError) as info:
        await make(server, max_retries=2).chat(MSG)
    assert info.value.calls == 3


def _bad_usage(doc: dict[str, object]) -> dict[str, object]:
    doc["usage"] = {"prompt_tokens": "abc", "completion_tokens": {"n": 1}}
    return doc


def _bad_logprobs(doc: dict[str, object]) -> dict[str, object]:
    choice = doc["choices"][0]  # type: ignore[index]
    choice["logprobs"] = {
        "content": [
            {"token": "Par", "logprob": "abc", "top_logprobs": []},  # not a number: left out
            {"token": "is", "logprob": -0.5, "top_logprobs": 5},  # alternatives not a list
            {"token": ".", "logprob": None},  # no log-prob: left out
            {"token": "!", "logprob": True, "top_logprobs": [{"token": "x", "logprob": "?"}]},
            {"token": "?", "logprob": -1.0, "top_logprobs": [{"token": "y", "logprob": -2.0}]},
        ]
    }
    return doc


def _content_parts(doc: dict[str, object]) -> dict[str, object]:
    choice = doc["choices"][0]  # type: ignore[index]
    choice["message"]["content"] = [
        {"type": "text", "text": "Paris"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": " is the capital."},
    ]
    return doc


async def test_malformed_fields_in_a_valid_reply_degrade_instead_of_raising(
    server: FakeOpenAIServer,
) -> None:
    """A server that sends a usage block or log-probs of the wrong type must not make the
    provider raise a bare ValueError/TypeError (the SDK's contract: a malformed reply degrades)."""
    p = make(server)
    server.faults.append(Fault.edit(_bad_usage))
    r = await p.chat(MSG)
    assert r.text == "Paris." and r.failed == 0
    assert (r.usage.input_tokens, r.usage.output_tokens) == (0, 0)  # unreadable counts: 0

    server.faults.append(Fault.edit(_bad_logprobs))
    r = await p.chat(MSG, logprobs=True, top_logprobs=2)
    lps = r.choices[0].logprobs
    assert lps is not None
    # Only the two entries with a finite numeric log-prob survive; "top_logprobs": 5 -> [].
    assert [(t.token, t.logprob) for t in lps] == [("is", -0.5), ("?", -1.0)]
    assert lps[0].top_logprobs == []
    assert [(a.token, a.logprob) for a in lps[1].top_logprobs] == [("y", -2.0)]

    # OpenAI's array form of message content: the text parts joined, other parts ignored.
    server.faults.append(Fault.edit(_content_parts))
    r = await p.chat(MSG)
    assert r.text == "Paris is the capital."
    await p.aclose()
