"""Hedge cues: weakeners, boosters and hedged conditionals in an answer.

Lexicon-based detection of epistemic markers (hedge cue detection as in the CoNLL-2010 shared
task, Farkas et al. 2010; hedges and boosters after Hyland 2005; LLM epistemic markers after Zhou
et al. 2023, arXiv 2302.13439). The lexicon is a data file (``data/hedges.json``) that users can
extend per policy. Quoted text, block quotes and code are ignored; "May 5th" and "the May issue"
are months, not hedges; negated boosters ("not always", "not entirely sure") count as hedges and
"no doubt" is a booster.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from guardrail.signals.base import SignalResult
from guardrail.signals.structured import find_json_objects
from guardrail.signals.verbalized import confidence_statement_spans

__all__ = [
    "Cue",
    "HedgeResult",
    "Lexicon",
    "LexiconEntry",
    "default_lexicon",
    "detect_hedges",
    "load_lexicon",
]

Category = Literal["hedge", "booster", "conditional"]


class LexiconEntry(BaseModel):
    """One lexicon cue.

    Attributes:
        cue: the cue text (case-insensitive; spaces match any whitespace; ' matches ’).
        category: ``hedge``, ``booster`` or ``conditional``.
        sources: keys of the lexicon's ``sources`` the cue comes from.
        not_preceded_by: regex (searched on the text before the cue, must match at its end) that
            excludes the match, e.g. "the " before "May".
        not_followed_by: regex (matched at the start of the text after the cue) that excludes it.
        exclude_capitalized_midsentence: skip a capitalised match that does not start a sentence
            (the month "May").
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    cue: str
    category: Category
    sources: list[str] = Field(default_factory=list)
    not_preceded_by: str | None = None
    not_followed_by: str | None = None
    exclude_capitalized_midsentence: bool = False


class Lexicon(BaseModel):
    """A hedge lexicon (the shape of ``guardrail/signals/data/hedges.json``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = "custom"
    version: int = 1
    sources: dict[str, str] = Field(default_factory=dict)
    negators: list[str] = ["not", "n't", "never", "no", "cannot", "hardly"]
    window_tokens: int = 3
    cues: list[LexiconEntry]

    def extended(
        self, extra_hedges: Iterable[str] = (), extra_boosters: Iterable[str] = ()
    ) -> Lexicon:
        """A copy with extra cues (user-supplied; source ``user``). Existing cues are kept."""
        extra = [LexiconEntry(cue=c, category="hedge", sources=["user"]) for c in extra_hedges]
        extra += [LexiconEntry(cue=c, category="booster", sources=["user"]) for c in extra_boosters]
        if not extra:
            return self
        return self.model_copy(update={"cues": [*self.cues, *extra]})


def load_lexicon(path: str | Path) -> Lexicon:
    """Load a lexicon JSON file (same shape as the default).

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not valid JSON or not a lexicon (pydantic ``ValidationError``).
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return _lexicon_from(data)


def _lexicon_from(data: Any) -> Lexicon:
    if not isinstance(data, dict):
        raise ValueError(f"a hedge lexicon is a JSON object, not {type(data).__name__}")
    neg = data.get("negation", {})
    if not isinstance(neg, dict):
        raise ValueError("a hedge lexicon's 'negation' is a JSON object")
    return Lexicon.model_validate(
        {
            **data,
            "negators": neg.get("negators", Lexicon.model_fields["negators"].default),
            "window_tokens": neg.get("window_tokens", 3),
        }
    )


@functools.cache
def default_lexicon() -> Lexicon:
    """The bundled lexicon ``guardrail/signals/data/hedges.json`` (cached)."""
    text = resources.files("guardrail.signals").joinpath("data/hedges.json").read_text("utf-8")
    return _lexicon_from(json.loads(text))


class Cue(BaseModel):
    """A detected cue: its text, ``[start, end)`` span in the input, category, and whether a
    negation turned a booster into a hedge."""

    model_config = ConfigDict(frozen=True)

    text: str
    start: int
    end: int
    category: Category
    cue: str
    negated: bool = False


class HedgeResult(SignalResult):
    """Hedge cues in one answer.

    Attributes:
        value: number of hedge cues (the DSL's ``hedges``), int >= 0.
        hedges, boosters, conditionals: counts per category.
        label: ``hedged`` (hedges > boosters), ``assertive`` (boosters > hedges) or ``neutral``.
        cues: the cues with spans, in text order.
        excluded: cues outside the answer's own claims (in a confidence statement or in talk
            about confidence, the task or the question), not counted.
    """

    name: str = "hedges"
    hedges: int = 0
    boosters: int = 0
    conditionals: int = 0
    label: Literal["hedged", "neutral", "assertive"] = "neutral"
    cues: list[Cue] = Field(default_factory=list)
    excluded: list[Cue] = Field(default_factory=list)


class _Compiled:
    def __init__(self, lex: Lexicon) -> None:
        self.entries: dict[str, LexiconEntry] = {}
        for e in lex.cues:
            key = _key(e.cue)
            self.entries.setdefault(key, e)
        groups: dict[str, list[str]] = {}
        for c in self.entries:
            groups.setdefault(_first_word(c), []).append(c)
        self.by_first: dict[str, re.Pattern[str]] = {
            w: re.compile(
                "(?:"
                + "|".join(_cue_pattern(c) for c in sorted(cs, key=len, reverse=True))
                + r")(?![\w%])",
                re.IGNORECASE,
            )
            for w, cs in groups.items()
        }
        negs = "|".join(re.escape(n) for n in sorted(lex.negators, key=len, reverse=True))
        w = max(0, lex.window_tokens - 1)
        self.neg_before = re.compile(
            rf"(?:\b(?:{negs})|n't)\b(?:\W+\w+){{0,{w}}}\W*$", re.IGNORECASE
        )


_TOKEN_RE = re.compile(r"[\w%]+")


def _first_word(cue: str) -> str:
    m = _TOKEN_RE.match(cue)
    return m.group(0).lower() if m else cue


def _key(cue: str) -> str:
    return re.sub(r"\s+", " ", cue.strip().lower().replace("\u2019", "'"))


def _cue_pattern(cue: str) -> str:
    parts = [re.escape(p).replace("'", "['\u2019]") for p in cue.split(" ")]
    return r"\s+".join(parts)


_CACHE: dict[tuple[Any, ...], _Compiled] = {}
_BY_ID: dict[int, tuple[Lexicon, _Compiled]] = {}


def _compiled(lex: Lexicon) -> _Compiled:
    hit = _BY_ID.get(id(lex))
    if hit is not None and hit[0] is lex:
        return hit[1]
    if len(_BY_ID) > 64:  # each entry keeps its lexicon alive; bound them
        _BY_ID.clear()
    key = (
        tuple(lex.negators),
        lex.window_tokens,
        tuple(
            (
                e.cue,
                e.category,
                e.not_preceded_by,
                e.not_followed_by,
                e.exclude_capitalized_midsentence,
            )
            for e in lex.cues
        ),
    )
    comp = _CACHE.get(key)
    if comp is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
            _BY_ID.clear()
        comp = _CACHE[key] = _Compiled(lex)
    _BY_ID[id(lex)] = (lex, comp)
    return comp


_RESOLVED: dict[tuple[Any, ...], tuple[Lexicon | None, Lexicon]] = {}


def _resolve_lexicon(
    lexicon: Lexicon | str | Path | None, extra_hedges: Sequence[str], extra_boosters: Sequence[str]
) -> Lexicon:
    """The lexicon :func:`detect_hedges` uses, built once per (lexicon, extra cues): a lexicon
    file is read again only when its modification time or size changes, so a policy's lexicon
    and cues cost no file I/O or lexicon copy per guarded call.

    Raises:
        OSError / ValueError: as :func:`load_lexicon`.
    """
    extras = (tuple(extra_hedges), tuple(extra_boosters))
    given: Lexicon | None = None  # a lexicon object, kept in the cache so its id() stays valid
    if lexicon is None or isinstance(lexicon, Lexicon):
        given = default_lexicon() if lexicon is None else lexicon
        key: tuple[Any, ...] = ("object", id(given), *extras)
    else:
        st = os.stat(lexicon)
        key = ("file", os.path.abspath(lexicon), st.st_mtime_ns, st.st_size, *extras)
    hit = _RESOLVED.get(key)
    if hit is not None and hit[0] is given:
        return hit[1]
    base = given if given is not None else load_lexicon(cast("str | Path", lexicon))
    lex = base.extended(*extras)
    if len(_RESOLVED) > 64:
        _RESOLVED.clear()
    _RESOLVED[key] = (given, lex)
    return lex


_FENCE_RE = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.DOTALL)
_INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
_QUOTE_RE = re.compile(
    r"\"[^\"]{0,600}\"|\u201c[^\u201d]{0,600}\u201d|\u2018[^\u2019]{0,600}\u2019(?!\w)"
)
_BLOCKQUOTE_RE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)


def _mask(text: str) -> str:
    """Blank out code, quoted text and block quotes, keeping offsets."""

    def blank(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    for rx in (_FENCE_RE, _INLINE_CODE_RE, _BLOCKQUOTE_RE, _QUOTE_RE):
        text = rx.sub(blank, text)
    return text


# --- the answer's own claims -------------------------------------------------------------------
# A sentence that talks about confidence, the task or the question is not a claim of the answer:
# "Confidence may vary", "I'm not sure what you mean by the question", "this answer may not be
# accurate". Its cues are reported in ``excluded``, not counted (they belong to ``verbalized`` or
# are no claim at all). The words are guardrail's; the split of epistemic markers by what they
# scope over follows Hyland 2005 (hedges qualify propositions) and Zhou et al. 2023 (arXiv
# 2302.13439, expressions of (un)certainty about the model's own answer).
_META_RE = re.compile(
    r"\bconfiden(?:ce|t|tly)\b|\bcertainty\b|\buncertainty\b"
    r"|\b(?:the|this|that|your|my|the\s+above|the\s+original)\s+(?:question|task|prompt|request"
    r"|instructions?|query)\b"
    r"|\bwhat\s+you(?:'re|\s+are)?\s+(?:mean|asking|referring\s+to|looking\s+for)\b"
    r"|\b(?:my|this|the)\s+(?:answer|response|estimate|guess|reply)\b[^.!?\n]{0,40}"
    r"\b(?:correct|right|wrong|accurate|inaccurate|reliable|sure|certain|true|mistaken)\b"
    r"|\b(?:probability|likelihood|chance)\s+(?:that|of)\s+(?:my|this|the)\s+(?:answer|response)\b",
    re.IGNORECASE,
)
# clause ends: sentence ends, line breaks, ";" and a comma or space before "but" / "so" /
# "however" / "though" / "although" / "yet" ("I'm not sure what you mean by the question, but it
# might be Canberra": the second clause is a claim)
_CLAUSE_END_RE = re.compile(
    r"[.!?]+(?=\s|$)|\n|;|,?\s+(?=(?:but|so|however|though|although|yet)\b)", re.IGNORECASE
)


def _meta_spans(masked: str) -> list[tuple[int, int]]:
    """Spans of clauses about confidence, the task or the question (on the masked text)."""
    out: list[tuple[int, int]] = []
    if _META_RE.search(masked) is None:
        return out
    start = 0
    for m in [*_CLAUSE_END_RE.finditer(masked), None]:
        end = m.end() if m is not None else len(masked)
        if _META_RE.search(masked, start, end) is not None:
            out.append((start, end))
        start = end
    return out


def _json_string_values(text: str) -> list[tuple[int, int]]:
    """Spans of JSON string *values* (not keys, not confidence fields) in the reply's objects, so
    ``{"answer": "It is probably Paris"}`` is read as the answer's claim, not as a quotation."""
    if "{" not in text:
        return []
    out: list[tuple[int, int]] = []
    objs, _ = find_json_objects(text)
    for o in objs:
        key = ""
        for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"', text[o.start : o.end]):
            after = text[o.start + m.end() : o.start + m.end() + 40].lstrip()
            if after.startswith(":"):
                key = m.group(0)[1:-1].lower()
                continue
            if "confiden" not in key and "certain" not in key and "prob" not in key:
                out.append((o.start + m.start() + 1, o.start + m.end() - 1))
    return out


def _sentence_start(masked: str, pos: int) -> bool:
    before = masked[:pos].rstrip(" \t\"'(*_")
    return not before or before[-1] in ".!?:\n" or before.endswith(("-", "\u2022"))


def detect_hedges(
    text: str | None,
    *,
    lexicon: Lexicon | str | Path | None = None,
    extra_hedges: Sequence[str] = (),
    extra_boosters: Sequence[str] = (),
    claims_only: bool = True,
) -> HedgeResult:
    """Find hedges, boosters and hedged conditionals in ``text``.

    Cues match case-insensitively on word boundaries, longest cue first (so "no doubt" wins over
    a shorter overlapping cue). Code (fenced and inline), double-quoted text and ``>`` block
    quotes are ignored. Per-cue exclusions in the lexicon handle the month "May" ("May 5th",
    "the May issue", capitalised mid-sentence) and "I suggest". A booster with a negator (not,
    n't, never, no, cannot, hardly) within 3 words before it counts as a hedge.

    Args:
        text: the answer (None or "" gives zero counts, label ``neutral``).
        lexicon: a :class:`Lexicon`, a path to a lexicon JSON file, or None for the default.
        extra_hedges: additional hedge cues (e.g. from a policy).
        extra_boosters: additional booster cues.
        claims_only: count only cues in the answer's own claims (default). Cues in a designated
            confidence statement (``Confidence: 100%``, see
            :func:`guardrail.signals.verbalized.confidence_statement_spans`; already the
            ``verbalized`` signal) and in sentences about confidence, the task or the question
            ("confidence may vary", "I'm not sure what you mean by the question") go to
            ``excluded``. JSON string values (``{"answer": "It may be Paris"}``) are read as the
            answer, not as quotations. ``False`` counts every cue outside code and quotations
            (the behaviour before this option).

    Returns:
        :class:`HedgeResult` with ``value`` = hedge count.

    Raises:
        OSError / ValueError: ``lexicon`` is a path that cannot be read or parsed.
    """
    comp = _compiled(_resolve_lexicon(lexicon, extra_hedges, extra_boosters))
    if not isinstance(text, str) or not text:
        return HedgeResult(value=0, evidence={"cues": []})
    masked = _mask(text)
    skip: list[tuple[int, int]] = []
    if claims_only:
        for a, b in _json_string_values(text):  # JSON answer text is the answer, not a quote
            masked = masked[:a] + text[a:b] + masked[b:]
        skip = confidence_statement_spans(text) + _meta_spans(masked)
    cues: list[Cue] = []
    excluded: list[Cue] = []
    end = 0
    for tok in _TOKEN_RE.finditer(masked):
        if tok.start() < end:
            continue
        rx = comp.by_first.get(tok.group(0).lower())
        if rx is None:
            continue
        m = rx.match(masked, tok.start())
        if m is None:
            continue
        end = m.end()
        matched = m.group(0)
        key = _key(matched)
        entry = comp.entries.get(key)
        if entry is None:  # whitespace/quote variants
            entry = comp.entries.get(re.sub(r"\s+", " ", key))
        if entry is None:
            continue
        before = masked[max(0, m.start() - 80) : m.start()]  # the context the rules look at
        if entry.not_preceded_by and re.search(entry.not_preceded_by, before, re.I):
            continue
        if entry.not_followed_by and re.match(
            entry.not_followed_by, masked[m.end() :], re.IGNORECASE
        ):
            continue
        if (
            entry.exclude_capitalized_midsentence
            and matched[:1].isupper()
            and not _sentence_start(masked, m.start())
        ):
            continue
        category: Category = entry.category
        negated = False
        if category == "booster" and comp.neg_before.search(before[-60:]):
            category, negated = "hedge", True
        cue = Cue(
            text=text[m.start() : m.end()],
            start=m.start(),
            end=m.end(),
            category=category,
            cue=entry.cue,
            negated=negated,
        )
        if any(a <= m.start() < b for a, b in skip):
            excluded.append(cue)
        else:
            cues.append(cue)
    h = sum(c.category == "hedge" for c in cues)
    b = sum(c.category == "booster" for c in cues)
    cnd = sum(c.category == "conditional" for c in cues)
    label: Literal["hedged", "neutral", "assertive"] = (
        "hedged" if h > b else "assertive" if b > h else "neutral"
    )
    return HedgeResult(
        value=h,
        hedges=h,
        boosters=b,
        conditionals=cnd,
        label=label,
        cues=cues,
        excluded=excluded,
        evidence={
            "label": label,
            "cues": [[c.text, c.category, c.start, c.end] for c in cues],
            "excluded": [[c.text, c.category, c.start, c.end] for c in excluded],
        },
    )
