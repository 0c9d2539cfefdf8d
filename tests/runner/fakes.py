"""A tiny scripted provider implementing the ChatProvider protocol (for fast runner tests)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from guardrail.providers import (
    ChatResult,
    Choice,
    MessagesLike,
    ProviderError,
    TokenLogprob,
    TopLogprob,
    Usage,
    normalize_messages,
)

Script = Callable[[list[dict[str, str]], dict[str, Any]], list[str]]


def letter_logprobs(text: str, option_probs: Mapping[str, float]) -> list[TokenLogprob]:
    """Token log-probs for ``text`` whose first token is ``text[0]`` with ``option_probs`` as the
    top alternatives (natural logs), the rest one token per word at probability 0.9."""
    first = TokenLogprob(
        token=text[0],
        logprob=math.log(option_probs.get(text[0], 0.01)),
        top_logprobs=[TopLogprob(token=k, logprob=math.log(v)) for k, v in option_probs.items()],
    )
    rest = [TokenLogprob(token=w, logprob=math.log(0.9)) for w in text[1:].split(" ") if w]
    return [first, *rest]


class ScriptedProvider:
    """Answers from a function of (messages, call kwargs) -> list of reply texts.

    Records every call in ``calls``. ``fail_on`` makes calls whose last message contains the
    string raise :class:`ProviderError`. ``logprobs_for`` gives token log-probs per reply text.
    """

    def __init__(
        self,
        script: Script,
        *,
        fail_on: str | None = None,
        logprobs_for: Callable[[str], list[TokenLogprob] | None] | None = None,
    ) -> None:
        self.script = script
        self.fail_on = fail_on
        self.logprobs_for = logprobs_for
        self.calls: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def default_model(self) -> str | None:
        return "fake-model"

    async def aclose(self) -> None:
        return None

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
        msgs = [m.model_dump() for m in normalize_messages(messages)]
        kwargs = {
            "model": model,
            "n": n,
            "temperature": temperature,
            "logprobs": logprobs,
            "top_logprobs": top_logprobs,
            "seed": seed,
            "max_tokens": max_tokens,
        }
        self.calls.append({"messages": msgs, **kwargs})
        if self.fail_on is not None and self.fail_on in msgs[-1]["content"]:
            raise ProviderError("scripted failure")
        texts = self.script(msgs, kwargs)
        choices = [
            Choice(
                index=i,
                text=t,
                finish_reason="stop",
                logprobs=(self.logprobs_for(t) if logprobs and self.logprobs_for else None),
            )
            for i, t in enumerate(texts[:n])
        ]
        return ChatResult(
            provider="scripted",
            model=model or "fake-model",
            choices=choices,
            requested=n,
            usage=Usage(input_tokens=10 * len(msgs), output_tokens=3 * len(choices)),
            calls=1,
        )
