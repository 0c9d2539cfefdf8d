"""Correctness judging of a model reply against a labelled question.

Every verdict is a :class:`Judgement` that says *how* it was reached (``method``), what was parsed
from the reply and, for fuzzy matches, the score, so a human can audit the judge record by record.

Rules, in order (first that applies wins):

* **multiple choice**: the option letter, read from the answer line (``B``, ``(B)``, ``B.``,
  ``B) text``, ``Answer: B``, ``The answer is B``, ``Option B``); otherwise from an explicit
  "answer/option is B" anywhere in the reply; otherwise the reply's text naming exactly one
  option's full text (``option_text``). Correct when the letter is the key or another correct
  letter of the item. When the text after the letter is exactly *another* option's text, the
  verdict still follows the letter and ``detail`` notes the conflict. A reply with no readable
  letter is ``unparsed`` and counts as wrong.
* **label** (Yes/No, T/F, yes/no/maybe, the Abercrombie categories): the first label word (or
  its synonym: ``true``/``false`` for ``T``/``F``) in the answer line, else in the whole reply.
* **short answer**: the answer line (first non-empty line that is not a confidence line, minus
  an ``Answer:`` prefix) normalised as in the SQuAD/TriviaQA evaluation scripts (lower case,
  punctuation and the articles a/an/the removed, whitespace collapsed; Rajpurkar et al. 2016,
  arXiv 1606.05250; Joshi et al. 2017, arXiv 1705.03551), then

  1. ``exact``: equal to a normalised accepted answer;
  2. ``alias_in_answer``: an accepted answer occurs as a whole-word sequence inside an answer line
     of at most :data:`MAX_CONTAINMENT_WORDS` words ("It is an antelope" for "Antelope"); an
     alias that already occurs in the question does not count (a restated question is no
     answer);
  3. ``fuzzy``: rapidfuzz ``fuzz.ratio`` (normalised Indel similarity, 0-100) >=
     :data:`DEFAULT_FUZZY_THRESHOLD` against some accepted answer, and only when neither side
     contains a digit (numbers and dates must match exactly: "1809" vs "1808" scores 75);
  4. ``llm_judge`` (optional, see :class:`LLMJudge`) when the rules above did not match.

  Otherwise ``no_match`` (wrong).

Abstention (a refusal or "I don't know" found by
:func:`guardrail.signals.nonanswer.classify_reply`, or picking an ``Unknown`` option) is detected
separately by :func:`detect_abstention`; an abstention is never counted as a correct answer to an
answerable question.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel
from rapidfuzz import fuzz

from guardrail.runner.questions import Question
from guardrail.signals.nonanswer import classify_reply

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
    "llm_judge",
    "unparsed",
    "no_match",
]


class Judgement(BaseModel):
    """How a reply was judged.

    Attributes:
        correct: the verdict.
        method: which rule decided (see module docstring); ``unparsed``/``no_match`` are wrong.
        parsed: what was read from the reply (letter, label or answer line); None if nothing.
        score: fuzzy similarity 0-100 for ``fuzzy``/``no_match`` short answers, else None.
        detail: human-readable note (matched alias, judge reply, ...).
    """

    correct: bool
    method: JudgeMethod
    parsed: str | None = None
    score: float | None = None
    detail: str = ""


# --------------------------------------------------------------------------- text helpers

_CONFIDENCE_LINE = re.compile(r"^\W*(confidence|probability|certainty)\b", re.IGNORECASE)
_ANSWER_PREFIX = re.compile(
    r"^\W*(?:final\s+answer|answer|the\s+(?:correct\s+|final\s+)?answer\s+is|a)\s*[:\-]\s*",
    re.IGNORECASE,
)
_ANSWER_IS = re.compile(r"^\W*the\s+(?:correct\s+|final\s+)?answer\s+(?:is|would be)\s*:?\s*", re.I)
_PUNCT = set(string.punctuation) | {"‘", "’", "´", "`", "“", "”", "–", "—"}


def answer_line(reply: str) -> str:
    """The answer part of a reply: first non-empty line that is not a confidence line, with an
    ``Answer:`` / ``The answer is`` prefix removed. Empty string when there is none."""
    for raw in reply.splitlines():
        line = raw.strip()
        if not line or _CONFIDENCE_LINE.match(line):
            continue
        # An inline "... Confidence: 80%" tail on the answer line is not part of the answer.
        line = re.split(r"\s*[\(\[]?\b(?:confidence|probability)\b\s*[:=]", line, flags=re.I)[0]
        line = _ANSWER_PREFIX.sub("", line)
        line = _ANSWER_IS.sub("", line)
        return line.strip().strip('"').strip()
    return ""


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
    line = answer_line(reply)
    # 0. A reply that recites the option list ("A. ...\nB. ...") has not chosen anything.
    listed = set(re.findall(rf"^\s*[\(\[]?({cls})[\.\)\]]\s", reply, re.MULTILINE))
    if len(listed) >= 2:
        return None, "unparsed"
    # 1. The answer line starts with the letter: "B", "(B)", "B.", "B) text", "Option B".
    m = re.match(rf"^(?:option\s+|choice\s+)?[\(\[]?({cls})(?:[\)\]\.:,]|\s|$)", line, re.I)
    # "A pancreas ..." / "I think ..." start with an article or pronoun, not an option letter.
    article = re.match(r"^[AI]\s+[a-z]", line) is not None
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
    """First label (case-insensitive whole word, or its synonym) in the answer line, else in the
    whole reply; None when no label occurs. Single-letter labels (``T``/``F``) only match upper
    case as a whole word, so the word "f" inside a sentence is not a label."""
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


def judge_short_answer(
    reply: str,
    accepted: Sequence[str],
    *,
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD,
    question: str = "",
) -> Judgement:
    """Judge a free-text reply against accepted answers (rules 1-3 of the module docstring).

    Args:
        reply: raw model reply.
        accepted: canonical answer and aliases (non-empty).
        fuzzy_threshold: minimum ``fuzz.ratio`` in [0, 100] for a fuzzy match.
        question: the question text; aliases occurring in it are not matched inside a longer
            answer line (rule 2).

    Raises:
        ValueError: ``accepted`` is empty or the threshold is outside [0, 100].
    """
    if not accepted:
        raise ValueError("at least one accepted answer is needed")
    if not 0.0 <= fuzzy_threshold <= 100.0:
        raise ValueError("fuzzy_threshold must be in [0, 100]")
    line = answer_line(reply)
    norm = normalize_answer(line)
    if not norm:
        return Judgement(correct=False, method="unparsed", parsed=line or None, detail="empty")
    targets = [(a, normalize_answer(a)) for a in accepted]
    targets = [(a, n) for a, n in targets if n]
    for alias, target in targets:
        if norm == target:
            return Judgement(correct=True, method="exact", parsed=line, detail=f"= {alias!r}")
    if len(norm.split()) <= MAX_CONTAINMENT_WORDS:
        padded = f" {norm} "
        in_question = f" {normalize_answer(question)} "
        for alias, target in targets:
            if f" {target} " in padded and f" {target} " not in in_question:
                return Judgement(
                    correct=True, method="alias_in_answer", parsed=line, detail=f"~ {alias!r}"
                )
    best_score, best_alias = 0.0, ""
    for alias, target in targets:
        if _has_digit(norm) or _has_digit(target):
            continue
        score = float(fuzz.ratio(norm, target))
        if score > best_score:
            best_score, best_alias = score, alias
    if best_score >= fuzzy_threshold:
        return Judgement(
            correct=True,
            method="fuzzy",
            parsed=line,
            score=round(best_score, 2),
            detail=f"ratio {best_score:.1f} >= {fuzzy_threshold:g} vs {best_alias!r}",
        )
    return Judgement(
        correct=False,
        method="no_match",
        parsed=line,
        score=round(best_score, 2) if best_alias else None,
        detail=f"best ratio {best_score:.1f} vs {best_alias!r}" if best_alias else "",
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
    """Judge ``reply`` against ``question`` with the rules for its kind (no LLM judge)."""
    if question.kind == "multiple_choice":
        letter, method = parse_choice_letter(reply, question.letters, question.choices)
        if letter is None:
            return Judgement(
                correct=False,
                method="unparsed",
                detail="no single option letter found (none, or the options recited)",
            )
        right = {question.answer, *question.aliases}
        return Judgement(
            correct=letter in right,
            method=method,
            parsed=letter,
            detail=_letter_text_conflict(question, reply, letter)
            if method == "choice_letter"
            else "",
        )
    if question.kind == "label":
        label = parse_label(reply, question.choices)
        if label is None:
            return Judgement(correct=False, method="unparsed", detail="no label found")
        return Judgement(correct=label == question.answer, method="label", parsed=label)
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
