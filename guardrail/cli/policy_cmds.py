"""``guardrail check | fmt | test | explain``: tooling for the policy language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from guardrail.cli._common import EXIT_FINDINGS, EXIT_USAGE, FormatOpt, OutputFormat, fail

if TYPE_CHECKING:  # the policy package (pydantic, lark) loads when a command runs
    from guardrail.policy import Decision, Diagnostic, Policy

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _print_diagnostic(console: Console, d: Diagnostic) -> None:
    style = _SEVERITY_STYLE[d.severity]
    gutter = " " * len(str(d.line))
    console.print(
        f"[bold]{escape(d.location)}[/]: [{style}]{escape(f'{d.severity}[{d.code}]')}[/]: "
        f"{escape(d.message)}"
    )
    console.print(f" [blue]{d.line} |[/] {escape(d.source_line)}")
    console.print(f" [blue]{gutter} |[/] [{style}]{escape(d.caret)}[/]")
    if d.hint:
        console.print(f" [blue]{gutter} =[/] [cyan]hint:[/] {escape(d.hint)}")


def _files(paths: list[Path], fmt: OutputFormat = OutputFormat.text) -> list[Path]:
    from guardrail.policy import policy_files

    missing = [p for p in paths if not p.exists()]
    if missing:
        fail("no such file or folder: " + ", ".join(map(str, missing)), EXIT_USAGE, fmt)
    files = policy_files(paths)
    if not files:
        fail("no .guard files found in " + ", ".join(map(str, paths)), EXIT_USAGE, fmt)
    return files


def _check_file(path: Path) -> tuple[Policy | None, list[Diagnostic]]:
    from guardrail.policy import PolicyError, check_text
    from guardrail.policy.loader import read_policy_text

    try:
        text = read_policy_text(path)
    except PolicyError as err:
        return None, err.diagnostics
    return check_text(text, str(path), base_dir=path.parent)


def check(
    paths: Annotated[list[Path], typer.Argument(help="Policy files or folders of *.guard files.")],
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
) -> None:
    """Check policies for syntax and semantic errors (exit 1 when any error is found, 2 when a
    path does not exist or holds no .guard file)."""
    console = _console()
    report: list[dict[str, Any]] = []
    errors = warnings = 0
    for path in _files(paths, format):
        policy, diags = _check_file(path)
        errors += sum(d.severity == "error" for d in diags)
        warnings += sum(d.severity == "warning" for d in diags)
        report.append(
            {
                "file": str(path),
                "policy": policy.name if policy else None,
                "ok": policy is not None,
                "diagnostics": [d.model_dump() for d in diags],
            }
        )
        if format is OutputFormat.text:
            for d in diags:
                _print_diagnostic(console, d)
            if policy is not None:
                console.print(
                    f"[green]ok[/] {escape(str(path))}: policy [bold]{policy.name}[/], "
                    f"{len(policy.rules)} rules, {len(policy.examples)} examples, needs "
                    f"{', '.join(sorted(policy.needed_signals())) or 'no signals'}"
                )
    if format is OutputFormat.json:
        typer.echo(json.dumps({"files": report, "errors": errors, "warnings": warnings}, indent=2))
    else:
        console.print(f"{len(report)} file(s): {errors} error(s), {warnings} warning(s)")
    if errors:
        raise typer.Exit(1)


def fmt(
    paths: Annotated[list[Path], typer.Argument(help="Policy files or folders of *.guard files.")],
    check_only: Annotated[
        bool, typer.Option("--check", help="Only report files that are not formatted (exit 1).")
    ] = False,
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
) -> None:
    """Rewrite policies in the canonical layout (comments kept)."""
    from guardrail.policy import PolicyError
    from guardrail.policy.formatter import format_text
    from guardrail.policy.loader import read_policy_text

    console = _console()
    changed = failed = 0
    report: list[dict[str, Any]] = []
    for path in _files(paths, format):
        try:
            text = read_policy_text(path)
            new = format_text(text, str(path))
        except PolicyError as err:
            failed += 1
            report.append(
                {
                    "file": str(path),
                    "status": "error",
                    "diagnostics": [d.model_dump() for d in err.diagnostics],
                }
            )
            if format is OutputFormat.text:
                for d in err.diagnostics:
                    _print_diagnostic(console, d)
            continue
        if new == text:
            report.append({"file": str(path), "status": "formatted"})
            continue
        changed += 1
        if check_only:
            report.append({"file": str(path), "status": "would_reformat"})
            if format is OutputFormat.text:
                console.print(f"[yellow]would reformat[/] {escape(str(path))}")
        else:
            path.write_text(new, encoding="utf-8")
            report.append({"file": str(path), "status": "reformatted"})
            if format is OutputFormat.text:
                console.print(f"reformatted {escape(str(path))}")
    if format is OutputFormat.json:
        typer.echo(json.dumps({"files": report, "changed": changed, "errors": failed}, indent=2))
    elif check_only and not changed and not failed:
        console.print("all policies are formatted")
    if failed or (check_only and changed):
        raise typer.Exit(EXIT_FINDINGS)


def test(
    paths: Annotated[list[Path], typer.Argument(help="Policy files or folders of *.guard files.")],
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Explain passing examples too.")
    ] = False,
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
) -> None:
    """Run every policy's example blocks; exit 1 when one fails or a policy has errors."""
    from guardrail.policy import PolicyError
    from guardrail.policy.loader import load_policy

    console = _console()
    text = format is OutputFormat.text
    passed = failed = broken = 0
    results: list[dict[str, Any]] = []
    for path in _files(paths, format):
        try:
            policy = load_policy(path)
        except PolicyError as err:
            broken += 1
            results.append(
                {
                    "file": str(path),
                    "policy": None,
                    "diagnostics": [d.model_dump() for d in err.diagnostics],
                }
            )
            if text:
                for d in err.diagnostics:
                    _print_diagnostic(console, d)
            continue
        if not policy.examples and text:
            console.print(f"[yellow]no examples[/] in {escape(str(path))}")
        for result in policy.run_examples():
            ex = result.example
            where = f"{path}:{ex.line}"
            results.append(
                {
                    "file": str(path),
                    "policy": policy.name,
                    "example": ex.name,
                    "line": ex.line,
                    "passed": result.passed,
                    "problems": list(result.problems),
                    "action": result.decision.action.value,
                }
            )
            if result.passed:
                passed += 1
            else:
                failed += 1
            if not text:
                continue
            if result.passed:
                console.print(f"[green]PASS[/] {escape(policy.name)}: {escape(ex.name)}")
            else:
                console.print(
                    f"[bold red]FAIL[/] {escape(policy.name)}: {escape(ex.name)} ({escape(where)})"
                )
                for p in result.problems:
                    console.print(f"  [red]{escape(p)}[/]")
            if verbose or not result.passed:
                console.print(escape(_indent(result.decision.explain())))
    if text:
        console.print(
            f"{passed} passed, {failed} failed"
            + (f", {broken} policies with errors" if broken else "")
        )
    else:
        typer.echo(
            json.dumps(
                {"results": results, "passed": passed, "failed": failed, "broken": broken},
                indent=2,
            )
        )
    if failed or broken:
        raise typer.Exit(EXIT_FINDINGS)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


MAX_JSON_OPTION_BYTES = 1024 * 1024  # --signals / --context: far more than any signal set


def _json_int(digits: str) -> int:
    """``parse_int`` hook: an integer a float can hold (beyond 300 digits it cannot be compared
    as a signal value, and beyond 4,300 Python refuses to convert it at all)."""
    if len(digits.lstrip("-")) > 300:
        raise ValueError(f"a number with {len(digits)} digits is too large")
    return int(digits)


def _parse_json_object(
    text: str, option: str, fmt: OutputFormat = OutputFormat.text
) -> dict[str, Any]:
    """A JSON object from an option value or ``@file`` (at most 1 MiB of UTF-8).

    Exits with code 2 (usage error; as JSON under ``--format json``) for an unreadable / binary /
    too large file, invalid or too deeply nested JSON, an integer of more than 300 digits, or a
    value that is not an object.
    """
    if text.startswith("@"):
        name = text[1:]
        try:
            with open(name, "rb") as fh:  # a bounded read: /dev/zero included
                raw = fh.read(MAX_JSON_OPTION_BYTES + 1)
        except OSError as err:
            fail(f"{option}: cannot read {name}: {err.strerror}", EXIT_USAGE, fmt)
        if len(raw) > MAX_JSON_OPTION_BYTES:
            fail(f"{option}: {name} is larger than {MAX_JSON_OPTION_BYTES} bytes", EXIT_USAGE, fmt)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            fail(f"{option}: {name} is not UTF-8 text (expected JSON)", EXIT_USAGE, fmt)
    try:
        data = json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as err:
        fail(f"{option} is not valid JSON: {err}", EXIT_USAGE, fmt)
    except RecursionError:
        fail(f"{option} is nested too deeply", EXIT_USAGE, fmt)
    except ValueError as err:  # parse_int
        fail(f"{option}: {err}", EXIT_USAGE, fmt)
    if not isinstance(data, dict):
        fail(f"{option} must be a JSON object", EXIT_USAGE, fmt)
    return data


def explain(
    policy: Annotated[str, typer.Argument(help="A policy file or a bundled policy name.")],
    signals: Annotated[
        str, typer.Option("--signals", help="JSON object of signal values, or @file.json.")
    ] = "{}",
    context: Annotated[
        str, typer.Option("--context", help="JSON object of placeholder values, e.g. model.")
    ] = "{}",
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
) -> None:
    """Evaluate a policy on given signal values and show the decision and why."""
    from guardrail.policy import PolicyError
    from guardrail.policy.bundled import resolve_policy_path
    from guardrail.policy.loader import load_policy

    values = _parse_json_object(signals, "--signals", format)
    ctx = {str(k): str(v) for k, v in _parse_json_object(context, "--context", format).items()}
    console = _console()
    try:
        pol = load_policy(resolve_policy_path(policy))
    except PolicyError as err:
        if format is OutputFormat.json:
            fail("; ".join(str(d) for d in err.diagnostics) or str(err), EXIT_FINDINGS, format)
        for d in err.diagnostics:
            _print_diagnostic(console, d)
        raise typer.Exit(EXIT_FINDINGS) from None
    derived = _derive_calibrated(pol, values, format)
    if derived is not None:
        values = {**values, "calibrated": derived[0]}
    used = pol.needed_signals() | ({derived[1]} if derived is not None else set())
    unknown = sorted(k for k in values if k not in used)
    decision = pol.evaluate(values, context=ctx)
    could_change = sorted(
        pol.signals_that_matter({k: v for k, v in values.items() if k in pol.needed_signals()})
    )
    if format is OutputFormat.json:
        out = decision.model_dump(mode="json")
        if derived is not None:
            out["calibrated_from"] = {"source": derived[1], "calibrated": derived[0]}
        out["ignored_signals"] = unknown
        out["could_still_change_action"] = could_change
        typer.echo(json.dumps(out, indent=2))
        return
    if derived is not None:
        console.print(
            f"calibrated = {derived[0]:.4g}, from {derived[1]} = {values[derived[1]]} "
            f"through the profile {escape(str(pol.calibration))}"
        )
    _print_decision(console, pol, decision, values)
    if unknown:
        console.print(f"[yellow]ignored (not read by any rule):[/] {escape(', '.join(unknown))}")
    if could_change:
        console.print(
            "not computed yet and could still change the action: " + escape(", ".join(could_change))
        )


def _derive_calibrated(
    pol: Policy, values: dict[str, Any], fmt: OutputFormat = OutputFormat.text
) -> tuple[float, str] | None:
    """``(calibrated, source)`` when a rule reads ``calibrated``, it was not given, and the
    policy's calibration profile maps a source signal that was: the value the SDK would compute
    (:meth:`guardrail.calibration.CalibrationProfile.calibrate`). None otherwise."""
    if "calibrated" in values or "calibrated" not in pol.needed_signals():
        return None
    if pol.calibration is None:
        return None
    from guardrail.calibration import CalibrationProfile

    try:
        profile = CalibrationProfile.load(pol.calibration)
    except (OSError, ValueError) as exc:
        fail(f"calibration profile {pol.calibration}: {exc}", EXIT_USAGE, fmt)
    raw = values.get(profile.source)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        return float(profile.calibrate(float(raw))), profile.source
    except ValueError:
        return None  # out of range: evaluate reports the source as invalid


def _print_decision(
    console: Console, pol: Policy, decision: Decision, values: dict[str, Any]
) -> None:
    from rich.table import Table

    from guardrail.policy.evaluator import normalize_values

    style = {"pass": "green", "notice": "cyan", "review": "yellow", "abstain": "bold red"}
    console.print(
        f"[{style[decision.action.value]}]{decision.action.value.upper()}[/] "
        f"(policy [bold]{escape(pol.name)}[/])"
    )
    if decision.message:
        console.print(f"message: {escape(decision.message)}")
    table = Table(show_header=True, header_style="bold")
    table.add_column("rule")
    table.add_column("when")
    table.add_column("result")
    table.add_column("action")
    matched = {m.rule: m for m in decision.matched}
    present, _, _ = normalize_values(values, pol.needed_signals())
    for rule in pol.rules:
        m = matched.get(rule.name)
        if m is None:
            miss = sorted(set(rule.reads) & set(decision.missing))
            if miss and pol.program.rules_by_name[rule.name].cond(present) is None:
                result, action = f"unknown (missing {', '.join(miss)}; on_missing pass)", "-"
            else:
                result, action = "false", "-"
        elif m.missing:
            result, action = f"unknown (missing {', '.join(m.missing)})", m.action.value
        else:
            vals = ", ".join(f"{k}={v!r}" for k, v in m.values.items())
            result, action = f"true ({vals})", m.action.value
        table.add_row(escape(rule.name), escape(rule.condition_text), escape(result), action)
    console.print(table)
    if decision.otherwise_applied:
        console.print(f"no rule matched: otherwise {decision.action.value}")
    for n in decision.notices:
        console.print(f"notice: {escape(n)}")
    if decision.missing:
        console.print(f"[yellow]missing signals:[/] {escape(', '.join(decision.missing))}")
    for k, why in decision.invalid.items():
        console.print(f"[red]invalid {escape(k)}:[/] {escape(why)} (treated as missing)")


def register(app: typer.Typer) -> None:
    """Add ``check``, ``fmt``, ``test`` and ``explain`` to the ``guardrail`` command."""
    app.command("check")(check)
    app.command("fmt")(fmt)
    app.command("test")(test)
    app.command("explain")(explain)
