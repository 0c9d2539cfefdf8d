"""``guardrail ask``: one guarded question, printed as the end user would see it plus the why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from guardrail.policy import Policy, PolicyError, load_policies, load_policy
from guardrail.policy.bundled import bundled_policies_dir, resolve_policy_path
from guardrail.providers import (
    AuthenticationError,
    LocalModelUnavailable,
    make_provider,
)
from guardrail.review import DEFAULT_STORE, STORE_ENV, open_store, store_url
from guardrail.sdk import Guard, GuardedResponse

_STATUS_STYLE = {
    "answered": "green",
    "abstained": "bold red",
    "pending_review": "yellow",
    "failed": "bold red",
}


def _load(policy: str | None, policies: Path | None) -> dict[str, Policy]:
    if policy is not None:
        p = load_policy(resolve_policy_path(policy))
        return {p.name: p}
    folder = policies or bundled_policies_dir()
    if folder is None:
        raise typer.BadParameter(
            "no policies found: pass --policy FILE or --policies DIR (or set GUARDRAIL_POLICIES)"
        )
    return load_policies(folder)


def _print_text(console: Console, r: GuardedResponse) -> None:
    console.print(escape(r.text))
    console.print()
    style = _STATUS_STYLE[r.status]
    action = r.action.value if r.action is not None else "none"
    console.print(f"[{style}]status: {r.status}[/]  action: {action}  policy: {escape(r.policy)}")
    if r.review_id:
        console.print(f"review id: {r.review_id} (see `guardrail review list`)")
    if r.spot_check_id:
        console.print(f"spot-check id: {r.spot_check_id} (sampled for a human label)")
    if r.error:
        console.print(f"[red]error:[/] {escape(r.error)}")
    console.print(escape(r.explain()))
    if r.status != "answered" and r.answer:
        console.print(f"[dim]withheld answer: {escape(r.answer)}[/]")


def ask(
    question: Annotated[str, typer.Argument(help="The question to ask.")],
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", help="Policy domain (e.g. medical).")
    ] = None,
    policy: Annotated[
        str | None, typer.Option("--policy", help="A policy file or bundled policy name.")
    ] = None,
    policies: Annotated[
        Path | None, typer.Option("--policies", help="Folder of *.guard policies.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            envvar="GUARDRAIL_BASE_URL",
            help="OpenAI-compatible API root (e.g. http://127.0.0.1:8080/v1). "
            "Default: the embedded local model.",
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name.")] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="API key (default: $OPENAI_API_KEY).")
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="A system prompt.")] = None,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, help="Completion cap per call.")
    ] = 96,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Whole-guard timeout in seconds.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed.")] = None,
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Review store for held answers and spot checks: file path, sqlite:///path, "
            f"postgresql://... or memory: [default: ${STORE_ENV} or {DEFAULT_STORE}]",
        ),
    ] = None,
    spot_check: Annotated[
        bool,
        typer.Option(
            "--spot-check/--no-spot-check",
            help="Queue the policy's spot_check share of passed answers for human labels.",
        ),
    ] = True,
) -> None:
    """Ask a question through guardrail: prints the answer as the user would see it, then the
    decision, each signal and the explanation. Uses the embedded SmolLM2 model when no
    --base-url is given."""
    if format not in ("text", "json"):
        raise typer.BadParameter("--format is text or json")
    if not question.strip():  # would cost k+2 model calls to judge an answer to nothing
        raise typer.BadParameter("the question is empty", param_hint="QUESTION")
    if timeout is not None and not timeout > 0:  # 0 or less "expired" before the first call
        raise typer.BadParameter(
            f"must be more than 0 seconds, got {timeout:g}", param_hint="--timeout"
        )
    try:
        pols = _load(policy, policies)
    except PolicyError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    try:
        provider = make_provider(base_url, model=model, api_key=api_key)
    except LocalModelUnavailable as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(3) from err
    url = store_url(store)
    try:
        review_store = open_store(url)
    except Exception as err:  # sqlite3 / psycopg / bad URL: report, don't trace
        from guardrail._safety import Redactor, redact_url, url_secrets

        shown = Redactor(url_secrets(url))(str(err))
        typer.echo(f"error: cannot open review store {redact_url(url)}: {shown}", err=True)
        raise typer.Exit(2) from err
    guard = Guard(
        pols,
        provider,
        model=model,
        timeout=timeout,
        max_tokens=max_tokens,
        review_store=review_store,
        spot_check=spot_check,
    )
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": question})
    if domain is None and len(pols) > 1:
        domain = "general" if "general" in pols else None
    try:
        response = guard.chat_sync(messages, domain=domain, seed=seed)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    except AuthenticationError as err:
        typer.echo(f"authentication failed: {err}", err=True)
        raise typer.Exit(3) from err
    finally:
        review_store.close()
    if format == "json":
        typer.echo(json.dumps(response.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        _print_text(Console(highlight=False, soft_wrap=True), response)
    if response.status == "failed":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``guardrail ask`` to the CLI."""
    app.command("ask")(ask)
