"""``guardrail audit run`` and replay of a recorded real SmolLM2-135M run.

``data/smollm2_replay.jsonl`` holds every model call of an audit run of three real questions
(made by ``data/record_replay.py`` with the embedded model) and ``data/smollm2_records.jsonl``
the records that run wrote. Replaying the calls must reproduce those records exactly: the
runner is deterministic given the same replies.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guardrail.cli import app
from guardrail.providers import ReplayProvider
from guardrail.runner.records import read_records
from guardrail.runner.run import AuditRunner

DATA = Path(__file__).resolve().parent / "data"
MODEL = "SmolLM2-135M-Instruct"


def _recorder() -> Any:
    spec = importlib.util.spec_from_file_location("record_replay", DATA / "record_replay.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def recorded(shared_data: Path) -> Any:
    mod = _recorder()
    mod.DATA = shared_data
    return mod


async def test_replay_reproduces_the_recorded_run(recorded: Any, tmp_path: Path) -> None:
    provider = ReplayProvider(DATA / "smollm2_replay.jsonl", model=MODEL, name="llama_cpp")
    out = tmp_path / "records.jsonl"
    await AuditRunner(provider, recorded.CONFIG).run(recorded.questions(), out, progress=False)
    expected = [r.model_dump() for r in read_records(DATA / "smollm2_records.jsonl")]
    got = [r.model_dump() for r in read_records(out)]
    assert got == expected
    by_id = {r["id"]: r for r in got}
    # Facts a reader can check in the fixture by hand: the known_unknowns question was answered
    # with a concrete option (no abstention) and judged wrong; the anatomy reply recites options.
    anatomy = by_id["mmlu/anatomy/0#consistency"]
    assert anatomy["reply"] == "A. paralysis of the facial muscles."
    assert anatomy["judge_detail"] == "letter A, but the text after it is option C's"
    assert not anatomy["correct"]  # the letter decides (C is the key after shuffling)
    ku = by_id["bigbench/known_unknowns/0#hedge_label"]
    assert (ku["answerable"], ku["abstained"], ku["correct"]) == (False, False, False)
    assert {r["question_id"] for r in got} == set(recorded.IDS)


def _write_generic(questions: list[Any], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for q in questions:
            row = {
                "id": q.id,
                "question": q.question,
                "kind": q.kind,
                "choices": list(q.choices),
                "answer": q.answer,
                "aliases": list(q.aliases),
                "domain": q.domain,
                "instruction": q.instruction,
                "answerable": q.answerable,
            }
            fh.write(json.dumps(row) + "\n")


def test_cli_run_replay_report_and_resume(recorded: Any, tmp_path: Path) -> None:
    qfile = tmp_path / "questions.jsonl"
    _write_generic(recorded.questions(), qfile)
    out = tmp_path / "records.jsonl"
    args = [
        "audit",
        "run",
        str(qfile),
        "-o",
        str(out),
        "--replay",
        str(DATA / "smollm2_replay.jsonl"),
        "--model",
        MODEL,
        "--logprob-probe",
        "--shuffle-choices",
        "--max-tokens",
        "24",
        "--sample-max-tokens",
        "10",
        "--no-progress",
        "--report",
        str(tmp_path / "report"),
        "--summary-json",
        str(tmp_path / "summary.json"),
        "--policy-snippet",
        str(tmp_path / "recommended"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    # 3 questions give at most 3 records per (domain, source), below the 10 a recommendation
    # needs: the snippet file is not written, and the run says so instead of staying silent.
    assert not (tmp_path / "recommended").exists()
    assert "no threshold recommendation" in result.output and "not written" in result.output
    assert "audit run: SmolLM2-135M-Instruct via replay" in result.output
    assert "answered now 3, failed 0" in result.output
    expected = {
        r.id: (r.confidence, r.correct, r.reply)
        for r in read_records(DATA / "smollm2_records.jsonl")
    }
    got = {r.id: (r.confidence, r.correct, r.reply) for r in read_records(out)}
    assert got == expected
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["questions"] == 3 and summary["abstention"]["unanswerable"] == 1
    assert (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "report" / "audit.json").is_file()
    again = CliRunner().invoke(app, args[: args.index("--report")])
    assert again.exit_code == 0, again.output
    assert "already done 3, answered now 0" in again.output
    assert len(read_records(out)) == len(expected)


def test_cli_bad_inputs(tmp_path: Path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "q"}\n', encoding="utf-8")
    result = CliRunner().invoke(
        app, ["audit", "run", str(bad), "-o", str(tmp_path / "o.jsonl"), "--no-progress"]
    )
    assert result.exit_code == 2
    assert "q.jsonl:1: missing field 'answer'" in result.output
    good = tmp_path / "g.jsonl"
    good.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["audit", "run", str(good), "-o", str(tmp_path / "o.jsonl"), "--sources", "nope"],
    )
    assert result.exit_code == 2 and "unknown source" in result.output
    not_records = tmp_path / "o.jsonl"
    not_records.write_text('{"id": 1}\n', encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "run",
            str(good),
            "-o",
            str(not_records),
            "--no-progress",
            "--replay",
            str(DATA / "smollm2_replay.jsonl"),
        ],
    )
    assert result.exit_code == 2 and "not an audit record" in result.output


def test_cli_unwritable_output_is_a_one_line_error_before_any_call(tmp_path: Path) -> None:
    # The records path's parent is a regular file: nothing can be created under it. The run
    # must stop with exit 2 and one line naming the path, before asking the model anything.
    good = tmp_path / "g.jsonl"
    good.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    out = blocker / "o.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "run",
            str(good),
            "-o",
            str(out),
            "--no-progress",
            "--replay",
            str(DATA / "smollm2_replay.jsonl"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert f"{out}: cannot write audit records" in result.output
    assert "Traceback" not in result.output
