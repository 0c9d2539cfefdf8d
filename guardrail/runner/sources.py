"""Turn model replies into one confidence value per source (the runner's use of
:mod:`guardrail.signals`).

Each function returns a :class:`SourceValue`: a confidence in [0, 1] with short evidence, or
``value=None`` with the reason (a malformed reply never raises).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from guardrail.providers import Choice
from guardrail.runner.judge import Judgement, answer_line, judge_reply
from guardrail.runner.questions import Question
from guardrail.runner.records import HEDGE_LABEL_CONFIDENCE


class SourceValue(BaseModel):
    """A confidence from one source: ``value`` in [0, 1], or None with ``reason``."""

    value: float | None = Field(default=None, ge=0.0, le=1.0)
    reason: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


def _missing(reason: str, **evidence: Any) -> SourceValue:
    return SourceValue(value=None, reason=reason, evidence=evidence)


# --------------------------------------------------------------------------- verbalized


def verbalized_value(reply: str, *, mode: str, question: str | None = None) -> SourceValue:
    """Verbalized confidence read by :func:`guardrail.signals.verbalized.parse_verbalized`
    (``mode`` ``"inline"`` for the answer's own line, ``"followup"`` for a second-turn reply).
    ``question`` is the text the model was asked (options included), as the SDK passes it, so
    an option such as "B. 69%" is not read as a confidence in the audit either."""
    from guardrail.signals.verbalized import parse_verbalized

    parsed = parse_verbalized(
        reply, mode="inline" if mode == "inline" else "followup", question=question
    )
    if parsed.value is None:
        return _missing(parsed.reason or "no confidence", reply=reply[:200])
    return SourceValue(
        value=float(parsed.value),
        evidence={"matched": parsed.matched, "method": parsed.method},
    )


# --------------------------------------------------------------------------- consistency


def closed_answer_agreement(
    question: Question, primary: Judgement, samples: Sequence[str]
) -> SourceValue:
    """Self-consistency for multiple-choice and label questions: the share of the k samples
    whose parsed letter/label equals the primary answer's (Wang et al. 2023, arXiv 2203.11171;
    agreement as confidence as in Xiong et al. 2023, arXiv 2306.13063).

    Samples are parsed with the same rules as the primary answer, so "B", "(B)" and "The answer
    is B." agree. Unparsed samples count as disagreeing. No value when the primary answer itself
    could not be parsed or no sample came back.
    """
    if primary.parsed is None:
        return _missing("primary answer not parsed")
    if not samples:
        return _missing("no samples returned")
    parsed = [judge_reply(question, s).parsed for s in samples]
    agree = sum(1 for p in parsed if p == primary.parsed)
    return SourceValue(
        value=agree / len(parsed),
        evidence={"k": len(parsed), "agree": agree, "samples": parsed},
    )


def short_answer_agreement(
    primary_reply: str, samples: Sequence[str], *, question: str | None = None
) -> SourceValue:
    """Self-consistency for short answers: the share of samples giving the same answer as the
    primary answer (``primary_agreement`` of :func:`guardrail.signals.self_consistency` with the
    answer-level default similarity and the question; non-answers agree with nothing; Kuhn et
    al. 2023, arXiv 2302.09664). Answer lines are compared (confidence lines removed)."""
    from guardrail.signals import self_consistency

    primary = answer_line(primary_reply)
    if not primary:
        return _missing("primary answer empty")
    answers = [answer_line(s) for s in samples]
    if not any(answers):
        return _missing("no non-empty sample")
    result = self_consistency(answers, primary=primary, question=question)
    if result.primary_agreement is None:
        return _missing(result.reason or "no agreement computed")
    return SourceValue(
        value=float(result.primary_agreement),
        evidence={
            "k": result.k,
            "clusters": len(result.clusters),
            "samples": [a[:80] for a in answers],
        },
    )


# --------------------------------------------------------------------------- log-probabilities


def _content(choice: Choice, *, first_line_only: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tok in choice.logprobs or []:
        if first_line_only and "\n" in tok.token and any(t["token"].strip() for t in out):
            break
        out.append(tok.model_dump())
    return out


def option_probability(question: Question, choice: Choice, chosen: str | None) -> SourceValue:
    """Multiple choice / label: probability of the judged option renormalised over the offered
    options, ``p(chosen) / sum_o p(o)``, read from the first answer token's top log-probs by
    :func:`guardrail.signals.logprob_confidence` (option scoring of Kumar et al. 2023,
    arXiv 2305.18404). Options absent from the top-k count as 0, so the runner asks for 10.

    No value when the provider gave no log-probs, the reply does not start with an option token
    ("The answer is B" starts with "The"), or the answer was not parsed.
    """
    from guardrail.signals import logprob_confidence

    if chosen is None:
        return _missing("answer not parsed")
    if not choice.logprobs:
        return _missing("provider returned no log-probs")
    options = (
        list(question.letters) if question.kind == "multiple_choice" else list(question.choices)
    )
    result = logprob_confidence(
        _content(choice, first_line_only=False), options=options, aggregate="option"
    )
    if result.option_probs is None:
        return _missing(result.reason or "no option probability")
    value = result.option_probs.get(chosen)
    if value is None:
        return _missing("judged answer is not an offered option")
    return SourceValue(
        value=min(1.0, max(0.0, float(value))),
        evidence={
            "token_index": result.option_token_index,
            "first_token_option": result.chosen_option,
            "options": {k: round(v, 6) for k, v in result.option_probs.items()},
        },
    )


def answer_token_probability(choice: Choice) -> SourceValue:
    """Short answers: geometric-mean token probability of the reply's first line,
    ``exp(mean log p)`` (length-normalised sequence probability, Malinin & Gales 2021,
    arXiv 2002.07650), via :func:`guardrail.signals.logprob_confidence`. Tokens after the first
    newline (the confidence line) are excluded."""
    from guardrail.signals import logprob_confidence

    if not choice.logprobs:
        return _missing("provider returned no log-probs")
    content = _content(choice, first_line_only=True)
    result = logprob_confidence(content, aggregate="geometric_mean")
    if result.value is None or not isinstance(result.value, float):
        return _missing(result.reason or "no token probability")
    return SourceValue(value=min(1.0, max(0.0, result.value)), evidence={"tokens": result.n_tokens})


# --------------------------------------------------------------------------- hedges


def hedge_value(text: str) -> tuple[SourceValue, str | None]:
    """Hedge label of the answer text (:func:`guardrail.signals.detect_hedges`: ``hedged`` /
    ``neutral`` / ``assertive``) mapped through :data:`HEDGE_LABEL_CONFIDENCE`; returns the
    value and the label."""
    from guardrail.signals import detect_hedges

    result = detect_hedges(text)
    label = result.label
    return (
        SourceValue(
            value=HEDGE_LABEL_CONFIDENCE[label],
            evidence={
                "hedges": result.hedges,
                "boosters": result.boosters,
                "cues": [c.model_dump() for c in result.cues][:6],
            },
        ),
        label,
    )
