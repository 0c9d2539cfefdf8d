"""`guardrail ask` against the fake OpenAI-compatible server (and the embedded model, slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servers.fake_openai import FakeOpenAIServer, role_answers
from typer.testing import CliRunner

from guardrail.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _review_store_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`guardrail ask` queues into the SQLite review store; keep it out of the working tree."""
    db = tmp_path / "review.db"
    monkeypatch.setenv("GUARDRAIL_REVIEW_STORE", str(db))
    return db


def test_ask_text_output_with_bundled_medical_policy(server: FakeOpenAIServer) -> None:
    # medical: 7 samples; verbalized follow-up. All 7 agree (consistency 1.0), stated 80% and the
    # answer hedges ("may") -> no review rule fires -> otherwise notice.
    server.answers = role_answers(
        answer="Epinephrine may be given intramuscularly.",
        samples=["Epinephrine may be given intramuscularly."],
        followup="Confidence: 80%",
    )
    res = runner.invoke(
        app,
        [
            "ask",
            "First-line treatment for anaphylaxis?",
            "--domain",
            "medical",
            "--base-url",
            server.base_url,
            "--model",
            "fake",
        ],
    )
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    assert first == "Epinephrine may be given intramuscularly."
    assert "Medical information from an AI model" in res.output
    assert "status: answered  action: notice  policy: medical" in res.output
    assert "signal consistency = 1.000" in res.output
    assert "signal verbalized = 0.800" in res.output


def test_ask_json_with_policy_file(server: FakeOpenAIServer, tmp_path: Path) -> None:
    pol = tmp_path / "tiny.guard"
    pol.write_text(
        "policy tiny {\n  signals {\n    verbalized followup\n  }\n"
        '  rule unsure {\n    when verbalized < 0.5\n    then abstain "Not sure."\n  }\n}\n'
    )
    server.answers = role_answers(answer="42.", followup="Confidence: 10%")
    res = runner.invoke(
        app,
        [
            "ask",
            "Meaning of life?",
            "--policy",
            str(pol),
            "--base-url",
            server.base_url,
            "--model",
            "fake",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["status"] == "abstained" and data["text"] == "Not sure."
    assert data["values"]["verbalized"] == 0.1
    assert data["decision"]["matched"][0]["rule"] == "unsure"


def test_ask_holds_review_in_the_sqlite_store_that_review_list_reads(
    server: FakeOpenAIServer, _review_store_in_tmp: Path
) -> None:
    # medical: 7 of 7 samples agree (consistency 1.0) but the answer is unhedged and the model
    # states 95% -> rule confident_unhedged (hedges == 0 and verbalized >= 90%) -> review.
    server.answers = role_answers(
        answer="Epinephrine is given intramuscularly.",
        samples=["Epinephrine is given intramuscularly."],
        followup="Confidence: 95%",
    )
    args = ["ask", "Anaphylaxis first line?", "--domain", "medical"]
    res = runner.invoke(app, [*args, "--base-url", server.base_url, "--model", "fake"])
    assert res.exit_code == 0, res.output
    assert "status: pending_review  action: review  policy: medical" in res.output
    review_id = next(
        line.split()[2] for line in res.output.splitlines() if line.startswith("review id: ")
    )
    assert _review_store_in_tmp.is_file()
    listed = runner.invoke(app, ["review", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (item,) = [json.loads(line) for line in listed.output.splitlines()]
    assert item["id"] == review_id
    assert item["decision"] == "review" and item["reason"] == "review"
    assert item["domain"] == "medical" and item["signals"]["verbalized"] == 0.95


def test_ask_errors(server: FakeOpenAIServer) -> None:
    server.api_key = "right"
    res = runner.invoke(
        app,
        [
            "ask",
            "q",
            "--domain",
            "general",
            "--base-url",
            server.base_url,
            "--model",
            "m",
            "--api-key",
            "wrong",
        ],
    )
    assert res.exit_code == 3 and "authentication failed" in res.output
    res = runner.invoke(app, ["ask", "q", "--domain", "astrology", "--base-url", server.base_url])
    assert res.exit_code == 2 and "known domains" in res.output
    # An empty question was sent to the model (answer + samples + follow-up calls).
    before = len(server.requests)
    res = runner.invoke(app, ["ask", "  ", "--domain", "general", "--base-url", server.base_url])
    assert res.exit_code == 2 and "the question is empty" in res.output
    assert len(server.requests) == before
    # --max-tokens 0 and --timeout 0 were accepted: the first asked for empty completions, the
    # second reported "guard timeout (0.0 s) expired" as a failed answer.
    for opt in (["--max-tokens", "0"], ["--timeout", "0"], ["--timeout", "-1"]):
        res = runner.invoke(
            app, ["ask", "q", "--domain", "general", "--base-url", server.base_url, *opt]
        )
        assert res.exit_code == 2, (opt, res.output)
    assert len(server.requests) == before


@pytest.mark.slow
def test_ask_on_the_embedded_model() -> None:
    pytest.importorskip("llama_cpp", reason="local extra not installed")
    res = runner.invoke(
        app,
        [
            "ask",
            "What is 2 + 2?",
            "--domain",
            "general",
            "--max-tokens",
            "16",
            "--seed",
            "1",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["provider"] == "llama_cpp" and data["model"] == "SmolLM2-135M-Instruct"
    assert data["status"] in {"answered", "abstained", "pending_review"}
    assert data["signals"][0]["name"] in {"hedges", "hedge_label", "consistency"}
    assert data["cost"]["calls"] == 1 + 5  # answer + 5 samples (general policy)
