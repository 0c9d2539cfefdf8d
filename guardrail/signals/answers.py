"""The answer a reply gives: question-aware extraction and answer-level comparison.

Agreement between samples (self-consistency) or models (ensemble agreement) should mean "gives
the same answer to the question", not "is worded alike" (Wang et al. 2023, arXiv 2203.11171, take
the final answer of each reasoning path; Kuhn et al. 2023, arXiv 2302.09664, cluster by meaning).
This module is guardrail's model-free way to get there:

1. :func:`extract_answer` finds the answering part of a reply: a JSON ``"answer"`` field, a
   ``\\boxed{}`` answer, a ``#### 42`` marker, a final answer line (``A:``, ``Answer:``, ``Final
   answer:``), "the answer is ...", a concluding "Therefore ... = 18", a leading option letter, else
   the sentence that answers the question (the first one that is neither a preamble nor a
   restatement of the question, preferring the one that shares most words with the question).
2. :func:`answer_key` reads what that part says: option letter, quantities (value, unit, sign,
   percent), yes/no, polarity, and the *core*: the words that are new with respect to the
   question ("The first-line treatment for anaphylaxis is epinephrine" -> ``epinephrine``).
3. :func:`compare_answers` / :class:`AnswerSimilarity` compare two keys: letters and quantities by
   value (``100,000`` = ``100000``, ``$18`` = ``18 dollars``, ``-20`` != ``20``), yes/no and
   polarity must agree, and the cores are compared with rapidfuzz ``token_set_ratio``.

The rules are guardrail's own heuristics (documented in docs/signals.md, measured there on GSM8K
and TriviaQA replies); nothing here calls a model.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from rapidfuzz import fuzz

from guardrail.signals.numbers import (
    SCALES,
    UNITS,
    number_words_to_digits,
    parse_numbers,
    same_quantity,
    same_unit,
    yes_no,
)
from guardrail.signals.structured import find_json_objects, json_answer

__all__ = [
    "ANSWER_THRESHOLD",
    "AnswerKey",
    "AnswerSimilarity",
    "ExtractedAnswer",
    "Quantity",
    "answer_key",
    "compare_answers",
    "extract_answer",
    "parse_options",
    "parse_quantities",
]

ANSWER_THRESHOLD = 0.90
"""Default "same answer" threshold on ``token_set_ratio / 100`` of two answer cores (0.90 keeps
"Austria" and "Australia", 0.875, apart and tolerates a one-letter typo in a long word)."""

ExtractMethod = Literal[
    "empty",
    "json",
    "boxed",
    "marker",
    "answer_line",
    "answer_phrase",
    "bold_line",
    "conclusion",
    "option",
    "first_line",
    "sentence",
    "whole",
    "none",
]


class ExtractedAnswer(BaseModel):
    """The answering part of a reply.

    Attributes:
        text: the answering part as written (markdown emphasis removed); "" for an empty reply.
        method: how it was found: ``json`` (an ``"answer"`` field), ``boxed`` (``\\boxed{}``),
            ``marker`` (``#### 42``), ``answer_line`` (``A:`` / ``Answer:`` / ``Final answer:``),
            ``answer_phrase`` ("the answer is ..."), ``bold_line`` (a wholly bold last line
            after reasoning, ``**42**``), ``conclusion`` ("Therefore ... = 18", or the
            last sentence with a number for a "how many / how much" question), ``option`` (a
            leading option letter), ``first_line`` (a short first line before an explanation),
            ``sentence`` (the sentence that answers the question), ``whole`` (the reply is one
            sentence), ``empty`` (a blank reply), ``none`` (reasoning for a "how many / how
            much" question cut off before any answer: nothing to compare).
    """

    model_config = ConfigDict(frozen=True)

    text: str
    method: ExtractMethod


# --- text helpers ---------------------------------------------------------------------------------

# markdown emphasis, code ticks, headings (not a "#### 72" answer marker), quotes
_MARKUP = re.compile(r"\*\*|__|`+|^#{1,6}\s+(?![-+$€£]?\d)|^>\s*", re.MULTILINE)
# (blank space after a line break is read up to the next break only, and the gaps around the number
# possessively: a reply of 100k line breaks or spaces is scanned once, not once per break)
_FOLLOW_ON = re.compile(
    r"\n[^\S\n]*+(?:Q|Question|User|Human|Problem)\s*+\d*+\s*+[:：]", re.IGNORECASE
)
_BOXED = re.compile(r"\\boxed\s*\{")
# an explicit answer line (matched on one stripped line): "#### 42", "A: 18" (upper-case A, as in
# GSM8K), "Answer: Paris" / "Final answer: 42" (the answer may be on the next line)
# (each answer ends at its last non-space character: "\S(?:.*\S)?" backtracks once from the line's
# end, where a lazy ".*?" before "\s*$" rescanned a run of spaces from each of its characters)
_ANSWER_LINE = re.compile(
    r"^\s*####\s*(?P<h>\S(?:.*\S)?)\s*$"
    r"|^\s*A\s*[:\uff1a]\s*(?P<g>\S(?:.*\S)?)\s*$"
    r"|^[^\w\n]*(?i:(?:final|correct|short)\s+answer|answer)\s*[:\uff1a]\s*"
    r"(?P<a>(?:\S(?:.*\S)?)?)\s*$"
)
_ANSWER_PHRASE = re.compile(
    r"\b(?:the\s+|my\s+|our\s+)?(?:final\s+|correct\s+|right\s+|short\s+|best\s+)?answer"
    r"(?:\s+to\s+(?:this|your|the|that)\s+question)?"  # "The answer to this question is no"
    r"(?:\s+(?:is|would\s+be|will\s+be)|\s*[=:])\s*(?::|-(?![\d.]))?\s*"  # "-20": a sign
    r"(?:(?:indeed|simply|definitely|clearly|actually)\s+)?"
    # the answer runs to the sentence end; a run of blanks is one atomic step, so the end test
    # runs once per run, not once per blank (a lazy ".+?" made 20k spaces quadratic)
    r"(?:[\"“](?P<q>[^\"”\n]+)[\"”]|(?P<a>(?:(?>[^\S\n]+)|\S)+?)\s*(?:[.!?](?=\s|$)|\n|$))",
    re.IGNORECASE,
)
# a line opening with "the answer is": "The answer is: X" / "The answer = X" / "Answer is: X" (X
# may be on the next line), or "(So,) the (final) answer is X" (not "... is not"); X the rest
_STATED_LINE = re.compile(
    r"^\W*(?:the\s+)?(?:final\s+|correct\s+)?answer(?:\s+is)?\s*[:=]\s*(?P<l>.*)$"
    r"|^\W*(?:(?:so|thus|therefore|hence)\s*,?\s*)?the\s+(?:final\s+|correct\s+)?answer\s+is"
    r"(?:\s*-(?![\d.])|\s)\s*(?!not\b)(?P<s>\S.*)$",  # "-20": a sign, "- Paris": a dash
    re.IGNORECASE,
)
_CONCLUSION_START = re.compile(
    r"^(?:therefore|thus|hence|so|in\s+total|in\s+conclusion|altogether|overall|finally|"
    r"this\s+means|which\s+means|that\s+means|in\s+all)\b",
    re.IGNORECASE,
)
_NUMERIC_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|far|long|old|fast|tall|big|heavy|often)\b|\bwhat\s+(?:number|"
    r"percent(?:age)?|fraction|is\s+the\s+(?:total|sum|value|product|difference|result|"
    r"average|price|cost))\b|\bcalculate\b|\bcompute\b",
    re.IGNORECASE,
)
_YESNO_QUESTION = re.compile(
    r"^\s*(?:is|are|was|were|do|does|did|can|could|should|would|will|has|have|had|may|must|"
    r"isn't|aren't|doesn't|don't|didn't|won't|can't)\b",
    re.IGNORECASE,
)
_VERBISH = re.compile(
    r"\b(?:is|are|was|were|be|been|has|have|had|can|could|will|would|should|does|do|did|may|"
    r"might|must|i|you|we|it's|i'm|there's)\b|n't\b",
    re.IGNORECASE,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_LEADING_LETTER = re.compile(
    r"^\s*(?:(?:the\s+)?(?:correct\s+|final\s+|right\s+|best\s+)?(?:answer|option|choice)"
    r"(?:\s+is)?\s*[:\-]?\s*)?[(\[]?(?P<l>[A-J])(?:[)\]]|[.:](?=\s|$)|(?=\s*$))",
    re.IGNORECASE,
)
_OPTION_IN_QUESTION = re.compile(
    r"(?:^|\n|\s)(?:\((?P<l1>[A-J])\)|(?P<l2>[A-J])[.)])\s+(?P<t>[^\n]+?)"
    r"(?=\s+\(?[A-J][.)]\s|\n|$)"
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_NEGATION = re.compile(
    # "not only ... but also" affirms; "no one", "no doubt", "no matter" are no negation
    r"\bnot(?!\s+(?:only|just|merely|simply)\b)|\bno\b(?!\s+(?:one|doubt|matter)\b)"
    r"|\b(?:never|none|neither|nor|cannot|without|isn't|aren't|wasn't|weren't|doesn't|"
    r"don't|didn't|can't|won't|shouldn't|wouldn't|couldn't|incorrect|false)\b|n't\b",
    re.IGNORECASE,
)
# "Au, not Ag" / "Au (not Ag)": a contrastive correction after the answer, not a negated answer
_CONTRAST_TAIL = re.compile(
    # (blank runs entered at their start only and the aside's words taken possessively: linear)
    r"(?<=\w)\W*?(?:,\s*|(?<!\s)\s+\(|(?<!\s)\s+[-–—]\s*)(?:and\s+|but\s+)?not\s+"
    r"[^,.;!?()]++\)?[.!?]?\s*$",
    re.IGNORECASE,
)
# (a run of blanks before "(" or "which" is entered only at its start or right after a ", " / ": "
# / " - " cut: "\s*" and "\s+" rescanned the run from each blank, quadratic on 20k spaces)
_CLAUSE_CUT = re.compile(
    r",\s|;\s*|:\s|\s[-–—]\s|(?:(?<!\s)\s+)?[(\[]"
    r"|(?:(?<!\s)|(?<=[,:]\s)|(?<=\s[-–—]\s))\s+(?:which|because|since|although|though|while|whereas|"
    r"but|unless|however|so\s+that|named|called|nicknamed|(?<=\w\s)that)\b",
    re.IGNORECASE,
)
_COPULA = re.compile(
    r"\s(?:is|are|was|were|'s|would\s+be|will\s+be|remains|equals|becomes|became)\s",
    re.IGNORECASE,
)
# a clause that only states doubt ("I'm not sure, but I think it's X"): not the answering clause
_DOUBT_ONLY = re.compile(
    r"^\W*(?:(?:(?:i|we)(?:'m|\s+am|'re|\s+are)\s+)?not\s+(?:\w+\s+){0,2}(?:sure|certain|positive)"
    r"|(?:i|we)\s+(?:do\s+not|don't)\s+know\s+for\s+(?:sure|certain))\W*$",
    re.IGNORECASE,
)
_INTRO = re.compile(
    r"^(?:in|for|when|if|during|after|before|according|as|since|because|although|while|on|at|"
    r"by|with|without|to|from|under|generally|typically|usually|however|also|first|firstly|"
    r"additionally|moreover|historically|traditionally|today|currently)\b",
    re.IGNORECASE,
)

_STOP = frozenset(
    """
    a an the of to in on at for by with and or is are was were be been being it its this
    that these those as from which who whom whose what when where why how can could would
    should will shall may might must do does did has have had there their they them he she
    his her him we our us you your i me my mine it's i'm i've i'd you're that's there's
    here's also then than such so very just only really quite about into onto upon over
    under between among per via each any some all both either other another one ones
    """.split()  # noqa: SIM905
)
# words that carry no answer: politeness, talk about answering, hedging and approximating
# adverbs ("about" is a stop word, so "roughly"/"approximately" are filler like it)
_FILLER = frozenset(
    """
    absolutely actually always answer answered answers basically below best brief called
    certainly commonly considered correct definitely essentially explained explanation final
    following generally glad good great happy hello help helping here hi key known let lets
    likely main most mostly named note often ok okay overview please point points primary
    probably question recommended referred regarded reply response right short simply
    standard summary sure thank thanks true typically usually well solve problem need
    calculate determine step steps consider scenario information
    approximately roughly approx around circa estimated think believe guess suspect
    """.split()  # noqa: SIM905
)
_PRONOUNS = frozenset(("it", "this", "that", "they", "he", "she", "these", "those", "there"))

# a number in a sentence (digits; the full reading is guardrail.signals.numbers.parse_numbers)
_NUM_RE = re.compile(r"(?<![\w.])[-\u2212\u2013]?[$\u20ac\u00a3]?\s?(?:\d[\d,]*(?:\.\d+)?|\.\d+)")


def _clean(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2212", "-")
    s = _MARKUP.sub("", s)
    return s.strip()


# abbreviations of name parts spelled both ways in answers ("St Petersburg" / "Saint Petersburg")
_ABBREVIATIONS = {"st": "saint", "mt": "mount", "ft": "fort", "jr": "junior", "sr": "senior"}


def _words(text: str) -> list[str]:
    out = [w.lower().replace("’", "'") for w in _WORD.findall(text)]
    return [_ABBREVIATIONS.get(w, w) for w in out]


_SUFFIXES = (
    "ational", "ations", "ation", "ments", "ment", "ings", "ing", "ness", "ies", "ied", "ers",
    "er", "ed", "es", "ly", "s",
)  # fmt: skip


def _stem(word: str) -> str:
    """Crude suffix-stripping stem ("treatment", "treated", "treats" -> "treat"; "alphabet" stays
    apart from "alpha"). Only used to tell the question's words from new words."""
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 4:
            base = word[: -len(suf)]
            return base + "y" if suf in ("ies", "ied") else base
    return word


def _question_stems(question: str | None) -> frozenset[str]:
    if not question:
        return frozenset()
    return frozenset(_stem(w) for w in _words(_clean(question)) if w not in _STOP)


def _novel(words: Sequence[str], qstems: frozenset[str]) -> list[str]:
    """Content words that are not in the question (nor stop words / filler)."""
    return [
        w
        for w in words
        if w not in _STOP and w not in _FILLER and _stem(w) not in qstems and w not in _PRONOUNS
    ]


_ABBREV_END = re.compile(
    r"(?:\b(?:St|Mr|Mrs|Ms|Dr|Jr|Sr|No|Nos|vs|Mt|Ft|Prof|Gen|Col|Lt|Sgt|Capt|Rev|Inc|Ltd|Co|"
    r"etc|approx|e\.g|i\.e|U\.S|U\.K)|(?<![\w.])[A-Z])\.$"
)


def _sentences(text: str) -> list[str]:
    """Sentences and lines of a text (list bullets removed); "St. Petersburg", "J. K. Rowling"
    and "e.g. X" are not cut at the abbreviation's full stop."""
    out: list[list[str]] = []  # each sentence's parts, joined at the end (no quadratic gluing)
    glue = False
    for part in _SENTENCE_SPLIT.split(text):
        p = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", part).strip()
        if not p:
            continue
        if glue and out:
            out[-1].append(p)
        else:
            out.append([p])
        # the abbreviation ends the sentence so far, so it lies in its last part; the space
        # before that part is what the glued sentence has there (searching the whole sentence
        # each time made "St. St. St. ..." quadratic)
        glue = bool(_ABBREV_END.search(" " + p)) and "\n" not in part
    return [" ".join(parts) for parts in out]


# --- options --------------------------------------------------------------------------------------


def parse_options(question: str | None) -> dict[str, str]:
    """Multiple-choice options written in a question (``A. Paris`` / ``(B) Lyon`` / ``C) Nice``).

    Args:
        question: the question text, or None.

    Returns:
        Upper-case letter -> option text, in order; empty when fewer than two options are found.
    """
    if not question:
        return {}
    found: dict[str, str] = {}
    for m in _OPTION_IN_QUESTION.finditer(_clean(question)):
        letter = (m.group("l1") or m.group("l2") or "").upper()
        if letter and letter not in found:
            found[letter] = m.group("t").strip()
    return found if len(found) >= 2 else {}


# --- extraction -----------------------------------------------------------------------------------

Fallback = Literal["sentence", "first_line"]
PhraseScope = Literal["anywhere", "line_start"]

# a line that is wholly bold ("**42**", "__Canberra.__"), not a bold heading ("**Step 1:**")
_BOLD_LINE = re.compile(r"^\s*(?:\*\*|__)(?P<b>[^*_\n]*[^*_\n:?\s])\s*(?:\*\*|__)\s*[.!]?\s*$")
_BOLD_ANSWER_WORDS = 12  # a longer bold last line is a summary sentence, not the answer
# lines that are no answer: code fences, confidence statements, a lone closing brace
_FENCE_LINE = re.compile(r"^\s*(?:```|~~~)\w*\s*$")
_CONFIDENCE_LINE = re.compile(r"^\W*(confidence|probability|certainty)\b", re.IGNORECASE)
# "The answer is: 100%" after an answer: a confidence statement (SmolLM2), not the answer
_PERCENT_ONLY = re.compile(r"^\W*(?:\d+(?:\.\d+)?|N+)\s*%\W*$", re.IGNORECASE)


def _strip_text(text: str) -> str:
    return text.strip()


def _json_answer(s: str) -> str | None:
    """The answer field of a JSON reply (:func:`guardrail.signals.structured.json_answer`, the
    reader the judge uses too); None when there is none or it is a placeholder."""
    found = json_answer(s)
    return found.text if found is not None and found.text else None


def _boxed_spans(s: str) -> list[tuple[int, int]]:
    """Every ``\\boxed{...}`` (balanced braces) as the (start, end) offsets of its content, in
    order of the ``\\boxed`` offset.

    One pass over the braces with a stack (each ``{`` is closed by the first ``}`` that brings
    its depth back): an unclosed ``\\boxed{`` does not rescan the rest of the reply, so 100k
    characters of ``\\boxed{`` are read in linear time. Offsets rather than texts: nested
    ``\\boxed{`` repeated thousands of times would copy a quadratic number of characters."""
    opener = {m.end() - 1: m.start() for m in _BOXED.finditer(s)}
    if not opener:
        return []
    spans: list[tuple[int, int, int]] = []  # (\boxed offset, content start, content end)
    stack: list[int] = []
    for m in re.finditer(r"[{}]", s):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            j = stack.pop()
            if j in opener:
                spans.append((opener[j], j + 1, m.start()))
    return [(a, b) for _, a, b in sorted(spans)]


def _content_lines(s: str) -> list[tuple[int, str]]:
    """(offset, stripped line) of the lines that can hold an answer: not blank, not a code
    fence, not a confidence statement, not a lone ``}``."""
    out: list[tuple[int, str]] = []
    pos = 0
    for raw in s.splitlines(keepends=True):
        ln = raw.strip()
        if ln and not _FENCE_LINE.match(ln) and not _CONFIDENCE_LINE.match(ln) and ln != "}":
            out.append((pos, ln))
        pos += len(raw)
    return out


def _next_line(lines: list[tuple[int, str]], n: int) -> str:
    """The line after line ``n`` ("Answer:" standing alone: the answer is below), else ""."""
    return lines[n + 1][1] if n + 1 < len(lines) else ""


def _markers(
    s: str, lines: list[tuple[int, str]], phrases: PhraseScope
) -> list[tuple[int, str, str]]:
    """Explicit answer markers in reading order as (offset, kind, answer): ``hashes``
    (``#### 42``), ``label`` (``Answer:`` / ``Final answer:`` / ``The answer is:``, the answer on
    the next line when the label stands alone), ``gsm`` (an ``A:`` line that does not start an
    option list) and ``phrase``: "the answer is X" anywhere, X up to the sentence end
    (``phrases="anywhere"``), or only opening a line, X the rest of the line and not "is not"
    (``phrases="line_start"``)."""
    found: list[tuple[int, str, str]] = []
    last_b = -1  # where the last line opening "B:" / "B." / "B)" starts (found once, not per A:)
    for n, (pos, line) in enumerate(lines):
        m = _ANSWER_LINE.match(line)
        if m is None:
            continue
        if m.group("h") is not None:
            found.append((pos, "hashes", m.group("h")))
        elif m.group("g") is not None:
            if last_b == -1:
                last_b = max((b.start() for b in _B_LINE.finditer(s)), default=-2)
            end = pos + len(line)
            if last_b < end and not _B_AT.match(s, end):  # no "B:" line after it
                found.append((pos, "gsm", m.group("g")))
        else:
            found.append((pos, "label", m.group("a") or _next_line(lines, n)))
    if phrases == "line_start":
        for n, (pos, line) in enumerate(lines):
            st = _STATED_LINE.match(line)
            if st is not None:
                found.append(
                    (pos, "phrase", st.group("s") or st.group("l") or _next_line(lines, n))
                )
    else:
        for p in _ANSWER_PHRASE.finditer(s):
            found.append((p.start(), "phrase", (p.group("q") or p.group("a") or "").strip()))
    return sorted(found, key=lambda f: f[0])


# an option list's "B:" / "B." / "B)" opening a line (or right where an "A:" line's text ends)
_B_LINE = re.compile(r"^[^\S\n]*+B\s*+[:.)]", re.MULTILINE)
_B_AT = re.compile(r"[^\S\n]*+B\s*+[:.)]")

_MARKER_METHOD: dict[str, ExtractMethod] = {
    "hashes": "marker",
    "label": "answer_line",
    "gsm": "answer_line",
    "phrase": "answer_phrase",
}


def _pick_marker(
    s: str,
    lines: list[tuple[int, str]],
    phrases: PhraseScope,
    tidy: Callable[[str], str],
) -> ExtractedAnswer | None:
    """The explicit answer marker that gives the answer (see :func:`extract_answer`)."""
    first_end = lines[0][0] + len(lines[0][1]) if lines else 0  # a percentage after it: no answer
    usable: list[tuple[int, str, str]] = []
    for pos, kind, said in _markers(s, lines, phrases):
        text = tidy(said)
        if text and not (_PERCENT_ONLY.match(text) and pos >= first_end):
            usable.append((pos, kind, text))
    for kind in ("hashes", "label", "gsm", "phrase"):  # the strongest kind, its last marker
        of_kind = [text for _, k, text in usable if k == kind]
        if of_kind:
            return ExtractedAnswer(text=of_kind[-1], method=_MARKER_METHOD[kind])
    return None


def _bold_last_line(raw: str, tidy: Callable[[str], str]) -> str | None:
    """A reasoning reply's last line when it is wholly bold (``**42**``, at most 12 words, not a
    heading ending in ":", not a percentage) and its first line is not."""
    lines = _content_lines(raw)
    if len(lines) < 2 or _BOLD_LINE.match(lines[0][1]):
        return None
    bold = _BOLD_LINE.match(lines[-1][1])
    if bold is None:
        return None
    text = tidy(bold.group("b").rstrip(".!"))
    if text and len(text.split()) <= _BOLD_ANSWER_WORDS and not _PERCENT_ONLY.match(text):
        return text
    return None


def _is_content(sentence: str, qstems: frozenset[str]) -> bool:
    return bool(_novel(_words(sentence), qstems))


def _overlap(sentence: str, qstems: frozenset[str]) -> int:
    return len({_stem(w) for w in _words(sentence) if w not in _STOP} & qstems)


def extract_answer(
    text: object,
    *,
    question: str | None = None,
    fallback: Fallback = "sentence",
    phrases: PhraseScope = "anywhere",
    tidy: Callable[[str], str] | None = None,
) -> ExtractedAnswer:
    """The answering part of a reply, found without a model: the one prose extractor that
    answer-level agreement and the audit judge (:func:`guardrail.runner.judge.extract_answer`)
    share.

    Rules, first that applies: cut an invented follow-on question (``\\nQ:``, ``\\nQuestion:``,
    ``\\nUser:``); a JSON object's ``answer`` / ``final_answer`` / ``result`` field; the last
    ``\\boxed{...}``; the last explicit answer marker of the strongest kind present (the final
    answer of a reasoning path, Wang et al. 2023, arXiv 2203.11171): ``#### ...`` lines, then
    ``Final answer:`` / ``Answer:`` lines (the answer on the next line when the label stands
    alone), then ``A:`` lines that do not start an option list, then "the answer is ..." (with
    ``phrases="anywhere"``: anywhere, up to the sentence end, a quoted answer whole; with
    ``phrases="line_start"``: only opening a line, as "The answer is: X", "The answer = X" or
    "(So,) the answer is X" but not "... is not", the rest of the line); a marker holding only
    a percentage after the first line is a confidence statement ("The answer is: 100%" under
    SmolLM2's answer), not the answer. Then a reasoning reply whose last line is wholly bold
    (``**42**``, at most 12 words, not a heading ending in ":"): method ``bold_line``.

    Then, with ``fallback="first_line"``, the first line that is not a code fence or a
    confidence statement. With ``fallback="sentence"`` (agreement): a leading option letter
    (``B``, ``(B)``, ``B) Paris``, ``The answer is B``); for a reply of several sentences, the
    last concluding sentence ("Therefore/So/Thus/In total ...") holding a number (the value after
    its last ``=`` when it has one), or for a "how many / how much" question the last sentence
    with a number (reasoning for such a question cut off mid-sentence gives method ``none``: no
    answer); a short first line (<= 8 words) or a verbless first sentence (<= 6 words) with words
    not in the question, followed by more text; else the *answering sentence*: among the first
    four sentences that say something new (words that are neither in the question nor preamble
    such as "Sure, here is the answer"), the one sharing most words with the question (earliest
    on ties), i.e. the one about the question's focus rather than background. A one-sentence
    reply is ``whole``.

    Args:
        text: the reply (any object; a non-string or blank reply gives method ``empty``).
        question: the question it answers (optional; improves the sentence choice and lets a
            restatement of the question be skipped).
        fallback: ``"sentence"`` (default, agreement) or ``"first_line"`` (the judge): what is
            read when no marker is.
        phrases: ``"anywhere"`` (default, agreement) or ``"line_start"`` (the judge): where "the
            answer is ..." counts as a marker (docs/signals.md, "One answer extractor").
        tidy: applied to every candidate answer (markers, ``\\boxed{}``, bold line, first line);
            a candidate it empties is passed over. Default: strip whitespace.

    Returns:
        :class:`ExtractedAnswer`. Never raises on model output.

    Raises:
        ValueError: ``fallback`` or ``phrases`` is not one of the values above.

    Examples:
        >>> extract_answer("She sells 9 eggs.\\nSo 9 * 2 = $18 a day.\\nA: 18").text
        '18'
        >>> extract_answer('{"answer": "Paris", "confidence": 90}').method
        'json'
    """
    if phrases not in ("anywhere", "line_start"):
        raise ValueError(f"phrases must be 'anywhere' or 'line_start', got {phrases!r}")
    if fallback not in ("sentence", "first_line"):
        raise ValueError(f"fallback must be 'sentence' or 'first_line', got {fallback!r}")
    if not isinstance(text, str) or not text.strip():
        return ExtractedAnswer(text="", method="empty")
    clean = tidy or _strip_text
    bold = _bold_last_line(unicodedata.normalize("NFKC", text), clean)
    s = _clean(text)
    m = _FOLLOW_ON.search(s)
    if m and m.start() > 0 and s[: m.start()].strip():
        s = s[: m.start()].strip()
    if "{" in s:
        got = _json_answer(s)
        if got is not None:
            return ExtractedAnswer(text=got, method="json")
        for obj in reversed(find_json_objects(s)[0]):  # JSON with no answer field (a confidence
            s = s[: obj.start] + "\n" + s[obj.end :]  # only) is not the answer
    for start, end in reversed(_boxed_spans(s) if "boxed" in s else []):
        said = clean(s[start:end].strip())  # the last \boxed{} that tidy leaves non-empty
        if said:
            return ExtractedAnswer(text=said, method="boxed")
    lines = _content_lines(s)
    marked = _pick_marker(s, lines, phrases, clean)
    if marked is not None:
        return marked
    if bold is not None:
        return ExtractedAnswer(text=bold, method="bold_line")
    if fallback == "first_line":
        for _, line in lines:
            said = clean(line)
            if said:
                return ExtractedAnswer(text=said, method="first_line")
        return ExtractedAnswer(text="", method="none")
    lead = _LEADING_LETTER.match(s)
    if lead and (
        parse_options(question)
        or len(s) <= 3
        or re.match(r"\s*[(\[]?[A-J][)\]:.]\s", s)
        or re.match(r"(?i)\s*(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|option|choice)", s)
    ):
        return ExtractedAnswer(text=lead.group("l").upper(), method="option")
    sents = _sentences(s)
    qstems = _question_stems(question)
    truncated = not re.search(r"[.!?)\]\"'”\d]\s*$", s)
    if question and _NUMERIC_QUESTION.search(question) and len(sents) >= 3 and truncated:
        # reasoning cut off (token limit) before any final answer: it gives no answer
        return ExtractedAnswer(text="", method="none")
    if len(sents) > 1:
        # a reply cut off mid-sentence (token limit) gives no conclusion in its last fragment
        done = sents if not truncated else sents[:-1]
        concl = [x for x in done if _CONCLUSION_START.match(x) and (_NUM_RE.search(x) or "=" in x)]
        if concl:
            c = concl[-1].rstrip(".!")
            if "=" in c:
                c = c.rsplit("=", 1)[1].strip()
            return ExtractedAnswer(text=c, method="conclusion")
        if question and _NUMERIC_QUESTION.search(question):
            numeric = [x for x in done if _NUM_RE.search(x)]
            if numeric:
                return ExtractedAnswer(text=numeric[-1].rstrip("."), method="conclusion")
        first_line = re.sub(r"^(?:[-*•]|\d+[.)])\s+", "", s.split("\n", 1)[0].strip())
        if (
            "\n" in s
            and len(first_line.split()) <= 8
            and not first_line.endswith((":", "?"))
            and _is_content(first_line, qstems)
        ):
            return ExtractedAnswer(text=first_line.rstrip("."), method="first_line")
    content = [x for x in sents if _is_content(x, qstems) and not x.rstrip().endswith("?")]
    if len(content) > 1 and _DOUBT_ONLY.match(content[0]):
        content = content[1:]  # "I'm not sure. But it's probably Canberra.": doubt, then answer
    if (
        len(sents) > 1
        and content
        and content[0] == sents[0]
        and len(_words(sents[0])) <= _SHORT_WORDS
        and not _VERBISH.search(sents[0])
    ):
        return ExtractedAnswer(text=sents[0].rstrip("."), method="first_line")
    if not content:
        return ExtractedAnswer(text=sents[0] if sents else s, method="whole")
    if len(sents) == 1:
        return ExtractedAnswer(text=content[0], method="whole")
    window = content[:4]
    best = window[0]
    if qstems:
        best = max(window, key=lambda x: (_overlap(x, qstems), -window.index(x)))
    return ExtractedAnswer(text=best, method="sentence")


# --- quantities -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    """A number read from an answer.

    Attributes:
        value: the number (sign, thousands separators, fractions and scale words applied:
            ``-1,200`` -> -1200.0, ``3/4`` -> 0.75, ``1.5 million`` -> 1500000.0).
        unit: canonical unit (``usd``, ``percent``, ``mile``, ``kg``, ...) or None.
        decimal: written with a decimal point or as a fraction (``0.5``, ``1/2``).
    """

    value: float
    unit: str | None = None
    decimal: bool = False


def parse_quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with its sign, unit and scale, in order.

    The shared reader :func:`guardrail.signals.numbers.parse_numbers` (also the judge's):
    digits (``1,200``, ``1200.50``, ``.5``, ``3/4``, ``21st``), a leading minus that is not a
    hyphen between words or numbers (``-20``, ``minus 20``; ``3-4`` is 3 and 4), currency signs
    (``$``, ``€``, ``£``), ``%`` / ``percent``, scale words (``1.2 million``) and number words
    (``twenty-five``, ``three hundred``; a lone "one" only when it is the whole answer: "one of
    the ..." is a pronoun). The unit is the currency sign, the percent sign or the known unit
    word right after the number (:data:`guardrail.signals.numbers.UNITS`).

    Args:
        text: any text.

    Returns:
        The quantities found (empty list when none).
    """
    return [
        Quantity(value=n.value, unit=n.unit, decimal=n.decimal)
        for n in parse_numbers(_clean(text), lone_one=False)
    ]


def _same_value(a: Quantity, b: Quantity) -> bool:
    """Equal by value, converting between units of one dimension (``4 g`` = ``4,000 mg``;
    :func:`guardrail.signals.numbers.same_quantity`); a percentage equals a decimal or fraction
    <= 1 of the same value (``50%`` = ``0.5``)."""
    if not same_unit(a.unit, b.unit):
        return False
    if same_quantity(a.value, a.unit, b.value, b.unit):
        return True
    # 50% = 0.5 = 1/2, only when the other number is written as a decimal or fraction <= 1
    for p, d in ((a, b), (b, a)):
        if (
            p.unit == "percent"
            and d.unit is None
            and d.decimal
            and abs(d.value) <= 1
            and math.isclose(p.value / 100.0, d.value, rel_tol=1e-9, abs_tol=1e-9)
        ):
            return True
    return False


# --- keys and comparison --------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerKey:
    """What an extracted answer says, ready for comparison (see :func:`answer_key`).

    Attributes:
        extracted: the extracted answer.
        letter: option letter (upper case) or None.
        main: the answer's value when it is a number (a bare number with at most a unit and two
            other words, or the value of an explicit answer/conclusion with one number or an
            ``=``), else None.
        numbers: every quantity in the answering clause.
        yesno: ``yes`` / ``no`` when the answer starts with one (or, for a yes/no question, the
            answering clause's polarity), else None.
        firm: ``yesno`` was said (a leading yes/no) or read from a negation ("does not ...");
            a "yes" read from the mere absence of a negation is not firm.
        negated: the answering clause contains a negation ("not", "never", "isn't", ...).
        core: the answer's new words (not in the question, no stop words), space-joined.
        full: all content words of the answering clause, space-joined (used when a core is
            empty, e.g. an answer that is one of the question's own words).
        items: how many things a short answer names joined by "and" / "&" / commas
            ("Botswana and South Africa" -> 2; 1 when it is not such a list).
        names: for a question that asks for a thing (not yes/no, not a number, not why/how),
            the capitalised words of the answering clause that are not in the question,
            lower-cased and space-joined ("Chief Crazy Horse led the Cheyenne tribe" ->
            ``cheyenne``); "" when there are none or no question was given.
    """

    extracted: ExtractedAnswer
    letter: str | None = None
    main: Quantity | None = None
    numbers: tuple[Quantity, ...] = field(default_factory=tuple)
    yesno: str | None = None
    firm: bool = False
    negated: bool = False
    core: str = ""
    full: str = ""
    items: int = 1
    names: str = ""


_SHORT_WORDS = 6
_DETERMINER = re.compile(r"(?:the|a|an|this|that|its|their|his|her|my|our)\b", re.IGNORECASE)
# "Huey, Dewey and Louie", "red, white & blue": a list of short items is one answer
# (an item after a comma starts with a non-space character, so a long comma-separated reply
# has one way to be split and a failing match stays linear: "no, no, no, ..." of 96 tokens)
_LIST = re.compile(r"[^,;.]{1,30}(?:,\s*[^,;.\s][^,;.]{0,29})*,?\s+(?:and|&|or)\s+[^,;.]{1,30}")
_CONJUNCTION = re.compile(r"\s(?:and|&|or)\s", re.IGNORECASE)


def _is_list(text: str) -> bool:
    """A short "A, B and C" / "A or B" list (the whole text)."""
    t = text.strip().rstrip(".!")
    return len(t) <= 400 and bool(_CONJUNCTION.search(t)) and _LIST.fullmatch(t) is not None


# (a run of blanks is entered only at its start, "(?<!\s)", and taken whole: "\s*" before
# "\s+and" tried every split of the run from every blank, cubic: 3,000 spaces took 70 s)
_AND_LIST = re.compile(
    r"(?<!\s)\s+(?:,\s*+(?:and\s+|&\s*+)?|and\s+|&\s*+)|,\s*+(?:and\s+|&\s*+)?|&\s*+",
    re.IGNORECASE,
)


def _items(clause: str) -> int:
    """Number of items in a short "A, B and C" answer (1 when it is not an and-list)."""
    text = clause.strip().rstrip(".!")
    if len(_words(text)) > 10 or re.search(r"\bor\b", text, re.IGNORECASE):
        return 1
    if _VERBISH.search(text):
        return 1  # "A spider has 8 legs and 2 body segments" is a statement, not a list
    parts = [p for p in _AND_LIST.split(text) if _words(p)]
    if any(re.match(r"\s*(?:a|an)\s", p, re.IGNORECASE) for p in parts[1:]):
        return 1  # "Lagos, a vibrant and bustling city": an apposition describes one thing
    if any(len(_words(p)) > 4 for p in parts):
        return 1  # "Michelangelo painted it between 1508 and 1512": a statement, not a list
    if not re.search(r"\s(?:and|&)\s", text, re.IGNORECASE) and len(parts) < 3:
        return 1  # one comma is an apposition as often as a list ("Waterford, Ireland")
    return max(1, len(parts))


# asides that are not the answer: "(EU)", "(Paris had energy problems in 1968)", and an insert
# between a subject and its verb ("The capital of Togo, which is in West Africa, is Lagos")
_PARENTHESIS = re.compile(r"(?:(?<!\s)\s+)?\([^()]*\)|(?:(?<!\s)\s+)?\[[^\[\]]*\]")
_INSERT = re.compile(
    r",\s+(?:which|who|whose|where|also\s+known\s+as|known\s+as|or|a|an|located|born|based)\b"
    r"[^,;:.()]*,\s+(?=(?:is|are|was|were|has|have|had|remains|became|led|leads|lies)\b)",
    re.IGNORECASE,
)


# a clause that narrows the one before it down: part of the answer, not detail after it
_REFINEMENT = re.compile(
    r"(?:more\s+)?(?:specifically|precisely|namely|in\s+particular|particularly)\b", re.IGNORECASE
)


# the agent of a passive ("is played by X", "was written by X"): who did it
_AGENT = re.compile(
    r"(?:\w+ly\s+)?(?:\w+(?:ed|en|wn|ung|ote|ade|ld|ght))\s+by\s+(?P<by>.+)$", re.IGNORECASE
)
# commas between adjectives of one noun ("a cluster of small, specialized cells"): no clause cut
_ADJ_COMMA = re.compile(
    r"\b(?P<head>(?:a|an|the|of)(?:\s+[a-z]+){1,2}),\s+(?:and\s+)?"
    r"(?!(?:not|but|or|which|who|whom|whose|that|where|when|although|though|while|so|as|because|"
    r"since|however|specifically|particularly|namely|including|such|also|and|it|they|he|she|"
    r"this|there|is|are|was|were)\b)(?=[a-z])"
)


def _join_adjectives(text: str) -> str:
    for _ in range(3):
        joined = _ADJ_COMMA.sub(lambda m: m.group("head") + " ", text)
        if joined == text:
            break
        text = joined
    return text


def _strip_inserts(text: str) -> str:
    """``text`` without parenthetical asides and subject-verb inserts (as is if none is left)."""
    out = _INSERT.sub(" ", _PARENTHESIS.sub("", text)).strip()
    return out if _words(out) else text


def _clause(text: str, qstems: frozenset[str], *, refine: bool = False) -> str:
    """The answering clause: the first clause with new words, a leading "In adults, ..." skipped,
    and for "X is Y" the side that is not the question's restated focus; with ``refine``, a
    following "..., specifically Y" clause is kept with it (used for the names it gives)."""
    text = _join_adjectives(_strip_inserts(text))
    if len(_words(text)) <= _SHORT_WORDS or (_is_list(text) and _items(text) > 1):
        pieces = [text.strip()]
    else:
        pieces = [p.strip() for p in _CLAUSE_CUT.split(text) if p and p.strip()]
        pieces = [p for p in pieces if _words(p)]
    if not pieces:
        return text
    chosen = None
    for i, p in enumerate(pieces):
        if not _is_content(p, qstems):
            continue
        if _INTRO.match(p) and i < len(pieces) - 1 and qstems:
            continue
        if _DOUBT_ONLY.match(p) and i < len(pieces) - 1:
            continue
        chosen = p
        if refine and i + 1 < len(pieces) and _REFINEMENT.match(pieces[i + 1]):
            chosen = f"{p}, {pieces[i + 1]}"  # "in the Middle East, specifically in Jordan"
        break
    if chosen is None:
        chosen = pieces[0]
    if qstems:
        m = _COPULA.search(" " + chosen + " ")
        if m:
            padded = " " + chosen + " "
            left, right = padded[: m.start()].strip(), padded[m.end() :].strip()
            ln, rn = _novel(_words(left), qstems), _novel(_words(right), qstems)
            if ln and rn:
                lo, ro = _overlap(left, qstems), _overlap(right, qstems)
                if lo == ro:  # "The author is Jane Austen": "the ..." is the restated focus
                    lo += 1 if _DETERMINER.match(left) else 0
                    ro += 1 if _DETERMINER.match(right) else 0
                chosen = right if lo > ro else left
            elif ln or rn:
                chosen = left if ln else right
            agent = _AGENT.match(right)
            if agent and _novel(_words(agent.group("by")), qstems):
                chosen = agent.group("by")  # "Mrs. Hudson is played by Una Stubbs": the agent
    return chosen


# a regnal / ordinal Roman numeral after a capitalised word ("Elizabeth I", "World War II")
_ROMAN_VALUES = {
    "I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10,
    "XI": 11, "XII": 12, "XIII": 13, "XIV": 14, "XV": 15, "XVI": 16,
}  # fmt: skip
_ROMAN = re.compile(r"\b([A-Z][a-z]+)\s+(XVI|XV|XIV|XIII|XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I)\b")


_ENTITY_QUESTION = re.compile(
    r"^\W*(?:(?:in|on|at|from|to|for|by|with|of|under|during)\s+)?(?:who|whom|whose|which|what|"
    r"where|name)\b",
    re.IGNORECASE,
)
# a word, with a regnal number already turned into digits ("Henry 7")
_NAME_TOKEN = re.compile(r"[^\W\d_][^\W_]*(?:['’-][^\W_]+)*(?:\s\d{1,2}\b)?", re.UNICODE)


def _yesno_part(question: str | None) -> str | None:
    """The yes/no question in ``question`` (the whole question, or its last part after a colon,
    semicolon or sentence end: "Risk factors ...: is there a role for X?"), else None."""
    if not question:
        return None
    q = _clean(question).strip(" \"'“”")
    if _YESNO_QUESTION.search(q):
        return q
    last = [x for x in re.split(r"[:;]\s+|(?<=[.!?])\s+", q) if x.strip()]
    if len(last) > 1 and _YESNO_QUESTION.search(last[-1]):
        return last[-1]
    return None


def _asks_for_entity(question: str | None) -> bool:
    """A question asking for a thing by name: who/which/what/where/"Name the ...", not a yes/no,
    numeric or why/how question (the parts of a reply that name things answer it)."""
    if not question:
        return False
    q = _clean(question).strip(" \"'“”")
    if _NUMERIC_QUESTION.search(q) or _yesno_part(q) is not None:
        return False
    # the question's last sentence carries the ask ("Famous as ..., who is the chairman ...?")
    last = [x for x in re.split(r"(?<=[.!?])\s+|,\s+", q) if x.strip()]
    return any(_ENTITY_QUESTION.match(x) for x in [q, *last[-1:]])


def _novel_names(clause: str, qstems: frozenset[str]) -> str:
    """The capitalised words of ``clause`` not in the question (see :attr:`AnswerKey.names`).

    The clause's first word counts only when it does not look like an ordinary sentence opener
    (a stop word, filler, an -ly adverb or an -ing/-ed verb)."""
    out: list[str] = []
    for i, m in enumerate(_NAME_TOKEN.finditer(clause)):
        tok = m.group(0)
        if not tok[0].isupper():
            continue
        low = _ABBREVIATIONS.get(tok.lower(), tok.lower())
        if low in _STOP or low in _FILLER or low in _PRONOUNS or yes_no(low) is not None:
            continue
        if i == 0 and (low.endswith(("ly", "ing", "ed")) or _INTRO.match(low)):
            continue
        parts = [_stem(w) for w in _words(low)]
        if parts and all(w in qstems for w in parts):
            continue
        out.append(" ".join(_words(low)))
    return " ".join(out)


_HOW_MANY = re.compile(r"\bhow\s+many\s+(?P<n>[^\W\d_]+(?:\s+[^\W\d_]+){0,2})", re.IGNORECASE)


def _counted(clause: str, question: str) -> Quantity | None:
    """For "how many X", the one number in ``clause`` that counts X ("8 legs"), else None."""
    m = _HOW_MANY.search(_clean(question))
    if not m:
        return None
    nouns = {_stem(w) for w in _words(m.group("n")) if w not in _STOP}
    # parse_numbers reports offsets in the text with number words written as digits
    conv = number_words_to_digits(unicodedata.normalize("NFKC", _clean(clause)), lone_one=False)
    found = [
        Quantity(value=n.value, unit=n.unit, decimal=n.decimal)
        for n in parse_numbers(_clean(clause), lone_one=False)
        if nouns & {_stem(w) for w in _words(conv[n.end :])[:3]}
    ]
    return found[0] if len(found) == 1 else None


_RESTATED_SHARE = 0.75


def _verdict(reply: str, qstems: frozenset[str]) -> tuple[str | None, bool]:
    """(yes/no, firm) a reply gives to a yes/no question beyond its answering clause: a leading
    "Yes"/"No" of the shared lexicon (``yes_no``: "No one knows" is none), else one of its first
    two sentences stating the question's claim (>= 75% of the question's content words, at
    least 2): affirmed -> "yes", negated -> "no"; else (None, False).
    """
    lead = yes_no(reply)
    if lead:
        return lead, True
    if len(qstems) < 2:
        return None, False
    for sent in _sentences(reply)[:2]:
        if sent.rstrip().endswith("?"):
            continue
        got = {_stem(w) for w in _words(sent) if w not in _STOP} & qstems
        if len(got) >= _RESTATED_SHARE * len(qstems):
            return ("no" if _NEGATION.search(sent) else "yes"), True
    return None, False


def _number_word(word: str, n_words: int) -> str:
    """A number word as digits ("eight" -> "8"); "one" only when it is the whole answer."""
    if word != "one" or n_words == 1:
        digits = number_words_to_digits(word)
        if digits.isdigit():
            return digits
    return word


def answer_key(text: object, *, question: str | None = None) -> AnswerKey:
    """Extract the answer of a reply and read what it says.

    Args:
        text: the reply.
        question: the question (optional; used for extraction, for the core and for options).

    Returns:
        :class:`AnswerKey`. Never raises on model output.
    """
    ex = extract_answer(text, question=question)
    if ex.method in ("empty", "none"):
        return AnswerKey(extracted=ex)
    qstems = _question_stems(question)
    options = parse_options(question)
    if ex.method == "option":
        return AnswerKey(extracted=ex, letter=ex.text.upper(), core=ex.text.lower())
    txt = _ROMAN.sub(lambda m: f"{m.group(1)} {_ROMAN_VALUES[m.group(2)]}", ex.text)
    words = _words(txt)
    yesno: str | None = None
    said = yes_no(txt)  # closed lexicon: "Nope." -> no, "Of course" -> yes, not "Not at all sure"
    if said and (ex.method != "json" or len(words) <= 3):
        yesno = said
    clause = _clause(txt, qstems)
    clause = _CONTRAST_TAIL.sub("", clause) or clause  # "Au, not Ag" answers Au
    doubt = _DOUBT_ONLY.match(clause) is not None  # "Not at all sure": neither yes nor no
    negated = bool(_NEGATION.search(clause)) or yesno == "no"
    firm = yesno is not None
    yn_part = _yesno_part(question)
    if yesno is None and not doubt and yn_part is not None and not options:
        yesno, firm = _verdict(_clean(str(text)), _question_stems(yn_part))
        if yesno is None:
            yesno = "no" if negated else "yes"
            firm = negated
        negated = negated or yesno == "no"
    numbers = tuple(parse_quantities(clause))
    all_numbers = parse_quantities(txt)
    main: Quantity | None = None
    explicit = ex.method in (
        "json",
        "boxed",
        "marker",
        "answer_line",
        "answer_phrase",
        "bold_line",
        "conclusion",
    )
    if explicit and all_numbers:
        tail = txt.rsplit("=", 1)[1] if "=" in txt else txt
        tail_numbers = parse_quantities(tail)
        if len(tail_numbers) == 1:
            main = tail_numbers[0]
        elif len(all_numbers) == 1:
            main = all_numbers[0]
    elif len(numbers) == 1:
        others = [_number_word(w, len(words)) for w in _words(clause)]
        others = [w for w in others if not re.fullmatch(r"[\d.,]+", w)]
        others = [w for w in others if w not in UNITS and w not in _STOP and w not in _FILLER]
        others = [w for w in others if _stem(w) not in qstems]
        if len(others) <= 2 or explicit:
            main = numbers[0]
    if main is None and len(numbers) > 1 and question:
        main = _counted(clause, question)  # "8 legs and 2 body segments" for "how many legs"
    if explicit and main is not None:
        numbers = tuple(all_numbers)
    cwords = [_number_word(w, len(words)) for w in _words(clause)]
    full = " ".join(w for w in cwords if w not in _STOP and w not in _FILLER)
    core = " ".join(_novel(cwords, qstems))
    letter: str | None = None
    if options:
        norm_opts = {
            k: " ".join(w for w in _words(v) if w not in _STOP) for k, v in options.items()
        }
        hits = [k for k, v in norm_opts.items() if v and (v in (full, core))]
        if len(hits) == 1:
            letter = hits[0]
    return AnswerKey(
        extracted=ex,
        letter=letter,
        main=main,
        numbers=numbers,
        yesno=yesno,
        firm=firm,
        negated=negated,
        core=core,
        items=_items(clause),
        full=full,
        names=(
            _novel_names(_clause(txt, qstems, refine=True), qstems)
            if len(words) > _SHORT_WORDS and _asks_for_entity(question)
            else ""
        ),
    )


def _numbers_compatible(a: AnswerKey, b: AnswerKey) -> bool | None:
    """True/False when the numbers decide the pair, None when they leave it to the words."""
    if a.main is not None and b.main is not None:
        return _same_value(a.main, b.main)
    if a.main is not None or b.main is not None:
        m, other = (a.main, b) if a.main is not None else (b.main, a)
        assert m is not None
        if not other.numbers:
            return None
        return bool(any(_same_value(m, q) for q in other.numbers))
    if a.numbers and b.numbers:
        small, large = (a, b) if len(a.numbers) <= len(b.numbers) else (b, a)
        if all(any(_same_value(x, y) for y in large.numbers) for x in small.numbers):
            return None
        return False
    return None


def _numeric_only(k: AnswerKey) -> bool:
    """The answer is its number: no word left in the core but digits and units."""
    return all(re.fullmatch(r"[\d.,/%]+", w) or w in UNITS or w in SCALES for w in k.core.split())


def compare_answers(a: AnswerKey, b: AnswerKey) -> float:
    """Similarity of two answers in [0, 1] (1 = the same answer).

    Rules, in order: an empty answer matches nothing; option letters decide when both have one;
    numbers: two main values must be equal (by value and unit; a unit on one side only is fine; a
    percentage equals a decimal or fraction <= 1 of the same value), a main value must appear
    among the other answer's numbers, and two sets of numbers must nest (else 0); two numeric
    answers whose main values are equal are the same answer (1.0); yes/no must agree; polarity
    (a negation in the answering clause) must agree; a short "A and B" list is not the same
    answer as "A" (the number of and-joined items must agree); then rapidfuzz
    ``token_set_ratio / 100`` of the cores (of the full content words when a core is empty), or
    the ``fuzz.ratio`` of the cores without spaces when higher ("hayfever" / "hay fever").

    Args:
        a: first key; b: second key (from :func:`answer_key`).

    Returns:
        Similarity in [0, 1].
    """
    if a.extracted.method in ("empty", "none") or b.extracted.method in ("empty", "none"):
        return 0.0
    if a.letter and b.letter:
        return 1.0 if a.letter == b.letter else 0.0
    nums = _numbers_compatible(a, b)
    if nums is False and not (a.names and b.names):  # a name asked for: years are detail
        return 0.0
    if a.main is not None and b.main is not None and _numeric_only(a) and _numeric_only(b):
        return 1.0
    for ka, kb in ((a, b), (b, a)):
        if ka.main is not None and _numeric_only(ka) and kb.main is None and len(kb.numbers) > 1:
            return 0.0  # "2" against a clause of several numbers that commits to none of them
    if a.yesno and b.yesno and a.yesno != b.yesno:
        return 0.0
    if a.yesno and a.yesno == b.yesno and a.firm and b.firm:
        return 1.0  # "No, ..." and "The Constitution does not allow it": the same answer
    if a.yesno and b.yesno and a.firm != b.firm:
        return 0.0  # a verdict and a reply that gives none do not give the same answer
    if a.items != b.items:  # "Botswana and South Africa" names two places, "Botswana" one
        return 0.0
    if a.negated != b.negated:
        return 0.0
    if a.yesno and b.yesno and (not a.core or not b.core):
        return 1.0
    if a.names and b.names:  # a thing asked for by name: the names given decide
        x, y = a.names, b.names
    else:
        x, y = (a.core, b.core) if a.core and b.core else (a.full, b.full)
    if not x and not y:  # no words on either side ("🙂"): the same symbols are the same answer
        ta, tb = a.extracted.text.strip(), b.extracted.text.strip()
        return 1.0 if ta and ta == tb else 0.0
    if not x or not y:
        return 0.0
    score = float(fuzz.token_set_ratio(x, y))
    if " " in x or " " in y:  # written as one word or two: "hayfever" / "hay fever"
        score = max(score, float(fuzz.ratio(x.replace(" ", ""), y.replace(" ", ""))))
    return score / 100.0


class AnswerSimilarity:
    """Default answer equivalence: same extracted answer, compared by value (no model calls).

    Each text is turned into an :class:`AnswerKey` once (:func:`extract_answer` then
    :func:`answer_key`), then each pair is compared with :func:`compare_answers` (letters,
    numbers, yes/no, polarity, then rapidfuzz ``token_set_ratio`` of the answer cores).
    Cost: O(k) extraction plus k² cheap comparisons; no model call.

    Args:
        question: the question the answers respond to (recommended: it drives extraction and the
            answer core; without it the whole answering clause is compared).
        threshold: equivalence threshold in (0, 1], default :data:`ANSWER_THRESHOLD` (0.90).

    Raises:
        ValueError: a threshold outside (0, 1].
    """

    def __init__(self, question: str | None = None, *, threshold: float = ANSWER_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        self.name = "answer"
        self.threshold = float(threshold)
        self.question = question

    def keys(self, texts: Sequence[str]) -> list[AnswerKey]:
        """:func:`answer_key` of each text (same order)."""
        return [answer_key(t, question=self.question) for t in texts]

    def scores(self, reference: str, candidates: Sequence[str]) -> NDArray[np.float64]:
        """Batched form: similarity of each candidate to one reference, shape ``(k,)``."""
        keys = self.keys([reference, *candidates])
        return np.array([compare_answers(keys[0], k) for k in keys[1:]], dtype=np.float64)

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Pairwise similarity, shape ``(n, n)``, symmetric, values in [0, 1], ones on the diagonal
        for non-empty answers."""
        n = len(texts)
        if n == 0:
            return np.zeros((0, 0), dtype=np.float64)
        keys = self.keys(texts)
        sim = np.zeros((n, n), dtype=np.float64)
        for i in range(n):
            sim[i, i] = 0.0 if keys[i].extracted.method in ("empty", "none") else 1.0
            for j in range(i + 1, n):
                sim[i, j] = sim[j, i] = compare_answers(keys[i], keys[j])
        out: NDArray[np.float64] = np.clip(sim, 0.0, 1.0)
        return out
