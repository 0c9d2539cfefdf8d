"""Answer equivalence by bidirectional entailment, judged by a model in batches.

Kuhn et al. 2023 (semantic entropy, arXiv 2302.09664) and Farquhar et al. 2024 (Nature 630,
625-630) put two answers in one meaning class when each entails the other, asking an NLI model
(or an LLM) about every answer against each cluster's representative. Asked pair by pair that is
up to k(k-1)/2 model calls. Here the judge sees the question and the *distinct* answers in one
numbered list and returns the meaning classes as JSON, so k samples cost one call (or
``ceil(m / max_items)`` calls for m distinct answers: each further batch lists the classes found
so far by their representatives plus the next answers).

The model call is injected (signals do no HTTP): ``judge(messages) -> reply``, sync or async;
the SDK passes the provider's chat call (temperature 0) for the policy's judge model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrail.signals.consistency import Similarity, normalize_answer
from guardrail.signals.equivalence._common import (
    BackendStats,
    call_async,
    call_sync,
    fallback_verdicts,
    lexical_fallback,
)

__all__ = [
    "GROUP_TEMPLATE",
    "EntailmentSimilarity",
    "JudgeCall",
    "parse_groups",
]

GROUP_TEMPLATE = (
    "Here are answers to the same question. Put two answers in the same group only if each "
    "one implies the other: the same final answer (the same person, place, thing, number or "
    "yes/no), however it is worded. Different final answers go in different groups.\n\n"
    "Question: {question}\n\n"
    "Answers:\n{answers}\n\n"
    'Reply with only JSON listing every answer number exactly once, like {{"groups": '
    "[[1, 3], [2]]}}."
)
"""The grouping prompt: ``{question}`` and ``{answers}`` (numbered lines ``1. text``)."""

JudgeCall = Callable[[list[dict[str, str]]], "str | Awaitable[str]"]


def _shorten(text: str, max_chars: int) -> str:
    """One line, at most ``max_chars``: the head and the tail (where a worked solution puts its
    final answer) joined by an ellipsis."""
    s = " ".join(text.split())
    if len(s) <= max_chars:
        return s
    tail = (2 * max_chars) // 3
    head = max_chars - tail - 5
    return f"{s[:head]} ... {s[-tail:]}"


def _json_candidates(reply: str) -> list[Any]:
    """Every JSON object or array that can be decoded from ``reply``, outermost first."""
    dec = json.JSONDecoder()
    out: list[Any] = []
    i = 0
    while i < len(reply):
        if reply[i] in "{[":
            try:
                obj, end = dec.raw_decode(reply, i)
            except ValueError:
                i += 1
                continue
            out.append(obj)
            i = end
        else:
            i += 1
    return out


def _as_index(x: object) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float) and x.is_integer():
        return int(x)
    if isinstance(x, str) and re.fullmatch(r"\s*\d+\s*", x):
        return int(x)
    return None


def parse_groups(reply: object, m: int) -> tuple[list[list[int]] | None, str | None]:
    """Read meaning classes from a judge reply.

    Accepted shapes (the first decodable one wins): ``{"groups": [[1, 3], [2]]}``, a bare
    ``[[1, 3], [2]]``, or an object whose values are lists of numbers (``{"A": [1, 3], "B":
    [2]}``); surrounding prose and code fences are ignored; numbers may be strings (``"1"``).
    Answer numbers are 1-based. A number the reply leaves out becomes its own group (it was not
    shown to be equivalent to anything).

    Args:
        reply: the judge's reply (anything; a non-string is unreadable).
        m: how many answers were listed.

    Returns:
        ``(groups, None)`` with 0-based indices covering ``0..m-1`` exactly once, or
        ``(None, problem)`` when the reply is unreadable: no JSON with groups, a number outside
        1..m, or a number in two groups.
    """
    if not isinstance(reply, str):
        return None, "the reply is not text"
    text = re.sub(r"```(?:json)?", " ", reply)
    raw: list[Any] | None = None
    for obj in _json_candidates(text):
        if isinstance(obj, dict):
            if isinstance(obj.get("groups"), list):
                raw = obj["groups"]
                break
            vals = list(obj.values())
            if vals and all(isinstance(v, list) for v in vals):
                raw = vals
                break
        elif isinstance(obj, list) and obj and all(isinstance(g, list) for g in obj):
            raw = obj
            break
    if raw is None:
        return None, "no JSON groups in the reply"
    seen: set[int] = set()
    groups: list[list[int]] = []
    for g in raw:
        members = g if isinstance(g, list) else [g]
        group: list[int] = []
        for x in members:
            idx = _as_index(x)
            if idx is None or not 1 <= idx <= m:
                return None, f"answer number {x!r} is not in 1..{m}"
            if idx - 1 in seen:
                return None, f"answer {idx} is in two groups"
            seen.add(idx - 1)
            group.append(idx - 1)
        if group:
            groups.append(group)
    groups.extend([i] for i in range(m) if i not in seen)
    return groups, None


class EntailmentSimilarity:
    """Meaning classes from a model judging bidirectional entailment, batched (the
    ``entailment`` equivalence backend).

    Answers identical after :func:`~guardrail.signals.consistency.normalize_answer` share a
    class without asking. The m distinct answers are listed (each cut to ``max_chars``: head and
    tail) in :data:`GROUP_TEMPLATE`, at most ``max_items`` per call; from the second batch on the
    list starts with one representative per class found so far, and a new answer grouped with a
    representative joins that class (classes found earlier are never merged). Cost: 0 calls when
    all answers normalise alike; one call while m <= ``max_items`` (k <= 20 samples by default);
    beyond that each further call lists the c classes so far plus ``max_items - c`` (at least
    one) new answers.
    Similarity is 1.0 within a class and 0.0 across classes (threshold 0.5).

    Degrades, never raises on model output: a call that raises or a reply :func:`parse_groups`
    cannot read makes the whole matrix the lexical similarity's verdicts (``fallback``: 1 at or
    above its own threshold, else 0);
    :attr:`stats` counts calls and fallbacks with their reasons for the signal's evidence.
    Results are cached per instance by the list of distinct answers.

    Args:
        judge: the injected call ``judge(messages) -> reply`` (sync or async).
        question: the question the answers respond to (goes into the prompt).
        max_items: answers per call, >= 2 (default 20).
        max_chars: characters shown per answer, >= 40 (default 400).
        fallback: similarity used when the judge fails (default: the lexical one).

    Raises:
        ValueError: ``max_items < 2`` or ``max_chars < 40``.
    """

    def __init__(
        self,
        judge: JudgeCall,
        *,
        question: str = "",
        max_items: int = 20,
        max_chars: int = 400,
        fallback: Similarity | None = None,
    ) -> None:
        if max_items < 2:
            raise ValueError(f"max_items must be >= 2, got {max_items}")
        if max_chars < 40:
            raise ValueError(f"max_chars must be >= 40, got {max_chars}")
        self.name = "entailment"
        self.threshold = 0.5
        self.judge = judge
        self.question = question
        self.max_items = max_items
        self.max_chars = max_chars
        self.fallback = fallback if fallback is not None else lexical_fallback(question or None)
        self.stats = BackendStats()
        self._cache: dict[tuple[str, ...], list[list[int]]] = {}

    # ------------------------------------------------------------------ prompt
    def messages(self, answers: Sequence[str]) -> list[dict[str, str]]:
        """The chat messages of one grouping call over ``answers`` (numbered from 1)."""
        listing = "\n".join(
            f"{i}. {_shorten(a, self.max_chars)}" for i, a in enumerate(answers, start=1)
        )
        content = GROUP_TEMPLATE.format(question=self.question or "(not given)", answers=listing)
        return [{"role": "user", "content": content}]

    # ------------------------------------------------------------------ core
    def _distinct(self, texts: Sequence[str]) -> tuple[list[str], list[int]]:
        """Distinct answers (first occurrence of each normalised form) and, per text, the index
        of its distinct answer. Texts that normalise to "" are distinct unless raw-identical."""
        ids: dict[str, int] = {}
        distinct: list[str] = []
        owner: list[int] = []
        for t in texts:
            norm = normalize_answer(t)
            key = "n:" + norm if norm else "r:" + t.strip()
            if key not in ids:
                ids[key] = len(distinct)
                distinct.append(t)
            owner.append(ids[key])
        return distinct, owner

    def _merge(
        self, classes: list[list[int]], batch: list[int], groups: list[list[int]], n_reps: int
    ) -> None:
        """Fold one call's groups (indices into reps + batch) into ``classes`` (lists of
        distinct-answer indices). ``batch`` maps listed positions past the reps to answers."""
        for g in groups:
            reps = [p for p in g if p < n_reps]
            new = [batch[p - n_reps] for p in g if p >= n_reps]
            if reps:
                classes[reps[0]].extend(new)
            elif new:
                classes.append(new)

    def _matrix(self, owner: list[int], classes: list[list[int]]) -> NDArray[np.float64]:
        label = {}
        for c, members in enumerate(classes):
            for d in members:
                label[d] = c
        lab = np.array([label[o] for o in owner], dtype=np.int64)
        out: NDArray[np.float64] = (lab[:, None] == lab[None, :]).astype(np.float64)
        return out

    def _step(
        self, distinct: list[str], classes: list[list[int]], start: int
    ) -> tuple[list[str], list[int], int]:
        """The listing of the call that handles distinct answers from ``start`` on."""
        reps = [distinct[c[0]] for c in classes]
        room = max(1, self.max_items - len(reps)) if reps else self.max_items
        batch = list(range(start, min(len(distinct), start + room)))
        return reps + [distinct[i] for i in batch], batch, len(reps)

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Same-class matrix (1.0 / 0.0), shape ``(n, n)``; sync ``judge`` (an async one runs
        with ``asyncio.run``).

        Raises:
            RuntimeError: an async ``judge`` called from inside a running event loop (await
                :meth:`amatrix` instead).
        """
        distinct, owner = self._distinct(texts)
        key = tuple(distinct)
        if key not in self._cache:
            classes: list[list[int]] = [] if len(distinct) > 1 else [[0]] * len(distinct)
            start = 0
            while len(distinct) > 1 and start < len(distinct):
                listing, batch, n_reps = self._step(distinct, classes, start)
                self.stats.calls += 1
                try:
                    reply = call_sync(self.judge, self.messages(listing))
                except RuntimeError as exc:
                    if "running event loop" in str(exc):
                        raise
                    return self._degrade(texts, _line(exc), exc)
                except Exception as exc:  # the injected call failed: degrade, never crash
                    return self._degrade(texts, _line(exc), exc)
                groups, problem = parse_groups(reply, len(listing))
                if groups is None:
                    return self._degrade(texts, f"unreadable reply: {problem}", None)
                self._merge(classes, batch, groups, n_reps)
                start = batch[-1] + 1
            self._cache[key] = classes
        return self._matrix(owner, self._cache[key])

    async def amatrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Async :meth:`matrix`: awaits the judge when it is async (batches run in order: each
        one lists the classes the previous ones found). Same result."""
        distinct, owner = self._distinct(texts)
        key = tuple(distinct)
        if key not in self._cache:
            classes: list[list[int]] = [] if len(distinct) > 1 else [[0]] * len(distinct)
            start = 0
            while len(distinct) > 1 and start < len(distinct):
                listing, batch, n_reps = self._step(distinct, classes, start)
                self.stats.calls += 1
                try:
                    reply = await call_async(self.judge, self.messages(listing))
                except Exception as exc:  # the injected call failed: degrade, never crash
                    return self._degrade(texts, _line(exc), exc)
                groups, problem = parse_groups(reply, len(listing))
                if groups is None:
                    return self._degrade(texts, f"unreadable reply: {problem}", None)
                self._merge(classes, batch, groups, n_reps)
                start = batch[-1] + 1
            self._cache[key] = classes
        return self._matrix(owner, self._cache[key])

    def _degrade(
        self, texts: Sequence[str], problem: str, exc: BaseException | None
    ) -> NDArray[np.float64]:
        self.stats.failed(problem, exc)
        return np.asarray(fallback_verdicts(self.fallback, texts), dtype=np.float64)

    @property
    def calls(self) -> int:
        """Model calls made so far (same as ``stats.calls``)."""
        return self.stats.calls

    def report(self) -> dict[str, Any]:
        """Evidence: backend, calls, fallbacks, errors."""
        return self.stats.report(self.name)


def _line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}"[:300] if msg else type(exc).__name__
