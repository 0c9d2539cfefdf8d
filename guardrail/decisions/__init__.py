"""Decision logs and policy replay.

- :mod:`guardrail.decisions.log`: :class:`DecisionRecord`, the :class:`DecisionSink` protocol and
  the JSONL sink rotated by day or size, optionally shipping rotated files to object storage
  (the SDK's ``Guard(decision_log=...)``).
- :mod:`guardrail.decisions.table`: the ``decision_log`` table in the review store's database
  (SQLite, PostgreSQL): :func:`open_decision_table`.
- :mod:`guardrail.decisions.otel`: :class:`OTelDecisionLog`, records through the OpenTelemetry
  logs API.
- :mod:`guardrail.decisions.replay`: read logs (JSONL, CSV, Parquet files, object-storage URLs,
  the table) in chunks and evaluate a candidate policy on the logged signal values with mergeable
  accumulators (``guardrail replay``); :mod:`guardrail.decisions.distributed` runs the same
  accumulator over Dask partitions; :mod:`guardrail.decisions.report_html` renders the HTML
  diff. Details: ``docs/scale.md``.
"""

from typing import TYPE_CHECKING, Any

from guardrail.decisions.log import (
    DecisionRecord,
    DecisionSink,
    JSONLDecisionLog,
    MemoryDecisionLog,
)

if TYPE_CHECKING:
    from guardrail.decisions.otel import OTelDecisionLog
    from guardrail.decisions.table import DecisionTable, open_decision_table

# loaded on first use: the SDK imports this package, and needs neither sqlite3 nor these sinks
_LAZY = {
    "OTelDecisionLog": "guardrail.decisions.otel",
    "DecisionTable": "guardrail.decisions.table",
    "open_decision_table": "guardrail.decisions.table",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DecisionRecord",
    "DecisionSink",
    "DecisionTable",
    "JSONLDecisionLog",
    "MemoryDecisionLog",
    "OTelDecisionLog",
    "open_decision_table",
]
