"""``guardrail replay``: JSON and text output, Markdown report, errors with the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from guardrail.cli import app
from guardrail.decisions.replay import replay_files
from guardrail.policy import load_policy

from .test_replay import CANDIDATE, ROWS

runner = CliRunner()


def _files(tmp_path: Path) -> tuple[Path, Path]:
    policy = tmp_path / "t.guard"
    policy.write_text(CANDIDATE)
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"domain": "t", **r}) + "\n" for r in ROWS))
    return policy, log


def test_json_equals_the_library_report(tmp_path: Path) -> None:
    policy, log = _files(tmp_path)
    md = tmp_path / "diff.md"
    res = runner.invoke(
        app, ["replay", str(policy), str(log), "--format", "json", "--markdown", str(md)]
    )
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    want = replay_files([log], {"t": load_policy(policy)}).report()
    assert got == json.loads(json.dumps(want))
    assert got["changed"] == 4  # rows 1, 3, 4, 5 (worked out in test_replay.py)
    assert md.read_text().startswith(f"# Policy replay: {policy}")


def test_text_output_names_changes_and_missing_signals(tmp_path: Path) -> None:
    policy, log = _files(tmp_path)
    res = runner.invoke(app, ["replay", str(policy), str(log)])
    assert res.exit_code == 0, res.output
    assert "6 logged decisions, 4 would change" in res.stdout
    assert "pass->review: 1" in res.stdout
    assert "1 undetermined" in res.stdout and "verbalized (1)" in res.stdout


def test_errors(tmp_path: Path) -> None:
    policy, log = _files(tmp_path)
    res = runner.invoke(
        app, ["replay", str(policy), str(tmp_path / "nope.jsonl"), "--format", "json"]
    )
    assert res.exit_code == 2
    assert json.loads(res.stdout)["error"]["exit_code"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    res = runner.invoke(app, ["replay", str(policy), str(bad), "--format", "json"])
    assert res.exit_code == 2 and "bad.jsonl:1: not JSON" in res.stdout
    broken = tmp_path / "broken.guard"
    broken.write_text("policy broken {\n  rule x {\n    when nonsense_signal < 1\n")
    res = runner.invoke(app, ["replay", str(broken), str(log), "--format", "json"])
    assert res.exit_code == 1, res.output
    res = runner.invoke(
        app, ["replay", str(policy), str(log), "--storage-option", "oops", "--format", "json"]
    )
    assert res.exit_code == 2 and "KEY=VALUE" in res.stdout


def test_labels_joined_from_a_sqlite_review_store(tmp_path: Path) -> None:
    from guardrail.review import ReviewItem, ReviewReason, SQLiteReviewStore

    policy, _ = _files(tmp_path)
    log = tmp_path / "nolabels.jsonl"
    log.write_text(
        "".join(
            json.dumps({"domain": "t", **{k: v for k, v in r.items() if k != "label"}}) + "\n"
            for r in ROWS
        )
    )
    db = tmp_path / "review.db"
    store = SQLiteReviewStore(db)
    # rows 2 (correct) and 3 (incorrect) were spot-checked at 20%, as in test_replay.py
    for rid, label in (("2", "correct"), ("3", "incorrect")):
        item_id = store.enqueue(
            ReviewItem(
                request_id=rid,
                domain="t",
                decision="pass",
                reason=ReviewReason.SPOT_CHECK,
                sampling_rate=0.2,
            )
        )
        store.claim_item(item_id, "ann")
        store.label(item_id, label, reviewer="ann")
    store.close()
    res = runner.invoke(
        app, ["replay", str(policy), str(log), "--store", str(db), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)["domains"]["t"]
    # (1/0.2) / (1/0.2 + 1/0.2) = 0.5 over rows 2 and 3; after: row 2 only -> 1.0
    assert d["before"]["shown_accuracy"]["accuracy"] == 0.5
    assert d["after"]["shown_accuracy"]["accuracy"] == 1.0
    assert d["labelled"] == 2


def test_a_missing_candidate_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    _, log = _files(tmp_path)
    res = runner.invoke(app, ["replay", str(tmp_path / "nosuch.guard"), str(log)])
    assert res.exit_code == 2
    assert "no policy file or bundled policy named" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_text_output_prints_a_markup_like_domain_literally(tmp_path: Path) -> None:
    # Rich markup in a logged domain name: "[/bold]" raised MarkupError (a traceback) and
    # "[red]x[/red]" was rendered as a style, losing the brackets
    policy, _ = _files(tmp_path)
    log = tmp_path / "m.jsonl"
    rows = [
        {"domain": d, "action": "review", "time": ROWS[0]["time"], "values": {}}
        for d in ("[/bold]", "[red]x[/red]")
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = runner.invoke(app, ["replay", str(policy), str(log)])
    assert res.exit_code == 0, res.output
    assert "[/bold]: 1 decisions" in res.stdout and "[red]x[/red]: 1 decisions" in res.stdout


def test_a_store_url_password_is_never_printed(tmp_path: Path) -> None:
    """`--store` that cannot be opened: the error names the store with its password and query
    secrets replaced by *** (docs/security.md), for a refused PostgreSQL connection (port 1 on
    127.0.0.1) and for a scheme no store handles."""
    policy, log = _files(tmp_path)
    for url, shown in (
        (
            "postgresql://app:pw-Secret-9@127.0.0.1:1/guard?connect_timeout=2",
            "cannot open review store postgresql://app:***@127.0.0.1:1/guard",
        ),
        ("mysql://app:pw-Secret-9@127.0.0.1/guard", "cannot open review store mysql://app:***@"),
    ):
        res = runner.invoke(app, ["replay", str(policy), str(log), "--store", url])
        assert res.exit_code == 2, res.output
        assert shown in res.output
        assert "pw-Secret-9" not in res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
