"""Self-consistency: semantic agreement over k sampled answers.

Sample the same question k times, group the answers into semantic equivalence classes, and read
uncertainty from how the samples spread over the classes (Wang et al. 2023, self-consistency,
arXiv 2203.11171; Kuhn et al. 2023, semantic entropy, arXiv 2302.09664; Manakul et al. 2023,
SelfCheckGPT, arXiv 2303.08896).

Pipeline: non-answers (refusals, "I don't know", restatements, echoed templates, loops; see
:func:`reply_kinds`) are set aside as singleton clusters -> pairwise similarity matrix over the
answers (a :class:`Similarity`; the default :class:`~guardrail.signals.answers.AnswerSimilarity`
compares the answers the replies give, extracted with the question in mind; the older
:class:`FuzzySimilarity` compares whole texts with rapidfuzz) -> greedy clustering against each
cluster's first member (Kuhn et al. 2023, Algorithm 1, with "same meaning" = similarity >=
threshold) -> agreement, semantic entropy, mean pairwise similarity.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz, process

from guardrail.signals.answers import AnswerSimilarity
from guardrail.signals.base import SignalResult
from guardrail.signals.nonanswer import classify_reply

__all__ = [
    "DEFAULT_THRESHOLD",
    "JUDGE_TEMPLATE",
    "LONG_ANSWER_THRESHOLD",
    "LONG_ANSWER_WORDS",
    "AsyncSimilarity",
    "Cluster",
    "ConsistencyResult",
    "FuzzySimilarity",
    "LLMJudgeSimilarity",
    "Similarity",
    "cluster_answers",
    "key_claims",
    "normalize_answer",
    "reply_kinds",
    "self_consistency",
    "self_consistency_async",
]

DEFAULT_THRESHOLD = 0.90
"""Default "same meaning" threshold on rapidfuzz ``token_set_ratio`` / 100 for short answers."""
LONG_ANSWER_WORDS = 40
"""Answers with more words than this are "long": they are compared by their key claims."""
LONG_ANSWER_THRESHOLD = 0.70
"""Default threshold when either answer of a pair is long (key-claim comparison)."""

# --- normalisation ------------------------------------------------------------------------------

_LEADINS = re.compile(
    r"^(?:(?:so|well|ok|okay)[,\s]+)?(?:(?:i\s+think|i\s+believe|i'm\s+sure|i\s+am\s+sure)\s+)?"
    r"(?:(?:the\s+)?(?:correct\s+|final\s+|right\s+|best\s+)?(?:answer|option|choice)"
    r"(?:\s+is)?\s*[:\-]?\s*|it\s+is\s+|it's\s+|it\s+was\s+|that\s+is\s+|that's\s+|this\s+is\s+)",
    re.IGNORECASE,
)
# "B", "(B)", "B.", "[b]" -> letter; "B) Paris", "B. Paris", "B: Paris" -> letter (upper case only).
_MC_ONLY = re.compile(r"[(\[]?(?P<letter>[A-Ja-j])[)\].:]?")
_MC_LEAD = re.compile(r"[(\[]?(?P<letter>[A-J])(?:[)\]]|[.:])\s+\S")
_NUMBER_RE = re.compile(r"(?<![\w.])[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|[-+]?\d+(?:\.\d+)?")
_ATOMIC_RE = re.compile(r"[a-j]|-?\d+(?:\.\d+)?")
_NUM_TOKEN_RE = re.compile(r"-?\d+(?:\.\d+)?")
_MARKUP_RE = re.compile(r"[*_`#>]+")
_NON_WORD_RE = re.compile(r"[^\w\s]")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_NEGATION = re.compile(r"\b(?:not|no|never|none|neither|nor|cannot|without)\b|n't\b")
_WORD_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip


def _canon_number(tok: str) -> str:
    s = tok.replace(",", "")
    try:
        x = float(s)
    except ValueError:
        return s
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def normalize_answer(text: str) -> str:
    """Normalise an answer for comparison.

    Steps: Unicode NFKC; a leading multiple-choice letter ("B", "(B)", "B.", "B) ...",
    "The answer is B.") becomes the bare lower-case letter; lead-ins ("The answer is", "It's",
    "I think") are dropped; numbers are canonical ("1,000" and "1000.0" -> "1000"; small number
    words "three" -> "3"); lower case; punctuation removed; articles (a, an, the) removed;
    whitespace collapsed. SQuAD-style normalisation (Rajpurkar et al. 2016, arXiv 1606.05250)
    plus the lead-in, number and letter rules.

    Args:
        text: an answer (any length).

    Returns:
        The normalised string ("" for an empty or punctuation-only answer).
    """
    s = unicodedata.normalize("NFKC", text).strip()
    s = _MARKUP_RE.sub(" ", s).strip()
    s = s.replace("\u2019", "'")
    s = _LEADINS.sub("", s, count=1).strip()
    m = _MC_ONLY.fullmatch(s) or _MC_LEAD.match(s)
    if m:
        return m.group("letter").lower()
    s = _NUMBER_RE.sub(lambda mm: " " + _canon_number(mm.group(0)) + " ", s)
    s = s.lower()
    s = _NON_WORD_RE.sub(" ", s)
    s = _ARTICLES.sub(" ", s)
    words = [_WORD_NUMBERS.get(w, w) for w in s.split()]
    return " ".join(words)


_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "as",
        "from",
        "which",
        "who",
        "whom",
        "what",
        "when",
        "where",
        "why",
        "how",
        "can",
        "could",
        "would",
        "should",
        "will",
        "may",
        "might",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
    ]
)
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def key_claims(text: str, *, max_sentences: int = 3) -> str:
    """Key-claim summary of a long answer, used to compare long answers cheaply.

    The first sentence (answers usually lead with their claim) plus following sentences that
    carry a number or a negation, at most ``max_sentences`` sentences, normalised, stop words
    removed. A heuristic (guardrail's), documented in docs/signals.md; for paraphrase-heavy long
    answers use :class:`LLMJudgeSimilarity`.

    Args:
        text: the answer.
        max_sentences: how many sentences to keep (>= 1).

    Returns:
        Space-separated content words of the key sentences.
    """
    sents = [s for s in _SENTENCE_RE.split(text.strip()) if s.strip()]
    if not sents:
        return ""
    keep = [sents[0]]
    for s in sents[1:]:
        if len(keep) >= max_sentences:
            break
        if re.search(r"\d", s) or _NEGATION.search(s.lower()):
            keep.append(s)
    words = normalize_answer(" ".join(keep)).split()
    return " ".join(w for w in words if w not in _STOPWORDS)


# --- similarity ---------------------------------------------------------------------------------


@runtime_checkable
class Similarity(Protocol):
    """Pairwise answer similarity.

    ``matrix(texts)`` returns a symmetric float64 array of shape ``(n, n)`` with values in
    [0, 1] (1 = same meaning) and ones on the diagonal, for the *raw* answers (implementations
    normalise as they need). Two answers are equivalent when their similarity is
    ``>= threshold``.
    """

    name: str
    threshold: float

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]: ...


@runtime_checkable
class AsyncSimilarity(Protocol):
    """A similarity whose pairwise matrix is computed asynchronously (e.g. by an LLM judge)."""

    name: str
    threshold: float

    async def amatrix(self, texts: Sequence[str]) -> NDArray[np.float64]: ...


def _keys(values: Sequence[str]) -> NDArray[np.int64]:
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(v, len(ids)) for v in values], dtype=np.int64)


class FuzzySimilarity:
    """Default similarity: rapidfuzz ``token_set_ratio`` over normalised answers, with guards.

    * Short answers (<= ``LONG_ANSWER_WORDS`` words): ``fuzz.token_set_ratio`` / 100 of the
      normalised answers, threshold ``DEFAULT_THRESHOLD`` (0.90). token_set_ratio scores a
      subset as 1.0, so "Paris" ~ "Paris, France"; 0.90 keeps "Austria" apart from "Australia"
      (0.875) while tolerating one-letter typos in long words.
    * A pair where either answer is long is compared on :func:`key_claims` (same scorer); such
      pairs are rescaled so that ``LONG_ANSWER_THRESHOLD`` (0.70) maps onto ``threshold``.
    * Guards for pairs of short answers: atomic answers (a bare multiple-choice letter or a
      bare number) only match exactly; answers that both contain numbers match only if they
      contain the same numbers; answers that differ in polarity (exactly one contains a
      negation) do not match.

    The matrix is computed with ``rapidfuzz.process.cdist`` (vectorised, no Python double loop);
    the guards are numpy broadcasts.

    Args:
        threshold: equivalence threshold in (0, 1]; default 0.90.
        scorer: a rapidfuzz scorer returning 0-100; default ``fuzz.token_set_ratio``.
        long_words: word count above which an answer is compared by key claims.
        long_threshold: raw-score threshold for long pairs, in (0, 1].
        workers: rapidfuzz ``cdist`` workers (1 = no threads; -1 = all cores).

    Raises:
        ValueError: a threshold outside (0, 1].
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        scorer: Callable[..., float] = fuzz.token_set_ratio,
        long_words: int = LONG_ANSWER_WORDS,
        long_threshold: float = LONG_ANSWER_THRESHOLD,
        workers: int = 1,
    ) -> None:
        for t in (threshold, long_threshold):
            if not 0.0 < t <= 1.0:
                raise ValueError(f"threshold must be in (0, 1], got {t!r}")
        self.name = f"rapidfuzz.{getattr(scorer, '__name__', 'scorer')}"
        self.threshold = threshold
        self.scorer = scorer
        self.long_words = long_words
        self.long_threshold = long_threshold
        self.workers = workers

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Pairwise similarity, shape ``(n, n)``, values in [0, 1]; see the class docstring."""
        n = len(texts)
        if n == 0:
            return np.zeros((0, 0), dtype=np.float64)
        long = np.array([len(t.split()) > self.long_words for t in texts], dtype=bool)
        comp = [
            key_claims(t) if lg else normalize_answer(t) for t, lg in zip(texts, long, strict=True)
        ]
        sim = process.cdist(comp, comp, scorer=self.scorer, dtype=np.float64, workers=self.workers)
        sim = np.asarray(sim, dtype=np.float64) / 100.0
        long_pair = long[:, None] | long[None, :]
        short_pair = ~long_pair
        # long pairs: rescale so long_threshold lands on threshold
        if long_pair.any() and self.long_threshold != self.threshold:
            scaled = np.where(
                sim >= self.long_threshold,
                self.threshold
                + (sim - self.long_threshold)
                * (1 - self.threshold)
                / max(1e-12, 1 - self.long_threshold),
                sim * self.threshold / self.long_threshold,
            )
            sim = np.where(long_pair, scaled, sim)
        # short pairs only: atomic answers (letter / bare number) match exactly
        atomic = np.array([bool(_ATOMIC_RE.fullmatch(c)) for c in comp]) & ~long
        key = _keys(comp)
        same = key[:, None] == key[None, :]
        atom_pair = (atomic[:, None] | atomic[None, :]) & short_pair
        sim = np.where(atom_pair, same.astype(np.float64), sim)
        # short pairs only: numbers must agree, polarity must agree
        nums = [" ".join(sorted(set(_NUM_TOKEN_RE.findall(c)))) for c in comp]
        has_num = np.array([bool(x) for x in nums])
        nkey = _keys(nums)
        num_clash = has_num[:, None] & has_num[None, :] & (nkey[:, None] != nkey[None, :])
        neg = np.array([bool(_NEGATION.search(c)) for c in comp])
        clash = (num_clash | (neg[:, None] != neg[None, :])) & short_pair
        sim = np.where(clash, 0.0, sim)
        # answers that normalise to nothing (empty, or only punctuation / emoji / symbols) are
        # like nothing, except that two identical ones ("🙂" and "🙂") are the same answer
        empty = np.array([not c for c in comp])
        raw = _keys([unicodedata.normalize("NFKC", t).strip() for t in texts])
        same_raw = (raw[:, None] == raw[None, :]) & np.array([bool(t.strip()) for t in texts])
        sim = np.where(empty[:, None] | empty[None, :], (empty[:, None] & same_raw) * 1.0, sim)
        np.fill_diagonal(sim, 1.0)
        out: NDArray[np.float64] = np.clip(sim, 0.0, 1.0)
        return out


JUDGE_TEMPLATE = (
    "Do these two answers to the question say the same thing (the same final answer, even if "
    "worded differently)? Reply with only yes or no.\n\n"
    "Question: {question}\n\nAnswer 1: {a}\n\nAnswer 2: {b}"
)
"""Prompt for the LLM-judge similarity: one yes/no call per pair, in the spirit of the
bidirectional-entailment check of Kuhn et al. 2023 (arXiv 2302.09664) asked of a chat model."""

JudgeCall = Callable[[list[dict[str, str]]], "str | Awaitable[str]"]


def _parse_yes_no(reply: object) -> bool | None:
    if not isinstance(reply, str):
        return None
    m = re.search(r"\b(yes|no)\b", reply.strip().lower())
    if not m:
        return None
    return m.group(1) == "yes"


class LLMJudgeSimilarity:
    """Similarity decided by an LLM judge: "do these two answers say the same thing? yes/no".

    The model call is injected (guardrail's signals do no HTTP): ``judge(messages) -> reply``,
    sync or async, receiving OpenAI-shaped messages built from :data:`JUDGE_TEMPLATE`. "yes" is
    similarity 1.0, "no" 0.0; an unreadable reply or a call that raises counts as 0.0 ("not shown
    to be the same") and is counted in :attr:`failures`. The judge is asked once per unordered
    pair (k(k-1)/2 calls for k answers), identical normalised answers are 1.0 without a call, and
    results are cached per instance.

    Args:
        judge: the injected yes/no call.
        question: the question both answers respond to (goes into the prompt).
        threshold: equivalence threshold (default 0.5: "yes").
        max_concurrency: parallel judge calls in :meth:`amatrix`.
    """

    def __init__(
        self,
        judge: JudgeCall,
        *,
        question: str = "",
        threshold: float = 0.5,
        max_concurrency: int = 8,
    ) -> None:
        self.name = "llm_judge"
        self.judge = judge
        self.question = question
        self.threshold = threshold
        self.max_concurrency = max(1, max_concurrency)
        self.calls = 0
        self.failures = 0
        self._cache: dict[tuple[str, str], float] = {}

    def _messages(self, a: str, b: str) -> list[dict[str, str]]:
        content = JUDGE_TEMPLATE.format(question=self.question or "(not given)", a=a, b=b)
        return [{"role": "user", "content": content}]

    def _pairs(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], list[tuple[int, int]]]:
        n = len(texts)
        sim = np.eye(n, dtype=np.float64)
        norm = [normalize_answer(t) for t in texts]
        todo: list[tuple[int, int]] = []
        for i in range(n):
            for j in range(i + 1, n):
                if norm[i] and norm[i] == norm[j]:
                    sim[i, j] = sim[j, i] = 1.0
                elif (texts[i], texts[j]) in self._cache:
                    sim[i, j] = sim[j, i] = self._cache[(texts[i], texts[j])]
                else:
                    todo.append((i, j))
        return sim, todo

    def _record(
        self, sim: NDArray[np.float64], texts: Sequence[str], i: int, j: int, r: object
    ) -> None:
        self.calls += 1
        verdict = _parse_yes_no(r)
        if verdict is None:
            self.failures += 1
        v = 1.0 if verdict else 0.0
        sim[i, j] = sim[j, i] = v
        self._cache[(texts[i], texts[j])] = self._cache[(texts[j], texts[i])] = v

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Pairwise judge verdicts (sync judge; an async judge is run with ``asyncio.run``).

        Raises:
            RuntimeError: an async judge called from inside a running event loop (use
                :func:`self_consistency_async`, which awaits :meth:`amatrix`).
        """
        if inspect.iscoroutinefunction(self.judge):
            _no_running_loop()
            return asyncio.run(self.amatrix(texts))
        sim, todo = self._pairs(texts)
        for i, j in todo:
            try:
                r: object = self.judge(self._messages(texts[i], texts[j]))
                if inspect.isawaitable(r):
                    _no_running_loop(r)
                    r = asyncio.run(_await(r))
            except RuntimeError as exc:
                if str(exc).startswith(_LOOP_MSG):
                    raise
                r = None
            except Exception:  # the injected call failed: degrade, never crash
                r = None
            self._record(sim, texts, i, j, r)
        return sim

    async def amatrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Pairwise judge verdicts, calls run concurrently (at most ``max_concurrency``)."""
        sim, todo = self._pairs(texts)
        sem = asyncio.Semaphore(self.max_concurrency)

        async def one(i: int, j: int) -> None:
            async with sem:
                try:
                    r: object = self.judge(self._messages(texts[i], texts[j]))
                    if inspect.isawaitable(r):
                        r = await r
                except Exception:  # the injected call failed: degrade, never crash
                    r = None
            self._record(sim, texts, i, j, r)

        await asyncio.gather(*(one(i, j) for i, j in todo))
        return sim


async def _await(x: Awaitable[object]) -> object:
    return await x


_LOOP_MSG = "an async judge cannot run inside a running event loop"


def _no_running_loop(pending: object = None) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    close = getattr(pending, "close", None)
    if callable(close):
        close()  # do not leave an un-awaited coroutine behind
    raise RuntimeError(f"{_LOOP_MSG}: use self_consistency_async / LLMJudgeSimilarity.amatrix")


# --- clustering and the result ------------------------------------------------------------------


class Cluster(BaseModel):
    """One semantic equivalence class.

    Attributes:
        members: indices into the (non-empty) answers, in input order.
        answers: the answers themselves (as given).
        representative: the first member's answer (the cluster's reference, Kuhn et al. 2023).
        size: number of members.
        weight: total weight (= size unless weights were given).
    """

    model_config = ConfigDict(frozen=True)

    members: list[int]
    answers: list[str]
    representative: str
    size: int
    weight: float


def cluster_answers(sim: NDArray[np.float64], threshold: float) -> list[list[int]]:
    """Greedy clustering over a similarity matrix (Kuhn et al. 2023, arXiv 2302.09664, Alg. 1).

    Each answer joins the first existing cluster whose first member is ``>= threshold`` similar
    to it (ties: the most similar representative); otherwise it starts a new cluster.

    Args:
        sim: square similarity matrix, shape ``(n, n)``, values in [0, 1].
        threshold: equivalence threshold.

    Returns:
        Clusters as lists of indices, in order of their first member.

    Raises:
        ValueError: ``sim`` is not square.
    """
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"similarity matrix must be square, got shape {sim.shape}")
    clusters: list[list[int]] = []
    for i in range(sim.shape[0]):
        reps = [c[0] for c in clusters]
        if reps:
            scores = sim[i, reps]
            best = int(np.argmax(scores))
            if scores[best] >= threshold:
                clusters[best].append(i)
                continue
        clusters.append([i])
    return clusters


class ConsistencyResult(SignalResult):
    """Self-consistency over k samples.

    Attributes:
        value: agreement = size of the largest cluster / k, in [1/k, 1]; None if no usable sample.
        k: number of non-empty samples used (non-answers included: they are samples that gave
            no answer).
        clusters: the semantic equivalence classes, largest first; every non-answer is a cluster
            of its own.
        semantic_entropy: discrete semantic entropy in nats, ``-Σ_c p_c ln p_c`` with
            ``p_c = |c| / k`` (Kuhn et al. 2023, arXiv 2302.09664; discrete form of Farquhar et
            al. 2024), or with ``p_c`` from sample probabilities when log-probs were given.
            0 when all samples agree; ``ln k`` when all differ.
        normalized_entropy: ``semantic_entropy / ln k`` in [0, 1] (0 when k == 1).
        mean_pairwise_similarity: mean similarity over the k(k-1)/2 sample pairs (None if k < 2).
        primary_in_majority: whether the primary answer falls in a largest cluster (None when no
            primary was given; False when the primary is a non-answer).
        primary_agreement: size of the primary answer's cluster / k: the largest cluster whose
            reference answer the primary is equivalent to (0 when it matches none or is itself a
            non-answer; None when no primary was given).
        non_answers: sample index -> kind (``refusal``, ``dont_know``, ``restatement``,
            ``template``, ``loop``, ``empty``) for the samples that gave no answer.
        primary_kind: the primary's reply kind (``answer`` or a non-answer kind; None without a
            primary).
        similarity: name of the similarity used; threshold: its threshold.
        dropped: indices of empty samples that were left out.
    """

    name: str = "consistency"
    k: int = 0
    clusters: list[Cluster] = Field(default_factory=list)
    semantic_entropy: float | None = None
    normalized_entropy: float | None = None
    mean_pairwise_similarity: float | None = None
    primary_in_majority: bool | None = None
    primary_agreement: float | None = None
    non_answers: dict[int, str] = Field(default_factory=dict)
    primary_kind: str | None = None
    similarity: str = ""
    threshold: float = DEFAULT_THRESHOLD
    dropped: list[int] = Field(default_factory=list)


def reply_kinds(texts: Sequence[str], *, question: str | None = None) -> list[str]:
    """The kind of each reply: ``answer`` or a non-answer kind.

    Uses :func:`guardrail.signals.nonanswer.classify_reply` (refusal, dont_know, restatement,
    template, loop, empty). A reply the detector fails on counts as an ``answer`` (signals never
    raise on model output).

    Args:
        texts: the replies.
        question: the question they answer (lets a restatement of it be recognised).

    Returns:
        One kind per text, same order.
    """
    out: list[str] = []
    for t in texts:
        try:
            out.append(str(classify_reply(t, question=question).kind))
        except Exception:  # a detector failure must not lose the signal: count it as an answer
            out.append("answer")
    return out


def _prepare(
    samples: Sequence[str], primary: str | None
) -> tuple[list[str], list[int], list[int], list[str]]:
    if isinstance(samples, str):
        raise TypeError("samples must be a sequence of answers, not a single string")
    kept: list[str] = []
    kept_idx: list[int] = []
    dropped: list[int] = []
    for i, s in enumerate(samples):
        if isinstance(s, str) and s.strip():
            kept.append(s)
            kept_idx.append(i)
        else:
            dropped.append(i)
    texts = ([primary] if primary is not None else []) + kept
    return kept, kept_idx, dropped, texts


def _embed(sub: NDArray[np.float64], answer_idx: list[int], n: int) -> NDArray[np.float64]:
    """Place the answers' similarity matrix into an n x n matrix where every non-answer is
    similar to nothing but itself (so the greedy clustering makes it a singleton)."""
    full = np.eye(n, dtype=np.float64)
    if answer_idx:
        ix = np.array(answer_idx, dtype=np.int64)
        full[np.ix_(ix, ix)] = sub
    return full


def _split_kinds(texts: list[str], question: str | None) -> tuple[list[str], list[int]]:
    kinds = reply_kinds(texts, question=question)
    return kinds, [i for i, k in enumerate(kinds) if k == "answer"]


def _finish(
    sim: NDArray[np.float64],
    kept: list[str],
    kept_idx: list[int],
    dropped: list[int],
    primary: str | None,
    name: str,
    threshold: float,
    sample_logprobs: Sequence[float] | None,
    kinds: list[str],
) -> ConsistencyResult:
    off = 1 if primary is not None else 0
    s = sim[off:, off:]
    k = len(kept)
    groups = cluster_answers(s, threshold)
    sizes = np.array([len(g) for g in groups], dtype=np.float64)
    if sample_logprobs is not None:
        lp = np.array([sample_logprobs[i] for i in kept_idx], dtype=np.float64)
        mass = np.array([np.exp(lp[g]).sum() for g in groups])
        p = mass / mass.sum() if mass.sum() > 0 else sizes / k
    else:
        p = sizes / k
    p = p[p > 0]
    entropy = float(-(p * np.log(p)).sum())
    entropy = max(0.0, entropy)
    order = sorted(range(len(groups)), key=lambda g: (-len(groups[g]), groups[g][0]))
    clusters = [
        Cluster(
            members=[kept_idx[i] for i in groups[g]],
            answers=[kept[i] for i in groups[g]],
            representative=kept[groups[g][0]],
            size=len(groups[g]),
            weight=float(len(groups[g])),
        )
        for g in order
    ]
    largest = len(groups[order[0]])
    agreement = largest / k
    iu = np.triu_indices(k, 1)
    mean_pair = float(s[iu].mean()) if k >= 2 else None
    non_answers = {kept_idx[i]: kind for i, kind in enumerate(kinds[off:]) if kind != "answer"}
    primary_kind = kinds[0] if primary is not None else None
    in_major: bool | None = None
    prim_agree: float | None = None
    if primary is not None:
        # The primary belongs to the largest cluster whose reference (first member) it matches
        # (ties: the more similar reference, then the earlier cluster), the way a sample would
        # join a cluster in Kuhn et al.'s Algorithm 1. Counting every sample that matches the
        # primary instead is wrong for a non-transitive similarity: "Paris, Lyon or Marseille"
        # matches "Paris", "Lyon" and "Marseille" samples alike (token sets are subsets), which
        # made an answer that hedges across every sampled answer look fully consistent.
        # The primary is set against each cluster as a whole: it belongs to the cluster holding
        # the most samples equivalent to it (ties: the larger cluster, then the earlier), and
        # only those samples count. Matching the first member alone made the answer's agreement
        # depend on which sample happened to come first ("New Zealand in 1893" is not "New
        # Zealand did this in 1892", but it is the five plain "New Zealand" samples clustered
        # behind it). A primary that is a non-answer agrees with nothing (its row is zero).
        row = sim[0, 1:] >= threshold
        matched = [int(row[g].sum()) for g in groups]
        best = max(range(len(groups)), key=lambda g: (matched[g], len(groups[g]), -g))
        if matched[best] > 0 and primary_kind == "answer":
            prim_agree = matched[best] / k
            in_major = len(groups[best]) == largest
        else:
            prim_agree = 0.0
            in_major = False
    evidence: dict[str, Any] = {
        "k": k,
        "clusters": [[c.representative, c.size] for c in clusters],
        "similarity": name,
        "threshold": threshold,
    }
    if non_answers:
        evidence["non_answers"] = non_answers
    if primary_kind not in (None, "answer"):
        evidence["primary_kind"] = primary_kind
    if dropped:
        evidence["dropped_empty"] = dropped
    return ConsistencyResult(
        value=agreement,
        evidence=evidence,
        k=k,
        clusters=clusters,
        semantic_entropy=entropy,
        normalized_entropy=min(1.0, entropy / math.log(k)) if k > 1 else 0.0,
        mean_pairwise_similarity=mean_pair,
        primary_in_majority=in_major,
        primary_agreement=prim_agree,
        non_answers=non_answers,
        primary_kind=primary_kind,
        similarity=name,
        threshold=threshold,
        dropped=dropped,
    )


def _empty(dropped: list[int], name: str, threshold: float) -> ConsistencyResult:
    reason = "no samples" if not dropped else "all samples are empty"
    return ConsistencyResult(
        value=None,
        reason=reason,
        evidence={"reason": reason},
        dropped=dropped,
        similarity=name,
        threshold=threshold,
    )


def _check_logprobs(samples: Sequence[str], sample_logprobs: Sequence[float] | None) -> None:
    if sample_logprobs is not None and len(sample_logprobs) != len(samples):
        raise ValueError(
            f"sample_logprobs has {len(sample_logprobs)} entries for {len(samples)} samples"
        )


def self_consistency(
    samples: Sequence[str],
    *,
    primary: str | None = None,
    question: str | None = None,
    similarity: Similarity | None = None,
    threshold: float | None = None,
    sample_logprobs: Sequence[float] | None = None,
) -> ConsistencyResult:
    """Semantic agreement of k sampled answers (self-consistency).

    Non-answers (refusals, "I don't know", restatements of the question, echoed templates,
    loops; :func:`reply_kinds`) never agree with anything: each is a cluster of its own and is
    listed in ``non_answers``; a non-answer primary has ``primary_agreement`` 0. The similarity
    only sees the answers.

    Args:
        samples: the k sampled answers (empty or non-str entries are dropped and reported).
        primary: the answer shown to the user, if any; reported as ``primary_in_majority`` and
            ``primary_agreement`` (it is not counted among the samples).
        question: the question the samples answer (recommended): used by the default similarity
            to extract each reply's answer, and by the non-answer detector.
        similarity: pairwise similarity; default
            :class:`~guardrail.signals.answers.AnswerSimilarity` (``question`` given to it). An
            :class:`LLMJudgeSimilarity` with a sync judge works here; use
            :func:`self_consistency_async` for an async judge.
        threshold: overrides the similarity's threshold, in (0, 1].
        sample_logprobs: optional total log-probability of each sample (same length as
            ``samples``), to weight clusters in the semantic entropy as in Kuhn et al. 2023.

    Returns:
        :class:`ConsistencyResult`: ``value`` = agreement (largest cluster / k); None with a
        reason when there is no non-empty sample.

    Raises:
        TypeError: ``samples`` is a single string.
        ValueError: ``threshold`` outside (0, 1]; ``sample_logprobs`` of the wrong length.

    Example:
        ``["Paris", "paris.", "It's Paris.", "Lyon", "Paris, France"]`` -> agreement 0.8, two
        clusters.
    """
    sim_impl: Similarity = similarity if similarity is not None else AnswerSimilarity(question)
    thr = _threshold(sim_impl.threshold if threshold is None else threshold)
    _check_logprobs(samples, sample_logprobs)
    kept, kept_idx, dropped, texts = _prepare(samples, primary)
    if not kept:
        return _empty(dropped, sim_impl.name, thr)
    kinds, answer_idx = _split_kinds(texts, question)
    sub = sim_impl.matrix([texts[i] for i in answer_idx])
    sim = _embed(sub, answer_idx, len(texts))
    return _finish(
        sim, kept, kept_idx, dropped, primary, sim_impl.name, thr, sample_logprobs, kinds
    )


async def self_consistency_async(
    samples: Sequence[str],
    *,
    primary: str | None = None,
    question: str | None = None,
    similarity: Similarity | AsyncSimilarity | None = None,
    threshold: float | None = None,
    sample_logprobs: Sequence[float] | None = None,
) -> ConsistencyResult:
    """Async :func:`self_consistency`: awaits ``similarity.amatrix`` when it has one (an
    :class:`LLMJudgeSimilarity` with an async judge), else calls ``matrix``. Same arguments,
    result and errors."""
    sim_impl = similarity if similarity is not None else AnswerSimilarity(question)
    thr = _threshold(sim_impl.threshold if threshold is None else threshold)
    _check_logprobs(samples, sample_logprobs)
    kept, kept_idx, dropped, texts = _prepare(samples, primary)
    if not kept:
        return _empty(dropped, sim_impl.name, thr)
    kinds, answer_idx = _split_kinds(texts, question)
    answers = [texts[i] for i in answer_idx]
    if isinstance(sim_impl, AsyncSimilarity):
        sub = await sim_impl.amatrix(answers)
    else:
        sub = sim_impl.matrix(answers)
    sim = _embed(sub, answer_idx, len(texts))
    return _finish(
        sim, kept, kept_idx, dropped, primary, sim_impl.name, thr, sample_logprobs, kinds
    )


def _threshold(t: float) -> float:
    if not 0.0 < t <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {t!r}")
    return float(t)
