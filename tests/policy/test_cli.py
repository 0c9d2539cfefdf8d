"""``guardrail check | fmt | test | explain`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from guardrail.cli import app
from tests.policy.helpers import POLICIES, wrap

runner = CliRunner()

BAD = wrap("  rule a {\n    when consistncy < 0.5\n    then reveiw\n  }\n")
GOOD_UNFORMATTED = (
    "policy p {\n signals {\n samples 5\n }\n rule a {\n when consistency<0.5\n"
    ' then review\n }\n example "e" {\n given consistency = 0.4\n expect review by a\n }\n}\n'
)


def test_check_bundled_policies_ok() -> None:
    result = runner.invoke(app, ["check", str(POLICIES)])
    assert result.exit_code == 0, result.output
    assert "4 file(s): 0 error(s), 0 warning(s)" in result.output
    assert "ok " in result.output and "policy medical" in result.output


def test_check_reports_errors_with_location_and_caret(tmp_path: Path) -> None:
    path = tmp_path / "t.guard"
    path.write_text(BAD, encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    out = result.output
    assert f"{path}:7:10: error[unknown-signal]: unknown signal 'consistncy'" in out
    assert " 7 |     when consistncy < 0.5" in out
    assert "   |          ^^^^^^^^^^" in out
    assert "hint: did you mean 'consistency'?" in out
    assert f"{path}:8:10: error[unknown-action]" in out
    assert "2 error(s)" in out


def test_check_json(tmp_path: Path) -> None:
    path = tmp_path / "t.guard"
    path.write_text(BAD, encoding="utf-8")
    result = runner.invoke(app, ["check", "--format", "json", str(path), str(POLICIES)])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["errors"] == 2
    first = data["files"][0]
    assert first["ok"] is False and first["policy"] is None
    codes = [(d["code"], d["line"], d["column"]) for d in first["diagnostics"]]
    assert ("unknown-signal", 7, 10) in codes and ("unknown-action", 8, 10) in codes
    assert [f["policy"] for f in data["files"][1:]] == ["finance", "general", "legal", "medical"]


def test_fmt_check_then_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "p.guard"
    path.write_text(GOOD_UNFORMATTED, encoding="utf-8")
    result = runner.invoke(app, ["fmt", "--check", str(path)])
    assert result.exit_code == 1 and "would reformat" in result.output
    assert path.read_text(encoding="utf-8") == GOOD_UNFORMATTED
    result = runner.invoke(app, ["fmt", str(path)])
    assert result.exit_code == 0 and "reformatted" in result.output
    assert "    when consistency < 0.5\n" in path.read_text(encoding="utf-8")
    result = runner.invoke(app, ["fmt", "--check", str(path)])
    assert result.exit_code == 0 and "all policies are formatted" in result.output


def test_fmt_leaves_broken_files_alone(tmp_path: Path) -> None:
    path = tmp_path / "p.guard"
    broken = "policy p {\n  rule a {\n"
    path.write_text(broken, encoding="utf-8")
    result = runner.invoke(app, ["fmt", str(path)])
    assert result.exit_code == 1 and "error[syntax-error]" in result.output
    assert path.read_text(encoding="utf-8") == broken


def test_test_runs_bundled_examples() -> None:
    result = runner.invoke(app, ["test", str(POLICIES)])
    assert result.exit_code == 0, result.output
    assert "PASS medical: unanimous but confident and unhedged: review" in result.output
    assert "0 failed" in result.output


def test_test_reports_failures_with_explanation(tmp_path: Path) -> None:
    path = tmp_path / "p.guard"
    path.write_text(
        GOOD_UNFORMATTED.replace("consistency = 0.4", "consistency = 0.6"), encoding="utf-8"
    )
    result = runner.invoke(app, ["test", str(path)])
    assert result.exit_code == 1
    assert "FAIL p: e" in result.output
    assert "expected review, got pass" in result.output
    assert "rule a did not fire" in result.output
    assert "no rule matched and there is no otherwise -> pass" in result.output


def test_explain_bundled_policy_by_name() -> None:
    signals = json.dumps({"consistency": 0.55, "verbalized": 0.95, "hedges": 0})
    result = runner.invoke(app, ["explain", "medical", "--signals", signals])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ABSTAIN (policy medical)")
    assert "I can't answer this reliably. Please consult a clinician." in result.output
    assert "low_agreement" in result.output


def test_explain_json_and_cost_aware_hint() -> None:
    path = POLICIES / "medical.guard"
    result = runner.invoke(
        app,
        [
            "explain",
            str(path),
            "--format",
            "json",
            "--signals",
            '{"hedges": 0, "verbalized": 0.95, "reply_kind": "answer"}',
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["action"] == "review"
    assert data["missing"] == ["consistency"]
    assert data["could_still_change_action"] == ["consistency"]


def test_explain_bad_input() -> None:
    result = runner.invoke(app, ["explain", "medical", "--signals", "{not json"])
    assert result.exit_code == 2 and "not valid JSON" in result.output
    result = runner.invoke(app, ["explain", "no-such-policy"])
    # README exit codes: a missing file / unknown name is an input error (2), as for `check`
    assert result.exit_code == 2
    assert "no policy file or bundled policy named 'no-such-policy'" in result.output
    assert "bundled policies: finance, general, legal, medical" in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line, no empty source excerpt
    result = runner.invoke(app, ["explain", "no-such-policy", "--format", "json"])
    err = json.loads(result.output)["error"]
    assert result.exit_code == 2 and err["exit_code"] == 2
    # the message, not a repr of the Diagnostic model ("code='file-not-found' severity=...")
    assert err["message"].startswith("no policy file or bundled policy named 'no-such-policy'")


def test_explain_json_policy_error_is_located_text(tmp_path: Path) -> None:
    bad = tmp_path / "bad.guard"
    bad.write_text("policy x\nrule r when consistncy < 0.5 -> abstain\n")
    result = runner.invoke(app, ["explain", str(bad), "--format", "json"])
    err = json.loads(result.output)["error"]
    assert result.exit_code == 1 and err["exit_code"] == 1
    assert err["message"].startswith(f"{bad}:1:") and "code=" not in err["message"]


def test_explain_derives_calibrated_from_the_profile_source(tmp_path: Path) -> None:
    # Profile: isotonic map through (0, 0), (0.8, 0.5), (1, 0.6), linear between knots, source
    # verbalized. verbalized = 0.9 -> calibrated = 0.5 + (0.9 - 0.8) / 0.2 * 0.1 = 0.55 < 0.75,
    # so the rule fires (as the SDK would decide), and verbalized is not "ignored".
    from datetime import UTC, datetime

    from guardrail.calibration import CalibrationProfile
    from guardrail.calibration.profile import CalibrationMap

    CalibrationProfile(
        domain="t", source="verbalized", binning="width", n_bins=10,
        edges=[i / 10 for i in range(11)],
        map=CalibrationMap(method="isotonic", x=[0.0, 0.8, 1.0], y=[0.0, 0.5, 0.6], n=[1, 1, 1]),
        n=100, accuracy=0.5, mean_confidence=0.8, ece=0.3, data_hash="test",
        created=datetime(2026, 1, 1, tzinfo=UTC),
    ).save(tmp_path / "cal.json")  # fmt: skip
    pol = tmp_path / "t.guard"
    pol.write_text(
        'policy t {\n  calibration "cal.json"\n  signals {\n    verbalized\n  }\n'
        "  rule weak {\n    when calibrated < 0.75\n    then review\n  }\n}\n",
        encoding="utf-8",
    )
    res = runner.invoke(
        app, ["explain", str(pol), "--signals", '{"verbalized": 0.9}', "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["action"] == "review"
    assert out["calibrated_from"]["source"] == "verbalized"
    assert abs(out["calibrated_from"]["calibrated"] - 0.55) < 1e-12
    assert out["matched"][0]["values"]["calibrated"] == out["calibrated_from"]["calibrated"]
    assert out["ignored_signals"] == []
