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
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from guardrail.signals.base import SignalResult

__all__ = [
    "FOLLOWUP_TEMPLATE",
    "INLINE_TEMPLATE",
    "PHRASE_PROBABILITIES",
    "ParseMode",
    "VerbalizedConfidence",
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

_NEGATORS = r"(?:not|n't|never|no|hardly)"

_KEY = r"(?:confidence|certainty|probability|likelihood|chance)"
_NUM = r"(?P<sign>[-\u2212])?(?P<num>\d+(?:\.\d+)?|\.\d+)"
_VALUE_RE = re.compile(
    _NUM + r"\s*(?:(?P<pct>%|percent\b|per\s*cent\b)|(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
# "Confidence: 85%", "**Confidence level:** 9/10", "My confidence is 85%", "Confidence (0-100): 85".
# "confidence"/"certainty" may be followed by ":", "=", "is", "of", "at" or "-"; "probability",
# "likelihood" and "chance" only by ":" or "=" (so "the probability of heads is 0.5" in an answer
# body is not read as a stated confidence).
_LABEL_RE = re.compile(
    r"(?P<label>(?:\b(?:my|the|a|an|overall|estimated)\s+)?"
    r"(?:(?P<conf>confidence|certainty)|(?:probability|likelihood|chance))"
    r"(?:\s+(?:level|score|rating|estimate|value))?)"
    r"[*_\s]*(?:\((?P<paren>[^)\n]{0,40})\))?[*_ \t]*"
    r"(?P<sep>[:=]|(?(conf)(?:\bis\b|\bof\b|\bat\b|-)|(?!)))(?:\s*\bis\b)?[*_ \t]*",
    re.IGNORECASE,
)
# "I am 90% confident", "90% sure", "85% confidence", "9/10 confident".
_TRAILING_RE = re.compile(
    _NUM + r"\s*(?P<pct>%|percent\b|per\s*cent\b|/\s*(?P<den>\d+))\s*"
    r"(?:confident|sure|certain|confidence|certainty)\b",
    re.IGNORECASE,
)
_SCALE_RE = re.compile(
    r"(?:\b(?:0|1)\s*(?:-|\u2013|to)\s*(?P<a>10|100|5)\b|out\s+of\s+(?P<b>10|100|5)\b|"
    r"scale\s+of\s+(?:0|1)\s*(?:-|\u2013|to)\s*(?P<c>10|100|5)\b)",
    re.IGNORECASE,
)
_BARE_RE = re.compile(
    r"^[\s*_>\"'`(\[]*"
    + _NUM
    + r"\s*(?P<pct>%|percent)?\s*(?:(?:/|out\s+of)\s*(?P<den>\d+))?[\s*_.!\"'`)\]]*$",
    re.IGNORECASE,
)


def _phrase_regex(table: Mapping[str, float]) -> re.Pattern[str]:
    alts = sorted(table, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in alts)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


_PHRASE_RE = _phrase_regex(PHRASE_PROBABILITIES)
_LEVEL_RE = _phrase_regex(LEVEL_PROBABILITIES)
_NEG_BEFORE_RE = re.compile(rf"(?:\b{_NEGATORS}|n't)\s+(?:\w+\s+)?$", re.IGNORECASE)


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
    method: Literal["percent", "decimal", "fraction", "scale", "phrase", "level", "none"] = "none"
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


def _stated_scale(text: str) -> float | None:
    m = _SCALE_RE.search(text)
    if not m:
        return None
    return float(m.group("a") or m.group("b") or m.group("c"))


def _from_number(
    m: re.Match[str],
    *,
    offset: int,
    scale: float | None,
    key: str,
) -> VerbalizedConfidence:
    """Turn a matched number (with optional %, /den) into a result."""
    text = m.group(0).strip()
    span = (offset + m.start(), offset + m.start() + len(m.group(0).rstrip()))
    num = float(m.group("num"))
    has_point = "." in m.group("num")
    common: dict[str, Any] = {"matched": text, "span": span, "raw_number": num}
    if m.group("sign"):
        return _none(f"negative confidence {text!r} is out of range", **common)
    pct = m.groupdict().get("pct")
    den_s = m.groupdict().get("den")
    if pct and not pct.startswith("/"):
        if num > 100:
            return _none(f"confidence {text!r} is above 100%", **common)
        return VerbalizedConfidence(value=num / 100, method="percent", scale=100.0, **common)
    if den_s:
        den = float(den_s)
        if den <= 0:
            return _none(f"fraction {text!r} has a zero denominator", **common)
        if num > den:
            return _none(f"fraction {text!r} is above 1", **common)
        return VerbalizedConfidence(value=num / den, method="fraction", scale=den, **common)
    if scale is not None:
        if num > scale:
            return _none(
                f"confidence {text!r} is above the stated scale maximum {scale:g}", **common
            )
        method: Literal["scale", "decimal", "percent"] = (
            "scale" if scale not in (1.0, 100.0) else ("decimal" if scale == 1.0 else "percent")
        )
        return VerbalizedConfidence(value=num / scale, method=method, scale=scale, **common)
    # Bare number, no scale stated: 0.85 / .85 / 1.0 are probabilities; 85 and 85.5 are
    # percentages (the templates ask for 0-100). A bare integer 0 or 1 after "probability",
    # "chance" or "likelihood" is read as a probability.
    probability_key = key in ("probability", "chance", "likelihood")
    if (has_point and num <= 1.0) or (probability_key and num in (0.0, 1.0)):
        return VerbalizedConfidence(value=num, method="decimal", scale=1.0, **common)
    if num > 100:
        return _none(f"confidence {text!r} is above 100", **common)
    return VerbalizedConfidence(value=num / 100, method="percent", scale=100.0, **common)


def _from_phrase(
    text: str, *, offset: int, levels: bool, negation_context: str = ""
) -> VerbalizedConfidence | None:
    """Read the first probability phrase (or level word) in ``text``; None when there is none."""
    best: VerbalizedConfidence | None = None
    candidates: list[tuple[int, re.Match[str], Mapping[str, float], str]] = []
    pm = _PHRASE_RE.search(text)
    if pm:
        candidates.append((pm.start(), pm, PHRASE_PROBABILITIES, "phrase"))
    if levels:
        lm = _LEVEL_RE.search(text)
        if lm:
            candidates.append((lm.start(), lm, LEVEL_PROBABILITIES, "level"))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c[0], -len(c[1].group(0))))
    _, m, table, kind = candidates[0]
    phrase = m.group(0)
    key = re.sub(r"\s+", " ", phrase.lower())
    span = (offset + m.start(), offset + m.end())
    before = negation_context + text[: m.start()]
    if _NEG_BEFORE_RE.search(before) and not key.startswith("not "):
        neg = _NEG_BEFORE_RE.search(before)
        assert neg is not None
        return _none(
            f"negated phrase {(neg.group(0) + phrase).strip()!r} has no entry in the phrase table",
            matched=phrase,
            span=span,
        )
    value = table[key]
    method: Literal["phrase", "level"] = "phrase" if kind == "phrase" else "level"
    best = VerbalizedConfidence(value=value, method=method, matched=phrase, span=span)
    return best


def _designated(text: str) -> list[tuple[int, int, str, str]]:
    """Designated confidence statements: (start of value region, end of line, key word, label)."""
    found: list[tuple[int, int, str, str]] = []
    for m in _LABEL_RE.finditer(text):
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end == -1 else line_end
        key_m = re.search(_KEY, m.group("label"), re.IGNORECASE)
        key = key_m.group(0).lower() if key_m else "confidence"
        found.append((m.end(), line_end, key, m.group(0)))
    return found


def parse_verbalized(
    text: str | None, *, scale: float | None = None, mode: ParseMode = "auto"
) -> VerbalizedConfidence:
    """Parse a verbalized confidence from a model reply.

    Reading order (first that yields something wins):

    1. the *last* designated confidence statement: a label (``Confidence``, ``Confidence level``,
       ``Probability``, ``Certainty``, ``Likelihood``, ``Chance``) followed by ``:``, ``=``,
       ``is``, ``of`` or ``at``, then a number (``85%``, ``85 %``, ``0.85``, ``.85``, ``85/100``,
       ``8/10``, ``8 out of 10``, ``85.5``), a probability phrase, or a level word (``high``);
    2. a statement of the form ``90% confident`` / ``90% sure`` / ``85% confidence``;
    3. a reply that is nothing but a number (``85``, ``85%``, ``0.9``);
    4. a probability phrase anywhere in the reply, only in ``followup`` mode or, in ``auto`` mode,
       when the reply has at most 12 words (so hedging words in a long answer body are not read
       as a stated probability). ``inline`` mode never reads phrases outside a confidence line.

    Numbers outside a designated statement are never read. Bare numbers: with ``scale`` given (or
    a scale stated in the reply, "0-10", "out of 10"), the value is ``number / scale``; otherwise a
    number with a decimal point <= 1 is a probability and any other number is a percentage.
    Phrases map through :data:`PHRASE_PROBABILITIES` (longest match first; a phrase preceded by a
    negation that has no table entry of its own gives no value).

    Args:
        text: the model reply (None or non-str gives no value).
        scale: the maximum of the scale the prompt asked for (1, 5, 10, 100), or None to infer.
        mode: ``auto`` (default), ``inline`` (answer + confidence line) or ``followup`` (the whole
            reply answers "how likely is it correct?").

    Returns:
        :class:`VerbalizedConfidence`; ``value`` None with ``reason`` when absent, out of range
        (``150%``, ``-5%``, ``11/10``) or unreadable. Never raises for any reply text.

    Raises:
        ValueError: ``scale`` is not positive (a caller error, not a reply error).
    """
    if scale is not None and (not math.isfinite(scale) or scale <= 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    if not isinstance(text, str) or not text.strip():
        return _none("empty reply")
    stated = scale if scale is not None else _stated_scale(text)

    designated = _designated(text)
    for start, end, key, label in reversed(designated):
        region = text[start:end]
        # Skip the stated-scale part right after the label, e.g. "(0-100):" was already consumed.
        vm = _VALUE_RE.search(region)
        pm = _PHRASE_RE.search(region)
        lm = _LEVEL_RE.search(region)
        first_word = min(
            (x.start() for x in (pm, lm) if x is not None),
            default=len(region) + 1,
        )
        if vm is not None and vm.start() <= first_word + 40:
            region_scale = _stated_scale(label) or stated
            res = _from_number(vm, offset=start, scale=region_scale, key=key)
            return res.model_copy(update={"evidence": {**res.evidence, "line": label + region}})
        ph = _from_phrase(region, offset=start, levels=True, negation_context=label)
        if ph is not None:
            return ph.model_copy(update={"evidence": {**ph.evidence, "line": label + region}})

    trailing = list(_TRAILING_RE.finditer(text))
    if trailing:
        return _from_number(trailing[-1], offset=0, scale=stated, key="confidence")

    bare = _BARE_RE.match(text)
    if bare:
        return _from_number(bare, offset=0, scale=stated, key="confidence")

    n_words = len(text.split())
    if mode == "followup" or (mode == "auto" and n_words <= 12):
        ph = _from_phrase(text, offset=0, levels=False)
        if ph is not None:
            return ph
    if designated:
        return _none("confidence label without a readable value")
    return _none("no confidence statement found")


_STRIP_LINE_RE = re.compile(
    r"^[ \t>*_#-]*(?:(?:my|the|overall|estimated)\s+)?"
    + _KEY
    + r"(?:\s+(?:level|score|rating|estimate|value))?[*_ \t]*(?:\([^)\n]{0,40}\))?[*_ \t]*"
    r"(?:[:=]|\bis\b|\bof\b|\bat\b|-).*$",
    re.IGNORECASE | re.MULTILINE,
)
_STRIP_INLINE_RE = re.compile(
    r"[ \t]*[(\[]?[*_]*\b" + _KEY + r"(?:\s+(?:level|score|rating))?[*_ \t]*(?:\([^)\n]{0,40}\))?"
    r"[*_ \t]*[:=][^\n]*$",
    re.IGNORECASE,
)


def strip_confidence_line(text: str) -> str:
    """Remove the inline confidence statement(s) so the user sees only the answer.

    Removes every line that is a confidence statement (``Confidence: 85%``,
    ``**Confidence level:** high``) and, when the answer's last line ends with
    ``... Confidence: 85%``, that trailing part. Surrounding blank lines are trimmed; the answer
    body (including numbers in it) is untouched.

    Args:
        text: the model reply.

    Returns:
        The reply without its confidence statement (unchanged when there is none).
    """
    if not text:
        return text
    out = _STRIP_LINE_RE.sub("", text)
    out = out.rstrip()
    last_nl = out.rfind("\n")
    head, last = (out[: last_nl + 1], out[last_nl + 1 :]) if last_nl >= 0 else ("", out)
    last = _STRIP_INLINE_RE.sub("", last).rstrip()
    out = head + last
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()
