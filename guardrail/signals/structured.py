"""Structured (JSON) confidence: the confidence field of a JSON reply, or the chosen option's
probability when the reply gives a probability per option.

Models asked for ``{"answer": ..., "confidence": ...}`` (the JSON elicitation of Xiong et al.
2023, arXiv 2306.13063, and of the llm_confidence_json study, NoamMichael/Comparing-Confidence-in-
LLMs) reply with one object, several objects, a fenced ```json block, prose around the object, an
echoed template, or a follow-on question they invented with its own object. This module reads the
*designated* JSON field only:

* every JSON object in the reply is found (fenced or bare, string-aware brace matching, bounded);
* a key whose name starts with ``confidence`` or ``certainty`` (case, spaces, ``_`` and ``-``
  ignored; not ``confidence_interval``) or is ``probability`` / ``likelihood`` / ``prob`` is a
  confidence field. Its value is a JSON number or a string that is *only* a number (``0.85``,
  ``85``, ``"85%"``, ``"85 percent"``, ``"8/10"``), or a level word (``"high"``);
  anything else (``"<integer from 0 to 100>"``, ``"an integer between 0 and 100"``, ``"NN%"``,
  ``"0-100"``) is an instruction or placeholder and is never a value;
* per-option probabilities (``{"Answer": "C", "A": 0.1, ..., "E": 0.05}`` or a nested
  ``{"probabilities": {"A": ..}}``) give the chosen option's probability divided by the sum over
  the offered options (the same normalisation as ``logprob_confidence``'s ``option_prob``, Kumar
  et al. 2023, arXiv 2305.18404, and as the llm_confidence_json authors' stated confidence);
* the first object with a readable confidence is the committed answer. A later object for a
  different answer, or after an invented next question ("Question: ...", "Q2:", "User:"), does
  not conflict with it; a later object for the same answer (or without an answer) with another
  value is a real conflict: no value, with the reason.

Never raises on model output: deep nesting, huge or malformed objects are skipped.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ANSWER_FIELD_KEYS",
    "JsonAnswer",
    "JsonObject",
    "StructuredReading",
    "find_json_objects",
    "json_answer",
    "read_structured_confidence",
]

MAX_OBJECT_CHARS = 200_000
"""JSON objects longer than this are not parsed (a confidence object is a few hundred bytes)."""
MAX_OBJECTS = 64
"""At most this many objects are parsed per reply (bounded work on hostile replies)."""
MAX_CANDIDATES = 512
"""At most this many brace-delimited candidates are tried per reply ("{a} {b} ..." prose)."""
_MAX_RESCAN_DEPTH = 3


@dataclass(frozen=True)
class JsonObject:
    """A JSON object found in a reply.

    Attributes:
        start: offset of ``{`` in the reply.
        end: offset just after the matching ``}``.
        value: the parsed object.
    """

    start: int
    end: int
    value: dict[str, Any]


_BRACE_RE = re.compile(r'[{}"\\]')


def _spans(text: str, lo: int, hi: int, limit: int = 1 << 30) -> tuple[list[tuple[int, int]], bool]:
    """Top-level balanced ``{...}`` spans in ``text[lo:hi]`` (strings inside objects respected),
    and whether an object was left open (truncated)."""
    out: list[tuple[int, int]] = []
    depth = 0
    start = -1
    in_str = False
    skip = -1
    for m in _BRACE_RE.finditer(text, lo, hi):
        p = m.start()
        if p < skip:
            continue
        ch = m.group(0)
        if depth == 0:
            if ch == "{":
                depth, start, in_str = 1, p, False
            continue
        if in_str:
            if ch == "\\":
                skip = p + 2
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                out.append((start, p + 1))
                if len(out) >= limit:
                    return out, False
    if depth > 0:
        out.append((start, hi))
        return out, True
    return out, False


_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")


def _loads(chunk: str) -> Any:
    """``json.loads`` that tolerates raw newlines in strings and trailing commas; None on error."""
    for candidate in (chunk, _TRAILING_COMMA_RE.sub(r"\1", chunk)):
        try:
            return json.loads(candidate, strict=False)
        except (ValueError, RecursionError):
            continue
    return None


# A flat "key": value pair, for objects that are not valid JSON (unescaped quotes inside a long
# string value are common): only short scalar values are taken, so the keys a confidence needs
# (confidence, answer, option letters) are read and the broken prose string is skipped.
_LOOSE_PAIR_RE = re.compile(
    r'"(?P<k>[^"\n]{1,40})"\s*:\s*(?P<v>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|"[^"\n]{0,80}"|true|false|null)'
    r"\s*(?=,|\}|\n)"
)


def _loose(chunk: str) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for m in _LOOSE_PAIR_RE.finditer(chunk):
        v = m.group("v")
        out.setdefault(m.group("k"), v[1:-1] if v.startswith('"') else _loads(v))
    return out or None


def find_json_objects(text: str) -> tuple[list[JsonObject], bool]:
    """Every JSON object in ``text``, in order of appearance.

    Objects are found by string-aware brace matching (so ``{`` inside a JSON string does not
    count), fenced (```json) or bare. An object that does not parse is searched for complete
    objects inside it (up to 3 levels), so prose braces ("in {1,2,3}") around a real object do not
    hide it. Trailing commas are tolerated. Objects over :data:`MAX_OBJECT_CHARS` characters,
    nesting too deep for ``json``, more than :data:`MAX_OBJECTS` objects and candidates beyond
    the first :data:`MAX_CANDIDATES` are skipped.

    Args:
        text: the model reply.

    Returns:
        ``(objects, truncated)``: the parsed objects, and whether the reply ends inside an
        unterminated object (a cut-off reply).
    """
    found: list[JsonObject] = []
    truncated = False
    attempts = 0

    def scan(lo: int, hi: int, level: int) -> None:
        nonlocal truncated, attempts
        spans, open_end = _spans(text, lo, hi, MAX_CANDIDATES + 1)
        truncated = truncated or (open_end and level == 0)
        for s, e in spans:
            attempts += 1
            if len(found) >= MAX_OBJECTS or attempts > MAX_CANDIDATES:
                return
            closed = e <= len(text) and text[e - 1 : e] == "}"
            small = e - s <= MAX_OBJECT_CHARS
            value = _loads(text[s:e]) if closed and small else None
            if isinstance(value, dict):
                found.append(JsonObject(s, e, value))
                continue
            before = len(found)
            if level < _MAX_RESCAN_DEPTH and e - s > 2:
                scan(s + 1, e - 1 if closed else e, level + 1)
            if len(found) == before and closed and small:
                loose = _loose(text[s:e])
                if loose is not None:
                    found.append(JsonObject(s, e, loose))

    scan(0, len(text), 0)
    found.sort(key=lambda o: o.start)
    return found, truncated


# --- keys and values ------------------------------------------------------------------------------


def _norm_key(key: str) -> str:
    return re.sub(r"[^a-z]", "", key.lower())


_EXACT_CONF_KEYS = frozenset(
    {
        "probability",
        "prob",
        "likelihood",
        "probabilitycorrect",
        "probabilityofcorrectness",
        "probabilityofbeingcorrect",
        "pcorrect",
        "verbalizedconfidence",
        "statedconfidence",
        "selfconfidence",
        "answerconfidence",
        "answercertainty",
    }
)
_NOT_CONF = ("confidenceinterval", "confidencereason", "confidenceexplanation", "confidencerat")


def _is_conf_key(key: str) -> bool:
    k = _norm_key(key)
    if any(k.startswith(p) for p in _NOT_CONF):
        return False
    return k.startswith(("confidence", "certainty")) or k in _EXACT_CONF_KEYS


_ANSWER_KEYS = frozenset(
    {
        "answer",
        "finalanswer",
        "choice",
        "chosenoption",
        "selectedoption",
        "option",
        "prediction",
        "predictedanswer",
        "bestanswer",
        "answerletter",
        "response",
    }
)
_OPTION_DICT_KEYS = frozenset(
    {
        "probabilities",
        "probs",
        "optionprobabilities",
        "options",
        "confidences",
        "optionconfidences",
        "scores",
        "distribution",
        "answerprobabilities",
        "choiceprobabilities",
    }
)
_LETTER_KEY_RE = re.compile(r"^\s*(?:option\s*)?\(?([A-Ja-j])\)?\s*$", re.IGNORECASE)
_ANSWER_LETTER_RE = re.compile(
    r"^\s*(?:\*\*)?(?:(?:option|answer|choice)\s*:?\s*)?\(?([A-J])\)?(?:\*\*)?(?:[.):\s]|$)",
    re.IGNORECASE,
)
_QUESTION_OPTION_RE = re.compile(r"(?:^|[\s\n])\(?([A-J])[).:]\s", re.MULTILINE)

_NUM_STR_RE = re.compile(
    r"^\s*(?P<sign>[-+\u2212])?\s*(?P<num>\d+(?:\.\d+)?|\.\d+)\s*"
    r"(?:(?P<pct>%|percent|per\s*cent)|(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))?\s*\.?\s*$",
    re.IGNORECASE,
)
_LEVELS = {
    "very high": 0.90,
    "high": 0.80,
    "moderate": 0.50,
    "medium": 0.50,
    "low": 0.20,
    "very low": 0.10,
}
_SCALE_IN_KEY_RE = re.compile(r"(?:0|1)\s*(?:-|\u2013|to)\s*(10|100|5)\b")


@dataclass
class _Value:
    value: float | None
    raw: str
    method: str = "none"
    reason: str | None = None
    placeholder: bool = False


def _read_value(v: Any, *, key: str = "") -> _Value:
    """Read one confidence field value (never raises)."""
    raw = json.dumps(v, ensure_ascii=False)[:60] if not isinstance(v, str) else v[:60]
    scale_m = _SCALE_IN_KEY_RE.search(key)
    scale = float(scale_m.group(1)) if scale_m else None
    if isinstance(v, bool) or v is None:
        return _Value(None, raw, reason=f"confidence field holds {raw}")
    if isinstance(v, (int, float)):
        if not math.isfinite(float(v)):
            return _Value(None, raw, reason=f"confidence {raw} is not a finite number")
        num = float(v)
        sign = num < 0
        num = abs(num)
        pct = False
        den = None
        has_point = isinstance(v, float)
    elif isinstance(v, str):
        s = v.strip().strip("*_`").strip()
        low = re.sub(r"\s+", " ", s.lower())
        if low in _LEVELS:
            return _Value(_LEVELS[low], raw, method="level")
        m = _NUM_STR_RE.match(s)
        if m is None:
            return _Value(
                None, raw, reason=f"confidence field {raw!r} is not a number", placeholder=True
            )
        num = float(m.group("num"))
        sign = bool(m.group("sign")) and m.group("sign") != "+"
        pct = bool(m.group("pct"))
        den = float(m.group("den")) if m.group("den") else None
        has_point = "." in m.group("num")
    else:
        return _Value(None, raw, reason="confidence field is not a number", placeholder=True)
    if sign and num != 0:
        return _Value(None, raw, reason=f"negative confidence {raw!r} is out of range")
    if pct:
        if num > 100:
            return _Value(None, raw, reason=f"confidence {raw!r} is above 100%")
        return _Value(num / 100, raw, method="percent")
    if den is not None:
        if den <= 0 or num > den:
            return _Value(None, raw, reason=f"fraction {raw!r} is not in [0, 1]")
        return _Value(num / den, raw, method="fraction")
    if scale is not None:
        if num > scale:
            return _Value(None, raw, reason=f"confidence {raw!r} is above the scale {scale:g}")
        return _Value(num / scale, raw, method="scale" if scale not in (1, 100) else "percent")
    # No scale: a number <= 1 with a decimal point (or a JSON 0 / 1) is a probability; any other
    # number is a percentage (prompts ask for 0-1 or 0-100).
    if num <= 1.0 and (has_point or num in (0.0, 1.0)):
        return _Value(num, raw, method="decimal")
    if num > 100:
        return _Value(None, raw, reason=f"confidence {raw!r} is above 100")
    return _Value(num / 100, raw, method="percent")


def _answer_text(obj: dict[str, Any]) -> str | None:
    for k, v in obj.items():
        if _norm_key(k) in _ANSWER_KEYS and isinstance(v, (str, int, float)):
            return str(v)
    return None


def _norm_answer(a: str | None) -> str | None:
    if a is None:
        return None
    return re.sub(r"[\W_]+", " ", a.lower()).strip()


def _question_options(question: str | None) -> set[str]:
    if not question:
        return set()
    letters = {m.group(1).upper() for m in _QUESTION_OPTION_RE.finditer(question)}
    return letters if len(letters) >= 2 else set()


def _numeric(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, str):
        m = _NUM_STR_RE.match(v)
        if m and not m.group("den"):
            num = float(m.group("num"))
            if m.group("sign") and m.group("sign") != "+" and num != 0:
                return -num
            return num / 100 if m.group("pct") else num
    return None


@dataclass
class _Reading:
    obj: JsonObject
    value: _Value
    kind: Literal["json_field", "json_options"]
    field_key: str
    answer: str | None
    evidence: dict[str, Any] = field(default_factory=dict)


def _options_reading(
    obj: JsonObject, answer: str | None, offered: set[str]
) -> tuple[_Value, dict[str, Any]] | None:
    """The chosen option's probability from per-option probabilities, or None if none given."""
    probs: dict[str, Any] = {}
    for k, v in obj.value.items():
        m = _LETTER_KEY_RE.match(k)
        if m and len(k.strip()) <= 10 and not isinstance(v, (dict, list)):
            probs[m.group(1).upper()] = v
    for k, v in obj.value.items():
        if _norm_key(k) in _OPTION_DICT_KEYS and isinstance(v, dict):
            for ok, ov in v.items():
                m = _LETTER_KEY_RE.match(str(ok))
                probs[m.group(1).upper() if m else str(ok).strip()] = ov
    if sum(_numeric(v) is not None for v in probs.values()) < 2:
        return None  # {"A": "text", "B": "text"} is not a probability per option
    if answer is None:
        return _Value(None, "", reason="per-option probabilities without a chosen option"), {}
    am = _ANSWER_LETTER_RE.match(answer)
    chosen = am.group(1).upper() if am else None
    if chosen is None or chosen not in probs:
        by_text = {re.sub(r"\s+", " ", k.lower()): k for k in probs}
        chosen = by_text.get(re.sub(r"\s+", " ", answer.strip().lower()))
    if chosen is None or chosen not in probs:
        return _Value(
            None, answer[:60], reason=f"chosen option {answer[:40]!r} has no stated probability"
        ), {}
    keys = [k for k in probs if not offered or k in offered or len(k) > 1]
    if offered and chosen not in offered:
        return _Value(None, chosen, reason=f"chosen option {chosen!r} is not an option"), {}
    nums = {k: _numeric(probs[k]) for k in keys}
    p = nums.get(chosen)
    if p is None:
        why = "chosen option's probability is not a number"
        return _Value(None, str(probs[chosen])[:60], reason=why), {}
    if any(x is not None and x < 0 for x in nums.values()):
        return _Value(None, str(probs[chosen])[:60], reason="negative option probability"), {}
    total = sum(x for x in nums.values() if x is not None)
    ev = {"chosen": chosen, "stated": p, "sum": round(total, 6), "options": len(nums)}
    if total <= 0:  # every option, the chosen one included, stated as 0
        return _Value(0.0, str(probs[chosen])[:60], method="option"), ev
    return _Value(p / total, str(probs[chosen])[:60], method="option"), ev


# Keys of the answer-with-confidence schema: an object made only of these (or with an answer
# field) is the reply's designated answer object wherever it stands.
_SCHEMA_KEYS = frozenset(
    {
        "reasoning",
        "reason",
        "explanation",
        "rationale",
        "justification",
        "thoughts",
        "thinking",
        "analysis",
        "steps",
        "question",
        "notes",
        "evidence",
        "sources",
        "citations",
    }
)
_FENCE_LINE_RE = re.compile(r"^[ \t]*(?:```|~~~)[\w-]*[ \t]*$", re.MULTILINE)


def _designated(obj: JsonObject, text: str) -> bool:
    """Whether ``obj`` is the reply's answer object, not a JSON example inside the answer.

    It is when it has an answer field, when all its keys belong to the answer-with-confidence
    schema (confidence, answer, option letters, reasoning, ...), or when it is the whole reply
    (besides a code fence and a lead-in of at most 12 words). A ``{"model": "x", "confidence":
    0.9}`` config example inside an explanation is content (issue 12: code is content).
    """
    if _answer_text(obj.value) is not None:
        return True
    keys = [_norm_key(k) for k in obj.value]
    if all(
        _is_conf_key(k)
        or k in _SCHEMA_KEYS
        or k in _OPTION_DICT_KEYS
        or _LETTER_KEY_RE.match(k) is not None
        for k in keys
    ):
        return True
    if len(text) - (obj.end - obj.start) > 400:
        return False  # more than a short lead-in around it
    rest = _FENCE_LINE_RE.sub(" ", text[: obj.start] + " " + text[obj.end :])
    return len(rest.split()) <= 12


def _readings(objs: list[JsonObject], question: str | None, text: str) -> list[_Reading]:
    offered = _question_options(question)
    out: list[_Reading] = []
    for obj in objs:
        if not _designated(obj, text):
            continue
        answer = _answer_text(obj.value)
        field_vals: list[tuple[str, _Value]] = []
        stack: list[tuple[dict[str, Any], int]] = [(obj.value, 0)]
        while stack:  # confidence fields, also nested ({"result": {"confidence": ..}})
            d, depth = stack.pop(0)
            for k, v in d.items():
                if _is_conf_key(k) and not isinstance(v, (dict, list)):
                    field_vals.append((k, _read_value(v, key=k)))
                elif isinstance(v, dict) and depth < 2 and _norm_key(k) not in _OPTION_DICT_KEYS:
                    if answer is None:
                        answer = _answer_text(v)
                    stack.append((v, depth + 1))
        readable = [fv for fv in field_vals if not fv[1].placeholder]
        if readable:
            k, val = readable[0]
            vals = {round(x.value, 4) for _, x in readable if x.value is not None}
            if len(vals) > 1:
                val = _Value(
                    None,
                    val.raw,
                    reason="conflicting confidence fields in one object: "
                    + ", ".join(f"{x * 100:.4g}%" for x in sorted(vals)),
                )
            out.append(_Reading(obj, val, "json_field", k, answer))
            continue
        opt = _options_reading(obj, answer, offered)
        if opt is not None:
            val, ev = opt
            out.append(_Reading(obj, val, "json_options", "", answer, ev))
            continue
        if field_vals:
            k, val = field_vals[0]
            out.append(_Reading(obj, val, "json_field", k, answer))
    return out


_NEXT_QUESTION_RE = re.compile(
    r"^[ \t#*_>\-]*(?:\d+[.)]\s*)?(?:question\s*\d*\s*[:.)\-]|q\s*\d*\s*[:.)]|next\s+question\b|"
    r"follow[- ]up\s+question\b|new\s+question\b|another\s+question\b|user\s*:|human\s*:)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass
class StructuredReading:
    """What :func:`read_structured_confidence` found.

    Attributes:
        status: ``value`` (a confidence was read), ``none`` (a confidence field or option
            probabilities exist but give no value: conflict, out of range, placeholder only,
            truncated), or ``absent`` (no JSON confidence at all: read the prose instead).
        value: probability in [0, 1] when ``status == "value"``.
        reason: why there is no value.
        method: ``percent`` / ``decimal`` / ``fraction`` / ``scale`` / ``level`` / ``option``.
        matched: the value as written.
        span: ``[start, end)`` of the committed object in the reply.
        key: the key read (``Confidence``), "" for per-option probabilities.
        answer: the committed object's answer field, if any.
        object_spans: spans of every object that carries a confidence field or option
            probabilities (placeholders included), so prose rules can skip them.
        evidence: JSON-ready facts (rule, objects, ignored follow-ons, placeholders).
    """

    status: Literal["value", "none", "absent"]
    value: float | None = None
    reason: str | None = None
    method: str = "none"
    matched: str = ""
    span: tuple[int, int] | None = None
    key: str = ""
    answer: str | None = None
    object_spans: list[tuple[int, int]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


def read_structured_confidence(text: str, *, question: str | None = None) -> StructuredReading:
    """Read the confidence a JSON reply designates (see the module docstring for the rules).

    Args:
        text: the model reply (any string; never raises on its content).
        question: the question with its options, if known: restricts per-option probabilities to
            the offered options (``A``-``E`` when the question lists ``A)`` ... ``E)``).

    Returns:
        :class:`StructuredReading`. ``status == "absent"`` means the reply has no JSON
        confidence and the prose parser should be used.
    """
    if not isinstance(text, str) or "{" not in text:
        return StructuredReading("absent")
    objs, truncated = find_json_objects(text)
    readings = _readings(objs, question, text)
    spans = [(r.obj.start, r.obj.end) for r in readings]
    placeholders = [r.value.raw for r in readings if r.value.placeholder]
    real = [r for r in readings if not r.value.placeholder]
    ev: dict[str, Any] = {"objects": len(objs)}
    if placeholders:
        ev["placeholders"] = placeholders[:5]
    if not real:
        if placeholders:
            return StructuredReading(
                "absent",
                reason=f"confidence field is a placeholder, not a value: {placeholders[0]!r}",
                object_spans=spans,
                evidence=ev,
            )
        if truncated and re.search(r'"\s*(?:confidence|certainty|[A-J])\s*"\s*:', text, re.I):
            return StructuredReading(
                "none", reason="the JSON reply is cut off before its confidence", evidence=ev
            )
        return StructuredReading("absent", evidence=ev)
    first = real[0]
    # later objects: an invented next question (or a different answer) is not a conflict
    ignored: list[str] = []
    same: list[_Reading] = [first]
    boundary = _NEXT_QUESTION_RE.search(text, first.obj.end)
    for r in real[1:]:
        if boundary is not None and r.obj.start >= boundary.start():
            ignored.append(f"after an invented question: {r.value.raw}")
            continue
        a0, a1 = _norm_answer(first.answer), _norm_answer(r.answer)
        if a0 is not None and a1 is not None and a0 != a1:
            ignored.append(f"other answer {r.answer!r}: {r.value.raw}")
            continue
        same.append(r)
    if ignored:
        ev["ignored"] = ignored[:5]
    ev["rule"] = first.kind
    ev.update(first.evidence)
    base = StructuredReading(
        "none",
        matched=first.value.raw,
        span=(first.obj.start, first.obj.end),
        key=first.field_key,
        answer=first.answer,
        object_spans=spans,
        evidence=ev,
    )
    if first.value.value is None:
        base.reason = first.value.reason or "unreadable confidence field"
        return base
    vals: list[float] = []
    for r in same:
        if r.value.value is not None and all(abs(r.value.value - v) > 0.001 for v in vals):
            vals.append(r.value.value)
    if len(vals) > 1:
        base.reason = "conflicting confidence statements for the same answer: " + ", ".join(
            f"{v * 100:.4g}%" for v in vals
        )
        return base
    base.status = "value"
    base.value = min(1.0, max(0.0, first.value.value))
    base.method = first.value.method
    base.evidence["statements"] = len(same)
    return base


# --- the answer field (shared by the judge and answer-level agreement) -------------------------

#: Keys (normalised: lower case, letters only) whose value is a JSON reply's answer; used by
#: :func:`json_answer`, hence by ``guardrail.runner.judge.extract_answer`` and
#: ``guardrail.signals.answers.extract_answer``.
ANSWER_FIELD_KEYS = _ANSWER_KEYS | frozenset({"shortanswer", "result"})
_ANSWER_PLACEHOLDER_RE = re.compile(
    r"^\s*(?:<[^<>]*>|\[[^\[\]]*\]|\{[^{}]*\}|\.\.\.|\u2026|(?:your|the)\s+(?:final\s+)?"
    r"(?:answer|response|choice)(?:\s+here)?|answer\s+here|string|n/?a)\s*$",
    re.IGNORECASE,
)
# an object cut short by the token limit: its quoted "answer": "..." is still the answer
_CUT_ANSWER_RE = re.compile(
    r"[\"'](?:final[_ ]?)?answer[\"']\s*:\s*(?:\"(?P<dq>(?:[^\"\\\n]|\\.)*)|'(?P<sq>[^'\n]*)"
    r"|(?P<bare>[-+]?[\w.,]+))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class JsonAnswer:
    """The answer field of a JSON reply (see :func:`json_answer`).

    Attributes:
        text: the answer as text ("" when every answer field holds a placeholder).
        key: the JSON key it came from ("" for a placeholder-only reply).
        spans: (start, end) of every JSON object found in the reply (the caller may cut them).
    """

    text: str
    key: str
    spans: tuple[tuple[int, int], ...] = ()


def _field_text(value: Any) -> str | None:
    """A JSON answer value as text; None for a placeholder, an empty or a non-scalar value."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int | float):
        text = format(value, "g") if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
        text = ", ".join(str(v) for v in value)
    else:
        return None
    if not text or _ANSWER_PLACEHOLDER_RE.match(text):
        return None
    return text


def _field_in(obj: dict[str, Any], depth: int = 0) -> tuple[str, str] | None:
    for key, value in obj.items():
        if _norm_key(str(key)) in ANSWER_FIELD_KEYS:
            text = _field_text(value)
            if text is not None:
                return str(key), text
    if depth < 2:
        for value in obj.values():
            if isinstance(value, dict):
                found = _field_in(value, depth + 1)
                if found is not None:
                    return found
    return None


def json_answer(text: str) -> JsonAnswer | None:
    """The answer of a JSON reply: the first object (fenced or bare, found by
    :func:`find_json_objects`) with an answer field (:data:`ANSWER_FIELD_KEYS`: ``answer``,
    ``final_answer``, ``short_answer``, ``result``, ``choice``, ``option``, ``prediction``,
    ``response``, ...; any case, nested up to three levels) whose value is not a placeholder
    (``<your answer>``, ``...``, ``[answer]``). Later objects (an invented follow-on question's)
    are ignored; a ``confidence`` field is never the answer; a JSON ``true``/``false`` is
    ``yes``/``no``. An object cut off by the token limit still gives its quoted ``"answer":
    "..."``.

    Args:
        text: the model reply.

    Returns:
        :class:`JsonAnswer`; ``text=""`` when the only answer fields are placeholders; None
        when the reply has no JSON answer field. Never raises on model output.
    """
    if "{" not in text:
        return None
    objects, _ = find_json_objects(text)
    spans = tuple((o.start, o.end) for o in objects)
    placeholders = False
    for o in objects:
        found = _field_in(o.value)
        if found is not None:
            return JsonAnswer(found[1], found[0], spans)
        placeholders = placeholders or any(_norm_key(str(k)) in ANSWER_FIELD_KEYS for k in o.value)
    if placeholders:
        return JsonAnswer("", "", spans)
    rest = text
    for start, end in reversed(spans):
        rest = rest[:start] + "\n" + rest[end:]
    if "{" in rest:
        m = _CUT_ANSWER_RE.search(rest)
        if m:
            raw = next(g for g in (m.group("dq"), m.group("sq"), m.group("bare")) if g is not None)
            raw = raw.replace('\\"', '"').strip()
            if raw and not _ANSWER_PLACEHOLDER_RE.match(raw):
                return JsonAnswer(raw, "answer", spans)
    return None
