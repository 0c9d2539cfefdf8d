"""``guardrail ask``: one guarded question, printed as the end user would see it plus the why."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from guardrail.cli._common import (
    EXIT_ENVIRONMENT,
    EXIT_FINDINGS,
    EXIT_USAGE,
    FormatOpt,
    OutputFormat,
    fail,
)

if TYPE_CHECKING:
    from rich.status import Status

    from guardrail.policy import Policy
    from guardrail.providers import ChatProvider, ChatResult, MessagesLike
    from guardrail.sdk import GuardedResponse

#: ``--seed`` when none is given: the same question gets the same samples, hence the same
#: decision, on a model that honours seeds (the embedded model does).
DEFAULT_SEED = 0


class Stakes(enum.StrEnum):
    """``--stakes``: the ``stakes`` signal some policies read (legal, finance)."""

    low = "low"
    medium = "medium"
    high = "high"


_STATUS_STYLE = {
    "answered": "green",
    "abstained": "bold red",
    "pending_review": "yellow",
    "failed": "bold red",
}


def _load(policy: str | None, policies: Path | None) -> dict[str, Policy]:
    from guardrail.policy import load_policies, load_policy
    from guardrail.policy.bundled import bundled_policies_dir, resolve_policy_path

    if policy is not None:
        p = load_policy(resolve_policy_path(policy))
        return {p.name: p}
    folder = policies or bundled_policies_dir()
    if folder is None:
        fail(
            "no policies found: pass --policy FILE or --policies DIR (or set GUARDRAIL_POLICIES)",
            EXIT_USAGE,
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


class _StepStatus:
    """A provider that names each model call on a status line before making it (``answer``,
    ``samples``, ``stated confidence``, ``ensemble``), so the 10-50 s the embedded model takes
    are not silent. Delegates everything to the wrapped provider; which step a call is comes from
    its arguments (the guard makes the answer call first, samples with ``n > 1``, the verbalized
    follow-up at temperature 0 with the answer appended, ensemble calls with another model).

    With the embedded model (``per_sample``, the default for a ``LocalProvider``) the ``n``
    samples are asked one at a time, so the line can say ``samples 3/7``: the same
    generations as one call (``LocalProvider`` also generates them one after another, with seeds
    ``seed + i``), merged into one :class:`~guardrail.providers.ChatResult` the same way."""

    def __init__(
        self,
        inner: ChatProvider,
        status: Status,
        question_turns: int,
        per_sample: bool | None = None,
    ) -> None:
        from guardrail.providers import LocalProvider

        self._inner = inner
        self._status = status
        self._turns = question_turns
        self._calls = 0
        self._per_sample = isinstance(inner, LocalProvider) if per_sample is None else per_sample

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def default_model(self) -> str | None:
        return self._inner.default_model

    def _step(self, messages: MessagesLike, model: str | None, n: int) -> str:
        if self._calls == 1:
            return "answer"
        if n > 1:
            return f"samples ({n} answers for self-consistency)"
        if model and model != self._inner.default_model and len(messages) <= self._turns:
            return f"ensemble ({model})"
        if len(messages) > self._turns:
            return "stated confidence (follow-up question)"
        return "model call"

    async def chat(
        self,
        messages: MessagesLike,
        *,
        model: str | None = None,
        n: int = 1,
        temperature: float | None = None,
        logprobs: bool = False,
        top_logprobs: int | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> ChatResult:
        self._calls += 1
        step = self._step(messages, model, n)
        self._status.update(f"guardrail ask: call {self._calls}: {step}")
        if n > 1 and self._per_sample:
            return await self._one_by_one(
                messages, model, n, temperature, logprobs, top_logprobs, seed, max_tokens
            )
        return await self._inner.chat(
            messages,
            model=model,
            n=n,
            temperature=temperature,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            seed=seed,
            max_tokens=max_tokens,
        )

    async def _one_by_one(
        self,
        messages: MessagesLike,
        model: str | None,
        n: int,
        temperature: float | None,
        logprobs: bool,
        top_logprobs: int | None,
        seed: int | None,
        max_tokens: int | None,
    ) -> ChatResult:
        import random
        import time

        from guardrail.providers import ChatResult, ProviderError, Usage

        start = time.perf_counter()
        base = seed if seed is not None else random.randrange(2**31 - n)
        choices: list[Any] = []
        errors: list[str] = []
        usage, calls, answered_by = Usage(), 0, model or self._inner.default_model or "default"
        for i in range(n):
            self._status.update(f"guardrail ask: call {self._calls}: samples {i + 1}/{n}")
            try:
                r = await self._inner.chat(
                    messages,
                    model=model,
                    n=1,
                    temperature=temperature,
                    logprobs=logprobs,
                    top_logprobs=top_logprobs,
                    seed=base + i,
                    max_tokens=max_tokens,
                )
            except ProviderError as exc:
                if type(exc) is not ProviderError:  # bad request, authentication: not per sample
                    raise
                errors.append(f"{type(exc).__name__}: {exc}")
                calls += 1
                continue
            choices.extend(
                c.model_copy(update={"index": len(choices) + j}) for j, c in enumerate(r.choices)
            )
            usage, calls, answered_by = usage + r.usage, calls + r.calls, r.model
        if not choices:
            raise ProviderError(f"every sample failed: {errors[0] if errors else 'no output'}")
        return ChatResult(
            provider=self._inner.name,
            model=answered_by,
            choices=choices,
            requested=n,
            failed=n - len(choices),
            errors=errors,
            usage=usage,
            calls=calls,
            latency_s=time.perf_counter() - start,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextmanager
def _progress(enabled: bool) -> Iterator[Status | None]:
    """A spinner on stderr (Rich's ``Console.status``) when ``enabled`` and stderr is a
    terminal; ``None`` otherwise (pipes, CI, ``--format json``, ``--no-progress``)."""
    err = Console(stderr=True)
    if not enabled or not err.is_terminal:
        yield None
        return
    with err.status("guardrail ask: loading the model", spinner="dots") as status:
        yield status


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
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Sampling seed: the same seed gives the same samples and decision on a model "
            "that honours seeds (the embedded one does).",
        ),
    ] = DEFAULT_SEED,
    stakes: Annotated[
        Stakes | None,
        typer.Option("--stakes", help="The stakes signal some policies read (legal, finance)."),
    ] = None,
    format: Annotated[OutputFormat, FormatOpt] = OutputFormat.text,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Review store for held answers and spot checks: file path, sqlite:///path, "
            "postgresql://... or memory: (default: $GUARDRAIL_REVIEW_STORE or review.db in the "
            "user data directory)",
        ),
    ] = None,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress",
            help="Spinner on stderr naming the step (only on a terminal; off with --format json).",
        ),
    ] = True,
    spot_check: Annotated[
        bool,
        typer.Option(
            "--spot-check/--no-spot-check",
            help="Queue the policy's spot_check share of passed answers for human labels.",
        ),
    ] = True,
    decision_log: Annotated[
        str | None,
        typer.Option(
            "--decision-log",
            help="Append the call's decision record: a JSONL path, sqlite:.../postgresql://... "
            "(the decision_log table) or otel (docs/scale.md).",
        ),
    ] = None,
) -> None:
    """Ask a question through guardrail: prints the answer as the user would see it, then the
    decision, each signal and the explanation. Uses the embedded SmolLM2 model when no
    --base-url is given.

    Exit codes: 0 when the policy decided (answered, abstained or held for review: those are
    results, not errors); 1 when the guarded call failed; 2 for bad input (empty question, unknown
    domain, policy errors); 3 for the environment (embedded model not installed, authentication
    failed)."""
    if not question.strip():  # would cost k+2 model calls to judge an answer to nothing
        fail("the question is empty", EXIT_USAGE, format)
    if timeout is not None and not timeout > 0:  # 0 or less "expired" before the first call
        fail(f"--timeout must be more than 0 seconds, got {timeout:g}", EXIT_USAGE, format)
    from guardrail.policy import PolicyError
    from guardrail.providers import AuthenticationError, LocalModelUnavailable, make_provider
    from guardrail.review import default_store_path, open_store, sqlite_path, store_url
    from guardrail.sdk import Guard

    try:
        pols = _load(policy, policies)
    except PolicyError as err:
        fail(str(err), EXIT_USAGE, format)
    try:
        provider = make_provider(base_url, model=model, api_key=api_key)
    except LocalModelUnavailable as err:
        fail(str(err), EXIT_ENVIRONMENT, format)
    url = store_url(store)
    db = sqlite_path(url)
    try:
        if db is not None and Path(db) == default_store_path():
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        review_store = open_store(url)
    except Exception as err:  # sqlite3 / psycopg / bad URL: report, don't trace
        from guardrail._safety import Redactor, redact_url, url_secrets

        shown = Redactor(url_secrets(url))(str(err))
        fail(f"cannot open review store {redact_url(url)}: {shown}", EXIT_USAGE, format)
    sink = None
    if decision_log is not None:
        from guardrail._safety import redact_url
        from guardrail.decisions.sinks import open_decision_sink

        try:
            sink = open_decision_sink(decision_log)
        except Exception as err:  # bad path or URL, database error
            review_store.close()
            fail(f"cannot open decision log {redact_url(decision_log)}: {err}", EXIT_USAGE, format)
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": question})
    if domain is None and len(pols) > 1:
        domain = "general" if "general" in pols else None
    try:
        with _progress(progress and format is OutputFormat.text) as status:
            guard = Guard(
                pols,
                provider if status is None else _StepStatus(provider, status, len(messages)),
                model=model,
                timeout=timeout,
                max_tokens=max_tokens,
                review_store=review_store,
                spot_check=spot_check,
                decision_log=sink,
            )
            response = guard.chat_sync(
                messages,
                domain=domain,
                seed=seed,
                stakes=stakes.value if stakes is not None else None,
            )
    except ValueError as err:
        fail(str(err), EXIT_USAGE, format)
    except AuthenticationError as err:
        fail(f"authentication failed: {err}", EXIT_ENVIRONMENT, format)
    finally:
        review_store.close()
        if sink is not None:
            sink.close()
    if format is OutputFormat.json:
        sys.stdout.write(
            json.dumps(response.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
        )
    else:
        _print_text(Console(highlight=False, soft_wrap=True), response)
    if response.status == "failed":
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    """Add ``guardrail ask`` to the CLI."""
    app.command("ask")(ask)
