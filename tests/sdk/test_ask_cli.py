"""`guardrail ask` against the fake OpenAI-compatible server (and the embedded model, slow)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

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


def _ask(server: FakeOpenAIServer, *args: str) -> Any:
    return runner.invoke(app, ["ask", *args, "--base-url", server.base_url, "--model", "fake"])


def test_default_seed_stakes_and_json_errors(server: FakeOpenAIServer) -> None:
    """Issue 11: no default seed (the same question abstained, then passed); no --stakes, so
    legal output always listed stakes as missing; errors were text even under --format json."""
    server.answers = role_answers(answer="It depends on the jurisdiction.", followup="80%")
    res = _ask(server, "Is a verbal contract binding?", "--domain", "legal", "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert "stakes" in data["decision"]["missing"]
    # every model call is seeded from the documented default seed, 0: the answer call (first) and
    # the follow-up carry 0; sample i (0-based) is drawn with seed 1 + i, never the answer call's
    # seed (issue 10 part 6). legal is `plan cost` (issue 15): the samples come in waves, a wave
    # of n samples starting at sample i is one request with seed 1 + i and `n` (choice j gets
    # seed 1 + i + j), and the waves follow one another: seeds 1, 1 + n1, 1 + n1 + n2, ... <= 7
    seeds = [(r.get("seed"), r.get("n", 1)) for r in server.requests]
    assert seeds[0] == (0, 1)
    waves = sorted((s, n) for s, n in seeds if s != 0)
    assert waves and waves[0][0] == 1
    for (s1, n1), (s2, _) in itertools.pairwise(waves):
        assert s2 == s1 + n1
    assert waves[-1][0] + waves[-1][1] - 1 <= 7  # k = 7 samples at most
    before = len(server.requests)
    res = _ask(
        server, "Is a verbal contract binding?", "--domain", "legal", "--stakes", "high",
        "--format", "json", "--seed", "7",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["values"]["stakes"] == "high" and "stakes" not in data["decision"]["missing"]
    second = [r.get("seed") for r in server.requests[before:]]
    # --seed 7: answer 7, samples from 8 (waves: 8, 8 + n1, ... <= 14)
    assert second[0] == 7 and 8 in second and all(7 <= x <= 14 for x in second)
    # an unknown domain under --format json: a JSON error document on stdout, exit 2
    res = _ask(server, "q", "--domain", "astrology", "--format", "json")
    assert res.exit_code == 2
    err = json.loads(res.stdout)["error"]
    assert err["exit_code"] == 2 and "astrology" in err["message"]
    res = _ask(server, "q", "--stakes", "enormous")
    assert res.exit_code == 2


def test_skipped_signal_is_not_listed_as_missing(server: FakeOpenAIServer, tmp_path: Path) -> None:
    """Stated confidence 10% abstains, the most severe action: consistency cannot change that,
    so the guard skips it. The text output listed it under "missing signals" anyway."""
    pol = tmp_path / "tiny.guard"
    pol.write_text(
        "policy tiny {\n  signals {\n    samples 3 temperature 0.9\n    verbalized followup\n  }\n"
        '  rule unsure {\n    when verbalized < 50%\n    then abstain "Not sure."\n  }\n'
        '  rule split {\n    when consistency < 50%\n    then review "Split."\n  }\n}\n'
    )
    server.answers = role_answers(answer="42.", followup="Confidence: 10%")
    res = _ask(server, "Meaning of life?", "--policy", str(pol))
    assert res.exit_code == 0, res.output  # an abstention is a result, not an error
    assert "status: abstained" in res.output
    assert "signal consistency: skipped (could not change the action)" in res.output
    assert "missing signals" not in res.output


def test_ask_store_defaults_to_the_user_data_dir(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held answers went to ./guardrail-review.db in whatever folder `ask` ran from; now to
    review.db in the user data directory (platformdirs: $XDG_DATA_HOME/guardrail on Linux),
    which `guardrail review list` reads from any folder."""
    monkeypatch.delenv("GUARDRAIL_REVIEW_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    server.answers = role_answers(
        answer="Epinephrine is given intramuscularly.",
        samples=["Epinephrine is given intramuscularly."],
        followup="Confidence: 95%",
    )
    res = _ask(server, "Anaphylaxis first line?", "--domain", "medical")
    assert res.exit_code == 0 and "status: pending_review" in res.output, res.output
    assert list(work.iterdir()) == []
    assert (tmp_path / "data" / "guardrail" / "review.db").is_file()
    monkeypatch.chdir(tmp_path)
    listed = runner.invoke(app, ["review", "list", "--json"])
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 1, listed.output


def test_progress_names_each_model_call(server: FakeOpenAIServer) -> None:
    """The spinner's text names the step of every call the guard makes (bundled medical policy:
    the answer, 7 samples in one call, the verbalized follow-up)."""
    from guardrail.cli.ask_cmd import _StepStatus
    from guardrail.policy import load_policy
    from guardrail.providers import OpenAICompatProvider
    from guardrail.sdk import Guard

    class Recorder:
        def __init__(self) -> None:
            self.texts: list[str] = []

        def update(self, text: str) -> None:
            self.texts.append(text)

    server.answers = role_answers(
        answer="Epinephrine may be given.", samples=["Epinephrine may be given."], followup="80%"
    )
    rec = Recorder()
    provider = OpenAICompatProvider(server.base_url, None, model="fake")
    pol = load_policy(Path(__file__).parents[2] / "policies" / "medical.guard")
    # the schedule without a `plan` (bundled medical is `plan cost`: samples in waves)
    pol = pol.model_copy(update={"plan": None})
    guard = Guard({pol.name: pol}, _StepStatus(provider, rec, 1))  # type: ignore[arg-type]
    r = guard.chat_sync([{"role": "user", "content": "Anaphylaxis?"}], domain="medical")
    assert r.status == "answered"
    steps = [t.split(": ", 2)[2] for t in rec.texts]
    assert steps[0] == "answer"
    assert sorted(steps[1:]) == [
        "samples (7 answers for self-consistency)",
        "stated confidence (follow-up question)",
    ]
    assert len(rec.texts) == r.cost.calls == 3  # the 7 samples are one call with n=7


@pytest.mark.slow
def test_ask_is_reproducible_by_default_on_the_embedded_model() -> None:
    """Issue 11: the same question abstained, then passed. With the default seed (0) two runs
    give the same samples, signals and decision."""
    pytest.importorskip("llama_cpp", reason="local extra not installed")
    args = ["ask", "What is the capital of Australia?", "--domain", "general",
            "--max-tokens", "16", "--format", "json", "--no-spot-check"]  # fmt: skip
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == second.exit_code == 0, (first.output, second.output)
    a, b = json.loads(first.output), json.loads(second.output)
    assert a["status"] == b["status"] and a["values"] == b["values"]
    assert a["answer"] == b["answer"]


def test_progress_counts_samples_one_by_one_for_the_embedded_model() -> None:
    """With the embedded model the spinner says "samples 3/7": the wrapper asks the n samples
    one at a time with seeds seed + i (what LocalProvider does inside one call) and merges them
    into one ChatResult; a failed sample is counted, not raised."""
    import asyncio

    from guardrail.cli.ask_cmd import _StepStatus
    from guardrail.providers import ChatResult, Choice, ProviderError, Usage

    class Inner:  # stands in for LocalProvider: one generation per call, seed-determined text
        name, default_model = "llama_cpp", "tiny"

        def __init__(self) -> None:
            self.seeds: list[int | None] = []

        async def chat(self, messages: Any, **kw: Any) -> ChatResult:
            assert kw["n"] == 1
            self.seeds.append(kw["seed"])
            if kw["seed"] == 12:
                raise ProviderError("local generation failed: boom")
            return ChatResult(
                provider="llama_cpp", model="tiny", calls=1,
                choices=[Choice(index=0, text=f"answer {kw['seed']}")],
                usage=Usage(input_tokens=5, output_tokens=2),
            )  # fmt: skip

        async def aclose(self) -> None:
            return None

    class Recorder:
        def __init__(self) -> None:
            self.texts: list[str] = []

        def update(self, text: str) -> None:
            self.texts.append(text)

    inner, rec = Inner(), Recorder()
    wrapped = _StepStatus(inner, rec, 1, per_sample=True)  # type: ignore[arg-type]
    msgs = [{"role": "user", "content": "q"}]
    asyncio.run(wrapped.chat(msgs, n=1))  # the answer
    res = asyncio.run(wrapped.chat(msgs, n=4, temperature=0.9, seed=10))
    assert inner.seeds == [None, 10, 11, 12, 13]
    assert rec.texts[-4:] == [f"guardrail ask: call 2: samples {i}/4" for i in (1, 2, 3, 4)]
    assert [c.text for c in res.choices] == ["answer 10", "answer 11", "answer 13"]
    assert [c.index for c in res.choices] == [0, 1, 2]
    assert (res.requested, res.failed, res.calls) == (4, 1, 4)
    assert res.errors == ["ProviderError: local generation failed: boom"]
    assert (res.usage.input_tokens, res.usage.output_tokens) == (15, 6)  # 3 successes x (5, 2)


def test_ask_writes_the_decision_log(
    server: FakeOpenAIServer, tmp_path: Path, _review_store_in_tmp: Path
) -> None:
    # as test_ask_text_output_with_bundled_medical_policy: 7/7 agree, stated 80%, "may" hedges
    # -> otherwise notice; the record lands in the decision_log table beside the review store
    server.answers = role_answers(
        answer="Epinephrine may be given intramuscularly.",
        samples=["Epinephrine may be given intramuscularly."],
        followup="Confidence: 80%",
    )
    url = f"sqlite:{_review_store_in_tmp}"
    args = ["ask", "First-line treatment for anaphylaxis?", "--domain", "medical"]
    args += ["--base-url", server.base_url, "--model", "fake", "--decision-log", url]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    from guardrail.decisions.table import open_decision_table

    with open_decision_table(url, create=False) as table:
        ((rec,),) = list(table.read())
    assert rec["action"] == "notice" and rec["domain"] == "medical"
    assert rec["values"]["consistency"] == 1.0 and rec["values"]["verbalized"] == 0.8
    res = runner.invoke(app, [*args[:-1], "postgresql://127.0.0.1:1/none"])  # port 1: refused
    assert res.exit_code == 2 and "cannot open decision log" in res.output
