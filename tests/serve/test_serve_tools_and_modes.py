"""`guardrail serve` (issue 14): the policy's `stream` setting picks the mode, answer-only fields
reach the answer call only, tool-call turns and image parts pass through, a tool-call reply is
not judged. Fake upstream (tests/servers/fake_openai.py) on 127.0.0.1; the official `openai`
client reads the replies.

Expected decisions by hand from serve_testlib's policies: `qa` (4 samples; 4/4 -> notice,
3/4 -> review, <= 1/4 -> abstain; it can withhold, so it streams `hold` by default) and `chat`
(hedges only, notice or pass: nothing to retract, so `live` by default).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from sampling_cases import BAD, EDGES
from serve_testlib import UPSTREAM_KEY
from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail.review import InMemoryReviewStore
from guardrail.serve import ServeSettings, create_app

Q = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "Paris is the capital of France."
WRONG = "Lyon is the capital of France."
AUTH = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a fact up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
CALL = {"name": "lookup", "arguments": '{"q": "capital of France"}'}


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=UPSTREAM_KEY, max_retries=0)


def _sse(url: str, body: dict[str, object], **headers: str) -> tuple[httpx.Headers, list[str]]:
    with httpx.stream(
        "POST", url + "/v1/chat/completions", json=body, headers={**AUTH, **headers}
    ) as r:
        assert r.status_code == 200, r.read()
        raw = b"".join(r.iter_bytes()).decode()
    return r.headers, [line[6:] for line in raw.splitlines() if line.startswith("data: ")]


def _answer_calls(upstream: FakeOpenAIServer) -> list[dict[str, object]]:
    """The requests that were not sampling calls (samples: temperature 0.9 from the policy)."""
    return [b for b in upstream.requests if b.get("temperature") != 0.9]


# ------------------------------------------------------------------ stream mode from the policy


def test_policy_modes_without_any_live_flag(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()  # no live_domains: every mode comes from the policies
    health = httpx.get(url + "/healthz").json()
    assert health["live_domains"] == ["chat"]
    h, _ = _sse(url, {"model": "x@qa", "messages": Q, "stream": True})
    assert h["x-guardrail-stream"] == "hold"
    h, events = _sse(url, {"model": "x@chat", "messages": Q, "stream": True})
    assert h["x-guardrail-stream"] == "live"
    chunks = [ChatCompletionChunk.model_validate(json.loads(e)) for e in events[:-1]]
    # live: the upstream's word tokens one per chunk (after the role chunk); hedges 0 -> pass
    pieces = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert pieces == ["Paris", " is", " the", " capital", " of", " France."]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_client_can_ask_a_live_domain_to_hold_but_never_the_reverse(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=WRONG, samples=[WRONG, ANSWER, ANSWER, ANSWER])
    url = serve()
    h, _ = _sse(
        url, {"model": "x@chat", "messages": Q, "stream": True}, **{"X-Guardrail-Stream": "hold"}
    )
    assert h["x-guardrail-stream"] == "hold"
    # asking a hold domain for live is ignored: qa still holds, the abstained answer never shows
    h, events = _sse(
        url, {"model": "x@qa", "messages": Q, "stream": True}, **{"X-Guardrail-Stream": "live"}
    )
    assert h["x-guardrail-stream"] == "hold" and h["x-guardrail-action"] == "abstain"
    assert not any("Lyon" in e for e in events)


# ------------------------------------------------------------------ forwarded request fields


def test_answer_only_fields_reach_the_answer_call_only(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()
    fields = {
        "temperature": 0.2,
        "top_p": 0.5,
        "stop": ["\n\n"],
        "response_format": {"type": "text"},
        "seed": 11,
        "max_tokens": 64,
    }
    r = client(url).chat.completions.create(model="x@qa", messages=Q, **fields)  # type: ignore[call-overload]
    assert r.choices[0].message.content == f"{ANSWER}\n\nCheck important facts."
    (answer,) = _answer_calls(upstream)
    for k, v in fields.items():
        assert answer[k] == v, k
    (sample,) = [b for b in upstream.requests if b.get("n") == 4]
    # samples: the policy's temperature, the cap of every call, seed + 1; no answer-only field
    assert sample["temperature"] == 0.9 and sample["max_tokens"] == 64 and sample["seed"] == 12
    assert not {"top_p", "stop", "response_format", "tools"} & set(sample)


def test_bad_forwarded_field_is_400(serve: Callable[..., str], upstream: FakeOpenAIServer) -> None:
    url = serve()
    body = {"model": "x@qa", "messages": Q, "temperature": "hot"}
    r = httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 400 and "'temperature' must be a number" in r.json()["error"]["message"]
    assert upstream.requests == []


def test_mistyped_sampling_fields_are_400_naming_the_field(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    # the same cases the drop-in client refuses (tests/sampling_cases.py), one proxy for all
    url = serve()
    for name, value, message in BAD:
        for stream in (False, True):
            body = {"model": "x@qa", "messages": Q, name: value, "stream": stream}
            r = httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH)
            assert r.status_code == 400, (name, value, stream)
            error = r.json()["error"]
            assert message in error["message"], (name, value)
            assert error["param"] == name and error["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_sampling_fields_at_the_edges_reach_the_answer_call_unchanged(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()
    body = {"model": "x@qa", "messages": Q, "n": 1, **EDGES}
    r = httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    (answer,) = _answer_calls(upstream)
    # serve forwards these to the answer call (FORWARDED_FIELDS, max_tokens, seed), as given
    forwarded = ("max_tokens", "temperature", "top_p", "seed", "stop")
    assert {k: answer[k] for k in forwarded} == {k: EDGES[k] for k in forwarded}
    assert type(answer["temperature"]) is int


@pytest.mark.parametrize("value", ["false", 1, {"on": True}])
def test_non_boolean_stream_is_400_not_a_stream(
    serve: Callable[..., str], upstream: FakeOpenAIServer, value: object
) -> None:
    # OpenAI's API takes a boolean `stream`; "false" (truthy in Python) must not start a stream
    url = serve()
    body = {"model": "x@chat", "messages": Q, "stream": value}
    r = httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 400 and "'stream' must be a boolean" in r.json()["error"]["message"]
    assert upstream.requests == []


# ------------------------------------------------------------------ tools and images


def test_tool_call_reply_passes_through_unguarded(
    serve: Callable[..., str], upstream: FakeOpenAIServer, store: InMemoryReviewStore
) -> None:
    upstream.tool_call = CALL
    url = serve()
    r = client(url).chat.completions.create(model="x@qa", messages=Q, tools=TOOLS)  # type: ignore[arg-type]
    assert isinstance(r, ChatCompletion)
    call = r.choices[0].message.tool_calls
    assert call is not None and call[0].function.name == "lookup"  # type: ignore[union-attr]
    assert call[0].function.arguments == CALL["arguments"]  # type: ignore[union-attr]
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.model_extra is not None and r.model_extra["guardrail"]["status"] == "unguarded"
    assert store.count() == 0  # not judged, nothing queued
    assert _answer_calls(upstream)[0]["tools"] == TOOLS


@pytest.mark.parametrize("domain", ["qa", "chat"])  # hold, live
@pytest.mark.parametrize("ignore_stream", [False, True])  # True: the upstream answers with JSON
def test_streamed_tool_call_reply_passes_through(
    serve: Callable[..., str], upstream: FakeOpenAIServer, domain: str, ignore_stream: bool
) -> None:
    upstream.ignore_stream = ignore_stream
    upstream.tool_call = CALL
    url = serve()
    chunks = list(
        client(url).chat.completions.create(
            model=f"x@{domain}",
            messages=Q,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [(tc.index, tc.function.name, tc.function.arguments) for tc in calls] == [  # type: ignore[union-attr]
        (0, "lookup", CALL["arguments"])
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].model_extra is not None
    assert chunks[-1].model_extra["guardrail"]["status"] == "unguarded"
    assert not any(c.choices[0].delta.content for c in chunks if c.choices)


def test_tool_turns_and_images_are_accepted_and_reach_the_upstream_intact(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve()
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Which city is this?"}, image]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": CALL}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Paris, capital of France."},
        {"role": "user", "content": "So what is the capital of France?"},
    ]
    r = client(url).chat.completions.create(model="x@qa", messages=messages)  # type: ignore[arg-type]
    # 4/4 samples agree -> otherwise notice
    assert r.choices[0].message.content == f"{ANSWER}\n\nCheck important facts."
    for body in upstream.requests:  # the answer call and the samples see the conversation
        assert body["messages"] == messages


# ------------------------------------------------------------------ default policies


def test_settings_default_to_the_cli_policy_resolution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUARDRAIL_POLICIES", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./policies: the bundled policies
    app = create_app(ServeSettings(), store=InMemoryReviewStore())
    assert sorted(app.state.runtime.policies) == ["finance", "general", "legal", "medical"]
    assert app.state.runtime.live_domains == ["general"]  # `stream live` in general.guard
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "only.guard").write_text("policy only {\n  otherwise pass\n}\n")
    app = create_app(ServeSettings(), store=InMemoryReviewStore())
    assert sorted(app.state.runtime.policies) == ["only"]  # ./policies first
