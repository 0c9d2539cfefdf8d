"""Guard(eager_samples=True): the samples call starts together with the answer call.

Checked structurally on the fake server: `max_active` is the largest number of requests in
flight at once. Each reply waits `latency` (0.4 s), so sequential calls never overlap (1) and
concurrent ones do (2). Decisions are the same either way (worked out by hand below).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from servers.fake_openai import FakeOpenAIServer, role_answers
from task_leaks import guardrail_tasks

from guardrail import Guard
from guardrail.policy import Action

Q = [{"role": "user", "content": "What is the capital of France?"}]

SAMPLED = """
policy qa {
  signals {
    samples 4 temperature 0.9
  }
  rule split {
    when consistency < 0.5
    then abstain "I can't answer this reliably."
  }
  otherwise pass
}
"""

# consistency matters only for a hedged answer: for an unhedged one the plan skips it
CONDITIONAL = """
policy qa {
  signals {
    samples 4 temperature 0.9
    hedges "default"
  }
  rule unsure {
    when hedge_label == "hedged" and consistency < 0.5
    then abstain "I can't answer this reliably."
  }
  otherwise pass
}
"""


@pytest.mark.parametrize(("eager", "overlap"), [(False, 1), (True, 2)])
async def test_samples_run_with_the_answer_only_when_eager(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], eager: bool, overlap: int
) -> None:
    server.latency = 0.4
    # 1 of 4 samples equals the answer -> consistency 0.25 < 0.5 -> abstain, either way
    server.answers = role_answers(answer="Paris.", samples=["Paris.", "Lyon.", "Nice.", "Lille."])
    r = await make_guard(SAMPLED, eager_samples=eager).chat(Q, domain="qa")
    assert r.action is Action.ABSTAIN and r.values["consistency"] == 0.25
    assert server.max_active == overlap
    assert r.cost.calls == 2
    cons = r.signal("consistency")
    assert cons is not None and cons.calls == 1  # the n=4 request, attributed once


async def test_unused_eager_samples_are_skipped_and_not_counted(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris is the capital.", samples=["Lyon."])
    r = await make_guard(CONDITIONAL, eager_samples=True).chat(Q, domain="qa")
    # unhedged answer: `hedge_label == "hedged"` is false, consistency cannot change the action
    assert r.action is Action.PASS and r.values["hedge_label"] != "hedged"
    cons = r.signal("consistency")
    assert cons is not None and cons.status == "skipped"
    # the eager n=4 request was sent with the answer: it counts as a call, used or not
    assert "consistency" not in r.values and r.cost.calls == 2


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
async def test_unused_eager_samples_in_flight_are_finished_before_chat_returns(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # the eager n=4 request gets no reply until its client goes away (`hold`): when the plan
    # skips consistency, chat() must cancel it *and wait for the cancellation*, so no task of
    # the guard outlives the call (before: a cancelled-but-pending task; a loop closed right
    # after destroyed it mid-connect: "coroutine ... was never awaited", unclosed sockets)
    server.answers = role_answers(answer="Paris is the capital.", samples=["Lyon."])
    server.hold = lambda body: body.get("n") == 4
    guard = make_guard(CONDITIONAL, eager_samples=True)
    try:
        r = await guard.chat(Q, domain="qa")
        assert r.action is Action.PASS and r.signal("consistency").status == "skipped"  # type: ignore[union-attr]
        assert guardrail_tasks() == []  # nothing of the chat still runs
        assert r.cost.calls == 2  # the held request was sent: it counts
    finally:
        await guard.aclose()
        server.release_held()
