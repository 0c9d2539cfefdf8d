"""Correctness judging of a model reply against a labelled question.

Every verdict is a :class:`Judgement` that says *how* it was reached (``method``), what was parsed
from the reply and, for fuzzy matches, the score, so a human can audit the judge record by record.

**Which part of the reply is the answer** (:func:`extract_answer`, recorded as ``answer_from``):

1. ``json``: the first JSON object (bare or in a fenced block) with an answer field (``answer``,
   ``final_answer``, ``response``, ``choice``, ``option``, ``prediction``; any case, nested up to
   three levels) whose value is not a placeholder (``<your answer>``, ``...``); later objects (a
   model inventing a follow-on question with its own answer) are ignored, and a ``confidence``
   field is never the answer. A truncated object still gives its quoted ``"answer": "..."``.
2. ``answer_marker``: what :func:`guardrail.signals.answers.extract_answer` (the one prose
   extractor, shared with answer-level agreement) finds with ``fallback="first_line"`` and
   ``phrases="line_start"``: the last LaTeX ``\\boxed{...}``, else the last explicit marker of
   the strongest kind present: ``####`` lines, then ``Answer:`` / ``Final answer:`` lines, then
   ``A:`` lines that do not start an option list, then lines opening "The answer is: X" /
   "The answer = X" / "(So / Therefore,) the answer is X" (not "... is not"); a label standing
   alone takes the next line. A labelled line after the first holding only a percentage ("The
   answer is: 100%" under SmolLM2's answer) is a confidence statement, not the answer. Markdown
   emphasis is read through (``**Answer: 42**``, ``The answer is **Canberra**``), and reasoning
   whose last line is wholly bold (``**42**``, at most 12 words, not a heading ending in ":")
   gives that line.
3. ``first_line``: the first non-empty line that is not a confidence line or a code fence.

Confidence statements are cut from the extracted answer (``Confidence: 80%``, ``(90% sure)``,
``with 95% certainty``) so a stated confidence is never read as a numeric answer.

Rules, in order (first that applies wins):

* **multiple choice**: the option letter, read from the answer line (``B``, ``(B)``, ``B.``,
  ``B) text``, ``Answer: B``, ``The answer is B``, ``Option B``); otherwise from an explicit
  "answer/option is B" anywhere in the reply; otherwise the reply's text naming exactly one
  option's full text (``option_text``). Correct when the letter is the key or another correct
  letter of the item. When the text after the letter is exactly *another* option's text, the
  verdict still follows the letter and ``detail`` notes the conflict. A reply with no readable
  letter is ``unparsed`` and counts as wrong.
* **label** (Yes/No, T/F, yes/no/maybe, the Abercrombie categories): for Yes/No a yes/no word
  or phrase of the closed lexicon of :func:`guardrail.signals.numbers.yes_no` opening the answer
  line ("Nope.", "Absolutely not", "Yep", "Of course"; not "Not at all sure"); else the first
  label word (or its synonym: ``true``/``false`` for ``T``/``F``) in the answer line, else in
  the whole reply.
* **short answer**: the extracted answer, number words written as digits ("twelve" -> 12,
  "twenty-five" -> 25, "two thousand" -> 2000), normalised as in the SQuAD/TriviaQA evaluation
  scripts (lower case, punctuation and the articles a/an/the removed, whitespace collapsed;
  Rajpurkar et al. 2016, arXiv 1606.05250; Joshi et al. 2017, arXiv 1705.03551), then

  0. ``numeric``, when an accepted answer is a number with at most two words after it ("22",
     "$2,500", "24,900 miles", "Eight", "-20"): the reply's first number after confidence
     statements are cut, compared by value (thousands separators and a scale word read:
     ``100,000`` = ``100000``, ``1.2 million`` = ``1200000``; the sign kept: ``-20`` != ``20``;
     a dash between two numbers is a range, not a sign). A unit on both sides must agree
     (``mi`` = ``miles``; ``°C`` = ``degrees Celsius``), converted within one dimension (``4 g``
     = ``4,000 mg``, ``1 km`` = ``1,000 m``; :mod:`guardrail.signals.numbers`, SI Brochure and
     NIST SP 811), never across dimensions (``4 g`` != ``4 ml``); when the first
     number's unit differs from the reference's, a later number in the reference's unit is read
     instead ("212°F, which is 100°C" for "100 °C"); a unit on one side only is ignored
     (``1,200 mi`` = ``1200``). Several different numbers offered as alternatives or a range
     ("20 or 30", "20-30") are not an answer. This verdict is final whenever the reply holds a
     number;
  1. ``exact``: equal to a normalised accepted answer; when every accepted answer is a yes/no
     word, a yes/no word or phrase of :func:`guardrail.signals.numbers.yes_no` opening the answer
     decides first (``label``: "Nope." for "No");
  2. ``alias_in_answer``: an accepted answer occurs as a whole-word sequence inside an answer line
     of at most :data:`MAX_CONTAINMENT_WORDS` words ("It is an antelope" for "Antelope"); an
     alias that already occurs in the question does not count (a restated question is no
     answer), nor one offered among alternatives ("Queens or Brooklyn");
  3. ``fuzzy``: rapidfuzz ``fuzz.ratio`` (normalised Indel similarity, 0-100) >=
     :data:`DEFAULT_FUZZY_THRESHOLD` against some accepted answer, and only when neither side
     contains a digit (numbers and dates must match exactly: "1809" vs "1808" scores 75);
  4. ``llm_judge`` (optional, see :class:`LLMJudge`) when the rules above did not match.

  A negated match by rule 0, 2 or 3 ("Queens is not correct answer.", "not 20") is ``negated``
  (wrong): one of the three words before the match in its clause is a negation cue (not, no,
  never, n't, neither, nor, none, incorrect, wrong, false), the clause goes on to deny it
  ("... is not", "... is wrong"), or the answer rejects itself ("... is not the correct
  answer"). A negation further away does not reach it ("Paris and not Lyon" credits Paris).
  A *contrasted* mention by rule 0 or 2 is no answer either (``negated``): the accepted answer
  is named only as what others believe or as the alternative set aside ("Canberra, although
  many think Sydney", "Many people say Sydney, but it is Canberra", "Canberra rather than
  Sydney", "Canberra (often mistaken for Sydney)", "Sydney is a common misconception"): its
  clause opens with a concession (although, though, while, whereas, despite, unlike) or a
  belief attribution ("many (people) think/believe/say", "it is commonly believed"), one of the
  four words before it is "rather than", "instead of", "as opposed to", "contrary to",
  "mistaken for", "confused with", its clause goes on "is a (common) misconception/myth" or "is
  often thought/believed", or the reply corrects itself right after it ("Sydney? No,
  Canberra."). For
  a numeric reference a later number that is not contrasted is read instead ("Many think 5,
  but it is 4" reads 4).
  Otherwise ``no_match`` (wrong).

Abstention (a refusal or "I don't know" found by
:func:`guardrail.signals.nonanswer.classify_reply`, or picking an ``Unknown`` option) is detected
separately by :func:`detect_abstention`; an abstention is never counted as a correct answer to an
answerable question.
"""

from __future__ import annotations

import itertools
import re
import string
import unicodedata
from collections.abc import Sequence
from typing import Literal, NamedTuple, Protocol

from pydantic import BaseModel
from rapidfuzz import fuzz

from guardrail.runner.questions import Question
from guardrail.signals.answers import extract_answer as extract_prose
from guardrail.signals.nonanswer import classify_reply
from guardrail.signals.numbers import (
    NumberMention,
    number_words_to_digits,
    parse_numbers,
    same_quantity,
    same_unit,
    yes_no,
)
from guardrail.signals.structured import json_answer

__all__ = [
    "DEFAULT_FUZZY_THRESHOLD",
    "MAX_CONTAINMENT_WORDS",
    "ExtractedAnswer",
    "Judgement",
    "LLMJudge",
    "ParsedNumber",
    "answer_line",
    "detect_abstention",
    "extract_answer",
    "judge_reply",
    "judge_short_answer",
    "normalize_answer",
    "number_words_to_digits",
    "parse_choice_letter",
    "parse_label",
    "parse_numbers",
]

#: Minimum rapidfuzz ``fuzz.ratio`` (0-100) for a fuzzy short-answer match. 85 accepts spelling
#: variants ("Tchaikovski" vs "Tchaikovsky" = 90.9, "antelopes" vs "antelope" = 94.1) and
#: rejects near-miss words ("pancreatic" vs "pancreas" = 77.8, "parts" vs "paris" = 80.0).
DEFAULT_FUZZY_THRESHOLD = 85.0

#: Longest answer line (in words) for which an accepted answer found inside it counts as correct
#: (small models restate the question: "The Greek god of marriage is Hymen.").
MAX_CONTAINMENT_WORDS = 30

JudgeMethod = Literal[
    "choice_letter",
    "option_text",
    "label",
    "exact",
    "alias_in_answer",
    "fuzzy",
    "numeric",
    "llm_judge",
    "negated",
    "unparsed",
    "no_match",
]

AnswerSource = Literal["json", "answer_marker", "first_line", "none"]


class Judgement(BaseModel):
    """How a reply was judged.

    Attributes:
        correct: the verdict.
        method: which rule decided (see module docstring); ``unparsed``/``no_match`` are wrong.
        parsed: what was read from the reply (letter, label or answer line); None if nothing.
        score: fuzzy similarity 0-100 for ``fuzzy``/``no_match`` short answers, else None.
        detail: human-readable note (matched alias, judge reply, ...).
        answer_from: which part of the reply was read as the answer (see
            :func:`extract_answer`): ``json``, ``answer_marker``, ``first_line`` or ``none``.
    """

    correct: bool
    method: JudgeMethod
    parsed: str | None = None
    score: float | None = None
    detail: str = ""
    answer_from: AnswerSource = "first_line"


# --------------------------------------------------------------------------- text helpers

_ANSWER_PREFIX = re.compile(
    # a "-" right before a digit is the answer's sign ("The answer is -20"), not a separator
    r"^\W*(?:final\s+answer|answer|the\s+(?:correct\s+|final\s+)?answer\s+is|a)\s*(?::|-(?!\d))\s*",
    re.IGNORECASE,
)
_ANSWER_IS = re.compile(r"^\W*the\s+(?:correct\s+|final\s+)?answer\s+(?:is|would be)\s*:?\s*", re.I)
_PUNCT = set(string.punctuation) | {"‘", "’", "´", "`", "“", "”", "–", "—"}


class ExtractedAnswer(NamedTuple):
    """The answering part of a reply.

    Attributes:
        text: the answer ("" when the reply holds none).
        source: ``json`` / ``answer_marker`` / ``first_line`` / ``none`` (module docstring).
        field: the JSON key it came from (``json`` only), else "".
    """

    text: str
    source: AnswerSource
    field: str = ""


# (blanks before a phrase are taken only from the start of their run, "(?<!\s)": an attempt from
# each blank of a long run rescanned the run, quadratic on a reply of 20k spaces)
_CONFIDENCE_PHRASE = re.compile(
    r"[\(\[]?(?:(?<!\s)\s+)?\b(?:my\s+)?(?:(?:confidence|certainty)(?:\s+(?:level|score))?(?:\s+(?:is|of))?"
    r"\s*[:=]?|probability\s*[:=])\s*(?<![\d.,])[-+]?\d[\d.,]*+\s*"
    r"(?:%|percent\b|/\s*\d+)?\s*[\)\]]?"
    r"|[\(\[]?(?:(?<!\s)\s+)?(?:\b(?:i\s*(?:'m|am)|with|at)\s+)?(?<![\d.,])[-+]?\d[\d.,]*+\s*(?:%|percent\b)\s*"
    r"(?:confident|confidence|sure|certain|certainty|likely)\b\s*[\)\]]?",
    re.IGNORECASE,
)


_CONFIDENCE_TAIL = re.compile(r"(?:(?<!\s)\s+)?[\(\[]?\b(?:confidence|probability)\b\s*[:=]", re.I)


def _cut_leftovers(line: str) -> str:
    """``line`` without a trailing run of blanks and ``, ; : .`` that ends in ``,`` ``;`` or
    ``:`` ("Paris, ;" -> "Paris"), or without blanks-then-dots ("Paris . ." -> "Paris"; "Dr." and
    "etc." keep their full stop). A scan from the end: the regular expression it replaces
    rescanned each run of blanks from every blank (quadratic on 20k spaces)."""
    i = len(line)
    while i and (line[i - 1].isspace() or line[i - 1] in ",;:."):
        i -= 1
    tail = line[i:].rstrip()
    if tail.endswith((",", ";", ":")):
        return line[:i]
    if tail.endswith("."):
        # the dots-only run at the end, cut from its first blank ("x. ." -> "x.")
        j = len(line)
        while j and (line[j - 1].isspace() or line[j - 1] == "."):
            j -= 1
        k = next((n for n in range(j, len(line)) if line[n].isspace()), None)
        if k is not None and "." in line[k:]:
            return line[:k]
    return line


def _clean_answer(line: str) -> str:
    # An inline "... Confidence: 80%" tail on the answer line is not part of the answer.
    line = _CONFIDENCE_TAIL.split(line, maxsplit=1)[0]
    line = _CONFIDENCE_PHRASE.sub(" ", line)
    line = _ANSWER_PREFIX.sub("", line.strip())
    line = _ANSWER_IS.sub("", line)
    line = _cut_leftovers(line)
    line = line.strip().strip("*").strip()
    return " ".join(line.strip('"').strip().split())


def extract_answer(reply: str) -> ExtractedAnswer:
    """The answering part of a reply: a JSON answer field, else an ``Answer:`` line, else the
    first line (rules in the module docstring).

    Args:
        reply: raw model reply (any text; never raises on it).

    Returns:
        :class:`ExtractedAnswer`; ``source="none"`` and ``text=""`` when there is no answer
        (empty reply, only a confidence statement, a JSON object whose answer is a placeholder).
    """
    found = json_answer(reply)  # shared with answer-level agreement (signals/structured.py)
    if found is not None:
        if not found.text:  # JSON with an answer field, but only placeholders in it
            return ExtractedAnswer("", "none")
        return ExtractedAnswer(_clean_answer(found.text), "json", found.key)
    # the prose extractor agreement uses; the judge reads the first line when no marker is
    # found and "the answer is" only opening a line (docs/signals.md, "One answer extractor")
    got = extract_prose(reply, fallback="first_line", phrases="line_start", tidy=_clean_answer)
    if got.method in ("empty", "none"):
        return ExtractedAnswer("", "none")
    source: AnswerSource = "first_line" if got.method == "first_line" else "answer_marker"
    return ExtractedAnswer(got.text, source)


def answer_line(reply: str) -> str:
    """The answer part of a reply (:func:`extract_answer`'s text): a JSON answer field, an
    ``Answer:`` line, or the first non-empty line that is not a confidence line, with an
    ``Answer:`` / ``The answer is`` prefix and confidence statements removed. Empty string when
    there is none."""
    return extract_answer(reply).text


def normalize_answer(text: str) -> str:
    """SQuAD/TriviaQA answer normalisation: NFKC, lower case, punctuation -> removed,
    underscores -> spaces, articles a/an/the removed, whitespace collapsed.

    Source: the official evaluation scripts of SQuAD (arXiv 1606.05250) and TriviaQA
    (arXiv 1705.03551).
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("_", " ")
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


# --------------------------------------------------------------------------- multiple choice


def parse_choice_letter(
    reply: str, letters: str, choices: Sequence[str] = ()
) -> tuple[str | None, JudgeMethod]:
    """Read the chosen option letter from a reply.

    Args:
        reply: raw model reply.
        letters: the valid letters, e.g. ``"ABCD"``.
        choices: option texts in letter order (enables the ``option_text`` fallback).

    Returns:
        ``(letter, "choice_letter")``, ``(letter, "option_text")`` or ``(None, "unparsed")``;
        a reply that recites two or more options as lines (``A. ...`` / ``B. ...``) is
        ``unparsed``: it has not chosen.
        Letters are matched upper case only, so the article "a" is never read as option A.
    """
    if not letters:
        return None, "unparsed"
    cls = f"[{re.escape(letters)}]"
    extracted = extract_answer(reply)
    line = extracted.text
    starts = re.compile(rf"^(?:option\s+|choice\s+)?[\(\[]?({cls})(?:[\)\]\.:,]|\s|$)", re.I)
    # "A pancreas ..." / "I think ..." start with an article or pronoun, not an option letter.
    article = re.match(r"^[AI]\s+[a-z]", line) is not None
    # An explicit answer (a JSON answer field, an "Answer: C" line) is a choice even after
    # reasoning that walks through every option.
    if extracted.source in ("json", "answer_marker"):
        m = starts.match(line)
        if m and m.group(1).isupper() and not article:
            return m.group(1), "choice_letter"
    # 0. A reply that recites the option list ("A. ...\nB. ...") has not chosen anything.
    listed = set(re.findall(rf"^\s*[\(\[]?({cls})[\.\)\]]\s", reply, re.MULTILINE))
    if len(listed) >= 2:
        return None, "unparsed"
    # 1. The answer line starts with the letter: "B", "(B)", "B.", "B) text", "Option B".
    m = starts.match(line)
    if m and m.group(1).isupper() and not article:
        return m.group(1), "choice_letter"
    # 2. An explicit statement anywhere: "answer is B", "Answer: (C)", "option D".
    m = re.search(
        rf"\b(?:answer|option|choice)\s*(?:is|would be|:)?\s*[:\-]?\s*[\(\[]?({cls})\b(?![a-z'])",
        reply,
        re.I,
    )
    if m and m.group(1).isupper():
        return m.group(1), "choice_letter"
    # 3. A lone bracketed or dotted letter somewhere in the answer line: "(B)", " C. ".
    m = re.search(rf"(?:^|\s)[\(\[]({cls})[\)\]]", line) or re.search(
        rf"(?:^|\s)({cls})[\.\)](?:\s|$)", line
    )
    if m:
        return m.group(1), "choice_letter"
    # 4. The reply names exactly one option by its full text.
    if choices:
        norm_reply = f" {normalize_answer(reply)} "
        hits = []
        for letter, text in zip(letters, choices, strict=False):
            norm = normalize_answer(text)
            if norm and f" {norm} " in norm_reply:
                hits.append((letter, norm))
        # Drop options whose text is contained in another matched option's text.
        hits = [h for h in hits if not any(h[1] != o[1] and h[1] in o[1] for o in hits)]
        if len(hits) == 1:
            return hits[0][0], "option_text"
    return None, "unparsed"


# --------------------------------------------------------------------------- labels

_LABEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "t": ("true",),
    "f": ("false",),
    "true": ("t",),
    "false": ("f",),
}


def parse_label(reply: str, labels: Sequence[str]) -> str | None:
    """The label a reply gives.

    For Yes/No labels, first a yes/no answer of the closed lexicon opening the answer line or
    the reply (:func:`guardrail.signals.numbers.yes_no`: "Nope." -> No, "Absolutely not" -> No,
    "Of course" -> Yes, "Not at all sure ..." -> neither). Then the first label
    (case-insensitive whole word, or its synonym) in the answer line, else in the whole reply;
    None when no label occurs. Single-letter labels (``T``/``F``) only match upper case as a
    whole word, so the word "f" inside a sentence is not a label."""
    by_word = {lab.lower(): lab for lab in labels}
    if "yes" in by_word and "no" in by_word:
        # "Nope.", "Absolutely not", "Of course": the closed yes/no lexicon, before label words
        for text in (answer_line(reply), reply):
            said = yes_no(text)
            if said is not None:
                return by_word[said]
    for text in (answer_line(reply), reply):
        best: tuple[int, str] | None = None
        for label in labels:
            forms = (label, *_LABEL_SYNONYMS.get(label.lower(), ()))
            for form in forms:
                flags = 0 if len(form) == 1 else re.IGNORECASE
                m = re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", text, flags)
                if m and (best is None or m.start() < best[0]):
                    best = (m.start(), label)
        if best is not None:
            return best[1]
    return None


# --------------------------------------------------------------------------- short answers


_RANGE_OR_ALTERNATIVES = re.compile(
    r"\d\s*(?:[-\u2013\u2014]|\bto\b|\bor\b|/)\s*[-+$\u20ac\u00a3]?\s*\d|\bbetween\b|\beither\b",
    re.IGNORECASE,
)
_NUMERIC_REFERENCE = re.compile(
    r"^\s*(?:about|approximately|around|roughly)?\s*[-+\u2212]?\s*[$\u20ac\u00a3]?\s*"
    r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*(?:%|\u00b0\s?[cf]\b|[^\W\d_]+\.?)?"
    r"(?:\s+[^\W\d_]+\.?)?\s*\.?\s*$",
    re.IGNORECASE,
)


#: A number read from a reply (the shared parser's record, see
#: :mod:`guardrail.signals.numbers`).
ParsedNumber = NumberMention


_NEGATION_CUE = re.compile(
    r"\b(?:not|no|never|neither|nor|incorrect|wrong|false|none)\b|n't\b", re.IGNORECASE
)
_SELF_REJECTION = re.compile(
    r"\bnot\s+(?:the\s+|a\s+)?(?:correct|right|true)\b"
    r"|\b(?:is|was|are)\s+(?:incorrect|wrong|false)\b"
    r"|\b(?:isn't|wasn't|aren't)\s+(?:the\s+|a\s+)?(?:correct|right|true)\b",
    re.IGNORECASE,
)
_CLAUSE_SPLIT = re.compile(
    r"[.;!?]\s|[,:]\s*|\s+[\u2013\u2014]\s*|\s+-{1,2}\s+|\s+\bbut\b\s+|\s+\bhowever\b\s*",
    re.IGNORECASE,
)


_NEGATED_AFTER = re.compile(
    r"^\W*(?:(?:is|was|are|be)\s+(?:not|never)\b|(?:isn't|wasn't|aren't)\b"
    r"|(?:is|was|are)\s+(?:incorrect|wrong|false)\b|(?:not|incorrect|wrong)\b)",
    re.IGNORECASE,
)


_CONTRAST_CLAUSE = re.compile(
    r"^\W*(?:(?:and|but|yet|so)\s+)?(?:(?:even\s+)?(?:although|though)|while|whereas|despite|"
    r"unlike|contrary\s+to|(?:some|many|most|a\s+lot\s+of)(?:\s+\w+)?(?:\s+(?:people|"
    r"sources|folks|others))?\s+(?:may\s+|might\s+|often\s+|still\s+|wrongly\s+|mistakenly\s+)?"
    r"(?:think|believe|say|assume|claim|guess|answer|confuse|expect)|people\s+(?:often\s+|may\s+|"
    r"sometimes\s+|commonly\s+)?(?:think|believe|say|assume|claim|guess|answer|confuse)|"
    r"(?:it\s+is|it's)\s+(?:commonly|often|widely|popularly|sometimes|mistakenly)\s+"
    r"(?:believed|thought|assumed|said|claimed)"
    r"|(?:it\s+is\s+|it's\s+)?(?:a|the)\s+(?:common\s+|popular\s+|widespread\s+|frequent\s+)?"
    r"(?:misconception|myth|mistake|error)\s+(?:is|that))\b",
    re.IGNORECASE,
)
_CONTRAST_BEFORE = re.compile(
    r"\b(?:rather\s+than|instead\s+of|as\s+opposed\s+to|contrary\s+to|unlike|"
    r"(?:mistaken|mistook|confused|confuses|confuse)\s+(?:it\s+)?(?:for|with)|"
    r"(?:mis)?taken\s+for)(?:\s+[\w'-]+){0,4}?\s*$",
    re.IGNORECASE,
)
_CONTRAST_AFTER = re.compile(
    r"^[\s\W]*(?:is|was|are)\s+(?:a\s+|an\s+)?(?:common\s+|popular\s+|widespread\s+|"
    r"frequent\s+)?(?:misconception|myth|mistake|misunderstanding|confusion)\b"
    r"|^[\s\W]*(?:is|was|are)\s+(?:often|commonly|widely|frequently|sometimes|mistakenly|"
    r"wrongly|popularly)\s+(?:thought|believed|assumed|mistaken|confused)\b",
    re.IGNORECASE,
)
# a self-correction right after the mention: "Sydney? No, Canberra.", "Sydney. Actually, ..."
_CORRECTED_AFTER = re.compile(
    r"^\s*[?.!,;:]*\s*(?:no|nope|actually|wait|correction|sorry)\b\s*[,.!:;-]+\s*\S",
    re.IGNORECASE,
)


def _contrasted(text: str, start: int, end: int) -> bool:
    """Whether the mention ``text[start:end]`` only names what others believe or the alternative
    set aside (module docstring: concession or belief-attribution clause, "rather than X",
    "mistaken for X", "X is a common misconception")."""
    if _CONTRAST_BEFORE.search(text[max(0, start - 80) : start]):
        return True
    bounds = [0] + [m.end() for m in _CLAUSE_SPLIT.finditer(text)] + [len(text) + 1]
    for lo, hi in itertools.pairwise(bounds):
        if lo <= start < hi:
            clause_start = text[lo:start]
            inner = re.split(r"[(\[]", clause_start)[-1]  # "(often mistaken for X)"
            if _CONTRAST_CLAUSE.match(clause_start) or _CONTRAST_CLAUSE.match(inner):
                return True
            if _CORRECTED_AFTER.match(text[end:]):
                return True
            return _CONTRAST_AFTER.match(text[end:hi]) is not None
    return False


def _negated(text: str, start: int, end: int) -> bool:
    """Whether the match ``text[start:end]`` is negated (module docstring): the answer rejects
    itself, one of the three words before the match in its clause is a negation cue ("it is not
    Queens", "I don't think it's Queens"), or its clause goes on to deny it ("Queens is not
    correct"). A negation further away ("Paris and not Lyon") does not reach the match."""
    if _SELF_REJECTION.search(text):
        return True
    bounds = [0] + [m.end() for m in _CLAUSE_SPLIT.finditer(text)] + [len(text) + 1]
    for lo, hi in itertools.pairwise(bounds):
        if lo <= start < hi:
            before = re.findall(r"[\w']+", text[lo:start])[-3:]
            if any(_NEGATION_CUE.fullmatch(w) or w.lower().endswith("n't") for w in before):
                return True
            return _NEGATED_AFTER.match(text[end:hi]) is not None
    return False


def _numeric_reference(accepted: Sequence[str]) -> tuple[str, ParsedNumber] | None:
    """The first accepted answer that is a number with at most two words after it."""
    for alias in accepted:
        digits = number_words_to_digits(unicodedata.normalize("NFKC", alias))
        if _NUMERIC_REFERENCE.match(digits):
            nums = parse_numbers(digits)
            if len(nums) == 1:
                return alias, nums[0]
    return None


def _judge_numeric(line: str, accepted: Sequence[str], source: AnswerSource) -> Judgement | None:
    """Rule 0 (module docstring); None when no accepted answer is numeric or the answer holds
    no number (the text rules then decide)."""
    ref = _numeric_reference(accepted)
    if ref is None:
        return None
    alias, target = ref
    text = number_words_to_digits(line)
    nums = parse_numbers(text)
    if not nums:
        return None
    common = {"parsed": line, "answer_from": source}
    distinct = {round(n.value, 9) for n in nums}
    if len(distinct) > 1 and _RANGE_OR_ALTERNATIVES.search(text):
        return Judgement(
            correct=False,
            method="no_match",
            detail=f"several numbers as alternatives or a range, reference {alias!r}",
            **common,  # type: ignore[arg-type]
        )
    got = next((n for n in nums if not _contrasted(text, n.start, n.end)), nums[0])
    if got.unit and target.unit and got.unit != target.unit:
        # "212°F, which is 100°C" for a Celsius reference: the number in the reference's unit,
        # else the first one that converts to it ("4,000 mg (4 g)")
        got = next(
            (n for n in nums if n.unit == target.unit),
            next((n for n in nums if n.unit and same_unit(n.unit, target.unit)), got),
        )
    whole = got.value.is_integer() and abs(got.value) < 1e15
    label = str(int(got.value)) if whole else str(got.value)
    if got.unit and target.unit and not same_unit(got.unit, target.unit):
        return Judgement(
            correct=False,
            method="numeric",
            detail=f"unit {got.unit} != {target.unit} of reference {alias!r}",
            **common,  # type: ignore[arg-type]
        )
    if not same_quantity(got.value, got.unit, target.value, target.unit):
        return Judgement(
            correct=False,
            method="numeric",
            detail=f"{label} {got.unit or ''} != reference {alias!r}".replace("  ", " "),
            **common,  # type: ignore[arg-type]
        )
    end = got.end
    if _negated(text, got.start, end) or _contrasted(text, got.start, end):
        return Judgement(
            correct=False,
            method="negated",
            detail=f"{label} = reference {alias!r}, but negated",
            **common,  # type: ignore[arg-type]
        )
    return Judgement(
        correct=True,
        method="numeric",
        detail=f"{label} = reference {alias!r}",
        **common,  # type: ignore[arg-type]
    )


def _word_span(haystack: str, needle: str) -> tuple[int, int] | None:
    """Character span of ``needle``'s words (normalised) inside ``haystack`` (raw), or None."""
    words = needle.split()
    if not words:
        return None
    pattern = r"[\W_]+(?:(?:a|an|the)[\W_]+)*".join(re.escape(w) for w in words)
    m = re.search(rf"(?<![^\W_]){pattern}(?![^\W_])", haystack, re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def judge_short_answer(
    reply: str,
    accepted: Sequence[str],
    *,
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD,
    question: str = "",
) -> Judgement:
    """Judge a free-text reply against accepted answers (rules 0-3 of the module docstring).

    Args:
        reply: raw model reply (the answer is taken from it with :func:`extract_answer`).
        accepted: canonical answer and aliases (non-empty).
        fuzzy_threshold: minimum ``fuzz.ratio`` in [0, 100] for a fuzzy match.
        question: the question text; aliases occurring in it are not matched inside a longer
            answer line (rule 2).

    Returns:
        :class:`Judgement` with ``method`` one of ``numeric``, ``exact``, ``alias_in_answer``,
        ``fuzzy``, ``negated``, ``unparsed``, ``no_match`` and ``answer_from`` set.

    Raises:
        ValueError: ``accepted`` is empty or the threshold is outside [0, 100].
    """
    if not accepted:
        raise ValueError("at least one accepted answer is needed")
    if not 0.0 <= fuzzy_threshold <= 100.0:
        raise ValueError("fuzzy_threshold must be in [0, 100]")
    extracted = extract_answer(reply)
    line, source = extracted.text, extracted.source
    norm = normalize_answer(number_words_to_digits(line))
    if not norm:
        return Judgement(
            correct=False,
            method="unparsed",
            parsed=line or None,
            detail="empty",
            answer_from=source,
        )
    numeric = _judge_numeric(line, accepted, source)
    if numeric is not None:
        return numeric
    gold_yn = {yes_no(a) for a in accepted}
    if len(gold_yn) == 1 and None not in gold_yn:
        said = yes_no(line)
        if said is not None:  # "Nope." for "No", "Absolutely" for "Yes" (closed lexicon)
            return Judgement(
                correct=said in gold_yn,
                method="label",
                parsed=line,
                detail=f"yes/no word: {said} vs reference {accepted[0]!r}",
                answer_from=source,
            )
    targets = [(a, normalize_answer(number_words_to_digits(a))) for a in accepted]
    targets = [(a, n) for a, n in targets if n]
    for alias, target in targets:
        if norm == target:
            return Judgement(
                correct=True, method="exact", parsed=line, detail=f"= {alias!r}", answer_from=source
            )
    if len(norm.split()) <= MAX_CONTAINMENT_WORDS:
        padded = f" {norm} "
        in_question = f" {normalize_answer(number_words_to_digits(question))} "
        digits_line = number_words_to_digits(line)
        for alias, target in targets:
            if f" {target} " in padded and f" {target} " not in in_question:
                span = _word_span(digits_line, target)
                rest = padded.replace(f" {target} ", " ", 1)
                if span is not None and _negated(digits_line, *span):
                    return Judgement(
                        correct=False,
                        method="negated",
                        parsed=line,
                        detail=f"~ {alias!r}, but negated",
                        answer_from=source,
                    )
                if span is not None and _contrasted(digits_line, *span):
                    return Judgement(
                        correct=False,
                        method="negated",
                        parsed=line,
                        detail=f"~ {alias!r}, but only as a contrast (what others think)",
                        answer_from=source,
                    )
                if re.search(r"\b(?:or|either)\b", rest) and not re.search(r"\bor\b", target):
                    return Judgement(
                        correct=False,
                        method="no_match",
                        parsed=line,
                        detail=f"~ {alias!r}, but among alternatives",
                        answer_from=source,
                    )
                return Judgement(
                    correct=True,
                    method="alias_in_answer",
                    parsed=line,
                    detail=f"~ {alias!r}",
                    answer_from=source,
                )
    best_score, best_alias = 0.0, ""
    for alias, target in targets:
        if _has_digit(norm) or _has_digit(target):
            continue
        score = float(fuzz.ratio(norm, target))
        if score > best_score:
            best_score, best_alias = score, alias
    if best_score >= fuzzy_threshold:
        negated = _NEGATION_CUE.search(norm) is not None and not _NEGATION_CUE.search(
            normalize_answer(best_alias)
        )
        return Judgement(
            correct=not negated,
            method="negated" if negated else "fuzzy",
            parsed=line,
            score=round(best_score, 2),
            detail=f"ratio {best_score:.1f} >= {fuzzy_threshold:g} vs {best_alias!r}"
            + (", but negated" if negated else ""),
            answer_from=source,
        )
    return Judgement(
        correct=False,
        method="no_match",
        parsed=line,
        score=round(best_score, 2) if best_alias else None,
        detail=f"best ratio {best_score:.1f} vs {best_alias!r}" if best_alias else "",
        answer_from=source,
    )


def _letter_text_conflict(question: Question, reply: str, letter: str) -> str:
    """A note when the text after the chosen letter is exactly another option's text
    ("A. paralysis of the facial muscles." where that is option C): the verdict follows the
    letter, the note lets a reviewer find the case."""
    m = re.match(r"^[\(\[]?[A-Z][\)\]\.:]?\s+(.+)$", answer_line(reply))
    if not m:
        return ""
    text = normalize_answer(m.group(1))
    if not text:
        return ""
    for other, option in zip(question.letters, question.choices, strict=True):
        if other != letter and normalize_answer(option) == text:
            mine = question.choices[question.letters.index(letter)]
            if normalize_answer(mine) != text:
                return f"letter {letter}, but the text after it is option {other}'s"
    return ""


def judge_reply(
    question: Question, reply: str, *, fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD
) -> Judgement:
    """Judge ``reply`` against ``question`` with the rules for its kind (no LLM judge).

    Never raises on the reply; ``answer_from`` says which part of it was read as the answer."""
    if question.kind == "multiple_choice":
        source = extract_answer(reply).source
        letter, method = parse_choice_letter(reply, question.letters, question.choices)
        if letter is None:
            return Judgement(
                correct=False,
                method="unparsed",
                detail="no single option letter found (none, or the options recited)",
                answer_from=source,
            )
        right = {question.answer, *question.aliases}
        return Judgement(
            correct=letter in right,
            method=method,
            parsed=letter,
            detail=_letter_text_conflict(question, reply, letter)
            if method == "choice_letter"
            else "",
            answer_from=source,
        )
    if question.kind == "label":
        source = extract_answer(reply).source
        label = parse_label(reply, question.choices)
        if label is None:
            return Judgement(
                correct=False, method="unparsed", detail="no label found", answer_from=source
            )
        return Judgement(
            correct=label == question.answer, method="label", parsed=label, answer_from=source
        )
    return judge_short_answer(
        reply, question.accepted, fuzzy_threshold=fuzzy_threshold, question=question.question
    )


# --------------------------------------------------------------------------- abstention

#: Reply kinds that count as declining to answer (``guardrail.signals.nonanswer``). An empty,
#: looping or template-echo reply is a failure to answer, not an abstention, and stays wrong.
ABSTAINING_KINDS = frozenset({"refusal", "dont_know"})


def detect_abstention(question: Question, reply: str, judgement: Judgement) -> bool:
    """True when the reply declines to answer: it picks an ``Unknown`` option (multiple choice),
    or :func:`guardrail.signals.nonanswer.classify_reply` (the detector the SDK's ``reply_kind``
    signal uses; cues and XSTest precision/recall in ``docs/signals.md``) finds a refusal or an
    "I don't know" ("I don't know", "That is unknown", "It cannot be determined", "I'm sorry, but
    I can't answer that"). Used for BIG-bench ``known_unknowns`` (arXiv 2206.04615)."""
    if (
        question.kind == "multiple_choice"
        and judgement.parsed is not None
        and judgement.parsed in question.letters
    ):
        picked = question.choices[question.letters.index(judgement.parsed)]
        return picked.strip().lower() == "unknown"
    return classify_reply(reply, question=question.question).kind in ABSTAINING_KINDS


# --------------------------------------------------------------------------- LLM judge


class JudgeCall(Protocol):
    """Async callable sending one user prompt to a judge model and returning its reply text."""

    async def __call__(self, prompt: str) -> str: ...


JUDGE_PROMPT = (
    "You are grading an answer to a quiz question.\n"
    "Question: {question}\n"
    "Accepted answers: {accepted}\n"
    "Candidate answer: {candidate}\n"
    "Does the candidate answer mean the same as one of the accepted answers? "
    "Reply with one word: yes or no."
)


class LLMJudge:
    """Optional model-based grader for short answers the string rules did not match.

    The call is injected (the runner wraps a ``ChatProvider``), so this class knows no HTTP. A
    judge reply without a clear yes/no leaves the rule-based verdict (``no_match``) in place and
    records the judge's text in ``detail``.
    """

    def __init__(self, call: JudgeCall) -> None:
        self._call = call

    async def judge(self, question: Question, reply: str, rule_verdict: Judgement) -> Judgement:
        """Return ``rule_verdict`` unless it is a short-answer miss the judge overturns.

        Raises: nothing from a malformed judge reply (it is recorded, the rule verdict stays).
        """
        if question.kind != "short_answer" or rule_verdict.correct:
            return rule_verdict
        candidate = answer_line(reply)
        if not candidate:
            return rule_verdict
        prompt = JUDGE_PROMPT.format(
            question=question.question,
            accepted="; ".join(question.accepted[:20]),
            candidate=candidate,
        )
        text = await self._call(prompt)
        verdict = parse_label(text, ("yes", "no"))
        if verdict is None:
            return rule_verdict.model_copy(
                update={"detail": f"{rule_verdict.detail}; judge unparsed: {text[:80]!r}"}
            )
        return Judgement(
            correct=verdict == "yes",
            method="llm_judge",
            parsed=candidate,
            score=rule_verdict.score,
            detail=f"judge said {text.strip()[:80]!r}",
        )
