"""Issue 10 parts 2 and 6 through the SDK: samples never reuse the answer call's seed, samples are
compared by the answer they give, and non-answers never agree with anything."""

from __future__ import annotations

from collections.abc import Callable

from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail import Guard

Q = [{"role": "user", "content": "What is the capital of France?"}]

SAMPLES = """
policy qa {
  on_missing review
  signals {
    samples 4 temperature 0.9
  }
  rule low_agreement {
    when consistency < 0.5
    then abstain "I can't answer this reliably."
  }
  otherwise notice "Check important facts."
}
"""


async def test_samples_use_seeds_other_than_the_answer_seed_when_sampled_one_by_one(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # The server refuses `n`, so the provider asks each sample on its own with seed base + i.
    # Before the fix the sampling base was the answer's seed 42: sample 0 went out with seed 42,
    # at the same settings a copy of the answer. Now: answer 42, samples 43, 44, 45, 46.
    server.reject_n = True
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    r = await make_guard(SAMPLES).chat(Q, domain="qa", seed=42)
    assert r.values["consistency"] == 1.0
    # requests: the answer, the n=4 request the server rejects (HTTP 400), then 4 single ones
    answer_seed = server.requests[0]["seed"]
    rejected = [req for req in server.requests if req.get("n") == 4]
    singles = [req["seed"] for req in server.requests[1:] if "n" not in req]
    assert answer_seed == 42
    assert [req["seed"] for req in rejected] == [43]
    assert sorted(singles) == [43, 44, 45, 46]  # distinct, and none is the answer's 42


async def test_sample_call_with_n_uses_a_seed_other_than_the_answer_seed(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    await make_guard(SAMPLES).chat(Q, domain="qa", seed=7)
    answer_req, sample_req = server.requests
    assert answer_req["seed"] == 7 and "n" not in answer_req
    assert sample_req["n"] == 4 and sample_req["seed"] == 8


async def test_no_seed_given_sends_no_seed(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    await make_guard(SAMPLES).chat(Q, domain="qa")
    assert all("seed" not in req for req in server.requests)


async def test_refusing_samples_never_agree_and_are_counted(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # 2 samples give the answer (one as a sentence), 2 decline: consistency = 2/4 = 0.5.
    server.answers = role_answers(
        answer="Paris.",
        samples=[
            "The capital of France is Paris.",
            "I'm sorry, but I can't help with that.",
            "Paris",
            "I don't know.",
        ],
    )
    r = await make_guard(SAMPLES).chat(Q, domain="qa")
    assert r.values["consistency"] == 0.5
    detail = next(s.detail for s in r.signals if s.name == "consistency")
    assert detail["non_answers"] == {"1": "refusal", "3": "dont_know"}
    assert detail["answer_kind"] == "answer"


async def test_restating_samples_do_not_make_a_cluster(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # Four samples that only restate the question were one cluster (consistency 1.0 for a shown
    # restatement). A restated question is a non-answer: the shown answer, itself a restatement,
    # agrees with nothing -> consistency 0 -> abstain.
    restated = "What is the capital of France?"
    server.answers = role_answers(answer=restated, samples=[restated])
    r = await make_guard(SAMPLES).chat(Q, domain="qa")
    assert r.values["consistency"] == 0.0
    assert r.status == "abstained"
    detail = next(s.detail for s in r.signals if s.name == "consistency")
    assert detail["answer_kind"] == "restatement"
    assert set(detail["non_answers"].values()) == {"restatement"}
