"""LangChain's ``ChatOpenAI`` over the guarded client (its ``client``/``async_client`` are
``chat.completions`` resources): one guarded call each way against the fake server. LangChain
calls ``client.with_raw_response.create(**payload).parse()``, so this also exercises that path.
LlamaIndex is not tested: ``llama-index-llms-openai`` requires ``openai<3``."""

from __future__ import annotations

import pytest
from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail.policy import parse_policy
from guardrail.sdk import AsyncGuardedClient, Guard, GuardedClient, OpenAIClientProvider

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")
lc = pytest.importorskip("langchain_openai", reason="langchain-openai (dev extra) not installed")

POLICY = """
policy general {
  signals {
    samples 3 temperature 0.9
  }
  rule unstable {
    when consistency < 0.5
    then abstain "I am not sure enough to answer."
  }
  otherwise notice "Answers may be out of date."
}
"""


async def test_chat_openai_runs_one_guarded_call_each_way(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Lyon.", "Nice.", "Paris."])
    p = parse_policy(POLICY, "general.guard")
    oa = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    aoa = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    sync = GuardedClient(guard=Guard({p.name: p}, OpenAIClientProvider(oa)), domain="general")
    asyn = AsyncGuardedClient(guard=Guard({p.name: p}, OpenAIClientProvider(aoa)), domain="general")
    llm = lc.ChatOpenAI(
        client=sync.chat.completions,
        async_client=asyn.chat.completions,
        model="main-model",
        api_key="k",
    )
    # samples Lyon/Nice/Paris: 1 of 3 agree with "Paris." -> consistency 1/3 < 0.5 -> abstain
    m = await llm.ainvoke("Capital of France?")
    assert m.content == "I am not sure enough to answer."
    assert m.response_metadata["finish_reason"] == "content_filter"
    assert m.response_metadata["id"] == "chatcmpl-fake-1"  # the upstream answer call's id
    assert len(server.requests) == 2  # answer + one n=3 sampling request: it was guarded
    # next samples (rotation continues): Lyon, Nice, Paris again -> abstain; answer call usage
    # "Capital of France?" 3 words in, "Paris." 1 out (the fake server counts words)
    m2 = llm.invoke("Capital of France?")
    assert m2.content == "I am not sure enough to answer."
    assert m2.usage_metadata is not None
    assert (m2.usage_metadata["input_tokens"], m2.usage_metadata["output_tokens"]) == (3, 1)
    assert len(server.requests) == 4
