"""`guardrail serve` in front of an upstream that ignores `"stream": true` and answers with a
plain `application/json` chat.completion (many OpenAI-compatible servers do): the reply is read
as one complete delta and the guarded stream goes on as if it had streamed in one chunk. Fake
upstream (tests/servers/fake_openai.py, `ignore_stream`) on 127.0.0.1, the official `openai`
client and raw SSE reading the proxy.

Expected decisions by hand from serve_testlib's `qa` policy (4 samples at temperature 0.9):
4/4 samples equal to the answer -> consistency 1.0 -> otherwise notice "Check important facts.";
1/4 -> 0.25 < 0.5 -> abstain "I can't answer this reliably.".
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import openai
from openai.types.chat import ChatCompletionChunk
from serve_testlib import UPSTREAM_KEY
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

Q = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "Paris is the capital of France."
WRONG = "Lyon is the capital of France."
AUTH = {"Authorization": f"Bearer {UPSTREAM_KEY}"}


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=UPSTREAM_KEY, max_retries=0)


def test_live_stream_from_a_json_upstream_is_one_delta_then_the_notice(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.ignore_stream = True
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = serve(live_domains=("qa",))
    chunks = list(
        _client(url).chat.completions.create(model="x@qa", messages=Q, stream=True)  # type: ignore[arg-type]
    )
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    # role chunk, the whole answer as one delta, the notice, the final chunk (empty content)
    assert pieces == ["", ANSWER, "\n\nCheck important facts.", ""]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra is not None
    v = chunks[-1].model_extra["guardrail"]
    assert v["status"] == "answered" and v["action"] == "notice" and v["retracted"] is False
    # the proxy did ask for a stream; the upstream answered with JSON anyway
    answer_calls = [b for b in upstream.requests if b.get("temperature") != 0.9]
    assert [b.get("stream") for b in answer_calls] == [True]


def test_live_stream_from_a_json_upstream_still_retracts(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.ignore_stream = True
    # 1 of 4 samples agrees with the answer -> 0.25 < 0.5 -> abstain -> retraction
    upstream.answers = role_answers(answer=WRONG, samples=[WRONG, ANSWER, ANSWER, ANSWER])
    url = serve(live_domains=("qa",))
    body = {"model": "x@qa", "messages": Q, "stream": True}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=AUTH) as r:
        assert r.status_code == 200 and r.headers["x-guardrail-stream"] == "live"
        raw = b"".join(r.iter_bytes()).decode()
    events = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(e)) for e in events[:-1]]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == WRONG
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert chunks[-1].model_extra is not None
    v = chunks[-1].model_extra["guardrail"]
    assert v["retracted"] is True and v["replacement"] == "I can't answer this reliably."


# a tool-call JSON reply to a stream: test_serve_tools_and_modes.py (ignore_stream=True)


def test_json_error_body_from_the_upstream_stays_an_error(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.ignore_stream = True
    url = serve(live_domains=("qa",))
    body = {"model": "x@qa", "messages": Q, "stream": True}
    # an error status with a JSON error body: 502, as for a streaming upstream
    upstream.faults.extend([Fault.status(500), Fault.status(500)])
    r = httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 502 and r.json()["error"]["message"] == "upstream answered 500"
    # HTTP 200 whose JSON body is an error document, for the answer and the samples call
    err = Fault.edit(lambda _: {"error": {"message": "model overloaded", "type": "server"}})
    upstream.faults.extend([err, err])
    r = httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"
    assert r.json()["error"]["message"] == "upstream failed (ProviderError)"
