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
from servers.fake_openai import FakeOpenAIServer

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.review import InMemoryReviewStore, ReviewItem

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

#: Four outcomes decided by consistency alone (samples agreeing with the answer / 4):
#: 4/4 = 1.0 -> no rule -> pass; 3/4 = 0.75 -> only `mostly` -> notice;
#: 2/4 = 0.5 -> `shaky` and `mostly` -> review (the most severe matched action wins);
#: 1/4 = 0.25 -> all three -> abstain.
QA = """
policy qa {
  on_missing review
  signals {
    samples 4 temperature 0.9
  }
  rule unstable {
    when consistency < 0.5
    then abstain "I can't answer this reliably."
  }
  rule shaky {
    when consistency < 0.75
    then review "A person will check this answer."
  }
  rule mostly {
    when consistency < 1.0
    then notice "Check important facts."
  }
  otherwise pass
}
"""

#: (samples, action, status, shown text, finish_reason) for the answer "Paris.".
CASES = [
    (["Paris.", "Paris.", "Paris.", "Paris."], "pass", "answered", "Paris.", "stop"),
    (
        ["Paris.", "Paris.", "Paris.", "Lyon."],
        "notice",
        "answered",
        "Paris.\n\nCheck important facts.",
        "stop",
    ),
    (
        ["Paris.", "Paris.", "Lyon.", "Nice."],
        "review",
        "pending_review",
        "A person will check this answer.",
        "content_filter",
    ),
    (
        ["Paris.", "Lyon.", "Nice.", "Lille."],
        "abstain",
        "abstained",
        "I can't answer this reliably.",
        "content_filter",
    ),
]
CASE_IDS = [c[1] for c in CASES]


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


class DownStore(InMemoryReviewStore):
    """A review store that refuses every item (a database that is down)."""

    def enqueue(self, item: ReviewItem) -> str:
        raise ConnectionError("review database unreachable")
