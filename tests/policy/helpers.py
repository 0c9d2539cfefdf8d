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


def profile_json(domain: str = "t", source: str = "verbalized") -> str:
    """A complete, loadable calibration profile (identity map) for checker tests."""
    from datetime import UTC, datetime

    from guardrail.calibration import CalibrationProfile
    from guardrail.calibration.profile import CalibrationMap

    return CalibrationProfile(
        domain=domain, source=source, binning="width", n_bins=10,
        edges=[i / 10 for i in range(11)],
        map=CalibrationMap(method="isotonic", x=[0.0, 1.0], y=[0.0, 1.0], n=[1, 1]),
        n=100, accuracy=0.5, mean_confidence=0.5, ece=0.0, data_hash="test",
        created=datetime(2026, 1, 1, tzinfo=UTC),
    ).model_dump_json()  # fmt: skip
