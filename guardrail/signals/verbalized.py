"""Verbalized confidence: prompt templates, a robust parser, and confidence-line stripping.

Verbalized confidence is the model's own stated probability that its answer is correct, asked for
either *inline* (the answer ends with a ``Confidence: NN%`` line) or in a *follow-up* turn ("how
likely is it that your previous answer is correct?"). Sources: Xiong et al. 2023, "Can LLMs
Express Their Uncertainty?" (arXiv 2306.13063) for the answer-plus-confidence format and its
failure modes; Tian et al. 2023, "Just Ask for Calibration" (arXiv 2305.14975) for asking in a
separate stage and for verbal probability expressions.

The parser never raises on a model reply: anything it cannot read gives ``value=None`` with the
reason. It only reads numbers from a *designated confidence statement* (``Confidence: 85%``,
``Probability: 0.9``, ``I am 90% confident``) or from a reply that is nothing but a number, so
numbers in the answer body ("the dose is 500 mg", "in 1999") are never taken.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from guardrail.signals.base import SignalResult
from guardrail.signals.numbers import number_words_to_digits
from guardrail.signals.structured import (
    StructuredReading,
    find_json_objects,
    read_structured_confidence,
)

__all__ = [
    "FOLLOWUP_TEMPLATE",
    "INLINE_TEMPLATE",
    "PHRASE_PROBABILITIES",
    "ParseMode",
    "VerbalizedConfidence",
    "confidence_statement_spans",
    "followup_messages",
    "inline_messages",
    "parse_verbalized",
    "strip_confidence_line",
]

INLINE_TEMPLATE = (
    "Answer the question above. After your answer, on a new last line, state how likely it is "
    "that your answer is correct, as a percentage from 0 to 100, in exactly this form:\n"
    "Confidence: NN%"
)
"""Instruction appended to the user's last message for inline elicitation.

Answer first, then one ``Confidence: NN%`` line (the answer-then-confidence format of Xiong et al.
2023, arXiv 2306.13063, written for guardrail). ``strip_confidence_line`` removes that line before
the user sees the answer.
"""

FOLLOWUP_TEMPLATE = (
    "How likely is it that your previous answer is correct? Reply with a single number from 0 "
    "to 100 (a percentage) in exactly this form:\n"
    "Confidence: NN%"
)
"""Second-turn question for follow-up elicitation (two-stage verbalized confidence, Tian et al.
2023, arXiv 2305.14975, written for guardrail): the model first answers, then is asked how likely
its previous answer is to be correct."""

ParseMode = Literal["auto", "inline", "followup"]

# --- probability phrases -------------------------------------------------------------------------
# Verbal probability -> number. Anchored on Sherman Kent's "Words of Estimative Probability"
# (CIA, 1964: almost certain 93%, probable 75%, chances about even 50%, probably not 30%,
# almost certainly not 7%) and rounded to the medians reported by later surveys of the same
# phrases (zonination/perceptions, r/samplesize 2015; Mauboussin & Mauboussin, HBR 2018), which put
# "probably not" near 25% and "highly unlikely" near 5%. Confidence words ("very confident") and
# the qualitative levels used on a confidence line ("Confidence: high") are guardrail's own
# convention, documented in docs/signals.md. Matching is longest phrase first, so "probably not"
# never matches as "probably", and "highly unlikely" never as "unlikely".
PHRASE_PROBABILITIES: Mapping[str, float] = {
    # near certainty
    "certain": 0.95,
    "certainly": 0.95,
    "definitely": 0.95,
    "almost certain": 0.95,
    "almost certainly": 0.95,
    "virtually certain": 0.95,
    "nearly certain": 0.95,
    "highly likely": 0.90,
    "very likely": 0.90,
    "extremely likely": 0.95,
    "very probable": 0.85,
    "highly probable": 0.90,
    "very good chance": 0.80,
    "good chance": 0.70,
    "likely": 0.70,
    "probable": 0.70,
    "probably": 0.70,
    "we believe": 0.75,
    "better than even": 0.60,
    "more likely than not": 0.60,
    "about even": 0.50,
    "chances about even": 0.50,
    "even chance": 0.50,
    "toss-up": 0.50,
    "toss up": 0.50,
    "fifty-fifty": 0.50,
    "fifty fifty": 0.50,
    "50-50": 0.50,
    "50/50": 0.50,
    "less likely than not": 0.40,
    "we doubt": 0.20,
    "doubtful": 0.20,
    "unlikely": 0.20,
    "not likely": 0.20,
    "improbable": 0.10,
    "very improbable": 0.05,
    "highly improbable": 0.05,
    "probably not": 0.25,
    "little chance": 0.10,
    "chances are slight": 0.10,
    "very unlikely": 0.05,
    "highly unlikely": 0.05,
    "extremely unlikely": 0.03,
    "almost certainly not": 0.05,
    "almost no chance": 0.02,
    "no chance": 0.0,
    "impossible": 0.0,
    # confidence words (guardrail convention)
    "completely confident": 0.95,
    "extremely confident": 0.95,
    "very confident": 0.90,
    "highly confident": 0.90,
    "fairly confident": 0.70,
    "reasonably confident": 0.70,
    "quite confident": 0.80,
    "confident": 0.80,
    "somewhat confident": 0.60,
    "not very confident": 0.30,
    "not confident": 0.20,
}

# Qualitative levels, only read from a designated confidence line ("Confidence: high").
LEVEL_PROBABILITIES: Mapping[str, float] = {
    "very high": 0.90,
    "high": 0.80,
    "moderate": 0.50,
    "medium": 0.50,
    "low": 0.20,
    "very low": 0.10,
}


class VerbalizedConfidence(SignalResult):
    """A parsed verbalized confidence.

    Attributes:
        value: probability in [0, 1] that the answer is correct, or None (``reason`` says why).
        method: how the value was read: ``percent`` (85%), ``decimal`` (0.85), ``fraction``
            (8/10), ``scale`` (9 on a stated 0-10 scale), ``phrase`` ("very likely"), ``level``
            ("Confidence: high"), or ``none``.
        matched: the exact text the value came from ("" when none).
        span: ``[start, end)`` character offsets of ``matched`` in the input, or None.
        scale: the scale maximum used for a bare number (1, 5, 10 or 100), or None.
    """

    name: str = "verbalized"
    method: Literal[
        "percent", "decimal", "fraction", "scale", "phrase", "level", "option", "none"
    ] = "none"
    matched: str = ""
    span: tuple[int, int] | None = None
    scale: float | None = None
    raw_number: float | None = Field(default=None, description="number as written, before scaling")


def inline_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages for inline elicitation: ``INLINE_TEMPLATE`` appended to the last user message.

    Args:
        messages: OpenAI-shaped chat messages (``{"role": ..., "content": ...}``); not modified.

    Returns:
        A new list; when the last message is not a user message with string content, the template
        is added as a new user message instead.

    Raises:
        ValueError: ``messages`` is empty.
    """
    if not messages:
        raise ValueError("inline_messages needs at least one message")
    out = [dict(m) for m in messages]
    last = out[-1]
    if last.get("role") == "user" and isinstance(last.get("content"), str):
        last["content"] = f"{last['content'].rstrip()}\n\n{INLINE_TEMPLATE}"
    else:
        out.append({"role": "user", "content": INLINE_TEMPLATE})
    return out


def followup_messages(messages: Sequence[Mapping[str, Any]], answer: str) -> list[dict[str, Any]]:
    """Messages for follow-up elicitation: the conversation, the model's answer, then the question.

    Args:
        messages: the original chat messages (not modified).
        answer: the model's answer text (as the user saw it).

    Returns:
        ``[*messages, {"role": "assistant", "content": answer},
        {"role": "user", "content": FOLLOWUP_TEMPLATE}]`` as new dicts.

    Raises:
        ValueError: ``messages`` is empty.
    """
    if not messages:
        raise ValueError("followup_messages needs at least one message")
    return [
        *(dict(m) for m in messages),
        {"role": "assistant", "content": answer},
        {"role": "user", "content": FOLLOWUP_TEMPLATE},
    ]


def _none(reason: str, **kw: Any) -> VerbalizedConfidence:
    return VerbalizedConfidence(value=None, reason=reason, evidence={"reason": reason}, **kw)


_NEGATORS = r"(?:not|n't|never|no|hardly)"

_KEY = r"(?:confidence|certainty|probability|likelihood|chance|accuracy)"
# A number is never read out of a longer numeral: "1e3" is not 1, "0,9" (a decimal comma) is not 0,
# "1,000" is not 1 (such values have no reading: the statement is unreadable, never a wrong number).
_NOT_INSIDE = r"(?<!\d)(?<!\d[.,])(?<!\d[eE])(?<!\d[eE][-+\u2212])"
_NUM = (
    _NOT_INSIDE
    + r"(?P<sign>[-\u2212])?"
    + _NOT_INSIDE
    + r"(?P<num>\d+(?:\.\d+)?|\.\d+)(?!\d|[.,]\d|[eE][-+\u2212]?\d)"
)
_PCT = r"(?P<pct>%|percent\b|per\s*cent\b)"
_VALUE_RE = re.compile(
    _NUM + r"\s*(?:" + _PCT + r"|(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))?", re.IGNORECASE
)
# S1, designated label: "Confidence: 85%", "**Confidence level:** 9/10", "My confidence is 85%",
# "Confidence (0-100): 85". "confidence"/"certainty" may be followed by ":", "=", "is", "of",
# "at" or "-"; "probability", "likelihood", "chance" and "accuracy" only by ":" or "=" (so "the
# probability of heads is 0.5" in an answer body is not read as a stated confidence).
_LABEL_RE = re.compile(
    r"(?P<label>(?:\b(?:my|the|a|an|overall|estimated)\s+)?"
    r"(?:(?P<conf>\bconfidence|\bcertainty)|\b(?:probability|likelihood|chance|accuracy))"
    r"(?:\s+(?:level|score|rating|estimate|value))?)"
    r"[*_\s\"']*(?:\((?P<paren>[^)\n]{0,40})\))?[*_ \t\"']*"
    r"(?P<sep>[:=]|(?(conf)(?:\bis\b|\bof\b|\bat\b|-)|(?!)))(?:\s*\bis\b)?[*_ \t]*",
    re.IGNORECASE,
)
_UNIT = r"(?:confident|sure|certain|confidence|certainty)"
# S2, first-person: "I am 90% confident", "I'm 90% sure", "I can provide a 100% confidence".
_FIRST_PERSON_RE = re.compile(
    r"(?-i:\bI\b|\b[Ww]e\b)[^.\n]{0,30}?"
    + _NUM
    + r"\s*"
    + _PCT
    + r"?\s*"
    + _UNIT
    + r"\b(?!\s+intervals?\b)",
    re.IGNORECASE,
)
# evidence only: "a 99% confidence", "66.67% chance", "0.38% correct" (no subject that owns it)
_LOOSE_RE = re.compile(
    _NUM
    + r"\s*"
    + _PCT
    + r"\s*(?:"
    + _UNIT
    + r"|likelihood|probability|chance|correct)\b(?!\s+intervals?\b)",
    re.IGNORECASE,
)
_FILLER = r"(?:indeed|actually|about|around|approximately|roughly|exactly|only|just|likely)"
_SUBJECT = (
    r"\b(?:answer(?:\s+to\s+(?:this|the|your)\s+question)?|it|this|that|response|probability"
    r"|likelihood|chance|percentage|confidence|correct)"
)
_VERB = r"(?:\s+(?:is|was|should\s+be|would\s+be|will\s+be)|'s|\u2019s|\s*:)"
# S3, correctness: "the answer is 99.9% correct", "My previous answer was: 99% correct".
_CORRECT_RE = re.compile(
    _SUBJECT
    + _VERB
    + rf"\s*:?\s*(?:{_FILLER}\s+)?:?\s*"
    + _NUM
    + r"\s*"
    + _PCT
    + r"?\s*(?:correct|right|accurate|likely)\b",
    re.IGNORECASE,
)
# S5, follow-up answer: "The answer is 99.99%", "That's a 99.9% chance", "It is 100%".
_STATEMENT_RE = re.compile(
    _SUBJECT
    + _VERB
    + rf"\s*:?\s*(?:(?:a|an)\s+)?(?:{_FILLER}\s+)?:?\s*[\"']?"
    + _NUM
    + r"\s*(?:"
    + _PCT
    + r"|(?:/|out\s+of)\s*(?P<den>\d+))?(?![\w.]*\d)",
    re.IGNORECASE,
)
# negated statements: "is not 100%", "is not necessarily 0% correct", "0.01% is incorrect"
_NEGATED_RE = re.compile(
    r"\b(?:is|was|are)\s+not\s+(?:necessarily\s+|entirely\s+|exactly\s+|quite\s+)?(?:a\s+)?"
    + _NUM
    + r"\s*%"
    + r"|"
    + r"(?<![\d.])(?P<num2>\d+(?:\.\d+)?)\s*%\s*(?:is|was)\s+(?:not\b|incorrect|wrong)",
    re.IGNORECASE,
)
# S4, a line that is only a value: "85%", "**90%**", (follow-up also "85", "0.9", "8/10")
_LINE_RE = re.compile(
    r"^[ \t*_>\"'`(\[]*" + _NUM + r"\s*(?:" + _PCT + r"|(?:/|out\s+of)\s*(?P<den>\d+))?"
    r"[ \t*_.!\"'`)\]]*$",
    re.IGNORECASE | re.MULTILINE,
)
# S6 (only with the question given): "D. 95%", "The Sculptress - 90.1%"
_ANSWER_LINE_RE = re.compile(
    r"^[ \t*]*(?:[A-J][.)][ \t]*|[^\n]{1,80}?\s[-\u2013\u2014][ \t]+)"
    + _NUM
    + r"\s*"
    + _PCT
    + r"[ \t.]*$",
    re.IGNORECASE | re.MULTILINE,
)
_SCALE_RE = re.compile(
    r"(?:\b(?:0|1)\s*(?:-|\u2013|to)\s*(?P<a>10|100|5)\b|out\s+of\s+(?P<b>10|100|5)\b|"
    r"scale\s+of\s+(?:0|1)\s*(?:-|\u2013|to)\s*(?P<c>10|100|5)\b)",
    re.IGNORECASE,
)
# S7: a first-person estimate verb, then a percentage within a few words: "I'd say 90%",
# "I would estimate 80% likelihood", "I'd put it at about 70 percent"
_ESTIMATE_RE = re.compile(
    r"(?-i:\bI\b|\b[Ww]e\b)(?:'d|\u2019d|\s+would|\s+will|\s+can)?\s+"
    r"(?:say|estimate|guess|put\s+(?:it|this|that)\s+at|rate\s+(?:it|this|that|my\s+answer))"
    r"\b[^.\n%]{0,25}?" + _NUM + r"\s*" + _PCT,
    re.IGNORECASE,
)
_ACCURACY_LINE_RE = re.compile(
    r"[ \t*_>\"'`]{0,40}accuracy[*_ \t\"']*[:=][*_ \t]*\d+(?:\.\d+)?\s*%[ \t*_.\"'`]*$",
    re.IGNORECASE | re.MULTILINE,
)


def _compact_pct(m: re.Match[str]) -> str:
    """The matched number with its % sign, without spaces ("69 %" -> "69%")."""
    return re.sub(r"\s+", "", m.group("num")) + "%"


def _in_question(pct: str, q_compact: str) -> bool:
    """Whether the percentage ``pct`` ("69%") occurs in the (whitespace-free) question."""
    found = re.search(r"(?<!\d)(?<!\d\.)" + re.escape(pct), q_compact)
    return bool(q_compact) and found is not None


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


_FORMULA_AFTER_RE = re.compile(r"\s*[-+*\u00d7=]\s*[\d(]")
_OF_AFTER_RE = re.compile(r"\s*of\s+(?:the|a|an|all|your|my|its)\b", re.IGNORECASE)
_PAREN_PCT_RE = re.compile(r"\s*\(\s*(?P<num>\d+(?:\.\d+)?)\s*%")
_INTERVAL_AFTER_RE = re.compile(r"\s*(?:confidence\s+)?intervals?\b", re.IGNORECASE)


def _phrase_regex(table: Mapping[str, float]) -> re.Pattern[str]:
    alts = sorted(table, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in alts)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


_PHRASE_RE = _phrase_regex(PHRASE_PROBABILITIES)
_LEVEL_RE = _phrase_regex(LEVEL_PROBABILITIES)
_NEG_BEFORE_RE = re.compile(rf"(?:\b{_NEGATORS}|n't)\s+(?:\w+\s+)?$", re.IGNORECASE)
# a phrase stated about the answer: at a sentence start, or after "it is", "this answer is",
# "I'm", "we" (+ an optional adverb)
_PHRASE_OWNER_RE = re.compile(
    r"(?:^|[.!?:\n]\s*|\b(?:it|this|that|answer|response|which|I|we)\b"
    r"(?:\s+(?:is|seems|appears|am|are|feel|would\s+say)|'s|\u2019s|'m|\u2019m)?\s*"
    r"(?:(?:very|quite|most|highly|fairly|pretty|really)\s+)?)"
    r"[\"'*_(]*$",
    re.IGNORECASE,
)
_FIRST_PERSON_PHRASE_RE = re.compile(
    r"\b(?:I'm|I\u2019m|I\s+am|I\s+feel|we\s+are|we're)\s+(?:\w+\s+)?$", re.IGNORECASE
)
# "certain" before a noun is an adjective ("certain diseases"), not a probability
_ADJECTIVE_AFTER_RE = re.compile(r"\s+(?!that\b|about\b|of\b|it\b|this\b)[a-z]", re.IGNORECASE)


class _Cand:
    """One candidate reading of a stated confidence."""

    __slots__ = ("kind", "method", "raw", "reason", "scale", "span", "text", "value")

    def __init__(
        self,
        value: float | None,
        kind: str,
        span: tuple[int, int],
        text: str,
        method: str = "none",
        scale: float | None = None,
        raw: float | None = None,
        reason: str | None = None,
    ) -> None:
        self.value = value
        self.kind = kind
        self.span = span
        self.text = text
        self.method = method
        self.scale = scale
        self.raw = raw
        self.reason = reason


_NEXT_VALUE_RE = re.compile(
    r"[ \t]*(?:[,;/]|\bor\b|\bto\b|\band\b|[-\u2013]|,?\s*(?:i\.e\.|that\s+is)[,:]?)[ \t]*"
    r"(?:(?:about|around|roughly|maybe|perhaps)[ \t]+)?",
    re.IGNORECASE,
)


def _same_form(a: re.Match[str], b: re.Match[str]) -> bool:
    """Two value matches written alike: both percentages, both fractions, or both decimals."""
    ga, gb = a.groupdict(), b.groupdict()
    if ga.get("pct") or gb.get("pct"):
        return bool(gb.get("pct"))
    if ga.get("den") or gb.get("den"):
        return bool(ga.get("den")) and bool(gb.get("den"))
    return "." in ga["num"] and "." in gb["num"]


# number words 0-100 ("eighty-five", "ninety-nine", "a hundred"), then an optional percent sign
_WORDS_0_100 = (
    r"(?:(?:a|one)\s+hundred|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
    r"(?:[\s-]+(?:one|two|three|four|five|six|seven|eight|nine)\b)?|zero|one|two|three|four|"
    r"five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    r"eighteen|nineteen|hundred)"
)
_WORD_VALUE_RE = re.compile(
    r"(?P<words>" + _WORDS_0_100 + r")\b[ \t]*" + _PCT + r"?(?![ \t]*[-\w])",
    re.IGNORECASE,
)
_FIRST_PERSON_WORDS_RE = re.compile(
    r"(?-i:\bI\b|\b[Ww]e\b)(?:'m|\u2019m|\s+am|'re|\s+are)\s+(?:about\s+)?(?P<words>"
    + _WORDS_0_100
    + r")[ \t]*"
    + _PCT
    + r"\s*"
    + _UNIT
    + r"\b",
    re.IGNORECASE,
)


def _word_number(m: re.Match[str], *, offset: int, scale: float | None) -> _Cand:
    """A confidence written in words ("eighty-five percent"): a percentage (0-100), or a value
    on a stated scale ("Confidence (0-10): eight")."""
    words = m.group("words")
    num = float(number_words_to_digits(re.sub(r"^(?:a|one)\s+", "", words, flags=re.I)))
    text = m.group(0).strip()
    span = (offset + m.start("words"), offset + m.start("words") + len(text))
    common: dict[str, Any] = {"kind": "label", "span": span, "text": text, "raw": num}
    if scale is not None and not m.group("pct"):
        if num > scale:
            return _Cand(None, reason=f"confidence {text!r} is above the stated scale", **common)
        return _Cand(num / scale, method="scale", scale=scale, **common)
    if num > 100:
        return _Cand(None, reason=f"confidence {text!r} is above 100%", **common)
    return _Cand(num / 100, method="percent", scale=100.0, **common)


def _stated_scale(text: str) -> float | None:
    m = _SCALE_RE.search(text)
    if not m:
        return None
    return float(m.group("a") or m.group("b") or m.group("c"))


def _number(m: re.Match[str], *, offset: int, scale: float | None, key: str, kind: str) -> _Cand:
    """Turn a matched number (with optional %, /den) into a candidate."""
    gd = m.groupdict()
    start = m.start("num") if not gd.get("sign") else m.start("sign")
    end = m.end()
    text = m.string[start:end].strip()
    span = (offset + start, offset + start + len(text))
    num = float(gd["num"])
    has_point = "." in gd["num"]
    common: dict[str, Any] = {"kind": kind, "span": span, "text": text, "raw": num}
    if len(text) > 40:  # reasons go into explanations, spans and the review queue: keep them short
        text = text[:20] + "..." + text[-8:]
    if gd.get("sign"):
        return _Cand(None, reason=f"negative confidence {text!r} is out of range", **common)
    pct = gd.get("pct")
    den_s = gd.get("den")
    if pct:
        if num > 100:
            return _Cand(None, reason=f"confidence {text!r} is above 100%", **common)
        return _Cand(num / 100, method="percent", scale=100.0, **common)
    if den_s:
        den = float(den_s)
        if den <= 0:
            return _Cand(None, reason=f"fraction {text!r} has a zero denominator", **common)
        if num > den:
            return _Cand(None, reason=f"fraction {text!r} is above 1", **common)
        return _Cand(num / den, method="fraction", scale=den, **common)
    if scale is not None:
        if num > scale:
            return _Cand(
                None,
                reason=f"confidence {text!r} is above the stated scale maximum {scale:g}",
                **common,
            )
        method = (
            "scale" if scale not in (1.0, 100.0) else ("decimal" if scale == 1.0 else "percent")
        )
        return _Cand(num / scale, method=method, scale=scale, **common)
    # Bare number, no scale stated: 0.85 / .85 / 1.0 are probabilities; 85 and 85.5 are
    # percentages (the templates ask for 0-100). A bare integer 0 or 1 after "probability",
    # "chance" or "likelihood" is read as a probability.
    probability_key = key in ("probability", "chance", "likelihood")
    if (has_point and num <= 1.0) or (probability_key and num in (0.0, 1.0)):
        return _Cand(num, method="decimal", scale=1.0, **common)
    if num > 100:
        return _Cand(None, reason=f"confidence {text!r} is above 100", **common)
    return _Cand(num / 100, method="percent", scale=100.0, **common)


_LOOKBEHIND = 120
"""Characters before a probability phrase searched for a negation or an owner ("it is")."""
_LABEL_REACH = 300
"""Characters after a confidence label (up to the end of its line) searched for its value."""


def _phrases(
    text: str, *, levels: bool, owned_only: bool, offset: int = 0, context: str = ""
) -> tuple[list[_Cand], list[_Cand]]:
    """Probability phrases in ``text``: (owned readings, all readings as evidence).

    An *owned* phrase is stated about the answer (sentence start, "it is ...", "I'm ...");
    ``owned_only=False`` accepts every phrase (inside a designated confidence line).
    """
    owned: list[_Cand] = []
    every: list[_Cand] = []
    found: list[tuple[re.Match[str], Mapping[str, float], str]] = [
        (m, PHRASE_PROBABILITIES, "phrase") for m in _PHRASE_RE.finditer(text)
    ]
    if levels:
        found += [(m, LEVEL_PROBABILITIES, "level") for m in _LEVEL_RE.finditer(text)]
    found.sort(key=lambda f: (f[0].start(), -len(f[0].group(0))))
    last_end = -1
    for m, table, kind in found:
        if m.start() < last_end:
            continue
        last_end = m.end()
        phrase = m.group(0)
        key = re.sub(r"\s+", " ", phrase.lower())
        if key in ("certain", "confident") and _ADJECTIVE_AFTER_RE.match(text, m.end()):
            continue
        span = (offset + m.start(), offset + m.end())
        # Only the few words before a phrase matter (negation, owner: at most 60 characters);
        # the bounded window keeps a long reply linear instead of quadratic in its length.
        lo = max(0, m.start() - _LOOKBEHIND)
        before = (context if lo == 0 else "") + text[lo : m.start()]
        neg = _NEG_BEFORE_RE.search(before)
        if neg and not key.startswith("not "):
            cand = _Cand(
                None,
                kind="negated_phrase",
                span=span,
                text=phrase,
                reason=(
                    f"negated phrase {(neg.group(0) + phrase).strip()!r} has no entry in the "
                    "phrase table"
                ),
            )
        else:
            cand = _Cand(table[key], kind=kind, span=span, text=phrase, method=kind)
        every.append(cand)
        owner_ctx = before[: neg.start()] if neg and cand.value is None else before
        if not owned_only or _PHRASE_OWNER_RE.search(owner_ctx[-60:]):
            owned.append(cand)
    return owned, every


def _from_cand(c: _Cand, **evidence: Any) -> VerbalizedConfidence:
    ev = {"matched": c.text, "rule": c.kind, **evidence}
    if c.value is None:
        reason = c.reason or "unreadable"
        return VerbalizedConfidence(
            value=None,
            reason=reason,
            evidence={**ev, "reason": reason},
            matched=c.text,
            span=c.span,
            raw_number=c.raw,
        )
    method = c.method if c.method in _METHODS else "none"
    return VerbalizedConfidence(
        value=min(1.0, max(0.0, c.value)),
        method=method,  # type: ignore[arg-type]
        matched=c.text,
        span=c.span,
        scale=c.scale,
        raw_number=c.raw,
        evidence=ev,
    )


_METHODS = ("percent", "decimal", "fraction", "scale", "phrase", "level", "option")


def _distinct(values: list[float], tol: float) -> list[float]:
    out: list[float] = []
    for v in values:
        if all(abs(v - o) > tol for o in out):
            out.append(v)
    return out


def _fmt(v: float) -> str:
    return f"{v * 100:.4g}%"


# --- designated statements only (content is never read or cut) ----------------------------------
# Latin look-alikes from other scripts (Unicode confusables, https://www.unicode.org/Public/security/
# latest/confusables.txt, the Cyrillic and Greek letters that render like the Latin letters of the
# confidence vocabulary). Folding is one character to one character, so offsets stay valid.
_CONFUSABLES = str.maketrans(
    "\u0430\u0441\u0435\u043e\u0440\u0445\u0443\u0456\u0458\u0455\u0501\u04bb\u04cf\u051b\u051d"
    "\u0410\u0412\u0421\u0415\u041d\u0406\u0408\u041a\u041c\u041e\u0420\u0405\u0422\u0425\u0423"
    "\u03bf\u03b1\u03bd\u03c1\u03b9\u03ba\u03c4\u03c5"
    "\u039f\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u03a1\u03a4\u03a7\u03a5"
    "\u2212\u2010\u2011",
    "acеopxyijsdhlqw".replace("е", "e") + "ABCEHIJKMOPSTXY" + "oavpiktu" + "OABEZHIKMNPTXY" + "---",
)


# Invisible format characters that can split a label ("Conf\u200bidence"): zero-width space /
# non-joiner / joiner, word joiner, BOM, soft hyphen, Mongolian vowel separator. They are dropped
# before matching and the spans are mapped back, so the original text is cut where it should be.
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]")


def _drop_invisible(text: str) -> tuple[str, list[int]]:
    """``text`` without invisible characters, and for each kept character its original offset."""
    index = [i for i, ch in enumerate(text) if not _INVISIBLE_RE.match(ch)]
    return "".join(text[i] for i in index), index


def _map_span(span: tuple[int, int], index: list[int], n: int) -> tuple[int, int]:
    """A ``[start, end)`` span of the cleaned text as a span of the original text."""
    s, e = span
    start = index[s] if s < len(index) else n
    end = index[e - 1] + 1 if 0 < e <= len(index) else start
    return (start, max(start, end))


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def _fold_char(m: re.Match[str]) -> str:
    n = unicodedata.normalize("NFKC", m.group(0))
    return (n if len(n) == 1 else m.group(0)).translate(_CONFUSABLES)


def _fold(text: str) -> str:
    """NFKC per character (when it gives one character: fullwidth ``％``, ``８５``, mathematical
    letters) and Latin look-alikes (Cyrillic ``о`` in "Cоnfidence"), keeping length and offsets."""
    if text.isascii():
        return text
    return _NON_ASCII_RE.sub(_fold_char, text)


_FENCE_RE = re.compile(
    r"^[ \t]*(```|~~~)[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE
)
_INLINE_CODE_RE = re.compile(r"`[^`\n]+`")
_BLOCKQUOTE_RE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
_QUOTED_RE = re.compile(
    r"\"[^\"\n]{0,300}\"|\u201c[^\u201d\n]{0,300}\u201d|\u2018[^\u2019\n]{0,300}\u2019(?!\w)"
    r"|(?<!\w)'[^'\n]{0,300}'(?!\w)"
)
_CONF_WORD_RE = re.compile(
    r"confiden|certain|probab|likel|chance|accura|\bsure\b|\d\s*%", re.IGNORECASE
)


def _mask_content(text: str) -> str:
    """Blank (keep offsets) what is content, not the model's own statement: fenced code blocks,
    inline code, ``>`` block quotes, and quotations that mention a confidence ("he wrote
    'confidence: 99%'"). A quoted value alone (``Confidence: "85%"``) stays readable."""

    def blank(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    def blank_quote(m: re.Match[str]) -> str:
        inner = m.group(0)[1:-1]
        if not (re.search(r"[A-Za-z]", inner) and _CONF_WORD_RE.search(inner)):
            return m.group(0)
        line_start = m.string.rfind("\n", 0, m.start()) + 1
        line_end = m.string.find("\n", m.end())
        rest = m.string[m.end() : len(m.string) if line_end == -1 else line_end]
        if _LINE_PREFIX_RE.match(m.string[line_start : m.start()]) and not rest.strip(" \t*_.!"):
            return m.group(0)  # a whole line in quotes is the model's own statement
        return blank(m)

    for rx in (_FENCE_RE, _INLINE_CODE_RE, _BLOCKQUOTE_RE):
        text = rx.sub(blank, text)
    return _QUOTED_RE.sub(blank_quote, text)


# A label starts a statement when only list/markdown decoration precedes it on its line, or it
# follows a sentence end or an opening bracket ("Paris. Confidence: 85%", "Paris (confidence:
# 85%)"); after a comma or dash only when its value ends the line ("Paris, confidence: 85%").
_LINE_PREFIX_RE = re.compile(r"[ \t*_#>\-\u2022+\"'`|]*(?:\d{1,2}[.)][ \t]*)?[(\[]?[ \t*_\"']*\Z")
_SENTENCE_PREFIX_RE = re.compile(r"(?:[.!?;][\"')\]]*[ \t]+|[(\[])[ \t*_\"']*\Z")
_SOFT_PREFIX_RE = re.compile(r"(?:[,\-\u2013\u2014|:])[ \t*_\"']*\Z")
_LINE_TAIL_RE = re.compile(r"[ \t*_.!)\]\"'`]*(?:\n|\Z)")


def _label_position(text: str, m: re.Match[str]) -> str:
    """``line``/``sentence`` (a designated statement start), ``soft`` (after a comma: only when
    the value ends the line), or ``inside`` (mid-sentence: content, not a statement)."""
    before = text[_line_start(text, m.start()) : m.start()]
    if _LINE_PREFIX_RE.match(before):
        return "line"
    if _SENTENCE_PREFIX_RE.search(before) or re.match(r"my\b", m.group("label"), re.IGNORECASE):
        return "sentence"
    if _SOFT_PREFIX_RE.search(before):
        return "soft"
    return "inside"


# What follows a label when a template or instruction was echoed instead of a value:
# "<integer from 0 to 100>", "[your confidence]", "an integer between 0 and 100", "0-100", "NN%".
_PLACEHOLDER_RE = re.compile(
    r"[ \t*_\"'`]*(?:<[^>\n]{0,80}>|\[[^\]\n]*[A-Za-z][^\]\n]*\]|\{[^}\n]{0,80}\}"
    r"|(?:(?:an?|the|your)\s+)?(?:integer|number|value|float|percentage|probability|score)\b"
    r"[^\n]{0,40}?\b(?:from|between|in\s+\[?|on\s+a)\b(?:[^\n\d]{0,20}\d+(?:\.\d+)?\s*%?"
    r"\s*(?:-|\u2013|to|and)\s*\d+(?:\.\d+)?\s*%?)?"
    r"|(?:0|1)(?:\.0)?\s*%?\s*(?:-|\u2013|to)\s*(?:1|5|10|100)(?:\.0)?\s*%?"
    r"[ \t*_.)\]\"'`]*(?:\n|\Z)"
    r"|(?:NN|XX|X|N|\?\?|__+|\.\.\.)\s*%)",
    re.IGNORECASE,
)


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with each span replaced by spaces (newlines kept), so offsets stay valid."""
    chars = list(text)
    for s, e in spans:
        for i in range(s, min(e, len(chars))):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _from_structured(st: StructuredReading) -> VerbalizedConfidence:
    ev = {"matched": st.matched, "rule": st.evidence.get("rule", "json_field"), **st.evidence}
    if st.key:
        ev["field"] = st.key
    if st.value is None:
        reason = st.reason or "unreadable JSON confidence"
        return VerbalizedConfidence(
            value=None,
            reason=reason,
            evidence={**ev, "reason": reason},
            matched=st.matched,
            span=st.span,
        )
    method = st.method if st.method in _METHODS else "decimal"
    return VerbalizedConfidence(
        value=st.value,
        method=method,  # type: ignore[arg-type]
        matched=st.matched,
        span=st.span,
        evidence=ev,
    )


# a follow-on question the model invented after its answer (as in answers._FOLLOW_ON)
# (blanks after a break read up to the next break only: "\n\s*" rescanned a run of 20k line
# breaks from each break, 13 s per reply)
_FOLLOW_ON_RE = re.compile(
    r"\n[^\S\n]*+(?:Q|Question|User|Human|Problem)\s*+\d*+\s*+[:\uff1a]", re.IGNORECASE
)


def parse_verbalized(
    text: str | None,
    *,
    scale: float | None = None,
    mode: ParseMode = "auto",
    question: str | None = None,
) -> VerbalizedConfidence:
    """Parse a verbalized confidence from a model reply.

    Candidate statements (all are collected, in any mode unless noted):

    * **designated label**: ``Confidence``, ``Confidence level``, ``Certainty`` + ``:``, ``=``,
      ``is``, ``of``, ``at`` or ``-``; ``Probability``, ``Likelihood``, ``Chance``, ``Accuracy``
      + ``:`` or ``=``; then a number (``85%``, ``85 %``, ``0.85``, ``.85``, ``85/100``, ``8/10``,
      ``8 out of 10``, ``85.5``), a number in words from zero to a hundred (``eighty-five
      percent``, ``ninety-nine``, ``a hundred percent``: a percentage, or on a stated scale),
      else a probability phrase or level word (``high``). A number followed by an operator
      (``1 - (1 - p)``) is a formula, not a value. A second value of the same form right after
      the first (``80%, 90%``, ``80% or 90%``, ``80% to 90%``) is a second statement: when it
      differs the reply has no value (``conflicting confidence statements``);
    * **first person**: ``I am 90% confident``, ``I'm 90% sure``, ``I'm ninety percent sure``;
    * **correctness**: ``the answer is 99% correct`` (subject + is/was + number + correct);
    * **value line**: a line that is only a percentage (``85%``); in ``followup`` mode also a
      bare number or fraction;
    * **answer line** (only when ``question`` is given): ``D. 95%`` or ``Paris - 90%``, unless
      that percentage appears in the question (then it is answer content);
    * ``followup`` mode only: **statements** answering "how likely?": ``The answer is 99.9%``,
      ``That's a 99.9% chance`` (not ``... 30% of the total``); and, when nothing else was
      read, **first-person estimates**: ``I'd say 90%``, ``I would estimate 80% likelihood``
      (not ``I'd say 30% of patients``; two different estimates give no value).

    Evidence that can contradict them: ``is not 100%``, ``0.01% is incorrect``, a percentage in
    brackets right after the value, and (follow-up only) percentages attached to confidence
    words without an owner (``a 99% confidence``). Different values (more than 0.1 percentage
    point apart) give no value: ``conflicting confidence statements``; but when the model goes on
    to invent a follow-on question (a line starting ``Q:``, ``Question:``, ``User:``, ``Human:``
    or ``Problem:``), a value read before it is the answer's and wins. With no numeric
    statement, probability phrases (:data:`PHRASE_PROBABILITIES`, longest match first) are read
    when stated about the answer ("It is very likely", "Probably not", "I'm confident"): in
    ``followup`` mode, in ``auto`` mode when the reply has at most 12 words, and a first-person
    phrase in any mode. Phrases whose values differ by more than 0.1 conflict. A reply that is
    only a number (``85``, ``0.9``) is read in every mode. Numbers in the answer body ("the dose
    is 500 mg", "in 1999", "B. 69%" when 69% is an option) are never read. ``confidence
    interval`` is a statistics term, not a stated confidence.

    Bare numbers: with ``scale`` (or a scale stated in the reply: "0-10", "out of 10") the value
    is number / scale; otherwise a number with a decimal point <= 1 is a probability and any
    other number is a percentage.

    Args:
        text: the model reply (None or non-str gives no value).
        scale: the maximum of the scale the prompt asked for (1, 5, 10, 100), or None to infer.
        mode: ``auto`` (default), ``inline`` (answer + confidence line) or ``followup`` (the
            reply answers "how likely is your previous answer correct?").
        question: the question (with its options) the answer responds to, if known.

    Returns:
        :class:`VerbalizedConfidence`; ``value`` None with ``reason`` when absent, out of range
        (``150%``, ``-5%``, ``11/10``), conflicting or unreadable. Never raises for any reply.

    Raises:
        ValueError: ``scale`` is not positive (a caller error, not a reply error).
    """
    if scale is not None and (not math.isfinite(scale) or scale <= 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    if not isinstance(text, str) or not text.strip():
        return _none("empty reply")
    if _INVISIBLE_RE.search(text):  # "Conf\u200bidence": read without the invisible characters
        clean, index = _drop_invisible(text)
        res = parse_verbalized(clean, scale=scale, mode=mode, question=question)
        if res.span is None:
            return res
        return res.model_copy(update={"span": _map_span(res.span, index, len(text))})
    structured = read_structured_confidence(text, question=question)
    if structured.status != "absent":
        return _from_structured(structured)
    follow_on = _FOLLOW_ON_RE.search(text)
    if follow_on is not None and text[: follow_on.start()].strip():
        # "Paris\nConfidence: 90%\n\nQ: <an invented question>\n...\nConfidence: 60%": the
        # statement before the invented follow-on question is the answer's (the JSON rule's twin)
        res = parse_verbalized(text[: follow_on.start()], scale=scale, mode=mode, question=question)
        if res.value is not None:
            return res
    original = text
    text = _mask_content(_fold(text))
    if structured.object_spans:  # placeholder-only JSON confidence: the prose may still state one
        text = _blank(text, structured.object_spans)
    stated = scale if scale is not None else _stated_scale(text)
    followup = mode == "followup"
    values: list[_Cand] = []
    evidence: list[_Cand] = []
    negated: list[str] = []
    label_seen = False
    phrase_in_label: list[_Cand] = []
    placeholders: list[str] = []

    # S1 designated labels
    for m in _LABEL_RE.finditer(text):
        start = m.end()
        end = text.find("\n", start, start + _LABEL_REACH)
        end = min(len(text), start + _LABEL_REACH) if end == -1 else end
        region = text[start:end]
        key_m = re.search(
            r"confidence|certainty|probability|likelihood|chance|accuracy",
            m.group("label"),
            re.IGNORECASE,
        )
        key = key_m.group(0).lower() if key_m else "confidence"
        if key == "accuracy" and not _ACCURACY_LINE_RE.match(text, _line_start(text, m.start())):
            continue  # "Accuracy" only as a line of its own ("Accuracy: 50%"), not in the body
        position = _label_position(text, m)
        if position == "inside":
            continue  # "set confidence: 0.9 in the config" is content, not a statement
        hold = _PLACEHOLDER_RE.match(region)
        if hold and not _VALUE_RE.search(region, hold.end()):
            placeholders.append(region.strip()[:40])
            continue  # an echoed template ("Confidence: <integer from 0 to 100>") is no value
        label_seen = True
        vm = _VALUE_RE.search(region)
        owned, _ = _phrases(region, levels=True, owned_only=False, offset=start, context=m.group(0))
        first_word = owned[0].span[0] - start if owned else len(region) + 1
        wm = _WORD_VALUE_RE.match(region)
        if wm is not None:
            # "Confidence: eighty-five percent", "Confidence: a hundred percent"
            values.append(_word_number(wm, offset=start, scale=_stated_scale(m.group(0)) or stated))
        elif vm is not None and vm.start() <= first_word + 40:
            if _FORMULA_AFTER_RE.match(region, vm.end()) or _INTERVAL_AFTER_RE.match(
                region, vm.end()
            ):
                continue
            if position == "soft" and not _LINE_TAIL_RE.match(region, vm.end()):
                continue  # "..., confidence: 0.9 means ..." is content
            region_scale = _stated_scale(m.group(0)) or stated
            c = _number(vm, offset=start, scale=region_scale, key=key, kind="label")
            values.append(c)
            # "Confidence: 80%, 90%" / "80% or 90%" / "80% to 90%": a second value of the same
            # form right after the first is a second statement (a conflict when they differ;
            # "8/10, i.e. 80%" agrees with itself)
            nm = _NEXT_VALUE_RE.match(region, vm.end())
            if nm is not None:
                second = _VALUE_RE.match(region, nm.end())
                if second is not None and _same_form(vm, second):
                    values.append(
                        _number(second, offset=start, scale=region_scale, key=key, kind="label")
                    )
            pm = _PAREN_PCT_RE.match(region, vm.end())
            if pm:
                evidence.append(_Cand(float(pm.group("num")) / 100, "paren", c.span, pm.group(0)))
        elif owned:
            phrase_in_label.append(owned[0])

    # S2 first person
    for m in _FIRST_PERSON_RE.finditer(text):
        values.append(_number(m, offset=0, scale=stated, key="confidence", kind="first_person"))
    for m in _FIRST_PERSON_WORDS_RE.finditer(text):  # "I'm ninety percent sure"
        values.append(_word_number(m, offset=0, scale=None))
    # S3 correctness
    for m in _CORRECT_RE.finditer(text):
        values.append(_number(m, offset=0, scale=None, key="confidence", kind="correctness"))
    # S4 value lines
    q_compact = re.sub(r"\s+", "", question) if question else ""
    for m in _LINE_RE.finditer(text):
        if m.group("pct") or followup or (m.start() == 0 and m.end() >= len(text.rstrip())):
            if m.group("pct") and _in_question(_compact_pct(m), q_compact):
                continue  # the percentage is an option's text: the answer, not a confidence
            values.append(_number(m, offset=0, scale=stated, key="confidence", kind="line"))
    # S6 answer lines, with the question known
    if question:
        for m in _ANSWER_LINE_RE.finditer(text):
            pct_text = _compact_pct(m)
            if _in_question(pct_text, q_compact):
                evidence.append(_Cand(None, "in_question", (m.start(), m.end()), pct_text))
                continue
            values.append(_number(m, offset=0, scale=None, key="confidence", kind="answer_line"))
    # S5 follow-up statements
    if followup:
        for m in _STATEMENT_RE.finditer(text):
            if _OF_AFTER_RE.match(text, m.end()) or _FORMULA_AFTER_RE.match(text, m.end()):
                continue
            c = _number(m, offset=0, scale=stated, key="confidence", kind="statement")
            values.append(c)
            pm = _PAREN_PCT_RE.match(text, m.end())
            if pm:
                evidence.append(_Cand(float(pm.group("num")) / 100, "paren", c.span, pm.group(0)))
        for m in _NEGATED_RE.finditer(text):
            negated.append(m.group(0))
    # loose evidence (follow-up replies only; an inline answer body may well say "a 30% chance
    # of relapse"): "a 99% confidence", "66.67% chance"
    taken = {c.span for c in values}
    for m in _LOOSE_RE.finditer(text) if followup else ():
        c = _number(m, offset=0, scale=None, key="confidence", kind="loose")
        if c.span not in taken and not any(v.span[0] <= c.span[0] < v.span[1] for v in values):
            evidence.append(c)

    # dedupe candidates that read the same characters
    uniq: dict[tuple[int, int], _Cand] = {}
    for c in values:
        uniq.setdefault(c.span, c)
    values = sorted(uniq.values(), key=lambda c: c.span[0])

    if values:
        ok = [c for c in values if c.value is not None]
        negative = [c for c in values if c.reason and c.reason.startswith("negative")]
        if negative:  # "Confidence: -50%" is never read as 50%, whatever else the reply says
            return _from_cand(negative[0])
        if negated and followup:
            return _none(
                f"contradictory statements: {negated[0]!r}",
                matched=values[0].text,
                span=values[0].span,
            )
        if not ok:
            return _from_cand(values[-1])
        nums = [c.value for c in ok if c.value is not None]
        nums += [c.value for c in evidence if c.value is not None]
        nums += [c.raw / 100 for c in evidence if c.value is None and c.raw is not None]
        distinct = _distinct(nums, 0.001)
        if len(distinct) > 1:
            return _none(
                "conflicting confidence statements: " + ", ".join(_fmt(v) for v in distinct),
                matched=ok[0].text,
                span=ok[0].span,
            )
        if followup:
            _, every = _phrases(text, levels=False, owned_only=False)
            ph = [c.value for c in every if c.value is not None]
            if any(abs(p - distinct[0]) > 0.15 for p in ph):
                return _none(
                    "conflicting confidence statements: "
                    + ", ".join([_fmt(distinct[0])] + [repr(c.text) for c in every]),
                    matched=ok[0].text,
                    span=ok[0].span,
                )
        return _from_cand(ok[0], statements=len(ok))

    if phrase_in_label:
        return _from_cand(phrase_in_label[-1])

    # S7 (follow-up only, last resort): a first-person estimate answering "how likely is your
    # answer correct?": "I'd say 90%", "I would estimate 80% likelihood that my answer is correct".
    # Every such estimate must agree; a bare percentage elsewhere in the reply is not read.
    if followup and not negated:
        est = [
            _number(m, offset=0, scale=None, key="confidence", kind="estimate")
            for m in _ESTIMATE_RE.finditer(text)
            if not re.match(r"\s*of\b", text[m.end() :])  # "30% of patients" is a proportion
        ]
        if est and len(_distinct([c.value for c in est if c.value is not None], 0.001)) <= 1:
            return _from_cand(est[0])

    n_words = len(original.split())
    read_phrases = followup or (mode == "auto" and n_words <= 12)
    owned, every = _phrases(text, levels=False, owned_only=True)
    if not read_phrases:
        owned = [
            c
            for c in owned
            if _FIRST_PERSON_PHRASE_RE.search(text[max(0, c.span[0] - 40) : c.span[0]])
        ]
    if owned:
        readings = [c.value for c in every if c.value is not None]
        if readings and max(readings) - min(readings) > 0.10:
            return _none(
                "conflicting confidence statements: " + ", ".join(repr(c.text) for c in every),
                matched=owned[0].text,
                span=owned[0].span,
            )
        return _from_cand(owned[0])
    if label_seen:
        return _none("confidence label without a readable value")
    if placeholders or structured.reason:
        what = placeholders[0] if placeholders else structured.reason
        return _none(f"the confidence statement is a placeholder, not a value: {what!r}")
    return _none("no confidence statement found")


_STRIP_LINE_RE = re.compile(
    r"^[ \t*_#\"'`\-\u2022+|(\[]*(?:\d{1,2}[.)][ \t]*)?(?:(?:my|the|overall|estimated)\s+)?"
    r"(?:(?P<conf>confidence|certainty)|probability|likelihood|chance)"
    r"(?:\s+(?:level|score|rating|estimate|value))?[*_ \t\"']*(?:\([^)\n]{0,40}\))?[*_ \t\"']*"
    r"(?:[:=]|(?(conf)(?:\bis\b|\bof\b|\bat\b|-)|(?!)))(?P<rest>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
# what a stripped label line must hold after its label: a value, an echoed placeholder, or a
# probability phrase / level word ("Confidence is a feeling ..." in an answer is content)
_STRIP_REST_RE = re.compile(
    r"[ \t*_\"'`]*(?:[-+]?\d|\.\d|<|\[|\{|NN|XX|N/A\b|none\b|unknown\b|"
    + _WORDS_0_100
    + r"\b[ \t]*(?:%|percent\b|per\s*cent\b|[.!*_]*[ \t]*$)|"
    r"(?:an?\s+)?(?:integer|number|value|percentage)\b|"
    + _PHRASE_RE.pattern[len("(?<![\\w-])") :]
    + "|"
    + _LEVEL_RE.pattern[len("(?<![\\w-])") :]
    + r")",
    re.IGNORECASE,
)
_STRIP_VALUE_LINE_RE = re.compile(
    r"^[ \t*_>\"'`(\[]*\d+(?:\.\d+)?\s*%[ \t*_.!\"'`)\]]*$", re.MULTILINE
)
_STRIP_INLINE_RE = re.compile(
    r"[(\[]?[*_]{0,10}\b(?:my\s+)?(?:confidence|certainty)(?:\s+(?:level|score|rating))?[*_ \t]*"
    r"(?:\([^)\n]{0,40}\))?[*_ \t]*(?:[:=]|\bis\b)[^\n]*$",
    re.IGNORECASE,
)


_STATEMENT_WORD_RE = re.compile(
    r"confidence|certainty|probability|likelihood|chance|accuracy", re.I
)


def confidence_statement_spans(text: str, *, question: str | None = None) -> list[tuple[int, int]]:
    """``[start, end)`` spans of the designated confidence statements in ``text``: exactly what
    :func:`strip_confidence_line` removes (label lines, value-only lines, a trailing statement on
    the last line). Code, quotations, mid-sentence labels and JSON objects are never included.

    Args:
        text: the model reply.
        question: the question with its options, if known (an option's percentage is content).

    Returns:
        Sorted, possibly overlapping spans; ``[]`` when the reply has no such statement.
    """
    if not text:
        return []
    if _INVISIBLE_RE.search(text):
        clean, index = _drop_invisible(text)
        inner = confidence_statement_spans(clean, question=question)
        return [_map_span(sp, index, len(text)) for sp in inner]
    folded = _fold(text)
    if "%" not in folded and not _STATEMENT_WORD_RE.search(folded):
        return []  # no label word and no percentage: nothing to find (fast path)
    objs, _ = find_json_objects(text) if "{" in text else ([], False)
    masked = _blank(_mask_content(folded), [(o.start, o.end) for o in objs])
    q_compact = re.sub(r"\s+", "", question) if question else ""
    cuts: list[tuple[int, int]] = []
    for m in _STRIP_LINE_RE.finditer(masked):
        if _STRIP_REST_RE.match(m.group("rest")):
            cuts.append((m.start(), m.end()))
    for m in _STRIP_VALUE_LINE_RE.finditer(masked):
        pct = re.sub(r"[^\d.%]", "", m.group(0))
        if not _in_question(pct, q_compact):
            cuts.append((m.start(), m.end()))
    for m in _ACCURACY_LINE_RE.finditer(masked):
        cuts.append((m.start(), m.end()))
    # the trailing statement of the last line that is not cut whole
    covered = _blank(masked, cuts)
    last_end = len(covered.rstrip())
    last_start = covered.rfind("\n", 0, last_end) + 1
    for m in _STRIP_INLINE_RE.finditer(covered, last_start, last_end):
        before = covered[last_start : m.start()]
        if m.start() > last_start and (
            _SENTENCE_PREFIX_RE.search(before)
            or (_SOFT_PREFIX_RE.search(before) and _LINE_TAIL_RE.match(covered, m.end()))
            or (m.group(0)[:1] in "([" and before.endswith((" ", "\t")))
        ):
            cut_from = m.start()
            cuts.append((cut_from, last_end))
            break
    return sorted(cuts)


def strip_confidence_line(text: str, *, question: str | None = None) -> str:
    """Remove the designated confidence statement(s) so the user sees only the answer.

    Removes exactly what :func:`parse_verbalized` treats as a confidence statement: a line that
    starts with a confidence label and holds a value, placeholder or phrase (``Confidence: 85%``,
    ``**Confidence level:** high``, ``Probability: 0.9``, ``Confidence: NN%``), a line that is
    only a percentage (``85%``), and, at the end of the last line, a trailing statement that
    starts a sentence or a bracket (``Paris. Confidence: 85%``, ``Paris (confidence: 85%)``,
    ``Paris, confidence: 85%``). Labels are matched after folding look-alike letters (a Cyrillic
    ``о`` in "Cоnfidence", fullwidth digits), so a disguised statement is removed, not shown.

    Content is never cut: code blocks, inline code, ``>`` block quotes, quotations that mention a
    confidence, a label mid-sentence (``Use `confidence: 0.9` in config.yaml``, "set confidence:
    0.9 in the file"), a line such as "Confidence is a feeling of ...", and JSON objects (a JSON
    reply is returned unchanged: its confidence field is part of the structure the caller asked
    for; :func:`parse_verbalized` reads it).

    With ``question`` given, a line that is only a percentage found in the question (an option
    such as ``69%`` answering "A. 59% B. 69%") is the answer, not a confidence, and stays, as
    :func:`parse_verbalized` with the same ``question`` does not read it either.

    Args:
        text: the model reply.
        question: the question (with its options) the reply answers, if known.

    Returns:
        The reply without its confidence statement (unchanged when there is none); surrounding
        blank lines are trimmed.
    """
    if not text:
        return text
    cuts = confidence_statement_spans(text, question=question)
    if not cuts:
        return text.strip()
    out: list[str] = []
    pos = 0
    for a, b in sorted(cuts):
        if a < pos:
            a = pos
        out.append(text[pos:a])
        pos = max(pos, b)
    out.append(text[pos:])
    result = "".join(out)
    # a horizontal rule left above the removed statement ("Paris\n\n---\nConfidence: 85%")
    result = re.sub(r"(?:\n[ \t]*(?:-{3,}|\*{3,}|_{3,}|={3,})[ \t]*)+$", "", result.rstrip())
    result = re.sub(r"[ \t]*[,;\-\u2013\u2014|]?[ \t]*$", "", result.rstrip())
    result = re.sub(r"[ \t]+\n", "\n", result)
    result = re.sub(r"\n{3,}", "\n\n", result)
    return result.strip()
