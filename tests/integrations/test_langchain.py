"""The LangChain wrapper (guardrail.integrations.langchain.GuardedChatModel) around a real
``ChatOpenAI`` (langchain-openai, dev extra) that talks to the fake OpenAI-compatible server on
127.0.0.1; the guard asks the same server for its samples.

Expected values by hand from the policy in conftest.py (QA: consistency thresholds, most severe
matched action wins) and the fake server's replies (`role_answers`: the answer call has no
temperature, the guard's sampling call has temperature 0.9; it counts words as tokens).
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from adapter_cases import CASE_IDS, CASES, LOGPROB_POLICY, QA, DownStore
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail import Guard
from guardrail.review import InMemoryReviewStore
from guardrail.sdk import GuardError
from guardrail.sdk.guard import DEFAULT_FAILURE_MESSAGE

lc_openai = pytest.importorskip("langchain_openai", reason="langchain-openai (dev extra) missing")
from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from guardrail.integrations.langchain import GuardedChatModel  # noqa: E402

QUESTION = "What is the capital of France?"


def chat(server: FakeOpenAIServer, **kw: Any) -> Any:
    return lc_openai.ChatOpenAI(
        base_url=server.base_url, api_key="k", model="main-model", max_retries=0, **kw
    )


@pytest.mark.parametrize(("samples", "action", "status", "text", "finish"), CASES, ids=CASE_IDS)
async def test_each_action_reaches_the_ai_message(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    samples: list[str],
    action: str,
    status: str,
    text: str,
    finish: str,
) -> None:
    server.answers = role_answers(answer="Paris.", samples=samples)
    store = InMemoryReviewStore()
    llm = GuardedChatModel(llm=chat(server), guard=make_guard(review_store=store), domain="qa")
    m = await llm.ainvoke(QUESTION)
    assert m.content == text
    assert m.response_metadata["finish_reason"] == finish
    v = m.response_metadata["guardrail"]
    assert (v["action"], v["status"], v["domain"]) == (action, status, "qa")
    assert v["signals"]["consistency"] == samples.count("Paris.") / 4
    assert m.response_metadata["id"] == "chatcmpl-fake-1"  # the upstream answer call's id
    # the answer call's usage: 6 words in ("What is the capital of France?"), 1 out ("Paris.")
    assert m.usage_metadata is not None
    assert (m.usage_metadata["input_tokens"], m.usage_metadata["output_tokens"]) == (6, 1)
    assert [(b.get("n"), b.get("temperature")) for b in server.requests] == [(None, None), (4, 0.9)]
    assert server.requests[1]["messages"] == [{"role": "user", "content": QUESTION}]
    if action == "review":
        assert store.get(v["review_id"]).raw_answer == "Paris."
    else:
        assert store.count() == 0


def test_sync_invoke_and_per_call_domain(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    strict = QA.replace("policy qa", "policy strict").replace(
        "consistency < 0.5", "consistency <= 1.0"
    )
    server.answers = role_answers(samples=["Paris."])  # 4/4: qa passes, strict abstains
    llm = GuardedChatModel(llm=chat(server), guard=make_guard(QA, strict), domain="qa")
    m = llm.invoke(QUESTION)
    assert (m.content, m.response_metadata["guardrail"]["action"]) == ("Paris.", "pass")
    m = llm.invoke(QUESTION, guardrail_domain="strict")
    assert m.content == "I can't answer this reliably."
    assert m.response_metadata["guardrail"]["domain"] == "strict"
    assert all("guardrail_domain" not in body for body in server.requests)  # not forwarded
    with pytest.raises(ValueError, match="known domains: qa, strict"):
        llm.invoke(QUESTION, guardrail_domain="cardiology")
    # a domain that is not a string is refused too (it used to apply the default policy)
    with pytest.raises(ValueError, match="no policy for domain '5'; known domains: qa, strict"):
        llm.invoke(QUESTION, guardrail_domain=5)


async def test_withheld_answer_keeps_no_logprobs_or_extra_fields(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # every token has log-prob ln(0.25): exp(mean) = 0.25 < 0.5 -> abstain, no guard call
    server.token_logprob = math.log(0.25)
    llm = GuardedChatModel(llm=chat(server, logprobs=True), guard=make_guard(LOGPROB_POLICY))
    m = await llm.ainvoke(QUESTION)
    v = m.response_metadata["guardrail"]
    assert v["signals"]["logprob_confidence"] == pytest.approx(0.25) and v["cost"]["calls"] == 0
    assert m.content == "Not sure." and "logprobs" not in m.response_metadata
    assert m.additional_kwargs == {} and len(server.requests) == 1
    # 4 tokens of ln(0.9): exp(mean) = 0.9 >= 0.5 -> pass, and the log-probs stay
    server.token_logprob = math.log(0.9)
    m = await llm.ainvoke(QUESTION)
    assert m.content == "Paris." and m.response_metadata["logprobs"] is not None


def test_stream_yields_only_the_judged_text(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(samples=["Paris.", "Lyon.", "Nice.", "Lille."])  # abstain
    llm = GuardedChatModel(llm=chat(server), guard=make_guard())
    chunks = list(llm.stream(QUESTION))
    assert [c.content for c in chunks] == ["I can't answer this reliably."]
    assert all("Paris" not in str(c.content) for c in chunks)


async def test_tool_calls_pass_through_unjudged(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    def to_tool_call(doc: dict[str, Any]) -> dict[str, Any]:
        doc["choices"][0]["message"] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        doc["choices"][0]["finish_reason"] = "tool_calls"
        return doc

    llm = GuardedChatModel(llm=chat(server), guard=make_guard()).bind_tools([lookup])
    server.faults.append(Fault.edit(to_tool_call))
    m = await llm.ainvoke(QUESTION)
    assert m.tool_calls == [
        {"name": "lookup", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]
    assert "guardrail" not in m.response_metadata
    assert len(server.requests) == 1 and server.requests[0]["tools"][0]["function"]["name"] == (
        "lookup"
    )


async def test_a_failed_judgement_never_returns_the_answer(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # 2/4 agree -> review, but the store refuses the item: the guard's result is "failed"
    server.answers = role_answers(samples=["Paris.", "Paris.", "Lyon.", "Nice."])
    llm = GuardedChatModel(llm=chat(server), guard=make_guard(review_store=DownStore()))
    with pytest.raises(GuardError, match="review database unreachable"):
        await llm.ainvoke(QUESTION)
    replaced = llm.model_copy(update={"on_failure": "replace"})
    m = await replaced.ainvoke(QUESTION)
    assert m.content == DEFAULT_FAILURE_MESSAGE
    assert m.response_metadata["finish_reason"] == "content_filter"
    assert m.response_metadata["guardrail"]["status"] == "failed"


def test_wrapped_run_is_a_child_of_the_guarded_run(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    starts: list[tuple[UUID, UUID | None]] = []

    class Runs(BaseCallbackHandler):
        def on_chat_model_start(
            self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any
        ) -> None:
            starts.append((run_id, kw.get("parent_run_id")))

    server.answers = role_answers(samples=["Paris."])
    llm = GuardedChatModel(llm=chat(server), guard=make_guard())
    llm.invoke(QUESTION, config={"callbacks": [Runs()]})
    (outer, outer_parent), (_, inner_parent) = starts
    assert outer_parent is None and inner_parent == outer


def test_missing_extra_gives_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "guardrail.integrations.langchain")
    monkeypatch.setitem(sys.modules, "langchain_core.language_models", None)
    with pytest.raises(ImportError, match=r"pip install 'guardrail-uq\[langchain\]'"):
        importlib.import_module("guardrail.integrations.langchain")
