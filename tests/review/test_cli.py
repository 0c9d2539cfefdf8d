"""``guardrail review ...`` end to end on an SQLite file (Typer's CliRunner)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardrail.calibration import CalibrationMap, CalibrationProfile, load_records
from guardrail.cli import app
from guardrail.review import ReviewItem, SQLiteReviewStore
from guardrail.review.models import utcnow

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "queue.db"
    now = utcnow()
    with SQLiteReviewStore(path) as st:
        st.enqueue(ReviewItem(
            id="med-1", created_at=now - timedelta(days=2), domain="medical",
            policy_name="medical", question="Max adult paracetamol dose per day?",
            answer_shown="4 g.", decision="review", signals={"verbalized": 0.95, "hedges": 0},
            explanation=["stated_vs_sampled: verbalized - consistency = 0.40 > 0.30"],
        ))  # fmt: skip
        for n in range(4):
            st.enqueue(ReviewItem(
                id=f"gen-{n}", created_at=now - timedelta(days=10 if n == 0 else 1, minutes=n),
                domain="general", question=f"q{n}", answer_shown=f"a{n}", decision="pass",
                reason="spot_check", sampling_rate=0.1, signals={"verbalized": 0.8},
            ))  # fmt: skip
    return str(path)


def _flat(text: str) -> str:
    """CLI output as one line: Rich's box-drawing characters and line breaks become spaces."""
    return " ".join(text.translate({c: " " for c in range(0x2500, 0x2580)}).split())


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_list_claim_label_flow(db: str) -> None:
    code, out = run("review", "list", "--store", db, "--json")
    assert code == 0
    ids = [json.loads(line)["id"] for line in out.splitlines()]
    assert ids == ["gen-0", "med-1", "gen-3", "gen-2", "gen-1"]  # oldest first
    code, out = run("review", "claim", "--store", db, "-r", "ann", "--domain", "medical")
    assert code == 0 and "Max adult paracetamol" in out and "stated_vs_sampled" in out
    # bob cannot label ann's claimed item: clear error, exit code 1, nothing lost.
    code, out = run("review", "label", "med-1", "correct", "--store", db, "-r", "bob")
    assert code == 1 and "claimed by ann" in out
    code, out = run("review", "label", "med-1", "incorrect", "--store", db, "-r", "ann",
                    "--note", "3 g with risk factors", "--corrected", "3-4 g")  # fmt: skip
    assert code == 0 and "Labelled med-1 incorrect by ann" in out
    with SQLiteReviewStore(db) as st:
        it = st.get("med-1")
    assert (it.label, it.note, it.corrected_answer) == (
        "incorrect",
        "3 g with risk factors",
        "3-4 g",
    )
    code, out = run("review", "label", "med-1", "correct", "--store", db, "-r", "ann")
    assert code == 1 and "--overwrite" in out


def test_bad_label_is_rejected(db: str) -> None:
    code, out = run("review", "label", "gen-1", "maybe", "--store", db, "-r", "ann")
    assert code == 2 and "maybe" in out
    code, out = run("review", "label", "nope", "correct", "--store", db, "-r", "ann")
    assert code == 1 and "no review item" in out


def test_list_since_and_status(db: str) -> None:
    code, out = run("review", "list", "--store", db, "--since", "7d", "--json")
    assert code == 0 and "gen-0" not in out and len(out.splitlines()) == 4
    code, out = run("review", "list", "--store", db, "--since", "7x")
    assert code == 2 and "bad time window" in out
    code, out = run("review", "list", "--store", db, "--status", "labelled")
    assert code == 0 and "No labelled items" in out


def test_export_jsonl_csv_and_audit_records(db: str, tmp_path: Path) -> None:
    for n, lab in enumerate(["correct", "incorrect", "correct"], start=1):
        assert run("review", "label", f"gen-{n}", lab, "--store", db, "-r", "ann")[0] == 0
    code, out = run("review", "export", "--store", db, "--format", "jsonl")
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and sorted(r["id"] for r in rows) == ["gen-1", "gen-2", "gen-3"]
    assert rows[0]["signals"] == {"verbalized": 0.8}
    code, out = run("review", "export", "--store", db, "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(table) == 3 and json.loads(table[0]["signals"]) == {"verbalized": 0.8}
    # Audit records load with the calibration package's reader (guardrail audit input).
    target = tmp_path / "live.jsonl"
    code, _ = run("review", "export", "--store", db, "--audit-records", "-o", str(target))
    assert code == 0
    recs = load_records([target])
    assert sorted((r.id, r.correct) for r in recs.records) == [
        ("gen-1", True), ("gen-2", False), ("gen-3", True)]  # fmt: skip
    assert all(r.confidence == 0.8 and r.domain == "general" for r in recs.records)


def test_audit_reports_live_estimate_and_drift(db: str, tmp_path: Path) -> None:
    for n, lab in enumerate(["correct", "incorrect", "incorrect"], start=1):
        run("review", "label", f"gen-{n}", lab, "--store", db, "-r", "ann")
    run("review", "label", "med-1", "incorrect", "--store", db, "-r", "ann")
    prof = CalibrationProfile(
        domain="general", source="verbalized", binning="width", n_bins=10,
        edges=[i / 10 for i in range(11)],
        map=CalibrationMap(method="isotonic", x=[0.0, 1.0], y=[0.0, 1.0], n=[1, 1]),
        n=300, accuracy=0.78, mean_confidence=0.8, ece=0.04, data_hash="t",
        created=utcnow(),
    )  # fmt: skip
    path = prof.save(tmp_path / "general.json")
    code, out = run("review", "audit", "--store", db, "--since", "7d", "--profile", str(path),
                    "--json", "--bootstrap", "0")  # fmt: skip
    assert code == 0, out
    rep = json.loads(out)
    (est,) = rep["spot_check"]
    # 3 spot checks at 10%: 1 correct of 3 -> accuracy 1/3; all at 0.8 -> ECE |1/3 - 0.8|.
    assert est["group"] == "general" and est["n"] == 3 and est["estimated_answers"] == 30.0
    assert est["accuracy"] == pytest.approx(1 / 3)
    assert est["ece"] == pytest.approx(0.8 - 1 / 3)
    assert rep["drift"][0]["message"] == (
        "general ECE was 0.04 at audit, 0.47 in the last 7 days (n=3)"
    )
    assert rep["review_queue"]["overall"]["n"] == 1
    code, out = run("review", "audit", "--store", db, "--since", "7d", "--profile", str(path))
    assert code == 0 and "Horvitz-Thompson" in out and "biased by design" in out


def test_expire_and_release(db: str) -> None:
    assert run("review", "claim", "--store", db, "-r", "ann", "--domain", "medical")[0] == 0
    code, out = run("review", "release", "med-1", "--store", db, "-r", "bob")
    assert code == 1 and "not claimed by bob" in out
    assert run("review", "release", "med-1", "--store", db, "-r", "ann")[0] == 0
    code, out = run("review", "expire", "--store", db, "--older-than", "5d")
    assert code == 0 and "Expired 1 item" in out
    with SQLiteReviewStore(db) as st:
        assert st.get("gen-0").status == "expired"


def test_unopenable_store(tmp_path: Path) -> None:
    bad = tmp_path / "not.db"
    bad.write_text("definitely not sqlite" * 50)
    code, out = run("review", "list", "--store", str(bad))
    assert code == 2 and "cannot open review store" in out


def test_audit_uses_the_profile_the_policy_references(db: str, tmp_path: Path) -> None:
    for n in (1, 2, 3):
        run("review", "label", f"gen-{n}", "incorrect", "--store", db, "-r", "ann")
    prof = CalibrationProfile(
        domain="general", source="verbalized", binning="width", n_bins=10,
        edges=[i / 10 for i in range(11)],
        map=CalibrationMap(method="isotonic", x=[0.0, 1.0], y=[0.0, 1.0], n=[1, 1]),
        n=300, accuracy=0.78, mean_confidence=0.8, ece=0.05, data_hash="t", created=utcnow(),
    )  # fmt: skip
    prof.save(tmp_path / "pol" / "general.json")
    (tmp_path / "pol" / "general.guard").write_text(
        'policy general {\n  calibration "general.json"\n  spot_check 10%\n'
        "  signals {\n    verbalized\n  }\n  rule unsure {\n    when verbalized < 50%\n"
        '    then review "A person will check this."\n  }\n}\n'
    )
    code, out = run("review", "audit", "--store", db, "--policies", str(tmp_path / "pol"),
                    "--json", "--bootstrap", "0")  # fmt: skip
    assert code == 0, out
    (row,) = json.loads(out)["drift"]
    # 3 wrong answers at 0.8 (plus gen-0, unlabelled): live ECE 0.8 vs 0.05 at audit.
    assert row["message"] == "general ECE was 0.05 at audit, 0.80 live (n=3)"
    code, out = run("review", "audit", "--store", db, "--policies", str(tmp_path / "nope"))
    assert code == 2


def test_audit_plot_writes_the_live_diagram(db: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the diagram needs the 'plot' extra")
    for n in (1, 2, 3):
        run("review", "label", f"gen-{n}", "correct", "--store", db, "-r", "ann")
    out = tmp_path / "live.png"
    code, text = run("review", "audit", "--store", db, "--plot", str(out), "--bootstrap", "0")
    assert code == 0, text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.with_suffix(".svg").is_file()


def test_import_labels_reports_bad_rows_and_applies_the_rest(db: str, tmp_path: Path) -> None:
    src = tmp_path / "labels.jsonl"
    src.write_text(
        '{"id": "gen-1", "label": "correct", "reviewer": "vendor", "note": "ok"}\n'
        "not json\n"
        '{"id": "gen-2", "label": "maybe"}\n'
        '{"id": "nope", "label": "correct"}\n'
        '{"label": "correct"}\n'
        '{"id": "gen-3", "label": "partially", "corrected_answer": "a3 (with caveat)"}\n'
    )
    code, out = run("review", "import", str(src), "--store", db, "-r", "ann")
    assert code == 0 and "Imported 2 label(s); skipped 4." in out
    for line in (":2: not JSON", ":3: unknown label 'maybe'", ":4: no review item", ":5: needs"):
        assert line in out
    with SQLiteReviewStore(db) as st:
        one, two, three = st.get("gen-1"), st.get("gen-2"), st.get("gen-3")
    assert (one.label, one.reviewer, one.note) == ("correct", "vendor", "ok")
    assert two.label is None  # the bad row changed nothing
    assert (three.label, three.reviewer, three.corrected_answer) == (
        "partially", "ann", "a3 (with caveat)")  # fmt: skip
    csv_src = tmp_path / "labels.csv"
    csv_src.write_text("id,label,note\ngen-2,incorrect,from sheet\n")
    code, out = run("review", "import", str(csv_src), "--store", db, "-r", "ann")
    assert code == 0 and "Imported 1" in out
    code, out = run("review", "import", str(csv_src), "--store", db, "-r", "ann")
    assert code == 1 and "--overwrite" in out


def test_bad_paths_are_one_line_errors_not_tracebacks(db: str, tmp_path: Path) -> None:
    """Output paths that cannot be written, a binary label file and a JSON file that is not a
    calibration profile each raised a traceback (FileExistsError, UnicodeDecodeError) or dumped
    pydantic's multi-line error with a URL."""
    for n, lab in enumerate(["correct", "incorrect"], start=1):  # something to audit and plot
        assert run("review", "label", f"gen-{n}", lab, "--store", db, "-r", "ann")[0] == 0
    taken = tmp_path / "taken"
    taken.write_text("x", encoding="utf-8")
    for args in (
        ("review", "export", "--store", db, "--out", f"{taken}/x.jsonl"),
        ("review", "audit", "--store", db, "--bootstrap", "0", "--records", f"{taken}/r.jsonl"),
        ("review", "audit", "--store", db, "--bootstrap", "0", "--plot", f"{taken}/live"),
    ):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 1, (args, result.output)
        assert f"error: cannot write {taken}" in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
    binary = tmp_path / "labels.jsonl"
    binary.write_bytes(b"\xe0\x80\xff\x00" * 20)
    result = runner.invoke(app, ["review", "import", str(binary), "--store", db, "-r", "ann"])
    # Typer draws usage errors in a box that wraps at the console width (pinned in conftest, but a
    # long temp path can still wrap it): compare the text with the box and line breaks removed.
    assert result.exit_code == 2 and "is not UTF-8 text" in _flat(result.output)
    assert isinstance(result.exception, SystemExit)
    not_profile = tmp_path / "records.json"
    not_profile.write_text('{"confidence": 0.9, "correct": true}\n', encoding="utf-8")
    result = runner.invoke(
        app, ["review", "audit", "--store", db, "--bootstrap", "0", "--profile", str(not_profile)]
    )
    assert result.exit_code == 2
    flat = _flat(result.output)
    assert f"{not_profile}: not a calibration profile" in flat
    assert "errors.pydantic.dev" not in flat


def test_missing_default_store_is_reported_not_silently_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`guardrail review list` with no store created an empty database and said "No pending
    items.", hiding the queued answers. A store file that does not exist is now an error naming
    the full path. The default is review.db in the user data directory (platformdirs; on Linux
    $XDG_DATA_HOME/guardrail), the same file whatever the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("GUARDRAIL_REVIEW_STORE", raising=False)
    result = runner.invoke(app, ["review", "list"])
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert f"no review store at {tmp_path / 'data' / 'guardrail' / 'review.db'}" in flat
    assert not (tmp_path / "data").exists() and not list(tmp_path.iterdir())
    result = runner.invoke(app, ["review", "list", "--store", f"sqlite:///{tmp_path}/other.db"])
    assert result.exit_code == 2 and not (tmp_path / "other.db").exists()


@pytest.mark.parametrize("width", [80, 200])
def test_list_and_audit_are_readable_at_the_terminal_width(
    db: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns `review list` dropped the question and cut labels ("cor"), and `review
    audit` wrapped headers into "accura…"/"overco…". Now nothing is wider than the terminal,
    ids and labels are whole, and the question is shown (on its own line when narrow)."""
    from rich.console import Console

    from guardrail.cli import review_cmds

    monkeypatch.setattr(review_cmds, "_out", Console(width=width, soft_wrap=False))
    for n, lab in enumerate(["correct", "incorrect"], start=1):
        assert run("review", "label", f"gen-{n}", lab, "--store", db, "-r", "ann")[0] == 0
    code, out = run("review", "list", "--store", db, "--status", "all")
    assert code == 0, out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width, out
    for item in ("med-1", "gen-0", "gen-1", "gen-2", "gen-3"):
        assert any(line.startswith(item + " ") for line in lines), (item, out)
    assert "incorrect" in out and "Max adult paracetamol" in out
    # narrow: two lines per item (5 items) + header + total; wide: one line per item
    assert len(lines) == (1 + 2 * 5 + 1 if width == 80 else 1 + 5 + 1), out
    code, out = run("review", "audit", "--store", db, "--bootstrap", "0")
    assert code == 0, out
    assert max(len(line) for line in out.splitlines()) <= width, out
    assert "…" not in out  # no header or number cut short
    assert "verdict" in out and "accuracy" in out and "overconf" in out
