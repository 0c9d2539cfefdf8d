"""Fixtures for the adapter tests: a fake OpenAI-compatible server on 127.0.0.1 and a Guard over
one or more policies (source text) whose provider talks to it.

LiteLLM fetches its model price map from GitHub when imported unless
``LITELLM_LOCAL_MODEL_COST_MAP`` is true: tests never call the internet, so it is set here,
before any test module imports litellm.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from adapter_cases import QA
from servers.fake_openai import FakeOpenAIServer

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def make_guard(server: FakeOpenAIServer) -> Callable[..., Guard]:
    """A Guard over the given policies (source texts; default QA) talking to the fake server."""

    def build(
        *policy_texts: str,
        base_url: str | None = None,
        provider_kw: dict[str, Any] | None = None,
        **kw: Any,
    ) -> Guard:
        policies = [parse_policy(t, "test.guard") for t in (policy_texts or (QA,))]
        pkw: dict[str, Any] = {"retry_initial_wait": 0.01, "retry_max_wait": 0.05}
        pkw.update(provider_kw or {})
        provider = OpenAICompatProvider(base_url or server.base_url, model="main-model", **pkw)
        return Guard({p.name: p for p in policies}, provider, **kw)

    return build
