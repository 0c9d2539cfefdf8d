"""The policy's `agreement "BACKEND" [model "M"]` end to end against the real-socket fake server:
the guard builds the backend with its provider, the batched judge costs one call per guarded
chat, embeddings one request, failures degrade to lexical and show in the evidence.

Expected values by hand from the signal definitions (guardrail/sdk/signal_steps.py):
consistency = samples in the shown answer's cluster / k; agreement = weighted share of models
(answering model weight 1 + ensemble) in the shown answer's cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault

from guardrail import Guard
from guardrail.providers import AuthenticationError

Q = [{"role": "user", "content": "What is the capital of France?"}]
SAMPLES = ["Paris.", "The capital is Paris.", "Lyon.", "Paris, France.", "Marseille."]


def policy(agreement: str) -> str:
    return f"""
policy qa {{
  on_missing review
  signals {{
    samples 5 temperature 0.9 {agreement}
  }}
  rule unstable {{
    when consistency < 0.8
    then abstain "The samples disagree."
  }}
  otherwise pass
}}
"""


Responder = Callable[[dict[str, Any], int], str]


def responder(judge_reply: str) -> tuple[Responder, list[dict[str, Any]]]:
    """Answer call -> "Paris."; sampling call (temperature 0.9) -> SAMPLES in turn; grouping call
    -> ``judge_reply``. Returns the responder and the list the judge requests are put in."""
    judge_requests: list[dict[str, Any]] = []
    counter = {"i": 0}

    def respond(body: dict[str, Any], _: int) -> str:
        content = body["messages"][-1]["content"]
        if content.startswith("Here are answers to the same question"):
            judge_requests.append(body)
            return judge_reply
        if body.get("temperature") == 0.9:
            i = counter["i"]
            counter["i"] += 1
            return SAMPLES[i % len(SAMPLES)]
        return "Paris."

    return respond, judge_requests


def listed(body: dict[str, Any]) -> list[str]:
    block = body["messages"][-1]["content"].split("Answers:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split(". ", 1)[1] for line in block.splitlines()]


@pytest.mark.parametrize(
    ("groups", "consistency"),
    [
        # the judge puts every answer in one class: 5 of 5 samples agree with "Paris."
        ([[1, 2, 3, 4, 5]], 1.0),
        # Paris., The capital is Paris., Paris, France. | Lyon. | Marseille.: samples 1, 2, 4
        ([[1, 2, 4], [3], [5]], 0.6),
    ],
)
async def test_entailment_costs_one_judge_call_per_guarded_chat(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    groups: list[list[int]],
    consistency: float,
) -> None:
    respond, judge_requests = responder(json.dumps({"groups": groups}))
    server.answers = respond
    r = await make_guard(policy('agreement "entailment"')).chat(Q, domain="qa")
    # the answer call, one n=5 sampling call, one grouping call (not 5*6/2 = 15 pair calls)
    assert len(server.requests) == 3 and len(judge_requests) == 1
    assert r.cost.calls == 3
    body = judge_requests[0]
    # the answer and its 5 samples: "Paris." twice -> 5 distinct answers listed once each
    assert listed(body) == SAMPLES
    assert body["temperature"] == 0.0 and body["model"] == "main-model"
    assert "Question: What is the capital of France?" in body["messages"][-1]["content"]
    assert r.values["consistency"] == consistency
    rep = r.signal("consistency")
    assert rep is not None and rep.detail["equivalence"] == {
        "backend": "entailment",
        "calls": 1,
        "fallbacks": 0,
        "errors": [],
    }
    assert r.status == ("answered" if consistency >= 0.8 else "abstained")


async def test_named_judge_model_is_asked(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    respond, judge_requests = responder('{"groups": [[1, 2, 3, 4, 5]]}')
    server.answers = respond
    await make_guard(policy('agreement "entailment" model "judge-1"')).chat(Q, domain="qa")
    assert [b["model"] for b in judge_requests] == ["judge-1"]


async def test_unreadable_judge_reply_degrades_to_lexical(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    respond, _ = responder("They are all about French cities.")
    server.answers = respond
    r = await make_guard(policy('agreement "entailment"')).chat(Q, domain="qa")
    lexical_respond, _ = responder("unused")
    server.answers = lexical_respond
    lex = await make_guard(policy("")).chat(Q, domain="qa")
    assert r.values["consistency"] == lex.values["consistency"]
    rep = r.signal("consistency")
    assert rep is not None and rep.detail["equivalence"]["fallbacks"] == 1
    assert rep.detail["equivalence"]["errors"] == ["unreadable reply: no JSON groups in the reply"]
    lex_rep = lex.signal("consistency")
    assert lex_rep is not None and lex_rep.detail["equivalence"]["backend"] == "lexical"


async def test_an_authentication_error_in_the_judge_call_is_raised(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    respond, _ = responder('{"groups": [[1]]}')
    server.answers = respond
    server.faults.extend([Fault.ok(), Fault.ok(), Fault.status(401)])
    with pytest.raises(AuthenticationError):
        await make_guard(policy('agreement "entailment"')).chat(Q, domain="qa")


ENSEMBLE = """
policy qa {
  on_missing review
  signals {
    ensemble "m2", "m3" agreement "embedding" model "emb"
  }
  rule split {
    when agreement < 0.9
    then review
  }
}
"""
VECTORS = {"Paris.": [1.0, 0.0], "The capital is Paris.": [2.0, 0.0], "Lyon.": [0.0, 1.0]}


async def test_embedding_agreement_one_request_for_all_answers(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    by_model = {"m2": "The capital is Paris.", "m3": "Lyon."}
    server.answers = lambda body, _: by_model.get(body["model"], "Paris.")
    server.embeddings = lambda text: VECTORS[text]
    r = await make_guard(ENSEMBLE).chat(Q, domain="qa")
    # cos(Paris., The capital is Paris.) = 1, cos(Paris., Lyon.) = 0: the shown answer's cluster
    # is {answer, m2} -> agreement 2/3
    assert r.values["agreement"] == pytest.approx(2 / 3)
    assert [b["input"] for b in server.embedding_requests] == [list(VECTORS)]
    assert server.embedding_requests[0]["model"] == "emb"
    # 1 answer + 2 ensemble calls + 1 embedding request
    assert r.cost.calls == 4
    rep = r.signal("agreement")
    assert rep is not None and rep.detail["equivalence"]["backend"] == "embedding"
    assert rep.detail["equivalence"]["calls"] == 1


async def test_server_without_embeddings_degrades_to_lexical(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    by_model = {"m2": "Paris.", "m3": "Lyon."}
    server.answers = lambda body, _: by_model.get(body["model"], "Paris.")
    r = await make_guard(ENSEMBLE).chat(Q, domain="qa")  # no embeddings route: HTTP 404
    # lexical: answer and m2 say "Paris." -> 2/3
    assert r.values["agreement"] == pytest.approx(2 / 3)
    rep = r.signal("agreement")
    assert rep is not None and rep.detail["equivalence"]["fallbacks"] == 1
    assert rep.detail["equivalence"]["errors"][0].startswith("BadRequestError: HTTP 404")
