"""Decision log through the OpenTelemetry logs API, checked with the SDK's in-memory exporter."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guardrail import Guard
from guardrail.decisions import DecisionRecord, MemoryDecisionLog
from guardrail.decisions.otel import OTelDecisionLog
from guardrail.policy import parse_policy
from guardrail.providers import ReplayProvider
from guardrail.review import InMemoryReviewStore
from guardrail.tracing import DECISION_EVENT, decision_from_attributes

from .test_decision_log import POLICY, _replay_file


class Tee:
    def __init__(self, *sinks: OTelDecisionLog | MemoryDecisionLog) -> None:
        self.sinks = sinks

    def write(self, record: DecisionRecord) -> None:
        for s in self.sinks:
            s.write(record)

    def close(self) -> None:
        for s in self.sinks:
            s.close()


def test_one_log_record_per_call_in_the_guard_span(tmp_path: Path) -> None:
    global_before = _logs.get_logger_provider()
    logs = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    memory = MemoryDecisionLog()
    store = InMemoryReviewStore(redact=lambda s: s.replace("Paris", "[CITY]"))
    guard = Guard(
        {"t": parse_policy(POLICY, "t.guard")},
        ReplayProvider(_replay_file(tmp_path, "Capital of France?", "It might be Paris.")),
        model="m",
        decision_log=Tee(OTelDecisionLog(provider), memory),
        tracer_provider=tracer_provider,
        capture_content=True,
        review_store=store,
    )
    guard.chat_sync([{"role": "user", "content": "Capital of France?"}], request_id="q1")

    (rec,) = [r.log_record for r in logs.get_finished_logs()]
    assert rec.event_name == DECISION_EVENT == "guardrail.decision"
    attrs = dict(rec.attributes or {})
    # as test_decision_log: "might" is one hedge cue -> rule `hedged` (notice); consistency
    # skipped; one model call of 7 prompt tokens (the replayed usage)
    assert attrs["guardrail.request_id"] == "q1"
    assert attrs["guardrail.decision.action"] == "notice"
    assert attrs["guardrail.status"] == "answered"
    assert tuple(attrs["guardrail.decision.matched"]) == ("hedged",)
    assert attrs["guardrail.signal.hedges"] == 1
    assert "guardrail.signal.consistency" not in attrs
    assert tuple(attrs["guardrail.signals.skipped"]) == ("consistency",)
    assert tuple(attrs["guardrail.signals.missing"]) == ()
    assert attrs["gen_ai.request.model"] == "m"
    assert attrs["guardrail.cost.calls"] == 1 and attrs["guardrail.cost.input_tokens"] == 7
    assert "[CITY]" in attrs["gen_ai.output.messages"]  # captured content, redacted first
    # emitted inside the guard span: the record carries its trace and span ids
    (guard_span,) = [s for s in spans.get_finished_spans() if s.name == "guardrail.guard"]
    assert guard_span.context is not None
    assert rec.trace_id == guard_span.context.trace_id
    assert rec.span_id == guard_span.context.span_id
    # lossless: the attributes turn back into the record the JSONL sink writes
    assert rec.timestamp is not None
    (mem,) = memory.records
    back = decision_from_attributes(attrs, rec.timestamp)
    assert back == mem.to_dict()
    assert back["answer"] == "It might be [CITY]."
    # library code never installs a global provider
    assert _logs.get_logger_provider() is global_before
