"""OpenAI-compatible chat-completions provider over httpx, with tenacity retries.

Works against any server that speaks ``POST {base_url}/chat/completions`` in the OpenAI shape:
OpenAI itself, llama.cpp's ``llama-server`` / ``python -m llama_cpp.server``, vLLM, Ollama's
``/v1`` endpoint, a LiteLLM proxy.

Retry policy (tenacity): HTTP 429, HTTP 5xx, connection errors, timeouts and malformed (e.g.
truncated) JSON bodies are retried up to ``max_retries`` times with exponential back-off and jitter;
when the server sends ``Retry-After`` (seconds or an HTTP date) that wait is used instead, capped at
``retry_max_wait``. Other 4xx are never retried; 401/403 raise :class:`AuthenticationError`.

Sampling ``n`` answers: when ``n > 1`` the ``n`` parameter is sent once. If the server rejects it
(HTTP 400) or silently returns fewer choices, the missing samples are requested as concurrent single
calls (each with its own seed when a seed was given, so they are not identical) and the server is
remembered as not supporting ``n`` for that model. Individual failed samples are reported in
``ChatResult.failed`` rather than failing the whole call.

Limits (see ``docs/security.md``): every HTTP attempt has a *total* deadline (``timeout``: connect,
send, wait and read the whole body; a server trickling one byte a second cannot stretch it); a reply
body larger than ``max_response_bytes`` (default derived from ``max_tokens``) is refused with
:class:`ResponseFormatError` without being retried; a body that is not JSON or nests deeper than the
JSON parser's recursion limit is a :class:`ResponseFormatError`; NUL and lone surrogates in reply
texts become U+FFFD (:func:`guardrail._safety.clean_text`). A query string in ``base_url`` (Azure's
``?api-version=``) is kept after ``/chat/completions``; the API key, a password in ``base_url`` and
its query values never appear in error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import math
import numbers
import os
import ssl
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from guardrail._safety import Redactor, clean_text, redact_url, url_secrets
from guardrail.providers.base import (
    AuthenticationError,
    BadRequestError,
    ChatResult,
    Choice,
    MessagesLike,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    StreamDelta,
    SyncChatMixin,
    TokenLogprob,
    TopLogprob,
    Usage,
    normalize_messages,
    request_scope,
)
from guardrail.providers.params import merge_answer_options

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "OpenAICompatProvider",
    "ResponseTooLargeError",
    "chunk_delta",
    "completion_chunk",
    "completion_delta",
    "is_json_reply",
    "parse_chat_completion",
    "parse_embeddings",
    "parse_retry_after",
    "reply_budget",
    "reply_deltas",
    "sse_deltas",
]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3: delay-seconds or HTTP-date).

    Returns ``None`` when the header is absent or unparseable; negative waits become 0.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _logprob(value: Any) -> float | None:
    """A log-probability as a float, or None when it is not a finite number (a bool, a string,
    NaN): such entries are left out, so a malformed server reply degrades instead of raising."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy floats are Real
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _tops(raw: Any) -> list[TopLogprob]:
    """Alternatives from the chat shape (a list of ``{"token", "logprob"}``); anything else: []."""
    if not isinstance(raw, list):
        return []
    out: list[TopLogprob] = []
    for t in raw:
        lp = _logprob(t.get("logprob")) if isinstance(t, dict) else None
        if lp is not None:
            out.append(TopLogprob(token=clean_text(str(t.get("token", ""))), logprob=lp))
    return out


def _parse_logprobs(raw: Any) -> list[TokenLogprob] | None:
    """Token log-probs from either the chat shape (``{"content": [...]}``) or the legacy completion
    shape (``{"tokens", "token_logprobs", "top_logprobs"}``) that some servers return. Entries
    whose log-prob is not a finite number, and malformed alternatives, are left out."""
    if not isinstance(raw, dict):
        return None
    content = raw.get("content")
    if isinstance(content, list):
        out: list[TokenLogprob] = []
        for entry in content:
            lp = _logprob(entry.get("logprob")) if isinstance(entry, dict) else None
            if lp is None:
                continue
            out.append(
                TokenLogprob(
                    token=clean_text(str(entry.get("token", ""))),
                    logprob=lp,
                    top_logprobs=_tops(entry.get("top_logprobs")),
                )
            )
        return out
    tokens, lps = raw.get("tokens"), raw.get("token_logprobs")
    if isinstance(tokens, list) and isinstance(lps, list):
        tops_raw = raw.get("top_logprobs")
        if not isinstance(tops_raw, list):
            tops_raw = [None] * len(tokens)
        out = []
        for tok, lp_raw, top in zip(tokens, lps, tops_raw, strict=False):
            lp = _logprob(lp_raw)
            if lp is None:
                continue
            alts = (
                [
                    TopLogprob(token=clean_text(str(k)), logprob=v)
                    for k, v in ((k, _logprob(v)) for k, v in top.items())
                    if v is not None
                ]
                if isinstance(top, dict)
                else []
            )
            out.append(TokenLogprob(token=clean_text(str(tok)), logprob=lp, top_logprobs=alts))
        return out
    return None


def _count(value: Any) -> int:
    """A token count from a usage block: a non-negative whole number, else 0 (never raises)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return 0
    x = float(value)
    return int(x) if math.isfinite(x) and x >= 0 else 0


def _content_text(content: Any) -> str | None:
    """Message content as text: a string, or the ``text`` parts of a list of content parts
    (``[{"type": "text", "text": "..."}]``, the OpenAI array form) joined; else None."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p["text"]
            for p in content
            if isinstance(p, dict)
            and p.get("type", "text") == "text"
            and isinstance(p.get("text"), str)
        ]
        return "".join(parts) if parts else None
    return None


def parse_chat_completion(
    data: Any, *, requested_model: str, first_index: int = 0
) -> tuple[list[Choice], Usage, str, str | None]:
    """Parse an OpenAI chat-completion JSON document.

    Returns ``(choices, usage, model, response_id)``; choices are re-indexed from ``first_index``.

    Raises:
        ResponseFormatError: when ``data`` has no ``choices`` list of objects.
    """
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise ResponseFormatError("response has no 'choices' list")
    choices: list[Choice] = []
    for raw in data["choices"]:
        if not isinstance(raw, dict):
            raise ResponseFormatError("a choice is not a JSON object")
        message = raw.get("message")
        content = _content_text(message.get("content")) if isinstance(message, dict) else None
        if content is None and isinstance(raw.get("text"), str):  # completion-style servers
            content = raw["text"]
        finish = raw.get("finish_reason")
        choices.append(
            Choice(
                index=first_index + len(choices),
                text=clean_text(content) if isinstance(content, str) else "",
                finish_reason=finish if isinstance(finish, str) else None,
                logprobs=_parse_logprobs(raw.get("logprobs")),
            )
        )
    usage = _usage(data.get("usage")) or Usage()
    model = data.get("model")
    rid = data.get("id")
    return (
        choices,
        usage,
        model if isinstance(model, str) and model else requested_model,
        rid if isinstance(rid, str) else None,
    )


def _stream_delta(data: str) -> StreamDelta | None:
    """One server-sent ``chat.completion.chunk`` as a :class:`StreamDelta` (None when it is not
    a JSON object)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    return chunk_delta(doc)


def _usage(raw: Any) -> Usage | None:
    """A ``usage`` block as :class:`Usage` (None when it is not an object)."""
    if not isinstance(raw, dict):
        return None
    return Usage(
        input_tokens=_count(raw.get("prompt_tokens")),
        output_tokens=_count(raw.get("completion_tokens")),
    )


def chunk_delta(doc: Mapping[str, Any]) -> StreamDelta:
    """One ``chat.completion.chunk`` document as a :class:`StreamDelta`: the first choice's
    ``delta.content`` (text parts joined), ``finish_reason``, whether it carries tool-call
    deltas, and ``usage`` when the chunk has one. A chunk without choices (a usage chunk)
    carries no text. Never raises on a malformed chunk (missing fields read as empty).

    The one reading of a chunk for every streaming provider (``OpenAICompatProvider`` and the
    drop-in's ``OpenAIClientProvider``)."""
    raw = dict(doc)
    usage = _usage(raw.get("usage"))
    choices = raw.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict):
        return StreamDelta(raw=raw, usage=usage)
    delta = choice.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    text = _content_text(delta.get("content")) or ""
    finish = choice.get("finish_reason")
    return StreamDelta(
        text=clean_text(text),
        raw=raw,
        finish_reason=finish if isinstance(finish, str) else None,
        tool_calls=bool(delta.get("tool_calls") or delta.get("function_call")),
        usage=usage,
    )


def is_json_reply(content_type: str | None) -> bool:
    """Whether a reply's ``Content-Type`` is JSON (``application/json``, with or without
    parameters, or a ``+json`` type) rather than ``text/event-stream``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def completion_chunk(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A whole ``chat.completion`` document as the one ``chat.completion.chunk`` that would
    have carried it: the first choice's message (content, tool calls with their ``index``,
    legacy ``function_call``, refusal) as ``delta``, its ``finish_reason`` and ``logprobs``, and
    the document's ``usage``. For servers that ignore ``stream: true``."""
    choices = doc.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    delta: dict[str, Any] = {"role": "assistant"}
    content = _content_text(message.get("content"))
    if content is None and isinstance(choice.get("text"), str):  # completion-style servers
        content = choice["text"]
    if content is not None:
        delta["content"] = content
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        delta["tool_calls"] = [
            {**c, "index": i} for i, c in enumerate(calls) if isinstance(c, dict)
        ]
    for key in ("function_call", "refusal"):
        if message.get(key) is not None:
            delta[key] = message[key]
    chunk: dict[str, Any] = {
        "id": doc.get("id"),
        "object": "chat.completion.chunk",
        "created": doc.get("created"),
        "model": doc.get("model"),
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "finish_reason": choice.get("finish_reason"),
                "logprobs": choice.get("logprobs"),
            }
        ],
    }
    if isinstance(doc.get("usage"), dict):
        chunk["usage"] = doc["usage"]
    return chunk


def completion_delta(
    doc: Any, *, where: str = "the server", redact: Callable[[str], str] = str
) -> StreamDelta:
    """The reply of a server that ignored ``stream: true`` (a whole ``chat.completion``
    document) as one complete :class:`StreamDelta`: :func:`chunk_delta` of
    :func:`completion_chunk`, so a guarded stream goes on as if the answer had streamed in one
    chunk (text, ``finish_reason``, ``usage``, tool calls).

    Raises:
        ProviderError: the document is an error (``{"error": ...}``), as an error event in a
            stream is; ``where`` names the server in the message, ``redact`` cleans it.
        ResponseFormatError: the document has no ``choices`` list of objects.
    """
    if isinstance(doc, dict) and doc.get("error") is not None:
        failure = doc["error"]
        msg = failure.get("message") if isinstance(failure, dict) else failure
        raise ProviderError(f"{where} answered with an error: {redact(str(msg))[:500]}")
    parse_chat_completion(doc, requested_model="")  # the same checks as a non-streamed reply
    return chunk_delta(completion_chunk(doc))


async def sse_deltas(
    lines: AsyncIterable[str],
    *,
    where: str = "the server",
    redact: Callable[[str], str] = str,
) -> AsyncGenerator[StreamDelta, None]:
    """The ``data:`` lines of a server-sent ``chat.completion.chunk`` stream as
    :class:`StreamDelta` s (:func:`chunk_delta`), up to ``data: [DONE]``; other lines and
    chunks that are not JSON objects are skipped.

    Raises:
        ProviderError: an ``{"error": ...}`` event (OpenAI, vLLM and llama.cpp report a failure
            mid-stream so); ``redact`` cleans its message, ``where`` names the server.
        ProviderConnectionError: the lines ended with neither a ``finish_reason`` nor
            ``[DONE]`` (the connection closed mid-answer: a partial answer is no answer).
    """
    complete = False  # [DONE] or a finish_reason arrived: the answer is whole
    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            complete = True
            break
        delta = _stream_delta(data)
        if delta is None:
            continue
        failure = (delta.raw or {}).get("error")
        if failure is not None:
            msg = failure.get("message") if isinstance(failure, dict) else failure
            raise ProviderError(
                f"the stream from {where} reported an error: {redact(str(msg))[:500]}"
            )
        complete = complete or delta.finish_reason is not None
        yield delta
    if not complete:
        raise ProviderConnectionError(
            f"the stream from {where} ended before the answer was complete "
            "(no finish_reason, no [DONE])"
        )


async def _aiter(items: Iterable[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def reply_deltas(
    body: bytes,
    *,
    where: str = "the server",
    redact: Callable[[str], str] = str,
) -> AsyncGenerator[StreamDelta, None]:
    """The whole body of a streamed request's reply labelled JSON (``Content-Type:
    application/json``), as deltas: a JSON document (first non-blank byte ``{``) is a server
    that ignored ``stream: true`` -> one complete delta (:func:`completion_delta`); anything
    else is a server-sent stream under the wrong label -> :func:`sse_deltas` of its lines.

    Raises:
        ProviderError: an error document or error event (:func:`completion_delta`,
            :func:`sse_deltas`).
        ResponseFormatError: a JSON document that is not valid JSON or not a completion.
        ProviderConnectionError: an event stream that ended mid-answer.
    """
    if body.lstrip()[:1] != b"{":
        async for delta in sse_deltas(
            _aiter(body.decode("utf-8", "replace").splitlines()), where=where, redact=redact
        ):
            yield delta
        return
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise ResponseFormatError(
            f"invalid JSON from {where} ({len(body)} bytes): {what}"
        ) from None
    yield completion_delta(doc, where=where, redact=redact)


def parse_embeddings(data: Any, *, expected: int) -> list[list[float]]:
    """Parse an OpenAI ``/v1/embeddings`` JSON document into one vector per input, in input order.

    The document is ``{"data": [{"index": i, "embedding": [float, ...]}, ...]}``; entries are
    ordered by ``index`` when every entry has one (servers may send them out of order), else
    taken in the order given. An embedding given per token (a list of equal-length vectors, what
    llama.cpp returns for a model without a pooling layer, e.g. a chat GGUF) is mean-pooled
    over its tokens (the pooling of Sentence-BERT, Reimers & Gurevych 2019, arXiv 1908.10084).

    Args:
        data: the decoded JSON body.
        expected: how many inputs were sent.

    Returns:
        ``expected`` vectors of floats, all of one length >= 1.

    Raises:
        ResponseFormatError: no ``data`` list, a count other than ``expected``, an embedding that
            is not a non-empty list of finite numbers (e.g. base64 or per-token output), or
            vectors of different lengths.
    """
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ResponseFormatError("embeddings response has no 'data' list")
    entries = data["data"]
    if len(entries) != expected:
        raise ResponseFormatError(f"{len(entries)} embeddings for {expected} inputs")
    if all(isinstance(e, dict) and isinstance(e.get("index"), int) for e in entries):
        entries = sorted(entries, key=lambda e: e["index"])
    vectors: list[list[float]] = []
    for e in entries:
        vec = e.get("embedding") if isinstance(e, dict) else None
        if isinstance(vec, list) and vec and all(isinstance(t, list) and t for t in vec):
            # per-token vectors (llama.cpp serving a model without a pooling layer): mean-pool
            width = len(vec[0])
            if any(len(t) != width for t in vec):
                raise ResponseFormatError("per-token embeddings of different lengths")
            vec = [sum(col) / len(vec) for col in zip(*vec, strict=True)]
        if not isinstance(vec, list) or not vec:
            raise ResponseFormatError("an embedding is not a non-empty list of numbers")
        out = [_logprob(x) for x in vec]  # a finite real, else None
        if any(x is None for x in out):
            raise ResponseFormatError(
                "an embedding holds a non-number or non-finite value (encoding_format=base64 "
                "is not supported)"
            )
        vectors.append([float(x) for x in out if x is not None])
    if len({len(v) for v in vectors}) > 1:
        raise ResponseFormatError("embeddings of different lengths in one response")
    return vectors


def _error_message(body: bytes) -> str:
    """The server's error message from an error body (at most 200 characters)."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return text[:200]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:200]
        if isinstance(err, str):
            return err[:200]
        if isinstance(data.get("detail"), str):
            return str(data["detail"])[:200]
    return text[:200]


def _error_object(body: bytes) -> dict[str, str | None] | None:
    """The OpenAI-shaped error object of an error body (``{"error": {"message": str, ...}}``):
    ``message``, ``type``, ``param``, ``code`` as strings (``None`` when absent; ``message`` cut
    to 500 characters, the others to 100), or ``None`` when the body has no such object."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("message"), str):
        return None
    out: dict[str, str | None] = {"message": str(err["message"])[:500]}
    for key in ("type", "param", "code"):
        value = err.get(key)
        out[key] = None if value is None or isinstance(value, dict | list) else str(value)[:100]
    return out


def _raise_for_status(code: int, headers: httpx.Headers, body: bytes, where: str) -> None:
    if code < 400:
        return
    msg = f"HTTP {code} from {where}: {_error_message(body)}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    error = _error_object(body)
    if code in (401, 403):
        raise AuthenticationError(msg, status_code=code, error=error)
    if code == 429:
        raise RateLimitError(msg, status_code=code, retry_after=retry_after, error=error)
    if code >= 500:
        raise ServerError(msg, status_code=code, retry_after=retry_after, error=error)
    raise BadRequestError(msg, status_code=code, error=error)


class ResponseTooLargeError(ResponseFormatError):
    """The reply body exceeded the byte limit (never retried: it would be as large again)."""

    retryable = False


# reply-size budget derived from max_tokens: a token is a few characters, at most ~12 bytes per
# character once JSON-escaped (a surrogate pair as two \uXXXX escapes); 64 bytes per token covers
# it with room. A log-prob entry (token, logprob and each alternative) costs up to ~128 bytes.
_FIXED_REPLY_BYTES = 64 * 1024
_TEXT_BYTES_PER_TOKEN = 64
_LOGPROB_BYTES_PER_ENTRY = 128
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # when neither max_tokens nor a cap is given
_MAX_ERROR_BODY = 64 * 1024


def reply_budget(
    max_tokens: int | None, *, n: int = 1, logprobs: bool = False, top_logprobs: int | None = None
) -> int:
    """Largest reply body (bytes) accepted for a request: ``64 KiB + n * max_tokens * per_token``
    with ``per_token = 64`` (+ ``128 * (1 + top_logprobs)`` when log-probs are asked);
    :data:`DEFAULT_MAX_RESPONSE_BYTES` (8 MiB) without ``max_tokens``.

    Example: ``max_tokens=512, n=1`` -> 65,536 + 512 * 64 = 98,304 bytes.
    """
    if max_tokens is None or max_tokens <= 0:
        return DEFAULT_MAX_RESPONSE_BYTES
    per_token = _TEXT_BYTES_PER_TOKEN
    if logprobs:
        per_token += _LOGPROB_BYTES_PER_ENTRY * (1 + max(0, top_logprobs or 0))
    return _FIXED_REPLY_BYTES + max(1, n) * max_tokens * per_token


class _LoopClients:
    """The connection pools of one event loop.

    Requests are spread over several small httpx pools ("shards") of ``per_shard`` connections:
    httpcore 1.x re-scans every pooled connection for each queued request, so its bookkeeping
    grows with connections x requests in flight per pool (raw httpx replaying 200 concurrent
    guarded chats: 3.56 ms client CPU per chat over 8 pools of 32, 2.36 ms over 32 pools of 8,
    bench/bench_guard.py, docs/sdk.md).

    A request goes to the first shard with a free connection (so sequential or lightly concurrent
    use keeps reusing shard 0's kept-alive connections instead of opening one per shard); when
    every shard is full, to the shard with the fewest requests in flight."""

    def __init__(
        self,
        clients: list[httpx.AsyncClient],
        semaphore: asyncio.Semaphore | None,
        per_shard: int,
    ):
        self.clients = clients
        self.semaphore = semaphore
        self.per_shard = per_shard
        self.in_flight = [0] * len(clients)

    @property
    def closed(self) -> bool:
        return any(c.is_closed for c in self.clients)

    def acquire(self) -> int:
        """Index of the shard for the next request (count it in flight until :meth:`release`)."""
        loads = self.in_flight
        best, best_load = 0, loads[0]
        for i, load in enumerate(loads):
            if load < self.per_shard:
                best = i
                break
            if load < best_load:
                best, best_load = i, load
        loads[best] += 1
        return best

    def release(self, index: int) -> None:
        self.in_flight[index] -= 1


class _Attempts:
    """Counts HTTP attempts of one logical request (retries included)."""

    def __init__(self) -> None:
        self.count = 0


class OpenAICompatProvider(SyncChatMixin):
    """Chat provider for OpenAI-compatible servers.

    Args:
        base_url: API root including the version, e.g. ``"http://127.0.0.1:8080/v1"``.
        api_key: bearer token; defaults to ``$OPENAI_API_KEY``; omitted when neither is set
            (local servers usually need none).
        model: default model name for calls that pass ``model=None``.
        headers: extra HTTP headers sent with every request.
        timeout: read/write timeout in seconds per HTTP attempt.
        connect_timeout: connect timeout in seconds.
        max_retries: retries after the first attempt (so ``max_retries + 1`` attempts at most).
        retry_initial_wait: first back-off in seconds (doubles each retry, plus up to 1 s jitter).
        retry_max_wait: cap in seconds for any single wait, ``Retry-After`` included.
        max_concurrency: at most this many HTTP requests in flight from this provider per event
            loop (``None``: unlimited apart from the connection pool).
        max_connections: connections per event loop, over all pool shards; more requests than
            this wait for a free connection (size it for the requests you expect in flight: one
            guarded chat has up to 1 + k requests in flight, fewer when the server takes ``n``).
        pool_shards: number of httpx pools the connections are split over (at most
            ``max_connections`` pools, each of ``max_connections // pools`` connections, so never
            more than ``max_connections`` in all; see :class:`_LoopClients`). All pools share one
            TLS context, created on first use.
        supports_n: ``True``/``False`` if known; ``None`` (default) to try ``n`` and fall back.
        embed_batch_size: at most this many texts per ``/embeddings`` request (``None``: all in
            one). Give 1 for ``python -m llama_cpp.server`` serving a chat GGUF: llama-cpp-python
            (0.3.x) returns per-token vectors there and misaligns those of every input after the
            first in a multi-input request (measured: the same text twice in one request has
            cosine 0.02); one text per request is exact.
        name: ``gen_ai.provider.name`` for traces (``"openai"`` by default).
        max_response_bytes: largest reply body accepted, in bytes (``None``: derived per request
            from ``max_tokens`` by :func:`reply_budget`); larger replies raise
            :class:`ResponseTooLargeError` (not retried).
        stream_usage: ask for the token usage of streamed answers (:meth:`stream_chat` sends
            ``stream_options: {"include_usage": true}``; default). ``False`` for a server that
            refuses the field: a streamed answer's tokens are then not counted.

    ``timeout`` is the *total* time of one HTTP attempt (connect, send, wait, read the whole body),
    and also the per-read timeout. ``base_url`` may carry a query string (kept after
    ``/chat/completions``) and credentials (userinfo: sent as HTTP basic auth); neither the key,
    the password nor query values other than ``api-version`` appear in error messages.

    Raises:
        ValueError: a ``base_url`` that is not http(s), negative retries, concurrency, shards or
            connections.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        model: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        retry_initial_wait: float = 0.25,
        retry_max_wait: float = 30.0,
        max_concurrency: int | None = None,
        max_connections: int = 256,
        pool_shards: int = 32,
        supports_n: bool | None = None,
        embed_batch_size: int | None = None,
        name: str = "openai",
        max_response_bytes: int | None = None,
        stream_usage: bool = True,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https:// (got {redact_url(base_url)!r})"
            )
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1 or None")
        url = httpx.URL(base_url)
        self.base_url = str(url.copy_with(query=None)).rstrip("/")
        self._url = url  # with its query string (e.g. Azure's api-version), kept on every request
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._display_url = redact_url(self.base_url)
        self._redact = Redactor([self._api_key, *url_secrets(base_url), *(headers or {}).values()])
        self._attempt_timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._model = model
        self._headers = dict(headers or {})
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout, pool=None)
        if pool_shards < 1:
            raise ValueError("pool_shards must be >= 1")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        shards = min(pool_shards, max_connections)  # never more connections than asked for
        per_shard = max_connections // shards
        self._pool_shards = shards
        self._per_shard = per_shard
        self._ssl_context: ssl.SSLContext | None = None
        self._urls: dict[str, httpx.URL] = {}
        self._limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        self.max_retries = max_retries
        self.retry_initial_wait = retry_initial_wait
        self.retry_max_wait = retry_max_wait
        self.max_concurrency = max_concurrency
        self.supports_n = supports_n
        self.stream_usage = stream_usage
        if embed_batch_size is not None and embed_batch_size < 1:
            raise ValueError("embed_batch_size must be >= 1 or None")
        self.embed_batch_size = embed_batch_size
        self._n_support: dict[str, bool] = {}
        self._name = name
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = (
            weakref.WeakKeyDictionary()
        )

    # -- protocol properties

    @property
    def name(self) -> str:
        return self._name

    @property
    def default_model(self) -> str | None:
        return self._model

    # -- connection handling (one pooled client per event loop: pools cannot cross loops)

    def _pools(self) -> _LoopClients:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None or entry.closed:
            headers = {k: v for k, v in self._headers.items() if k.lower() != "content-type"}
            headers["Content-Type"] = "application/json"  # every body is JSON
            if self._api_key:
                headers.setdefault("Authorization", f"Bearer {self._api_key}")
            if self._ssl_context is None:
                # one TLS context for every shard and loop: httpx builds (and loads the CA bundle
                # into) a new one per client otherwise
                self._ssl_context = httpx.create_ssl_context()
            clients = [
                httpx.AsyncClient(
                    base_url=self.base_url,
                    headers=headers,
                    timeout=self._timeout,
                    limits=self._limits,
                    verify=self._ssl_context,
                )
                for _ in range(self._pool_shards)
            ]
            sem = asyncio.Semaphore(self.max_concurrency) if self.max_concurrency else None
            entry = _LoopClients(clients, sem, self._per_shard)
            self._clients[loop] = entry
        return entry

    def _endpoint(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = self._url.copy_with(path=self._url.path.rstrip("/") + path)
            self._urls[path] = url
        return url

    def _redacted(self, exc: ProviderError) -> ProviderError:
        """``exc`` again with the key and URL secrets removed from its message and from the
        server's error object (a server may echo the key it refused)."""
        error = exc.error
        if error is not None:
            error = {k: None if v is None else self._redact(v) for k, v in error.items()}
        return type(exc)(
            self._redact(str(exc)),
            status_code=exc.status_code,
            retry_after=exc.retry_after,
            error=error,
        )

    async def aclose(self) -> None:
        """Close the connection pools of every event loop this provider was used from."""
        current = asyncio.get_running_loop()
        for loop, entry in list(self._clients.items()):
            for client in entry.clients:
                if client.is_closed:
                    continue
                if loop is current:
                    await client.aclose()
                elif loop.is_running():
                    fut = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
                    await asyncio.wrap_future(fut)
        self._clients.clear()

    # -- one logical request with retries

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_max_wait)
        backoff = wait_exponential(
            multiplier=self.retry_initial_wait, max=self.retry_max_wait
        ) + wait_random(0, min(1.0, self.retry_initial_wait))
        return float(backoff(state))

    async def _send(
        self, client: httpx.AsyncClient, url: httpx.URL, body: bytes, cap: int
    ) -> tuple[int, httpx.Headers, bytes]:
        """POST ``body``; return status, headers and at most ``cap`` bytes of reply body."""
        request = client.build_request("POST", url, content=body)  # headers: the client's
        response = await client.send(request, stream=True)
        try:
            limit = cap if response.status_code < 400 else _MAX_ERROR_BODY
            declared = response.headers.get("content-length", "")
            if response.status_code < 400 and declared.isdigit() and int(declared) > cap:
                raise ResponseTooLargeError(
                    f"reply from {self._display_url} declares {int(declared)} bytes, more than "
                    f"the {cap}-byte limit (max_response_bytes / max_tokens)"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    if response.status_code >= 400:  # an error body: its start is enough
                        chunks.append(chunk[: limit - (size - len(chunk))])
                        break
                    raise ResponseTooLargeError(
                        f"reply from {self._display_url} is larger than the {cap}-byte limit "
                        "(max_response_bytes / max_tokens)"
                    )
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)
        finally:
            await response.aclose()

    async def _send_on(
        self, pools: _LoopClients, url: httpx.URL, body: bytes, cap: int
    ) -> tuple[int, httpx.Headers, bytes]:
        shard = pools.acquire()
        try:
            return await self._send(pools.clients[shard], url, body, cap)
        finally:
            pools.release(shard)

    async def _attempt(
        self,
        payload: dict[str, Any],
        attempts: _Attempts,
        cap: int,
        path: str = "/chat/completions",
    ) -> Any:
        pools = self._pools()
        attempts.count += 1
        url = self._endpoint(path)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            if pools.semaphore is None:
                async with asyncio.timeout(self._attempt_timeout):
                    status, headers, content = await self._send_on(pools, url, body, cap)
            else:
                async with pools.semaphore, asyncio.timeout(self._attempt_timeout):
                    status, headers, content = await self._send_on(pools, url, body, cap)
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise ProviderTimeoutError(
                f"timeout talking to {self._display_url} "
                f"(attempt limit {self._attempt_timeout:g} s): {self._redact(repr(exc))}"
            ) from exc
        except httpx.TransportError as exc:  # connect/read errors, resets, protocol errors
            raise ProviderConnectionError(
                f"connection to {self._display_url} failed: {self._redact(repr(exc))}"
            ) from exc
        try:
            _raise_for_status(status, headers, content, self._display_url)
        except ProviderError as exc:
            raise self._redacted(exc) from None
        try:
            return json.loads(content)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
            raise ResponseFormatError(
                f"invalid JSON from {self._display_url} ({len(content)} bytes): {what}"
            ) from None

    async def _request(
        self,
        payload: dict[str, Any],
        attempts: _Attempts,
        path: str = "/chat/completions",
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """POST ``payload`` to ``path`` with retries; ``parse`` (which may raise
        :class:`ResponseFormatError`, retried like a truncated body) turns the JSON into a
        result inside the retry loop."""
        cap = self.max_response_bytes or reply_budget(
            payload.get("max_tokens"),
            n=int(payload.get("n", 1)),
            logprobs=bool(payload.get("logprobs")),
            top_logprobs=payload.get("top_logprobs"),
        )
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                data = await self._attempt(payload, attempts, cap, path)
                return data if parse is None else parse(data)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the protocol method

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
        """Return ``n`` answers (see :meth:`guardrail.providers.ChatProvider.chat`).

        Raises:
            ValueError: ``n < 1``, no model, or invalid messages.
            AuthenticationError: HTTP 401/403 (never retried).
            BadRequestError: another HTTP 4xx.
            ProviderError: every sample failed after retries (the first sample's error); its
                ``calls`` attribute counts the HTTP attempts made.
        """
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
        slot: Any = None,
    ) -> ChatResult:
        """:meth:`chat` with ``options`` (chat-completions body fields such as ``tools``,
        ``tool_choice``, ``response_format``, ``stop``, ``top_p``, ``temperature``) merged into
        the request body (they win over the arguments), and ``slot`` (anything with a ``raw``
        attribute, e.g. :class:`guardrail.sdk.answer_call.AnswerSlot`) receiving the upstream's
        JSON document. Used for the answer call of ``guardrail serve`` and the drop-in client;
        ``n`` must be 1 with options. Errors as :meth:`chat`."""
        attempts = _Attempts()
        try:
            return await self._chat(
                messages,
                model=model,
                n=n,
                temperature=temperature,
                logprobs=logprobs,
                top_logprobs=top_logprobs,
                seed=seed,
                max_tokens=max_tokens,
                attempts=attempts,
                options=options,
                slot=slot,
            )
        except ProviderError as exc:
            exc.calls = attempts.count
            raise

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
        """Stream one answer (``stream: true``): one :class:`StreamDelta` per server-sent
        chunk, as it arrives. ``options`` as in :meth:`chat_with_options`. With
        ``stream_usage`` (default) the request asks for ``stream_options: {"include_usage":
        true}``: the server's usage chunk (no choices, after the last content chunk) is yielded
        with its ``usage`` set; a server that ignores the field sends none. A server that
        ignores ``stream: true`` and answers with a JSON ``chat.completion``
        (``Content-Type: application/json``) gives one complete delta
        (:func:`completion_delta`: text, ``finish_reason``, ``usage``, tool calls).

        No retry once the request is sent (a half-streamed answer cannot be replayed); the
        per-read timeout is the provider's ``timeout``.

        Raises:
            ValueError: no model, invalid messages.
            AuthenticationError: HTTP 401/403 (before the first delta).
            ProviderError: another HTTP error (before the first delta), a connection failure or
                a timeout (possibly after some deltas), an ``{"error": ...}`` event in the
                stream, or a stream that ends with neither a ``finish_reason`` nor ``[DONE]``
                (``ProviderConnectionError``: the connection closed mid-answer); a JSON reply
                that is an error document, too large (``ResponseTooLargeError``) or not a
                completion (``ResponseFormatError``).
        """
        msgs = normalize_messages(messages)
        model_name = model or self._model
        if not model_name:
            raise ValueError("no model given and the provider has no default model")
        payload: dict[str, Any] = {
            "model": model_name,
            "messages": [m.wire(clean_text) for m in msgs],
            "stream": True,
        }
        if self.stream_usage:
            payload["stream_options"] = {"include_usage": True}
        for key, val in (("temperature", temperature), ("max_tokens", max_tokens), ("seed", seed)):
            if val is not None:
                payload[key] = val
        merge_answer_options(payload, options)
        pools = self._pools()
        shard = pools.acquire()
        client = pools.clients[shard]
        url = self._endpoint("/chat/completions")
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        request = client.build_request(
            "POST", url, content=body, headers={"Content-Type": "application/json"}
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            pools.release(shard)
            raise ProviderTimeoutError(
                f"timeout talking to {self._display_url}: {self._redact(repr(exc))}"
            ) from exc
        except httpx.TransportError as exc:
            pools.release(shard)
            raise ProviderConnectionError(
                f"connection to {self._display_url} failed: {self._redact(repr(exc))}"
            ) from exc
        except BaseException:
            pools.release(shard)
            raise
        try:
            if response.status_code >= 400:
                err = b""
                async for chunk in response.aiter_bytes():
                    err += chunk
                    if len(err) > _MAX_ERROR_BODY:
                        break
                try:
                    _raise_for_status(
                        response.status_code, response.headers, err, self._display_url
                    )
                except ProviderError as exc:
                    raise self._redacted(exc) from None
            try:
                if is_json_reply(response.headers.get("content-type")):
                    # the server may have ignored `stream: true` and sent the whole completion
                    body = await self._read_reply(response, max_tokens, options)
                    source = reply_deltas(body, where=self._display_url, redact=self._redact)
                else:
                    source = sse_deltas(
                        response.aiter_lines(), where=self._display_url, redact=self._redact
                    )
                async with contextlib.aclosing(source):  # closed with this stream
                    async for delta in source:
                        yield delta
            except httpx.TimeoutException as exc:
                raise ProviderTimeoutError(
                    f"timeout reading the stream from {self._display_url}"
                ) from exc
            except httpx.TransportError as exc:
                raise ProviderConnectionError(
                    f"the stream from {self._display_url} broke: {self._redact(repr(exc))}"
                ) from exc
        finally:
            await response.aclose()
            pools.release(shard)

    async def _read_reply(
        self,
        response: httpx.Response,
        max_tokens: int | None,
        options: Mapping[str, Any] | None,
    ) -> bytes:
        """The whole body of a streamed request's JSON reply, bounded as a non-streamed reply
        (``max_response_bytes`` / :func:`reply_budget`).

        Raises:
            ResponseTooLargeError: the body exceeds the limit.
        """
        cap_tokens = (options or {}).get("max_completion_tokens", max_tokens)
        cap = self.max_response_bytes or reply_budget(
            cap_tokens if isinstance(cap_tokens, int) else None
        )
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise ResponseTooLargeError(
                    f"reply from {self._display_url} is larger than the {cap}-byte limit "
                    "(max_response_bytes / max_tokens)"
                )
        return bytes(body)

    async def _chat(
        self,
        messages: MessagesLike,
        *,
        model: str | None,
        n: int,
        temperature: float | None,
        logprobs: bool,
        top_logprobs: int | None,
        seed: int | None,
        max_tokens: int | None,
        attempts: _Attempts,
        options: Mapping[str, Any] | None = None,
        slot: Any = None,
    ) -> ChatResult:
        start = time.perf_counter()
        if n < 1:
            raise ValueError(f"n must be >= 1 (got {n})")
        msgs = normalize_messages(messages)
        model_name = model or self._model
        if not model_name:
            raise ValueError("no model given and the provider has no default model")
        base: dict[str, Any] = {
            "model": model_name,
            "messages": [m.wire(clean_text) for m in msgs],
        }
        if temperature is not None:
            base["temperature"] = temperature
        if max_tokens is not None:
            base["max_tokens"] = max_tokens
        if logprobs:
            base["logprobs"] = True
            if top_logprobs:
                base["top_logprobs"] = top_logprobs
        choices: list[Choice] = []
        usage = Usage()
        served_model, rid = model_name, None
        errors: list[str] = []

        use_n = n > 1 and self._n_support.get(model_name, self.supports_n) is not False
        if n == 1 or use_n:
            payload = dict(base)
            if seed is not None:
                payload["seed"] = seed
            if n > 1:
                payload["n"] = n
            merge_answer_options(payload, options)
            try:
                with request_scope(n=n, seed=seed) as report:
                    data = await self._request(payload, attempts)
                    got, usage, served_model, rid = parse_chat_completion(
                        data, requested_model=model_name
                    )
                    report(self._one_result(got, usage, served_model, rid, n))
            except BadRequestError:
                if n == 1:
                    raise
                self._n_support[model_name] = False  # server refuses `n`: sample one by one
            else:
                if slot is not None and isinstance(data, dict):
                    slot.raw = data
                choices = got[:n]
                if n > 1:
                    self._n_support[model_name] = len(got) >= n

        missing = n - len(choices)
        if missing > 0:
            offset = len(choices)

            async def one(i: int) -> tuple[list[Choice], Usage, str, str | None]:
                payload = dict(base)
                if seed is not None:
                    payload["seed"] = seed + i
                with request_scope(seed=payload.get("seed")) as report:
                    data = await self._request(payload, attempts)
                    parsed = parse_chat_completion(data, requested_model=model_name)
                    report(self._one_result(*parsed, 1))
                return parsed

            results = await asyncio.gather(
                *(one(offset + j) for j in range(missing)), return_exceptions=True
            )
            first_error: BaseException | None = None
            for res in results:
                if isinstance(res, BaseException):
                    if isinstance(res, AuthenticationError | asyncio.CancelledError):
                        raise res
                    if not isinstance(res, ProviderError):
                        raise res
                    first_error = first_error or res
                    errors.append(f"{type(res).__name__}: {res}")
                    continue
                got, u, served_model, rid_i = res
                usage = usage + u
                rid = rid or rid_i
                for c in got[:1]:
                    choices.append(c.model_copy(update={"index": len(choices)}))
            if not choices and first_error is not None:
                raise first_error
        return ChatResult(
            provider=self._name,
            model=served_model,
            choices=choices,
            requested=n,
            failed=n - len(choices),
            errors=errors,
            usage=usage,
            calls=attempts.count,
            latency_s=time.perf_counter() - start,
            response_id=rid,
        )

    def _one_result(
        self, choices: list[Choice], usage: Usage, model: str, rid: str | None, n: int
    ) -> ChatResult:
        """One HTTP request's result, for :func:`~guardrail.providers.request_scope`."""
        return ChatResult(
            provider=self._name,
            model=model,
            choices=choices[:n],
            requested=n,
            usage=usage,
            response_id=rid,
        )

    # -- embeddings

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """Embed ``texts`` with ``POST {base_url}/embeddings`` (one request for all texts, or
        concurrent requests of ``embed_batch_size`` texts).

        Served by OpenAI, llama.cpp (``llama-server --embeddings``, ``python -m llama_cpp.server
        --embedding true``), vLLM (an embedding model) and Ollama's ``/v1``. Same retries and
        timeouts as :meth:`chat`; a malformed body (wrong count, non-numbers) is retried like a
        truncated one.

        Args:
            texts: the strings to embed (may be empty: no request, ``[]``).
            model: the embedding model (default: the provider's default model).

        Returns:
            One vector per text, in input order, all of one length.

        Raises:
            ValueError: no model given and no default, or ``texts`` is a single string.
            AuthenticationError: HTTP 401/403 (never retried).
            BadRequestError: another HTTP 4xx (e.g. the server was started without embeddings).
            ProviderError: still failing after retries; ``calls`` counts the HTTP attempts.
        """
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, not a single string")
        items = [str(t) for t in texts]
        if not items:
            return []
        model_name = model or self._model
        if not model_name:
            raise ValueError("no model given and the provider has no default model")
        attempts = _Attempts()
        size = self.embed_batch_size or len(items)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]

        async def one(chunk: list[str]) -> list[list[float]]:
            payload = {"model": model_name, "input": chunk, "encoding_format": "float"}
            got: list[list[float]] = await self._request(
                payload,
                attempts,
                "/embeddings",
                lambda d: parse_embeddings(d, expected=len(chunk)),
            )
            return got

        try:
            parts = await asyncio.gather(*(one(c) for c in chunks))
        except ProviderError as exc:
            exc.calls = attempts.count
            raise
        vectors = [v for part in parts for v in part]
        if len({len(v) for v in vectors}) > 1:
            raise ResponseFormatError("embeddings of different lengths across requests")
        return vectors
