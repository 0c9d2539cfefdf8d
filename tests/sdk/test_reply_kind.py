"""The SDK's ``reply_kind`` signal: computed locally from the shown answer (no model call), so a
policy can treat a declined answer differently from a wrong one (docs/policy-language.md).

Expected kinds follow from the rules in guardrail/signals/nonanswer.py; call counts from the
cost-aware plan (a rule decided by a tier-0 signal needs no samples)."""

from __future__ import annotations

from collections.abc import Callable

from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail import Guard
from guardrail.policy import Action

Q = [{"role": "user", "content": "What is the first-line treatment for anaphylaxis?"}]

POLICY = """
policy clinic {
  on_missing review
  signals {
    samples 4 temperature 0.9
  }
  rule declined {
    when reply_kind == "refusal" or reply_kind == "dont_know"
    then notice "The model did not answer; please ask a clinician."
  }
  rule not_an_answer {
    when reply_kind == "restatement"
    then abstain "No answer available."
  }
  rule low_agreement {
    when reply_kind == "answer" and consistency < 0.5
    then abstain "I can't answer this reliably."
  }
}
"""


async def test_a_refusal_is_shown_with_the_notice_and_costs_no_samples(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="I'm sorry, but I can't provide medical advice.")
    r = await make_guard(POLICY).chat(Q, domain="clinic")
    assert r.values["reply_kind"] == "refusal"
    assert r.action is Action.NOTICE and r.status == "answered"
    assert r.text == (
        "I'm sorry, but I can't provide medical advice.\n\n"
        "The model did not answer; please ask a clinician."
    )
    # reply_kind (tier 0) decides every rule: low_agreement is false without consistency
    assert r.cost.calls == 1 and len(server.requests) == 1
    report = next(s for s in r.signals if s.name == "reply_kind")
    assert report.status == "computed"


async def test_a_restated_question_abstains(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="The first-line treatment for anaphylaxis is")
    r = await make_guard(POLICY).chat(Q, domain="clinic")
    assert r.values["reply_kind"] == "restatement"
    assert r.status == "abstained" and r.text == "No answer available."


async def test_an_answer_still_needs_agreement(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(
        answer="Epinephrine.", samples=["Epinephrine.", "Antihistamines.", "Steroids.", "Oxygen."]
    )
    r = await make_guard(POLICY).chat(Q, domain="clinic")
    # 1 of 4 samples agrees with the shown answer: consistency 0.25 < 0.5 -> abstain
    assert r.values["reply_kind"] == "answer"
    assert r.values["consistency"] == 0.25 and r.action is Action.ABSTAIN
