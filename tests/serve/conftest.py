"""Fixtures for `guardrail serve` tests: the fake OpenAI upstream on 127.0.0.1 and the proxy run
by a real uvicorn server (in a thread, free port) in front of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer

pytest.importorskip("fastapi", reason="guardrail serve needs the 'web' extra")
pytest.importorskip("prometheus_client", reason="guardrail serve needs the 'web' extra")
uvicorn = pytest.importorskip("uvicorn", reason="guardrail serve needs the 'web' extra")

from serve_testlib import POLICIES, UPSTREAM_KEY, running  # noqa: E402

from guardrail.review import InMemoryReviewStore  # noqa: E402
from guardrail.serve import ServeSettings, create_app  # noqa: E402


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    for name, text in POLICIES.items():
        (d / name).write_text(text)
    return d


@pytest.fixture
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=UPSTREAM_KEY) as srv:
        yield srv


@pytest.fixture
def store() -> InMemoryReviewStore:
    return InMemoryReviewStore()


@pytest.fixture
def serve(
    upstream: FakeOpenAIServer, policy_dir: Path, store: InMemoryReviewStore
) -> Iterator[Callable[..., str]]:
    """``serve(**settings)`` starts the proxy in front of the fake upstream; returns its URL."""
    stack: list[Any] = []

    def start(**kw: Any) -> str:
        settings = ServeSettings(
            upstream=upstream.base_url,
            policies=policy_dir,
            max_retries=0,
            spot_check=False,
            **kw,
        )
        cm = running(create_app(settings, store=store))
        url = cm.__enter__()
        stack.append(cm)
        return url

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)
