"""Uncertainty signals: pure functions over texts and numbers (no HTTP, no policies).

Every signal returns a :class:`SignalResult` subclass with ``value`` (float in [0, 1], int count,
str label, or None + ``reason``) and its evidence. Malformed model replies never raise.
See ``docs/signals.md``.
"""

from guardrail.signals.base import SignalResult, SignalValue
from guardrail.signals.combined import GapResult, confidence_gap
from guardrail.signals.consistency import (
    DEFAULT_THRESHOLD,
    JUDGE_TEMPLATE,
    AsyncSimilarity,
    Cluster,
    ConsistencyResult,
    FuzzySimilarity,
    LLMJudgeSimilarity,
    Similarity,
    cluster_answers,
    key_claims,
    normalize_answer,
    self_consistency,
    self_consistency_async,
)
from guardrail.signals.ensemble import EnsembleResult, ensemble_agreement
from guardrail.signals.hedges import (
    Cue,
    HedgeResult,
    Lexicon,
    LexiconEntry,
    default_lexicon,
    detect_hedges,
    load_lexicon,
)
from guardrail.signals.logprobs import LogprobResult, logprob_confidence
from guardrail.signals.nonanswer import (
    NON_ANSWER_KINDS,
    REPLY_KINDS,
    ReplyCue,
    ReplyKind,
    ReplyKindResult,
    classify_reply,
    is_non_answer,
)
from guardrail.signals.verbalized import (
    FOLLOWUP_TEMPLATE,
    INLINE_TEMPLATE,
    PHRASE_PROBABILITIES,
    VerbalizedConfidence,
    followup_messages,
    inline_messages,
    parse_verbalized,
    strip_confidence_line,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "FOLLOWUP_TEMPLATE",
    "INLINE_TEMPLATE",
    "JUDGE_TEMPLATE",
    "NON_ANSWER_KINDS",
    "PHRASE_PROBABILITIES",
    "REPLY_KINDS",
    "AsyncSimilarity",
    "Cluster",
    "ConsistencyResult",
    "Cue",
    "EnsembleResult",
    "FuzzySimilarity",
    "GapResult",
    "HedgeResult",
    "LLMJudgeSimilarity",
    "Lexicon",
    "LexiconEntry",
    "LogprobResult",
    "ReplyCue",
    "ReplyKind",
    "ReplyKindResult",
    "SignalResult",
    "SignalValue",
    "Similarity",
    "VerbalizedConfidence",
    "classify_reply",
    "cluster_answers",
    "confidence_gap",
    "default_lexicon",
    "detect_hedges",
    "ensemble_agreement",
    "followup_messages",
    "inline_messages",
    "is_non_answer",
    "key_claims",
    "load_lexicon",
    "logprob_confidence",
    "normalize_answer",
    "parse_verbalized",
    "self_consistency",
    "self_consistency_async",
    "strip_confidence_line",
]
