"""Drop-in wrappers shaped like the OpenAI Python client.

Code written against ``client.chat.completions.create(model=..., messages=...)`` changes one line::

    client = GuardedClient(OpenAI(), domain="medical")          # was: OpenAI()
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    completion.choices[0].message.content      # the text to show (notice attached, ...)
    completion.guardrail.decision.action       # the verdict

``GuardedClient`` is synchronous, ``AsyncGuardedClient`` asynchronous (``await ...create(...)``).
The wrapped client may be an OpenAI(-compatible) client object (``openai.OpenAI``,
``openai.AsyncOpenAI`` or anything with ``.chat.completions.create``), a guardrail
:class:`~guardrail.providers.ChatProvider`, or nothing: then ``base_url``/``api_key`` build an
:class:`~guardrail.providers.OpenAICompatProvider`, and without a ``base_url`` the embedded local
model is used. Policies default to the CLI's resolution (``$GUARDRAIL_POLICIES``, ``./policies``,
the bundled ones).

What ``create`` returns (``docs/sdk.md``, "Drop-in client"):

* with the ``openai`` package installed: an ``openai.types.chat.ChatCompletion`` (subclass
  :class:`GuardedChatCompletion`) whose ``id``, ``created``, ``model``, ``system_fingerprint``,
  ``service_tier``, ``usage`` and ``choices[0].finish_reason``/``tool_calls``/``refusal`` are the
  upstream answer call's; ``choices[0].message.content`` is the text the guard decided to show;
* without it: :class:`GuardedCompletion`, a pydantic model with the same fields.

Two extra attributes, excluded from ``model_dump()``/``to_dict()`` so the document validates as a
plain ``ChatCompletion``: ``guardrail`` (the :class:`~guardrail.sdk.models.GuardedResponse`, or
``None`` when the model answered with tool calls: those are passed through unevaluated) and
``guardrail_usage`` (:class:`GuardUsage`: calls and tokens of everything the guard did; ``usage``
is the answer call's alone).

``finish_reason`` is the upstream one of the shown answer (``length`` when it was cut at the token
cap) or ``"content_filter"`` when the guard withheld the answer (abstention, or an answer held for
review), as OpenAI does when its own filter omits content. It is never ``"error"``: a guarded call
that could not produce an answer raises the matching ``openai`` exception (the wrapped client's own
exception when it raised one; ``openai.APIConnectionError``, ``openai.APITimeoutError``,
``openai.APIStatusError`` subclasses by HTTP status, else ``openai.APIError``), or, without the
``openai`` package, the :class:`~guardrail.providers.ProviderError` / :class:`GuardError`.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Field

from guardrail.providers import (
    AuthenticationError,
    BadRequestError,
    ChatProvider,
    ChatResult,
    Choice,
    MessagesLike,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamDelta,
    SyncChatMixin,
    ToolCallReply,
    Usage,
    chunk_delta,
    completion_delta,
    is_json_reply,
    make_provider,
    normalize_messages,
    parse_chat_completion,
    reply_deltas,
    request_scope,
    run_sync,
)
from guardrail.providers.params import (
    InvalidArgumentError,
    check_sampling_args,
    merge_answer_options,
)
from guardrail.sdk.answer_call import (
    ANSWER_FIELDS,
    ANSWER_SLOT,
    CLIENT_OPTIONS,
    AnswerRecorder,
    AnswerSlot,
    caller_logprobs,
    check_guardable,
    first_message,
)
from guardrail.sdk.guard import Guard, GuardError, GuardTimeoutError
from guardrail.sdk.models import GuardedResponse
from guardrail.sdk.streaming import ChunkOut, completion_chunks, guarded_stream, iterate_sync

try:  # the real OpenAI types when the package is there (dev extra); same shapes otherwise
    import openai
    from openai.types.chat import ChatCompletion as _OpenAIChatCompletion
    from openai.types.chat import ChatCompletionChunk as _OpenAIChatCompletionChunk

    try:  # openai 3.x is built on httpx2, 2.x on httpx: its exceptions want their requests
        import httpx2 as _http
    except ImportError:  # pragma: no cover - openai 2.x
        import httpx as _http  # type: ignore[no-redef]

    HAVE_OPENAI = True
except ImportError:  # pragma: no cover - exercised only without the openai package
    HAVE_OPENAI = False

if TYPE_CHECKING:  # the parameter types of openai's create (the dev extra has openai 3.x)
    from openai import NotGiven, Omit
    from openai.types.chat import (
        ChatCompletionAudioParam,
        ChatCompletionMessageParam,
        ChatCompletionPredictionContentParam,
        ChatCompletionStreamOptionsParam,
        ChatCompletionToolChoiceOptionParam,
        ChatCompletionToolUnionParam,
        completion_create_params,
    )
    from openai.types.shared import ChatModel, Metadata, ReasoningEffort

    _NotSent = Omit | NotGiven

__all__ = [
    "ANSWER_ONLY_ARGS",
    "GUARD_ARGS",
    "REJECTED_ARGS",
    "STREAM_ARGS",
    "AsyncGuardedClient",
    "AsyncGuardedStreamedResponse",
    "CompletionChoice",
    "CompletionMessage",
    "CompletionUsage",
    "GuardUsage",
    "GuardedAsyncStream",
    "GuardedClient",
    "GuardedCompletion",
    "GuardedCompletionChunk",
    "GuardedRawResponse",
    "GuardedStream",
    "GuardedStreamedResponse",
    "OpenAIClientProvider",
    "UnsupportedArgumentError",
]

#: ``create`` arguments forwarded to the answer call only (never to samples, follow-ups or the
#: ensemble): they shape the reply shown to the user. The body fields of
#: :data:`guardrail.sdk.answer_call.ANSWER_FIELDS` (the same decision ``guardrail serve`` uses)
#: plus the ``openai`` client's request options (:data:`~guardrail.sdk.answer_call.CLIENT_OPTIONS`:
#: ``extra_headers``, ``extra_query``, ``extra_body``, ``timeout``). Needs a wrapped
#: OpenAI-style client object; with a guardrail provider (``base_url=`` or the local model) they
#: raise ``TypeError``.
ANSWER_ONLY_ARGS: tuple[str, ...] = (*ANSWER_FIELDS, *CLIENT_OPTIONS)
_FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}


class GuardUsage(BaseModel):
    """Everything one guarded call cost (``completion.guardrail_usage``): all model calls of the
    guard (answer, follow-up, k samples, ensemble, equivalence judge), summed. Token counts are
    what the servers reported; ``latency_s`` is wall-clock seconds of the whole guarded call."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_s: float = 0.0


class CompletionMessage(BaseModel):
    """``choices[i].message`` of a chat completion (used without the ``openai`` package)."""

    role: Literal["assistant"] = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class CompletionChoice(BaseModel):
    """``choices[i]`` of a chat completion (used without the ``openai`` package)."""

    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "function_call"] = (
        "stop"
    )
    logprobs: Any = None


class CompletionUsage(BaseModel):
    """``usage`` of a chat completion: the answer call's tokens (used without ``openai``)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class GuardedCompletion(BaseModel):
    """A ``chat.completion`` document (OpenAI shape) when the ``openai`` package is missing; with
    it, ``create`` returns :class:`GuardedChatCompletion` (an ``openai`` ``ChatCompletion``).
    ``guardrail`` and ``guardrail_usage`` are excluded from ``model_dump()``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    guardrail: GuardedResponse | None = Field(default=None, exclude=True)
    guardrail_usage: GuardUsage = Field(default_factory=GuardUsage, exclude=True)


if HAVE_OPENAI:

    class GuardedChatCompletion(_OpenAIChatCompletion):
        """An ``openai.types.chat.ChatCompletion`` with the guard's verdict in ``guardrail`` and
        its total cost in ``guardrail_usage`` (both excluded from ``to_dict()``/``to_json()``)."""

        guardrail: GuardedResponse | None = Field(default=None, exclude=True)
        guardrail_usage: GuardUsage = Field(default_factory=GuardUsage, exclude=True)

    class GuardedChatCompletionChunk(_OpenAIChatCompletionChunk):
        """An ``openai.types.chat.ChatCompletionChunk`` of a guarded stream; on the final chunk
        (the one with ``finish_reason``) ``guardrail`` is the verdict, and a ``live``
        retraction sets ``guardrail_retracted`` and ``guardrail_replacement`` (the text to
        show instead of what was streamed). All three are excluded from ``to_dict()``."""

        guardrail: GuardedResponse | None = Field(default=None, exclude=True)
        guardrail_retracted: bool = Field(default=False, exclude=True)
        guardrail_replacement: str | None = Field(default=None, exclude=True)

    __all__ += ["GuardedChatCompletion", "GuardedChatCompletionChunk"]


class GuardedCompletionChunk(BaseModel):
    """A ``chat.completion.chunk`` (OpenAI shape) when the ``openai`` package is missing; with
    it, streams yield :class:`GuardedChatCompletionChunk`. Extra fields as there."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, int] | None = None
    guardrail: GuardedResponse | None = Field(default=None, exclude=True)
    guardrail_retracted: bool = Field(default=False, exclude=True)
    guardrail_replacement: str | None = Field(default=None, exclude=True)


# ------------------------------------------------------------------ the answer call's record


_AnswerSlot = AnswerSlot
_SLOT = ANSWER_SLOT


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
    if HAVE_OPENAI and isinstance(exc, openai.APITimeoutError):
        return ProviderTimeoutError(msg)
    return ProviderConnectionError(msg)


class OpenAIClientProvider(SyncChatMixin):
    """A :class:`~guardrail.providers.ChatProvider` over an existing OpenAI-style client object
    (``openai.OpenAI``, ``openai.AsyncOpenAI`` or anything with ``.chat.completions.create``).
    Retries are left to that client. Missing samples (a server that ignores ``n``) are requested
    as concurrent single calls.

    Whether ``create`` is asynchronous is decided on the unwrapped function
    (``inspect.unwrap``: openai's ``required_args`` decorator hides ``async def``) and, for any
    other wrapper, by awaiting a result that is awaitable.

    ``stream_usage`` (default True): :meth:`stream_chat` asks the client for
    ``stream_options={"include_usage": True}`` so a streamed answer's tokens are counted; give
    False for a server that refuses the field.
    """

    def __init__(
        self,
        client: Any,
        *,
        model: str | None = None,
        name: str = "openai",
        stream_usage: bool = True,
    ) -> None:
        create = getattr(
            getattr(getattr(client, "chat", None), "completions", None), "create", None
        )
        if create is None:
            raise TypeError("client has no .chat.completions.create (not an OpenAI-style client)")
        self.client = client
        self._create = create
        self._async = inspect.iscoroutinefunction(inspect.unwrap(create))
        self._model = model
        self._name = name
        self.stream_usage = stream_usage

    @property
    def name(self) -> str:
        return self._name

    @property
    def default_model(self) -> str | None:
        return self._model

    async def aclose(self) -> None:
        return None

    def _raw_create(self) -> Any:
        """The wrapped client's ``chat.completions.with_raw_response.create``, or None."""
        raw = getattr(getattr(self.client.chat, "completions", None), "with_raw_response", None)
        return getattr(raw, "create", None)

    async def _one(self, kwargs: dict[str, Any], slot: _AnswerSlot | None = None) -> Any:
        """One request through the wrapped client; with a ``slot`` that asks for the raw
        response, through ``with_raw_response`` (the upstream HTTP response lands in the slot)."""
        create = self._create
        raw_create = self._raw_create() if slot is not None and slot.want_raw else None
        if raw_create is not None:
            create = raw_create
        try:
            if self._async:
                raw = await create(**kwargs)
            else:
                raw = await asyncio.to_thread(lambda: create(**kwargs))
            if inspect.isawaitable(raw):  # an async create hidden behind another wrapper
                raw = await raw
            if raw_create is not None and slot is not None:
                slot.http = raw
                raw = raw.parse()
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
        return await self.chat_with_options(
            messages,
            model=model,
            n=n,
            temperature=temperature,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            seed=seed,
            max_tokens=max_tokens,
        )

    async def stream_chat(
        self,
        messages: MessagesLike,
        *,
        model: str | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[StreamDelta]:
        """Stream one answer through the wrapped client (``create(stream=True, ...)``): one
        :class:`~guardrail.providers.StreamDelta` per chunk (``raw``: the chunk's
        ``model_dump()``). ``options`` as in :meth:`chat_with_options`. A server that ignores
        ``stream: true`` and answers with a JSON ``chat.completion`` gives one complete delta
        (:func:`guardrail.providers.reply_deltas`; a JSON error document raises
        ``ProviderError``); so does a client object whose ``create`` ignores ``stream`` and
        returns the whole completion (an object with ``model_dump()`` or a mapping:
        :func:`guardrail.providers.completion_delta`; one without ``choices`` raises
        ``ResponseFormatError``). Errors are mapped as in :meth:`chat`; a stream that ends without a
        ``finish_reason`` (the connection closed mid-answer) raises
        ``ProviderConnectionError``. With ``stream_usage`` (default) the call asks for
        ``stream_options={"include_usage": True}``; the usage chunk's delta carries ``usage``."""
        model_name = model or self._model
        if not model_name:
            raise ValueError("no model given and the provider has no default model")
        kwargs: dict[str, Any] = {
            "model": model_name,
            "messages": [m.wire() for m in normalize_messages(messages)],
            "stream": True,
        }
        if self.stream_usage:
            kwargs["stream_options"] = {"include_usage": True}
        for key, val in (("temperature", temperature), ("max_tokens", max_tokens), ("seed", seed)):
            if val is not None:
                kwargs[key] = val
        merge_answer_options(
            kwargs, {k: v for k, v in (options or {}).items() if k != "stream_options"}
        )
        try:
            if self._async:
                stream = await self._create(**kwargs)
            else:
                stream = await asyncio.to_thread(lambda: self._create(**kwargs))
                if inspect.isawaitable(stream):
                    stream = await stream
        except ProviderError:
            raise
        except Exception as exc:
            raise _map_client_error(exc) from exc
        finished = False  # a finish_reason arrived: the answer is whole
        try:
            if isinstance(stream, Mapping) or hasattr(stream, "model_dump"):
                # the client ignored `stream=True` and returned the whole completion (an
                # object or a dict, not a stream): one complete delta, as a JSON reply is read
                doc = stream.model_dump() if hasattr(stream, "model_dump") else dict(stream)
                yield completion_delta(doc, where=f"client {self._name!r}")
                return
            http = getattr(stream, "response", None)  # openai's Stream / AsyncStream
            headers = getattr(http, "headers", None)
            if (
                http is not None
                and headers is not None
                and is_json_reply(headers.get("content-type"))
            ):
                # the server ignored `stream: true` and sent the whole completion as JSON
                body = http.aread() if self._async else asyncio.to_thread(http.read)
                async for delta in reply_deltas(await body):
                    yield delta
                return
            if hasattr(stream, "__aiter__"):
                async for chunk in stream:
                    delta = _delta_of(chunk)
                    finished = finished or delta.finish_reason is not None
                    yield delta
            else:
                it = iter(stream)
                done = object()
                while True:
                    try:
                        chunk = await asyncio.to_thread(next, it, done)
                    except Exception as exc:
                        raise _map_client_error(exc) from exc
                    if chunk is done:
                        break
                    delta = _delta_of(chunk)
                    finished = finished or delta.finish_reason is not None
                    yield delta
            if not finished:  # the connection closed mid-answer: a partial answer is no answer
                raise ProviderConnectionError(
                    "the stream ended before the answer was complete (no finish_reason)"
                )
        except ProviderError:
            raise
        except Exception as exc:
            raise _map_client_error(exc) from exc
        finally:
            closer = getattr(stream, "close", None)
            if closer is not None:
                res = closer()
                if inspect.isawaitable(res):
                    await res

    async def chat_with_options(
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
        options: Mapping[str, Any] | None = None,
        slot: _AnswerSlot | None = None,
    ) -> ChatResult:
        """:meth:`chat` plus ``options`` (``create`` keyword arguments passed through as given:
        ``temperature``/``max_completion_tokens``/``logprobs`` there override the guard's) and a
        ``slot`` that receives the raw upstream document of the first request."""
        start = time.perf_counter()
        if n < 1:
            raise ValueError(f"n must be >= 1 (got {n})")
        model_name = model or self._model
        if not model_name:
            raise ValueError("no model given and the provider has no default model")
        kwargs: dict[str, Any] = {
            "model": model_name,
            "messages": [m.wire() for m in normalize_messages(messages)],
        }
        for key, val in (("temperature", temperature), ("max_tokens", max_tokens), ("seed", seed)):
            if val is not None:
                kwargs[key] = val
        if logprobs:
            kwargs["logprobs"] = True
            if top_logprobs:
                kwargs["top_logprobs"] = top_logprobs
        merge_answer_options(kwargs, options)  # the policy's log-probs win for this call
        with request_scope(n=n, seed=seed) as report:
            first = await self._one({**kwargs, "n": n} if n > 1 else kwargs, slot)
            if slot is not None and isinstance(first, dict):
                slot.raw = first
            choices, usage, served, rid = parse_chat_completion(first, requested_model=model_name)
            choices = choices[:n]
            report(self._one_result(choices, usage, served, rid, n))
        calls = 1
        errors: list[str] = []
        missing = n - len(choices)
        if missing > 0:
            extra = [
                {**kwargs, "seed": seed + 1 + i} if seed is not None else kwargs
                for i in range(missing)
            ]

            async def one(k: dict[str, Any]) -> tuple[list[Choice], Usage, str, str | None]:
                with request_scope(seed=k.get("seed")) as report:
                    got = parse_chat_completion(await self._one(k), requested_model=model_name)
                    report(self._one_result(*got, 1))
                return got

            results = await asyncio.gather(*(one(k) for k in extra), return_exceptions=True)
            calls += missing
            for res in results:
                if isinstance(res, AuthenticationError):
                    raise res
                if isinstance(res, BaseException):
                    errors.append(f"{type(res).__name__}: {res}")
                    continue
                got, u, _, _ = res
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

    def _one_result(
        self, choices: list[Choice], usage: Usage, model: str, rid: str | None, n: int
    ) -> ChatResult:
        """One request's result, for :func:`~guardrail.providers.request_scope`."""
        return ChatResult(
            provider=self._name,
            model=model,
            choices=choices[:n],
            requested=n,
            usage=usage,
            response_id=rid,
        )


def _delta_of(chunk: Any) -> StreamDelta:
    """One chunk of the wrapped client's stream as a :class:`StreamDelta`
    (:func:`guardrail.providers.chunk_delta` of its ``model_dump()``)."""
    raw = chunk.model_dump() if hasattr(chunk, "model_dump") else chunk
    return chunk_delta(raw if isinstance(raw, dict) else {})


_AnswerRecorder = AnswerRecorder
_first_message = first_message


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
    return Guard.from_policies(policies, provider, **guard_kwargs)


# ------------------------------------------------------------------ building the completion


def _guard_usage(r: GuardedResponse) -> GuardUsage:
    c = r.cost
    return GuardUsage(
        calls=c.calls,
        prompt_tokens=c.input_tokens,
        completion_tokens=c.output_tokens,
        total_tokens=c.input_tokens + c.output_tokens,
        latency_s=c.latency_s,
    )


def _document(r: GuardedResponse | None, slot: _AnswerSlot, shown: bool) -> dict[str, Any]:
    """The ``chat.completion`` document to return: upstream's when the wrapped client gave one,
    with the first choice's content replaced by what the guard shows."""
    res = slot.result
    if slot.raw is not None:
        doc = {k: v for k, v in slot.raw.items() if k != "choices"}
        choice = dict(slot.raw["choices"][0])
        message = dict(choice.get("message") or {})
    else:
        finish = res.choices[0].finish_reason if res is not None and res.choices else None
        doc = {
            "id": (res.response_id if res is not None else None)
            or f"guardrail-{r and r.request_id}",
            "created": int(time.time()),
            "model": res.model if res is not None else (r.model if r else ""),
            "usage": (
                {
                    "prompt_tokens": res.usage.input_tokens,
                    "completion_tokens": res.usage.output_tokens,
                    "total_tokens": res.usage.input_tokens + res.usage.output_tokens,
                }
                if res is not None
                else None
            ),
        }
        choice = {"index": 0, "finish_reason": finish}
        message = {"role": "assistant"}
    doc["object"] = "chat.completion"
    if r is not None:  # evaluated: show what the guard decided
        message["content"] = r.text
        if not shown:
            message["tool_calls"] = None
            message["function_call"] = None
            choice["finish_reason"] = "content_filter"
    # the policy may have asked for log-probs; the caller gets them only as it asked, and
    # never for a withheld answer (caller_logprobs)
    choice["logprobs"] = caller_logprobs(
        choice.get("logprobs"), slot.options, shown=r is None or shown
    )
    if choice.get("finish_reason") not in _FINISH_REASONS:
        choice["finish_reason"] = "stop"
    choice["index"] = 0
    message["role"] = "assistant"
    choice["message"] = message
    doc["choices"] = [choice]
    return doc


def _completion(
    r: GuardedResponse | None, slot: _AnswerSlot, shown: bool, usage: GuardUsage
) -> Any:
    doc = _document(r, slot, shown)
    if HAVE_OPENAI:
        out: Any = GuardedChatCompletion.model_validate(doc)
    else:  # pragma: no cover - exercised only without the openai package
        out = GuardedCompletion.model_validate(doc)
    out.guardrail = r
    out.guardrail_usage = usage
    return out


def _wrap(completion: Any, slot: _AnswerSlot, raw: bool) -> Any:
    return GuardedRawResponse(completion, slot.http) if raw else completion


def _openai_error(exc: BaseException | None, message: str) -> Exception:
    """The ``openai`` exception matching a guardrail failure (``exc``: what the answer call
    raised, if anything; its ``__cause__`` is the wrapped client's own exception). A
    :class:`~guardrail.providers.ProviderError` with the server's OpenAI-shaped ``error``
    becomes what openai's own client raises for that reply: the status's class (400:
    ``openai.BadRequestError``), message ``"Error code: 400 - <server's message>"``, ``body``
    the error object (so ``param``/``code``/``type`` are the server's); ``Retry-After`` is kept
    on the response of a 429."""
    if HAVE_OPENAI:
        for e in (exc, getattr(exc, "__cause__", None)):
            if isinstance(e, openai.OpenAIError):
                return e
        req = _http.Request("POST", "http://guardrail/chat/completions")
        if isinstance(exc, ProviderTimeoutError | TimeoutError | GuardTimeoutError):
            return openai.APITimeoutError(request=req)
        if isinstance(exc, ProviderConnectionError):
            return openai.APIConnectionError(message=message, request=req)
        code = getattr(exc, "status_code", None)
        if isinstance(code, int) and code >= 400:
            headers: dict[str, str] = {}
            body: dict[str, str | None] | None = None
            if isinstance(exc, ProviderError):
                if exc.retry_after is not None:
                    headers["retry-after"] = str(max(0, math.ceil(exc.retry_after)))
                if exc.error is not None:  # the server's own error, as openai's client reports it
                    body = exc.error
                    message = f"Error code: {code} - {exc.error.get('message')}"
            resp = _http.Response(code, request=req, headers=headers)
            cls: type[openai.APIStatusError] = {
                400: openai.BadRequestError,
                401: openai.AuthenticationError,
                403: openai.PermissionDeniedError,
                404: openai.NotFoundError,
                409: openai.ConflictError,
                422: openai.UnprocessableEntityError,
                429: openai.RateLimitError,
            }.get(code, openai.InternalServerError if code >= 500 else openai.APIStatusError)
            return cls(message, response=resp, body=body)
        return openai.APIError(message, req, body=None)
    if isinstance(exc, Exception):
        return exc
    return GuardError(message)


# ------------------------------------------------------------------ create()

#: ``create`` arguments that shape every model call of the guard (answer, follow-up, samples,
#: ensemble): ``messages``, ``model``, ``max_tokens`` (the cap of every call) and ``seed`` (the
#: answer call's; sample ``i`` uses ``seed + i``).
GUARD_ARGS = ("messages", "model", "max_tokens", "seed")
#: ``create`` arguments refused with :class:`UnsupportedArgumentError` (their value, when it is
#: not the default): ``n`` other than 1, ``audio`` and ``modalities`` containing ``"audio"``
#: (``stream_options`` without ``stream=True`` too). ``stream=True`` streams (docs/sdk.md).
REJECTED_ARGS = ("n", "audio")
#: ``create`` arguments that make it stream: ``stream=True`` returns a :class:`GuardedStream`
#: (async: :class:`GuardedAsyncStream`) of ``ChatCompletionChunk`` s; ``stream_options`` applies
#: to streams only (``include_usage``).
STREAM_ARGS = ("stream", "stream_options")


class UnsupportedArgumentError(TypeError, ValueError):
    """A ``create`` argument the guard cannot honour (``n`` other than 1, ``stream_options``
    without ``stream=True``, audio output, ``with_raw_response`` with ``stream=True``) or a
    sampling argument of the wrong type or out of range (``max_tokens="10"``,
    ``temperature=3``: :func:`guardrail.providers.params.check_sampling_args`). Raised before
    any request is sent. A ``TypeError`` (the issue's contract for rejected arguments) and a
    ``ValueError`` (what earlier releases raised)."""


# openai's "not given" sentinel classes (NotGiven in 1.x-3.x, Omit from 1.x on where present)
_SENTINELS: tuple[type, ...] = (
    tuple(t for t in (getattr(openai, "Omit", None), getattr(openai, "NotGiven", None)) if t)
    if HAVE_OPENAI
    else ()
)


def _given(value: Any) -> bool:
    """Whether an argument was given: not ``None`` and not openai's ``omit``/``NOT_GIVEN``
    sentinels (callers such as agent frameworks pass those explicitly)."""
    if value is None:
        return False
    return not (_SENTINELS and isinstance(value, _SENTINELS))


def _split_options(args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``create``'s arguments; return the answer-only options that were given.

    Raises:
        UnsupportedArgumentError: a rejected argument, or a sampling argument of the wrong type
            or out of range (:func:`guardrail.providers.params.check_sampling_args`, the check
            ``guardrail serve`` answers with 400).
    """
    given = {k: v for k, v in args.items() if _given(v)}
    try:
        check_sampling_args(given)
        check_guardable(given)
    except InvalidArgumentError as exc:
        raise UnsupportedArgumentError(str(exc)) from None
    return {k: given[k] for k in ANSWER_ONLY_ARGS if k in given}


async def _run_create(
    owner: AsyncGuardedClient,
    args: Mapping[str, Any],
    *,
    raw: bool,
    via: str = "with_raw_response",
) -> Any:
    """``create``'s body: validate, then one guarded chat (``raw``: wrap the result in a
    :class:`GuardedRawResponse` with the upstream answer call's HTTP response; ``via`` names
    the accessor in the error a stream request gets then)."""
    opts = _split_options(args)
    messages = args["messages"]
    if isinstance(messages, Iterable) and not isinstance(messages, Sequence | Mapping):
        messages = list(messages)  # openai accepts any iterable of messages (a generator)

    def opt(name: str) -> Any:
        value = args.get(name)
        return value if _given(value) else None

    if opt("stream"):
        if raw:
            raise UnsupportedArgumentError(
                f"{via} does not stream: the guard makes several upstream calls"
            )
        stream_options = opt("stream_options")
        include = isinstance(stream_options, Mapping) and bool(stream_options.get("include_usage"))
        return await owner._create_stream(
            messages,
            model=opt("model"),
            domain=opt("domain"),
            max_tokens=opt("max_tokens"),
            seed=opt("seed"),
            options=opts,
            include_usage=include,
        )
    return await owner._create(
        messages,
        model=opt("model"),
        domain=opt("domain"),
        max_tokens=opt("max_tokens"),
        seed=opt("seed"),
        options=opts,
        raw=raw,
    )


class _Completions:
    """``AsyncGuardedClient.chat.completions``."""

    def __init__(self, owner: AsyncGuardedClient) -> None:
        self._owner = owner

    @property
    def with_raw_response(self) -> _RawCompletions:
        """``with_raw_response.create(...)``: the same arguments; returns a
        :class:`GuardedRawResponse` (the upstream answer call's ``headers``, status, URL; its
        ``parse()`` is the guarded completion)."""
        return _RawCompletions(self)

    @property
    def with_streaming_response(self) -> _StreamingCompletions:
        """``async with with_streaming_response.create(...) as r``: the same arguments; ``r``
        is an :class:`AsyncGuardedStreamedResponse` (openai's ``AsyncAPIResponse`` shape: the
        upstream answer call's headers, ``await r.parse()`` the guarded completion). No
        ``stream=True`` (``UnsupportedArgumentError``, as ``with_raw_response``)."""
        return _StreamingCompletions(self)

    @overload
    async def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam] | MessagesLike,
        model: str | ChatModel | None = None,
        audio: ChatCompletionAudioParam | _NotSent | None = None,
        frequency_penalty: float | _NotSent | None = None,
        function_call: completion_create_params.FunctionCall | _NotSent | None = None,
        functions: Iterable[completion_create_params.Function] | _NotSent | None = None,
        logit_bias: dict[str, int] | _NotSent | None = None,
        logprobs: bool | _NotSent | None = None,
        max_completion_tokens: int | _NotSent | None = None,
        max_tokens: int | _NotSent | None = None,
        metadata: Metadata | _NotSent | None = None,
        modalities: list[Literal["text", "audio"]] | _NotSent | None = None,
        moderation: Any = None,
        n: int | _NotSent | None = None,
        parallel_tool_calls: bool | _NotSent | None = None,
        prediction: ChatCompletionPredictionContentParam | _NotSent | None = None,
        presence_penalty: float | _NotSent | None = None,
        prompt_cache_key: str | _NotSent | None = None,
        prompt_cache_options: Any = None,
        prompt_cache_retention: str | _NotSent | None = None,
        reasoning_effort: ReasoningEffort | _NotSent | None = None,
        response_format: completion_create_params.ResponseFormat | _NotSent | None = None,
        safety_identifier: str | _NotSent | None = None,
        seed: int | _NotSent | None = None,
        service_tier: str | _NotSent | None = None,
        stop: str | Sequence[str] | _NotSent | None = None,
        store: bool | _NotSent | None = None,
        stream: Literal[False] | _NotSent | None = None,
        stream_options: ChatCompletionStreamOptionsParam | _NotSent | None = None,
        temperature: float | _NotSent | None = None,
        tool_choice: ChatCompletionToolChoiceOptionParam | _NotSent | None = None,
        tools: Iterable[ChatCompletionToolUnionParam] | _NotSent | None = None,
        top_logprobs: int | _NotSent | None = None,
        top_p: float | _NotSent | None = None,
        user: str | _NotSent | None = None,
        verbosity: Literal["low", "medium", "high"] | _NotSent | None = None,
        web_search_options: completion_create_params.WebSearchOptions | _NotSent | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: object | None = None,
        timeout: float | Any | None = None,
        domain: str | None = None,
    ) -> GuardedChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam] | MessagesLike,
        model: str | ChatModel | None = None,
        audio: ChatCompletionAudioParam | _NotSent | None = None,
        frequency_penalty: float | _NotSent | None = None,
        function_call: completion_create_params.FunctionCall | _NotSent | None = None,
        functions: Iterable[completion_create_params.Function] | _NotSent | None = None,
        logit_bias: dict[str, int] | _NotSent | None = None,
        logprobs: bool | _NotSent | None = None,
        max_completion_tokens: int | _NotSent | None = None,
        max_tokens: int | _NotSent | None = None,
        metadata: Metadata | _NotSent | None = None,
        modalities: list[Literal["text", "audio"]] | _NotSent | None = None,
        moderation: Any = None,
        n: int | _NotSent | None = None,
        parallel_tool_calls: bool | _NotSent | None = None,
        prediction: ChatCompletionPredictionContentParam | _NotSent | None = None,
        presence_penalty: float | _NotSent | None = None,
        prompt_cache_key: str | _NotSent | None = None,
        prompt_cache_options: Any = None,
        prompt_cache_retention: str | _NotSent | None = None,
        reasoning_effort: ReasoningEffort | _NotSent | None = None,
        response_format: completion_create_params.ResponseFormat | _NotSent | None = None,
        safety_identifier: str | _NotSent | None = None,
        seed: int | _NotSent | None = None,
        service_tier: str | _NotSent | None = None,
        stop: str | Sequence[str] | _NotSent | None = None,
        store: bool | _NotSent | None = None,
        stream: Literal[True],
        stream_options: ChatCompletionStreamOptionsParam | _NotSent | None = None,
        temperature: float | _NotSent | None = None,
        tool_choice: ChatCompletionToolChoiceOptionParam | _NotSent | None = None,
        tools: Iterable[ChatCompletionToolUnionParam] | _NotSent | None = None,
        top_logprobs: int | _NotSent | None = None,
        top_p: float | _NotSent | None = None,
        user: str | _NotSent | None = None,
        verbosity: Literal["low", "medium", "high"] | _NotSent | None = None,
        web_search_options: completion_create_params.WebSearchOptions | _NotSent | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: object | None = None,
        timeout: float | Any | None = None,
        domain: str | None = None,
    ) -> GuardedAsyncStream: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam] | MessagesLike,
        model: str | ChatModel | None = None,
        audio: ChatCompletionAudioParam | _NotSent | None = None,
        frequency_penalty: float | _NotSent | None = None,
        function_call: completion_create_params.FunctionCall | _NotSent | None = None,
        functions: Iterable[completion_create_params.Function] | _NotSent | None = None,
        logit_bias: dict[str, int] | _NotSent | None = None,
        logprobs: bool | _NotSent | None = None,
        max_completion_tokens: int | _NotSent | None = None,
        max_tokens: int | _NotSent | None = None,
        metadata: Metadata | _NotSent | None = None,
        modalities: list[Literal["text", "audio"]] | _NotSent | None = None,
        moderation: Any = None,
        n: int | _NotSent | None = None,
        parallel_tool_calls: bool | _NotSent | None = None,
        prediction: ChatCompletionPredictionContentParam | _NotSent | None = None,
        presence_penalty: float | _NotSent | None = None,
        prompt_cache_key: str | _NotSent | None = None,
        prompt_cache_options: Any = None,
        prompt_cache_retention: str | _NotSent | None = None,
        reasoning_effort: ReasoningEffort | _NotSent | None = None,
        response_format: completion_create_params.ResponseFormat | _NotSent | None = None,
        safety_identifier: str | _NotSent | None = None,
        seed: int | _NotSent | None = None,
        service_tier: str | _NotSent | None = None,
        stop: str | Sequence[str] | _NotSent | None = None,
        store: bool | _NotSent | None = None,
        stream: bool | _NotSent | None = None,
        stream_options: ChatCompletionStreamOptionsParam | _NotSent | None = None,
        temperature: float | _NotSent | None = None,
        tool_choice: ChatCompletionToolChoiceOptionParam | _NotSent | None = None,
        tools: Iterable[ChatCompletionToolUnionParam] | _NotSent | None = None,
        top_logprobs: int | _NotSent | None = None,
        top_p: float | _NotSent | None = None,
        user: str | _NotSent | None = None,
        verbosity: Literal["low", "medium", "high"] | _NotSent | None = None,
        web_search_options: completion_create_params.WebSearchOptions | _NotSent | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: object | None = None,
        timeout: float | Any | None = None,
        domain: str | None = None,
    ) -> GuardedChatCompletion | GuardedAsyncStream: ...

    async def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam] | MessagesLike,
        model: str | ChatModel | None = None,
        audio: ChatCompletionAudioParam | _NotSent | None = None,
        frequency_penalty: float | _NotSent | None = None,
        function_call: completion_create_params.FunctionCall | _NotSent | None = None,
        functions: Iterable[completion_create_params.Function] | _NotSent | None = None,
        logit_bias: dict[str, int] | _NotSent | None = None,
        logprobs: bool | _NotSent | None = None,
        max_completion_tokens: int | _NotSent | None = None,
        max_tokens: int | _NotSent | None = None,
        metadata: Metadata | _NotSent | None = None,
        modalities: list[Literal["text", "audio"]] | _NotSent | None = None,
        moderation: Any = None,
        n: int | _NotSent | None = None,
        parallel_tool_calls: bool | _NotSent | None = None,
        prediction: ChatCompletionPredictionContentParam | _NotSent | None = None,
        presence_penalty: float | _NotSent | None = None,
        prompt_cache_key: str | _NotSent | None = None,
        prompt_cache_options: Any = None,
        prompt_cache_retention: str | _NotSent | None = None,
        reasoning_effort: ReasoningEffort | _NotSent | None = None,
        response_format: completion_create_params.ResponseFormat | _NotSent | None = None,
        safety_identifier: str | _NotSent | None = None,
        seed: int | _NotSent | None = None,
        service_tier: str | _NotSent | None = None,
        stop: str | Sequence[str] | _NotSent | None = None,
        store: bool | _NotSent | None = None,
        stream: bool | _NotSent | None = None,
        stream_options: ChatCompletionStreamOptionsParam | _NotSent | None = None,
        temperature: float | _NotSent | None = None,
        tool_choice: ChatCompletionToolChoiceOptionParam | _NotSent | None = None,
        tools: Iterable[ChatCompletionToolUnionParam] | _NotSent | None = None,
        top_logprobs: int | _NotSent | None = None,
        top_p: float | _NotSent | None = None,
        user: str | _NotSent | None = None,
        verbosity: Literal["low", "medium", "high"] | _NotSent | None = None,
        web_search_options: completion_create_params.WebSearchOptions | _NotSent | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: object | None = None,
        timeout: float | Any | None = None,
        domain: str | None = None,
    ) -> Any:
        """Guarded ``chat.completions.create``: the OpenAI signature (openai 3.x, typed
        overloads), a ``ChatCompletion`` back (see the module docstring). Per argument
        (``docs/sdk.md`` has the table):

        * :data:`GUARD_ARGS`: ``messages``, ``model``: every call of the guard; ``max_tokens``:
          cap of every call; ``seed``: the answer call's seed, samples use ``seed+1..seed+k``.
        * :data:`ANSWER_ONLY_ARGS` (``tools``, ``tool_choice``, ``response_format``, ``stop``,
          ``temperature``, ``max_completion_tokens``, ``extra_*``, ``timeout``, ...): forwarded
          to the answer call only; they need a wrapped OpenAI-style client object.
        * :data:`REJECTED_ARGS` (``n`` other than 1, audio output; ``stream_options``
          without ``stream``): :class:`UnsupportedArgumentError`.
        * ``domain`` (guardrail's own): the policy to apply (default: the client's).
        * ``stream=True``: a :class:`GuardedAsyncStream` of ``ChatCompletionChunk`` s (sync
          client: :class:`GuardedStream`) in the policy's stream mode (``hold``: no chunk of
          an undecided answer; ``live``: tokens flow, a review/abstain ends with a
          ``finish_reason: "content_filter"`` chunk whose ``guardrail_replacement`` is the
          text to show instead); ``stream_options={"include_usage": True}`` adds the guard's
          usage chunk. Failures known before the first chunk raise as without ``stream``.

        ``None`` and openai's ``omit``/``NOT_GIVEN`` mean "not given" for every argument.

        Raises:
            UnsupportedArgumentError: (a ``TypeError`` and ``ValueError``) a rejected argument.
            TypeError: an unknown keyword (Python's own error), or answer-only arguments with a
                provider that cannot carry them.
            ValueError: malformed ``messages``.
            openai.APIError: (with ``openai`` installed) the guarded call produced no answer:
                the wrapped client's own exception, or the matching subclass.
        """
        args = {k: v for k, v in locals().items() if k != "self"}
        return await _run_create(self._owner, args, raw=False)


_CREATE_SIGNATURE = inspect.signature(_Completions.create)


def _bind(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``create``'s keyword arguments checked against its signature (``TypeError`` for an
    unknown or missing one, as a direct call would raise)."""
    bound = _CREATE_SIGNATURE.bind(None, **kwargs)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k != "self"}


class _UpstreamView:
    """The upstream answer call's HTTP response as seen through a guarded completion: the
    attributes shared by :class:`GuardedRawResponse` and :class:`GuardedStreamedResponse`."""

    def __init__(self, parsed: Any, upstream: Any = None) -> None:
        self._parsed = parsed
        self._upstream = upstream

    def _up(self, name: str, default: Any = None) -> Any:
        return getattr(self._upstream, name, default) if self._upstream is not None else default

    @property
    def headers(self) -> Any:
        """The upstream answer call's response headers (``httpx.Headers``; ``{}`` without)."""
        return self._up("headers", {})

    @property
    def status_code(self) -> int:
        return int(self._up("status_code", 200))

    @property
    def url(self) -> Any:
        return self._up("url")

    @property
    def method(self) -> str | None:
        return self._up("method")  # type: ignore[no-any-return]

    @property
    def http_version(self) -> str | None:
        return self._up("http_version")  # type: ignore[no-any-return]

    @property
    def http_request(self) -> Any:
        return self._up("http_request")

    @property
    def http_response(self) -> Any:
        """The upstream answer call's ``httpx.Response`` (``None`` without one)."""
        return self._up("http_response")

    @property
    def elapsed(self) -> Any:
        return self._up("elapsed")

    @property
    def request_id(self) -> str | None:
        return self._up("request_id")  # type: ignore[no-any-return]

    @property
    def retries_taken(self) -> int:
        return int(self._up("retries_taken", 0))

    def _typed(self, to: type[Any] | None) -> Any:
        if to is not None and not isinstance(self._parsed, to):
            raise TypeError(f"the guarded completion is a {type(self._parsed).__name__}")
        return self._parsed

    def _body(self) -> bytes:
        """The guarded completion as JSON bytes (never the unguarded upstream body)."""
        return str(self._parsed.model_dump_json()).encode()


class GuardedRawResponse(_UpstreamView):
    """What ``chat.completions.with_raw_response.create(...)`` returns: shaped like openai's
    ``LegacyAPIResponse``. ``headers``, ``status_code``, ``url``, ``method``, ``http_version``,
    ``elapsed``, ``request_id``, ``retries_taken``, ``http_request`` and ``is_closed`` are the
    **upstream answer call's** (the one HTTP request whose reply is shown; samples and
    follow-ups are not included); ``parse()`` returns the guarded completion and ``text`` /
    ``content`` / ``json()`` its JSON (never the unguarded upstream body). Without an upstream
    response (a guardrail provider, or a wrapped client without ``with_raw_response``)
    ``headers`` is empty, ``status_code`` 200 and the rest ``None``."""

    @property
    def is_closed(self) -> bool:
        return bool(self._up("is_closed", True))

    def parse(self, *, to: type[Any] | None = None) -> Any:
        """The guarded completion (``to``: a type it must be an instance of)."""
        return self._typed(to)

    @property
    def text(self) -> str:
        """The guarded completion as JSON (what ``parse()`` returns, serialised)."""
        return self._body().decode()

    @property
    def content(self) -> bytes:
        """:attr:`text` as UTF-8 bytes."""
        return self._body()

    def json(self) -> Any:
        """The guarded completion as a JSON-ready dict (never the unguarded upstream body)."""
        return self._parsed.model_dump(mode="json")

    def __repr__(self) -> str:
        return f"<GuardedRawResponse [{self.status_code}] {type(self._parsed).__name__}>"


def _pieces(body: bytes, chunk_size: int | None) -> Iterator[bytes]:
    """``body`` in pieces of ``chunk_size`` bytes (all of it at once when None)."""
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 or None (got {chunk_size})")
    size = chunk_size or max(1, len(body))
    for i in range(0, len(body), size):
        yield body[i : i + size]


class GuardedStreamedResponse(_UpstreamView):
    """What ``with client.chat.completions.with_streaming_response.create(...) as r`` gives:
    shaped like openai's ``APIResponse``. ``headers``, ``status_code``, ``url``, ``method``,
    ``http_version``, ``elapsed``, ``request_id``, ``retries_taken``, ``http_request`` are the
    **upstream answer call's**, as in :class:`GuardedRawResponse`; ``parse()`` is the guarded
    completion and ``read()`` / ``text()`` / ``json()`` / ``iter_bytes()`` / ``iter_text()`` /
    ``iter_lines()`` its JSON (never the unguarded upstream body). The guard needs the whole
    answer before it decides, so the body is complete when the block is entered; reading it
    in pieces changes nothing about what is shown. ``is_closed`` is true after the block (or
    ``close()``)."""

    def __init__(self, parsed: Any, upstream: Any = None) -> None:
        super().__init__(parsed, upstream)
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    def parse(self, *, to: type[Any] | None = None) -> Any:
        """The guarded completion (``to``: a type it must be an instance of)."""
        return self._typed(to)

    def read(self) -> bytes:
        """The guarded completion as JSON bytes."""
        return self._body()

    def text(self) -> str:
        """The guarded completion as JSON text."""
        return self._body().decode()

    def json(self) -> Any:
        """The guarded completion as a JSON-ready dict."""
        return self._parsed.model_dump(mode="json")

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """:meth:`read` in pieces of ``chunk_size`` bytes (all at once when None)."""
        yield from _pieces(self._body(), chunk_size)

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        """:meth:`text` in pieces of about ``chunk_size`` bytes (UTF-8 decoded as they come)."""
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")()
        for piece in _pieces(self._body(), chunk_size):
            text = decoder.decode(piece)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def iter_lines(self) -> Iterator[str]:
        """:meth:`text` line by line (without line endings)."""
        yield from self.text().splitlines()

    def close(self) -> None:
        """Mark the response closed (the upstream request is already complete)."""
        self._closed = True

    def __repr__(self) -> str:
        return f"<GuardedStreamedResponse [{self.status_code}] {type(self._parsed).__name__}>"


class AsyncGuardedStreamedResponse(GuardedStreamedResponse):
    """The async client's :class:`GuardedStreamedResponse` (``async with ... as r``): shaped
    like openai's ``AsyncAPIResponse``: ``await r.parse()``, ``await r.read()``, ``await
    r.text()``, ``await r.json()``, ``async for`` over ``r.iter_bytes()`` / ``r.iter_text()`` /
    ``r.iter_lines()``, ``await r.close()``."""

    async def parse(self, *, to: type[Any] | None = None) -> Any:
        """The guarded completion (``to``: a type it must be an instance of)."""
        return self._typed(to)

    async def read(self) -> bytes:  # type: ignore[override]
        """The guarded completion as JSON bytes."""
        return self._body()

    async def text(self) -> str:  # type: ignore[override]
        """The guarded completion as JSON text."""
        return self._body().decode()

    async def json(self) -> Any:
        """The guarded completion as a JSON-ready dict."""
        return self._parsed.model_dump(mode="json")

    async def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:  # type: ignore[override]
        """The JSON bytes in pieces of ``chunk_size`` (all at once when None)."""
        for piece in GuardedStreamedResponse.iter_bytes(self, chunk_size):
            yield piece

    async def iter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:  # type: ignore[override]
        """The JSON text in pieces of about ``chunk_size`` bytes."""
        for piece in GuardedStreamedResponse.iter_text(self, chunk_size):
            yield piece

    async def iter_lines(self) -> AsyncIterator[str]:  # type: ignore[override]
        """The JSON text line by line."""
        for line in self._body().decode().splitlines():
            yield line

    async def close(self) -> None:  # type: ignore[override]
        """Mark the response closed (the upstream request is already complete)."""
        self._closed = True


class _StreamedResponseContext:
    """``with ...with_streaming_response.create(...) as r``: the guarded call runs on entry."""

    def __init__(self, owner: AsyncGuardedClient, args: dict[str, Any]) -> None:
        self._owner = owner
        self._args = args
        self._response: GuardedStreamedResponse | None = None

    def __enter__(self) -> GuardedStreamedResponse:
        raw: GuardedRawResponse = run_sync(
            _run_create(self._owner, self._args, raw=True, via="with_streaming_response")
        )
        self._response = GuardedStreamedResponse(raw._parsed, raw._upstream)
        return self._response

    def __exit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()


class _AsyncStreamedResponseContext:
    """``async with ...with_streaming_response.create(...) as r``: the guarded call runs on
    entry (nothing runs when the block is never entered)."""

    def __init__(self, owner: AsyncGuardedClient, args: dict[str, Any]) -> None:
        self._owner = owner
        self._args = args
        self._response: AsyncGuardedStreamedResponse | None = None

    async def __aenter__(self) -> AsyncGuardedStreamedResponse:
        raw: GuardedRawResponse = await _run_create(
            self._owner, self._args, raw=True, via="with_streaming_response"
        )
        self._response = AsyncGuardedStreamedResponse(raw._parsed, raw._upstream)
        return self._response

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            await self._response.close()


class _RawCompletions:
    def __init__(self, inner: _Completions) -> None:
        self._inner = inner

    async def create(self, **kwargs: Any) -> GuardedRawResponse:
        """Guarded ``create`` returning a :class:`GuardedRawResponse` (same arguments)."""
        result: GuardedRawResponse = await _run_create(self._inner._owner, _bind(kwargs), raw=True)
        return result


_RawCompletions.create.__signature__ = _CREATE_SIGNATURE  # type: ignore[attr-defined]


class _StreamingCompletions:
    def __init__(self, inner: _Completions) -> None:
        self._inner = inner

    def create(self, **kwargs: Any) -> _AsyncStreamedResponseContext:
        """Guarded ``create`` as an ``async with`` context manager giving an
        :class:`AsyncGuardedStreamedResponse` (same arguments; an unknown keyword raises
        ``TypeError`` here, everything else on entry)."""
        return _AsyncStreamedResponseContext(self._inner._owner, _bind(kwargs))


_StreamingCompletions.create.__signature__ = _CREATE_SIGNATURE  # type: ignore[attr-defined]


class _Chat:
    def __init__(self, owner: AsyncGuardedClient) -> None:
        self.completions = _Completions(owner)


class AsyncGuardedClient:
    """Async drop-in: ``await client.chat.completions.create(model=..., messages=...)``.

    Args:
        client: an OpenAI-style client, a :class:`~guardrail.providers.ChatProvider`, or None.
        policies: policy directory or file (default: ``$GUARDRAIL_POLICIES``, ``./policies``,
            then the bundled policies, as the CLI); ignored when ``guard`` given.
        domain: default domain for ``create`` calls.
        guard: an existing :class:`Guard` to use as is.
        base_url, api_key: build an OpenAI-compatible provider when ``client`` is None.
        **guard_kwargs: passed to :class:`Guard` (``timeout``, ``strict``, ``review_store``...).

    ``models``, ``with_options(...)``, ``close()`` and ``async with`` delegate to the wrapped
    client object (``models`` and ``with_options`` raise ``AttributeError`` without one).
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
        prov = self.guard._provider
        self._client: Any = (
            client
            if client is not None and not isinstance(client, ChatProvider)
            else (prov.client if isinstance(prov, OpenAIClientProvider) else None)
        )

    @property
    def models(self) -> Any:
        """The wrapped client's ``models`` resource (listing models is not guarded)."""
        if self._client is None:
            raise AttributeError("no wrapped OpenAI client: `models` needs GuardedClient(OpenAI())")
        return self._client.models

    def with_options(self, **options: Any) -> AsyncGuardedClient:
        """A guarded client over ``wrapped.with_options(**options)`` with the same guard
        settings (policies, review store, ...)."""
        if self._client is None:
            raise AttributeError("no wrapped OpenAI client: with_options needs a client object")
        new_client = self._client.with_options(**options)
        g = copy.copy(self.guard)
        g._provider = OpenAIClientProvider(new_client, model=self.guard.provider.default_model)
        out = copy.copy(self)
        out.guard, out._client, out.chat = g, new_client, _Chat(out)
        return out

    def _record_answers(self, options: Mapping[str, Any]) -> ChatProvider:
        """Wrap the guard's provider in the answer recorder (once), check that ``options``
        can reach the answer call, and return the wrapped provider.

        Raises:
            TypeError: ``options`` given while the provider is not a wrapped OpenAI client.
        """
        g = self.guard
        if not isinstance(g._provider, _AnswerRecorder):
            g._provider = _AnswerRecorder(g.provider)
        inner = g._provider.inner
        if options and not isinstance(inner, OpenAIClientProvider):
            raise TypeError(
                f"argument(s) {', '.join(sorted(options))} can only be forwarded through a "
                f"wrapped OpenAI client object (GuardedClient(OpenAI(...))); provider "
                f"{inner.name!r} cannot carry them"
            )
        return inner

    async def _create(
        self,
        messages: MessagesLike,
        *,
        model: str | None,
        domain: str | None,
        max_tokens: int | None,
        seed: int | None,
        options: dict[str, Any],
        raw: bool = False,
    ) -> Any:
        g = self.guard
        self._record_answers(options)
        slot = _AnswerSlot(options=options, want_raw=raw)
        token = _SLOT.set(slot)
        start = time.perf_counter()
        try:
            r = await g.chat(
                messages,
                domain=domain or self.domain,
                model=model,
                max_tokens=max_tokens,
                seed=seed,
            )
        except ToolCallReply as reply:  # passed through unevaluated (not a failure)
            u = reply.result.usage
            total = GuardUsage(
                calls=reply.result.calls,
                prompt_tokens=u.input_tokens,
                completion_tokens=u.output_tokens,
                total_tokens=u.input_tokens + u.output_tokens,
                latency_s=time.perf_counter() - start,
            )
            return _wrap(_completion(None, slot, True, total), slot, raw)
        except ProviderError as exc:  # AuthenticationError always propagates from the guard
            raise _openai_error(slot.exc or exc, str(exc)) from exc
        except GuardError as exc:  # strict mode
            raise _openai_error(slot.exc or exc.__cause__ or exc, str(exc)) from exc
        finally:
            _SLOT.reset(token)
        if r.status == "failed":
            failure = _openai_error(slot.exc, f"guardrail: {r.error}")
            raise failure
        shown = r.status == "answered" or (r.status == "pending_review" and not g.hold_reviews)
        return _wrap(_completion(r, slot, shown, _guard_usage(r)), slot, raw)

    async def _create_stream(
        self,
        messages: MessagesLike,
        *,
        model: str | None,
        domain: str | None,
        max_tokens: int | None,
        seed: int | None,
        options: dict[str, Any],
        include_usage: bool,
    ) -> GuardedAsyncStream:
        g = self.guard
        inner = self._record_answers(options)
        slot = _AnswerSlot(options=options)
        rid = uuid.uuid4().hex
        events = guarded_stream(
            g,
            messages,
            domain=domain or self.domain,
            model=model,
            request_id=rid,
            max_tokens=max_tokens,
            seed=seed,
            slot=slot,
            raise_early=True,
        )
        try:
            first = await anext(events)
        except ProviderError as exc:  # AuthenticationError, or the answer stream failed
            raise _openai_error(slot.exc or exc, str(exc)) from exc
        except GuardError as exc:  # strict mode
            raise _openai_error(slot.exc or exc.__cause__ or exc, str(exc)) from exc
        resp = first.response
        if resp is not None and resp.status == "failed":
            await events.aclose()  # type: ignore[attr-defined]
            raise _openai_error(slot.exc, f"guardrail: {resp.error}")
        name = (
            resp.model
            if resp is not None
            else (model or g.model or inner.default_model or "default")
        )
        chunks = completion_chunks(
            first,
            events,
            chunk_id=f"chatcmpl-{rid}",
            created=int(time.time()),
            model=name,
            hold_reviews=g.hold_reviews,
            include_usage=include_usage,
        )
        return GuardedAsyncStream(chunks, events, mode=first.mode)

    async def close(self) -> None:
        """Close the guard's providers and the wrapped client."""
        await self.aclose()

    async def aclose(self) -> None:
        await self.guard.aclose()
        closer = getattr(self._client, "close", None)
        if closer is not None:
            res = closer()
            if inspect.isawaitable(res):
                await res

    async def __aenter__(self) -> AsyncGuardedClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _chunk_object(c: ChunkOut) -> Any:
    """A :class:`ChunkOut` as the chunk object streams yield (the verdict on the final one)."""
    cls: Any = GuardedChatCompletionChunk if HAVE_OPENAI else GuardedCompletionChunk
    out = cls.model_validate(c.doc)
    if c.final:
        out.guardrail = c.response
        out.guardrail_retracted = c.retracted
        out.guardrail_replacement = c.replacement
    return out


class GuardedAsyncStream:
    """What ``await create(stream=True)`` returns: ``async for chunk in stream`` yields
    ``ChatCompletionChunk`` objects (:class:`GuardedChatCompletionChunk` with ``openai``).

    Attributes:
        mode: ``hold`` or ``live`` (the policy's ``stream`` setting).

    ``close()`` (or leaving an ``async with`` block) stops the stream and cancels the guard's
    pending calls.
    """

    def __init__(
        self, chunks: AsyncIterator[ChunkOut], events: AsyncIterator[Any], *, mode: str
    ) -> None:
        self._chunks = chunks
        self._events = events
        self.mode = mode

    def __aiter__(self) -> GuardedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        return _chunk_object(await anext(self._chunks))

    async def close(self) -> None:
        for it in (self._chunks, self._events):
            closer = getattr(it, "aclose", None)
            if closer is not None:
                await closer()

    async def aclose(self) -> None:
        """Same as :meth:`close` (the async-generator spelling, which
        :func:`~guardrail.sdk.streaming.iterate_sync` calls)."""
        await self.close()

    async def __aenter__(self) -> GuardedAsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class GuardedStream:
    """What the sync client's ``create(stream=True)`` returns: ``for chunk in stream`` yields
    the chunks of a :class:`GuardedAsyncStream`, each produced on guardrail's background event
    loop. ``close()`` / ``with`` stop it."""

    def __init__(self, inner: GuardedAsyncStream) -> None:
        self._inner = inner
        self.mode = inner.mode
        self._it = iterate_sync(inner)

    def __iter__(self) -> Iterator[Any]:
        return self._it

    def __next__(self) -> Any:
        return next(self._it)

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()  # a started iteration closes the inner stream on the way out
        run_sync(self._inner.close())  # and one never started has to be closed here

    def __enter__(self) -> GuardedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SyncRawCompletions:
    def __init__(self, inner: _Completions) -> None:
        self._inner = inner

    def create(self, **kwargs: Any) -> GuardedRawResponse:
        """Blocking twin of the async ``with_raw_response.create``."""
        result: GuardedRawResponse = run_sync(
            _run_create(self._inner._owner, _bind(kwargs), raw=True)
        )
        return result


_SyncRawCompletions.create.__signature__ = _CREATE_SIGNATURE  # type: ignore[attr-defined]


class _SyncStreamingCompletions:
    def __init__(self, inner: _Completions) -> None:
        self._inner = inner

    def create(self, **kwargs: Any) -> _StreamedResponseContext:
        """Blocking twin of the async ``with_streaming_response.create``: a ``with`` context
        manager giving a :class:`GuardedStreamedResponse`."""
        return _StreamedResponseContext(self._inner._owner, _bind(kwargs))


_SyncStreamingCompletions.create.__signature__ = _CREATE_SIGNATURE  # type: ignore[attr-defined]


class _SyncCompletions:
    """``GuardedClient.chat.completions``."""

    def __init__(self, inner: _Completions) -> None:
        self._inner = inner

    @property
    def with_raw_response(self) -> _SyncRawCompletions:
        """Blocking twin of the async ``with_raw_response``."""
        return _SyncRawCompletions(self._inner)

    @property
    def with_streaming_response(self) -> _SyncStreamingCompletions:
        """Blocking twin of the async ``with_streaming_response``: ``with
        with_streaming_response.create(...) as r`` gives a :class:`GuardedStreamedResponse`."""
        return _SyncStreamingCompletions(self._inner)

    @overload
    def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam] | MessagesLike,
        model: str | ChatModel | None = None,
        audio: ChatCompletionAudioParam | _NotSent | None = None,
        frequency_penalty: float | _NotSent | None = None,
        function_call: completion_create_params.FunctionCall | _NotSent | None = None,
        functions: Iterable[completion_create_params.Function] | _NotSent | None = None,
        logit_bias: dict[str, int] | _NotSent | None = None,
        logprobs: bool | _NotSent | None = None,
        max_completion_tokens: int | _NotSent | None = None,
        max_tokens: int | _NotSent | None = None,
        metadata: Metadata | _NotSent | None = None,
        modalities: list[Literal["text", "audio"]] | _NotSent | None = None,
        moderation: Any = None,
        n: int | _NotSent | None = None,
        parallel_tool_calls: bool | _NotSent | None = None,
        prediction: ChatCompletionPredictionContentParam | _NotSent | None = None,
        presence_penalty: float | _NotSent | None = None,
        prompt_cache_key: str | _NotSent | None = None,
        prompt_cache_options: Any = None,
        prompt_cache_retention: str | _NotSent | None = None,
        reasoning_effort: ReasoningEffort | _NotSent | None = None,
        response_format: completion_create_params.ResponseFormat | _NotSent | None = None,
        safety_identifier: str | _NotSent | None = None,
        seed: int | _NotSent | None = None,
        service_tier: str | _NotSent | None = None,
        stop: str | Sequence[str] | _NotSent | None = None,
        store: bool | _NotSent | None = None,
        stream: Literal[False] | _NotSent | None = None,
        stream_options: ChatCompletionStreamOptionsParam | _NotSent | None = None,
        temperature: float | _NotSent | None = None,
        tool_choice: ChatCompletionToolChoiceOptionParam | _NotSent | None = None,
        tools: Iterable[ChatCompletionToolUnionParam] | _NotSent | None = None,
        top_logprobs: int | _NotSent | None = None,
        top_p: float | _NotSent | None = None,
        user: str | _NotSent | None = None,
        verbosity: Literal["low", "medium", "high"] | _NotSent | None = None,
        web_search_options: completion_create_params.WebSearchOptions | _NotSent | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: object | None = None,
        timeout: float | Any | None = None,
        domain: str | None = None,
    ) -> GuardedChatCompletion: ...

    @overload
    def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam] | MessagesLike,
        model: str | ChatModel | None = None,
        audio: ChatCompletionAudioParam | _NotSent | None = None,
        frequency_penalty: float | _NotSent | None = None,
        function_call: completion_create_params.FunctionCall | _NotSent | None = None,
        functions: Iterable[completion_create_params.Function] | _NotSent | None = None,
        logit_bias: dict[str, int] | _NotSent | None = None,
        logprobs: bool | _NotSent | None = None,
        max_completion_tokens: int | _NotSent | None = None,
        max_tokens: int | _NotSent | None = None,
        metadata: Metadata | _NotSent | None = None,
        modalities: list[Literal["text", "audio"]] | _NotSent | None = None,
        moderation: Any = None,
        n: int | _NotSent | None = None,
        parallel_tool_calls: bool | _NotSent | None = None,
        prediction: ChatCompletionPredictionContentParam | _NotSent | None = None,
        presence_penalty: float | _NotSent | None = None,
        prompt_cache_key: str | _NotSent | None = None,
        prompt_cache_options: Any = None,
        prompt_cache_retention: str | _NotSent | None = None,
        reasoning_effort: ReasoningEffort | _NotSent | None = None,
        response_format: completion_create_params.ResponseFormat | _NotSent | None = None,
        safety_identifier: str | _NotSent | None = None,
        seed: int | _NotSent | None = None,
        service_tier: str | _NotSent | None = None,
        stop: str | Sequence[str] | _NotSent | None = None,
        store: bool | _NotSent | None = None,
        stream: Literal[True],
        stream_options: ChatCompletionStreamOptionsParam | _NotSent | None = None,
        temperature: float | _NotSent | None = None,
        tool_choice: ChatCompletionToolChoiceOptionParam | _NotSent | None = None,
        tools: Iterable[ChatCompletionToolUnionParam] | _NotSent | None = None,
        top_logprobs: int | _NotSent | None = None,
        top_p: float | _NotSent | None = None,
        user: str | _NotSent | None = None,
        verbosity: Literal["low", "medium", "high"] | _NotSent | None = None,
        web_search_options: completion_create_params.WebSearchOptions | _NotSent | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: object | None = None,
        timeout: float | Any | None = None,
        domain: str | None = None,
    ) -> GuardedStream: ...

    @overload
    def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam] | MessagesLike,
        model: str | ChatModel | None = None,
        audio: ChatCompletionAudioParam | _NotSent | None = None,
        frequency_penalty: float | _NotSent | None = None,
        function_call: completion_create_params.FunctionCall | _NotSent | None = None,
        functions: Iterable[completion_create_params.Function] | _NotSent | None = None,
        logit_bias: dict[str, int] | _NotSent | None = None,
        logprobs: bool | _NotSent | None = None,
        max_completion_tokens: int | _NotSent | None = None,
        max_tokens: int | _NotSent | None = None,
        metadata: Metadata | _NotSent | None = None,
        modalities: list[Literal["text", "audio"]] | _NotSent | None = None,
        moderation: Any = None,
        n: int | _NotSent | None = None,
        parallel_tool_calls: bool | _NotSent | None = None,
        prediction: ChatCompletionPredictionContentParam | _NotSent | None = None,
        presence_penalty: float | _NotSent | None = None,
        prompt_cache_key: str | _NotSent | None = None,
        prompt_cache_options: Any = None,
        prompt_cache_retention: str | _NotSent | None = None,
        reasoning_effort: ReasoningEffort | _NotSent | None = None,
        response_format: completion_create_params.ResponseFormat | _NotSent | None = None,
        safety_identifier: str | _NotSent | None = None,
        seed: int | _NotSent | None = None,
        service_tier: str | _NotSent | None = None,
        stop: str | Sequence[str] | _NotSent | None = None,
        store: bool | _NotSent | None = None,
        stream: bool | _NotSent | None = None,
        stream_options: ChatCompletionStreamOptionsParam | _NotSent | None = None,
        temperature: float | _NotSent | None = None,
        tool_choice: ChatCompletionToolChoiceOptionParam | _NotSent | None = None,
        tools: Iterable[ChatCompletionToolUnionParam] | _NotSent | None = None,
        top_logprobs: int | _NotSent | None = None,
        top_p: float | _NotSent | None = None,
        user: str | _NotSent | None = None,
        verbosity: Literal["low", "medium", "high"] | _NotSent | None = None,
        web_search_options: completion_create_params.WebSearchOptions | _NotSent | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: object | None = None,
        timeout: float | Any | None = None,
        domain: str | None = None,
    ) -> GuardedChatCompletion | GuardedStream: ...

    def create(self, **kwargs: Any) -> Any:
        """Blocking guarded ``chat.completions.create``: the same keyword arguments, errors and
        result as the async version (an unknown keyword raises ``TypeError``)."""
        out = run_sync(_run_create(self._inner._owner, _bind(kwargs), raw=False))
        return GuardedStream(out) if isinstance(out, GuardedAsyncStream) else out


# the exact signature of the async create, for introspection (inspect.signature, IDEs)
_SyncCompletions.create.__signature__ = _CREATE_SIGNATURE  # type: ignore[attr-defined]


class _SyncChat:
    def __init__(self, inner: _Chat) -> None:
        self.completions = _SyncCompletions(inner.completions)


class GuardedClient:
    """Sync drop-in: ``client.chat.completions.create(model=..., messages=...)``; same arguments
    as :class:`AsyncGuardedClient`. Safe to call from threads of a running event loop.
    ``models``, ``with_options(...)``, ``close()`` and ``with`` delegate to the wrapped client."""

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        self._async = AsyncGuardedClient(client, **kwargs)
        self.guard = self._async.guard
        self.domain = self._async.domain
        self.chat = _SyncChat(self._async.chat)

    @property
    def models(self) -> Any:
        """The wrapped client's ``models`` resource (listing models is not guarded)."""
        return self._async.models

    def with_options(self, **options: Any) -> GuardedClient:
        """A guarded client over ``wrapped.with_options(**options)``, same guard settings."""
        out = copy.copy(self)
        out._async = self._async.with_options(**options)
        out.guard = out._async.guard
        out.chat = _SyncChat(out._async.chat)
        return out

    def close(self) -> None:
        run_sync(self._async.aclose())

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
