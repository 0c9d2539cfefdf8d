"""Decision log: one record per guarded call, written to a pluggable sink.

A record (``DecisionRecord.to_dict()``, one JSON object per line in the JSONL sink)::

    {"request_id": "r-1", "time": "2026-12-01T15:02:06.123456+00:00", "domain": "medical",
     "policy": "medical", "policy_version": "3f2a9c0d1e4b", "status": "pending_review",
     "action": "review", "matched": ["below_medical_bar"],
     "values": {"consistency": 0.857, "hedges": 0, "reply_kind": "answer"},
     "missing": ["verbalized"], "skipped": ["agreement"], "model": "smollm2",
     "cost": {"calls": 9, "input_tokens": 812, "output_tokens": 410, "latency_s": 3.2}}

``values`` holds every signal the guard computed (DSL name -> value), ``missing`` the signals it
needed but could not compute (the policy applied ``on_missing``), ``skipped`` the signals it did
not compute because they could not change the action (cost-aware evaluation: a replay of another
policy cannot know their values). ``question`` and ``answer`` are present only when content
capture is on (the guard's ``capture_content``), after the review store's redaction hook.

Sinks follow the :class:`DecisionSink` protocol (``write(record)`` and ``close()``); the default
is :class:`JSONLDecisionLog`, files rotated by the standard library's
:mod:`logging.handlers` (by UTC day, or by size). Any object with those two methods can be
passed as the guard's ``decision_log=`` (a database table, an OpenTelemetry logs exporter, a
message queue).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "DecisionRecord",
    "DecisionSink",
    "JSONLDecisionLog",
    "MemoryDecisionLog",
]

SignalValue = float | int | str | None


@dataclass(frozen=True)
class DecisionRecord:
    """One guarded call, as the decision log keeps it.

    Attributes:
        request_id: the application's (or the guard's generated) request id; joins with the
            review store's ``request_id``.
        time: UTC time the decision was made.
        domain, policy: the domain and the name of the policy applied (equal in the SDK).
        policy_version: first 12 hex digits of the SHA-256 of the policy file (None when the
            policy did not come from a file).
        status: ``answered`` | ``abstained`` | ``pending_review`` | ``failed``.
        action: ``pass`` | ``notice`` | ``review`` | ``abstain``; None when ``failed``.
        matched: names of the rules that matched (file order; ``on_missing`` ones included).
        values: computed signal values (float in [0, 1], int counts, str labels).
        missing: signals needed but not computed (failures, timeouts).
        skipped: signals not computed because they could not change the action.
        model: the answering model's name.
        cost: ``calls``, ``input_tokens``, ``output_tokens``, ``latency_s``.
        question, answer: only with content capture on (redacted), else None.
    """

    request_id: str
    time: datetime
    domain: str
    policy: str
    policy_version: str | None
    status: str
    action: str | None
    matched: Sequence[str] = ()
    values: Mapping[str, SignalValue] = field(default_factory=dict)
    missing: Sequence[str] = ()
    skipped: Sequence[str] = ()
    model: str = ""
    cost: Mapping[str, float | int] = field(default_factory=dict)
    question: str | None = None
    answer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (``time`` as ISO 8601 with offset; content keys only
        when set)."""
        out: dict[str, Any] = {
            "request_id": self.request_id,
            "time": self.time.astimezone(UTC).isoformat(),
            "domain": self.domain,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "status": self.status,
            "action": self.action,
            "matched": list(self.matched),
            "values": dict(self.values),
            "missing": list(self.missing),
            "skipped": list(self.skipped),
            "model": self.model,
            "cost": dict(self.cost),
        }
        if self.question is not None:
            out["question"] = self.question
        if self.answer is not None:
            out["answer"] = self.answer
        return out


@runtime_checkable
class DecisionSink(Protocol):
    """Where decision records go. ``write`` is called once per guarded call, from a worker
    thread (it may block on I/O); it may raise, and the guard then reports the failure on the
    call's span and in ``GuardedResponse.error`` without failing the call."""

    def write(self, record: DecisionRecord) -> None:
        """Append one record (durable or buffered, as the sink documents)."""

    def close(self) -> None:
        """Flush and release resources."""


class MemoryDecisionLog:
    """Keeps records in a list (tests, notebooks). Not bounded: not for production."""

    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []
        self._lock = threading.Lock()

    def write(self, record: DecisionRecord) -> None:
        """Append ``record`` to :attr:`records`."""
        with self._lock:
            self.records.append(record)

    def close(self) -> None:
        """Nothing to release."""


class JSONLDecisionLog:
    """JSONL decision log, rotated by the standard library's :mod:`logging.handlers`.

    Args:
        path: the active file (``decisions.jsonl``); rotated files get the handler's suffix
            (``decisions.jsonl.2026-12-01`` by day, ``decisions.jsonl.1`` ... by size). The
            parent directory is created.
        rotate: ``"day"`` (default; :class:`logging.handlers.TimedRotatingFileHandler` at UTC
            midnight, every file kept unless ``backup_count`` > 0) or ``"size"``
            (:class:`logging.handlers.RotatingFileHandler` at ``max_bytes``; it keeps
            ``backup_count`` >= 1 files and deletes older ones, so ship rotated files to object
            storage before then).
        max_bytes: size limit per file for ``rotate="size"`` (default 100 MiB).
        backup_count: files kept (``"day"``: 0 = all; ``"size"``: must be >= 1).
        ship_to: optional object-storage prefix (``s3://bucket/decisions/host-1/``, any fsspec
            URL; extra ``s3`` for S3): every rotated file is uploaded there right after the
            rotation, as ``<prefix>/<rotated name>`` for day rotation
            (``decisions.jsonl.2026-12-01``) and ``<prefix>/<file name>.<UTC time of the
            rotation, %Y%m%dT%H%M%S%fZ>`` for size rotation (whose numbered names are reused).
            Give every worker its own prefix or file name. The local file is kept (rotation
            deletes it as configured). A failed upload does not lose the record being written: it
            is written, then ``write`` raises :class:`OSError` naming the local file to ship by
            hand (the guard reports it on the span). The active file is not shipped until it
            rotates.
        storage_options: fsspec options for ``ship_to`` (``endpoint_url``, ``key``, ...;
            default: the file system's own configuration, e.g. AWS environment variables).

    Each line is flushed when written (the handler's ``flush`` after every record), so a crash
    loses at most the record being written.

    Raises:
        ValueError: unknown ``rotate``, ``max_bytes`` < 1, or ``rotate="size"`` with
            ``backup_count`` < 1 (the handler would then never rotate).
        OSError: the file cannot be opened.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        rotate: Literal["day", "size"] = "day",
        max_bytes: int = 100 * 1024 * 1024,
        backup_count: int | None = None,
        ship_to: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.ship_to = ship_to.rstrip("/") if ship_to else None
        self.storage_options = dict(storage_options or {})
        self.shipped: list[str] = []
        self._ship_errors: list[str] = []
        self._rotate = rotate
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler
        if rotate == "day":
            handler = logging.handlers.TimedRotatingFileHandler(
                self.path,
                when="midnight",
                utc=True,
                backupCount=backup_count or 0,
                encoding="utf-8",
            )
        elif rotate == "size":
            count = 1000 if backup_count is None else backup_count
            if max_bytes < 1 or count < 1:
                raise ValueError(
                    f"rotate='size' needs max_bytes >= 1 and backup_count >= 1, got "
                    f"{max_bytes}, {count}"
                )
            handler = logging.handlers.RotatingFileHandler(
                self.path, maxBytes=max_bytes, backupCount=count, encoding="utf-8"
            )
        else:
            raise ValueError(f"rotate must be 'day' or 'size', got {rotate!r}")
        handler.setFormatter(logging.Formatter("%(message)s"))
        if self.ship_to is not None:
            handler.rotator = self._rotate_and_ship
        self._handler = handler

    def _rotate_and_ship(self, source: str, dest: str) -> None:
        """The handler's rotator: rename as the handler would, then upload the closed file."""
        import os

        if not os.path.exists(source):  # what the handler's default rotation checks too
            return
        os.rename(source, dest)
        if os.path.getsize(dest) == 0:  # nothing to ship (a size limit below one record)
            return
        if self._rotate == "day":
            name = Path(dest).name
        else:
            name = f"{self.path.name}.{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
        url = f"{self.ship_to}/{name}"
        try:
            from guardrail.storage import upload

            upload(dest, url, self.storage_options)
        except Exception as exc:  # reported after the record is written (see write)
            self._ship_errors.append(
                f"uploading rotated decision log {dest} to {url} failed: "
                f"{type(exc).__name__}: {exc}; the file is kept locally"
            )
        else:
            self.shipped.append(url)

    def write(self, record: DecisionRecord) -> None:
        """Append one JSON line (rotating first when the handler says so).

        Raises:
            OSError: the write failed (the handler's own error printing is bypassed), or the
                record was written but shipping the file rotated just before failed.
        """
        line = json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"))
        rec = logging.LogRecord("guardrail.decisions", logging.INFO, "", 0, line, None, None)
        handler = self._handler
        handler.acquire()
        try:
            if isinstance(
                handler,
                logging.handlers.RotatingFileHandler | logging.handlers.TimedRotatingFileHandler,
            ) and handler.shouldRollover(rec):
                handler.doRollover()
            stream = handler.stream
            if stream is None:  # closed
                raise OSError(f"decision log {self.path} is closed")
            stream.write(line + "\n")
            stream.flush()
        finally:
            handler.release()
        if self._ship_errors:
            errors, self._ship_errors = self._ship_errors, []
            raise OSError("; ".join(errors))

    def close(self) -> None:
        """Flush and close the file."""
        self._handler.close()


def now_utc() -> datetime:
    """The current UTC time (one place, so tests can compare)."""
    return datetime.now(UTC)
