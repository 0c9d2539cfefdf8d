"""Cost-aware evaluation: ``Policy.signals_that_matter`` (DESIGN.md "cost-aware evaluation")."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.policy import Action, load_policy
from tests.policy.helpers import POLICIES
from tests.policy.strategies import assignments, candidate_values, policies

MEDICAL = load_policy(POLICIES / "medical.guard")
FINANCE = load_policy(POLICIES / "finance.guard")


def test_nothing_known_means_every_needed_signal_may_matter() -> None:
    assert MEDICAL.signals_that_matter({}) == MEDICAL.needed_signals()


def test_everything_known_means_nothing_left_to_compute() -> None:
    known = {"consistency": 0.9, "verbalized": 0.5, "hedges": 1, "reply_kind": "answer"}
    assert MEDICAL.signals_that_matter(known) == frozenset()


def test_abstain_from_cheap_signals_makes_sampling_pointless() -> None:
    # medical: consistency 0.5 < 0.70 fires low_agreement -> abstain, the top action
    assert MEDICAL.signals_that_matter({"consistency": 0.5}) == frozenset()


def test_review_floor_only_higher_actions_matter() -> None:
    # hedges 0 and verbalized 0.95 >= 0.90 fire confident_unhedged (review). Only low_agreement
    # (abstain) could still raise it, and it reads consistency. reply_kind is local and always
    # known first in the SDK; before it is known it matters too (not_an_answer abstains).
    known = {"hedges": 0, "verbalized": 0.95, "reply_kind": "answer"}
    assert MEDICAL.signals_that_matter(known) == {"consistency"}
    assert MEDICAL.signals_that_matter({"hedges": 0, "verbalized": 0.95}) == {
        "consistency",
        "reply_kind",
    }


def test_decided_false_rules_drop_their_signals() -> None:
    # hedges 2: confident_unhedged is false whatever verbalized is, but verbalized still feeds
    # stated_vs_sampled (review), and no rule has fired yet.
    known = {"hedges": 2, "reply_kind": "answer"}
    assert MEDICAL.signals_that_matter(known) == {"consistency", "verbalized"}


def test_a_restated_question_makes_every_other_signal_pointless() -> None:
    # medical: reply_kind "restatement" fires not_an_answer (abstain, the top action) from the
    # answer text alone, so no sample or follow-up call is needed.
    assert MEDICAL.signals_that_matter({"reply_kind": "restatement"}) == frozenset()
    # a refusal makes the "confident" rules false; only the agreement rules are left
    assert MEDICAL.signals_that_matter({"reply_kind": "refusal"}) == {"consistency"}


def test_known_missing_signal_counts_via_on_missing() -> None:
    # finance (on_missing notice): verbalized failed. overconfident (review) is now decided as
    # on_missing only if consistency is not decisive; consistency still matters.
    assert FINANCE.signals_that_matter({"verbalized": None}) == {"consistency", "stakes"}
    # verbalized 0.99 and stakes high: nothing has fired yet (the gap needs consistency)
    assert "consistency" in FINANCE.signals_that_matter({"verbalized": 0.99, "stakes": "high"})


def test_signals_that_matter_is_a_subset_of_the_unknown_needed_signals() -> None:
    known = {"verbalized": 0.5, "unrelated": 3}
    assert MEDICAL.signals_that_matter(known) <= MEDICAL.needed_signals() - {"verbalized"}


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_signals_that_matter_is_sound(data: st.DataObject) -> None:
    """A signal reported as not mattering never changes the action, whatever value it takes
    (or if it goes missing), for random values of the other not-yet-computed signals."""
    policy = data.draw(policies())
    needed = sorted(policy.needed_signals())
    known_names = data.draw(st.lists(st.sampled_from(needed), unique=True)) if needed else []
    known = data.draw(assignments(sorted(known_names)))
    matter = policy.signals_that_matter(known)
    unknown = set(needed) - set(known_names)
    assert matter <= unknown
    for name in sorted(unknown - matter):
        others = data.draw(assignments(sorted(unknown - {name})))
        actions = {
            policy.evaluate({**known, **others, name: v}).action for v in candidate_values(name)
        }
        assert len(actions) == 1, (name, known, others, actions)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_empty_answer_means_the_action_is_settled(data: st.DataObject) -> None:
    policy = data.draw(policies())
    needed = sorted(policy.needed_signals())
    known_names = data.draw(st.lists(st.sampled_from(needed), unique=True)) if needed else []
    known = data.draw(assignments(sorted(known_names)))
    if policy.signals_that_matter(known):
        return
    rest = sorted(set(needed) - set(known_names))
    first = policy.evaluate({**known, **data.draw(assignments(rest))}).action
    second = policy.evaluate({**known, **data.draw(assignments(rest))}).action
    assert first is second
    assert isinstance(first, Action)
