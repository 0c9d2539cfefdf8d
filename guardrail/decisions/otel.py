"""Decision log through the OpenTelemetry logs pipeline: one log record per guarded call.

:class:`OTelDecisionLog` emits each :class:`~guardrail.decisions.log.DecisionRecord` as a log
record with event name ``guardrail.decision`` through the OpenTelemetry **logs API**; the host
application's SDK (``LoggerProvider`` with a ``BatchLogRecordProcessor`` and an OTLP exporter,
or an auto-instrumentation agent) ships it to its collector, which can route decision records
to object storage, a log store or a stream. guardrail never creates or installs a provider.
Attribute names: :mod:`guardrail.tracing` (module docstring, "Decision log records");
:func:`guardrail.tracing.decision_from_attributes` turns a record's attributes back into the
JSONL shape ``guardrail replay`` reads.
"""

from __future__ import annotations

from datetime import UTC

from opentelemetry import _logs

from guardrail import __version__
from guardrail.decisions.log import DecisionRecord
from guardrail.tracing import SCHEMA_URL, emit_decision

__all__ = ["OTelDecisionLog"]


class OTelDecisionLog:
    """A :class:`~guardrail.decisions.DecisionSink` that emits log records.

    Args:
        logger_provider: the host's ``LoggerProvider``; default: the global one (a no-op
            until the host installs one; guardrail never does).

    ``write`` only hands the record to the provider's processors (a batch processor exports it
    later, off the request path); ``close`` does nothing: the provider belongs to the host,
    which flushes and shuts it down.
    """

    def __init__(self, logger_provider: _logs.LoggerProvider | None = None) -> None:
        self._logger = _logs.get_logger(
            "guardrail", __version__, logger_provider=logger_provider, schema_url=SCHEMA_URL
        )

    def write(self, record: DecisionRecord) -> None:
        """Emit ``record`` in the current context (the guard span, when the guard calls it)."""
        t = record.time.astimezone(UTC)
        ns = int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000
        emit_decision(self._logger, record.to_dict(), ns)

    def close(self) -> None:
        """Nothing to release (the host owns the provider)."""
