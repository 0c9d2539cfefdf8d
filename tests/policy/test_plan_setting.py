"""The `plan latency|cost` setting (issue 15): parsed, checked, formatted, on bundled policies."""

from __future__ import annotations

import pytest

from guardrail.policy import check_text, load_policy
from guardrail.policy.formatter import format_text
from tests.policy.helpers import POLICIES

BODY = """policy p {{
  {plan}
  signals {{
    samples 3
  }}
  rule r {{
    when consistency < 0.5
    then abstain
  }}
}}
"""


@pytest.mark.parametrize("plan", ["latency", "cost"])
def test_plan_values_are_accepted_and_kept_by_fmt(plan: str) -> None:
    text = BODY.format(plan=f"plan {plan}")
    policy, diags = check_text(text)
    assert policy is not None and policy.plan == plan and diags == []
    assert f"  plan {plan}\n" in format_text(text)


def test_no_plan_is_none() -> None:
    policy, _ = check_text(BODY.format(plan=""))
    assert policy is not None and policy.plan is None


@pytest.mark.parametrize("bad", ["plan fast", 'plan "cost"', "plan 3"])
def test_bad_plan_is_an_error_with_a_hint(bad: str) -> None:
    policy, diags = check_text(BODY.format(plan=bad))
    assert policy is None
    (d,) = [d for d in diags if d.severity == "error"]
    assert d.code == "bad-value" and "latency or cost" in d.message
    assert d.hint is not None and "plan latency" in d.hint


def test_bundled_plans() -> None:
    # general: latency; the high-stakes policies: cost (reasons in their comments)
    assert load_policy(POLICIES / "general.guard").plan == "latency"
    for name in ("medical", "legal", "finance"):
        assert load_policy(POLICIES / f"{name}.guard").plan == "cost"
