"""`guardrail serve` when the upstream refuses the caller's request with a 4xx: the caller gets
that status with an OpenAI-shaped error (the upstream's own when it sent one), in a plain reply
and in a stream before its first byte; 429 keeps ``Retry-After``; 5xx stays 502; a signal call
refused after the answer succeeded only makes that signal missing. The fake upstream
(tests/servers/fake_openai.py) runs on 127.0.0.1 and refuses by what a request carries
(``refuse``), so the answer call and the concurrent eager samples can be told apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from serve_testlib import UPSTREAM_KEY
from servers.fake_openai import FakeOpenAIServer, Fault, openai_error, role_answers

Q = [{"role": "user", "content": "Is ibuprofen an NSAID?"}]
ANSWER = "Yes, ibuprofen is an NSAID."
AUTH = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
# the message OpenAI sends for a field a model does not accept (its wording; the test only needs
# an OpenAI-shaped body whose fields must come back unchanged)
REFUSED = "Unsupported parameter: 'reasoning_effort' is not supported with this model."


def refuse_field(field: str, fault: Fault) -> Callable[[dict[str, Any]], Fault | None]:
    """Refuse every request carrying ``field`` (only the answer call gets forwarded fields)."""
    return lambda body: fault if field in body else None


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        json=body,
        headers=AUTH if headers is None else headers,
        timeout=30,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "hold-stream"])
def test_upstream_400_on_a_forwarded_field_reaches_the_caller_as_400(
    serve: Callable[..., str], upstream: FakeOpenAIServer, stream: bool
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    upstream.refuse = refuse_field(
        "reasoning_effort",
        openai_error(400, REFUSED, param="reasoning_effort", code="unsupported_parameter"),
    )
    url = serve()
    body = {"model": "x@qa", "messages": Q, "reasoning_effort": "high", "stream": stream}
    r = post(url, body)
    # before: 502 "BadRequestError: HTTP 400 from ..." (the caller's request looked like an outage)
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": REFUSED,
            "type": "invalid_request_error",
            "param": "reasoning_effort",
            "code": "unsupported_parameter",
        }
    }
    # the official client raises its usual exception with the upstream's fields
    client = openai.OpenAI(base_url=url + "/v1", api_key=UPSTREAM_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="x@qa",
            messages=Q,  # type: ignore[arg-type]
            reasoning_effort="high",
        )
    assert info.value.status_code == 400
    assert info.value.param == "reasoning_effort" and REFUSED in info.value.message
    metrics = httpx.get(url + "/metrics").text
    assert 'guardrail_serve_errors_total{status="400"} 2.0' in metrics  # the two requests


def test_live_stream_refused_before_its_first_byte_is_that_status(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    upstream.refuse = refuse_field(
        "reasoning_effort",
        openai_error(400, REFUSED, param="reasoning_effort", code="unsupported_parameter"),
    )
    url = serve(live_domains=("qa",))
    body = {"model": "x@qa", "messages": Q, "reasoning_effort": "high", "stream": True}
    r = post(url, body)
    assert r.status_code == 400 and "x-guardrail-stream" not in r.headers  # no stream began
    assert r.json()["error"]["param"] == "reasoning_effort"
    assert r.json()["error"]["message"] == REFUSED
    # the upstream saw the stream request with the field (the samples never carry it)
    assert any(b.get("stream") and b.get("reasoning_effort") for b in upstream.requests)


@pytest.mark.parametrize(
    ("status", "reply", "expected"),
    [
        # OpenAI's unknown-model error: status, message and code kept
        (
            404,
            openai_error(
                404,
                "The model `nope` does not exist.",
                code="model_not_found",
                type_="invalid_request_error",
            ),
            {
                "message": "The model `nope` does not exist.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            },
        ),
        # a plain-text refusal (a reverse proxy's body limit): the message names the status
        (
            413,
            Fault.body(b"request entity too large", status=413),
            {
                "message": "the upstream answered HTTP 413: request entity too large",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            },
        ),
        # FastAPI-style validation error (vLLM's server): {"detail": ...} is not OpenAI's shape
        (
            422,
            Fault.body(b'{"detail": "top_k must be an integer"}', status=422),
            {
                "message": "the upstream answered HTTP 422: top_k must be an integer",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            },
        ),
    ],
    ids=["404-model", "413-text", "422-detail"],
)
def test_other_client_errors_pass_with_their_status(
    serve: Callable[..., str],
    upstream: FakeOpenAIServer,
    status: int,
    reply: Fault,
    expected: dict[str, Any],
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    upstream.refuse = lambda body: reply if body.get("model") == "nope" else None
    url = serve()
    r = post(url, {"model": "nope@qa", "messages": Q})
    assert r.status_code == status
    assert r.json() == {"error": expected}


def test_429_passes_with_retry_after(serve: Callable[..., str], upstream: FakeOpenAIServer) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    upstream.refuse = lambda body: Fault.status(429, retry_after=7) if "user" in body else None
    url = serve()  # max_retries=0 (conftest): the one attempt's 429 is final
    r = post(url, {"model": "x@qa", "messages": Q, "user": "u-1"})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    # the fake upstream's body {"error": {"message": "injected", "type": "test"}} is kept
    assert r.json()["error"] == {
        "message": "injected",
        "type": "test",
        "param": None,
        "code": "test",
    }


def test_403_passes_as_403_and_a_configured_key_is_named(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    upstream.refuse = refuse_field(
        "user", openai_error(403, "This key may not use the model.", type_="permission_error")
    )
    url = serve(upstream_api_key="sk-configured-but-wrong")
    r = post(url, {"model": "x@qa", "messages": Q, "user": "u-1"})
    # before: 401 (a 403 was folded into AuthenticationError's 401)
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "permission_error"
    assert r.json()["error"]["message"] == (
        "the upstream rejected the credentials (HTTP 403): This key may not use the model."
    )
    # no client key: the configured key went upstream and the fake upstream (api_key set)
    # refuses it with 401; the message says whose key it was (the operator must fix it)
    r = post(url, {"model": "x@qa", "messages": Q}, headers={})
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["message"].startswith(
        "the upstream rejected guardrail serve's configured upstream key (HTTP 401)"
    )
    assert "sk-configured-but-wrong" not in r.text


def test_5xx_and_unreachable_stay_502(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    upstream.refuse = refuse_field("user", Fault.status(503))
    url = serve()
    r = post(url, {"model": "x@qa", "messages": Q, "user": "u-1"})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"


def test_samples_refused_after_the_answer_only_make_them_missing(
    serve: Callable[..., str], upstream: FakeOpenAIServer
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    # the policy's samples run at temperature 0.9 (serve_testlib.POLICIES["qa.guard"]); the
    # answer call has no temperature: every sample call is refused, the answer is not
    upstream.refuse = lambda body: (
        openai_error(400, "temperature is not supported", param="temperature")
        if body.get("temperature") == 0.9
        else None
    )
    url = serve()
    r = post(url, {"model": "x@qa", "messages": Q})
    assert r.status_code == 200
    v = r.json()["guardrail"]
    # qa has `on_missing review`: the missing consistency sends the answer to review (held)
    assert v["missing"] == ["consistency"]  # the only sample signal qa reads
    assert v["status"] == "pending_review" and v["action"] == "review"
    choice = r.json()["choices"][0]
    assert (
        choice["finish_reason"] == "content_filter" and ANSWER not in choice["message"]["content"]
    )
    # the n=4 request was refused, then 4 single samples (servers that refuse `n`): all refused
    samples = [b for b in upstream.requests if b.get("temperature") == 0.9]
    assert [b.get("n") for b in samples] == [4, None, None, None, None]
