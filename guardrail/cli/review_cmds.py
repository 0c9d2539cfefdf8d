"""``guardrail review``: the reviewer's side of the production loop.

Commands: ``list``, ``show``, ``claim``, ``release``, ``label``, ``expire``, ``export``,
``import``, ``audit``, ``serve``. Every command takes ``--store`` (default
``$GUARDRAIL_REVIEW_STORE`` or ``review.db`` in the user data directory, see
:func:`guardrail.review.default_store_path`; a file path, ``sqlite:///path`` or
``postgresql://...``) and the reviewer name comes from ``--reviewer`` (default
``$GUARDRAIL_REVIEWER`` or the login name).
"""

from __future__ import annotations

import contextlib
import csv
import enum
import getpass
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape

from guardrail._safety import redact_url
from guardrail.cli._common import (
    EXIT_ENVIRONMENT,
    EXIT_FINDINGS,
    EXIT_USAGE,
    FormatOpt,
    OutputFormat,
    fail,
    missing_modules,
)

if TYPE_CHECKING:  # the review store, numpy and the calibration code load when a command runs
    from rich.table import Table

    from guardrail.calibration import AuditReport, CalibrationProfile
    from guardrail.review import ReviewItem, ReviewStore
    from guardrail.review.live import LiveAuditReport

#: The environment variable naming the store (guardrail.review.STORE_ENV, spelled out here so
#: `guardrail --help` does not import the review package).
STORE_ENV = "GUARDRAIL_REVIEW_STORE"

review_app = typer.Typer(
    name="review",
    help="Human review queue: list, claim, label, export, live calibration audit, web page.",
    no_args_is_help=True,
)

REVIEWER_ENV = "GUARDRAIL_REVIEWER"

#: What the reviewer page imports, by distribution name (the 'web' extra in pyproject.toml).
WEB_MODULES: dict[str, tuple[str, ...]] = {
    "fastapi": ("fastapi",),
    "uvicorn": ("uvicorn",),
    "jinja2": ("jinja2",),
    "python-multipart": ("python_multipart", "multipart"),
}

_out = Console(soft_wrap=False)
_err = Console(stderr=True, soft_wrap=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        "-s",
        help=f"Review store: file path, sqlite:///path or postgresql://... "
        f"(default: ${STORE_ENV} or review.db in the user data directory)",
    ),
]
ReviewerOpt = Annotated[
    str | None,
    typer.Option(
        "--reviewer", "-r", help=f"Your reviewer name (default: ${REVIEWER_ENV} or login name)"
    ),
]


class ExportFormat(enum.StrEnum):
    jsonl = "jsonl"
    csv = "csv"


class StatusChoice(enum.StrEnum):
    pending = "pending"
    claimed = "claimed"
    labelled = "labelled"
    expired = "expired"
    all = "all"


class ReasonChoice(enum.StrEnum):
    review = "review"
    spot_check = "spot_check"


class LabelChoice(enum.StrEnum):
    correct = "correct"
    incorrect = "incorrect"
    partially = "partially"
    cannot_judge = "cannot_judge"


class PartialChoice(enum.StrEnum):
    incorrect = "incorrect"
    correct = "correct"
    exclude = "exclude"


def _reviewer(name: str | None) -> str:
    who = name or os.environ.get(REVIEWER_ENV) or getpass.getuser()
    if not who.strip():
        raise typer.BadParameter("give a reviewer name", param_hint="--reviewer")
    return who.strip()


def _sqlite_file(url: str) -> Path | None:
    """The SQLite file a store URL names (as :func:`open_store` reads it), else None."""
    from guardrail.review import sqlite_path

    path = sqlite_path(url)
    return None if path is None else Path(path)


@contextmanager
def _opened(store: str | None, fmt: OutputFormat = OutputFormat.text) -> Iterator[ReviewStore]:
    from guardrail.review import ReviewError, open_store, store_url

    url = store_url(store)
    db = _sqlite_file(url)
    if db is not None and not db.exists():
        # Opening would create an empty queue here and report "No pending items.", hiding that
        # the items are in another store (the one the application was configured with).
        fail(
            f"no review store at {db.resolve()}: nothing has been queued there. Pass the store "
            f"your application writes to with --store PATH (or set ${STORE_ENV}).",
            EXIT_USAGE,
            fmt,
        )
    try:
        st = open_store(url)
    except Exception as exc:  # bad URL, missing extra, sqlite3/psycopg: report, no traceback
        fail(
            f"cannot open review store {redact_url(url)}: {_redacted(str(exc), url)}",
            EXIT_USAGE,
            fmt,
        )
    try:
        yield st
    except ReviewError as exc:
        fail(str(exc), EXIT_FINDINGS, fmt)
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except Exception as exc:  # a corrupt / foreign-schema file, a lost database: one line
        fail(
            f"review store {redact_url(url)} failed: {type(exc).__name__}: "
            f"{_redacted(str(exc), url)}",
            EXIT_USAGE,
            fmt,
        )
    finally:
        with contextlib.suppress(Exception):  # a broken store's close must not hide the above
            st.close()


def _redacted(text: str, url: str) -> str:
    """``text`` with the store URL's password and secret query values replaced by ``***``."""
    from guardrail._safety import Redactor, url_secrets

    return Redactor(url_secrets(url))(text)


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def _since(value: str | None) -> datetime | None:
    from guardrail.review import parse_window
    from guardrail.review.models import utcnow

    if value is None:
        return None
    try:
        return utcnow() - parse_window(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    except OverflowError:  # 99999999999d: beyond what a date can hold
        raise typer.BadParameter(
            f"window {value!r} reaches before year 1", param_hint="--since"
        ) from None


def _print_items(items: list[ReviewItem]) -> None:
    """The item list: a one-line-per-item table when the question still gets 30 columns, else
    (80-column terminals) two lines per item: the fixed columns, then the question indented.
    Ids are never cut (they are what `show`/`label` take); the question is shortened with "…"."""
    table, room = _items_table(items)
    if room >= 30:
        _out.print(table)
        return
    width = _out.width
    heads = ["id", "created (UTC)", "domain", "why", "status"]
    rows = []
    for it in items:
        why = "review" if it.reason.value == "review" else f"spot {it.sampling_rate:.0%}"
        status = it.status.value
        if it.label:
            status += f": {it.label.value}"
        rows.append([it.id, f"{it.created_at:%m-%d %H:%M}", it.domain, why, status])
    widths = [max([len(h)] + [len(r[k]) for r in rows]) for k, h in enumerate(heads)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    _out.print(escape(line(heads)), style="bold", no_wrap=True, overflow="ellipsis")
    for it, row in zip(items, rows, strict=True):
        _out.print(escape(line(row)), no_wrap=True, overflow="ellipsis")
        second = (f"[{it.reviewer}] " if it.reviewer else "") + " ".join(
            (it.question or "").split()
        )
        _out.print("  " + escape(_short(second, width - 3)), style="dim", no_wrap=True)


def _items_table(items: list[ReviewItem]) -> tuple[Table, int]:
    """Compact table, and the columns left for the question: reviewer/label columns only when
    some item has them."""
    from rich.table import Table

    people = any(it.reviewer or it.label for it in items)
    cols = ["id", "created (UTC)", "domain", "why", "status"]
    cols += ["reviewer", "label"] if people else []
    rows: list[list[str]] = []
    for it in items:
        why = "review" if it.reason.value == "review" else f"spot {it.sampling_rate:.0%}"
        row = [it.id, f"{it.created_at:%m-%d %H:%M}", it.domain, why, it.status.value]
        if people:
            row += [it.reviewer or "", it.label.value if it.label else ""]
        rows.append(row)
    t = Table(show_lines=False, header_style="bold", box=None, pad_edge=False)
    used = 0
    for k, col in enumerate(cols):  # fixed columns keep their full width (ids must be copyable)
        width = max([len(col)] + [len(r[k]) for r in rows])
        used += width + 2
        t.add_column(col, no_wrap=True, min_width=width)
    room = max(20, _out.width - used - 1)
    t.add_column("question", no_wrap=True, max_width=room)
    for it, row in zip(items, rows, strict=True):
        t.add_row(*row, escape(_short(it.question, room)))
    return t, _out.width - used - 1


def _print_item(it: ReviewItem) -> None:
    _out.rule(f"[bold]{it.id}[/bold]  {it.domain} · {it.policy_name or '-'} · {it.status.value}")
    why = (
        "policy decision: review"
        if it.reason.value == "review"
        else f"spot check (sampled at {it.sampling_rate:.0%})"
    )
    _out.print(
        f"[dim]created[/dim] {it.created_at:%Y-%m-%d %H:%M:%S} UTC   [dim]why[/dim] {why}"
        f"   [dim]decision[/dim] {it.decision}"
    )
    if it.policy_version:
        _out.print(f"[dim]policy version[/dim] {escape(it.policy_version)}")
    _out.print(f"[bold]Question[/bold]\n{escape(it.question or '(not stored)')}")
    _out.print(f"[bold]Answer shown[/bold]\n{escape(it.answer_shown or '(not stored)')}")
    if it.raw_answer and it.raw_answer != it.answer_shown:
        _out.print(f"[bold]Raw answer[/bold]\n{escape(it.raw_answer)}")
    if it.signals:
        sig = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(it.signals.items())
        )
        _out.print(f"[bold]Signals[/bold] {escape(sig)}")
    for line in it.explanation:
        _out.print(f"  • {escape(line)}")
    if it.reviewer:
        _out.print(
            f"[dim]reviewer[/dim] {escape(it.reviewer)}"
            + (
                f"  [dim]claim until[/dim] {it.claim_expires_at:%H:%M:%S}"
                if it.claim_expires_at
                else ""
            )
        )
    if it.label:
        _out.print(
            f"[bold]Label[/bold] {it.label.value}" + (f" — {escape(it.note)}" if it.note else "")
        )
        if it.corrected_answer:
            _out.print(f"[bold]Corrected answer[/bold]\n{escape(it.corrected_answer)}")


@review_app.command("list")
def list_cmd(
    store: StoreOpt = None,
    status: Annotated[
        StatusChoice, typer.Option("--status", help="Which items.")
    ] = StatusChoice.pending,
    domain: Annotated[str | None, typer.Option("--domain", "-d", help="Only this domain.")] = None,
    reason: Annotated[
        ReasonChoice | None, typer.Option("--reason", help="review or spot_check.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Created within e.g. 7d, 12h.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 50,
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="--format json.")] = False,
) -> None:
    """List queue items (oldest first); pending ones by default. JSON: one item per line."""
    fmt = OutputFormat.json if as_json else format
    with _opened(store, fmt) as st:
        items = st.list(
            status=None if status is StatusChoice.all else status.value,
            domain=domain,
            reason=reason.value if reason else None,
            since=_since(since),
            limit=limit,
        )
        total = st.count(
            status=None if status is StatusChoice.all else status.value,
            domain=domain,
            reason=reason.value if reason else None,
        )
    if fmt is OutputFormat.json:
        for it in items:
            sys.stdout.write(it.model_dump_json() + "\n")
        return
    if not items:
        _out.print(f"No {'' if status is StatusChoice.all else status.value + ' '}items.")
        return
    _print_items(items)
    more = f" (showing {len(items)})" if since is None and total > len(items) else ""
    _out.print(f"[dim]{total} {status.value} item(s){more}[/dim]")


@review_app.command("show")
def show_cmd(
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    store: StoreOpt = None,
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
) -> None:
    """Show one item in full: question, answer, signals, the policy's explanation, label."""
    with _opened(store, format) as st:
        it = st.get(item_id)
    if format is OutputFormat.json:
        sys.stdout.write(it.model_dump_json() + "\n")
        return
    _print_item(it)


@review_app.command("claim")
def claim_cmd(
    store: StoreOpt = None,
    reviewer: ReviewerOpt = None,
    domain: Annotated[str | None, typer.Option("--domain", "-d", help="Only this domain.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="How many items to claim.")
    ] = 1,
    lease: Annotated[
        str, typer.Option("--lease", help="How long the claim lasts (e.g. 15m, 1h).")
    ] = "15m",
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="--format json.")] = False,
) -> None:
    """Claim the oldest pending item(s); nobody else gets them until the claim lapses. JSON:
    one claimed item per line."""
    from guardrail.review import parse_window

    fmt = OutputFormat.json if as_json else format
    who = _reviewer(reviewer)
    try:
        span = parse_window(lease)
    except ValueError as exc:
        fail(f"--lease: {exc}", EXIT_USAGE, fmt)
    with _opened(store, fmt) as st:
        items = st.claim(who, domain=domain, limit=limit, lease=span)
    if fmt is OutputFormat.json:
        for it in items:
            sys.stdout.write(it.model_dump_json() + "\n")
        return
    if not items:
        _out.print("Nothing to review." + (f" (domain {escape(domain)})" if domain else ""))
        return
    for it in items:
        _print_item(it)
    _out.print(
        f"[dim]label with: guardrail review label ID correct|incorrect|partially|"
        f"cannot_judge --reviewer {who}[/dim]"
    )


@review_app.command("release")
def release_cmd(
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    store: StoreOpt = None,
    reviewer: ReviewerOpt = None,
) -> None:
    """Give a claimed item back to the queue."""
    with _opened(store) as st:
        st.release(item_id, _reviewer(reviewer))
    _out.print(f"Released {escape(item_id)}.")


@review_app.command("label")
def label_cmd(
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    label: Annotated[
        LabelChoice, typer.Argument(help="correct, incorrect, partially, cannot_judge.")
    ],
    store: StoreOpt = None,
    reviewer: ReviewerOpt = None,
    note: Annotated[str | None, typer.Option("--note", help="Free-text note.")] = None,
    corrected: Annotated[
        str | None, typer.Option("--corrected", help="The correct answer.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing label.")
    ] = False,
) -> None:
    """Label an item (it must be pending, yours, or its claim must have lapsed)."""
    with _opened(store) as st:
        it = st.label(
            item_id,
            label.value,
            reviewer=_reviewer(reviewer),
            note=note,
            corrected_answer=corrected,
            overwrite=overwrite,
        )
    _out.print(
        f"Labelled {it.id} [bold]{it.label.value if it.label else ''}[/bold] "
        f"by {escape(it.reviewer or '')}."
    )


@review_app.command("expire")
def expire_cmd(
    older_than: Annotated[str, typer.Option("--older-than", help="Age limit, e.g. 7d.")] = "30d",
    store: StoreOpt = None,
) -> None:
    """Mark pending items older than the limit as expired (kept, never claimable again)."""
    from guardrail.review import parse_window

    try:
        span = parse_window(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from None
    with _opened(store) as st:
        n = st.expire_stale(span)
    _out.print(f"Expired {n} item(s) older than {escape(older_than)}.")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


@review_app.command("export")
def export_cmd(
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="jsonl or csv.")
    ] = ExportFormat.jsonl,
    store: StoreOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
    status: Annotated[
        StatusChoice, typer.Option("--status", help="Which items.")
    ] = StatusChoice.labelled,
    since: Annotated[str | None, typer.Option("--since", help="Created within e.g. 7d.")] = None,
    audit_records: Annotated[
        bool,
        typer.Option(
            "--audit-records",
            help="Write audit records (confidence, correct, domain, ...) for `guardrail audit`.",
        ),
    ] = False,
    signal: Annotated[
        str, typer.Option("--signal", help="Confidence signal (audit records).")
    ] = "verbalized",
) -> None:
    """Export items (labelled ones by default) as JSON lines or CSV."""
    from guardrail.review import ReviewItem, to_audit_records

    with _opened(store) as st:
        items = st.list(
            status=None if status is StatusChoice.all else status.value, since=_since(since)
        )
    rows: list[dict[str, Any]]
    if audit_records:
        pairs, _, _ = to_audit_records(items, signal=signal)
        rows = [
            {
                **r.model_dump(exclude_none=True, exclude={"file", "line"}),
                "reason": it.reason.value,
                "sampling_rate": it.sampling_rate,
            }
            for r, it in pairs
        ]
        fields = [
            "id",
            "confidence",
            "correct",
            "domain",
            "source",
            "reason",
            "sampling_rate",
            "question",
            "answer",
        ]
    else:
        rows = [it.to_record() for it in items]
        fields = list(ReviewItem.model_fields)
    buf = io.StringIO()
    if fmt is ExportFormat.jsonl:
        for row in rows:
            buf.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
    else:
        writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in fields})
    if out is None:
        sys.stdout.write(buf.getvalue())
    else:
        with _writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(buf.getvalue(), encoding="utf-8")
        _err.print(f"Wrote {len(rows)} row(s) to {escape(str(out))}")


@contextmanager
def _writing(path: Path, fmt: OutputFormat = OutputFormat.text) -> Iterator[None]:
    """An output path that cannot be written (missing parent, a file where a folder is needed,
    no permission) is a one-line error with exit 1, never a traceback."""
    try:
        yield
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else str(path)
        fail(f"cannot write {where}: {exc.strerror or exc}", EXIT_FINDINGS, fmt)


def _label_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row or error text) for a JSONL or CSV label file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise typer.BadParameter(
            f"{path} is not UTF-8 text (expected JSONL or CSV)", param_hint="LABELS"
        ) from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        try:
            for row in reader:
                yield reader.line_num, dict(row)
        except csv.Error as exc:  # a field over csv.field_size_limit() (128 KiB), a stray NUL
            raise typer.BadParameter(
                f"{path}:{reader.line_num}: not readable as CSV ({exc})", param_hint="LABELS"
            ) from None
        return
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, f"not JSON ({exc.msg})"
            continue
        except RecursionError:
            yield n, "not JSON (nested too deeply)"
            continue
        except ValueError as exc:  # an integer of more than 4,300 digits
            yield n, f"not JSON ({exc})"
            continue
        yield n, obj if isinstance(obj, dict) else "not a JSON object"


@review_app.command("import")
def import_cmd(
    labels: Annotated[
        Path, typer.Argument(help="JSONL or CSV: id, label[, reviewer, note, corrected_answer].")
    ],
    store: StoreOpt = None,
    reviewer: ReviewerOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing labels.")
    ] = False,
) -> None:
    """Import labels made elsewhere (a spreadsheet, a labelling vendor). Rows that cannot be
    applied are reported with their line numbers; the others are applied."""
    from guardrail.review import ReviewError

    if not labels.is_file():
        raise typer.BadParameter(f"no such file: {labels}", param_hint="LABELS")
    default_who = _reviewer(reviewer)
    done = 0
    problems: list[str] = []
    with _opened(store) as st:
        for line, row in _label_rows(labels):
            if isinstance(row, str):
                problems.append(f"{labels}:{line}: {row}")
                continue
            item_id, label = str(row.get("id") or "").strip(), str(row.get("label") or "")
            if not item_id or not label.strip():
                problems.append(f"{labels}:{line}: needs 'id' and 'label'")
                continue
            try:
                st.label(
                    item_id,
                    label,
                    reviewer=str(row.get("reviewer") or default_who),
                    note=str(row["note"]) if row.get("note") else None,
                    corrected_answer=(
                        str(row["corrected_answer"]) if row.get("corrected_answer") else None
                    ),
                    overwrite=overwrite,
                )
                done += 1
            except (ReviewError, ValueError) as exc:
                problems.append(f"{labels}:{line}: {exc}")
    for p in problems:
        _err.print(f"[yellow]skipped[/yellow] {escape(p)}", soft_wrap=True)
    _out.print(f"Imported {done} label(s); skipped {len(problems)}.")
    if problems and not done:
        raise typer.Exit(1)


def _parse_profiles(values: list[str]) -> dict[str, CalibrationProfile]:
    from guardrail.calibration import CalibrationProfile

    profiles: dict[str, CalibrationProfile] = {}
    for v in values:
        domain, sep, path = v.partition("=")
        if not sep:
            try:
                prof = CalibrationProfile.load(v)
            except (OSError, ValueError) as exc:
                raise typer.BadParameter(_about(v, exc), param_hint="--profile") from None
            profiles[prof.domain] = prof
            continue
        try:
            profiles[domain.strip()] = CalibrationProfile.load(path.strip())
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(_about(path, exc), param_hint="--profile") from None
    return profiles


def _about(path: str, exc: Exception) -> str:
    """``path: error``, without repeating a path the error message already names."""
    text = str(exc)
    return text if path.strip() and path.strip() in text else f"{path}: {text}"


def _profiles_from_policies(path: Path) -> dict[str, CalibrationProfile]:
    """Calibration profiles referenced by the policies in ``path`` (a ``.guard`` file or a folder),
    keyed by policy name (= domain, as the SDK uses it)."""
    from guardrail.calibration import CalibrationProfile
    from guardrail.policy import PolicyError, load_policies

    try:
        pols = load_policies(path)  # a folder of .guard files or one file
    except (PolicyError, OSError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--policies") from None
    out: dict[str, CalibrationProfile] = {}
    for name, pol in pols.items():
        if pol.calibration is None:
            continue
        ref = Path(pol.calibration)
        if not ref.is_absolute() and not ref.exists() and pol.source_file:
            ref = Path(pol.source_file).parent / ref
        try:
            out[name] = CalibrationProfile.load(ref)
        except (OSError, ValueError) as exc:
            _err.print(
                f"[yellow]warning:[/yellow] {escape(f'policy {name}: profile {ref}: {exc}')}"
            )
    return out


def _matrix(title: str, report: AuditReport) -> Table:
    """The calibration matrix as `guardrail audit report` prints it (narrow terminals: intervals
    on a second line, MCE/AURC dropped)."""
    from guardrail.cli.audit_cmds import _matrix_table

    return _matrix_table(report, _out.width, title=title)


def _print_live(rep: LiveAuditReport) -> None:
    from rich.table import Table

    window = f"last {rep.window}" if rep.window else "all time"
    _out.print(
        f"[bold]Live calibration[/bold] ({window}; {rep.n_labelled} labelled item(s), "
        f"{rep.n_unjudgeable} cannot-judge excluded, {rep.n_missing_signal} without the "
        f"confidence signal)"
    )
    if rep.spot_check:
        from rich import box

        wide = _out.width >= 110  # narrower: intervals on a second line, no cell padding
        sep = " " if wide else "\n"
        t = Table(
            title="Spot checks, weighted by 1/sampling rate (Horvitz-Thompson): unbiased for "
            "traffic not sent to review; " + escape("[brackets]") + ": 95% intervals",
            header_style="bold",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 1) if wide else (0, 0),
            pad_edge=False,
        )
        for col in ("domain", "n", "est. N", "rates", "accuracy", "conf", "overconf", "ECE"):
            t.add_column(col, justify="left" if col == "domain" else "right", no_wrap=True)
        for e in rep.spot_check:
            ece = f"{e.ece:.3f}" + (
                f"{sep}[{e.ece_ci.low:.3f}, {e.ece_ci.high:.3f}]" if e.ece_ci else ""
            )
            t.add_row(
                e.group if e.group != "all" else "[b]all[/b]",
                str(e.n),
                f"{e.estimated_answers:.0f}",
                ", ".join(f"{r:.0%}" for r in e.rates),
                escape(f"{e.accuracy:.3f}{sep}[{e.accuracy_ci.low:.3f}, {e.accuracy_ci.high:.3f}]"),
                f"{e.mean_confidence:.3f}",
                f"{e.overconfidence:+.3f}",
                escape(ece),
                end_section=not wide,
            )
        _out.print(t)
        bar = 20 if _out.width >= 100 else 10
        for e in rep.spot_check:
            if e.group == "all":
                continue
            bars = Table(
                title=f"Live reliability diagram: {escape(e.group)}",
                header_style="bold",
                title_justify="left",
                box=box.SIMPLE_HEAD,
                pad_edge=False,
            )
            for col in ("bin", "n", "weight", "conf", "accuracy", "gap", ""):
                bars.add_column(
                    col, justify="left" if col in ("bin", "") else "right", no_wrap=True
                )
            for b in e.bins:
                if b.count == 0:
                    continue
                acc = b.accuracy or 0.0
                bars.add_row(
                    f"({b.lower:.2f}, {b.upper:.2f}]",
                    str(b.count),
                    f"{b.weight:.0f}",
                    f"{b.mean_confidence:.3f}",
                    f"{acc:.3f}",
                    f"{b.gap:+.3f}",
                    "█" * round(acc * bar) + "·" * (bar - round(acc * bar)),
                )
            _out.print(bars)
    else:
        _out.print("No labelled spot checks in the window.")
    for row in rep.drift:
        style = "red" if row.drifted else "green"
        ci = (
            f" (95% CI {row.live_ece_ci.low:.2f}-{row.live_ece_ci.high:.2f})"
            if row.live_ece_ci
            else ""
        )
        verdict = "DRIFT" if row.drifted else "ok"
        _out.print(f"[{style}]{verdict}[/{style}] {escape(row.message)}{ci}")
    from guardrail.cli.audit_cmds import print_verdict_warnings

    if rep.spot_check_matrix is not None:
        _out.print(
            _matrix(
                "Spot-check matrix (calibration audit, unweighted per domain)",
                rep.spot_check_matrix,
            )
        )
        print_verdict_warnings(_out, rep.spot_check_matrix)
    if rep.review_queue is not None:
        _out.print(
            _matrix(
                "Review-queue labels (biased by design: the policy picked these)", rep.review_queue
            )
        )
        print_verdict_warnings(_out, rep.review_queue)


@review_app.command("audit")
def audit_cmd(
    store: StoreOpt = None,
    since: Annotated[str | None, typer.Option("--since", help="Time window, e.g. 7d, 24h.")] = None,
    signal: Annotated[
        str, typer.Option("--signal", help="Confidence signal to audit.")
    ] = "verbalized",
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile", help="Calibration profile JSON, optionally DOMAIN=PATH (repeatable)."
        ),
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies", help="Policy file or folder; the profiles they reference are used."
        ),
    ] = None,
    partial: Annotated[
        PartialChoice, typer.Option("--partial", help="How a 'partially' label counts.")
    ] = PartialChoice.incorrect,
    n_bins: Annotated[
        int, typer.Option("--bins", min=1, max=1000, help="Equal-width bins (without a profile).")
    ] = 10,
    n_bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples.")
    ] = 500,
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="--format json.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write the per-domain live reliability diagram of the spot checks here "
            "(PNG and SVG; needs the 'plot' extra).",
        ),
    ] = None,
    records_out: Annotated[
        Path | None, typer.Option("--records", help="Also write the audit records (JSONL) here.")
    ] = None,
) -> None:
    """Live calibration from labelled items: HT-weighted spot checks, drift against profiles,
    review-queue labels reported separately."""
    from guardrail.review import live_audit, to_audit_records
    from guardrail.review.live import PartialAs

    fmt = OutputFormat.json if as_json else format
    start = _since(since)
    profiles: dict[str, CalibrationProfile] = {}
    if policies is not None:
        profiles.update(_profiles_from_policies(policies))
    profiles.update(_parse_profiles(profile or []))
    with _opened(store, fmt) as st:
        items = st.list(status="labelled", since=start)
    part: PartialAs = partial.value
    rep = live_audit(
        items,
        signal=signal,
        profiles=profiles,
        since=start,
        window=since or "",
        partial=part,
        n_bins=n_bins,
        n_bootstrap=n_bootstrap,
    )
    if records_out is not None:
        pairs, _, _ = to_audit_records(
            items, signal={"*": signal, **{d: p.source for d, p in profiles.items()}}, partial=part
        )
        with _writing(records_out, fmt):
            records_out.parent.mkdir(parents=True, exist_ok=True)
            with records_out.open("w", encoding="utf-8") as fh:
                for r, it in pairs:
                    row = r.model_dump(exclude_none=True, exclude={"file", "line"})
                    row.update(reason=it.reason.value, sampling_rate=it.sampling_rate)
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    if plot is not None:
        with _writing(plot, fmt):
            # The folder first: an unwritable path is reported the same way whether or not the
            # 'plot' extra is installed (matplotlib is only imported to draw).
            plot.parent.mkdir(parents=True, exist_ok=True)
            _plot_live(rep, plot)
    if fmt is OutputFormat.json:
        sys.stdout.write(rep.model_dump_json(indent=2) + "\n")
        return
    _print_live(rep)


def _plot_live(rep: LiveAuditReport, out: Path) -> None:
    """Per-domain panels from the calibration package (one rate per domain: the weights are
    equal inside a panel, so the unweighted diagram is the weighted one); the pooled panel is left
    out because pooling domains sampled at different rates needs the weights."""
    from guardrail.calibration.plot import PlotUnavailableError, reliability_diagram

    if rep.spot_check_matrix is None:
        _err.print("[yellow]no labelled spot checks: no diagram written[/yellow]")
        return
    mixed = [e.group for e in rep.spot_check if e.group != "all" and len(e.rates) > 1]
    if mixed:
        _err.print(
            f"[yellow]warning:[/yellow] {', '.join(mixed)} had several sampling rates in "
            "the window; their diagram panels are unweighted (see the table for the "
            "weighted numbers)"
        )
    try:
        files = reliability_diagram(rep.spot_check_matrix.groups, out)
    except PlotUnavailableError as exc:
        fail(str(exc), EXIT_ENVIRONMENT)
    _err.print("Wrote " + ", ".join(str(f) for f in files), markup=False)


@review_app.command("serve")
def serve_cmd(
    store: StoreOpt = None,
    host: Annotated[str, typer.Option("--host", help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    reviewer: ReviewerOpt = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Host name the page may be reached by (repeatable; default: 127.0.0.1, "
            "localhost and the --host address).",
        ),
    ] = None,
) -> None:
    """Serve the reviewer web page (needs the 'web' extra: fastapi, uvicorn, jinja2,
    python-multipart). Exit 3 when one of them is missing.

    Binding to a non-loopback address needs $GUARDRAIL_REVIEW_TOKEN (docs/security.md)."""
    # Checked up front, all of them: FastAPI alone can arrive through another package (the
    # `local` extra's llama-cpp-python[server]) while the form parser and templates are missing,
    # which used to pass an import check and then fail with a long RuntimeError.
    missing = missing_modules(WEB_MODULES)
    if missing:
        fail(
            f"the reviewer page needs the 'web' extra (missing: {', '.join(missing)}); "
            "install it with: pip install 'guardrail-uq[web]'",
            EXIT_ENVIRONMENT,
        )
    try:
        import uvicorn

        from guardrail.review.web import create_app
    except ImportError as exc:
        fail(f"{exc}; install the 'web' extra: pip install 'guardrail-uq[web]'", EXIT_ENVIRONMENT)
    from guardrail.review import SQLiteReviewStore, store_url
    from guardrail.review.web import DEFAULT_ALLOWED_HOSTS, TOKEN_ENV

    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    if not loopback and not os.environ.get(TOKEN_ENV):
        fail(
            f"--host {host} exposes the review queue beyond this machine: set ${TOKEN_ENV} to a "
            "secret token (reviewers log in with it)",
            EXIT_USAGE,
        )
    hosts = list(allowed_host or [*DEFAULT_ALLOWED_HOSTS, host])
    url = store_url(store)
    shown = redact_url(url)
    try:
        app = create_app(url, default_reviewer=_reviewer(reviewer), allowed_hosts=hosts)
        st = app.state.store
        st.count()  # a corrupt or foreign file fails here, not on the first request
        check = st.integrity_check() if isinstance(st, SQLiteReviewStore) else "ok"
        if check != "ok":
            raise ValueError(f"database disk image is malformed ({check.splitlines()[0]})")
    except Exception as exc:
        fail(
            f"cannot open review store {shown}: {type(exc).__name__}: {_redacted(str(exc), url)}",
            EXIT_USAGE,
        )
    _err.print(f"Reviewer page on http://{host}:{port}/  (store: {shown})", markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``guardrail review ...`` to the root CLI."""
    app.add_typer(review_app, name="review")
