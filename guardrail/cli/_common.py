"""Pieces every ``guardrail`` command shares: exit codes, ``--format``, error output, extras.

Exit codes (the same for every command, documented in README.md):

* ``0`` -- success; for ``guardrail ask`` also an abstention or an answer held for review (those
  are results of the policy, not errors).
* ``1`` -- the command ran and found problems: policy errors, failed examples, unformatted files,
  a failed guarded call, a store operation refused (item claimed by someone else, ...), an output
  path that cannot be written.
* ``2`` -- usage or input error: a bad option value, a file that does not exist or cannot be read.
* ``3`` -- environment: an optional extra or the embedded model is not installed, authentication
  with the model server failed.
"""

from __future__ import annotations

import enum
import importlib.util
import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

__all__ = [
    "EXIT_ENVIRONMENT",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "STORAGE_OPTION_HELP",
    "OutputFormat",
    "fail",
    "missing_modules",
    "parse_storage_options",
    "stderr_console",
]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3


class OutputFormat(enum.StrEnum):
    """``--format``: human-readable text (default) or one JSON document on stdout."""

    text = "text"
    json = "json"


FormatOpt = typer.Option(
    "--format",
    help="text (default) or json: machine-readable output on stdout (list/claim: one JSON object "
    'per line); errors too, as {"error": {"message": ..., "exit_code": ...}}.',
)


def stderr_console() -> Console:
    """A console on stderr that never wraps a message and never reads markup in it."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str, code: int, fmt: OutputFormat = OutputFormat.text) -> NoReturn:
    """Report an error and exit with ``code``.

    Text: one ``error: ...`` line on stderr, printed literally (brackets such as
    ``guardrail-uq[plot]`` are kept; Rich markup is not interpreted). JSON: ``{"error": {"message":
    ..., "exit_code": code}}`` on stdout, so a script reading stdout always gets a document.

    Raises:
        typer.Exit: always, with ``code``.
    """
    if fmt is OutputFormat.json:
        sys.stdout.write(
            json.dumps({"error": {"message": message, "exit_code": code}}, ensure_ascii=False)
            + "\n"
        )
    else:
        stderr_console().print(Text.assemble(("error:", "red"), " ", message))
    raise typer.Exit(code)


def missing_modules(modules: dict[str, tuple[str, ...]]) -> list[str]:
    """Distribution names whose module cannot be found.

    Args:
        modules: distribution name -> import names, any of which satisfies it (``python-multipart``
            is imported as ``python_multipart`` by new releases, ``multipart`` by old ones).

    Returns:
        The distribution names with none of their import names importable, in the given order.
    """
    missing: list[str] = []
    for dist, names in modules.items():
        if not any(_findable(n) for n in names):
            missing.append(dist)
    return missing


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


#: Help text of the ``--storage-option`` option (``guardrail replay``, ``guardrail audit report``).
STORAGE_OPTION_HELP = (
    "KEY=VALUE for the object-storage file system (fsspec) of s3://... and other URLs, "
    "repeatable: endpoint_url=http://127.0.0.1:9000, anon=true, ... (VALUE parsed as JSON when "
    "it is JSON). Prefer the environment (AWS_* variables) for secrets."
)


def parse_storage_options(pairs: list[str] | None, fmt: OutputFormat) -> dict[str, Any]:
    """``--storage-option KEY=VALUE`` pairs as a dict (VALUE decoded as JSON when it parses,
    else kept as the string); a pair without ``=`` fails with exit code 2."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--storage-option takes KEY=VALUE, got {pair!r}", EXIT_USAGE, fmt)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
