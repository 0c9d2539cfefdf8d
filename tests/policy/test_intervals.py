"""Interval evaluation: ``Policy.decide_on_ranges`` (guardrail/policy/intervals.py).

The property: whenever it returns an action, brute-force evaluation at every reachable point of
the box gives that action. For ``consistency`` the reachable points after ``m`` of ``k`` samples
with ``a`` agreeing are ``j/k`` for ``j = a .. a + k - m``.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrail.policy import Action, Policy, load_policy
from tests.policy.helpers import POLICIES
from tests.policy.strategies import assignments, candidate_values, policies

MEDICAL = load_policy(POLICIES / "medical.guard")
GENERAL = load_policy(POLICIES / "general.guard")


def _samples_box(k: int, m: int, a: int) -> tuple[float, float]:
    return a / k, (a + k - m) / k


@st.composite
def sample_states(draw: st.DrawFn) -> tuple[int, int, int]:
    """(k, m, a): k samples requested, m drawn, a of them agree with the shown answer."""
    k = draw(st.integers(1, 9))
    m = draw(st.integers(0, k))
    a = draw(st.integers(0, m))
    return k, m, a


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), state=sample_states(), data=st.data())
def test_a_decided_box_agrees_with_every_reachable_consistency(
    policy: Policy, state: tuple[int, int, int], data: st.DataObject
) -> None:
    k, m, a = state
    others = sorted(policy.needed_signals() - {"consistency"})
    known = data.draw(assignments(others))
    lo, hi = _samples_box(k, m, a)
    got = policy.decide_on_ranges(known, {"consistency": (lo, hi)})
    if got is None:
        return
    for j in range(a, a + k - m + 1):
        assert policy.evaluate({**known, "consistency": j / k}).action is got, (j, k)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), state=sample_states(), data=st.data())
def test_open_signals_may_take_any_value_or_be_missing(
    policy: Policy, state: tuple[int, int, int], data: st.DataObject
) -> None:
    # leave a random subset of the other signals open: a decided box must agree with every
    # grid value (and missing) of each open signal too
    k, m, a = state
    others = sorted(policy.needed_signals() - {"consistency"})
    open_ = data.draw(st.lists(st.sampled_from(others), unique=True, max_size=2)) if others else []
    known = data.draw(assignments([n for n in others if n not in open_]))
    lo, hi = _samples_box(k, m, a)
    got = policy.decide_on_ranges(known, {"consistency": (lo, hi)})
    if got is None:
        return
    grids = [candidate_values(n) for n in open_]
    for combo in itertools.product(*grids):
        for j in range(a, a + k - m + 1):
            values = {**known, **dict(zip(open_, combo, strict=True)), "consistency": j / k}
            assert policy.evaluate(values).action is got, values


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), data=st.data())
def test_a_box_of_width_zero_is_the_evaluator(policy: Policy, data: st.DataObject) -> None:
    # every needed signal known (numbers as zero-width ranges or as known values): the answer is
    # exactly evaluate()'s action, never None -- the interval code is exact at points
    names = sorted(policy.needed_signals())
    values = data.draw(assignments(names))
    want = policy.evaluate(values).action
    assert policy.decide_on_ranges(values, {}) is want
    ranged = {
        n: (float(v), float(v))
        for n, v in values.items()
        if isinstance(v, int | float) and n in ("consistency", "verbalized", "logprob_confidence")
    }
    assert policy.decide_on_ranges(values, ranged) is want


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), data=st.data())
def test_two_ranged_signals_with_arithmetic(policy: Policy, data: st.DataObject) -> None:
    # verbalized and consistency both ranged (rules like `verbalized - consistency > 0.3`):
    # brute force over a 1/20 grid inside both boxes plus their end points
    names = sorted(policy.needed_signals() - {"consistency", "verbalized"})
    known = data.draw(assignments(names))
    ends = sorted(data.draw(st.lists(st.integers(0, 20), min_size=4, max_size=4)))
    c_lo, c_hi, v_lo, v_hi = ends[0] / 20, ends[1] / 20, ends[2] / 20, ends[3] / 20
    if data.draw(st.booleans()):
        c_lo, c_hi, v_lo, v_hi = v_lo, v_hi, c_lo, c_hi
    got = policy.decide_on_ranges(known, {"consistency": (c_lo, c_hi), "verbalized": (v_lo, v_hi)})
    if got is None:
        return
    cs = {c_lo, c_hi, *(i / 20 for i in range(21) if c_lo <= i / 20 <= c_hi)}
    vs = {v_lo, v_hi, *(i / 20 for i in range(21) if v_lo <= i / 20 <= v_hi)}
    for c in cs:
        for v in vs:
            assert policy.evaluate({**known, "consistency": c, "verbalized": v}).action is got


def test_medical_one_disagreeing_sample_of_seven_settles_at_least_review() -> None:
    # medical: consistency < 70% abstains, < 90% reviews. One of the first m = 1 samples disagrees
    # (a = 0): consistency in [0/7, 6/7] = [0, 0.857] -- always < 0.90, so review or abstain, not
    # yet decided between them.
    known = {"verbalized": 0.5, "hedges": 2, "reply_kind": "answer"}
    assert MEDICAL.decide_on_ranges(known, {"consistency": _samples_box(7, 1, 0)}) is None
    # 3 of 3 disagree: [0, 4/7 = 0.571] < 0.70 -> abstain whatever the other 4 say
    assert MEDICAL.decide_on_ranges(known, {"consistency": _samples_box(7, 3, 0)}) is Action.ABSTAIN
    # 5 agree, 1 disagrees (m = 6): [5/7, 6/7] = [0.714, 0.857]: >= 0.70 and < 0.90 -> review;
    # verbalized 0.5 - 0.714 < 0.3, hedges 2 -> no other rule can fire
    assert MEDICAL.decide_on_ranges(known, {"consistency": _samples_box(7, 6, 5)}) is Action.REVIEW


def test_open_signal_keeps_the_box_undecided() -> None:
    # same box as above ([0.714, 0.857] -> review), but reply_kind not computed yet: a
    # "restatement" would make not_an_answer abstain -> undecided
    known = {"verbalized": 0.5, "hedges": 2}
    assert MEDICAL.decide_on_ranges(known, {"consistency": _samples_box(7, 6, 5)}) is None


def test_bad_ranges_are_rejected() -> None:
    with pytest.raises(ValueError, match="not a numeric signal"):
        MEDICAL.decide_on_ranges({}, {"reply_kind": (0.0, 1.0)})
    with pytest.raises(ValueError, match="lo <= hi"):
        MEDICAL.decide_on_ranges({}, {"consistency": (0.6, 0.5)})
    with pytest.raises(ValueError, match="lo <= hi"):
        MEDICAL.decide_on_ranges({}, {"consistency": (float("nan"), 0.5)})
