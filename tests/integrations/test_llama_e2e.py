"""Both adapters end to end against a real ``python -m llama_cpp.server`` (the embedded SmolLM2
GGUF, extra ``local``) on 127.0.0.1: LiteLLM's ``acompletion`` and LangChain's ``ChatOpenAI``
get the answer from it, and the guard asks it for the samples.

A real 135M model's answers vary, so the held case uses a policy whose only rule fires for every
value of consistency (consistency >= 0% always holds: consistency is in [0, 1]); the tests then
check the properties that matter: the held answer is in the review queue and not in what the
caller got, and a `quick` decision agrees with the consistency the two samples gave.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import LocalModelUnavailable, OpenAICompatProvider, embedded_model_path
from guardrail.review import InMemoryReviewStore

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no price-map download (see conftest.py)
litellm = pytest.importorskip("litellm", reason="the 'litellm' extra is not installed")
lc_openai = pytest.importorskip("langchain_openai", reason="langchain-openai (dev extra) missing")

try:
    import llama_cpp
    import llama_cpp.server.app  # noqa: F401

    GGUF = str(embedded_model_path())
    SKIP = ""
except (ImportError, LocalModelUnavailable) as exc:
    GGUF, SKIP = "", f"local extra not installed (pip install 'guardrail-uq[local]'): {exc}"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(SKIP), reason=SKIP)]

from servers.llama_server import run_llama_server  # noqa: E402

from guardrail.integrations.langchain import GuardedChatModel  # noqa: E402
from guardrail.integrations.litellm import GuardrailUQ  # noqa: E402

QUICK = """policy quick {
  on_missing notice
  signals {
    samples 2 temperature 0.8
  }
  rule split {
    when consistency < 50%
    then notice "The samples disagreed."
  }
  otherwise pass
}
"""
HELD = """policy held {
  on_missing review
  signals {
    samples 2 temperature 0.8
  }
  rule always_checked {
    when consistency >= 0%
    then review "A person will check this answer."
  }
}
"""
QUESTION = "What is the capital of France? Answer in one word."
REVIEW = "A person will check this answer."


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_llama_server(tmp_path_factory.mktemp("llama"), GGUF, "--n_ctx", "1024") as base:
        yield base


def make_guard(base: str, store: InMemoryReviewStore) -> Guard:
    policies = {p.name: p for p in (parse_policy(QUICK, "q.guard"), parse_policy(HELD, "h.guard"))}
    provider = OpenAICompatProvider(base, model="smollm2")
    return Guard(policies, provider, review_store=store, max_tokens=16)


def check_quick(v: dict[str, Any], shown: str) -> None:
    # 2 samples: consistency is 0, 0.5 or 1 (share of samples in the answer's cluster)
    assert v["status"] == "answered" and v["signals"]["consistency"] in (0.0, 0.5, 1.0)
    assert v["action"] == ("notice" if v["signals"]["consistency"] < 0.5 else "pass")
    assert shown.strip() and shown.endswith("The samples disagreed.") == (v["action"] == "notice")


def check_held(v: dict[str, Any], shown: str, store: InMemoryReviewStore) -> None:
    assert (v["action"], v["status"], v["withheld"]) == ("review", "pending_review", True)
    assert shown == REVIEW
    held = store.get(v["review_id"]).raw_answer.strip()
    assert held and held not in shown  # the model answered; that answer is only in the queue


async def test_litellm_guardrail_on_a_real_llama_server(llama: str) -> None:
    store = InMemoryReviewStore()
    saved = list(litellm.callbacks)
    litellm.callbacks = [GuardrailUQ(make_guard(llama, store), domain="quick")]
    try:
        args: dict[str, Any] = {
            "model": "openai/smollm2",
            "api_base": llama,
            "api_key": "none",
            "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": 16,
            "guardrails": ["guardrail-uq"],
        }
        r = await litellm.acompletion(**args)
        check_quick(r.guardrail, r.choices[0].message.content)
        assert r.choices[0].finish_reason in ("stop", "length")
        r = await litellm.acompletion(**args, metadata={"guardrail_domain": "held"})
        check_held(r.guardrail, r.choices[0].message.content, store)
        assert r.choices[0].finish_reason == "content_filter"
    finally:
        litellm.callbacks = saved


async def test_langchain_wrapper_on_a_real_llama_server(llama: str) -> None:
    store = InMemoryReviewStore()
    inner = lc_openai.ChatOpenAI(base_url=llama, api_key="none", model="smollm2", max_tokens=16)
    llm = GuardedChatModel(llm=inner, guard=make_guard(llama, store), domain="quick")
    m = await llm.ainvoke(QUESTION)
    check_quick(m.response_metadata["guardrail"], str(m.content))
    m = llm.invoke(QUESTION, guardrail_domain="held")
    check_held(m.response_metadata["guardrail"], str(m.content), store)
    assert m.response_metadata["finish_reason"] == "content_filter"
