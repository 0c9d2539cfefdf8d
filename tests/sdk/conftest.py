from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from servers.fake_openai import FakeOpenAIServer

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest_asyncio.fixture
async def make_guard(server: FakeOpenAIServer) -> AsyncIterator[Callable[..., Guard]]:
    """Build a Guard over one policy (source text) talking to the fake server; every guard
    built is closed after the test (its connection pools: no sockets left open)."""
    built: list[Guard] = []

    def build(policy_text: str, provider_kw: dict[str, Any] | None = None, **kw: Any) -> Guard:
        policy = parse_policy(policy_text, "test.guard")
        pkw: dict[str, Any] = {"retry_initial_wait": 0.01, "retry_max_wait": 0.5}
        pkw.update(provider_kw or {})
        provider = OpenAICompatProvider(server.base_url, model="main-model", **pkw)
        guard = Guard({policy.name: policy}, provider, **kw)
        built.append(guard)
        return guard

    yield build
    for guard in built:
        await guard.aclose()
