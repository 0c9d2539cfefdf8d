"""Answer equivalence by embedding cosine similarity.

Each answer is embedded once (any OpenAI-compatible ``/v1/embeddings`` endpoint: llama.cpp,
vLLM, Ollama, OpenAI; or llama.cpp in-process), and two answers are equivalent when the cosine of
their vectors is at least the threshold. Embedding similarity as a cheap stand-in for an NLI model
in semantic clustering is one of the variants compared by Nikitin et al. 2024 (kernel language
entropy, arXiv 2405.20003) and Lin et al. 2023 (arXiv 2305.19187); cosine of mean-pooled
sentence vectors follows Sentence-BERT (Reimers & Gurevych 2019, arXiv 1908.10084).

The embedding call is injected (signals do no HTTP): ``embed(texts) -> vectors``, sync or async;
the SDK passes the provider's ``embed`` bound to the policy's model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrail.signals.consistency import Similarity
from guardrail.signals.equivalence._common import (
    BackendStats,
    call_async,
    call_sync,
    fallback_verdicts,
    lexical_fallback,
)

__all__ = ["DEFAULT_EMBEDDING_THRESHOLD", "EmbedCall", "EmbeddingSimilarity", "cosine_matrix"]

DEFAULT_EMBEDDING_THRESHOLD = 0.96
"""Default "same meaning" cosine: the value chosen for the embedded SmolLM2-135M (mean-pooled
states) on 60 TriviaQA questions and held out on 60 others and 120 GSM8K questions
(docs/signals.md, "Equivalence backends"). Mean-pooled decoder states sit close together (two
unrelated short answers reach 0.9), so a dedicated embedding model needs its own, lower value:
measure it with ``eval/equivalence.py --base-url ... --model ...``."""

EmbedCall = Callable[[list[str]], "list[list[float]] | Awaitable[list[list[float]]]"]


def cosine_matrix(vectors: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pairwise cosine similarity of row vectors, clipped to [0, 1], ones on the diagonal.

    ``cos(u, v) = u·v / (|u| |v|)``; negative cosines (opposed directions) count as 0 (no
    similarity); a zero vector has similarity 0 to every other vector.

    Args:
        vectors: shape ``(n, d)``, finite floats.

    Returns:
        Shape ``(n, n)``, float64 in [0, 1].

    Example:
        ``[[1, 0], [1, 1]]`` -> off-diagonal ``1 / sqrt(2) = 0.7071``.
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"vectors must be 2-D, got shape {v.shape}")
    norms = np.linalg.norm(v, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    unit = v / safe[:, None]
    sim = unit @ unit.T
    sim = np.where((norms[:, None] > 0) & (norms[None, :] > 0), sim, 0.0)
    out: NDArray[np.float64] = np.clip(sim, 0.0, 1.0)
    np.fill_diagonal(out, 1.0)
    return out


class _Unusable(ValueError):
    """The embedding call returned something that is not one finite vector per text."""


class EmbeddingSimilarity:
    """Cosine similarity of answer embeddings (the ``embedding`` equivalence backend).

    Per :meth:`matrix`/:meth:`amatrix` call the distinct answers not embedded yet are sent in
    **one** ``embed`` call; vectors are cached per instance (the SDK makes one instance per
    guarded chat, so "cached per call"): the answer and its k samples cost one embedding request.
    Answers are compared as given, stripped (or after ``preprocess``); an answer that is empty
    after that is similar to nothing but itself and is not sent.

    Degrades, never raises on model output: when ``embed`` raises, or returns the wrong number
    of vectors, vectors of different lengths, or non-finite values, the whole matrix is the
    lexical similarity's verdicts (``fallback``: 1 at or above its own threshold, else 0, so they
    hold under this backend's threshold), and :attr:`stats` counts the fallback with its reason
    (reported in the signal's evidence).

    Args:
        embed: the injected call, ``embed(list_of_texts) -> list_of_vectors`` (sync or async).
        threshold: cosine at or above which two answers are equivalent, in (0, 1]; default
            :data:`DEFAULT_EMBEDDING_THRESHOLD`.
        preprocess: optional ``str -> str`` applied before embedding (e.g. answer extraction).
        fallback: similarity used when the embedding call fails (default: the lexical one).
        question: the question (only given to the default fallback; embeddings ignore it).

    Raises:
        ValueError: a threshold outside (0, 1].

    Example:
        ``EmbeddingSimilarity(lambda ts: [[1.0, 0.0] if "Paris" in t else [0.0, 1.0] for t in ts])
        .matrix(["Paris", "It is Paris", "Lyon"])`` -> 1 for the first pair, 0 for the others.
    """

    def __init__(
        self,
        embed: EmbedCall,
        *,
        threshold: float = DEFAULT_EMBEDDING_THRESHOLD,
        preprocess: Callable[[str], str] | None = None,
        fallback: Similarity | None = None,
        question: str | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        self.name = "embedding"
        self.threshold = float(threshold)
        self.embed = embed
        self.preprocess = preprocess
        self.fallback = fallback if fallback is not None else lexical_fallback(question)
        self.stats = BackendStats()
        self._cache: dict[str, NDArray[np.float64]] = {}

    # ------------------------------------------------------------------ helpers
    def _keys(self, texts: Sequence[str]) -> list[str]:
        out = []
        for t in texts:
            s = self.preprocess(t) if self.preprocess is not None else t
            out.append(s.strip() if isinstance(s, str) else "")
        return out

    def _todo(self, keys: list[str]) -> list[str]:
        return list(dict.fromkeys(k for k in keys if k and k not in self._cache))

    def _store(self, todo: list[str], vectors: Any) -> None:
        if not isinstance(vectors, list | tuple) or len(vectors) != len(todo):
            got = len(vectors) if isinstance(vectors, list | tuple) else type(vectors).__name__
            raise _Unusable(f"embed returned {got} vectors for {len(todo)} texts")
        try:
            arr = np.asarray(vectors, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise _Unusable(f"embed returned vectors that are not numbers: {exc}") from exc
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise _Unusable(f"embed returned an array of shape {arr.shape}, not (n, d)")
        if not np.isfinite(arr).all():
            raise _Unusable("embed returned non-finite values")
        if self._cache:
            width = next(iter(self._cache.values())).shape[0]
            if arr.shape[1] != width:
                raise _Unusable(f"vectors of length {arr.shape[1]} after {width}")
        for k, row in zip(todo, arr, strict=True):
            self._cache[k] = row

    def _matrix(self, keys: list[str]) -> NDArray[np.float64]:
        n = len(keys)
        live = [i for i, k in enumerate(keys) if k]
        sim = np.eye(n, dtype=np.float64)
        if live:
            vecs = np.stack([self._cache[keys[i]] for i in live])
            sub = cosine_matrix(vecs)
            sim[np.ix_(live, live)] = sub
        # identical keys are the same answer (even when their vector is zero)
        for i in range(n):
            for j in range(i + 1, n):
                if keys[i] and keys[i] == keys[j]:
                    sim[i, j] = sim[j, i] = 1.0
        np.fill_diagonal(sim, 1.0)
        return sim

    def _degrade(self, texts: Sequence[str], problem: str, exc: BaseException | None) -> Any:
        self.stats.failed(problem, exc)
        return fallback_verdicts(self.fallback, texts)

    # ------------------------------------------------------------------ protocol
    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Pairwise cosine, shape ``(n, n)``, values in [0, 1] (sync ``embed``; an async one is
        run with ``asyncio.run``).

        Raises:
            RuntimeError: an async ``embed`` called from inside a running event loop (await
                :meth:`amatrix` instead).
        """
        keys = self._keys(texts)
        todo = self._todo(keys)
        if todo:
            self.stats.calls += 1
            try:
                self._store(todo, call_sync(self.embed, todo))
            except RuntimeError as exc:
                if "running event loop" in str(exc):
                    raise
                return np.asarray(self._degrade(texts, _line(exc), exc), dtype=np.float64)
            except _Unusable as exc:
                return np.asarray(self._degrade(texts, str(exc), None), dtype=np.float64)
            except Exception as exc:  # the injected call failed: degrade, never crash
                return np.asarray(self._degrade(texts, _line(exc), exc), dtype=np.float64)
        return self._matrix(keys)

    async def amatrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Async :meth:`matrix`: awaits ``embed`` when it is async. Same result."""
        keys = self._keys(texts)
        todo = self._todo(keys)
        if todo:
            self.stats.calls += 1
            try:
                self._store(todo, await call_async(self.embed, todo))
            except _Unusable as exc:
                return np.asarray(self._degrade(texts, str(exc), None), dtype=np.float64)
            except Exception as exc:  # the injected call failed: degrade, never crash
                return np.asarray(self._degrade(texts, _line(exc), exc), dtype=np.float64)
        return self._matrix(keys)

    @property
    def calls(self) -> int:
        """Model calls made so far (same as ``stats.calls``)."""
        return self.stats.calls

    def report(self) -> dict[str, Any]:
        """Evidence: backend, calls, fallbacks, errors, threshold."""
        return {**self.stats.report(self.name), "threshold": self.threshold}


def _line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}"[:300] if msg else type(exc).__name__
