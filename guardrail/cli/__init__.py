"""The ``guardrail`` command line (built on Typer).

Each command group lives in its own module and is registered in :func:`_register`.
"""

from __future__ import annotations

import typer

from guardrail import __version__

app = typer.Typer(
    name="guardrail",
    epilog="Exit codes: 0 ok (for ask also abstain/review), 1 findings or failed, "
    "2 usage or input error, 3 environment (missing extra or model, authentication).",
    help="Keep LLM applications honest about what they don't know.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"guardrail {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """guardrail: calibration audits, uncertainty policies, guarded chat completions."""


def _register() -> None:
    # Command modules register themselves on `app` when imported.
    from guardrail.cli import audit_cmds

    audit_cmds.register(app)

    from guardrail.cli import audit_run_cmd

    audit_run_cmd.register(app)

    from guardrail.cli import policy_cmds

    policy_cmds.register(app)

    from guardrail.cli import review_cmds

    review_cmds.register(app)

    from guardrail.cli import ask_cmd

    ask_cmd.register(app)

    from guardrail.cli import replay_cmd

    replay_cmd.register(app)
    from guardrail.cli import serve_cmd

    serve_cmd.register(app)


_register()


def main() -> None:
    """Entry point of the ``guardrail`` console script."""
    app(prog_name="guardrail")
