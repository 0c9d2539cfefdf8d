"""The drop-in client's `logprobs` / `top_logprobs` with a policy that reads
`logprob_confidence` (it needs the answer's log-probs itself): the policy's need wins for its
own call, the caller's request shapes what the caller gets back, and a withheld answer's
log-probs are never returned (`guardrail.sdk.answer_call.caller_logprobs`; the same rule as
`guardrail serve`, tests/serve/test_serve_request_fields.py). Fake server on 127.0.0.1: every
token has log-prob `token_logprob`, its top alternatives are `[token, "<alt>"]` cut to the
request's `top_logprobs`; whitespace words are tokens.
"""

from __future__ import annotations

import math

import pytest
from servers.fake_openai import FakeOpenAIServer

from guardrail.policy import parse_policy
from guardrail.sdk import Guard, GuardedClient, OpenAIClientProvider

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")

POLICY = """policy lp {
  on_missing review
  signals {
    logprobs
  }
  rule unsure {
    when logprob_confidence < 0.5
    then abstain "I can't answer this reliably."
  }
  otherwise pass
}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]
ANSWER = "Paris is the capital."  # 4 tokens


def _client(server: FakeOpenAIServer) -> GuardedClient:
    p = parse_policy(POLICY, "lp.guard")
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return GuardedClient(guard=Guard({p.name: p}, OpenAIClientProvider(oa)), domain="lp")


def test_policy_needs_win_the_caller_shapes_the_reply(server: FakeOpenAIServer) -> None:
    # ln(0.8) per token: geometric-mean probability 0.8 >= 0.5 -> pass, the answer is shown
    server.token_logprob = math.log(0.8)
    server.answers = [ANSWER]
    client = _client(server)

    c = client.chat.completions.create(model="m", messages=MSGS, logprobs=False)
    assert server.requests[-1]["logprobs"] is True  # the policy's need wins for its call
    assert server.requests[-1]["top_logprobs"] == 1
    assert c.choices[0].logprobs is None  # the caller asked for none
    assert c.guardrail is not None and c.guardrail.values["logprob_confidence"] == pytest.approx(
        0.8
    )

    c = client.chat.completions.create(model="m", messages=MSGS, logprobs=True)
    assert server.requests[-1]["top_logprobs"] == 1  # the policy's
    content = c.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and len(content) == 4
    assert all(t.top_logprobs == [] for t in content)  # the caller's top_logprobs: 0

    c = client.chat.completions.create(model="m", messages=MSGS, logprobs=True, top_logprobs=2)
    assert server.requests[-1]["top_logprobs"] == 2  # the larger of 2 and the policy's 1
    content = c.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None
    assert [t.token for t in content[0].top_logprobs] == ["Paris", "<alt>"]


def test_withheld_answer_returns_no_log_probs(server: FakeOpenAIServer) -> None:
    # ln(0.25) per token: confidence 0.25 < 0.5 -> abstain: the answer is withheld
    server.token_logprob = math.log(0.25)
    server.answers = [ANSWER]
    c = _client(server).chat.completions.create(
        model="m", messages=MSGS, logprobs=True, top_logprobs=2
    )
    assert c.choices[0].finish_reason == "content_filter"
    assert c.choices[0].message.content == "I can't answer this reliably."
    assert c.choices[0].logprobs is None  # the tokens would spell out the withheld answer
