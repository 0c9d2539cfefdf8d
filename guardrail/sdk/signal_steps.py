"""Turning provider results into DSL signal values (the glue between providers and signals).

Each step returns ``{dsl_name: (value, reason, detail)}``: ``value`` None means *missing*, with
``reason`` saying why; ``detail`` is JSON-serialisable evidence for explanations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from guardrail.policy import Policy
from guardrail.policy.catalog import SIGNALS
from guardrail.providers import Choice
from guardrail.signals.hedges import detect_hedges
from guardrail.signals.logprobs import logprob_confidence
from guardrail.signals.nonanswer import classify_reply
from guardrail.signals.verbalized import parse_verbalized

if TYPE_CHECKING:
    from guardrail.signals.consistency import AsyncSimilarity, Similarity

# self_consistency / ensemble_agreement and the equivalence backends need numpy: imported in the
# steps that use them, so `from guardrail import Guard` stays light.

__all__ = [
    "SIGNAL_TIERS",
    "StepOutput",
    "agreement_with_answer",
    "consistency_from_samples",
    "equivalence_for",
    "free_signals",
    "verbalized_from_reply",
]

StepOutput = dict[str, tuple[float | int | str | None, str | None, dict[str, Any]]]

#: Cost tier per DSL signal (0 local ... 4 one call per ensemble model), from the policy catalog.
#: ``calibrated`` costs what its source costs; it is placed after the sampled signals here and
#: computes its source first when needed.
SIGNAL_TIERS: dict[str, int] = {
    name: (spec.cost_tier if spec.cost_tier is not None else 5) for name, spec in SIGNALS.items()
}

HEDGE_SIGNALS = ("hedges", "boosters", "hedge_label")


def free_signals(
    wanted: set[str],
    answer: str,
    raw: str,
    choice: Choice,
    *,
    inline: bool,
    policy: Policy,
    question: str | None = None,
) -> StepOutput:
    """Signals that cost no model call: hedge cues and the reply kind (on the shown answer),
    log-prob confidence (from the answer's own token log-probs) and inline verbalized confidence
    (from the raw reply). Only the ``wanted`` ones are returned."""
    out: StepOutput = {}
    if "reply_kind" in wanted:
        kind = classify_reply(answer, question=question)
        detail: dict[str, Any] = {
            "partial": kind.partial,
            "cues": [c.model_dump(mode="json") for c in kind.cues],
        }
        out["reply_kind"] = (kind.value, kind.reason, detail)
    if wanted.intersection(HEDGE_SIGNALS):
        cfg = policy.signals.hedges
        try:
            res = detect_hedges(
                answer,
                lexicon=None if cfg.lexicon == "default" else cfg.lexicon,
                extra_hedges=cfg.cues,
                extra_boosters=cfg.boosters,
            )
        except (OSError, ValueError) as exc:
            reason = f"hedge lexicon {cfg.lexicon!r} unusable: {exc}"
            for name in HEDGE_SIGNALS:
                if name in wanted:
                    out[name] = (None, reason, {})
        else:
            hedge_detail: dict[str, Any] = {"cues": [c.model_dump() for c in res.cues]}
            vals: dict[str, int | str] = {
                "hedges": res.hedges,
                "boosters": res.boosters,
                "hedge_label": res.label,
            }
            for name in HEDGE_SIGNALS:
                if name in wanted:
                    out[name] = (vals[name], None, hedge_detail if name == "hedges" else {})
    if "logprob_confidence" in wanted:
        tokens = choice.logprobs
        if tokens is None:
            out["logprob_confidence"] = (None, "the server returned no log-probs", {})
        else:
            if inline:  # leave out the tokens of the appended confidence line
                end = raw.find(answer) + len(answer) if answer and answer in raw else len(raw)
                kept, pos = [], 0
                for t in tokens:
                    if pos >= end:
                        break
                    kept.append(t)
                    pos += len(t.token)
                tokens = kept
            lp = logprob_confidence([t.model_dump() for t in tokens])
            detail = {
                "n_tokens": lp.n_tokens,
                "aggregate": lp.aggregate,
                "min_token": lp.min_token,
                "min_token_prob": lp.min_token_prob,
            }
            out["logprob_confidence"] = (lp.value, lp.reason, detail)
    if inline and "verbalized" in wanted:
        out.update(verbalized_from_reply(raw, mode="inline", question=question))
    return out


def verbalized_from_reply(
    text: str, *, mode: Literal["inline", "followup"], question: str | None = None
) -> StepOutput:
    """``verbalized`` from a reply; an unparseable reply is missing, never an error. The user's
    ``question`` (when known) lets the parser tell an option's text ("B. 69%") from a stated
    confidence (see :func:`guardrail.signals.parse_verbalized`)."""
    res = parse_verbalized(text, mode=mode, question=question)
    detail = {"method": res.method, "matched": res.matched, "mode": mode}
    return {"verbalized": (res.value, res.reason, detail)}


async def equivalence_for(similarity: Similarity | AsyncSimilarity, texts: list[str]) -> Similarity:
    """A sync similarity for ``texts``: a backend with ``amatrix`` (model-backed) is awaited
    once over all of them and served from that matrix (:class:`PrecomputedSimilarity`); a sync
    one is returned as is."""
    from guardrail.signals.consistency import AsyncSimilarity
    from guardrail.signals.equivalence import PrecomputedSimilarity

    if isinstance(similarity, AsyncSimilarity):
        matrix = await similarity.amatrix(texts)
        return PrecomputedSimilarity(
            texts, matrix, name=similarity.name, threshold=similarity.threshold
        )
    return similarity


def consistency_from_samples(
    answer: str,
    samples: list[str],
    *,
    requested: int,
    errors: list[str],
    similarity: Similarity | None = None,
    backend: object = None,
    question: str | None = None,
) -> StepOutput:
    """``consistency`` and ``semantic_entropy`` from k sampled answers.

    ``consistency`` = (number of samples in the shown answer's semantic cluster) / k requested
    (the answer joins the largest cluster whose reference it matches), i.e. self-consistency
    (Wang et al. 2022, arXiv 2203.11171) measured against the answer the user sees. Samples
    that failed (or came back empty) count as *not agreeing*, so one lost sample out of k lowers
    consistency by at most 1/k instead of failing the signal.
    ``semantic_entropy`` is computed over the samples that arrived (Kuhn et al. 2023,
    arXiv 2302.09664). Both are missing when no sample arrived. Samples are compared by the
    answer they give to ``question``; non-answers (refusals, "I don't know", restatements, ...)
    agree with nothing and are listed in the detail's ``non_answers``; a shown answer that is
    itself a non-answer has consistency 0.
    ``similarity`` is the answer-equivalence backend (default lexical:
    :class:`~guardrail.signals.answers.AnswerSimilarity`); ``backend`` the object whose
    ``report()`` (calls, fallbacks) goes into the detail as ``equivalence``; ``question`` the
    user's question (answer extraction and the non-answer detector).
    """
    from guardrail.signals.consistency import self_consistency
    from guardrail.signals.equivalence import backend_report

    res = self_consistency(
        samples, primary=answer or None, similarity=similarity, question=question
    )
    if res.value is None:
        reason = res.reason or "no usable sample"
        if errors:
            reason += f" ({len(errors)} failed: {errors[0]})"
        return {"consistency": (None, reason, {}), "semantic_entropy": (None, reason, {})}
    agreeing_share = float(
        res.primary_agreement if res.primary_agreement is not None else float(res.value)
    )
    agreeing = round(agreeing_share * res.k)
    value = min(1.0, max(0.0, agreeing / requested))
    detail = {
        "k_requested": requested,
        "k_used": res.k,
        "failed": len(errors),
        "agreeing": agreeing,
        "majority_share": res.value,
        "clusters": [c.model_dump() for c in res.clusters],
        "samples": samples,
        "equivalence": backend_report(backend if backend is not None else similarity),
        "non_answers": {str(i): kind for i, kind in res.non_answers.items()},
        "answer_kind": res.primary_kind,
    }
    note = (
        f"{requested - res.k} of {requested} samples missing, counted as disagreeing"
        if res.k < requested
        else None
    )
    out: StepOutput = {"consistency": (value, note, detail)}
    out["semantic_entropy"] = (res.semantic_entropy, None, {"normalized": res.normalized_entropy})
    return out


def agreement_with_answer(
    model: str,
    answer: str,
    answers: Mapping[str, str | None],
    *,
    weights: Mapping[str, float] | None,
    errors: Mapping[str, str],
    similarity: Similarity | None = None,
    backend: object = None,
    question: str | None = None,
) -> StepOutput:
    """``agreement``: weighted share of models (the answering model, weight 1, plus the ensemble)
    whose answer is semantically equivalent to the shown answer (cross-model agreement, Manakul et
    al. 2023, arXiv 2303.08896). Failed ensemble models are left out; missing when fewer than two
    answers are available. ``similarity``/``backend``: as in :func:`consistency_from_samples`."""
    key = f"{model} (answer)"
    all_answers: dict[str, str | None] = {key: answer or None, **answers}
    from guardrail.signals.ensemble import ensemble_agreement
    from guardrail.signals.equivalence import backend_report

    res = ensemble_agreement(
        all_answers,
        weights=dict(weights) if weights else None,
        similarity=similarity,
        question=question,
    )
    detail: dict[str, Any] = {
        "equivalence": backend_report(backend if backend is not None else similarity),
        "clusters": res.clusters,
        "dissenting_models": res.dissenting_models,
        "failed_models": res.failed_models,
        "errors": dict(errors),
        "answers": dict(answers),
        "non_answers": dict(res.non_answers),
    }
    if res.value is None:
        return {"agreement": (None, res.reason, detail)}
    total = sum(res.weights.values())
    own = next((c for c in res.clusters if key in c), None)
    if key in res.non_answers:  # the shown answer is a non-answer: it agrees with nothing
        value = 0.0
    elif own is None or total <= 0:
        value = float(res.value)
    else:
        value = sum(res.weights.get(m, 0.0) for m in own) / total
    return {"agreement": (min(1.0, value), None, detail)}
