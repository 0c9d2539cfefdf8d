"""`guardrail serve` driven by the official `openai` client (sync, async, stream=True) in front
of the fake upstream (tests/servers/fake_openai.py) on 127.0.0.1.

Expected decisions by hand from tests/serve/conftest.py's `qa` policy: 4 samples; the share of
samples equal to the answer is the consistency (lexical equivalence of identical strings):
4/4 = 1.0 -> otherwise notice; 3/4 = 0.75 -> review; 1/4 = 0.25 -> abstain.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from serve_testlib import UPSTREAM_KEY
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail.review import InMemoryReviewStore

Q = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "Paris is the capital of France."
WRONG = "Lyon is the capital of France."


def client(url: str, key: str = UPSTREAM_KEY, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, **kw)  # type: ignore[arg-type]


def test_non_stream_notice_is_a_valid_chat_completion(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()
    raw = client(url).chat.completions.with_raw_response.create(
        model="gpt-4o@qa",
        messages=Q,  # type: ignore[arg-type]
    )
    doc = json.loads(raw.text)
    c = ChatCompletion.model_validate(doc)
    # 4/4 agree -> otherwise notice, attached after a blank line (Guard.notice_format)
    assert c.choices[0].message.content == f"{ANSWER}\n\nCheck important facts."
    assert c.choices[0].finish_reason == "stop"
    v = doc["guardrail"]
    assert v["action"] == "notice" and v["status"] == "answered" and v["domain"] == "qa"
    assert v["signals"]["consistency"] == 1.0 and v["withheld"] is False
    assert raw.headers["x-guardrail-action"] == "notice"
    assert raw.headers["x-guardrail-domain"] == "qa"
    # the suffix is removed before the upstream sees the model; the client's key passes through
    assert {b["model"] for b in upstream.requests} == {"gpt-4o"}
    assert {h["authorization"] for h in upstream.headers_seen} == {f"Bearer {UPSTREAM_KEY}"}
    # 1 answer call + 1 sampling call (n=4); usage counts every token the guard spent
    assert v["cost"]["calls"] == 2 and len(upstream.requests) == 2
    assert c.usage is not None and c.usage.completion_tokens == v["cost"]["output_tokens"]


def test_abstained_answer_ends_with_content_filter_and_the_policy_message(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    # samples: 1 of 4 equals the answer -> 0.25 < 0.5 -> abstain
    upstream.answers = role_answers(answer=WRONG, samples=[WRONG, ANSWER, ANSWER, ANSWER])
    url = serve()
    raw = client(url).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=Q,  # type: ignore[arg-type]
        extra_headers={"X-Guardrail-Domain": "qa"},
    )
    c = ChatCompletion.model_validate(json.loads(raw.text))
    assert c.choices[0].finish_reason == "content_filter"
    assert c.choices[0].message.content == "I can't answer this reliably."
    assert raw.headers["x-guardrail-action"] == "abstain"
    assert raw.headers["x-guardrail-rules"] == "guessing,not_unanimous"
    assert WRONG not in raw.text


def test_review_holds_the_answer_and_queues_it_without_the_key(
    serve: Callable[..., str], upstream: FakeOpenAIServer, store: InMemoryReviewStore
) -> None:
    # 3 of 4 samples agree -> 0.75: not < 0.5, < 1.0 -> review
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER, ANSWER, ANSWER, WRONG])
    url = serve()
    raw = client(url).chat.completions.with_raw_response.create(
        model="m",
        messages=Q,  # type: ignore[arg-type]
        metadata={"guardrail_domain": "qa"},
    )
    doc = json.loads(raw.text)
    assert doc["choices"][0]["finish_reason"] == "content_filter"
    assert doc["choices"][0]["message"]["content"] == "A person will check this answer."
    rid = raw.headers["x-guardrail-review-id"]
    assert doc["guardrail"]["review_id"] == rid and doc["guardrail"]["status"] == "pending_review"
    item = store.get(rid)
    assert item.raw_answer == ANSWER and item.domain == "qa"
    assert UPSTREAM_KEY not in item.model_dump_json()


def test_unknown_and_missing_domain_are_400_listing_the_domains(
    serve: Callable[..., str],
) -> None:
    url = serve()
    c = client(url)
    with pytest.raises(openai.BadRequestError, match="known domains: chat, qa"):
        c.chat.completions.create(model="gpt-4o@cardiology", messages=Q)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="no default; known domains: chat, qa"):
        c.chat.completions.create(model="gpt-4o", messages=Q)  # type: ignore[arg-type]


def test_default_domain_and_precedence_header_over_suffix(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    # "chat" passes an unhedged answer untouched; "qa" would add a notice
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve(default_domain="chat")
    c = client(url)
    r = c.chat.completions.create(model="gpt-4o", messages=Q)  # type: ignore[arg-type]
    assert r.choices[0].message.content == ANSWER  # default domain chat: pass
    r = c.chat.completions.create(
        model="gpt-4o@qa",
        messages=Q,  # type: ignore[arg-type]
        extra_headers={"X-Guardrail-Domain": "chat"},
    )
    assert r.choices[0].message.content == ANSWER  # the header wins over the suffix


async def test_async_client(serve: Callable[..., str], upstream: FakeOpenAIServer) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=UPSTREAM_KEY, max_retries=0) as ac:
        r = await ac.chat.completions.create(model="x@qa", messages=Q)  # type: ignore[arg-type]
    assert r.choices[0].message.content == f"{ANSWER}\n\nCheck important facts."
    assert r.model_extra is not None and r.model_extra["guardrail"]["action"] == "notice"


def test_stream_passing_answer_arrives_as_chunks(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()
    chunks = list(
        client(url).chat.completions.create(
            model="x@qa",
            messages=Q,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(isinstance(ch, ChatCompletionChunk) for ch in chunks)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == f"{ANSWER}\n\nCheck important facts."
    finals = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    assert finals[0].model_extra is not None
    assert finals[0].model_extra["guardrail"]["action"] == "notice"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    # more than one content piece: the text is streamed, not sent as one blob
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) > 3


@pytest.mark.parametrize(
    ("samples", "action", "shown"),
    [
        ([WRONG, ANSWER, ANSWER, ANSWER], "abstain", "I can't answer this reliably."),
        ([WRONG, WRONG, WRONG, ANSWER], "review", "A person will check this answer."),
    ],
)
def test_stream_hold_never_sends_a_withheld_answer(
    serve: Callable[..., str],
    upstream: FakeOpenAIServer,
    samples: list[str],
    action: str,
    shown: str,
) -> None:
    # answer WRONG; samples agreeing with it: 1/4 -> abstain, 3/4 -> review (held)
    upstream.answers = role_answers(answer=WRONG, samples=samples)
    url = serve()
    body = {"model": "x@qa", "messages": Q, "stream": True}
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["x-guardrail-action"] == action
        raw = b"".join(r.iter_bytes()).decode()
    # no byte of the withheld answer (nor any of its words' run) reaches the client
    assert WRONG not in raw and "Lyon" not in raw
    events = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(e)) for e in events[:-1]]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == shown
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert chunks[-1].model_extra is not None
    assert chunks[-1].model_extra["guardrail"]["withheld"] is True


def test_proxy_token_and_configured_upstream_key(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve(token="proxy-token-1", upstream_api_key=UPSTREAM_KEY)
    with pytest.raises(openai.AuthenticationError, match="proxy token"):
        client(url, key="wrong").chat.completions.create(model="x@qa", messages=Q)  # type: ignore[arg-type]
    assert upstream.requests == []  # refused before any upstream call
    r = client(url, key="proxy-token-1").chat.completions.create(model="x@qa", messages=Q)  # type: ignore[arg-type]
    assert r.choices[0].finish_reason == "stop"
    # the upstream got the configured key, never the proxy token
    assert {h["authorization"] for h in upstream.headers_seen} == {f"Bearer {UPSTREAM_KEY}"}


def test_wrong_upstream_key_is_401_and_no_key_is_logged(
    serve: Callable[..., str], upstream: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()
    caplog.set_level(logging.DEBUG)
    bad = "sk-wrong-key-0815"
    with pytest.raises(openai.AuthenticationError, match="upstream rejected"):
        client(url, key=bad).chat.completions.create(model="x@qa", messages=Q)  # type: ignore[arg-type]
    client(url).chat.completions.create(model="x@qa", messages=Q)  # type: ignore[arg-type]
    metrics = httpx.get(url + "/metrics").text
    assert "guardrail.serve" in {rec.name for rec in caplog.records}  # the request was logged
    for secret in (bad, UPSTREAM_KEY):
        assert secret not in caplog.text and secret not in metrics


def test_upstream_failure_is_502(serve: Callable[..., str], upstream: FakeOpenAIServer) -> None:
    upstream.faults.append(Fault.status(500))  # settings max_retries=0: one attempt
    url = serve()
    with pytest.raises(openai.InternalServerError) as info:
        client(url).chat.completions.create(model="x@qa", messages=Q)  # type: ignore[arg-type]
    assert info.value.status_code == 502


def test_models_health_and_metrics(serve: Callable[..., str], upstream: FakeOpenAIServer) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()
    ids = [m.id for m in client(url).models.list()]
    assert ids == ["fake-model", "fake-model@chat", "fake-model@qa"]
    assert httpx.get(url + "/healthz").json() == {
        "ok": True,
        "domains": ["chat", "qa"],
        "live_domains": ["chat"],  # its policy never withholds: `live` by default
    }
    c = client(url)
    for _ in range(2):
        c.chat.completions.create(model="x@qa", messages=Q)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="x@nope", messages=Q)  # type: ignore[arg-type]
    text = httpx.get(url + "/metrics").text
    # 2 guarded requests, each 2 upstream calls (answer + n=4 samples) -> 4 calls
    assert 'guardrail_serve_requests_total{action="notice",domain="qa",stream="false"} 2.0' in text
    assert 'guardrail_serve_model_calls_total{domain="qa"} 4.0' in text
    assert 'guardrail_serve_errors_total{status="400"} 1.0' in text
    assert 'guardrail_serve_request_seconds_count{domain="qa"} 2.0' in text


# ---------------------------------------------------------------------------------- live mode


def _live_events(url: str) -> tuple[httpx.Headers, list[str]]:
    body = {"model": "x@qa", "messages": Q, "stream": True}
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        raw = b"".join(r.iter_bytes()).decode()
    return r.headers, [line[6:] for line in raw.splitlines() if line.startswith("data: ")]


def test_live_stream_relays_tokens_then_appends_the_notice(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve(live_domains=("qa",))
    chunks = list(
        client(url).chat.completions.create(model="x@qa", messages=Q, stream=True)  # type: ignore[arg-type]
    )
    pieces = [ch.choices[0].delta.content or "" for ch in chunks if ch.choices]
    # the upstream's tokens one by one ("Paris", " is", ...), then the notice: 4/4 -> notice
    assert pieces[1:7] == ["Paris", " is", " the", " capital", " of", " France."]
    assert "".join(pieces) == f"{ANSWER}\n\nCheck important facts."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra is not None
    assert chunks[-1].model_extra["guardrail"]["retracted"] is False
    # the proxy streamed the answer from the upstream (stream=True) and sampled (n=4; started
    # with the stream, so the two may arrive in either order)
    kinds = sorted((bool(b.get("stream")), b.get("n") or 1, b["model"]) for b in upstream.requests)
    assert kinds == [(False, 4, "x"), (True, 1, "x")]


@pytest.mark.parametrize("mode", ["live", "hold"])
def test_stream_usage_equals_the_non_stream_usage(
    serve: Callable[..., str], upstream: FakeOpenAIServer, mode: str
) -> None:
    # docs/serve.md: `usage` counts every token the guard spent upstream (answer, samples) --
    # the same for the same scripted upstream whether the client streams or not
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve(live_domains=("qa",))
    plain = client(url).chat.completions.create(model="x@qa", messages=Q)  # type: ignore[arg-type]
    headers = {"X-Guardrail-Stream": "hold"} if mode == "hold" else None
    chunks = list(
        client(url).chat.completions.create(
            model="x@qa",
            messages=Q,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        )
    )
    # by hand (the fake upstream counts words): answer "What is the capital of France?" = 6 in,
    # "Paris is the capital of France." = 6 out; the n=4 sampling call 6 in, 4 x 6 = 24 out
    # -> 12 in, 30 out, 42 in all
    assert plain.usage is not None and chunks[-1].usage is not None
    want = (12, 30, 42)
    got = plain.usage
    assert (got.prompt_tokens, got.completion_tokens, got.total_tokens) == want
    u = chunks[-1].usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == want
    final = chunks[-2]
    assert final.model_extra is not None
    v = final.model_extra["guardrail"]
    assert (v["cost"]["calls"], v["cost"]["input_tokens"], v["cost"]["output_tokens"]) == (
        2,
        12,
        30,
    )


def test_live_stream_retracts_an_abstained_answer(
    serve: Callable[..., str], upstream: FakeOpenAIServer, store: InMemoryReviewStore
) -> None:
    # streamed answer WRONG; 1 of 4 samples agrees -> 0.25 < 0.5 -> abstain -> retraction
    upstream.answers = role_answers(answer=WRONG, samples=[WRONG, ANSWER, ANSWER, ANSWER])
    url = serve(live_domains=("qa",))
    headers, events = _live_events(url)
    assert headers["x-guardrail-stream"] == "live"
    assert events[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(e)) for e in events[:-1]]
    # live: the answer did reach the client, token by token ...
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == WRONG
    # ... and the final chunk retracts it with the policy's message
    last = chunks[-1]
    assert last.choices[0].finish_reason == "content_filter"
    assert last.model_extra is not None
    v = last.model_extra["guardrail"]
    assert v["retracted"] is True and v["action"] == "abstain"
    assert v["replacement"] == "I can't answer this reliably."


def test_live_stream_review_is_queued_and_retracted(
    serve: Callable[..., str], upstream: FakeOpenAIServer, store: InMemoryReviewStore
) -> None:
    # 3 of 4 samples agree -> 0.75 -> review: queued, retracted, replacement = review message
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER, ANSWER, ANSWER, WRONG])
    url = serve(live_domains=("qa",))
    _, events = _live_events(url)
    v = json.loads(events[-2])["guardrail"]
    assert v["retracted"] is True and v["replacement"] == "A person will check this answer."
    item = store.get(v["review_id"])
    assert item.raw_answer == ANSWER and UPSTREAM_KEY not in item.model_dump_json()


def test_hold_domain_next_to_a_live_one_still_holds(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=WRONG, samples=[WRONG, ANSWER, ANSWER, ANSWER])
    url = serve(live_domains=("chat",))
    headers, events = _live_events(url)  # domain qa: not live
    assert headers["x-guardrail-stream"] == "hold" and headers["x-guardrail-action"] == "abstain"
    assert not any("Lyon" in e for e in events)


def test_bad_requests_are_400_or_413_and_reach_no_upstream(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    url = serve(max_request_bytes=2048)
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}", "Content-Type": "application/json"}
    post = url + "/v1/chat/completions"
    r = httpx.post(post, content=b"{not json", headers=headers)
    assert r.status_code == 400 and r.json()["error"]["message"] == "the request body is not JSON"
    big = {"model": "x@qa", "messages": [{"role": "user", "content": "a" * 4096}]}
    r = httpx.post(post, json=big, headers=headers)
    assert r.status_code == 413 and "larger than 2048 bytes" in r.json()["error"]["message"]
    r = httpx.post(post, json={"model": "x@qa", "messages": Q, "n": 3}, headers=headers)
    assert r.status_code == 400 and "n=1" in r.json()["error"]["message"]
    r = httpx.post(post, json={"model": "x@qa", "messages": "hi"}, headers=headers)
    assert r.status_code == 400 and "messages must be a list" in r.json()["error"]["message"]
    assert upstream.requests == []


def test_live_stream_upstream_failure_is_502_before_any_chunk(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    # two faults: the stream request and the eager sampling request (either order) both fail
    upstream.faults.extend([Fault.status(500), Fault.status(500)])
    url = serve(live_domains=("qa",))
    body = {"model": "x@qa", "messages": Q, "stream": True}
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
    r = httpx.post(url + "/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 502 and r.json()["error"]["message"] == "upstream answered 500"
