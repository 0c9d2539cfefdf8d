"""Drop-in wrappers shaped like the OpenAI Python client.

Code written against ``client.chat.completions.create(model=..., messages=...)`` changes one line::

    client = GuardedClient(OpenAI(), policies="policies/", domain="medical")   # was: OpenAI()
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    completion.choices[0].message.content      # the text to show (notice attached, ...)
    completion.guardrail.decision.action       # the verdict

``GuardedClient`` is synchronous, ``AsyncGuardedClient`` asynchronous (``await ...create(...)``).
The wrapped client may be an OpenAI(-compatible) client object (anything with
``.chat.completions.create``), a guardrail :class:`~guardrail.providers.ChatProvider`, or nothing:
then ``base_url``/``api_key`` build an :class:`~guardrail.providers.OpenAICompatProvider`, and
without a ``base_url`` the embedded local model is used.

The completion's ``finish_reason`` is ``"content_filter"`` when the guard withheld the answer
(abstention, or an answer held for review), as OpenAI does when its own filter omits content.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from guardrail.providers import (
    AuthenticationError,
    BadRequestError,
    ChatProvider,
    ChatResult,
    MessagesLike,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
    SyncChatMixin,
    make_provider,
    normalize_messages,
    parse_chat_completion,
    run_sync,
)
from guardrail.sdk.guard import Guard
from guardrail.sdk.models import GuardedResponse

__all__ = [
    "AsyncGuardedClient",
    "CompletionChoice",
    "CompletionMessage",
    "CompletionUsage",
    "GuardedClient",
    "GuardedCompletion",
    "OpenAIClientProvider",
]


class CompletionMessage(BaseModel):
    """``choices[i].message`` of a chat completion."""

    role: str = "assistant"
    content: str | None = None


class CompletionChoice(BaseModel):
    """``choices[i]`` of a chat completion."""

    index: int = 0
    message: CompletionMessage
    finish_reason: str = "stop"
    logprobs: Any = None


class CompletionUsage(BaseModel):
    """``usage`` of a chat completion (summed over every call the guard made)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class GuardedCompletion(BaseModel):
    """A ``chat.completion`` object (OpenAI shape) with the guard's verdict in ``guardrail``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    object: str = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage
    guardrail: GuardedResponse

    @classmethod
    def from_response(cls, r: GuardedResponse) -> GuardedCompletion:
        finish = "content_filter" if r.status in ("abstained", "pending_review") else "stop"
        if r.status == "failed":
            finish = "error"
        return cls(
            id=f"guardrail-{r.request_id}",
            model=r.model,
            choices=[
                CompletionChoice(message=CompletionMessage(content=r.text), finish_reason=finish)
            ],
            usage=CompletionUsage(
                prompt_tokens=r.cost.input_tokens,
                completion_tokens=r.cost.output_tokens,
                total_tokens=r.cost.input_tokens + r.cost.output_tokens,
            ),
            guardrail=r,
        )


def _map_client_error(exc: Exception) -> ProviderError:
    """Translate an OpenAI-client exception into guardrail's provider errors (by status code)."""
    code = getattr(exc, "status_code", None)
    msg = f"{type(exc).__name__}: {exc}"
    if code in (401, 403):
        return AuthenticationError(msg, status_code=code)
    if code == 429:
        return RateLimitError(msg, status_code=code)
    if isinstance(code, int) and code >= 500:
        return ServerError(msg, status_code=code)
    if isinstance(code, int) and code >= 400:
        return BadRequestError(msg, status_code=code)
    return ProviderConnectionError(msg)


class OpenAIClientProvider(SyncChatMixin):
    """A :class:`~guardrail.providers.ChatProvider` over an existing OpenAI-style client object
    (``openai.OpenAI``, ``openai.AsyncOpenAI`` or anything with ``.chat.completions.create``).
    Retries are left to that client. Missing samples (a server that ignores ``n``) are requested
    as concurrent single calls."""

    def __init__(self, client: Any, *, model: str | None = None, name: str = "openai") -> None:
        create = getattr(
            getattr(getattr(client, "chat", None), "completions", None), "create", None
        )
        if create is None:
            raise TypeError("client has no .chat.completions.create (not an OpenAI-style client)")
        self._create = create
        self._async = inspect.iscoroutinefunction(create)
        self._model = model
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def default_model(self) -> str | None:
        return self._model

    async def aclose(self) -> None:
        return None

    async def _one(self, kwargs: dict[str, Any]) -> Any:
        try:
            if self._async:
                raw = await self._create(**kwargs)
            else:
                raw = await asyncio.to_thread(lambda: self._create(**kwargs))
        except ProviderError:
            raise
        except Exception as exc:
            raise _map_client_error(exc) from exc
        return raw.model_dump() if hasattr(raw, "model_dump") else raw

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
        """See :meth:`guardrail.providers.ChatProvider.chat`."""
        start = time.perf_counter()
        if n < 1:
            raise ValueError(f"n must be >= 1 (got {n})")
        model_name = model or self._model
        if not model_name:
            raise ValueError("no model given and the provider has no default model")
        kwargs: dict[str, Any] = {
            "model": model_name,
            "messages": [m.model_dump() for m in normalize_messages(messages)],
        }
        for key, val in (("temperature", temperature), ("max_tokens", max_tokens), ("seed", seed)):
            if val is not None:
                kwargs[key] = val
        if logprobs:
            kwargs["logprobs"] = True
            if top_logprobs:
                kwargs["top_logprobs"] = top_logprobs
        first = await self._one({**kwargs, "n": n} if n > 1 else kwargs)
        choices, usage, served, rid = parse_chat_completion(first, requested_model=model_name)
        choices = choices[:n]
        calls = 1
        errors: list[str] = []
        missing = n - len(choices)
        if missing > 0:
            extra = [
                {**kwargs, "seed": seed + 1 + i} if seed is not None else kwargs
                for i in range(missing)
            ]
            results = await asyncio.gather(*(self._one(k) for k in extra), return_exceptions=True)
            calls += missing
            for res in results:
                if isinstance(res, AuthenticationError):
                    raise res
                if isinstance(res, BaseException):
                    errors.append(f"{type(res).__name__}: {res}")
                    continue
                got, u, _, _ = parse_chat_completion(res, requested_model=model_name)
                usage = usage + u
                for c in got[:1]:
                    choices.append(c.model_copy(update={"index": len(choices)}))
        return ChatResult(
            provider=self._name,
            model=served,
            choices=choices,
            requested=n,
            failed=n - len(choices),
            errors=errors,
            usage=usage,
            calls=calls,
            latency_s=time.perf_counter() - start,
            response_id=rid,
        )


def _build_guard(
    client: Any,
    guard: Guard | None,
    policies: str | Path | None,
    base_url: str | None,
    api_key: str | None,
    guard_kwargs: dict[str, Any],
) -> Guard:
    if guard is not None:
        return guard
    provider: ChatProvider
    if client is None:
        provider = make_provider(base_url, api_key=api_key)
    elif isinstance(client, ChatProvider):
        provider = client
    else:
        provider = OpenAIClientProvider(client)
    return Guard.from_policies(policies or "policies", provider, **guard_kwargs)


class _Completions:
    def __init__(self, owner: AsyncGuardedClient) -> None:
        self._owner = owner

    async def create(
        self,
        *,
        messages: MessagesLike,
        model: str | None = None,
        domain: str | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        user: str | None = None,
        stream: bool | None = None,
        **_ignored: Any,
    ) -> GuardedCompletion:
        """Guarded ``chat.completions.create``: same call shape, a :class:`GuardedCompletion`
        back. Sampling options the policy controls (``n``, ``temperature``, ``logprobs``) are
        ignored; ``domain`` overrides the client's default domain.

        Raises:
            ValueError: ``stream=True`` (the decision needs the whole answer and its samples
                before anything is shown; a completion object iterated as if it were a stream
                would silently yield its fields), or malformed ``messages``.
        """
        if stream:
            raise ValueError(
                "stream=True is not supported: guardrail decides on the whole answer before "
                "showing it; call create() without stream"
            )
        o = self._owner
        r = await o.guard.chat(
            messages,
            domain=domain or o.domain,
            model=model,
            max_tokens=max_tokens,
            seed=seed,
        )
        return GuardedCompletion.from_response(r)


class _Chat:
    def __init__(self, owner: AsyncGuardedClient) -> None:
        self.completions = _Completions(owner)


class AsyncGuardedClient:
    """Async drop-in: ``await client.chat.completions.create(model=..., messages=...)``.

    Args:
        client: an OpenAI-style client, a :class:`~guardrail.providers.ChatProvider`, or None.
        policies: policy directory or file (default ``policies/``); ignored when ``guard`` given.
        domain: default domain for ``create`` calls.
        guard: an existing :class:`Guard` to use as is.
        base_url, api_key: build an OpenAI-compatible provider when ``client`` is None.
        **guard_kwargs: passed to :class:`Guard` (``timeout``, ``strict``, ``review_store``...).
    """

    def __init__(
        self,
        client: Any = None,
        *,
        policies: str | Path | None = None,
        domain: str | None = None,
        guard: Guard | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        **guard_kwargs: Any,
    ) -> None:
        self.guard = _build_guard(client, guard, policies, base_url, api_key, guard_kwargs)
        self.domain = domain
        self.chat = _Chat(self)

    async def aclose(self) -> None:
        await self.guard.aclose()


class _SyncCompletions:
    def __init__(self, inner: _Completions) -> None:
        self._inner = inner

    def create(self, **kwargs: Any) -> GuardedCompletion:
        """Blocking guarded ``chat.completions.create`` (see the async version)."""
        return run_sync(self._inner.create(**kwargs))


class _SyncChat:
    def __init__(self, inner: _Chat) -> None:
        self.completions = _SyncCompletions(inner.completions)


class GuardedClient:
    """Sync drop-in: ``client.chat.completions.create(model=..., messages=...)``; same arguments
    as :class:`AsyncGuardedClient`. Safe to call from threads of a running event loop."""

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        self._async = AsyncGuardedClient(client, **kwargs)
        self.guard = self._async.guard
        self.domain = self._async.domain
        self.chat = _SyncChat(self._async.chat)

    def close(self) -> None:
        run_sync(self._async.aclose())
