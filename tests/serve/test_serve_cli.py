"""`guardrail serve` start-up errors (exit 2 before anything listens) and settings from the
environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardrail.cli import app
from guardrail.serve import ServeSettings

pytest.importorskip("fastapi", reason="guardrail serve needs the 'web' extra")


def test_unknown_default_domain_exits_2_listing_domains(policy_dir: Path) -> None:
    res = CliRunner().invoke(
        app, ["serve", "--policies", str(policy_dir), "--default-domain", "x", "--store", "memory:"]
    )
    assert res.exit_code == 2
    assert "default domain 'x' has no policy; known domains: chat, qa" in res.output


def test_unknown_live_domain_and_missing_policies_exit_2(policy_dir: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["serve", "--policies", str(policy_dir), "--live", "nope", "--store", "memory:"]
    )
    assert res.exit_code == 2 and "live domain(s) nope have no policy" in res.output
    res = CliRunner().invoke(app, ["serve", "--policies", str(tmp_path / "none")])
    assert res.exit_code == 2 and "no policy file or directory" in res.output


def test_settings_round_trip_through_the_environment() -> None:
    s = ServeSettings(
        upstream="http://127.0.0.1:9/v1",
        token="t0k",  # type: ignore[arg-type]
        live_domains=("general", "chat"),
        spot_check=False,
        timeout=7.5,
    )
    env = s.to_env()
    assert env["GUARDRAIL_SERVE_LIVE_DOMAINS"] == "general,chat"
    assert env["GUARDRAIL_SERVE_TOKEN"] == "t0k"
    back = ServeSettings.from_env(env)
    assert back == s and back.token is not None and back.token.get_secret_value() == "t0k"
    assert "t0k" not in repr(back)  # SecretStr: never printed
