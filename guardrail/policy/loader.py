"""Loading policies from text and files: parse, check, raise :class:`PolicyError` on errors."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from guardrail.policy.ast import Span
from guardrail.policy.checker import check_ast
from guardrail.policy.errors import Diagnostic, PolicyError, Source
from guardrail.policy.limits import MAX_DIAGNOSTICS, MAX_POLICY_BYTES
from guardrail.policy.model import Policy
from guardrail.policy.parser import parse_ast

POLICY_SUFFIX = ".guard"


def check_text(
    text: str, filename: str = "<string>", base_dir: Path | None = None
) -> tuple[Policy | None, list[Diagnostic]]:
    """Parse and check ``text``; never raises for policy problems.

    Returns the Policy (None when there is any error) and every diagnostic (errors and warnings).
    ``base_dir`` resolves a relative ``calibration`` path (default: the current directory).
    """
    try:
        ast, diags = parse_ast(text, filename)
    except PolicyError as err:
        return None, err.diagnostics
    src = Source(text, filename)
    try:
        policy, more = check_ast(ast, src, base_dir)
    except RecursionError:  # pathological nesting: report, do not crash
        span = Span(line=1, column=1, end_line=1, end_column=2)
        more = [src.diagnostic("too-complex", "policy is nested too deeply to check", span)]
        policy = None
    except Exception as err:  # the contract: only PolicyError leaves this package
        span = Span(line=1, column=1, end_line=1, end_column=2)
        more = [
            src.diagnostic(
                "internal-error",
                f"the checker failed: {type(err).__name__}: {err}",
                span,
                hint="this is a bug in guardrail; please report it with the policy file",
            )
        ]
        policy = None
    all_diags = _capped(diags + more, src)
    if any(d.severity == "error" for d in all_diags):
        return None, all_diags
    return policy, all_diags


def _capped(diags: list[Diagnostic], src: Source) -> list[Diagnostic]:
    """At most ``MAX_DIAGNOSTICS`` diagnostics, errors first, then one ``too-many-errors``
    summary naming how many were left out."""
    if len(diags) <= MAX_DIAGNOSTICS:
        return diags
    ordered = sorted(diags, key=lambda d: d.severity != "error")  # stable: file order kept
    kept, dropped = ordered[:MAX_DIAGNOSTICS], ordered[MAX_DIAGNOSTICS:]
    errors = sum(d.severity == "error" for d in dropped)
    last = kept[-1]
    summary = src.diagnostic(
        "too-many-errors",
        f"{len(dropped)} more diagnostics ({errors} errors) not shown; fix the ones above first",
        Span(line=last.line, column=last.column, end_line=last.line, end_column=last.end_column),
        severity="error" if errors else "warning",
    )
    return [*kept, summary]


def parse_policy(text: str, filename: str = "<string>", base_dir: Path | None = None) -> Policy:
    """Parse and check policy ``text``. Raises :class:`PolicyError` listing every error
    (and warning) when there is at least one error; warnings alone land in ``Policy.warnings``."""
    policy, diags = check_text(text, filename, base_dir)
    if policy is None:
        raise PolicyError(diags)
    return policy


def read_policy_text(path: Path) -> str:
    """The file's text (UTF-8; a leading byte-order mark, as some Windows editors write, is
    dropped); unreadable, non-UTF-8 or too large (over ``MAX_POLICY_BYTES``: read no further, so
    ``/dev/zero`` is refused too) files raise :class:`PolicyError`."""
    src = Source("", str(path))
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_POLICY_BYTES + 4)  # + a byte-order mark + one byte too many
        if len(data) > MAX_POLICY_BYTES + 3:
            raise PolicyError(
                [
                    src.diagnostic(
                        "policy-too-large",
                        f"policy file is larger than the limit of {MAX_POLICY_BYTES} bytes",
                        Span(line=1, column=1, end_line=1, end_column=2),
                        hint="split it into one file per domain",
                    )
                ]
            )
        return data.decode("utf-8-sig")
    except FileNotFoundError:
        raise PolicyError(
            [
                src.diagnostic(
                    "file-not-found",
                    f"no such policy file: {path}",
                    Span(line=1, column=1, end_line=1, end_column=2),
                )
            ]
        ) from None
    except UnicodeDecodeError as err:
        raise PolicyError(
            [
                src.diagnostic(
                    "bad-encoding",
                    f"policy file is not UTF-8 text ({err.reason})",
                    Span(line=1, column=1, end_line=1, end_column=2),
                )
            ]
        ) from None
    except OSError as err:
        raise PolicyError(
            [
                src.diagnostic(
                    "file-not-found",
                    f"cannot read {path}: {err.strerror}",
                    Span(line=1, column=1, end_line=1, end_column=2),
                )
            ]
        ) from None


def load_policy(path: str | Path) -> Policy:
    """Read, parse and check one ``.guard`` file (calibration resolved beside it).

    Raises :class:`PolicyError` (file missing, not UTF-8, syntax or semantic errors)."""
    p = Path(path)
    text = read_policy_text(p)
    return parse_policy(text, str(p), base_dir=p.parent)


def policy_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Expand directories to their ``*.guard`` files (sorted); keep files as given."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(p.glob(f"*{POLICY_SUFFIX}")))
        else:
            out.append(p)
    return out


def load_policies(paths: str | Path | Iterable[str | Path]) -> dict[str, Policy]:
    """Load a directory of ``*.guard`` files and/or explicit files, keyed by policy name.

    Raises :class:`PolicyError` with the diagnostics of *every* failing file, or a
    ``duplicate-policy`` error when two files declare the same policy name."""
    result: dict[str, Policy] = {}
    origin: dict[str, Path] = {}
    diags: list[Diagnostic] = []
    for path in policy_files(paths):
        try:
            policy = load_policy(path)
        except PolicyError as err:
            diags.extend(err.diagnostics)
            continue
        if policy.name in result:
            diags.append(
                Source("", str(path)).diagnostic(
                    "duplicate-policy",
                    f"policy '{policy.name}' is also defined in {origin[policy.name]}",
                    Span(line=1, column=1, end_line=1, end_column=2),
                )
            )
            continue
        result[policy.name] = policy
        origin[policy.name] = path
    if any(d.severity == "error" for d in diags):
        raise PolicyError(diags)
    return result
