"""Guarded streaming: the one implementation of ``hold`` and ``live`` streams.

:meth:`guardrail.Guard.stream`, the drop-in client's ``create(stream=True)`` and ``guardrail
serve``'s ``stream: true`` all iterate :func:`guarded_stream`; they differ only in how they
write the :class:`~guardrail.sdk.models.StreamEvent` s out (Python objects, ``openai``
``ChatCompletionChunk`` s, server-sent events). Semantics (``docs/serve.md``, "Streaming"):

* ``hold``: nothing of an undecided answer is yielded. The guarded chat runs to its decision
  (the policy's samples start together with the answer call: eager samples), then the text the
  user may see (answer + notice, or the abstention / review message) is yielded as word-sized
  deltas, then ``done``.
* ``live``: the answer is streamed from the provider (``stream_chat``; a provider without it
  gives its whole answer as one delta) and every token is yielded as it arrives, while
  :meth:`Guard.assess <guardrail.Guard.assess>` waits for the complete answer with its samples
  already running. It ends with the notice as a last delta and ``done``, or, when the decision
  is review or abstain (or the answer could not be judged), with a ``retraction`` carrying the
  replacement text, then ``done``.

A reply that is a tool call is passed through unguarded (only final text answers are judged).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from guardrail.providers import (
    AuthenticationError,
    Choice,
    MessagesLike,
    ProviderError,
    StreamDelta,
    ToolCallReply,
    Usage,
    normalize_messages,
    run_sync,
)
from guardrail.sdk.answer_call import ANSWER_SLOT, AnswerSlot
from guardrail.sdk.models import GuardedResponse, StreamEvent, StreamMode
from guardrail.sdk.verdict import withheld
from guardrail.tracing import CANCEL_NOT_NEEDED, CANCEL_TOOL_CALLS, cancel_by_guardrail

if TYPE_CHECKING:
    from guardrail.sdk.guard import Guard

__all__ = [
    "ChunkOut",
    "completion_chunks",
    "guarded_stream",
    "iterate_sync",
    "text_pieces",
    "tool_call_deltas",
    "withheld",
]

T = TypeVar("T")

_PIECE = re.compile(r"\S+\s*|\s+")


def text_pieces(text: str) -> list[str]:
    """Word-sized pieces (a word and the whitespace after it) whose concatenation is ``text``."""
    return _PIECE.findall(text)


async def guarded_stream(
    guard: Guard,
    messages: MessagesLike,
    *,
    domain: str | None = None,
    mode: StreamMode | None = None,
    model: str | None = None,
    stakes: str | None = None,
    context: Mapping[str, str] | None = None,
    request_id: str | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    slot: AnswerSlot | None = None,
    raise_early: bool = False,
) -> AsyncIterator[StreamEvent]:
    """Stream one guarded answer as :class:`StreamEvent` s (module docstring).

    Args:
        guard: the :class:`~guardrail.Guard`.
        messages, domain, model, stakes, context, request_id, max_tokens, seed: as in
            :meth:`Guard.chat <guardrail.Guard.chat>`.
        mode: ``hold`` or ``live``; None: the policy's :attr:`~guardrail.policy.Policy.stream_mode`.
        slot: answer-only options for the answer call and its record (the drop-in client and
            ``guardrail serve``; the guard's provider must be an
            :class:`~guardrail.sdk.answer_call.AnswerRecorder`).
        raise_early: in ``live`` mode, raise the provider's error when the answer stream fails
            before its first token (the proxy answers 502, the drop-in client raises); else
            the stream gives the failure message and a ``failed`` verdict.

    Yields:
        ``delta`` events, at most one ``retraction`` (``live``), then one ``done``.

    Raises:
        ValueError: unknown domain, malformed messages, or a ``mode`` other than ``hold`` /
            ``live`` (before any event).
        AuthenticationError: the provider rejected the credentials before any event.
        ProviderError: ``raise_early`` and the answer stream failed before its first token.
        GuardError: strict mode, as :meth:`Guard.chat <guardrail.Guard.chat>`.
    """
    if mode is not None and mode not in ("hold", "live"):  # a typo must never stream live
        raise ValueError(f"mode must be 'hold' or 'live' (or None: the policy's), got {mode!r}")
    policy = guard.policy_for(domain)
    msgs = normalize_messages(messages)
    chosen: StreamMode = mode or policy.stream_mode
    # aclosing: closing this stream closes the inner one now (its `finally` cancels and awaits
    # the assessment), not whenever the loop's async-generator finalizer gets to it
    if chosen == "hold":
        hold = _hold(
            guard, msgs, domain, model, stakes, context, request_id, max_tokens, seed, slot
        )
        async with contextlib.aclosing(hold):
            async for ev in hold:
                yield ev
        return
    live = _live(
        guard,
        msgs,
        policy.name,
        model,
        stakes,
        context,
        request_id,
        max_tokens,
        seed,
        slot,
        raise_early,
    )
    async with contextlib.aclosing(live):
        async for ev in live:
            yield ev


async def _hold(
    guard: Guard,
    msgs: MessagesLike,
    domain: str | None,
    model: str | None,
    stakes: str | None,
    context: Mapping[str, str] | None,
    request_id: str | None,
    max_tokens: int | None,
    seed: int | None,
    slot: AnswerSlot | None,
) -> AsyncGenerator[StreamEvent, None]:
    from guardrail.sdk.guard import GuardError

    token = ANSWER_SLOT.set(slot) if slot is not None else None
    try:
        resp = await guard._entry(
            msgs,
            None,
            domain=domain,
            model=model,
            stakes=stakes,
            context=context,
            request_id=request_id,
            max_tokens=max_tokens,
            seed=seed,
            eager=True,
        )
    except ToolCallReply:  # a tool call: passed through unguarded (below)
        resp = None
    except GuardError:
        if slot is None or not slot.tool_calls:
            raise
        resp = None
    finally:
        if token is not None:
            ANSWER_SLOT.reset(token)
    if slot is not None and slot.tool_calls:  # a tool call: passed through unguarded
        yield StreamEvent(type="done", mode="hold", tool_calls=True, raw=slot.raw)
        return
    assert resp is not None
    for piece in text_pieces(resp.text):
        yield StreamEvent(type="delta", mode="hold", text=piece, response=resp)
    yield StreamEvent(type="done", mode="hold", response=resp)


async def _live(
    guard: Guard,
    msgs: MessagesLike,
    domain: str,
    model: str | None,
    stakes: str | None,
    context: Mapping[str, str] | None,
    request_id: str | None,
    max_tokens: int | None,
    seed: int | None,
    slot: AnswerSlot | None,
    raise_early: bool,
) -> AsyncGenerator[StreamEvent, None]:
    import uuid

    from guardrail.sdk.guard import StreamedAnswer

    rid = request_id or uuid.uuid4().hex
    provider = guard.provider
    model_name = model or guard.model or provider.default_model or "default"
    if slot is not None:
        slot.used = True  # the options go to the streamed answer call, never to a sample
    options = dict(slot.options) if slot is not None else {}
    answer: asyncio.Future[StreamedAnswer] = asyncio.get_running_loop().create_future()
    # the assessment starts first: its samples run while the answer streams (eager samples)
    judging: asyncio.Future[GuardedResponse] = asyncio.ensure_future(
        guard._entry(
            msgs,
            answer,
            domain=domain,
            model=model,
            stakes=stakes,
            context=context,
            request_id=rid,
            max_tokens=max_tokens,
            seed=seed,
            eager=True,
            streamed=True,  # the answer call is guardrail's: its call and usage count
        )
    )
    cap = max_tokens if max_tokens is not None else guard.max_tokens
    tokens = _answer_stream(provider, msgs, model_name, guard.temperature, seed, cap, options)
    parts: list[str] = []
    finish: str | None = None
    usage: Usage | None = None  # the upstream's usage chunk (asked with include_usage)
    response_id: str | None = None
    tool_calls = False
    sent = False
    host = False
    try:
        try:
            async for delta in tokens:
                if delta.usage is not None:
                    usage = delta.usage  # running totals on every chunk: the last one counts
                if response_id is None and delta.raw is not None:
                    rid_raw = delta.raw.get("id")
                    response_id = rid_raw if isinstance(rid_raw, str) and rid_raw else None
                if delta.tool_calls:
                    tool_calls = True
                if delta.finish_reason is not None:
                    finish = delta.finish_reason
                if delta.text or delta.tool_calls:
                    parts.append(delta.text)
                    sent = True
                    yield StreamEvent(
                        type="delta",
                        mode="live",
                        text=delta.text,
                        tool_calls=delta.tool_calls,
                        raw=delta.raw,
                    )
        except (ProviderError, TimeoutError) as exc:
            if not sent and (raise_early or isinstance(exc, AuthenticationError)):
                raise
            if not answer.done():  # not already given up on (the guard timeout)
                answer.set_exception(exc)
        if tool_calls:  # passed through unguarded: the assessment is not needed
            yield StreamEvent(type="done", mode="live", tool_calls=True)
            return
        if not answer.done():
            choice = Choice(index=0, text="".join(parts), finish_reason=finish)
            answer.set_result(StreamedAnswer(choice, usage=usage, response_id=response_id))
        try:
            resp = await judging
        except AuthenticationError as exc:  # the samples' credentials were refused
            resp = GuardedResponse(
                status="failed",
                text=guard.failure_message,
                domain=domain,
                policy=domain,
                model=model_name,
                provider=provider.name,
                request_id=rid,
                error=f"{type(exc).__name__}: {str(exc)[:500]}",
            )
        if resp.status == "failed" or withheld(resp, hold_reviews=guard.hold_reviews):
            if not sent:  # nothing was shown: nothing to retract, the text is the message
                yield StreamEvent(type="delta", mode="live", text=resp.text, response=resp)
                yield StreamEvent(type="done", mode="live", response=resp)
                return
            yield StreamEvent(type="retraction", mode="live", text=resp.text, response=resp)
            yield StreamEvent(type="done", mode="live", response=resp, retracted=True)
            return
        streamed = "".join(parts)
        tail = resp.text[len(streamed) :] if resp.text.startswith(streamed) else ""
        if not tail and resp.text.startswith(resp.answer):
            tail = resp.text[len(resp.answer) :]
        if tail:  # the notice, after the streamed answer
            yield StreamEvent(type="delta", mode="live", text=tail, response=resp)
        yield StreamEvent(type="done", mode="live", response=resp)
    except (GeneratorExit, asyncio.CancelledError):
        host = True  # the consumer closed the stream or its task was cancelled
        raise
    finally:
        await _close(tokens)
        stopped = not judging.done()
        if stopped:
            if host:  # the host's cancellation: reported as such on the spans
                judging.cancel()
            else:  # a tool call, or the answer stream failed: guardrail's own decision
                reason = CANCEL_TOOL_CALLS if tool_calls else CANCEL_NOT_NEEDED
                cancel_by_guardrail(judging, reason)
        if not answer.done():
            answer.cancel()
        if stopped:  # and wait for it: its sample requests are closed before the stream ends,
            # nothing of it outlives the stream (asyncio.wait never raises; ours still does)
            await asyncio.wait([judging])
        judging.add_done_callback(_retrieve)


async def _answer_stream(
    provider: Any,
    msgs: MessagesLike,
    model: str,
    temperature: float | None,
    seed: int | None,
    max_tokens: int | None,
    options: dict[str, Any],
) -> AsyncIterator[StreamDelta]:
    """The answer as deltas: the provider's ``stream_chat`` when it has one, else its whole
    ``chat`` answer as one delta carrying the call's usage (the embedded model, replay
    providers)."""
    stream = getattr(provider, "stream_chat", None)
    if callable(stream):
        kwargs: dict[str, Any] = {
            "model": model,
            "temperature": temperature,
            "seed": seed,
            "max_tokens": max_tokens,
        }
        if options:
            kwargs["options"] = options
        deltas = stream(msgs, **kwargs)
        async with contextlib.aclosing(deltas):  # closed with this one, not by the finalizer
            async for delta in deltas:
                yield delta
        return
    if options:
        raise ValueError(
            f"argument(s) {', '.join(sorted(options))} cannot be forwarded through "
            f"provider {provider.name!r}"
        )
    res = await provider.chat(
        msgs, model=model, temperature=temperature, seed=seed, max_tokens=max_tokens
    )
    if res.choices:
        c = res.choices[0]
        yield StreamDelta(text=c.text, finish_reason=c.finish_reason, usage=res.usage)


async def _close(agen: AsyncIterator[Any]) -> None:
    closer = getattr(agen, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):  # a broken stream while closing: nothing to report
            await closer()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned task's exception as retrieved (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from synchronous code, one item per step on guardrail's
    background event loop (:func:`guardrail.providers.run_sync`); closing the iterator (or
    leaving a ``for`` loop early) closes ``agen`` there."""

    async def step() -> T:
        return await agen.__anext__()

    async def close() -> None:
        await _close(agen)

    try:
        while True:
            try:
                item = run_sync(step())
            except StopAsyncIteration:
                return
            yield item
    finally:
        run_sync(close())


# ------------------------------------------------------------------ the OpenAI chunk protocol


@dataclass(frozen=True)
class ChunkOut:
    """One ``chat.completion.chunk`` document of a guarded stream (:func:`completion_chunks`).

    Attributes:
        doc: the chunk document (OpenAI shape).
        final: the chunk carrying the ``finish_reason``: the verdict goes with it
            (``guardrail serve``: the ``guardrail`` field; the drop-in client: attributes).
        response: the verdict on the final chunk (None for a tool-call reply).
        retracted: ``live`` retraction: the streamed answer is withdrawn.
        replacement: the text that replaces it (the policy's message, or the failure message).
        tool_calls: the reply was a tool call, passed through unguarded.
    """

    doc: dict[str, Any]
    final: bool = False
    response: GuardedResponse | None = None
    retracted: bool = False
    replacement: str | None = None
    tool_calls: bool = False


def tool_call_deltas(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A tool-call completion's message as stream deltas (each call with its ``index``)."""
    from guardrail.sdk.answer_call import first_message

    msg = first_message(dict(doc))
    calls = msg.get("tool_calls") or []
    out: list[dict[str, Any]] = []
    if isinstance(calls, list) and calls:
        out.append(
            {
                "tool_calls": [
                    {**c, "index": i} for i, c in enumerate(calls) if isinstance(c, Mapping)
                ]
            }
        )
    if msg.get("function_call"):
        out.append({"function_call": msg["function_call"]})
    return out


def _raw_delta(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``choices[0].delta`` of an upstream chunk, without its role (tool-call deltas are
    relayed as they are)."""
    choices = raw.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        delta = choices[0].get("delta")
        if isinstance(delta, Mapping):
            return {k: v for k, v in delta.items() if k != "role" and v is not None}
    return {}


async def completion_chunks(
    first: StreamEvent,
    events: AsyncIterator[StreamEvent],
    *,
    chunk_id: str,
    created: int,
    model: str,
    hold_reviews: bool,
    include_usage: bool = False,
) -> AsyncIterator[ChunkOut]:
    """Write a guarded stream (its ``first`` event, then the rest of ``events``) as
    ``chat.completion.chunk`` documents: a role chunk; ``{"content": ...}`` per text delta
    (tool-call deltas relayed); the final chunk with ``finish_reason`` ``"stop"``,
    ``"content_filter"`` (withheld in ``hold``, retracted in ``live``, or failed) or
    ``"tool_calls"``; with ``include_usage`` a last chunk with no choices and the guard's
    ``usage``. Shared by ``guardrail serve`` and the drop-in client (``docs/serve.md``)."""

    def doc(delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
        }

    yield ChunkOut(doc({"role": "assistant", "content": ""}))
    ev: StreamEvent | None = first
    resp: GuardedResponse | None = None
    while ev is not None:
        if ev.type == "delta":
            if ev.tool_calls and ev.raw is not None:
                delta = _raw_delta(ev.raw)
                if delta:
                    yield ChunkOut(doc(delta))
            elif ev.text:
                yield ChunkOut(doc({"content": ev.text}))
        elif ev.type == "retraction":
            resp = ev.response
            yield ChunkOut(
                doc({}, "content_filter"),
                final=True,
                response=resp,
                retracted=True,
                replacement=ev.text,
            )
        else:  # done
            if ev.tool_calls:
                if ev.raw is not None:  # hold: the upstream's whole completion
                    for delta in tool_call_deltas(ev.raw):
                        yield ChunkOut(doc(delta))
                yield ChunkOut(doc({}, "tool_calls"), final=True, tool_calls=True)
                return
            resp = ev.response
            if not ev.retracted and resp is not None:
                stop = withheld(resp, hold_reviews=hold_reviews) or resp.status == "failed"
                yield ChunkOut(
                    doc({}, "content_filter" if stop else "stop"), final=True, response=resp
                )
            if include_usage and resp is not None:
                usage = doc(None)
                usage["usage"] = {
                    "prompt_tokens": resp.cost.input_tokens,
                    "completion_tokens": resp.cost.output_tokens,
                    "total_tokens": resp.cost.input_tokens + resp.cost.output_tokens,
                }
                yield ChunkOut(usage)
            return
        ev = await anext(events, None)
