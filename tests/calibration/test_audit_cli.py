"""``audit()`` and the ``guardrail audit report`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardrail.calibration import AuditRecord, CalibrationProfile, audit, verdict
from guardrail.cli import app

runner = CliRunner()


def _records() -> list[AuditRecord]:
    # medical: 4 answers at 0.9, 2 correct -> ECE 0.4 (severe); finance: 0.6 x4, 3 correct
    # -> gap 0.15 (significant)
    rows = [("medical", 0.9, c) for c in (1, 1, 0, 0)] + [("finance", 0.6, c) for c in (1, 1, 1, 0)]
    return [
        AuditRecord(id=str(i), domain=d, confidence=p, correct=bool(c), source="verbalized")
        for i, (d, p, c) in enumerate(rows)
    ]


def test_verdict_bands() -> None:
    assert [verdict(x) for x in (0.0, 0.0499, 0.05, 0.0999, 0.1, 0.2999, 0.3, 0.9)] == [
        "good",
        "good",
        "fair",
        "fair",
        "significant",
        "significant",
        "severe",
        "severe",
    ]


def test_audit_groups_by_domain() -> None:
    rep = audit(_records(), n_bootstrap=0, target_accuracy=0.7)
    assert [g.label for g in rep.groups] == ["finance", "medical"]
    fin, med = rep.groups
    assert (med.n, med.ece, med.verdict) == (4, pytest.approx(0.4), "severe")
    assert med.overconfidence == pytest.approx(0.4)
    assert (fin.ece, fin.verdict) == (pytest.approx(0.15), "significant")
    assert fin.overconfidence == pytest.approx(-0.15)
    # pooled: bins (0.5, 0.6] gap 0.15 and (0.8, 0.9] gap 0.4 -> 0.275
    assert rep.overall.ece == pytest.approx(0.275)
    assert fin.threshold is not None and fin.threshold.threshold == 0.6
    assert med.threshold is not None and med.threshold.reached is False


def _write_jsonl(tmp_path: Path) -> Path:
    p = tmp_path / "audit.jsonl"
    lines = [r.model_dump_json(exclude={"file", "line"}) for r in _records()]
    lines.append('{"id": "bad", "confidence": 2, "correct": 1}')
    p.write_text("\n".join(lines) + "\n")
    return p


def test_cli_report_table_and_skip_message(tmp_path: Path) -> None:
    p = _write_jsonl(tmp_path)
    res = runner.invoke(app, ["audit", "report", str(p), "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    assert "skipped 1 bad row" in res.output
    assert f"{p}:9" in res.output
    # Rows of the matrix, worked by hand from _records():
    # medical: acc 2/4 = 0.5, conf 0.9, overconf +0.4, ECE = MCE = |0.5 - 0.9| = 0.4,
    #   Brier (2 * 0.1^2 + 2 * 0.9^2) / 4 = 0.41, AUROC 0.5 (all tied), AURC 0.5 (one tied group).
    # finance: acc 0.75, conf 0.6, overconf -0.15, ECE = MCE = 0.15,
    #   Brier (3 * 0.4^2 + 0.6^2) / 4 = 0.21, AUROC 0.5, AURC 0.25.
    # all: acc 5/8, conf 0.75, ECE 0.5 * 0.15 + 0.5 * 0.4 = 0.275, MCE 0.4, Brier 2.48 / 8 = 0.31;
    #   AUROC (Mann-Whitney, ties 1/2) over 5 x 3 pairs: 0.9-correct vs 0.9-wrong 4 ties -> 2,
    #   vs 0.6-wrong 2 wins, 0.6-correct vs 0.6-wrong 3 ties -> 1.5: 5.5 / 15 = 0.367;
    #   AURC: tied group 0.9 has risk 2/4 at coverage 4/8, then 3/8 at 8/8 -> (4*0.5 + 4*0.375)/8.
    # Accuracy CIs are exact Clopper-Pearson 95 %: 2/4 (0.068, 0.932), 3/4 (0.194, 0.994),
    # 5/8 (0.245, 0.915) (beta quantiles, e.g. scipy.stats.beta.ppf(0.025, 5, 4) = 0.2449).
    rows = {ln.split()[0]: ln.split() for ln in res.output.splitlines() if ln.split()[:1]}
    # (tokens 8-9 are the bootstrap CI of ECE, seed-dependent: not asserted here)
    # "*": every group has warnings (n < 10 per bin; AUROC 0.5 / 0.367 <= 0.5), listed below.
    assert " ".join(rows["medical"][:8] + rows["medical"][10:]) == (
        "medical 4 0.500 [0.068, 0.932] 0.900 +0.400 0.400 0.400 0.410 0.500 0.500 severe *"
    )
    assert " ".join(rows["finance"][:8] + rows["finance"][10:]) == (
        "finance 4 0.750 [0.194, 0.994] 0.600 -0.150 0.150 0.150 0.210 0.500 0.250 significant *"
    )
    assert " ".join(rows["all"][:8] + rows["all"][10:]) == (
        "all 8 0.625 [0.245, 0.915] 0.750 +0.125 0.275 0.400 0.310 0.367 0.438 significant *"
    )
    flat = " ".join(res.output.split())
    assert "* all: AUROC 0.367 <= 0.5: confidence ranks answers worse than chance" in flat
    assert "* medical: AUROC 0.500 <= 0.5: confidence ranks answers no better than chance" in flat
    assert "* finance: small n: 4 answers for 10 bins (under 10 per bin)" in flat


def test_cli_strict_fails_with_line_numbers(tmp_path: Path) -> None:
    p = _write_jsonl(tmp_path)
    res = runner.invoke(app, ["audit", "report", str(p), "--strict"])
    assert res.exit_code == 2  # input error (README's exit codes)
    assert f"{p}:9" in res.output and "outside [0, 1]" in res.output


def test_cli_json_profiles_and_html(tmp_path: Path) -> None:
    p = _write_jsonl(tmp_path)
    out = tmp_path / "report"
    res = runner.invoke(
        app,
        [
            "audit",
            "report",
            str(p),
            "--format",
            "json",
            "--bootstrap",
            "20",
            "--target-accuracy",
            "0.7",
            "--out",
            str(out),
            "--profile-out",
            str(tmp_path / "cal" / "<domain>.json"),
            "--min-profile-n",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    body = res.stdout[res.stdout.index("{") :]
    data = json.loads(body)
    assert data["overall"]["n"] == 8 and data["n_bad_rows"] == 1
    assert {g["label"] for g in data["groups"]} == {"finance", "medical"}
    prof = CalibrationProfile.load(tmp_path / "cal" / "medical.json")
    assert prof.domain == "medical" and prof.source == "verbalized" and prof.n == 4
    assert prof.calibrate(0.9) == pytest.approx(0.5)
    html = (out / "index.html").read_text()
    assert "Confidence-accuracy matrix" in html and "medical" in html
    assert (out / "audit.json").is_file()


def test_cli_rejects_bad_group_by_and_two_targets(tmp_path: Path) -> None:
    p = _write_jsonl(tmp_path)
    res = runner.invoke(app, ["audit", "report", str(p), "--group-by", "planet"])
    assert res.exit_code == 2 and "cannot group by" in res.output
    res = runner.invoke(
        app,
        ["audit", "report", str(p), "--target-accuracy", "0.9", "--target-coverage", "0.5"],
    )
    assert res.exit_code == 2


def test_cli_not_a_records_file(tmp_path: Path) -> None:
    p = tmp_path / "readme.txt"
    p.write_text("just some prose\n")
    res = runner.invoke(app, ["audit", "report", str(p)])
    assert res.exit_code == 2 and "not a JSONL or CSV" in res.output


def test_profile_needs_a_source(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text('{"confidence": 0.5, "correct": 1, "domain": "law"}\n')
    res = runner.invoke(
        app, ["audit", "report", str(p), "--profile-out", str(tmp_path / "<domain>.json")]
    )
    assert res.exit_code == 2 and "--source" in res.output
    res = runner.invoke(
        app,
        [
            "audit",
            "report",
            str(p),
            "--bootstrap",
            "0",
            "--source",
            "consistency",
            "--profile-out",
            str(tmp_path / "<domain>.json"),
            "--min-profile-n",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert CalibrationProfile.load(tmp_path / "law.json").source == "consistency"


def test_profile_paths_must_not_collide(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text(
        '{"confidence": 0.5, "correct": 1, "domain": "law", "model": "m1", "source": "v"}\n'
        '{"confidence": 0.7, "correct": 0, "domain": "law", "model": "m2", "source": "v"}\n'
    )
    args = ["audit", "report", str(p), "--bootstrap", "0", "--group-by", "domain,model"]
    res = runner.invoke(app, [*args, "--profile-out", str(tmp_path / "<domain>.json")])
    assert res.exit_code == 2 and "same file" in res.output
    res = runner.invoke(
        app,
        [*args, "--profile-out", str(tmp_path / "<domain>-<model>.json"), "--min-profile-n", "0"],
    )
    assert res.exit_code == 0, res.output
    assert CalibrationProfile.load(tmp_path / "law-m2.json").model == "m2"


def test_unwritable_outputs_are_one_line_errors_not_tracebacks(tmp_path: Path) -> None:
    p = _write_jsonl(tmp_path)
    a_file = tmp_path / "taken"
    a_file.write_text("x", encoding="utf-8")
    # --out names an existing file (a folder is needed): was a FileExistsError traceback.
    res = runner.invoke(app, ["audit", "report", str(p), "--bootstrap", "0", "--out", str(a_file)])
    assert res.exit_code == 1
    assert f"error: cannot write {a_file}: File exists" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    # --profile-out under that file: NotADirectoryError / FileExistsError, also one line.
    res = runner.invoke(
        app,
        ["audit", "report", str(p), "--bootstrap", "0", "--profile-out", f"{a_file}/<domain>.json",
         "--min-profile-n", "0"],
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "error: cannot write" in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_bins_are_capped_at_1000(tmp_path: Path) -> None:
    # --bins 1000000 on five records ran for minutes and ~10 GB (every bin is a table row, per
    # group); 10,000 bins already took 200 MB. More than 1000 bins is refused up front.
    p = _write_jsonl(tmp_path)
    res = runner.invoke(app, ["audit", "report", str(p), "--bins", "1000000"])
    assert res.exit_code == 2 and "1000" in res.output
    res = runner.invoke(app, ["audit", "report", str(p), "--bins", "1000", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output


def test_safeguards_pooled_sources_small_profiles_ordinal_labels(tmp_path: Path) -> None:
    """Issue 11: `audit report` pooled different confidence sources (each question counted once
    per source), wrote profiles from a handful of records, and gave hedge_label (an ordering:
    hedged 0, neutral 0.5, assertive 1) an ECE verdict."""
    p = tmp_path / "mixed.jsonl"
    rows = []
    for i in range(30):  # 30 questions, two sources each; correct for even i
        ok = i % 2 == 0
        rows.append(
            {
                "id": f"q{i}",
                "domain": "law",
                "source": "verbalized",
                "confidence": 0.9 if ok else 0.6,
                "correct": ok,
            }
        )
        rows.append({"id": f"q{i}-hedge", "domain": "law", "source": "hedge_label",
                     "confidence": 0.5, "correct": ok})  # fmt: skip
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    res = runner.invoke(app, ["audit", "report", str(p), "--bootstrap", "0"])
    assert res.exit_code == 2
    flat = " ".join(res.output.split())
    assert "2 confidence sources (hedge_label, verbalized)" in flat
    assert "--group-by domain,source" in flat
    # grouped by source: hedge_label gets no calibration verdict; verbalized does.
    res = runner.invoke(
        app, ["audit", "report", str(p), "--bootstrap", "0", "--group-by", "domain,source",
              "--format", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    groups = {g["label"]: g for g in json.loads(res.stdout)["groups"]}
    hedge, verb = groups["law, hedge_label"], groups["law, verbalized"]
    assert hedge["verdict"] == "not applicable"
    assert any("ordering, not a probability" in w for w in hedge["warnings"])
    # verbalized: 15 right at 0.9, 15 wrong at 0.6 -> accuracy 1.0 and 0.0 in those bins,
    # ECE = (15 * 0.1 + 15 * 0.6) / 30 = 0.35 (severe); AUROC 1.0 (perfect ranking); n = 30 < 100
    assert verb["verdict"] == "severe" and verb["auroc"] == 1.0
    assert verb["warnings"] == [
        "small n: 30 answers for 10 bins (under 10 per bin): ECE biased upward, interval wide"
    ]
    # --pool-sources pools knowingly.
    res = runner.invoke(app, ["audit", "report", str(p), "--bootstrap", "0", "--pool-sources"])
    assert res.exit_code == 0, res.output
    # profiles: 30 verbalized answers are under the default minimum of 100: refused, none written
    only = tmp_path / "verbalized.jsonl"
    only.write_text(
        "".join(json.dumps(r) + "\n" for r in rows if r["source"] == "verbalized"),
        encoding="utf-8",
    )
    args = ["audit", "report", str(only), "--bootstrap", "0",
            "--profile-out", str(tmp_path / "cal" / "<domain>.json")]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "fewer than 100 answers: law (n = 30)" in " ".join(res.output.split())
    assert not (tmp_path / "cal").exists()
    res = runner.invoke(app, [*args, "--min-profile-n", "30"])
    assert res.exit_code == 0 and (tmp_path / "cal" / "law.json").is_file()
