"""Helpers shared by the `guardrail serve` tests (imported by tests/serve/conftest.py and the
test modules): the test policies, the upstream key, and an in-process uvicorn runner."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
    # notice or pass only (on_missing notice): it never withholds, so it streams `live`
    "chat.guard": """policy chat {
  on_missing notice

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    port = free_port()
    import uvicorn

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
