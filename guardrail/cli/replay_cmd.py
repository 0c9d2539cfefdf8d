"""``guardrail replay POLICY LOGS...``: what a candidate policy would have decided on logged
traffic (decision logs from ``Guard(decision_log=...)``; docs/scale.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from guardrail._safety import Redactor, redact_url, url_secrets
from guardrail.cli._common import (
    EXIT_ENVIRONMENT,
    EXIT_FINDINGS,
    EXIT_USAGE,
    STORAGE_OPTION_HELP,
    FormatOpt,
    OutputFormat,
    fail,
    parse_storage_options,
)


def _policies(spec: str, fmt: OutputFormat) -> dict[str, Any]:
    from guardrail.policy import PolicyError, load_policies
    from guardrail.policy.bundled import resolve_policy_path

    try:
        path = resolve_policy_path(spec)
    except (FileNotFoundError, ValueError, PolicyError) as exc:  # PolicyError: no such file
        fail(str(exc), EXIT_USAGE, fmt)
    try:
        return dict(load_policies(Path(path)))
    except PolicyError as exc:
        fail(f"candidate policy does not check: {exc}", EXIT_FINDINGS, fmt)
    except OSError as exc:
        fail(f"cannot read {path}: {exc}", EXIT_USAGE, fmt)


def _acc(est: dict[str, Any] | None) -> str:
    if est is None:
        return "-"
    return f"{est['accuracy']:.3f} [{est['low']:.3f}, {est['high']:.3f}] n={est['n']}"


def _print_text(report: dict[str, Any]) -> None:
    from guardrail.decisions.replay import mixed_versions_note

    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"{report['rows']} logged decisions, {report['changed']} would change under the candidate."
    )
    for name, d in report["domains"].items():
        b, a = d["before"], d["after"]
        title = f"{escape(name)}: {d['rows']} decisions, {d['days']} day(s), {d['changed']} change"
        t = Table(title=title)
        t.title_justify = "left"
        for col in ("", "before", "after"):
            t.add_column(col, justify="left" if not col else "right")
        for act in ("pass", "notice", "review", "abstain", "failed", "undetermined"):
            if b["counts"][act] or a["counts"][act]:
                t.add_row(act, str(b["counts"][act]), str(a["counts"][act]))
        t.add_row("review/day", f"{b['review_per_day']:.1f}", f"{a['review_per_day']:.1f}")
        t.add_row("abstention", f"{b['abstention_rate']:.3f}", f"{a['abstention_rate']:.3f}")
        t.add_row("shown accuracy", _acc(b["shown_accuracy"]), _acc(a["shown_accuracy"]))
        console.print(t)
        if d["no_policy"]:
            console.print("  no candidate policy for this domain: decisions kept as logged")
        for k, v in d["transitions"].items():
            console.print(f"  {escape(k)}: {v}")
        if d["missing_signals"]:
            miss = ", ".join(f"{k} ({v})" for k, v in d["missing_signals"].items())
            console.print(
                f"  [yellow]{d['undetermined']} undetermined[/]: the candidate needs signals "
                f"the log lacks: {escape(miss)}"
            )
        if d["unlabelled_now_shown"]:
            console.print(
                f"  {d['unlabelled_now_shown']} unlabelled review decisions would now be shown"
            )
        if len(d["policy_versions"]) > 1:
            note = mixed_versions_note(d["policy_versions"], escape).replace("*", "")
            console.print(f"  [yellow]{note}[/]")


def replay(
    policy: Annotated[
        str, typer.Argument(help="Candidate policy: a .guard file, a folder, or a bundled name.")
    ],
    logs: Annotated[
        list[str],
        typer.Argument(
            help="Decision logs: .jsonl (rotated too), .csv, .parquet files or object-storage "
            "URLs (s3://bucket/decisions/*.parquet; globs expanded), or a database "
            "(sqlite:///abs/review.db, sqlite:rel.db, a .db path, postgresql://...) holding a "
            "decision_log table."
        ),
    ],
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            "-s",
            help="Review store to join labels from by request id (path, sqlite:///, "
            "postgresql://...). Labels inside the log rows are used first.",
        ),
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Also write a Markdown diff report here.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write an HTML diff report here.")
    ] = None,
    storage_option: Annotated[
        list[str] | None,
        typer.Option(
            "--storage-option",
            help=STORAGE_OPTION_HELP,
        ),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows per chunk (bounds memory).")
    ] = 50_000,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="Run on this Dask scheduler (tcp://host:8786; extra `scale`)."),
    ] = None,
) -> None:
    """Evaluate a candidate policy on logged signal values: changed decisions per domain, review
    load and abstention before/after, accuracy of shown answers where labels exist."""
    from guardrail import storage as sources
    from guardrail.decisions.replay import (
        ReplayInputError,
        labels_from_store,
        markdown_report,
        replay_files,
    )
    from guardrail.decisions.report_html import html_report
    from guardrail.decisions.table import is_table_url

    policies = _policies(policy, format)
    options = parse_storage_options(storage_option, format)
    # URL passwords and query secrets of the logs and the store never reach the output
    hide = Redactor(s for u in [*logs, *([store] if store else [])] for s in url_secrets(u))
    for p in logs:
        if not (is_table_url(p) or sources.is_url(p) or Path(p).is_file()):
            fail(f"no decision log at {redact_url(p)}", EXIT_USAGE, format)
    try:
        logs = sources.expand(logs, options)
    except ImportError as exc:
        fail(hide(str(exc)), EXIT_ENVIRONMENT, format)
    except OSError as exc:  # a glob matching nothing, access refused, endpoint unreachable
        fail(hide(str(exc)), EXIT_USAGE, format)
    labels = None
    if store is not None:
        from guardrail.review import open_store

        try:
            st = open_store(store)
        except Exception as exc:  # bad URL, missing extra, driver error
            shown = hide(str(exc))
            fail(f"cannot open review store {redact_url(store)}: {shown}", EXIT_USAGE, format)
        try:
            labels = labels_from_store(st)
        finally:
            st.close()
    try:
        if dask is not None:
            try:
                from distributed import Client

                from guardrail.decisions.distributed import replay_distributed
            except ImportError:
                fail(
                    "--dask needs the scale extra: pip install 'guardrail-uq[scale]'",
                    EXIT_ENVIRONMENT,
                    format,
                )
            with Client(dask) as client:  # type: ignore[no-untyped-call]
                acc = replay_distributed(
                    client,
                    logs,
                    policies,
                    labels=labels,
                    chunk_rows=chunk_rows,
                    storage_options=options,
                )
        else:
            acc = replay_files(
                logs, policies, labels=labels, chunk_rows=chunk_rows, storage_options=options
            )
    except ReplayInputError as exc:
        fail(hide(str(exc)), EXIT_USAGE, format)
    except ImportError as exc:
        fail(
            f"{hide(str(exc))} (Parquet logs need the scale extra: pip install "
            "'guardrail-uq[scale]'; s3:// URLs the s3 extra; PostgreSQL the postgres extra)",
            EXIT_ENVIRONMENT,
            format,
        )
    report = acc.report()
    shown_logs = [redact_url(p) for p in logs]
    if report["rows"] == 0:  # empty files, a header alone, an empty table: nothing to compare
        fail(f"no logged decisions in {', '.join(shown_logs)}", EXIT_USAGE, format)
    for out, render in ((markdown, markdown_report), (html, html_report)):
        if out is None:
            continue
        try:
            text = render(report, candidate=policy, logs=shown_logs)
        except ImportError as exc:  # jinja2 (extra web) for the HTML report
            fail(str(exc), EXIT_ENVIRONMENT, format)
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {out}: {exc}", EXIT_FINDINGS, format)
    if format is OutputFormat.json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print_text(report)


def register(app: typer.Typer) -> None:
    """Add ``guardrail replay`` to ``app``."""
    app.command("replay")(replay)
