"""The provider contract: chat messages in, a :class:`ChatResult` with one :class:`Choice` per
sample out.

Every provider is *async first*: :meth:`ChatProvider.chat` is a coroutine. :func:`run_sync` (and
the ``chat_sync`` method of :class:`SyncChatMixin`) runs it from plain synchronous code, including
from a thread that already runs an event loop (for example a FastAPI/Starlette sync endpoint run in
a worker thread, or a Jupyter cell): the coroutine is handed to one process-wide background event
loop, so no "event loop is already running" error can occur.

Errors raised by providers form one hierarchy rooted at :class:`ProviderError`. Which ones are
transient (retried) and which are permanent is part of the contract:

====================================  =========  ==============================================
error                                 retried    typical cause
====================================  =========  ==============================================
:class:`AuthenticationError`          never      HTTP 401/403: wrong or missing API key
:class:`BadRequestError`              never      other HTTP 4xx (unknown model, invalid body)
:class:`RateLimitError`               yes        HTTP 429 (honours ``Retry-After``)
:class:`ServerError`                  yes        HTTP 5xx
:class:`ProviderConnectionError`      yes        refused/reset connection, protocol error
:class:`ProviderTimeoutError`         yes        connect/read timeout
:class:`ResponseFormatError`          yes        body is not the documented JSON (e.g. truncated)
====================================  =========  ==============================================
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ChatProvider",
    "ChatResult",
    "Choice",
    "EmbeddingProvider",
    "Message",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RequestHook",
    "ResponseFormatError",
    "ServerError",
    "StreamDelta",
    "SyncChatMixin",
    "TokenLogprob",
    "ToolCallReply",
    "TopLogprob",
    "Usage",
    "normalize_messages",
    "request_hook",
    "request_scope",
    "run_sync",
]

T = TypeVar("T")


# --------------------------------------------------------------------------------------- models


class Message(BaseModel):
    """One chat message (OpenAI chat-completions shape).

    ``content`` is always the message's *text* (what text signals read: the joined text parts of
    a content-part array, "" for an assistant turn that is only ``tool_calls``). What else the
    upstream must see rides along unchanged and is sent back by :meth:`wire`: ``parts`` (the
    original content-part array when it holds non-text parts such as images), ``tool_calls``
    (an assistant turn's tool calls), ``tool_call_id`` (a ``tool`` message's call id) and
    ``name``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str
    parts: list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``model_dump()`` leaves out the optional fields that are not set, so a plain text
        message dumps as ``{"role", "content"}`` as before tools and images were kept."""
        data: dict[str, Any] = handler(self)
        for key in ("parts", "tool_calls", "tool_call_id", "name"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    def wire(self, clean: Callable[[str], str] | None = None) -> dict[str, Any]:
        """The message as sent to an OpenAI-compatible server: ``role`` and ``content`` (the
        original part array when there are non-text parts, with its text parts replaced by
        ``content`` when that was changed, e.g. by an appended instruction; ``None`` for an
        assistant turn that is only tool calls), plus ``tool_calls`` / ``tool_call_id`` /
        ``name`` when set. ``clean`` is applied to every text (e.g. ``clean_text``)."""
        fix = clean or (lambda t: t)
        out: dict[str, Any] = {"role": self.role}
        if self.parts is not None:
            texts = [p for p in self.parts if p.get("type") == "text"]
            if "\n".join(str(p.get("text", "")) for p in texts) == self.content:
                out["content"] = [
                    {**p, "text": fix(str(p.get("text", "")))} if p.get("type") == "text" else p
                    for p in self.parts
                ]
            else:
                others = [p for p in self.parts if p.get("type") != "text"]
                out["content"] = [*others, {"type": "text", "text": fix(self.content)}]
        elif self.tool_calls and not self.content:
            out["content"] = None
        else:
            out["content"] = fix(self.content)
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


MessagesLike = Sequence[Message | Mapping[str, Any]]


def _message(data: dict[str, Any]) -> Message:
    """One message dict (OpenAI shape) as a :class:`Message` (see :func:`normalize_messages`)."""
    content = data.get("content")
    if isinstance(content, list):
        if not content:
            raise ValueError("an empty content-part array")
        if not all(isinstance(p, Mapping) and isinstance(p.get("type"), str) for p in content):
            raise ValueError("every content part must be an object with a 'type'")
        texts = [p for p in content if p["type"] == "text"]
        if not all(isinstance(p.get("text"), str) for p in texts):
            raise ValueError("a text part without a 'text' string")
        data["content"] = "\n".join(p["text"] for p in texts)
        if len(texts) < len(content):  # images (or other non-text parts): sent upstream as is
            data["parts"] = [dict(p) for p in content]
    elif content is None and data.get("role") == "assistant" and data.get("tool_calls"):
        data["content"] = ""  # an assistant turn that only calls tools
    tool_calls = data.get("tool_calls")
    if tool_calls is not None and not (
        isinstance(tool_calls, list) and all(isinstance(c, Mapping) for c in tool_calls)
    ):
        raise ValueError("'tool_calls' must be a list of objects")
    if tool_calls is not None:
        data["tool_calls"] = [dict(c) for c in tool_calls] or None
    return Message.model_validate(data)


def normalize_messages(messages: MessagesLike) -> list[Message]:
    """Validate chat messages given as :class:`Message` objects or OpenAI-shaped dicts.

    ``content`` may be a string or OpenAI's array of content parts: the text parts are joined
    with newlines into ``content`` (what text signals read); when the array also holds non-text
    parts (``image_url``, ``input_audio``, ``file``) the array is kept in ``parts`` and sent to
    the server unchanged. Assistant turns with ``tool_calls`` (content ``None`` allowed) and
    ``tool`` messages (``tool_call_id``) are accepted and sent back as given.

    Raises:
        ValueError: when ``messages`` is not a list of messages (a string, None), is empty, or a
            message lacks a valid role or content (a part without a ``type``, a text part
            without text, ``None`` content outside an assistant tool-call turn).
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Iterable):
        raise ValueError(
            "messages must be a list of {'role': ..., 'content': ...} messages, "
            f"got {type(messages).__name__}"
        )
    out: list[Message] = []
    for i, m in enumerate(messages):
        if isinstance(m, Message):
            out.append(m)
            continue
        try:
            out.append(_message(dict(m)))
        except Exception as exc:  # pydantic.ValidationError, a non-mapping, bad parts
            raise ValueError(f"message {i} is not a valid chat message ({exc})") from exc
    if not out:
        raise ValueError("messages must contain at least one message")
    return out


class TopLogprob(BaseModel):
    """An alternative token at one position with its natural-log probability (<= 0)."""

    model_config = ConfigDict(frozen=True)

    token: str
    logprob: float


class TokenLogprob(BaseModel):
    """The sampled token at one position, its natural-log probability (<= 0), top alternatives."""

    model_config = ConfigDict(frozen=True)

    token: str
    logprob: float
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class Choice(BaseModel):
    """One sampled answer.

    Attributes:
        index: position among the samples of one :class:`ChatResult` (0-based, contiguous).
        text: the assistant message content ("" when the server sent none).
        finish_reason: ``"stop"``, ``"length"``, ... as the server reported it, or ``None``.
        logprobs: per-token log-probabilities, or ``None`` when not requested / not supplied.
    """

    model_config = ConfigDict(frozen=True)

    index: int
    text: str
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None


class Usage(BaseModel):
    """Token counts summed over every HTTP call / generation that produced a result."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class ChatResult(BaseModel):
    """What one :meth:`ChatProvider.chat` call produced.

    Attributes:
        provider: provider name (``gen_ai.provider.name``), e.g. ``"openai"``, ``"llama_cpp"``.
        model: the model the server says answered (falls back to the requested one).
        choices: one per sample that succeeded; fewer than the ``n`` requested when some
            samples failed (see ``failed``).
        requested: how many samples were asked for (``n``).
        failed: how many samples could not be obtained after retries (``requested - len(choices)``).
        errors: one short ``"ErrorType: message"`` line per failed sample.
        usage: token counts over all calls.
        calls: model calls made (HTTP requests or local generations), retries included.
        latency_s: wall-clock seconds from the start of ``chat`` to its end.
        response_id: the server's completion id, if any.
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    choices: list[Choice]
    requested: int = 1
    failed: int = 0
    errors: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    calls: int = 1
    latency_s: float = 0.0
    response_id: str | None = None

    @property
    def text(self) -> str:
        """The first choice's text ("" when there is none)."""
        return self.choices[0].text if self.choices else ""

    @property
    def finish_reasons(self) -> list[str]:
        """Finish reasons of all choices (``"unknown"`` where the server gave none)."""
        return [c.finish_reason or "unknown" for c in self.choices]


class ToolCallReply(Exception):
    """The answer call returned tool calls (or a legacy ``function_call``) instead of a text
    answer. Raised by a provider wrapper that can see the raw reply (the drop-in client's answer
    recorder, ``guardrail serve``); :meth:`guardrail.Guard.chat` lets it propagate unevaluated:
    only final text answers are judged. Deliberately **not** a :class:`ProviderError`: it is a
    successful model call, and telemetry records it as one (no ``error.type``, no failed
    decision; see ``guardrail/tracing.py``).

    Attributes:
        result: the answer call's :class:`ChatResult` (usage, response id, finish reasons).
    """

    def __init__(self, result: ChatResult, message: str | None = None) -> None:
        super().__init__(message or "the model answered with tool calls (passed through)")
        self.result = result


# --------------------------------------------------------------------------- per-request hook

#: What a provider calls with the :class:`ChatResult` of *one* HTTP request (its choices,
#: usage, response id), inside :func:`request_scope`.
RequestReport = Callable[[ChatResult], None]


class RequestHook(Protocol):
    """Observer of the HTTP requests one :meth:`ChatProvider.chat` call makes (the guard's
    tracing installs one per model call: one CLIENT span per request)."""

    def __call__(
        self, *, n: int, seed: int | None
    ) -> AbstractContextManager[RequestReport]: ...  # pragma: no cover - protocol


_REQUEST_HOOK: contextvars.ContextVar[RequestHook | None] = contextvars.ContextVar(
    "guardrail_request_hook", default=None
)


def _ignore(_: ChatResult) -> None:
    return None


@contextmanager
def request_scope(*, n: int = 1, seed: int | None = None) -> Iterator[RequestReport]:
    """Wrap one HTTP request of a provider's ``chat`` (``n``: choices asked in it, ``seed``: its
    seed; retries of the request stay inside one scope). Yields a callable the provider gives the
    request's parsed :class:`ChatResult`. Without an installed :func:`request_hook` (no tracing)
    this is a no-op. An exception leaving the block marks the request failed and propagates."""
    hook = _REQUEST_HOOK.get()
    if hook is None:
        yield _ignore
        return
    with hook(n=n, seed=seed) as report:
        yield report


@contextmanager
def request_hook(hook: RequestHook | None) -> Iterator[None]:
    """Install ``hook`` for the provider calls made inside the block (this task and the tasks it
    starts: a context variable)."""
    token = _REQUEST_HOOK.set(hook)
    try:
        yield
    finally:
        _REQUEST_HOOK.reset(token)


# --------------------------------------------------------------------------------------- errors


class StreamDelta(BaseModel):
    """One event of a streamed answer (``stream_chat`` of a provider that can stream).

    Attributes:
        text: answer text carried by this event ("" for a role-only, tool-call or final event).
        raw: the upstream ``chat.completion.chunk`` document it came from (``None`` for a
            provider that streams no documents); relayed as is for tool-call deltas.
        finish_reason: the upstream's finish reason on the last content event, else ``None``.
        tool_calls: the event carries tool-call deltas (the reply is a tool call).
        usage: token counts the upstream reported with this event (a usage chunk: the one a
            server sends after the last content chunk when asked with ``stream_options:
            {"include_usage": true}``, or running totals on every chunk, the last one counting;
            or a server that ignored ``stream: true`` and sent the whole completion), else
            ``None``.
    """

    model_config = ConfigDict(frozen=True)

    text: str = ""
    raw: dict[str, Any] | None = None
    finish_reason: str | None = None
    tool_calls: bool = False
    usage: Usage | None = None


class ProviderError(Exception):
    """Base class of every error a provider raises.

    Attributes:
        status_code: HTTP status when there was one, else ``None``.
        retry_after: seconds the server asked us to wait (``Retry-After``), else ``None``.
        calls: model calls (HTTP attempts) spent before giving up, when the provider knows.
        error: the server's OpenAI-shaped error object (``{"message", "type", "param",
            "code"}``, string values or ``None``) when its error body had one, else ``None``:
            what ``guardrail serve`` and the drop-in client hand back to their caller for a 4xx.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        error: dict[str, str | None] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
        self.error = error
        self.calls: int | None = None


class AuthenticationError(ProviderError):
    """HTTP 401/403: the API key is missing, wrong or lacks permission. Never retried."""


class BadRequestError(ProviderError):
    """Any other HTTP 4xx (bad model name, invalid parameters). Never retried."""


class RateLimitError(ProviderError):
    """HTTP 429. Retried after ``Retry-After`` seconds when the server sent it."""

    retryable = True


class ServerError(ProviderError):
    """HTTP 5xx. Retried."""

    retryable = True


class ProviderConnectionError(ProviderError):
    """The connection failed, was reset, or the HTTP exchange was malformed. Retried."""

    retryable = True


class ProviderTimeoutError(ProviderConnectionError):
    """Connect, read or write timeout. Retried."""


class ResponseFormatError(ProviderError):
    """The body was not a valid chat-completion JSON document (e.g. truncated). Retried."""

    retryable = True


# ------------------------------------------------------------------------------------- protocol


@runtime_checkable
class ChatProvider(Protocol):
    """Anything that can answer chat messages. Implementations: OpenAI-compatible, local, replay."""

    @property
    def name(self) -> str:
        """Provider name for traces (``gen_ai.provider.name``)."""
        ...

    @property
    def default_model(self) -> str | None:
        """Model used when ``chat`` is called with ``model=None`` (``None``: must be given)."""
        ...

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
        """Return ``n`` sampled answers to ``messages``.

        Raises:
            ValueError: invalid arguments (``n < 1``, empty messages).
            ProviderError: the subclass tells what failed (see the module docstring). A provider
                that can lose individual samples returns them in ``ChatResult.failed`` instead of
                raising, and raises only when *no* sample could be obtained.
        """
        ...

    async def aclose(self) -> None:
        """Release connections / model memory. Idempotent."""
        ...


@runtime_checkable
class EmbeddingProvider(Protocol):
    """Anything that can embed texts (``OpenAICompatProvider`` via ``/v1/embeddings``,
    ``LocalProvider`` via llama.cpp's embedding mode). Used by the ``embedding`` answer-equivalence
    backend (``guardrail.signals.equivalence``), which receives this method as a callable."""

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """One vector per text, in input order, all of one length.

        Raises:
            ValueError: invalid arguments (a single string instead of a list; no model).
            ProviderError: the embedding call failed (see the module docstring).
        """
        ...


# ---------------------------------------------------------------------------------- sync facade


class _BackgroundLoop:
    """One daemon thread running an event loop, shared by every synchronous call in the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="guardrail-sync-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self.loop()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("run_sync() cannot be called from guardrail's own background loop")
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)
        return fut.result()


_BACKGROUND = _BackgroundLoop()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code and return its result.

    Works in any thread, including one whose event loop is currently running (that loop is blocked
    until the result is ready, as any synchronous call blocks it). All synchronous calls share one
    background event loop, so connection pools created for it are reused between calls.
    Exceptions raised by the coroutine propagate unchanged.
    """
    return _BACKGROUND.run(coro)


class SyncChatMixin:
    """Adds ``chat_sync`` (a blocking twin of ``chat``) to a provider."""

    def chat_sync(self, messages: MessagesLike, **kwargs: Any) -> ChatResult:
        """Blocking version of ``chat`` (same arguments, same result and errors)."""
        provider: Any = self
        result: ChatResult = run_sync(provider.chat(messages, **kwargs))
        return result
