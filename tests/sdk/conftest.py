from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider


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
