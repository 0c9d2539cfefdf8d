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
from dataclasses import dataclass
from typing import Any

from guardrail.providers import ChatProvider, ChatResult, MessagesLike, ToolCallReply

__all__ = [
    "ANSWER_SLOT",
    "AnswerRecorder",
    "AnswerSlot",
    "first_message",
    "with_recorder",
]


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


def first_message(raw: dict[str, Any] | None) -> dict[str, Any]:
    """``choices[0].message`` of a chat-completion document ({} when absent)."""
    choices = raw.get("choices") if isinstance(raw, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        msg = choices[0].get("message")
        if isinstance(msg, dict):
            return msg
    return {}


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
