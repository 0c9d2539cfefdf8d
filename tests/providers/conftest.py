from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers.fake_openai import FakeOpenAIServer


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """A fresh fault-injecting OpenAI-compatible server on 127.0.0.1 for one test."""
    with FakeOpenAIServer() as srv:
        yield srv
