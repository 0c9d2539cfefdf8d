"""Guard end to end against the real-socket fake OpenAI server: signal plan, decisions, notices,
abstention, review hand-off, cost-aware skipping and failure handling.

Expected values are worked out by hand from the policy semantics (DESIGN.md: most severe matched
action wins; missing signals count as on_missing) and the signal definitions cited in
guardrail/sdk/signal_steps.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail import Guard
from guardrail.policy import Action
from guardrail.providers import AuthenticationError
from guardrail.sdk import GuardError

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
  rule hedged {
    when hedge_label == "hedged"
    then notice "The model sounded unsure."
  }
  otherwise notice "Check important facts."
}
"""


async def test_consistent_confident_answer_gets_the_otherwise_notice(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.\nConfidence: 90%", samples=["Paris."])
    r = await make_guard(QA).chat(Q, domain="qa")
    # consistency 4/4 = 1.0 (not < 0.5); 0.9 - 1.0 = -0.1 (not > 0.3); 0 hedges -> otherwise
    assert r.status == "answered" and r.action is Action.NOTICE
    assert r.answer == "Paris."
    assert r.raw_answer == "Paris.\nConfidence: 90%"
    assert r.text == "Paris.\n\nCheck important facts."
    assert r.values["consistency"] == 1.0 and r.values["verbalized"] == 0.9
    assert r.values["hedge_label"] == "neutral"
    # one answer call (with the inline instruction) + one n=4 sampling call
    assert r.cost.calls == 2 and len(server.requests) == 2
    assert "Confidence: NN%" in server.requests[0]["messages"][-1]["content"]
    assert server.requests[1]["n"] == 4 and server.requests[1]["temperature"] == 0.9
    assert "Confidence" not in server.requests[1]["messages"][-1]["content"]
    # fake server splits on spaces: "Paris.\nConfidence:", " 90%" = 2 tokens, + 4 samples x 1
    assert r.cost.input_tokens > 0 and r.cost.output_tokens == 2 + 4


async def test_inconsistent_samples_abstain(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(
        answer="Paris.\nConfidence: 90%", samples=["Lyon.", "Lyon.", "Paris.", "Marseille."]
    )
    r = await make_guard(QA).chat(Q, domain="qa")
    # 1 of 4 samples agrees with the shown answer -> consistency 0.25 < 0.5 -> abstain
    assert r.values["consistency"] == 0.25
    assert r.status == "abstained" and r.action is Action.ABSTAIN
    assert r.text == "I can't answer this reliably."
    assert r.answer == "Paris."  # kept for the application, not shown
    fired = {m.rule for m in r.decision.matched} if r.decision else set()
    assert fired == {"low_agreement", "stated_vs_sampled"}  # 0.9 - 0.25 = 0.65 > 0.3 too


async def test_answer_listing_every_sampled_answer_is_not_consistent(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # The shown answer hedges across all three sampled answers. Each sample's words are a subset
    # of it (token_set_ratio 1.0), so counting samples that "match" it gave consistency 4/4 and
    # a confident-looking pass. The answer joins the largest cluster it matches: Lyon (2 of 4).
    server.answers = role_answers(
        answer="It is Paris, Lyon or Marseille.\nConfidence: 90%",
        samples=["Lyon.", "Lyon.", "Paris.", "Marseille."],
    )
    r = await make_guard(QA).chat(Q, domain="qa")
    assert r.values["consistency"] == 0.5  # not < 0.5: no abstention
    # 0.9 - 0.5 = 0.4 > 0.3 -> review (was: 0.9 - 1.0 -> the otherwise notice)
    assert r.status == "pending_review" and r.action is Action.REVIEW
    fired = {m.rule for m in r.decision.matched} if r.decision else set()
    assert fired == {"stated_vs_sampled"}


async def test_review_holds_the_answer_and_queues_it(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(
        answer="Paris.\nConfidence: 95%", samples=["Paris.", "Lyon.", "Paris.", "Nice."]
    )
    guard = make_guard(QA)
    r = await guard.chat(Q, domain="qa", request_id="req-7")
    # consistency 2/4 = 0.5 (not < 0.5); 0.95 - 0.5 = 0.45 > 0.3 -> review
    assert r.status == "pending_review" and r.action is Action.REVIEW
    assert r.text == "A person will check this answer."
    assert r.review_id is not None
    item = guard.review_store.get(r.review_id)
    assert item.decision == "review" and item.request_id == "req-7"
    assert item.raw_answer == "Paris.\nConfidence: 95%"
    assert item.question == "What is the capital of France?"
    assert item.signals["consistency"] == 0.5
    # not holding: the answer is shown with the review note
    guard.hold_reviews = False
    r2 = await guard.chat(Q, domain="qa")
    assert r2.status == "pending_review" and r2.text.startswith("Paris.")


COSTLY = """
policy costly {
  on_missing review
  signals {
    samples 3 temperature 0.9
    verbalized inline
  }
  rule unsure {
    when verbalized < 0.3
    then abstain "Too unsure."
  }
  rule unstable {
    when consistency < 0.6
    then review "Check it."
  }
}
"""


async def test_expensive_signal_skipped_when_it_cannot_change_the_action(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Maybe Paris.\nConfidence: 20%")
    r = await make_guard(COSTLY).chat(Q)
    # verbalized 0.2 < 0.3 -> abstain, the most severe action: consistency cannot change it
    assert r.action is Action.ABSTAIN
    rep = r.signal("consistency")
    assert rep is not None and rep.status == "skipped"
    assert len(server.requests) == 1 and r.cost.calls == 1


async def test_expensive_signal_computed_when_it_can_change_the_action(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.\nConfidence: 90%", samples=["Lyon."])
    r = await make_guard(COSTLY).chat(Q)
    assert r.signal("consistency").status == "computed"  # type: ignore[union-attr]
    assert r.values["consistency"] == 0.0 and r.action is Action.REVIEW
    assert len(server.requests) == 2


async def test_one_failed_sample_degrades_consistency_instead_of_failing(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.\nConfidence: 90%", samples=["Paris."])
    # request 1 = answer; requests 2-5 = the 4 single-sample calls; the 2nd sample gets a 500
    server.faults.extend([Fault.ok(), Fault.ok(), Fault.status(500)])
    guard = make_guard(QA, provider_kw={"supports_n": False, "max_retries": 0})
    r = await guard.chat(Q)
    rep = r.signal("consistency")
    assert rep is not None and rep.status == "computed"
    assert rep.value == 0.75  # 3 of 4 agree; the failed sample counts as disagreeing
    assert "1 of 4 samples missing" in (rep.reason or "")
    assert rep.detail["failed"] == 1
    assert r.status == "answered"  # 0.9 - 0.75 = 0.15, not > 0.3


async def test_all_samples_failing_follows_on_missing(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.\nConfidence: 90%")
    server.faults.extend([Fault.ok()] + [Fault.status(503)] * 4)
    guard = make_guard(QA, provider_kw={"supports_n": False, "max_retries": 0})
    r = await guard.chat(Q)
    assert r.signal("consistency").status == "missing"  # type: ignore[union-attr]
    assert r.decision is not None and "consistency" in r.decision.missing
    # both rules reading consistency count as on_missing (review); no exception
    assert r.action is Action.REVIEW and r.status == "pending_review"
    with pytest.raises(GuardError, match="sampling"):
        server.faults.extend([Fault.ok()] + [Fault.status(503)] * 4)
        strict = make_guard(QA, provider_kw={"supports_n": False, "max_retries": 0}, strict=True)
        await strict.chat(Q)


async def test_401_is_an_auth_error_never_an_abstention(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.api_key = "the-right-key"
    guard = make_guard(QA, provider_kw={"api_key": "a-wrong-key"})
    with pytest.raises(AuthenticationError):
        await guard.chat(Q)


async def test_failed_answer_call_returns_failed_status_or_raises_in_strict_mode(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.faults.extend([Fault.status(500)] * 2)
    r = await make_guard(QA, provider_kw={"max_retries": 1}).chat(Q)
    assert r.status == "failed" and r.decision is None and r.action is None
    assert r.error is not None and r.error.startswith("ServerError")
    assert r.text.startswith("Sorry")
    server.faults.extend([Fault.status(500)] * 2)
    with pytest.raises(GuardError, match="answer call"):
        await make_guard(QA, provider_kw={"max_retries": 1}, strict=True).chat(Q)


async def test_whole_guard_timeout_makes_slow_signals_missing(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.\nConfidence: 90%")
    server.faults.extend([Fault.ok(), Fault.hang(6.0)])  # the sampling call hangs
    r = await make_guard(QA, timeout=2.0).chat(Q)
    rep = r.signal("consistency")
    assert rep is not None and rep.status == "missing" and "timeout" in (rep.reason or "")
    assert r.action is Action.REVIEW  # on_missing
    assert r.answer == "Paris."


ENSEMBLE = """
policy ens {
  signals {
    ensemble "m1", "m2" weights 1, 3
  }
  rule disagree {
    when agreement < 0.6
    then review "Models disagree."
  }
}
"""


async def test_ensemble_models_called_concurrently_and_weighted(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.latency = 0.2
    server.answers = role_answers(answer="Paris.", by_model={"m1": "Paris.", "m2": "Lyon."})
    r = await make_guard(ENSEMBLE).chat(Q)
    # answer (weight 1) + m1 (1) agree, m2 (3) dissents: agreement = 2 / 5 = 0.4 < 0.6
    assert r.values["agreement"] == pytest.approx(0.4)
    assert r.action is Action.REVIEW
    assert {q["model"] for q in server.requests} == {"main-model", "m1", "m2"}
    assert server.max_active == 2  # m1 and m2 in flight together


LOGPROBS = """
policy lp {
  signals {
    logprobs
    verbalized inline
  }
  rule low_prob {
    when logprob_confidence < 0.5
    then notice "Low token probability."
  }
  rule unsure {
    when verbalized < 0.5
    then notice "The model says it is unsure."
  }
}
"""


async def test_logprob_confidence_from_the_answer_tokens(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = ["Paris is the capital.\nConfidence: 90%"]
    server.token_logprob = -1.0
    r = await make_guard(LOGPROBS).chat(Q)
    # geometric mean of token probabilities = exp(mean logprob) = exp(-1) = 0.3679
    assert r.values["logprob_confidence"] == pytest.approx(0.36788, abs=1e-4)
    assert r.notices == ["Low token probability."]
    assert r.text == "Paris is the capital.\n\nLow token probability."
    # the four tokens of the answer; the confidence line's tokens are left out
    assert r.signal("logprob_confidence").detail["n_tokens"] == 4  # type: ignore[union-attr]
    assert server.requests[0]["logprobs"] is True
    assert r.cost.calls == 1


FOLLOWUP = """
policy fu {
  signals {
    verbalized followup
  }
  rule unsure {
    when verbalized < 0.5
    then abstain "Not sure enough."
  }
}
"""


async def test_followup_verbalized_and_unparseable_reply(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.", followup="Confidence: 30%")
    r = await make_guard(FOLLOWUP).chat(Q)
    assert r.values["verbalized"] == 0.3 and r.action is Action.ABSTAIN and r.cost.calls == 2
    follow = server.requests[1]["messages"]
    assert follow[-2] == {"role": "assistant", "content": "Paris."}
    # a reply with no confidence in it: verbalized is missing, on_missing (default review) applies
    server.answers = role_answers(answer="Paris.", followup="I like turtles.")
    r2 = await make_guard(FOLLOWUP).chat(Q)
    assert r2.signal("verbalized").status == "missing"  # type: ignore[union-attr]
    assert r2.action is Action.REVIEW


async def test_sync_twin_and_bad_domain(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.\nConfidence: 90%")
    guard = make_guard(QA)
    r = guard.chat_sync(Q, domain="qa")  # called on the running loop's own thread
    assert r.status == "answered"
    with pytest.raises(ValueError, match="known domains: qa"):
        await guard.chat(Q, domain="legal")


SPOT = """
policy spot {
  spot_check 100%
  rule never {
    when hedge_label == "hedged"
    then notice "Unsure."
  }
}
"""


async def test_spot_check_from_policy_setting(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    guard = make_guard(SPOT, spot_check=True)
    r = await guard.chat(Q, request_id="r1")
    # spot_check 100%: every non-review answer is sampled, with inclusion probability 1
    assert r.status == "answered" and r.review_id is None and r.spot_check_id is not None
    item = guard.review_store.get(r.spot_check_id)
    assert item.reason.value == "spot_check" and item.sampling_rate == 1.0
    assert item.answer_shown == "Paris."
    r2 = await make_guard(SPOT).chat(Q)  # off by default
    assert r2.spot_check_id is None


async def test_empty_answer_is_a_failure_not_an_answer(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # the model answered only with the confidence line: nothing is left to show
    server.answers = ["Confidence: 90%"]
    r = await make_guard(QA).chat(Q)
    assert r.status == "failed" and r.error is not None
    assert r.error.startswith("ResponseFormatError: the model returned an empty answer")
    assert r.raw_answer == ""  # nothing shown; the raw reply is quoted in the error


async def test_failed_calls_count_every_retry(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.faults.extend([Fault.status(500)] * 3)
    r = await make_guard(QA, provider_kw={"max_retries": 2}).chat(Q)
    assert r.status == "failed" and r.cost.calls == 3 == len(server.requests)


async def test_review_item_carries_policy_file_hash(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    import hashlib

    from guardrail.providers import OpenAICompatProvider

    f = tmp_path / "strict.guard"
    f.write_text(
        'policy strict {\n  rule always {\n    when hedge_label != "hedged"\n'
        '    then review "Checked by a person."\n  }\n}\n'
    )
    guard = Guard.from_policies(f, OpenAICompatProvider(server.base_url, model="m"))
    r = await guard.chat(Q)
    assert r.status == "pending_review" and r.review_id is not None
    item = guard.review_store.get(r.review_id)
    assert item.policy_version == hashlib.sha256(f.read_bytes()).hexdigest()[:12]


async def test_inline_answer_that_is_an_option_percentage_is_kept_and_not_read_as_confidence(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # The answer "69%" is option B of the question: it is the answer, not a stated confidence
    # (the SDK passes the user's question to the parser and the stripper). The stated 80% is
    # the confidence. consistency 4/4 = 1.0; 0.8 - 1.0 < 0.3; no hedge -> otherwise notice.
    # Without the question, "69%" would be stripped (empty answer) and read as a second,
    # conflicting confidence.
    q = [{"role": "user", "content": "Share of adults who vote? A. 59% B. 69% C. 79%"}]
    server.answers = role_answers(answer="69%\nConfidence: 80%", samples=["69%"])
    r = await make_guard(QA).chat(q, domain="qa")
    assert r.answer == "69%"
    assert r.values["verbalized"] == 0.8 and r.values["consistency"] == 1.0
    assert r.status == "answered" and r.action is Action.NOTICE


async def test_profile_broken_after_check_makes_calibrated_missing_not_an_exception(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    # The profile was valid when the policy was checked, then replaced by junk before the first
    # guarded call. `calibrated` is missing (reason names the profile), on_missing review
    # applies to the rule reading it, and the host application gets a response, not a raise.
    from guardrail.policy import parse_policy
    from guardrail.providers import OpenAICompatProvider
    from tests.policy.helpers import profile_json

    prof = tmp_path / "cal.json"
    prof.write_text(profile_json(domain="cal"), encoding="utf-8")
    text = (
        'policy cal {\n  calibration "cal.json"\n  on_missing review\n'
        "  signals {\n    verbalized inline\n  }\n"
        '  rule weak {\n    when calibrated < 0.5\n    then abstain "no"\n  }\n'
        '  otherwise notice "ok"\n}\n'
    )
    policy = parse_policy(text, "cal.guard", base_dir=tmp_path)
    prof.write_text('{"source": "verbalized"}', encoding="utf-8")
    server.answers = role_answers(answer="Paris.\nConfidence: 90%")
    guard = Guard({"cal": policy}, OpenAICompatProvider(server.base_url, model="m"))
    r = await guard.chat(Q, domain="cal")
    assert r.action is Action.REVIEW and r.status == "pending_review"
    (report,) = [s for s in r.signals if s.name == "calibrated"]
    assert report.status == "missing"
    assert report.reason is not None
    assert report.reason.startswith("calibration profile unusable: ")
    assert "not a calibration profile" in report.reason
