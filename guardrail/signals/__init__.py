"""Uncertainty signals: pure functions over texts and numbers (no HTTP, no policies).

Every signal returns a :class:`SignalResult` subclass with ``value`` (float in [0, 1], int count,
str label, or None + ``reason``) and its evidence. Malformed model replies never raise.
See ``docs/signals.md``.

The names below are imported on first use (PEP 562): ``import guardrail.signals`` and
``from guardrail import Guard`` do not load numpy (self-consistency's clustering needs it).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardrail.signals.answers import (
        ANSWER_THRESHOLD,
        AnswerKey,
        AnswerSimilarity,
        ExtractedAnswer,
        Quantity,
        answer_key,
        compare_answers,
        extract_answer,
        parse_options,
        parse_quantities,
    )
    from guardrail.signals.base import (
        SignalResult,
        SignalValue,
    )
    from guardrail.signals.combined import (
        GapResult,
        confidence_gap,
    )
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
        reply_kinds,
        self_consistency,
        self_consistency_async,
    )
    from guardrail.signals.ensemble import (
        EnsembleResult,
        ensemble_agreement,
    )
    from guardrail.signals.hedges import (
        Cue,
        HedgeResult,
        Lexicon,
        LexiconEntry,
        default_lexicon,
        detect_hedges,
        load_lexicon,
    )
    from guardrail.signals.logprobs import (
        LogprobResult,
        logprob_confidence,
    )
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

#: public name -> the submodule that defines it
_WHERE: dict[str, str] = {
    "ANSWER_THRESHOLD": "guardrail.signals.answers",
    "AnswerKey": "guardrail.signals.answers",
    "AnswerSimilarity": "guardrail.signals.answers",
    "ExtractedAnswer": "guardrail.signals.answers",
    "Quantity": "guardrail.signals.answers",
    "answer_key": "guardrail.signals.answers",
    "compare_answers": "guardrail.signals.answers",
    "extract_answer": "guardrail.signals.answers",
    "parse_options": "guardrail.signals.answers",
    "parse_quantities": "guardrail.signals.answers",
    "SignalResult": "guardrail.signals.base",
    "SignalValue": "guardrail.signals.base",
    "GapResult": "guardrail.signals.combined",
    "confidence_gap": "guardrail.signals.combined",
    "AsyncSimilarity": "guardrail.signals.consistency",
    "Cluster": "guardrail.signals.consistency",
    "ConsistencyResult": "guardrail.signals.consistency",
    "DEFAULT_THRESHOLD": "guardrail.signals.consistency",
    "FuzzySimilarity": "guardrail.signals.consistency",
    "JUDGE_TEMPLATE": "guardrail.signals.consistency",
    "LLMJudgeSimilarity": "guardrail.signals.consistency",
    "Similarity": "guardrail.signals.consistency",
    "cluster_answers": "guardrail.signals.consistency",
    "key_claims": "guardrail.signals.consistency",
    "normalize_answer": "guardrail.signals.consistency",
    "reply_kinds": "guardrail.signals.consistency",
    "self_consistency": "guardrail.signals.consistency",
    "self_consistency_async": "guardrail.signals.consistency",
    "EnsembleResult": "guardrail.signals.ensemble",
    "ensemble_agreement": "guardrail.signals.ensemble",
    "Cue": "guardrail.signals.hedges",
    "HedgeResult": "guardrail.signals.hedges",
    "Lexicon": "guardrail.signals.hedges",
    "LexiconEntry": "guardrail.signals.hedges",
    "default_lexicon": "guardrail.signals.hedges",
    "detect_hedges": "guardrail.signals.hedges",
    "load_lexicon": "guardrail.signals.hedges",
    "LogprobResult": "guardrail.signals.logprobs",
    "logprob_confidence": "guardrail.signals.logprobs",
    "NON_ANSWER_KINDS": "guardrail.signals.nonanswer",
    "REPLY_KINDS": "guardrail.signals.nonanswer",
    "ReplyCue": "guardrail.signals.nonanswer",
    "ReplyKind": "guardrail.signals.nonanswer",
    "ReplyKindResult": "guardrail.signals.nonanswer",
    "classify_reply": "guardrail.signals.nonanswer",
    "is_non_answer": "guardrail.signals.nonanswer",
    "FOLLOWUP_TEMPLATE": "guardrail.signals.verbalized",
    "INLINE_TEMPLATE": "guardrail.signals.verbalized",
    "PHRASE_PROBABILITIES": "guardrail.signals.verbalized",
    "VerbalizedConfidence": "guardrail.signals.verbalized",
    "followup_messages": "guardrail.signals.verbalized",
    "inline_messages": "guardrail.signals.verbalized",
    "parse_verbalized": "guardrail.signals.verbalized",
    "strip_confidence_line": "guardrail.signals.verbalized",
}

__all__ = [
    "ANSWER_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "FOLLOWUP_TEMPLATE",
    "INLINE_TEMPLATE",
    "JUDGE_TEMPLATE",
    "NON_ANSWER_KINDS",
    "PHRASE_PROBABILITIES",
    "REPLY_KINDS",
    "AnswerKey",
    "AnswerSimilarity",
    "AsyncSimilarity",
    "Cluster",
    "ConsistencyResult",
    "Cue",
    "EnsembleResult",
    "ExtractedAnswer",
    "FuzzySimilarity",
    "GapResult",
    "HedgeResult",
    "LLMJudgeSimilarity",
    "Lexicon",
    "LexiconEntry",
    "LogprobResult",
    "Quantity",
    "ReplyCue",
    "ReplyKind",
    "ReplyKindResult",
    "SignalResult",
    "SignalValue",
    "Similarity",
    "VerbalizedConfidence",
    "answer_key",
    "classify_reply",
    "cluster_answers",
    "compare_answers",
    "confidence_gap",
    "default_lexicon",
    "detect_hedges",
    "ensemble_agreement",
    "extract_answer",
    "followup_messages",
    "inline_messages",
    "is_non_answer",
    "key_claims",
    "load_lexicon",
    "logprob_confidence",
    "normalize_answer",
    "parse_options",
    "parse_quantities",
    "parse_verbalized",
    "reply_kinds",
    "self_consistency",
    "self_consistency_async",
    "strip_confidence_line",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'guardrail.signals' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
