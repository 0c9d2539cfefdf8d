"""Shared helpers for the policy tests."""

from __future__ import annotations

from pathlib import Path

from guardrail.policy import Diagnostic, check_text

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
BUNDLED = sorted(POLICIES.glob("*.guard"))

HEADER = """policy t {
  signals {
    samples 5
    verbalized
  }
"""  # lines 1-5; a body passed to `wrap` starts on line 6


def wrap(body: str) -> str:
    """A policy with samples + verbalized gathered; ``body`` starts on line 6."""
    return HEADER + body + "}\n"


def diags(text: str, filename: str = "t.guard") -> list[Diagnostic]:
    """Every diagnostic of ``text``."""
    _, found = check_text(text, filename)
    return found


def only(text: str, code: str) -> Diagnostic:
    """The single diagnostic with ``code``; fails when there is not exactly one."""
    found = [d for d in diags(text) if d.code == code]
    assert len(found) == 1, [d.render() for d in diags(text)]
    return found[0]
