"""The drop-in client when the upstream refuses the answer call with a 4xx: the caller gets the
exception openai's own client raises for that reply (400: ``openai.BadRequestError`` with the
server's message, ``param`` and ``code``; 429: ``openai.RateLimitError`` keeping
``Retry-After``), streamed or not, over a wrapped ``openai`` client and over guardrail's own
``OpenAICompatProvider``. The fake upstream (tests/servers/fake_openai.py) runs on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault, openai_error, role_answers

from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.sdk import Guard, GuardedClient, OpenAIClientProvider

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")

POLICY = """
policy general {
  signals {
    samples 3 temperature 0.9
  }
  otherwise pass
}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]
REFUSED = "The model `nope` does not exist or you do not have access to it."


def _client(server: FakeOpenAIServer, wrapped: bool) -> GuardedClient:
    p = parse_policy(POLICY, "general.guard")
    provider: Any = (
        OpenAIClientProvider(openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0))
        if wrapped
        else OpenAICompatProvider(server.base_url, max_retries=0)
    )
    return GuardedClient(guard=Guard({p.name: p}, provider), domain="general")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("wrapped", [True, False], ids=["openai-client", "openai-compat"])
def test_upstream_400_is_bad_request_error_with_the_upstream_message(
    server: FakeOpenAIServer, wrapped: bool, stream: bool
) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    server.refuse = lambda body: (
        openai_error(400, REFUSED, param="model", code="model_not_found")
        if body.get("model") == "nope"
        else None
    )
    with pytest.raises(openai.BadRequestError) as info:
        _client(server, wrapped).chat.completions.create(model="nope", messages=MSGS, stream=stream)
    err = info.value
    # what openai's client raises for this reply: "Error code: 400 - <message>", the fields
    # (before, over OpenAICompatProvider: "guardrail: BadRequestError: HTTP 400 from ...", no
    # param/code/body)
    assert err.status_code == 400
    assert str(err) == f"Error code: 400 - {REFUSED}"
    assert (err.param, err.code, err.type) == ("model", "model_not_found", "invalid_request_error")


def test_upstream_429_keeps_retry_after(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    server.refuse = lambda body: (
        Fault.status(429, retry_after=7) if body.get("model") == "busy" else None
    )
    client = _client(server, wrapped=False)  # max_retries=0: the one 429 is final
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="busy", messages=MSGS)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body == {"message": "injected", "type": "test", "param": None, "code": None}
