"""``guardrail serve``: run the OpenAI-compatible guarding proxy (extra ``web``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from guardrail.cli._common import EXIT_ENVIRONMENT, EXIT_USAGE, fail, missing_modules

#: What the proxy imports, by distribution name (the 'web' extra in pyproject.toml).
SERVE_MODULES: dict[str, tuple[str, ...]] = {
    "fastapi": ("fastapi",),
    "uvicorn": ("uvicorn",),
    "prometheus-client": ("prometheus_client",),
}


def serve_cmd(
    upstream: Annotated[
        str | None,
        typer.Option(
            "--upstream",
            envvar="GUARDRAIL_SERVE_UPSTREAM",
            help="OpenAI-compatible upstream base URL incl. /v1 [default: the embedded model].",
        ),
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            "-p",
            help="Policy directory or file [default: $GUARDRAIL_POLICIES, ./policies, then the "
            "bundled policies].",
        ),
    ] = None,
    default_domain: Annotated[
        str | None,
        typer.Option("--default-domain", help="Domain of requests that name none."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            "-s",
            help="Review store: file path, sqlite:///path or postgresql://... "
            "(PostgreSQL for several workers) [default: $GUARDRAIL_REVIEW_STORE or the user "
            "data directory's review.db].",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model when a request names none.")
    ] = None,
    live: Annotated[
        list[str] | None,
        typer.Option(
            "--live",
            help="Stream this domain live whatever its policy's `stream` setting says (tokens "
            "flow, a withheld answer is retracted at the end); repeatable.",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.001, help="Whole-guard timeout per request, s.")
    ] = 120.0,
    no_spot_check: Annotated[
        bool, typer.Option("--no-spot-check", help="Do not queue the policies' spot checks.")
    ] = False,
) -> None:
    """Serve an OpenAI-compatible chat-completions API that guards every answer under the
    domain's policy (docs/serve.md). The proxy's own bearer token comes from
    $GUARDRAIL_SERVE_TOKEN, a configured upstream key from $GUARDRAIL_SERVE_UPSTREAM_API_KEY
    (never from flags: they show in process lists). Exit 2 on bad settings or policies, 3 when
    the 'web' extra is missing."""
    missing = missing_modules(SERVE_MODULES)
    if missing:
        fail(
            f"guardrail serve needs the 'web' extra (missing: {', '.join(missing)}); "
            "install it with: pip install 'guardrail-uq[web]'",
            EXIT_ENVIRONMENT,
        )
    import uvicorn
    from pydantic import ValidationError

    from guardrail.policy import PolicyError
    from guardrail.serve.app import create_app
    from guardrail.serve.settings import ServeSettings

    try:
        base = ServeSettings.from_env()
        flags = {
            "upstream": upstream,
            "policies": policies,
            "default_domain": default_domain,
            "store": store,
            "model": model,
            "timeout": timeout,
            "spot_check": not no_spot_check,
            "live_domains": tuple(live) if live else None,
        }
        # flags given (not None) win over $GUARDRAIL_SERVE_* variables
        settings = ServeSettings.model_validate(
            {**base.model_dump(), **{k: v for k, v in flags.items() if v is not None}}
        )
        # load once here so bad policies/settings fail before any worker starts
        app = create_app(settings)
    except (ValidationError, ValueError, FileNotFoundError, PolicyError) as exc:
        fail(str(exc), EXIT_USAGE)
    where = settings.upstream or "the embedded model"
    typer.echo(
        f"guardrail serve on http://{host}:{port}/v1 -> {where} "
        f"(domains: {', '.join(sorted(app.state.runtime.policies))}; workers: {workers})",
        err=True,
    )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    app.state.runtime.store.close()  # each worker opens its own connection
    os.environ.update(settings.to_env())  # the workers read their settings from here
    uvicorn.run(
        "guardrail.serve.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def register(app: typer.Typer) -> None:
    """Add ``guardrail serve`` to the root CLI."""
    app.command("serve")(serve_cmd)
