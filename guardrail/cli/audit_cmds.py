"""``guardrail audit``: calibration audits of graded answers.

``audit_app`` is a Typer group; ``guardrail audit report`` lives here, other modules may add
commands to the same group (e.g. ``guardrail audit run``) by importing ``audit_app``.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

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

if TYPE_CHECKING:  # numpy and the calibration code load when a command runs, not for --help
    from rich.table import Table

    from guardrail.calibration import AuditReport, CalibrationProfile, GroupAudit
    from guardrail.calibration.audit import GroupField

audit_app = typer.Typer(
    name="audit",
    help="Calibration audits: metrics, reliability diagrams, thresholds, calibration profiles.",
    no_args_is_help=True,
)

_VERDICT_STYLE = {
    "good": "green",
    "fair": "yellow",
    "significant": "red",
    "severe": "bold red",
    "not applicable": "dim",
}
#: `--min-profile-n` default: a calibration profile is a monotone map fitted per domain; below
#: this many graded answers its knots follow noise (a 95% interval on a bin's accuracy is still
#: about +-0.2 wide at 25 answers per bin), so `audit report` refuses to write it.
MIN_PROFILE_N = 100


class BinningChoice(enum.StrEnum):
    width = "width"
    mass = "mass"


class MapMethod(enum.StrEnum):
    isotonic = "isotonic"
    histogram = "histogram"


class ThresholdChoice(enum.StrEnum):
    point = "point"
    lower_bound = "lower_bound"


def _parse_group_by(value: str) -> list[GroupField]:
    if value.strip().lower() in ("", "none"):
        return []
    fields: list[GroupField] = []
    for part in value.split(","):
        p = part.strip()
        if p == "domain":
            fields.append("domain")
        elif p == "model":
            fields.append("model")
        elif p == "source":
            fields.append("source")
        else:
            raise typer.BadParameter(
                f"cannot group by {p!r}: use domain, model, source (comma-separated) or none",
                param_hint="--group-by",
            )
    return fields


def _ci_text(est: float, low: float | None, high: float | None, sep: str = " ") -> str:
    if low is None or high is None:
        return f"{est:.3f}"
    if sep == " ":
        return f"{est:.3f} [dim][{low:.3f}, {high:.3f}][/dim]"
    return f"{est:.3f}{sep}[dim][{low:.2f}, {high:.2f}][/dim]"


def _matrix_table(
    report: AuditReport, width: int, title: str = "Confidence-accuracy matrix"
) -> Table:
    """The matrix; below 150 columns intervals go on a second line, below 110 MCE/AURC go."""
    from rich import box
    from rich.table import Table

    wide = width >= 150
    sep = " " if wide else "\n"
    cols = ["group", "n", "accuracy", "conf", "overconf", "ECE", "MCE", "Brier", "AUROC", "AURC"]
    if width < 110:
        cols = [c for c in cols if c not in ("MCE", "AURC")]
    t = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1) if width >= 110 else (0, 0),
        pad_edge=False,
    )
    for name in [*cols, "verdict"]:
        t.add_column(name, justify="left" if name == "group" else "right", no_wrap=True)
    rows: list[GroupAudit] = [report.overall, *report.groups]
    for i, g in enumerate(rows):
        ece_ci = g.ece_ci
        cells = {
            "group": g.label,
            "n": str(g.n),
            "accuracy": _ci_text(g.accuracy.estimate, g.accuracy.low, g.accuracy.high, sep),
            "conf": f"{g.mean_confidence:.3f}",
            "overconf": f"{g.overconfidence:+.3f}",
            "ECE": _ci_text(
                g.ece, ece_ci.low if ece_ci else None, ece_ci.high if ece_ci else None, sep
            ),
            "MCE": f"{g.mce:.3f}",
            "Brier": f"{g.brier:.3f}",
            "AUROC": "—" if g.auroc is None else f"{g.auroc:.3f}",
            "AURC": f"{g.aurc:.3f}",
        }
        flag = " *" if g.warnings else ""
        t.add_row(
            *[cells[c] for c in cols],
            f"[{_VERDICT_STYLE[g.verdict]}]{g.verdict}[/]{flag}",
            end_section=(i == 0 and len(rows) > 1) or not wide,
        )
    return t


def print_verdict_warnings(console: Console, report: AuditReport) -> None:
    """The ``*`` notes under a matrix: per group, why its verdict is not the whole story."""
    for g in [report.overall, *report.groups]:
        for w in g.warnings:
            console.print(f"* {g.label}: {w}", markup=False, highlight=False)


def _threshold_table(report: AuditReport, width: int) -> Table | None:
    from rich import box
    from rich.table import Table

    rows = [g for g in [report.overall, *report.groups] if g.threshold is not None]
    if not rows:
        return None
    sep = " " if width >= 120 else "\n"
    t = Table(
        title="Fitted thresholds (raw confidence >= threshold passes; 95% Clopper-Pearson)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1) if width >= 110 else (0, 0),
        pad_edge=False,
    )
    for name in ("group", "target", "threshold", "passed", "coverage", "accuracy"):
        t.add_column(name, justify="left" if name in ("group", "target") else "right", no_wrap=True)
    for g in rows:
        th = g.threshold
        assert th is not None
        t.add_row(
            g.label,
            f"{th.target} >= {th.target_value:g}",
            "not reachable" if th.threshold is None else f"{th.threshold:.4f}",
            f"{th.n_accepted}/{th.n}",
            _ci_text(th.coverage.estimate, th.coverage.low, th.coverage.high, sep)
            if th.coverage
            else "—",
            _ci_text(th.accuracy.estimate, th.accuracy.low, th.accuracy.high, sep)
            if th.accuracy
            else "—",
        )
    return t


def _profile_path(template: str, key: dict[str, str], several: bool) -> Path:
    path = template
    for field, value in key.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in value)
        path = path.replace(f"<{field}>", safe)
    if several and path == template:
        raise typer.BadParameter(
            "several groups: put <domain> (and <model>/<source> if grouped) in the path, "
            "e.g. calibration/<domain>.json",
            param_hint="--profile-out",
        )
    return Path(path)


@audit_app.command("report")
def report_cmd(
    records: Annotated[
        list[str],
        typer.Argument(
            help="Audit records: JSONL or CSV files (confidence, correct, domain, ...), or "
            "object-storage URLs of them (s3://bucket/audit/*.jsonl; globs expanded)."
        ),
    ],
    percent: Annotated[bool, typer.Option("--percent", help="Confidences are 0-100.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on any bad row instead of skipping it.")
    ] = False,
    bins: Annotated[
        int, typer.Option("--bins", min=1, max=1000, help="Number of bins (1-1000).")
    ] = 10,
    binning: Annotated[
        BinningChoice, typer.Option("--binning", help="Equal-width or equal-mass bins.")
    ] = BinningChoice.width,
    group_by: Annotated[
        str, typer.Option("--group-by", help="Comma-separated: domain, model, source (or none).")
    ] = "domain",
    target_accuracy: Annotated[
        float | None,
        typer.Option("--target-accuracy", min=0.0, max=1.0, help="Fit the threshold for this."),
    ] = None,
    target_coverage: Annotated[
        float | None,
        typer.Option("--target-coverage", min=0.0, max=1.0, help="Fit the threshold for this."),
    ] = None,
    threshold_method: Annotated[
        ThresholdChoice,
        typer.Option(
            "--threshold-method",
            help="point: accuracy >= target; lower_bound: Clopper-Pearson lower bound >= target.",
        ),
    ] = ThresholdChoice.point,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples (0: none).")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for index.html, audit.json, reliability.png/.svg."),
    ] = None,
    profile_out: Annotated[
        str | None,
        typer.Option("--profile-out", help="Write profiles, e.g. calibration/<domain>.json."),
    ] = None,
    profile_method: Annotated[
        MapMethod, typer.Option("--profile-method", help="Monotone map: isotonic or histogram.")
    ] = MapMethod.isotonic,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Raw signal the profiles map (default: records' source)."),
    ] = None,
    pool_sources: Annotated[
        bool,
        typer.Option(
            "--pool-sources",
            help="Pool records of different confidence sources in one group (refused by "
            "default: each question would count once per source).",
        ),
    ] = False,
    min_profile_n: Annotated[
        int,
        typer.Option(
            "--min-profile-n",
            help=f"Refuse to write a profile fitted from fewer answers (default: {MIN_PROFILE_N}; "
            "0: no minimum).",
        ),
    ] = MIN_PROFILE_N,
    output_format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
    storage_option: Annotated[
        list[str] | None, typer.Option("--storage-option", help=STORAGE_OPTION_HELP)
    ] = None,
) -> None:
    """Audit graded answers: per-group ECE/MCE/Brier/AUROC/AURC, diagrams, thresholds, profiles.

    Exit 0 on success, 1 when an output cannot be written, 2 for bad input (unreadable records,
    no valid record, bad option values)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from guardrail.calibration import (
        RecordsError,
        RecordsFormatError,
        audit,
        fit_profiles,
        load_records,
    )

    fmt = output_format
    err = Console(stderr=True, soft_wrap=True)
    probe = Console()
    out_console = probe if probe.is_terminal else Console(width=200)
    if target_accuracy is not None and target_coverage is not None:
        fail("give only one of --target-accuracy and --target-coverage", EXIT_USAGE, fmt)
    fields = _parse_group_by(group_by)
    if profile_out is not None and "domain" not in fields:
        fail("profiles are per domain: include domain in --group-by", EXIT_USAGE, fmt)
    if min_profile_n < 0:
        fail("--min-profile-n must be 0 or more", EXIT_USAGE, fmt)
    options = parse_storage_options(storage_option, fmt)
    try:
        rs = load_records(records, percent=percent, strict=strict, storage_options=options)
    except (FileNotFoundError, RecordsFormatError, RecordsError) as exc:
        fail(str(exc), EXIT_USAGE, fmt)
    except ImportError as exc:
        fail(str(exc), EXIT_ENVIRONMENT, fmt)
    except OSError as exc:  # object storage: access refused, endpoint unreachable
        fail(f"cannot read the records: {exc}", EXIT_USAGE, fmt)
    if rs.bad_rows:
        err.print(
            f"[yellow]skipped {len(rs.bad_rows)} bad row(s)[/yellow] (--strict fails on them):",
            highlight=False,
        )
        for b in rs.bad_rows[:10]:
            err.print(f"  {b}", highlight=False, markup=False)
        if len(rs.bad_rows) > 10:
            err.print(f"  ... and {len(rs.bad_rows) - 10} more", highlight=False)
    if not rs.records:
        fail("no valid records to audit", EXIT_USAGE, fmt)
    if "source" not in fields and not pool_sources:
        kinds = sorted({r.source or "unspecified" for r in rs.records})
        if len(kinds) > 1:
            # `audit run` writes one record per (question, source): pooling counts every
            # question once per source and mixes scales (a probability, an ordinal label, ...).
            fail(
                f"the records hold {len(kinds)} confidence sources ({', '.join(kinds)}); pooled, "
                "each question counts once per source. Group by source (--group-by "
                f"{','.join([*fields, 'source'])}), audit one source's records, or pass "
                "--pool-sources to pool them anyway",
                EXIT_USAGE,
                fmt,
            )
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("auditing", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            report = audit(
                rs,
                fields,
                n_bins=bins,
                binning=binning.value,
                n_bootstrap=bootstrap,
                seed=seed,
                target_accuracy=target_accuracy,
                target_coverage=target_coverage,
                threshold_method=threshold_method.value,
                progress=on_progress,
            )
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE, fmt)
    written_profiles: dict[str, CalibrationProfile] = {}
    if profile_out is not None:
        try:
            profiles = fit_profiles(
                rs,
                fields,
                source=source,
                method=profile_method.value,
                n_bins=bins,
                binning=binning.value,
                target_accuracy=target_accuracy,
                target_coverage=target_coverage,
                threshold_method=threshold_method.value,
            )
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE, fmt)
        targets = {
            key: _profile_path(profile_out, dict(zip(fields, key, strict=True)), len(profiles) > 1)
            for key in profiles
        }
        if len(set(targets.values())) < len(targets):
            raise typer.BadParameter(
                "several groups would write the same file: add the <model>/<source> "
                "placeholders you group by to the path",
                param_hint="--profile-out",
            )
        small = {k: p.n for k, p in profiles.items() if p.n < min_profile_n}
        if small:
            names = ", ".join(f"{'/'.join(k)} (n = {n})" for k, n in small.items())
            fail(
                f"not writing calibration profiles fitted from fewer than {min_profile_n} "
                f"answers: {names}. Gather more graded answers, or lower --min-profile-n "
                "knowingly",
                EXIT_USAGE,
                fmt,
            )
        for key, prof in profiles.items():
            try:
                prof.save(targets[key])
            except OSError as exc:
                _cannot_write(targets[key], exc, fmt)
            written_profiles[str(targets[key])] = prof
            err.print(f"wrote calibration profile {targets[key]}", highlight=False, markup=False)
    if out is not None:
        from guardrail.calibration.plot import PLOT_EXTRA_HINT, matplotlib_available
        from guardrail.calibration.report import write_html_report

        if not matplotlib_available():
            err.print(
                f"[yellow]note:[/yellow] {escape(PLOT_EXTRA_HINT)}; the report has no diagrams"
            )
        try:
            written = write_html_report(report, out, written_profiles)
        except OSError as exc:
            _cannot_write(out, exc, fmt)
        for p in written:
            err.print(f"wrote {p}", highlight=False, markup=False)
    if fmt is OutputFormat.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    out_console.print(_matrix_table(report, out_console.width))
    print_verdict_warnings(out_console, report)
    thr = _threshold_table(report, out_console.width)
    if thr is not None:
        out_console.print(thr)


def _cannot_write(path: Path, exc: OSError, fmt: OutputFormat = OutputFormat.text) -> NoReturn:
    """Report an output path that cannot be written (missing parent, a file where a folder is
    needed, no permission) as one line, exit 1."""
    where = exc.filename if isinstance(exc.filename, str) else str(path)
    fail(f"cannot write {where}: {exc.strerror or exc}", EXIT_FINDINGS, fmt)


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command group to the root ``guardrail`` app."""
    app.add_typer(audit_app, name="audit")
