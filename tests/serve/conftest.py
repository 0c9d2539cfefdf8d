"""Fixtures for `guardrail serve` tests: the fake OpenAI upstream on 127.0.0.1 and the proxy run
by a real uvicorn server (in a thread, free port) in front of it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer

pytest.importorskip("fastapi", reason="guardrail serve needs the 'web' extra")
pytest.importorskip("prometheus_client", reason="guardrail serve needs the 'web' extra")
uvicorn = pytest.importorskip("uvicorn", reason="guardrail serve needs the 'web' extra")

from guardrail.review import InMemoryReviewStore  # noqa: E402
from guardrail.serve import ServeSettings, create_app  # noqa: E402

UPSTREAM_KEY = "sk-upstream-secret-4711"

POLICIES = {
    # 4 samples at temperature 0.9 (what servers.fake_openai.role_answers treats as a sample):
    # consistency < 0.5 abstains, < 1.0 goes to review, 4/4 gets the otherwise notice
    "qa.guard": """policy qa {
  on_missing review

  signals {
    samples 4 temperature 0.9
  }

  rule guessing {
    when consistency < 0.5
    then abstain "I can't answer this reliably."
  }

  rule not_unanimous {
    when consistency < 1.0
    then review "A person will check this answer."
  }

  otherwise notice "Check important facts."
}
""",
    "chat.guard": """policy chat {
  signals {
    hedges "default"
  }

  rule hedged {
    when hedge_label == "hedged"
    then notice "The model sounded unsure."
  }

  otherwise pass
}
""",
}


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="guardrail-serve", daemon=True)
    thread.start()
    for _ in range(500):  # started within 10 s, polled (not a timing assertion)
        if server.started:
            break
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


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
