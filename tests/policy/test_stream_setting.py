"""The `stream hold|live` setting (issue 14): parsed, checked, formatted, its default, bundled."""

from __future__ import annotations

import pytest

from guardrail.policy import check_text, load_policy
from guardrail.policy.formatter import format_text
from tests.policy.helpers import POLICIES

BODY = """policy p {{
  {setting}
  on_missing {on_missing}
  signals {{
    samples 3
  }}
  rule r {{
    when consistency < 0.5
    then {action}
  }}
  otherwise pass
}}
"""


def _text(setting: str = "", action: str = "abstain", on_missing: str = "notice") -> str:
    return BODY.format(setting=setting, action=action, on_missing=on_missing)


@pytest.mark.parametrize("mode", ["hold", "live"])
def test_stream_values_are_accepted_and_kept_by_fmt(mode: str) -> None:
    text = _text(f"stream {mode}")
    policy, diags = check_text(text)
    assert policy is not None and diags == []
    assert policy.stream == mode and policy.stream_mode == mode
    assert f"  stream {mode}\n" in format_text(text)


@pytest.mark.parametrize(
    ("action", "on_missing", "mode"),
    [
        ("abstain", "notice", "hold"),  # a rule can abstain
        ("review", "notice", "hold"),  # a rule can hold the answer for review
        ("notice", "review", "hold"),  # a missing consistency counts as review
        ("notice", "abstain", "hold"),
        ("notice", "notice", "live"),  # only pass/notice: nothing would ever be retracted
        ("notice", "pass", "live"),
    ],
)
def test_default_mode_holds_exactly_when_the_policy_can_withhold(
    action: str, on_missing: str, mode: str
) -> None:
    policy, _ = check_text(_text(action=action, on_missing=on_missing))
    assert policy is not None and policy.stream is None
    assert policy.stream_mode == mode


def test_explicit_hold_on_a_policy_that_cannot_withhold() -> None:
    policy, _ = check_text(_text("stream hold", action="notice", on_missing="pass"))
    assert policy is not None and policy.stream_mode == "hold"


@pytest.mark.parametrize("bad", ["stream fast", 'stream "live"', "stream 1", "stream"])
def test_bad_stream_is_an_error_with_a_hint(bad: str) -> None:
    policy, diags = check_text(_text(bad))
    assert policy is None
    errors = [d for d in diags if d.severity == "error"]
    assert len(errors) == 1
    assert "hold or live" in errors[0].message


def test_stream_twice_is_an_error() -> None:
    policy, diags = check_text(_text("stream live\n  stream hold"))
    assert policy is None
    assert any(d.severity == "error" and "stream" in d.message for d in diags)


def test_bundled_stream_modes() -> None:
    # general opts into live (reason in its comment); the others can abstain or hold: default hold
    assert load_policy(POLICIES / "general.guard").stream_mode == "live"
    for name in ("medical", "legal", "finance"):
        p = load_policy(POLICIES / f"{name}.guard")
        assert p.stream is None and p.stream_mode == "hold"
