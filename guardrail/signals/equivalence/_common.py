"""Shared plumbing of the answer-equivalence backends: calling an injected (sync or async) model
function safely, degrading to the lexical similarity, and a precomputed matrix for sync callers."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrail.signals.answers import AnswerSimilarity
from guardrail.signals.consistency import Similarity

__all__ = [
    "BackendStats",
    "PrecomputedSimilarity",
    "call_async",
    "call_sync",
    "fallback_verdicts",
    "lexical_fallback",
]

LOOP_MSG = "an async model call cannot run inside a running event loop"


def lexical_fallback(question: str | None = None) -> Similarity:
    """The similarity a model-backed backend falls back to when its model call fails or its
    reply is unreadable: the default answer-level lexical similarity
    (:class:`~guardrail.signals.answers.AnswerSimilarity`, no model calls)."""
    return AnswerSimilarity(question)


def fallback_verdicts(fallback: Similarity, texts: Sequence[str]) -> NDArray[np.float64]:
    """The fallback's *verdicts* over ``texts``: 1.0 where its similarity reaches its own
    threshold, else 0.0 (diagonal as it gives it). Binary, so the verdicts hold whatever the
    threshold of the backend that fell back (0.5 for entailment, 0.96 for embedding) is."""
    m = np.asarray(fallback.matrix(texts), dtype=np.float64)
    out: NDArray[np.float64] = (m >= fallback.threshold).astype(np.float64)
    np.fill_diagonal(out, np.diag(m) >= fallback.threshold)
    return out


async def _await(x: Awaitable[Any]) -> Any:
    return await x


def call_sync(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)``; when it returns an awaitable (an async injected call), run it with
    ``asyncio.run``.

    Raises:
        RuntimeError: an async call from inside a running event loop (use the backend's
            ``amatrix``); whatever ``fn`` raises otherwise.
    """
    out = fn(*args)
    if inspect.isawaitable(out):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_await(out))
        close = getattr(out, "close", None)
        if callable(close):
            close()  # do not leave an un-awaited coroutine behind
        raise RuntimeError(f"{LOOP_MSG}: use self_consistency_async / amatrix")
    return out


async def call_async(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` and await the result when it is awaitable."""
    out = fn(*args)
    if inspect.isawaitable(out):
        out = await out
    return out


class BackendStats:
    """What a model-backed backend did, for the signal's evidence.

    Attributes:
        calls: model calls made (one per batched request, not per answer).
        fallbacks: matrices computed by the lexical fallback because a call failed or its reply
            was unreadable.
        errors: one short line per fallback (``"ErrorType: message"`` or the parse problem).
        last_exception: the last exception an injected call raised (the SDK re-raises an
            authentication error from it), else None.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.fallbacks = 0
        self.errors: list[str] = []
        self.last_exception: BaseException | None = None

    def failed(self, problem: str, exc: BaseException | None = None) -> None:
        """Record one matrix computed by the lexical fallback: ``problem`` (a short reason) and the
        exception that caused it, if any."""
        self.fallbacks += 1
        self.errors.append(problem)
        if exc is not None:
            self.last_exception = exc

    def report(self, name: str) -> dict[str, Any]:
        """JSON-ready summary: backend name, calls, fallbacks, errors (at most 5 kept)."""
        return {
            "backend": name,
            "calls": self.calls,
            "fallbacks": self.fallbacks,
            "errors": self.errors[:5],
        }


class PrecomputedSimilarity:
    """A :class:`~guardrail.signals.consistency.Similarity` over a matrix computed beforehand
    (e.g. awaited from an async backend), for sync consumers such as
    :func:`~guardrail.signals.ensemble_agreement`.

    ``matrix(texts)`` looks every text up among the texts the matrix was computed for (the first
    occurrence of a repeated text; identical texts have identical rows).

    Args:
        texts: the texts the matrix is for, length n.
        matrix: shape ``(n, n)``, values in [0, 1].
        name: the backend's name; threshold: its threshold.

    Raises:
        ValueError: a shape mismatch; ``matrix`` raises KeyError for a text it was not given.
    """

    def __init__(
        self, texts: Sequence[str], matrix: NDArray[np.float64], *, name: str, threshold: float
    ) -> None:
        if matrix.shape != (len(texts), len(texts)):
            raise ValueError(f"matrix of shape {matrix.shape} for {len(texts)} texts")
        self.name = name
        self.threshold = threshold
        self._index: dict[str, int] = {}
        for i, t in enumerate(texts):
            self._index.setdefault(t, i)
        self._matrix = matrix

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The rows/columns of ``texts`` (shape ``(m, m)``), ones on the diagonal."""
        idx = [self._index[t] for t in texts]
        out: NDArray[np.float64] = self._matrix[np.ix_(idx, idx)].astype(np.float64)
        np.fill_diagonal(out, 1.0)
        return out
