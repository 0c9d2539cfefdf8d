"""Answer equivalence: interchangeable backends behind one protocol, chosen by name.

Every backend implements :class:`~guardrail.signals.consistency.Similarity` (``name``,
``threshold``, ``matrix(texts)``) and the model-backed ones also
:class:`~guardrail.signals.consistency.AsyncSimilarity` (``amatrix``), so the clustering code
(:func:`~guardrail.signals.self_consistency`, :func:`~guardrail.signals.ensemble_agreement`) never
knows which one it uses. A backend that needs a model receives the call (``embed=`` or
``judge=``); it never builds a client (signals do no HTTP; the SDK injects its provider).

* ``lexical`` (default): :class:`~guardrail.signals.answers.AnswerSimilarity`, no model call;
* ``embedding``: :class:`.embedding.EmbeddingSimilarity`, one embeddings request per matrix
  (vectors cached per instance);
* ``entailment``: :class:`.entailment.EntailmentSimilarity`, one judge chat call while there are
  at most 20 distinct answers.

A failed model call or an unreadable reply falls back to the lexical verdicts for that matrix,
counted in the backend's ``stats`` (never raised).

Measured trade-offs (AUROC, calls, latency): docs/signals.md, "Equivalence backends".
"""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz, process

from guardrail.signals.answers import AnswerSimilarity
from guardrail.signals.consistency import AsyncSimilarity, FuzzySimilarity, Similarity
from guardrail.signals.equivalence._common import BackendStats, PrecomputedSimilarity
from guardrail.signals.equivalence.embedding import (
    DEFAULT_EMBEDDING_THRESHOLD,
    EmbeddingSimilarity,
    cosine_matrix,
)
from guardrail.signals.equivalence.entailment import (
    GROUP_TEMPLATE,
    EntailmentSimilarity,
    parse_groups,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_EMBEDDING_THRESHOLD",
    "GROUP_TEMPLATE",
    "MODEL_BACKENDS",
    "BackendStats",
    "EmbeddingSimilarity",
    "EntailmentSimilarity",
    "PrecomputedSimilarity",
    "backend_report",
    "cosine_matrix",
    "get_equivalence",
    "parse_groups",
]

BACKENDS: tuple[str, ...] = ("lexical", "embedding", "entailment")
"""Backend names a policy may choose (``samples 7 agreement "entailment"``)."""
DEFAULT_BACKEND = "lexical"
"""The default: no model calls (see docs/signals.md, "Equivalence backends", for why)."""
MODEL_BACKENDS: dict[str, str] = {"embedding": "embed", "entailment": "judge"}
"""Backends that need a model, and the keyword their model call is passed as."""


def get_equivalence(
    name: str = DEFAULT_BACKEND, *, question: str | None = None, **deps: Any
) -> Similarity | AsyncSimilarity:
    """Build an answer-equivalence backend by name.

    Args:
        name: one of :data:`BACKENDS`.
        question: the question the answers respond to (drives answer extraction in ``lexical``
            and the lexical fallback, and goes into the ``entailment`` prompt).
        **deps: the backend's arguments. ``lexical``: those of
            :class:`~guardrail.signals.answers.AnswerSimilarity` (``threshold``).
            ``embedding``: ``embed`` (required, ``texts -> vectors``, sync or async),
            ``threshold``, ``preprocess``, ``fallback``. ``entailment``: ``judge`` (required,
            ``messages -> reply``, sync or async), ``question``, ``max_items``, ``max_chars``,
            ``fallback``.

    Returns:
        A new backend instance (model-backed ones cache per instance: make one per request).

    Raises:
        ValueError: an unknown name (with the closest known name), or a model-backed backend
            without its model call.
        TypeError: an argument the backend does not take.
    """
    if name == "lexical":
        return AnswerSimilarity(question, **deps)
    if name in MODEL_BACKENDS:
        needs = MODEL_BACKENDS[name]
        if deps.get(needs) is None:
            raise ValueError(f"the {name!r} equivalence backend needs its model call: {needs}=...")
        if name == "embedding":
            return EmbeddingSimilarity(question=question, **deps)
        return EntailmentSimilarity(question=question or "", **deps)
    match = process.extractOne(name, BACKENDS, scorer=fuzz.ratio, score_cutoff=60)
    hint = f"; did you mean {match[0]!r}?" if match else ""
    raise ValueError(f"unknown equivalence backend {name!r} (known: {', '.join(BACKENDS)}){hint}")


def backend_report(similarity: object) -> dict[str, Any]:
    """Evidence about a backend: its ``report()`` when it has one (calls, fallbacks, errors),
    else ``{"backend": name, "calls": 0, "fallbacks": 0, "errors": []}`` (``None``, the
    default similarity, is ``lexical``)."""
    report = getattr(similarity, "report", None)
    if callable(report):
        out = report()
        if isinstance(out, dict):
            return out
    lexical = similarity is None or isinstance(similarity, AnswerSimilarity | FuzzySimilarity)
    return {
        "backend": "lexical" if lexical else str(getattr(similarity, "name", "?")),
        "calls": 0,
        "fallbacks": 0,
        "errors": [],
    }
