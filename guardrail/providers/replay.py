"""Replay recorded chat completions from a JSONL file (tests, demos, offline evaluation).

File format: one JSON object per line::

    {"model": "smollm2", "messages": [{"role": "user", "content": "Capital of France?"}],
     "response": { ...an OpenAI chat-completion JSON document... }}

``model`` is optional (a record without it matches any model). Instead of ``response`` a line may
carry ``"error": {"type": "ServerError", "message": "..."}`` to replay a failure; ``type`` names
one of the :mod:`guardrail.providers.base` errors. Blank lines and ``#`` lines are skipped.

Lookup: records are keyed by (model, messages); a call matches the records for its exact model and
messages first, then those recorded without a model. Several records with the same key are served
in file order, cycling; a call with ``n > 1`` takes choices from consecutive records until it has
``n``.
:class:`RecordingProvider` writes such a file from any live provider.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from guardrail.providers import base as _base
from guardrail.providers.base import (
    BadRequestError,
    ChatProvider,
    ChatResult,
    Choice,
    MessagesLike,
    ProviderError,
    SyncChatMixin,
    Usage,
    normalize_messages,
)
from guardrail.providers.openai_compat import parse_chat_completion

__all__ = ["RecordingProvider", "ReplayMissError", "ReplayProvider", "result_to_completion"]

_Key = tuple[str | None, tuple[tuple[str, str], ...]]


class ReplayMissError(BadRequestError):
    """No recorded response matches the request."""


def _key(model: str | None, messages: MessagesLike) -> _Key:
    return model, tuple((m.role, m.content) for m in normalize_messages(messages))


def result_to_completion(result: ChatResult) -> dict[str, Any]:
    """An OpenAI chat-completion JSON document equivalent to ``result`` (for recording)."""
    choices: list[dict[str, Any]] = []
    for c in result.choices:
        entry: dict[str, Any] = {
            "index": c.index,
            "message": {"role": "assistant", "content": c.text},
            "finish_reason": c.finish_reason,
        }
        if c.logprobs is not None:
            entry["logprobs"] = {
                "content": [
                    {
                        "token": t.token,
                        "logprob": t.logprob,
                        "top_logprobs": [tt.model_dump() for tt in t.top_logprobs],
                    }
                    for t in c.logprobs
                ]
            }
        choices.append(entry)
    return {
        "id": result.response_id or "replay",
        "object": "chat.completion",
        "model": result.model,
        "choices": choices,
        "usage": {
            "prompt_tokens": result.usage.input_tokens,
            "completion_tokens": result.usage.output_tokens,
            "total_tokens": result.usage.input_tokens + result.usage.output_tokens,
        },
    }


class ReplayProvider(SyncChatMixin):
    """Serves recorded responses; makes no network calls.

    Args:
        source: path of a JSONL file, or an iterable of already-parsed records.
        model: default model name reported when a call passes ``model=None``.
        latency_s: optional simulated latency per call, in seconds.

    Raises:
        ValueError: a line is not valid JSON or lacks ``messages`` / ``response``|``error``
            (the message names the file and line number).
    """

    def __init__(
        self,
        source: str | Path | Iterable[dict[str, Any]],
        *,
        model: str | None = "replay",
        latency_s: float = 0.0,
        name: str = "replay",
    ) -> None:
        self._model = model
        self._name = name
        self.latency_s = latency_s
        self._records: dict[_Key, list[dict[str, Any]]] = {}
        self._cursor: dict[_Key, itertools.count[int]] = {}
        if isinstance(source, str | Path):
            path = Path(source)
            rows: list[tuple[str, dict[str, Any]]] = []
            for lineno, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    rec = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({exc})") from exc
                rows.append((f"{path}:{lineno}", rec))
        else:
            rows = [(f"record {i}", r) for i, r in enumerate(source)]
        for where, rec in rows:
            if not isinstance(rec, dict) or "messages" not in rec:
                raise ValueError(f"{where}: a record needs 'messages'")
            if "response" not in rec and "error" not in rec:
                raise ValueError(f"{where}: a record needs 'response' or 'error'")
            try:
                key = _key(rec.get("model"), rec["messages"])
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from exc
            self._records.setdefault(key, []).append(rec)
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def default_model(self) -> str | None:
        return self._model

    async def aclose(self) -> None:
        return None

    def _next(self, key: _Key) -> dict[str, Any]:
        records = self._records[key]
        counter = self._cursor.setdefault(key, itertools.count())
        return records[next(counter) % len(records)]

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
        """Serve the next recorded response(s) for these messages.

        Raises:
            ReplayMissError: nothing was recorded for these messages.
            ProviderError: the record replays a failure.
        """
        start = time.perf_counter()
        if n < 1:
            raise ValueError(f"n must be >= 1 (got {n})")
        model_name = model or self._model or "replay"
        key = _key(model_name, messages)
        if key not in self._records:
            key = _key(None, messages)
        if key not in self._records:
            last = normalize_messages(messages)[-1].content
            raise ReplayMissError(f"no recorded response for model {model_name!r}: {last[:80]!r}")
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        choices: list[Choice] = []
        usage = Usage()
        calls = 0
        served = model_name
        rid: str | None = None
        while len(choices) < n:
            rec = self._next(key)
            calls += 1
            self.calls += 1
            if "error" in rec:
                err = rec["error"] if isinstance(rec["error"], dict) else {}
                cls = getattr(_base, str(err.get("type", "ProviderError")), ProviderError)
                if not (isinstance(cls, type) and issubclass(cls, ProviderError)):
                    cls = ProviderError
                raise cls(str(err.get("message", "replayed failure")))
            got, u, served, rid = parse_chat_completion(
                rec["response"], requested_model=model_name, first_index=len(choices)
            )
            if not got:
                raise ReplayMissError("recorded response has no choices")
            choices.extend(got[: n - len(choices)])
            usage = usage + u
        if not logprobs:
            choices = [c.model_copy(update={"logprobs": None}) for c in choices]
        return ChatResult(
            provider=self._name,
            model=served,
            choices=choices,
            requested=n,
            usage=usage,
            calls=calls,
            latency_s=time.perf_counter() - start,
            response_id=rid,
        )


class RecordingProvider(SyncChatMixin):
    """Wraps a live provider and appends every successful call to a JSONL file readable by
    :class:`ReplayProvider`."""

    def __init__(self, inner: ChatProvider, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def default_model(self) -> str | None:
        return self.inner.default_model

    async def aclose(self) -> None:
        await self.inner.aclose()

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
        """Forward to the wrapped provider and record its result."""
        result = await self.inner.chat(
            messages,
            model=model,
            n=n,
            temperature=temperature,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            seed=seed,
            max_tokens=max_tokens,
        )
        record = {
            "model": model or self.inner.default_model,
            "messages": [m.model_dump(exclude_none=True) for m in normalize_messages(messages)],
            "response": result_to_completion(result),
        }
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        return result
