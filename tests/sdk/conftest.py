from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider


def role_answers(
    *,
    answer: str = "Paris.",
    samples: list[str] | None = None,
    followup: str = "Confidence: 80%",
    by_model: dict[str, str] | None = None,
) -> Callable[[dict[str, Any], int], str]:
    """A fake-server responder that answers by the role of the request: the answer call,
    a sampling call (temperature set by the policy's `samples`), the verbalized follow-up, or an
    ensemble model (by model name). Samples rotate through `samples`."""
    counter = {"sample": 0}
    sample_list = samples or ["Paris."]

    def respond(body: dict[str, Any], _: int) -> str:
        model = body.get("model", "")
        if by_model and model in by_model:
            return by_model[model]
        last = body["messages"][-1]["content"]
        if last.startswith("How likely is it that your previous answer is correct"):
            return followup
        if body.get("temperature") == 0.9:
            i = counter["sample"]
            counter["sample"] += 1
            return sample_list[i % len(sample_list)]
        return answer

    return respond


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def make_guard(server: FakeOpenAIServer) -> Callable[..., Guard]:
    """Build a Guard over one policy (source text) talking to the fake server."""

    def build(policy_text: str, provider_kw: dict[str, Any] | None = None, **kw: Any) -> Guard:
        policy = parse_policy(policy_text, "test.guard")
        pkw: dict[str, Any] = {"retry_initial_wait": 0.01, "retry_max_wait": 0.5}
        pkw.update(provider_kw or {})
        provider = OpenAICompatProvider(server.base_url, model="main-model", **pkw)
        return Guard({policy.name: policy}, provider, **kw)

    return build
