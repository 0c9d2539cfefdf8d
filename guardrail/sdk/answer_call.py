"""The answer call's record: answer-only options in, the upstream's reply document out.

A guarded chat makes several model calls (answer, samples, follow-up, ensemble); options that
shape the reply the user sees (``tools``, ``tool_choice``, ``response_format``, ``stop``,
``temperature``, ``top_p``, ...) belong to the *answer* call only. Rather than widening
:class:`~guardrail.providers.ChatProvider`, the caller (the drop-in client, ``guardrail serve``)
puts an :class:`AnswerSlot` in a context variable for the duration of one guarded call, and the
guard's provider is wrapped in an :class:`AnswerRecorder`: the first call made while the slot is
set gets the options (through the inner provider's ``chat_with_options``:
:class:`~guardrail.providers.OpenAICompatProvider`, :class:`~guardrail.sdk.OpenAIClientProvider`)
and records what came back. When that reply is a tool call,
:class:`~guardrail.providers.ToolCallReply` ends the guarded chat: tool calls are passed through
unevaluated (only final text answers are judged).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardrail.providers import ChatProvider, ChatResult, MessagesLike, ToolCallReply
from guardrail.providers.params import InvalidArgumentError

__all__ = [
    "ANSWER_FIELDS",
    "ANSWER_SLOT",
    "CLIENT_OPTIONS",
    "AnswerRecorder",
    "AnswerSlot",
    "caller_logprobs",
    "check_guardable",
    "first_choice",
    "first_message",
    "with_recorder",
]

#: Chat-completions request fields that go to the **answer call only** (never to the samples,
#: the follow-up or the ensemble calls, which use the policy's settings): they shape the reply
#: the user sees. The one decision for both callers: the drop-in client's ``create`` arguments
#: (:data:`guardrail.sdk.client.ANSWER_ONLY_ARGS` adds :data:`CLIENT_OPTIONS`) and the body
#: fields ``guardrail serve`` forwards (:data:`guardrail.serve.app.FORWARDED_FIELDS`: these
#: minus ``max_completion_tokens``, which serve reads as the token cap of every call).
ANSWER_FIELDS: tuple[str, ...] = (
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "metadata",
    "modalities",
    "moderation",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "service_tier",
    "stop",
    "store",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
)
#: The ``openai`` client's per-request options (not body fields): answer call only, drop-in only.
CLIENT_OPTIONS: tuple[str, ...] = ("extra_headers", "extra_query", "extra_body", "timeout")


def check_guardable(args: Mapping[str, Any]) -> None:
    """Refuse the arguments a guarded call cannot honour (``None`` values are not given):
    ``n`` other than 1 (one answer is shown; the policy sets the samples), ``audio`` and a
    ``modalities`` list containing ``"audio"`` (guardrail evaluates text), ``stream_options``
    without ``stream`` (as OpenAI's API does). Shared by the drop-in client
    (``UnsupportedArgumentError``) and ``guardrail serve`` (HTTP 400 with ``error.param``).

    Raises:
        InvalidArgumentError: the first such argument, named in ``param`` and the message.
    """
    given = {k: v for k, v in args.items() if v is not None}
    if "stream_options" in given and not given.get("stream"):
        raise InvalidArgumentError("stream_options", "stream_options applies only to stream=True")
    n = given.get("n")
    if n is not None and n != 1:
        raise InvalidArgumentError(
            "n",
            f"n={n} is not supported: only n=1 (the guard shows one answer; the policy "
            "sets the samples)",
        )
    if "audio" in given:
        raise InvalidArgumentError(
            "audio", "audio output (audio=...) is not supported: guardrail evaluates text answers"
        )
    modalities = given.get("modalities")
    if isinstance(modalities, list | tuple | set | frozenset) and "audio" in modalities:
        raise InvalidArgumentError(
            "modalities",
            "modalities with 'audio' is not supported: guardrail evaluates text answers",
        )


def caller_logprobs(logprobs: Any, options: Mapping[str, Any], *, shown: bool) -> Any:
    """The ``logprobs`` of the answer call's choice as the caller may get them back.

    The answer call asks for log-probs when the caller does (``logprobs: true``) *or* the
    policy does (a rule reading ``logprob_confidence``: ``top_logprobs`` 1); the policy's need
    wins for the call (a caller's ``logprobs: false`` does not remove them, ``top_logprobs`` is
    the larger of the two: :func:`guardrail.providers.params.merge_answer_options`). What the
    caller gets back follows the caller's request alone:

    * ``None`` unless the caller asked (``logprobs`` true) and the answer is ``shown`` (a
      withheld answer's tokens would spell it out);
    * otherwise the upstream's object with every token's ``top_logprobs`` cut to the caller's
      ``top_logprobs`` (0 when not given, as OpenAI answers).

    Args:
        logprobs: ``choices[0].logprobs`` of the upstream document (any shape; non-dicts pass
            through unchanged when allowed).
        options: the caller's answer-only options.
        shown: whether the answer is what the caller is shown.
    """
    if not options.get("logprobs") or not shown or logprobs is None:
        return None
    if not isinstance(logprobs, Mapping):
        return logprobs
    k = options.get("top_logprobs") or 0
    out = dict(logprobs)
    for key in ("content", "refusal"):
        entries = out.get(key)
        if isinstance(entries, list):
            out[key] = [
                {**e, "top_logprobs": list(e.get("top_logprobs") or [])[:k]}
                if isinstance(e, Mapping)
                else e
                for e in entries
            ]
    return out


@dataclass
class AnswerSlot:
    """The first model call of one guarded chat (the answer call): options to forward to it and
    what it returned or raised. Lives in :data:`ANSWER_SLOT` for the duration of one call.
    ``want_raw``/``http``: the drop-in client's ``with_raw_response`` (the upstream HTTP
    response of the answer call lands in ``http``)."""

    options: dict[str, Any]
    used: bool = False
    result: ChatResult | None = None
    raw: dict[str, Any] | None = None
    exc: BaseException | None = None
    tool_calls: bool = False
    want_raw: bool = False
    http: Any = None


ANSWER_SLOT: contextvars.ContextVar[AnswerSlot | None] = contextvars.ContextVar(
    "guardrail_answer_slot", default=None
)


def first_choice(raw: dict[str, Any] | None) -> dict[str, Any]:
    """``choices[0]`` of a chat-completion document ({} when absent)."""
    choices = raw.get("choices") if isinstance(raw, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def first_message(raw: dict[str, Any] | None) -> dict[str, Any]:
    """``choices[0].message`` of a chat-completion document ({} when absent)."""
    msg = first_choice(raw).get("message")
    return msg if isinstance(msg, dict) else {}


class AnswerRecorder:
    """Wraps the guard's provider: the first call made while an :class:`AnswerSlot` is set (the
    guard's answer call) gets the slot's options and is recorded in it; every other call passes
    straight through."""

    def __init__(self, inner: ChatProvider) -> None:
        # never nested (two first calls racing to wrap the same guard)
        self.inner: ChatProvider = inner.inner if isinstance(inner, AnswerRecorder) else inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def default_model(self) -> str | None:
        return self.inner.default_model

    def __getattr__(self, item: str) -> Any:  # embed(), stream_chat(), supports_n, ...
        return getattr(self.inner, item)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def chat(self, messages: MessagesLike, **kwargs: Any) -> ChatResult:
        slot = ANSWER_SLOT.get()
        if slot is None or slot.used:
            return await self.inner.chat(messages, **kwargs)
        slot.used = True
        try:
            method = getattr(self.inner, "chat_with_options", None)
            if callable(method):
                result: ChatResult = await method(
                    messages, options=slot.options, slot=slot, **kwargs
                )
            else:
                result = await self.inner.chat(messages, **kwargs)
        except BaseException as exc:
            slot.exc = exc
            raise
        slot.result = result
        msg = first_message(slot.raw)
        if msg.get("tool_calls") or msg.get("function_call"):
            slot.tool_calls = True
            raise ToolCallReply(result)
        return result


def with_recorder(provider: ChatProvider) -> AnswerRecorder:
    """``provider`` wrapped in an :class:`AnswerRecorder` (itself when it already is one)."""
    return provider if isinstance(provider, AnswerRecorder) else AnswerRecorder(provider)
