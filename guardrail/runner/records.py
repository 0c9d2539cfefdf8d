"""Audit records written by ``guardrail audit run`` and read by ``guardrail audit report``.

One JSONL line per (question, confidence source). The fields ``guardrail.calibration`` reads are
``id``, ``confidence`` (float in [0, 1]), ``correct`` (bool), ``domain``, ``question``,
``answer``, ``reference``, ``source`` and ``model``; the rest let a human check the run: the raw
reply, how it was judged, the parsed answer, whether the model abstained, the hedge label, the
seed, and why a signal had no value.

Ids are ``<question id>#<source>`` so they are unique within a file (the audit flags duplicate
ids); ``question_id`` groups the records of one question.

A signal that could not be computed (no readable verbalized confidence, no log-probs, an
unparsed answer for self-consistency) is *not* written as a record: it is counted in the run
summary's per-source coverage and listed in the question's ``missing`` field on the records that
were written, so nothing is lost and the audit never sees a fake confidence.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Confidence sources a run can record (``source`` field), named after the policy signals they
#: feed (``docs/architecture.md``): ``verbalized``: the inline ``Confidence: NN%`` line;
#: ``verbalized_followup``: the second-turn answer to "how likely is your previous answer
#: correct?" (also the DSL's ``verbalized``, elicited the other way); ``consistency``: share of k
#: samples that agree with the primary answer; ``logprob_confidence``: probability of the chosen
#: option renormalised over the offered options (multiple choice / label) or the answer's token
#: probability (short answer); ``hedge_label``: the hedge label mapped through
#: :data:`HEDGE_LABEL_CONFIDENCE`.
Source = Literal[
    "verbalized", "verbalized_followup", "consistency", "logprob_confidence", "hedge_label"
]
ALL_SOURCES: tuple[Source, ...] = (
    "verbalized",
    "verbalized_followup",
    "consistency",
    "logprob_confidence",
    "hedge_label",
)

#: The policy-language signal each source estimates.
SOURCE_SIGNAL: dict[str, str] = {
    "verbalized": "verbalized",
    "verbalized_followup": "verbalized",
    "consistency": "consistency",
    "logprob_confidence": "logprob_confidence",
    "hedge_label": "hedge_label",
}

#: Hedge label -> ordinal confidence used for ``source="hedge_label"`` records. It is an
#: ordering (hedged < neutral < assertive), not a probability: read its AUROC and per-label
#: accuracy, not its ECE.
HEDGE_LABEL_CONFIDENCE: dict[str, float] = {"hedged": 0.0, "neutral": 0.5, "assertive": 1.0}


class AuditRecord(BaseModel):
    """One confidence/correctness pair for one question and one confidence source.

    Attributes:
        id: ``<question_id>#<source>`` (unique within a run).
        question_id: the question's id (groups the sources of one question).
        source: which confidence source produced ``confidence`` (see :data:`Source`).
        confidence: float in [0, 1].
        correct: the primary answer judged correct (shared by all sources of a question).
        domain, dataset: the question's policy domain and origin.
        question: question text as shown to the model (options not repeated).
        answer: what was read from the primary reply (letter, label or answer line; "" if none).
        reference: the correct answer (``"B. text"`` for multiple choice).
        model, provider: who answered.
        reply: the raw primary reply.
        judged_by: judging rule (``choice_letter``, ``label``, ``exact``, ``fuzzy``, ...).
        judge_detail: the judge's note (matched alias, fuzzy score, judge reply).
        answer_from: which part of the reply was read as the answer: ``json`` (a JSON answer
            field), ``answer_marker`` (an ``Answer:`` line), ``first_line`` or ``none``; None in
            records written before this field existed.
        answerable: False for "honest answer is unknown" items (abstention).
        abstained: the reply declined to answer (picked "Unknown", "I don't know", ...).
        hedge_label: ``hedged`` / ``neutral`` / ``assertive`` for the primary reply, if computed.
        evidence: the source's own evidence (parsed confidence text, sample answers, token
            probabilities), short and JSON-serialisable.
        missing: other sources of this question that had no value, with the reason.
        seed: the question's seed (primary answer; samples use ``seed + 1 ...``).
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    question_id: str
    source: Source
    confidence: float = Field(ge=0.0, le=1.0)
    correct: bool
    domain: str
    dataset: str
    question: str
    answer: str
    reference: str
    model: str
    provider: str
    reply: str
    judged_by: str
    judge_detail: str = ""
    answer_from: str | None = None
    answerable: bool = True
    abstained: bool = False
    hedge_label: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    missing: dict[str, str] = Field(default_factory=dict)
    seed: int | None = None


class RecordFileError(ValueError):
    """An existing records file could not be read (file and line named)."""


def read_records(path: str | Path) -> list[AuditRecord]:
    """Read records written by :func:`append_records`.

    A final line without its newline (a run killed mid-write) is ignored; any other bad line
    raises.

    Raises:
        RecordFileError: a complete line that is not a valid record (line number given).
    """
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete = lines[:-1]  # the part after the last "\n" is either "" or a torn write
    out: list[AuditRecord] = []
    for lineno, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            out.append(AuditRecord.model_validate_json(line))
        except ValueError as exc:
            raise RecordFileError(f"{path}:{lineno}: not an audit record ({exc})") from exc
    return out


def repair_torn_tail(path: str | Path) -> int:
    """Cut a torn final line (no trailing newline) from ``path``; return bytes removed.

    Used before resuming so new records never get glued onto half a line.
    """
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with path.open("r+b") as handle:
        handle.truncate(keep)
    return len(data) - keep


def _escape_line_breaks(line: str) -> str:
    """Escape U+0085, U+2028, U+2029 inside JSON strings: valid raw in JSON, but readers that
    split with ``str.splitlines()`` would cut the record there (real TriviaQA text has them)."""
    return line.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def append_records(path: str | Path, records: Sequence[AuditRecord]) -> None:
    """Append the records of one question with a single write + fsync (all or nothing on a
    clean stop; a crash mid-write leaves a torn tail that :func:`repair_torn_tail` removes)."""
    if not records:
        return
    payload = "".join(_escape_line_breaks(r.model_dump_json()) + "\n" for r in records)
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def done_question_ids(records: Iterable[AuditRecord]) -> set[str]:
    """Question ids that already have records (skipped when a run is resumed)."""
    return {r.question_id for r in records}
