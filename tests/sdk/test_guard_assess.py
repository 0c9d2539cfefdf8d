"""Guard.assess: judging an answer made elsewhere with the same plan as Guard.chat.

Expected values by hand from the policy semantics (most severe matched action wins) and the
fake server's replies (tests/servers/fake_openai.py, `role_answers`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail import Guard
from guardrail.policy import Action
from guardrail.providers import Choice, TokenLogprob

Q = [{"role": "user", "content": "What is the capital of France?"}]

QA = """
policy qa {
  on_missing review
  signals {
    samples 4 temperature 0.9
    verbalized inline
  }
  rule low_agreement {
    when consistency < 0.5
    then abstain "I can't answer this reliably."
  }
  rule stated_vs_sampled {
    when verbalized - consistency > 0.3
    then review "A person will check this answer."
  }
  otherwise notice "Check important facts."
}
"""


async def test_assess_makes_no_answer_call_and_judges_the_given_answer(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # samples: 1 of 4 says "Paris." -> consistency 1/4 = 0.25 < 0.5 -> abstain
    server.answers = role_answers(
        answer="SHOULD NOT BE ASKED", samples=["Paris.", "Lyon.", "Nice.", "Lille."]
    )
    r = await make_guard(QA).assess(Q, "Paris.", domain="qa")
    assert r.status == "abstained" and r.action is Action.ABSTAIN
    assert r.values["consistency"] == 0.25
    assert r.answer == "Paris." and r.raw_answer == "Paris."
    # no answer call (the only call without a temperature): the verbalized follow-up
    # (temperature 0, the cheaper tier, first) and one n=4 sampling call at 0.9
    assert [(b.get("n"), b.get("temperature")) for b in server.requests] == [(None, 0.0), (4, 0.9)]
    assert r.cost.calls == 2
    assert server.requests[1]["messages"] == Q  # samples: the user's question, nothing added


async def test_assess_gets_verbalized_from_a_followup_even_for_an_inline_policy(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # consistency 4/4 = 1.0; follow-up says 80% -> 0.8 - 1.0 = -0.2, not > 0.3 -> otherwise notice
    server.answers = role_answers(samples=["Paris."], followup="Confidence: 80%")
    r = await make_guard(QA).assess(Q, "Paris.", domain="qa")
    assert r.status == "answered" and r.action is Action.NOTICE
    assert r.text == "Paris.\n\nCheck important facts."
    assert r.values["verbalized"] == 0.8 and r.values["consistency"] == 1.0
    # follow-up call + sampling call, no answer call
    assert r.cost.calls == 2 and len(server.requests) == 2
    followup = server.requests[0]["messages"]
    assert followup[-2] == {"role": "assistant", "content": "Paris."}


async def test_assess_with_logprobs_in_a_choice(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    policy = """
policy lp {
  signals {
    logprobs
  }
  rule unsure {
    when logprob_confidence < 0.5
    then review "check"
  }
  otherwise pass
}
"""
    # two tokens with log-prob ln(0.25): the geometric-mean token probability is 0.25 < 0.5
    lp = -1.3862943611198906
    toks = [TokenLogprob(token=t, logprob=lp) for t in ("Par", "is.")]
    r = await make_guard(policy).assess(
        Q, Choice(index=0, text="Paris.", logprobs=toks), domain="lp"
    )
    assert r.action is Action.REVIEW and r.status == "pending_review"
    assert r.values["logprob_confidence"] == pytest.approx(0.25)
    assert r.cost.calls == 0 and server.requests == []


async def test_assess_rejects_an_empty_answer(make_guard: Callable[..., Guard]) -> None:
    with pytest.raises(ValueError, match="empty"):
        await make_guard(QA).assess(Q, "  ", domain="qa")
    with pytest.raises(ValueError, match="known domains: qa"):
        await make_guard(QA).assess(Q, "Paris.", domain="nope")


async def test_assess_of_an_answer_still_being_made_samples_meanwhile(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    import asyncio

    server.answers = role_answers(samples=["Paris."], followup="Confidence: 80%")
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(make_guard(QA, eager_samples=True).assess(Q, answer, domain="qa"))
    for _ in range(500):  # wait (bounded) until the guard's first request reached the server
        if server.requests:
            break
        await asyncio.sleep(0.01)
    # before the answer exists, the only request is the n=4 sampling call
    assert [b.get("n") for b in server.requests] == [4] and not task.done()
    answer.set_result("Paris.")
    r = await task
    # then the follow-up on the finished answer: 0.8 - 1.0 = -0.2 -> otherwise notice
    assert r.action is Action.NOTICE and r.values["consistency"] == 1.0
    assert r.values["verbalized"] == 0.8 and r.cost.calls == 2


async def test_assess_of_a_broken_or_empty_answer_source_fails(
    make_guard: Callable[..., Guard],
) -> None:
    import asyncio

    guard = make_guard(QA, eager_samples=True)
    broken: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    broken.set_exception(ConnectionError("stream cut"))
    r = await guard.assess(Q, broken, domain="qa")
    assert r.status == "failed" and r.error == "ConnectionError: stream cut"
    empty: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    empty.set_result("   ")
    r = await guard.assess(Q, empty, domain="qa")
    assert r.status == "failed" and r.error == "ResponseFormatError: the answer is empty"
