"""Decision logs and policy replay.

- :mod:`guardrail.decisions.log`: :class:`DecisionRecord`, the :class:`DecisionSink` protocol and
  the JSONL sink rotated by day or size (the SDK's ``Guard(decision_log=...)``).
- :mod:`guardrail.decisions.replay`: read logs (JSONL, CSV, Parquet) in chunks and evaluate a
  candidate policy on the logged signal values with mergeable accumulators
  (``guardrail replay``); :mod:`guardrail.decisions.distributed` runs the same accumulator over
  Dask partitions. Details: ``docs/scale.md``.
"""

from guardrail.decisions.log import (
    DecisionRecord,
    DecisionSink,
    JSONLDecisionLog,
    MemoryDecisionLog,
)

__all__ = ["DecisionRecord", "DecisionSink", "JSONLDecisionLog", "MemoryDecisionLog"]
