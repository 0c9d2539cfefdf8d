"""Audit records: one answer each, read from JSONL or CSV.

Fields: ``confidence`` (float in [0, 1], or 0-100 with ``percent=True``), ``correct`` (bool,
0/1, or the strings true/false/yes/no/1/0), optional ``id``, ``domain``, ``source``
(verbalized / consistency / logprob_confidence / ...), ``model``, ``question``, ``answer``,
``reference``. Other fields are ignored.

Bad rows (missing field, unparseable or NaN value, confidence out of range, duplicate id, a line
that is not a JSON object) are reported with ``file:line``; ``strict=True`` raises
:class:`RecordsError` listing them, the default skips them and keeps the count.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardrail.calibration._core import canonical_float64

TEXT_FIELDS = ("id", "domain", "source", "model", "question", "answer", "reference")
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


class AuditRecord(BaseModel):
    """One graded answer. ``confidence`` is in [0, 1] (already divided by 100 if needed)."""

    model_config = ConfigDict(frozen=True)

    confidence: float = Field(ge=0.0, le=1.0)
    correct: bool
    id: str | None = None
    domain: str | None = None
    source: str | None = None
    model: str | None = None
    question: str | None = None
    answer: str | None = None
    reference: str | None = None
    file: str | None = None
    line: int | None = None

    @field_validator("confidence", mode="before")
    @classmethod
    def _dtype_free(cls, v: Any) -> Any:
        # a numpy float32/float16 scalar stands for the double canonical_float64 gives it
        # (float32 0.3 -> 0.3, not 0.30000001192...), so records bin like float64 input
        if isinstance(v, np.floating) and not isinstance(v, np.float64):
            return float(canonical_float64(np.asarray(v)))
        return v


class BadRow(BaseModel):
    """A row that was not loaded: where it is and why."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class RecordSet(BaseModel):
    """Loaded records plus the bad rows that were skipped."""

    records: list[AuditRecord]
    bad_rows: list[BadRow] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)

    def confidences(self) -> NDArray[np.float64]:
        """Confidences, shape (n,), in [0, 1]."""
        return np.fromiter((r.confidence for r in self.records), np.float64, len(self.records))

    def correct(self) -> NDArray[np.bool_]:
        """Correctness, shape (n,)."""
        return np.fromiter((r.correct for r in self.records), np.bool_, len(self.records))


class RecordsFormatError(ValueError):
    """The file is not JSONL or CSV (or lacks the required columns)."""


class RecordsError(ValueError):
    """Raised in strict mode when any row is bad; ``bad_rows`` lists them all."""

    def __init__(self, bad_rows: list[BadRow]) -> None:
        self.bad_rows = bad_rows
        shown = "\n".join(f"  {b}" for b in bad_rows[:20])
        more = f"\n  ... and {len(bad_rows) - 20} more" if len(bad_rows) > 20 else ""
        super().__init__(f"{len(bad_rows)} bad row(s):\n{shown}{more}")


def _parse_confidence(value: Any, percent: bool) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise ValueError("missing field 'confidence'")
    if isinstance(value, bool):
        raise ValueError(f"confidence must be a number, got {value!r}")
    try:
        x = float(value.strip().rstrip("%")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"confidence is not a number: {value!r}") from None
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"confidence is {x}")
    if percent:
        if not 0.0 <= x <= 100.0:
            raise ValueError(f"confidence {x:g} is outside [0, 100] (--percent)")
        return x / 100.0
    if not 0.0 <= x <= 1.0:
        hint = " (looks like a percentage: use --percent)" if 1.0 < x <= 100.0 else ""
        raise ValueError(f"confidence {x:g} is outside [0, 1]{hint}")
    return x


def _parse_correct(value: Any) -> bool:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise ValueError("missing field 'correct'")
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value == 1:
            return True
        if value == 0:
            return False
        raise ValueError(f"correct must be 0/1 or true/false, got {value!r}")
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    raise ValueError(f"correct must be 0/1 or true/false, got {value!r}")


def _make_record(
    row: dict[str, Any], percent: bool, file: str, line: int, seen: dict[str, str]
) -> AuditRecord:
    conf = _parse_confidence(row.get("confidence"), percent)
    corr = _parse_correct(row.get("correct"))
    text: dict[str, str | None] = {}
    for name in TEXT_FIELDS:
        v = row.get(name)
        if v is None or (isinstance(v, str) and v == ""):
            text[name] = None
        elif isinstance(v, (dict, list)):
            raise ValueError(f"field {name!r} must be a string, got {type(v).__name__}")
        else:
            text[name] = str(v)
    rid = text["id"]
    if rid is not None:
        if rid in seen:
            raise ValueError(f"duplicate id {rid!r} (first seen at {seen[rid]})")
        seen[rid] = f"{file}:{line}"
    fields: dict[str, Any] = {"confidence": conf, "correct": corr, "file": file, "line": line}
    fields.update(text)
    return AuditRecord.model_construct(None, **fields)


def _detect_format(path: str | Path, text: str) -> str:
    suffix = PurePosixPath(str(path)).suffix.lower()  # the last segment of a URL too
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json-array" if text.lstrip().startswith("[") else "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".tsv":
        return "tsv"
    head = text.lstrip()
    if head.startswith("{"):
        return "jsonl"
    if head.startswith("["):
        return "json-array"
    first = head.splitlines()[0] if head else ""
    if "confidence" in first.lower() and ("," in first or "\t" in first):
        return "tsv" if "\t" in first and "," not in first else "csv"
    raise RecordsFormatError(
        f"{path}: not a JSONL or CSV file of audit records (expected one JSON object per line, "
        "or a CSV header with 'confidence' and 'correct' columns)"
    )


def _json_problem(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]


def _rows(path: str | Path, text: str, fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (line number, row dict) or (line number, error message)."""
    if fmt == "json-array":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordsFormatError(f"{path}: not valid JSON: {exc}") from None
        except (ValueError, RecursionError) as exc:  # a 5,000-digit integer; nested too deep
            raise RecordsFormatError(f"{path}: not usable JSON: {_json_problem(exc)}") from None
        if not isinstance(items, list):
            raise RecordsFormatError(f"{path}: a .json file must hold an array of records")
        for i, item in enumerate(items, 1):
            yield (i, item) if isinstance(item, dict) else (i, "item is not a JSON object")
        return
    if fmt == "jsonl":
        n_ok = 0
        errors: list[tuple[int, str]] = []
        for i, line in enumerate(text.split("\n"), 1):  # JSON Lines: "\n" only
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append((i, f"not valid JSON: {exc.msg} (column {exc.colno})"))
                yield i, errors[-1][1]
                continue
            except (ValueError, RecursionError) as exc:  # a 5,000-digit integer; too deep
                errors.append((i, f"not usable JSON: {_json_problem(exc)}"))
                yield i, errors[-1][1]
                continue
            if not isinstance(obj, dict):
                yield i, "line is not a JSON object"
                continue
            n_ok += 1
            yield i, obj
        if n_ok == 0 and errors:
            raise RecordsFormatError(
                f"{path}: not a JSONL file: no line parses as a JSON object "
                f"(line {errors[0][0]}: {errors[0][1]})"
            )
        return
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    missing = [f for f in ("confidence", "correct") if f not in fields]
    if missing:
        raise RecordsFormatError(
            f"{path}: CSV header {fields!r} lacks column(s) {', '.join(missing)}"
        )
    reader.fieldnames = fields
    prev = reader.line_num
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over csv.field_size_limit() (128 KiB)
            raise RecordsFormatError(f"{path}:{prev + 1}: not readable: {exc}") from None
        start = prev + 1
        prev = reader.line_num
        if None in row:
            yield start, "row has more fields than the header"
            continue
        yield start, {k: v for k, v in row.items()}


def load_records(
    path: str | Path | Sequence[str | Path],
    percent: bool = False,
    strict: bool = False,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> RecordSet:
    """Load audit records from one or more JSONL / CSV files (ids must be unique across them).

    Format by suffix (``.jsonl``/``.ndjson``/``.json``, ``.csv``, ``.tsv``), else by content.
    A file may be an object-storage URL (``s3://bucket/audit/*.jsonl``: globs expanded; fsspec
    through :mod:`guardrail.storage`, extra ``scale``, plus ``s3`` for S3), read whole like a
    local file.

    Args:
        path: a file or URL, or a sequence of them.
        percent: confidences are 0-100 and are divided by 100.
        strict: raise on any bad row instead of skipping it.
        storage_options: fsspec options for URLs (``endpoint_url``, ``key``, ...).

    Raises:
        FileNotFoundError: a file or object does not exist, a URL glob matches nothing.
        RecordsFormatError: a file is binary, not UTF-8, or not JSONL/CSV.
        RecordsError: ``strict`` and at least one bad row (all are listed).
        ImportError: a URL without fsspec or its file system's package.
    """
    from guardrail import storage

    given = [path] if isinstance(path, (str, Path)) else list(path)
    sources: list[str | Path] = []
    for src in given:
        if storage.is_url(src):
            sources.extend(storage.expand([src], storage_options))
        else:
            sources.append(Path(src))
    records: list[AuditRecord] = []
    bad: list[BadRow] = []
    seen: dict[str, str] = {}
    for p in sources:
        if isinstance(p, Path):
            if not p.is_file():
                raise FileNotFoundError(f"{p}: no such file")
            raw = p.read_bytes()
        else:
            try:
                with storage.open_binary(p, storage_options) as fh:
                    raw = fh.read()
            except FileNotFoundError as exc:
                raise FileNotFoundError(f"{p}: no such file or object") from exc
        if b"\x00" in raw[:65536]:
            raise RecordsFormatError(f"{p}: binary file, not JSONL or CSV")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RecordsFormatError(
                f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        fmt = _detect_format(p, text)
        for line, row in _rows(p, text, fmt):
            if isinstance(row, str):
                bad.append(BadRow(file=str(p), line=line, reason=row))
                continue
            try:
                records.append(_make_record(row, percent, str(p), line, seen))
            except ValueError as exc:
                bad.append(BadRow(file=str(p), line=line, reason=str(exc)))
    if strict and bad:
        raise RecordsError(bad)
    return RecordSet(records=records, bad_rows=bad, files=[str(p) for p in sources])
