"""Labelled questions and loaders for the common shapes of public QA sets.

A :class:`Question` is one item with a known answer, in one of three kinds:

* ``multiple_choice``: lettered options (A, B, C, ...); ``answer`` is the correct letter.
* ``label``: a closed set of label words (``Yes``/``No``, ``T``/``F``, ``yes``/``no``, the five
  Abercrombie categories); ``answer`` is the correct label.
* ``short_answer``: free text; ``answer`` is the canonical reference and ``aliases`` the other
  accepted strings (TriviaQA's alias lists).

``answerable=False`` marks questions whose honest answer is "unknown" (BIG-bench
``known_unknowns``); they measure abstention rather than knowledge.

Loaders (each returns ``list[Question]`` in file order and raises :class:`QuestionFileError`
with the file and line/row number on malformed input; nothing is silently dropped):

=====================  =================================================================
shape                  loader
=====================  =================================================================
MMLU CSV               :func:`load_mmlu_csv` (no header; question, A, B, C, D, letter)
MedQA / PubMedQA       :func:`load_medagents_jsonl` (MedAgentsBench JSONL: options + answer_idx)
LegalBench task        :func:`load_legalbench_task` (``test.tsv`` with ``label``/``answer``)
TriviaQA               :func:`load_triviaqa_jsonl` (``context``/``answer``/``aliases``)
BoolQ, misconceptions  :func:`load_choice_jsonl` (llm-foundry ``query``/``choices``/``gold``)
BIG-bench task.json    :func:`load_bigbench_task` (``examples[].input``/``target_scores``)
generic JSONL / CSV    :func:`load_question_file`
=====================  =================================================================

:func:`load_questions` picks the loader from the path's shape.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

QuestionKind = Literal["multiple_choice", "label", "short_answer"]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: Domain of each MMLU subject present in the shared data (policy domains: medical, legal,
#: finance, general). Unknown subjects fall back to ``general``.
MMLU_DOMAINS: dict[str, str] = {
    "anatomy": "medical",
    "clinical_knowledge": "medical",
    "college_medicine": "medical",
    "medical_genetics": "medical",
    "professional_medicine": "medical",
    "international_law": "legal",
    "jurisprudence": "legal",
    "professional_law": "legal",
    "econometrics": "finance",
    "high_school_macroeconomics": "finance",
    "professional_accounting": "finance",
    "global_facts": "general",
    "miscellaneous": "general",
}

#: Task instructions for the LegalBench tasks in the shared data (our own wording; the label sets
#: are the tasks' own). Tasks not listed get a generic "answer with one of ..." instruction.
LEGALBENCH_INSTRUCTIONS: dict[str, str] = {
    "hearsay": (
        "Under the U.S. Federal Rules of Evidence, is the evidence described below hearsay? "
        "Answer Yes or No."
    ),
    "overruling": (
        "Does the following sentence from a judicial opinion overrule a previous case? "
        "Answer Yes or No."
    ),
    "proa": (
        "Does the following statutory clause create a private right of action? Answer Yes or No."
    ),
    "abercrombie": (
        "Classify the trademark below on the Abercrombie spectrum of distinctiveness. Answer with "
        "one word: generic, descriptive, suggestive, arbitrary or fanciful."
    ),
}

_ABERCROMBIE_ORDER = ("generic", "descriptive", "suggestive", "arbitrary", "fanciful")


class QuestionFileError(ValueError):
    """A question file could not be read; the message names the file and line/row."""


class Question(BaseModel):
    """One labelled question.

    Attributes:
        id: stable id, unique within a run (e.g. ``mmlu/professional_law/12``).
        question: the question text shown to the model (options are rendered separately).
        kind: ``multiple_choice`` / ``label`` / ``short_answer`` (see module docstring).
        choices: option texts in letter order (multiple choice) or the allowed labels (label).
        answer: correct letter (multiple choice), correct label, or canonical reference text.
        aliases: further accepted answers: other strings for a short answer (the canonical
            answer is always accepted), or other correct letters for a multiple-choice item with
            several right options (BIG-bench ``general_knowledge`` example 17: red and pink).
        domain: policy domain (``medical``, ``legal``, ``finance``, ``general`` or any string).
        dataset: where it came from (``mmlu/anatomy``, ``triviaqa``, ``bigbench/known_unknowns``).
        instruction: task instruction shown before the question, if the task has one.
        answerable: False when the honest answer is "unknown" (abstention items).
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    kind: QuestionKind
    choices: tuple[str, ...] = ()
    answer: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    domain: str = "general"
    dataset: str = "custom"
    instruction: str | None = None
    answerable: bool = True

    @model_validator(mode="after")
    def _check_answer(self) -> Question:
        if self.kind == "multiple_choice":
            if len(self.choices) < 2:
                raise ValueError(f"{self.id}: multiple choice needs at least 2 choices")
            if len(self.choices) > len(LETTERS):
                raise ValueError(f"{self.id}: more than {len(LETTERS)} choices")
            if self.answer not in self.letters:
                raise ValueError(
                    f"{self.id}: answer {self.answer!r} is not one of the letters {self.letters}"
                )
            bad = [a for a in self.aliases if a not in self.letters]
            if bad:
                raise ValueError(f"{self.id}: extra correct letters {bad} not in {self.letters}")
        elif self.kind == "label":
            if len(self.choices) < 2:
                raise ValueError(f"{self.id}: a label question needs at least 2 labels")
            if self.answer not in self.choices:
                raise ValueError(f"{self.id}: answer {self.answer!r} not in labels {self.choices}")
        return self

    @property
    def letters(self) -> str:
        """Option letters in use (``"ABCD"`` for four choices); empty for other kinds."""
        return LETTERS[: len(self.choices)] if self.kind == "multiple_choice" else ""

    @property
    def reference(self) -> str:
        """Human-readable correct answer: ``"B. text"`` for multiple choice, else ``answer``."""
        if self.kind == "multiple_choice":
            return f"{self.answer}. {self.choices[self.letters.index(self.answer)]}"
        return self.answer

    @property
    def accepted(self) -> tuple[str, ...]:
        """Canonical answer followed by its aliases, without duplicates (short answer)."""
        seen: dict[str, None] = {self.answer: None}
        for alias in self.aliases:
            seen.setdefault(alias, None)
        return tuple(seen)

    def with_shuffled_choices(self, seed: int) -> Question:
        """Copy with multiple-choice options permuted by a seeded RNG (answer letter remapped).

        Controls for option-position bias: BIG-bench ``known_unknowns`` always puts "Unknown"
        second, so a model that always says "B" would look like a perfect abstainer. Other kinds
        are returned unchanged. The permutation depends only on ``seed`` and ``id``.
        """
        if self.kind != "multiple_choice":
            return self
        rng = random.Random(f"{seed}:{self.id}")
        order = list(range(len(self.choices)))
        rng.shuffle(order)
        new_choices = tuple(self.choices[i] for i in order)

        def remap(letter: str) -> str:
            return LETTERS[order.index(self.letters.index(letter))]

        return self.model_copy(
            update={
                "choices": new_choices,
                "answer": remap(self.answer),
                "aliases": tuple(remap(a) for a in self.aliases),
            }
        )


# --------------------------------------------------------------------------- helpers


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise QuestionFileError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise QuestionFileError(f"{path}: not UTF-8 text ({exc})") from exc


def _jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line (1-based line numbers)."""
    # split on "\n" only: str.splitlines() would also split inside JSON strings holding U+2028
    # or U+0085, which real TriviaQA lines do.
    for lineno, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise QuestionFileError(f"{path}:{lineno}: expected a JSON object per line")
        yield lineno, obj


def _build(where: str, **fields: Any) -> Question:
    try:
        return Question(**fields)
    except ValueError as exc:
        raise QuestionFileError(f"{where}: {exc}") from exc


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj or obj[key] is None:
        raise QuestionFileError(f"{where}: missing field {key!r}")
    return obj[key]


#: Choice words that make a choice list a closed label set (answered with the word itself).
LABEL_WORDS = frozenset({"yes", "no", "maybe", "true", "false", "t", "f"})


def _is_label_set(choices: Sequence[str]) -> bool:
    """True for yes/no(/maybe) and true/false (T/F) choice lists: every choice in LABEL_WORDS."""
    return bool(choices) and all(c.strip().lower() in LABEL_WORDS for c in choices)


def _strip_qa_frame(text: str) -> str:
    """Drop llm-foundry's ``Question: ...\\nAnswer:`` frame around a question."""
    text = text.strip()
    text = re.sub(r"^Question:\s*", "", text)
    text = re.sub(r"\s*\n?Answer:\s*$", "", text)
    return text.strip()


# --------------------------------------------------------------------------- loaders


def load_mmlu_csv(path: str | Path, *, subject: str | None = None) -> list[Question]:
    """Load an MMLU split file (Hendrycks et al. 2021, arXiv 2009.03300).

    Shape: no header, 6 columns (question, A, B, C, D, answer letter). Parsed with :mod:`csv`
    because fields hold quoted commas and newlines and the published files mix LF and CRLF
    endings. ``subject`` defaults to the file name minus ``_test.csv``/``_dev.csv``; the domain
    comes from :data:`MMLU_DOMAINS`. Ids are ``mmlu/<subject>/<row>`` (0-based row; dev rows get
    ``mmlu/<subject>/dev/<row>``).

    Raises:
        QuestionFileError: a row without 6 fields or with an answer not in A-D (row number given).
    """
    path = Path(path)
    stem = path.stem
    split = "test"
    for suffix in ("_test", "_dev", "_val"):
        if stem.endswith(suffix):
            stem, split = stem[: -len(suffix)], suffix[1:]
    subject = subject or stem
    domain = MMLU_DOMAINS.get(subject, "general")
    prefix = f"mmlu/{subject}" if split == "test" else f"mmlu/{subject}/{split}"
    out: list[Question] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row_index, row in enumerate(csv.reader(handle)):
            if not row:
                continue
            where = f"{path}: row {row_index + 1}"
            if len(row) != 6:
                raise QuestionFileError(f"{where}: expected 6 fields, found {len(row)}")
            out.append(
                _build(
                    where,
                    id=f"{prefix}/{row_index}",
                    question=row[0].strip(),
                    kind="multiple_choice",
                    choices=tuple(c.strip() for c in row[1:5]),
                    answer=row[5].strip().upper(),
                    domain=domain,
                    dataset=f"mmlu/{subject}",
                )
            )
    return out


def load_medagents_jsonl(
    path: str | Path, *, dataset: str | None = None, domain: str = "medical"
) -> list[Question]:
    """Load MedQA or PubMedQA in MedAgentsBench's JSONL (``options`` object + ``answer_idx``).

    MedQA (Jin et al. 2020, arXiv 2009.13081) has options A-D; PubMedQA (Jin et al. 2019,
    arXiv 1909.06146) has A yes / B no / C maybe. ``dataset`` defaults to the parent folder name
    (``medqa``/``pubmedqa``); ids are ``<dataset>/<realidx>``.

    Raises:
        QuestionFileError: bad JSON, missing ``question``/``options``/``answer_idx``, options
            not lettered A, B, C... in order, or a duplicate ``realidx``.
    """
    path = Path(path)
    dataset = dataset or path.parent.name
    out: list[Question] = []
    seen: set[str] = set()
    for lineno, obj in _jsonl_objects(path):
        where = f"{path}:{lineno}"
        options = _require(obj, "options", where)
        if not isinstance(options, dict):
            raise QuestionFileError(f"{where}: 'options' must be an object")
        keys = list(options)
        if keys != list(LETTERS[: len(keys)]):
            raise QuestionFileError(f"{where}: options must be lettered A, B, ... got {keys}")
        realidx = str(obj.get("realidx", lineno - 1))
        qid = f"{dataset}/{realidx}"
        if qid in seen:
            raise QuestionFileError(f"{where}: duplicate id {qid}")
        seen.add(qid)
        out.append(
            _build(
                where,
                id=qid,
                question=str(_require(obj, "question", where)).strip(),
                kind="multiple_choice",
                choices=tuple(str(options[k]).strip() for k in keys),
                answer=str(_require(obj, "answer_idx", where)).strip().upper(),
                domain=domain,
                dataset=dataset,
            )
        )
    return out


def load_legalbench_task(path: str | Path, *, split: str = "test") -> list[Question]:
    """Load a LegalBench task (Guha et al. 2023, arXiv 2308.11462) from its folder or TSV file.

    Classification tasks (a ``label`` column) become ``label`` questions whose labels are the
    task's label set (Abercrombie in spectrum order, others sorted); ``rule_qa`` style tasks (an
    ``answer`` column) become ``short_answer``. The instruction comes from
    :data:`LEGALBENCH_INSTRUCTIONS` or a generic "answer with one of ..." line. Ids are
    ``legalbench/<task>/<row>`` (0-based data row).

    Raises:
        QuestionFileError: no ``text`` column, neither ``label`` nor ``answer``, or an empty cell.
    """
    path = Path(path)
    tsv = path / f"{split}.tsv" if path.is_dir() else path
    task = tsv.parent.name
    with tsv.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        rows = list(reader)
        fields = reader.fieldnames or []
    if "text" not in fields:
        raise QuestionFileError(f"{tsv}: no 'text' column (columns: {fields})")
    out: list[Question] = []
    if "label" in fields:
        labels_seen = {str(r["label"]).strip() for r in rows if r.get("label")}
        if task == "abercrombie" and labels_seen <= set(_ABERCROMBIE_ORDER):
            labels: tuple[str, ...] = _ABERCROMBIE_ORDER
        else:
            labels = tuple(sorted(labels_seen))
        instruction = LEGALBENCH_INSTRUCTIONS.get(
            task, "Answer with one of: " + ", ".join(labels) + "."
        )
        for i, row in enumerate(rows):
            where = f"{tsv}: data row {i + 1}"
            out.append(
                _build(
                    where,
                    id=f"legalbench/{task}/{i}",
                    question=str(row.get("text") or "").strip(),
                    kind="label",
                    choices=labels,
                    answer=str(row.get("label") or "").strip(),
                    domain="legal",
                    dataset=f"legalbench/{task}",
                    instruction=instruction,
                )
            )
    elif "answer" in fields:
        for i, row in enumerate(rows):
            where = f"{tsv}: data row {i + 1}"
            out.append(
                _build(
                    where,
                    id=f"legalbench/{task}/{i}",
                    question=str(row.get("text") or "").strip(),
                    kind="short_answer",
                    answer=str(row.get("answer") or "").strip(),
                    domain="legal",
                    dataset=f"legalbench/{task}",
                )
            )
    else:
        raise QuestionFileError(f"{tsv}: neither a 'label' nor an 'answer' column ({fields})")
    return out


def load_triviaqa_jsonl(path: str | Path, *, domain: str = "general") -> list[Question]:
    """Load TriviaQA (Joshi et al. 2017, arXiv 1705.03551) in llm-foundry's JSONL.

    Fields: ``context`` (``"Question: ...\\nAnswer:"``, the frame is stripped), ``answer`` and
    ``aliases`` (accepted strings). Ids are ``triviaqa/<line index>`` (0-based).

    Raises:
        QuestionFileError: bad JSON or a missing ``context``/``answer``.
    """
    path = Path(path)
    out: list[Question] = []
    for index, (lineno, obj) in enumerate(_jsonl_objects(path)):
        where = f"{path}:{lineno}"
        aliases = obj.get("aliases") or []
        if not isinstance(aliases, list):
            raise QuestionFileError(f"{where}: 'aliases' must be a list")
        out.append(
            _build(
                where,
                id=f"triviaqa/{index}",
                question=_strip_qa_frame(str(_require(obj, "context", where))),
                kind="short_answer",
                answer=str(_require(obj, "answer", where)).strip(),
                aliases=tuple(str(a).strip() for a in aliases if str(a).strip()),
                domain=domain,
                dataset="triviaqa",
            )
        )
    return out


def load_choice_jsonl(
    path: str | Path, *, dataset: str | None = None, domain: str = "general"
) -> list[Question]:
    """Load llm-foundry's ``query``/``choices``/``gold`` JSONL (BoolQ, BIG-bench misconceptions).

    BoolQ (Clark et al. 2019, arXiv 1905.10044) has choices ``["no", "yes"]``; misconceptions
    has ``["T", "F"]``. Yes/no/maybe and true/false choice lists (:data:`LABEL_WORDS`)
    become ``label`` questions, anything else ``multiple_choice``. The query is shown as
    published (it carries the passage or the task prefix); a trailing ``Answer:``/``A:`` cue is
    removed because the runner adds its own. Ids are ``<dataset>/<line index>``, dataset
    defaulting to the file stem.

    Raises:
        QuestionFileError: bad JSON, missing fields, or ``gold`` outside ``choices``.
    """
    path = Path(path)
    dataset = dataset or path.stem
    out: list[Question] = []
    for index, (lineno, obj) in enumerate(_jsonl_objects(path)):
        where = f"{path}:{lineno}"
        choices = _require(obj, "choices", where)
        gold = _require(obj, "gold", where)
        if not isinstance(choices, list) or not isinstance(gold, int):
            raise QuestionFileError(f"{where}: 'choices' must be a list and 'gold' an integer")
        if not 0 <= gold < len(choices):
            raise QuestionFileError(f"{where}: gold {gold} outside choices {choices}")
        query = re.sub(r"\s*\n(A|Answer):\s*$", "", str(_require(obj, "query", where))).strip()
        labels = tuple(str(c).strip() for c in choices)
        short = _is_label_set(labels)
        out.append(
            _build(
                where,
                id=f"{dataset}/{index}",
                question=query,
                kind="label" if short else "multiple_choice",
                choices=labels,
                answer=labels[gold] if short else LETTERS[gold],
                domain=domain,
                dataset=dataset,
            )
        )
    return out


def load_bigbench_task(path: str | Path, *, domain: str = "general") -> list[Question]:
    """Load a BIG-bench JSON task (Srivastava et al. 2022, arXiv 2206.04615).

    ``examples[].target_scores`` maps each choice to 0/1; the first choice scored 1 is the
    answer and any further ones are kept as extra correct letters in ``aliases``. Choices keep
    the published order. ``task_prefix`` becomes the instruction. In
    ``known_unknowns`` an example whose correct choice is ``Unknown`` gets ``answerable=False``
    (the abstention items). Ids are ``bigbench/<task>/<example index>``.

    Raises:
        QuestionFileError: not a task object, or an example with no correct choice.
    """
    path = Path(path)
    file = path / "task.json" if path.is_dir() else path
    try:
        task = json.loads(_read_text(file))
    except json.JSONDecodeError as exc:
        raise QuestionFileError(f"{file}: invalid JSON ({exc.msg})") from exc
    if not isinstance(task, dict) or not isinstance(task.get("examples"), list):
        raise QuestionFileError(f"{file}: not a BIG-bench task (no 'examples' list)")
    name = str(task.get("name") or file.parent.name)
    prefix = task.get("task_prefix")
    instruction = str(prefix).strip() if prefix else None
    out: list[Question] = []
    for index, example in enumerate(task["examples"]):
        where = f"{file}: example {index}"
        scores = example.get("target_scores") if isinstance(example, dict) else None
        if not isinstance(scores, dict) or not scores:
            raise QuestionFileError(f"{where}: missing 'target_scores'")
        choices = tuple(str(c) for c in scores)
        correct = [i for i, c in enumerate(scores) if float(scores[c]) == 1.0]
        if not correct:
            raise QuestionFileError(f"{where}: no choice has target score 1")
        answer_text = choices[correct[0]]
        is_label = _is_label_set(choices) and len(correct) == 1
        out.append(
            _build(
                where,
                id=f"bigbench/{name}/{index}",
                question=str(example.get("input") or "").strip(),
                kind="label" if is_label else "multiple_choice",
                choices=choices,
                answer=answer_text if is_label else LETTERS[correct[0]],
                aliases=() if is_label else tuple(LETTERS[i] for i in correct[1:]),
                domain=domain,
                dataset=f"bigbench/{name}",
                instruction=instruction,
                answerable=answer_text.strip().lower() != "unknown",
            )
        )
    return out


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return [str(v).strip() for v in parsed if str(v).strip()]
    return [part.strip() for part in text.split("|") if part.strip()]


def _parse_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", ""}:
        return True
    if text in {"0", "false", "no", "n"}:
        return False
    raise QuestionFileError(f"{where}: 'answerable' must be true/false, got {value!r}")


def question_from_mapping(
    obj: dict[str, Any], *, where: str, default_id: str, dataset: str
) -> Question:
    """Build a question from a generic row (one JSONL object or one CSV row with a header).

    Fields: ``question`` (required); ``answer`` (required: a letter or the text of a choice for
    multiple choice, else the reference); ``choices`` (list, JSON list or ``|``-separated) or
    columns ``A``..``Z``; ``aliases`` (same list forms); ``kind`` (optional: inferred as
    ``multiple_choice`` when choices exist, else ``short_answer``); ``domain``; ``id``;
    ``instruction``; ``answerable``.

    Raises:
        QuestionFileError: missing question/answer, or an answer that matches no choice.
    """
    question = str(obj.get("question") or "").strip()
    if not question:
        raise QuestionFileError(f"{where}: missing field 'question'")
    answer = str(obj.get("answer") if obj.get("answer") is not None else "").strip()
    if not answer:
        raise QuestionFileError(f"{where}: missing field 'answer'")
    choices = _split_list(obj.get("choices"))
    if not choices:
        lettered = [str(obj[k]).strip() for k in LETTERS if obj.get(k) not in (None, "")]
        choices = lettered
    kind = str(obj.get("kind") or ("multiple_choice" if choices else "short_answer")).strip()
    if kind not in ("multiple_choice", "label", "short_answer"):
        raise QuestionFileError(f"{where}: unknown kind {kind!r}")
    if kind == "multiple_choice":
        if len(answer) == 1 and answer.upper() in LETTERS[: len(choices)]:
            answer = answer.upper()
        elif answer in choices:
            answer = LETTERS[choices.index(answer)]
        else:
            raise QuestionFileError(
                f"{where}: answer {answer!r} is neither a letter nor one of the choices"
            )
    return _build(
        where,
        id=str(obj.get("id") or default_id).strip(),
        question=question,
        kind=kind,
        choices=tuple(choices),
        answer=answer,
        aliases=tuple(_split_list(obj.get("aliases"))),
        domain=str(obj.get("domain") or "general").strip(),
        dataset=dataset,
        instruction=(str(obj["instruction"]).strip() or None) if obj.get("instruction") else None,
        answerable=_parse_bool(obj.get("answerable", True), where),
    )


def load_question_file(path: str | Path) -> list[Question]:
    """Load the generic question file: JSONL (one object per line) or CSV with a header row.

    See :func:`question_from_mapping` for the fields. Ids default to ``<stem>/<index>``.

    Raises:
        QuestionFileError: unknown extension, bad row (with its line number), duplicate id.
    """
    path = Path(path)
    dataset = path.stem
    rows: list[tuple[str, dict[str, Any]]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = [(f"{path}:{n}", obj) for n, obj in _jsonl_objects(path)]
    elif path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = [(f"{path}: line {reader.line_num}", dict(r)) for r in reader]
    else:
        raise QuestionFileError(f"{path}: expected a .jsonl or .csv question file")
    out: list[Question] = []
    seen: set[str] = set()
    for index, (where, obj) in enumerate(rows):
        q = question_from_mapping(
            obj, where=where, default_id=f"{dataset}/{index}", dataset=dataset
        )
        if q.id in seen:
            raise QuestionFileError(f"{where}: duplicate id {q.id!r}")
        seen.add(q.id)
        out.append(q)
    return out


def detect_format(path: str | Path) -> str:
    """Name the loader for ``path``: ``mmlu``, ``medagents``, ``legalbench``, ``triviaqa``,
    ``choice``, ``bigbench`` or ``generic``.

    Raises:
        QuestionFileError: the path does not exist or has no recognised shape.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "task.json").is_file():
            return "bigbench"
        if (path / "test.tsv").is_file():
            return "legalbench"
        raise QuestionFileError(f"{path}: folder holds neither task.json nor test.tsv")
    if not path.is_file():
        raise QuestionFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return "legalbench"
    if suffix == ".json":
        return "bigbench"
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader(handle), [])
        header = {c.strip().lower() for c in first}
        if "question" in header:
            return "generic"
        if len(first) == 6 and first[5].strip().upper() in ("A", "B", "C", "D"):
            return "mmlu"
        raise QuestionFileError(
            f"{path}: CSV is neither MMLU (6 columns, no header) nor has a 'question' header"
        )
    if suffix in (".jsonl", ".ndjson"):
        first_obj: dict[str, Any] = {}
        for _, obj in _jsonl_objects(path):
            first_obj = obj
            break
        keys = set(first_obj)
        if {"options", "answer_idx"} <= keys:
            return "medagents"
        if {"context", "answer", "aliases"} <= keys:
            return "triviaqa"
        if {"query", "choices", "gold"} <= keys:
            return "choice"
        if "question" in keys:
            return "generic"
        raise QuestionFileError(f"{path}: unrecognised JSONL shape (keys {sorted(keys)})")
    raise QuestionFileError(f"{path}: unsupported file type {suffix!r}")


def load_questions(path: str | Path, *, fmt: str = "auto") -> list[Question]:
    """Load questions from ``path`` with the loader for ``fmt`` (``auto`` detects it).

    Raises:
        QuestionFileError: unreadable or malformed input (file and line named).
    """
    kind = detect_format(path) if fmt == "auto" else fmt
    loaders: dict[str, Callable[[Path], list[Question]]] = {
        "mmlu": load_mmlu_csv,
        "medagents": load_medagents_jsonl,
        "legalbench": load_legalbench_task,
        "triviaqa": load_triviaqa_jsonl,
        "choice": load_choice_jsonl,
        "bigbench": load_bigbench_task,
        "generic": load_question_file,
    }
    if kind not in loaders:
        raise QuestionFileError(f"unknown question format {kind!r} (one of {sorted(loaders)})")
    return loaders[kind](Path(path))


def sample_questions(questions: Sequence[Question], n: int | None, *, seed: int) -> list[Question]:
    """Deterministic sample of ``n`` questions (all when ``n`` is None or >= len), file order kept.

    The same ``seed`` and input always give the same ids (Python's :class:`random.Random`).
    """
    if n is None or n >= len(questions):
        return list(questions)
    if n < 0:
        raise ValueError("sample size must be >= 0")
    picked = sorted(random.Random(seed).sample(range(len(questions)), n))
    return [questions[i] for i in picked]


def check_unique_ids(questions: Iterable[Question]) -> None:
    """Raise :class:`QuestionFileError` naming the first id seen twice across inputs."""
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise QuestionFileError(f"duplicate question id {q.id!r} across inputs")
        seen.add(q.id)
