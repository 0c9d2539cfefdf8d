"""``guardrail audit run``: ask a model labelled questions, elicit confidence, write audit records.

Registered on the ``audit`` group created by :mod:`guardrail.cli.audit_cmds`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from guardrail.cli._common import EXIT_ENVIRONMENT, EXIT_FINDINGS, EXIT_USAGE, fail

if TYPE_CHECKING:  # the runner (httpx, numpy) loads when the command runs, not for --help
    from rich.table import Table

    from guardrail.runner.questions import Question
    from guardrail.runner.records import Source
    from guardrail.runner.run import RunSummary


def _parse_sources(value: str | None) -> tuple[Source, ...]:
    from guardrail.runner.records import ALL_SOURCES

    if value is None:
        return tuple(ALL_SOURCES)
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in ALL_SOURCES]
    if bad or not names:
        raise typer.BadParameter(
            f"unknown source(s) {bad}; choose from {', '.join(ALL_SOURCES)}", param_hint="--sources"
        )
    return tuple(n for n in ALL_SOURCES if n in names)


def _load_inputs(
    inputs: list[Path], fmt: str, limit: int | None, seed: int, domain: str | None
) -> list[Question]:
    from guardrail.runner.questions import check_unique_ids, load_questions, sample_questions

    questions: list[Question] = []
    for path in inputs:
        qs = load_questions(path, fmt=fmt)
        qs = sample_questions(qs, limit, seed=seed)
        if domain:
            qs = [q.model_copy(update={"domain": domain}) for q in qs]
        questions.extend(qs)
    check_unique_ids(questions)
    return questions


def _make_provider(
    base_url: str | None,
    model: str | None,
    api_key: str | None,
    replay: Path | None,
    threads: int | None,
    n_ctx: int,
) -> Any:
    from guardrail.providers import LocalProvider, OpenAICompatProvider, ReplayProvider

    if replay is not None:
        return ReplayProvider(replay, model=model or "replay")
    if base_url:
        return OpenAICompatProvider(base_url, api_key, model=model)
    return LocalProvider(n_ctx=n_ctx, n_threads=threads)


def _summary_table(summary: RunSummary) -> Table:
    from rich.table import Table

    t = Table(title=f"audit run: {summary.model} via {summary.provider}", title_justify="left")
    for col in ("source", "records", "coverage", "accuracy", "mean conf.", "why missing"):
        t.add_column(col, justify="left" if col in ("source", "why missing") else "right")
    for s in summary.per_source:
        why = "; ".join(f"{k} ({v})" for k, v in list(s.missing.items())[:3])
        t.add_row(
            s.source,
            str(s.records),
            f"{s.coverage:.0%}",
            "-" if s.accuracy is None else f"{s.accuracy:.3f}",
            "-" if s.mean_confidence is None else f"{s.mean_confidence:.3f}",
            why,
        )
    return t


def _print_summary(console: Console, summary: RunSummary) -> None:
    console.print(_summary_table(summary))
    tokens = f"{summary.input_tokens:,} in / {summary.output_tokens:,} out tokens"
    cost = "" if summary.cost is None else f", cost {summary.cost:.4f}"
    console.print(
        f"questions {summary.questions} (already done {summary.skipped_done}, answered now "
        f"{summary.answered_now}, failed {summary.failed}); {summary.calls} calls, {tokens}"
        f"{cost}; {summary.wall_s:.1f} s",
        highlight=False,
    )
    if summary.per_domain:
        console.print(
            "per domain: " + ", ".join(f"{k} {v}" for k, v in summary.per_domain.items()),
            highlight=False,
        )
    for f in summary.failures[:10]:
        console.print(f"[red]failed[/red] {escape(f)}", highlight=False, markup=True)
    ab = summary.abstention
    if ab is not None:
        rate = "-" if ab.abstention_rate is None else f"{ab.abstention_rate:.0%}"
        cw = ", ".join(
            f"{s} {n}"
            + ("" if ab.confident_wrong_rate[s] is None else f" ({ab.confident_wrong_rate[s]:.0%})")
            for s, n in ab.confident_wrong.items()
        )
        console.print(
            f"abstention: {ab.abstained}/{ab.unanswerable} unanswerable questions declined "
            f"({rate}); over-abstained on {ab.over_abstained}/{ab.answerable} answerable; "
            f"confidently wrong (>= {ab.confident_at:.0%}) on unanswerable: {cw}",
            highlight=False,
        )


def audit_run_cmd(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Question files or task folders: MMLU CSV, MedQA/PubMedQA JSONL, LegalBench "
            "task, TriviaQA/BoolQ JSONL, BIG-bench task.json, or a generic JSONL/CSV "
            "(question, answer, choices/aliases, domain)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Audit records JSONL (appended; resumable).")
    ],
    fmt: Annotated[str, typer.Option("--format", help="Input format (default: detect).")] = "auto",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Seeded sample of N questions per input.")
    ] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", help="Override the domain of every question.")
    ] = None,
    sources: Annotated[
        str | None,
        typer.Option(
            "--sources",
            help="Comma-separated confidence sources to record (default: all: verbalized, "
            "verbalized_followup, consistency, logprob_confidence, hedge_label).",
        ),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", min=2, help="k for consistency.")] = 5,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, max=2.0, help="Sampling temperature.")
    ] = 0.9,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1)] = 40,
    sample_max_tokens: Annotated[int, typer.Option("--sample-max-tokens", min=1)] = 12,
    logprob_probe: Annotated[
        bool | None,
        typer.Option(
            "--logprob-probe/--no-logprob-probe",
            help="Read log-probs from a short separate call (default: on for the local model).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Base seed (sampling and questions).")] = 0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Questions in flight (1 for local).")
    ] = 1,
    shuffle_choices: Annotated[
        bool,
        typer.Option("--shuffle-choices/--keep-choices", help="Seeded option order per question."),
    ] = False,
    fuzzy_threshold: Annotated[float, typer.Option("--fuzzy-threshold", min=0.0, max=100.0)] = 85.0,
    llm_judge: Annotated[
        bool, typer.Option("--llm-judge", help="Ask a judge model about unmatched short answers.")
    ] = False,
    judge_model: Annotated[str | None, typer.Option("--judge-model")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible server (default: local).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name.")] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="OPENAI_API_KEY", show_envvar=True)
    ] = None,
    replay: Annotated[
        Path | None, typer.Option("--replay", help="Serve recorded responses from this JSONL.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads for the local model.")
    ] = None,
    n_ctx: Annotated[int, typer.Option("--n-ctx", min=256, help="Local context size.")] = 2048,
    price_in: Annotated[
        float | None, typer.Option("--price-in", min=0.0, help="Price per 1M input tokens.")
    ] = None,
    price_out: Annotated[
        float | None, typer.Option("--price-out", min=0.0, help="Price per 1M output tokens.")
    ] = None,
    confident_at: Annotated[
        float, typer.Option("--confident-at", min=0.0, max=1.0, help="'Confidently wrong' cut.")
    ] = 0.7,
    target_accuracy: Annotated[
        float,
        typer.Option("--target-accuracy", min=0.01, max=1.0, help="For the recommendations."),
    ] = 0.9,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write the calibration report (HTML + diagrams) here."),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the report.")
    ] = 1000,
    snippet_out: Annotated[
        Path | None,
        typer.Option(
            "--policy-snippet",
            help="Folder for the recommended policies: one <domain>.guard per domain (a .guard "
            "file holds one policy).",
        ),
    ] = None,
    summary_out: Annotated[
        Path | None, typer.Option("--summary-json", help="Write the run summary JSON here.")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Ask a model labelled questions, record each confidence source, judge, recommend thresholds.

    Re-running with the same --out resumes: question ids already in the file are skipped.
    """
    from guardrail.runner.questions import QuestionFileError
    from guardrail.runner.recommend import (
        MIN_RECORDS,
        policy_snippet,
        policy_snippets,
        recommend_thresholds,
    )
    from guardrail.runner.records import RecordFileError, read_records
    from guardrail.runner.run import AuditRunner, RunConfig

    err = Console(stderr=True, soft_wrap=True)
    console = Console()
    if snippet_out is not None and (snippet_out.suffix == ".guard" or snippet_out.is_file()):
        fail(
            f"--policy-snippet takes a folder (one <domain>.guard per policy: a .guard file "
            f"holds one policy), not the file {snippet_out}",
            EXIT_USAGE,
        )
    try:
        config = RunConfig(
            model=model,
            sources=_parse_sources(sources),
            samples=samples,
            sample_temperature=temperature,
            max_tokens=max_tokens,
            sample_max_tokens=sample_max_tokens,
            logprob_probe=(base_url is None and replay is None)
            if logprob_probe is None
            else logprob_probe,
            seed=seed,
            concurrency=concurrency,
            fuzzy_threshold=fuzzy_threshold,
            shuffle_choices=shuffle_choices,
            llm_judge=llm_judge,
            judge_model=judge_model,
            confident_at=confident_at,
            price_input_per_mtok=price_in,
            price_output_per_mtok=price_out,
        )
        questions = _load_inputs(inputs, fmt, limit, seed, domain)
    except (QuestionFileError, ValueError) as exc:
        fail(str(exc), EXIT_USAGE)
    if not questions:
        fail("no questions to ask", EXIT_USAGE)
    from guardrail.providers import LocalModelUnavailable

    try:
        provider = _make_provider(base_url, model, api_key, replay, threads, n_ctx)
    except LocalModelUnavailable as exc:  # environment: the `local` extra is missing
        fail(str(exc), EXIT_ENVIRONMENT)
    except Exception as exc:  # bad replay file, bad URL, ...
        fail(str(exc), EXIT_USAGE)
    runner = AuditRunner(provider, config)

    import asyncio

    async def go() -> RunSummary:
        try:
            return await runner.run(questions, out, progress=progress, console=err)
        finally:
            await provider.aclose()

    try:
        summary = asyncio.run(go())
    except RecordFileError as exc:
        fail(str(exc), EXIT_USAGE)
    _print_summary(console, summary)
    if summary_out is not None:
        summary_out.parent.mkdir(parents=True, exist_ok=True)
        summary_out.write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")

    wanted = {q.id for q in questions}
    records = [r for r in read_records(out) if r.question_id in wanted]
    recs = recommend_thresholds(records, target_accuracy=target_accuracy)
    if recs:
        snippet = policy_snippet(
            recs,
            model=summary.model,
            samples=config.samples,
            sample_temperature=config.sample_temperature,
        )
        console.print(
            "\n[bold]Threshold recommendations[/bold] (paste into policies/<domain>.guard):"
        )
        # soft_wrap: a wrapped line would not parse when pasted into a policy file
        console.print(snippet, markup=False, highlight=False, soft_wrap=True)
        if snippet_out is not None:
            _write_snippets(
                snippet_out,
                policy_snippets(
                    recs,
                    model=summary.model,
                    samples=config.samples,
                    sample_temperature=config.sample_temperature,
                ),
                err,
            )
    elif snippet_out is not None:
        err.print(
            f"[yellow]no threshold recommendation (each domain and source needs at least "
            f"{MIN_RECORDS} records): {snippet_out} not written[/yellow]",
            highlight=False,
        )
    if report is not None:
        _write_report(out, report, target_accuracy, bootstrap, err)
    if summary.failed and summary.answered_now == 0 and summary.skipped_done == 0:
        raise typer.Exit(EXIT_FINDINGS)


def _write_snippets(folder: Path, snippets: dict[str, str], err: Console) -> None:
    """One ``<domain>.guard`` per recommended policy in ``folder`` (created); exit 1 when the
    folder cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for domain, text in snippets.items():
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in domain)
            target = folder / f"{safe}.guard"
            target.write_text(text, encoding="utf-8")
            err.print(f"wrote {target}", highlight=False, markup=False)
    except OSError as exc:
        fail(f"cannot write {exc.filename or folder}: {exc.strerror or exc}", EXIT_FINDINGS)


def _write_report(
    records_path: Path, out_dir: Path, target: float, bootstrap: int, err: Console
) -> None:
    """The calibration report (``guardrail audit report``'s HTML) grouped by domain and source."""
    from guardrail.calibration import audit, load_records
    from guardrail.calibration.report import write_html_report

    rs = load_records(records_path)
    if not rs.records:
        err.print("[yellow]no records: report skipped[/yellow]")
        return
    report = audit(rs, ("domain", "source"), target_accuracy=target, n_bootstrap=bootstrap, seed=0)
    for p in write_html_report(report, out_dir):
        err.print(f"wrote {p}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the ``audit`` group (call after :mod:`guardrail.cli.audit_cmds` registered
    the group; ``app`` is unused because the group object is shared)."""
    from guardrail.cli.audit_cmds import audit_app

    audit_app.command("run")(audit_run_cmd)
    _ = app
