"""Evaluator semantics (DESIGN.md "Semantics that must hold"), worked out by hand."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.policy import MISSING_NOTICE, Action, Decision, parse_policy
from tests.policy.strategies import assignments, policies

POLICY = """policy demo {
  on_missing review
  knowledge_cutoff "2024-06"
  signals {
    samples 5
    verbalized
  }
  rule weak {
    when consistency < 70%
    then notice "only {consistency:.0%} agreed"
  }
  rule hedged {
    when hedges >= 2
    then notice "hedged with {hedges} cues"
  }
  rule gap {
    when verbalized - consistency > 0.30
    then review "stated {verbalized:.0%} vs sampled {consistency:.0%}"
  }
  rule split {
    when consistency < 40% or stakes == "high" and consistency < 90%
    then abstain "cannot answer reliably"
  }
  otherwise pass "through {knowledge_cutoff} via {model}"
}
"""

P = parse_policy(POLICY)


def test_action_order_and_values() -> None:
    assert Action.PASS < Action.NOTICE < Action.REVIEW < Action.ABSTAIN
    assert [a.value for a in Action] == ["pass", "notice", "review", "abstain"]
    assert max(Action.NOTICE, Action.REVIEW) is Action.REVIEW
    assert Action("abstain").severity == 3


def test_needed_signals() -> None:
    assert P.needed_signals() == frozenset({"consistency", "hedges", "verbalized", "stakes"})


def test_most_severe_action_wins_and_notices_keep_rule_order() -> None:
    # consistency 0.55 < 0.7 (weak), hedges 3 >= 2 (hedged), 0.95 - 0.55 = 0.40 > 0.30 (gap),
    # split: 0.55 >= 0.40 and stakes is low -> false.
    d = P.evaluate({"consistency": 0.55, "verbalized": 0.95, "hedges": 3, "stakes": "low"})
    assert d.action is Action.REVIEW
    assert [m.rule for m in d.matched] == ["weak", "hedged", "gap"]
    assert d.message == "stated 95% vs sampled 55%"
    assert d.notices == ["only 55% agreed", "hedged with 3 cues"]
    assert d.missing == [] and not d.otherwise_applied
    assert d.matched[2].values == {"verbalized": 0.95, "consistency": 0.55}
    assert d.matched[1].values == {"hedges": 3}


def test_values_show_only_the_true_side_of_or() -> None:
    # split: consistency 0.85 is not < 0.40, but stakes high and 0.85 < 0.90 -> true
    d = P.evaluate({"consistency": 0.85, "verbalized": 0.9, "hedges": 0, "stakes": "high"})
    assert d.action is Action.ABSTAIN
    (split,) = [m for m in d.matched if m.rule == "split"]
    assert split.values == {"stakes": "high", "consistency": 0.85}


def test_arithmetic_is_decimal_exact_at_the_threshold() -> None:
    # 0.85 - 0.55 is 0.30000000000000004 in binary floating point; as written it is 0.30,
    # which is not > 0.30, so gap must not fire.
    d = P.evaluate({"consistency": 0.55, "verbalized": 0.85, "hedges": 0, "stakes": "low"})
    assert [m.rule for m in d.matched] == ["weak"]
    assert d.action is Action.NOTICE


def test_otherwise_renders_setting_and_context_placeholders() -> None:
    values = {"consistency": 0.95, "verbalized": 0.9, "hedges": 0, "stakes": "low"}
    d = P.evaluate(values)
    assert d.action is Action.PASS and d.otherwise_applied and d.matched == []
    assert d.message == "through 2024-06 via unknown"
    d = P.evaluate(values, context={"model": "smollm2", "knowledge_cutoff": "2023-12"})
    assert d.message == "through 2023-12 via smollm2"


def test_missing_signal_counts_as_on_missing_and_is_named() -> None:
    d = P.evaluate({"verbalized": 0.5, "hedges": 0, "stakes": "low"})
    # weak and gap read consistency -> unknown -> review; split: `consistency < 0.4 or
    # (stakes == "high" and ...)` = unknown or false = unknown -> review.
    assert d.action is Action.REVIEW
    assert [m.rule for m in d.matched] == ["weak", "gap", "split"]
    assert all(m.action is Action.REVIEW and m.missing == ["consistency"] for m in d.matched)
    assert d.missing == ["consistency"]
    assert "missing consistency" in d.explain()


def test_kleene_logic_decides_despite_missing() -> None:
    policy = parse_policy("""policy k {
  on_missing abstain
  signals {
    samples 5
  }
  rule any_hedge {
    when consistency < 0.7 or hedges == 0
    then notice
  }
  rule both {
    when consistency < 0.7 and hedges == 0
    then review
  }
}""")
    # hedges 0: `missing or true` is true (notice); `missing and true` is unknown (abstain)
    d = policy.evaluate({"hedges": 0})
    assert [(m.rule, m.action, m.missing) for m in d.matched] == [
        ("any_hedge", Action.NOTICE, []),
        ("both", Action.ABSTAIN, ["consistency"]),
    ]
    # hedges 2: `missing or false` is unknown (abstain); `missing and false` is false
    d = policy.evaluate({"hedges": 2})
    assert [(m.rule, m.action) for m in d.matched] == [("any_hedge", Action.ABSTAIN)]
    assert d.missing == ["consistency"]


def test_on_missing_pass_means_undecided_rules_do_not_fire() -> None:
    policy = parse_policy("""policy p {
  on_missing pass
  signals {
    samples 5
  }
  rule weak {
    when consistency < 0.7
    then review
  }
  otherwise notice "fallback"
}""")
    d = policy.evaluate({})
    assert d.action is Action.NOTICE and d.otherwise_applied and d.matched == []
    assert d.missing == ["consistency"] and d.notices == ["fallback"]


def test_no_otherwise_means_pass() -> None:
    policy = parse_policy("""policy p {
  signals {
    samples 5
  }
  rule weak {
    when consistency < 0.7
    then review
  }
}""")
    d = policy.evaluate({"consistency": 0.9})
    assert d.action is Action.PASS and not d.otherwise_applied and d.message is None


def test_invalid_values_are_treated_as_missing_never_raised() -> None:
    base = {"verbalized": 0.5, "hedges": 0, "stakes": "low"}
    for bad, why in [
        ("high", "expected a number, got str"),
        (1.5, "1.5 is outside [0, 1]"),
        (math.nan, "NaN"),
        (True, "expected a number, got bool"),
    ]:
        d = P.evaluate({**base, "consistency": bad})
        assert d.invalid == {"consistency": why}
        assert d.missing == ["consistency"]
        assert d.action is Action.REVIEW  # on_missing
    d = P.evaluate({**base, "consistency": 0.5, "hedges": 2.5})
    assert d.invalid == {"hedges": "2.5 is not a whole count"}
    d = P.evaluate({**base, "consistency": 1 + 1e-12, "stakes": " HIGH "})
    assert d.invalid == {} and d.missing == []
    # clamped to 1.0 and normalised to "high": split is false (1.0 is not < 0.9)
    assert d.action is Action.PASS


def test_infinite_counts_and_huge_integers_are_invalid_not_a_crash() -> None:
    # int(inf) raised OverflowError in the count check and float(10**400) in the range check,
    # so evaluate() crashed on these values (a replayed log can hold them) instead of treating
    # them as missing
    base = {"verbalized": 0.5, "hedges": 0, "stakes": "low", "consistency": 0.5}
    d = P.evaluate({**base, "hedges": math.inf})
    assert d.invalid == {"hedges": "inf is not a whole count"} and d.action is Action.REVIEW
    d = P.evaluate({**base, "consistency": 10**400})
    assert d.invalid == {"consistency": "a 401-digit integer is outside [0, 1]"}
    d = P.evaluate({**base, "hedges": 10**400})  # a whole number >= 0: a valid count
    assert d.invalid == {}
    d = P.evaluate({**base, "hedges": 3.0})  # a whole float is a count
    assert d.invalid == {}


def test_signal_value_problem_matches_what_evaluate_treats_as_invalid() -> None:
    from guardrail.policy.evaluator import signal_value_problem

    cases: list[tuple[str, object, str | None]] = [
        ("verbalized", "0.9", "expected a number, got str"),
        ("verbalized", 0.9, None),
        ("verbalized", True, "expected a number, got bool"),
        ("consistency", math.nan, "NaN"),
        ("hedges", 2.5, "2.5 is not a whole count"),
        ("hedges", -1, "-1 is outside [0, inf]"),
        ("stakes", " HIGH ", None),
        ("stakes", "extreme", "'extreme' is not one of low, medium, high"),
        ("stakes", 3, "expected a string, got int"),
        ("domain", "anything", None),
        ("not_a_signal", object(), None),
    ]
    for name, value, want in cases:
        assert signal_value_problem(name, value) == want, (name, value)
        if name in ("verbalized", "consistency", "hedges", "stakes"):
            d = P.evaluate({"verbalized": 0.5, "hedges": 0, "stakes": "low",
                            "consistency": 0.5, name: value})  # fmt: skip
            assert (name in d.invalid) == (want is not None)


def test_unrelated_keys_are_ignored() -> None:
    d = P.evaluate(
        {
            "consistency": 0.95,
            "verbalized": 0.9,
            "hedges": 0,
            "stakes": "low",
            "agreement": "garbage",
            "whatever": 1,
        }
    )
    assert d.action is Action.PASS and d.invalid == {}


def test_message_uses_braces_and_count_values() -> None:
    policy = parse_policy("""policy p {
  rule r {
    when hedges > 1
    then notice "{{literal}} {hedges} cues in {domain}"
  }
}""")
    d = policy.evaluate({"hedges": 4, "domain": "medical"})
    assert d.notices == ["{literal} 4 cues in medical"]


def test_explain_mentions_every_reason() -> None:
    d = P.evaluate({"consistency": 0.55, "verbalized": 0.95, "hedges": 3, "stakes": "low"})
    text = d.explain()
    assert text.splitlines()[0] == "REVIEW (policy demo)"
    assert "rule gap (line 16) -> review: because verbalized=0.95, consistency=0.55" in text
    assert "notice: hedged with 3 cues" in text


def test_decision_round_trips_through_json() -> None:
    d = P.evaluate({"consistency": 0.55, "verbalized": 0.95, "hedges": 3, "stakes": "low"})
    again = Decision.model_validate_json(d.model_dump_json())
    assert again == d and again.action is Action.REVIEW


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_rule_order_never_changes_the_action(data: st.DataObject) -> None:
    policy = data.draw(policies())
    names = sorted(policy.needed_signals())
    values = data.draw(assignments(names))
    order = data.draw(st.permutations(range(len(policy.rules))))
    shuffled = policy.model_copy(update={"rules": [policy.rules[i] for i in order]})
    a, b = policy.evaluate(values), shuffled.evaluate(values)
    assert a.action is b.action
    assert {m.rule for m in a.matched} == {m.rule for m in b.matched}
    assert sorted(a.notices) == sorted(b.notices)
    assert a.missing == b.missing and a.otherwise_applied == b.otherwise_applied


def test_policy_is_immutable_and_copies_recompile() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        P.on_missing = Action.PASS  # type: ignore[misc]
    values = {"verbalized": 0.5, "hedges": 0, "stakes": "low"}  # consistency missing
    assert P.evaluate(values).action is Action.REVIEW
    lenient = P.model_copy(update={"on_missing": Action.PASS})
    assert lenient.evaluate(values).action is Action.PASS  # otherwise pass
    assert P.evaluate(values).action is Action.REVIEW  # the original is untouched
    only_split = P.model_copy(update={"rules": [r for r in P.rules if r.name == "split"]})
    d = only_split.evaluate({"consistency": 0.55, "verbalized": 0.95, "hedges": 3})
    assert d.action is Action.REVIEW and [m.rule for m in d.matched] == ["split"]
    assert d.matched[0].missing == ["stakes"]


def test_undecided_rules_do_not_show_their_own_messages() -> None:
    # Bundled-policy shape (general.guard): sampling failed, so consistency is missing. The
    # abstain rule's text ("the samples disagreed") and the notice's "only {consistency:.0%}
    # agreed" describe conditions that were never established; showing them with the answer
    # told users something false ("only unknown of sampled answers agreed").
    policy = parse_policy("""policy g {
  on_missing notice
  signals {
    samples 5
  }
  rule guessing {
    when consistency < 40%
    then abstain "the model's answers disagreed with each other"
  }
  rule weak {
    when consistency < 70%
    then notice "only {consistency:.0%} of sampled answers agreed"
  }
  rule hedged {
    when hedges >= 2
    then notice "the model sounded unsure"
  }
}""")
    d = policy.evaluate({"hedges": 0})
    # guessing and weak are unknown -> on_missing notice; hedged is false.
    assert d.action is Action.NOTICE
    assert [(m.rule, m.action, m.message) for m in d.matched] == [
        ("guessing", Action.NOTICE, None),
        ("weak", Action.NOTICE, None),
    ]
    assert d.message is None
    assert d.notices == [MISSING_NOTICE]  # once, however many rules were undecided
    # A rule that fired keeps its message, before or after the generic notice (file order).
    d = policy.evaluate({"hedges": 3})
    assert d.notices == [MISSING_NOTICE, "the model sounded unsure"]
    assert d.message == "the model sounded unsure"


def test_decision_message_comes_from_a_rule_that_fired() -> None:
    # demo policy, on_missing review. consistency missing: weak, gap, split are undecided ->
    # review; no rule fired, so there is no message (the SDK shows its default review text),
    # not split's "cannot answer reliably" (an abstain text on a review decision).
    d = P.evaluate({"verbalized": 0.5, "hedges": 0, "stakes": "low"})
    assert d.action is Action.REVIEW and d.message is None and d.notices == []
    # verbalized 0.95, consistency missing, hedges 3: hedged fires (notice); gap undecided
    # (review) -> review, still without a message; the fired notice is kept.
    d = P.evaluate({"verbalized": 0.95, "hedges": 3, "stakes": "low"})
    assert d.action is Action.REVIEW and d.message is None
    assert d.notices == ["hedged with 3 cues"]
