"""Spans and events of a guarded chat, read back with the OTel SDK's in-memory exporter.

Names and attributes follow the OpenTelemetry GenAI semantic conventions
(https://opentelemetry.io/docs/specs/semconv/gen-ai/): span ``chat {model}``, attributes
``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.request.choice.count``, ``gen_ai.usage.*``, ``gen_ai.response.finish_reasons``,
``error.type``; event ``gen_ai.evaluation.result``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail import Guard

Q = [{"role": "user", "content": "What is the capital of France?"}]

POLICY = """
policy traced {
  on_missing review
  signals {
    samples 3 temperature 0.9
  }
  rule unstable {
    when consistency < 0.5
    then abstain "No."
  }
  otherwise notice "Check facts."
}
"""


@pytest.fixture
def exporter() -> tuple[TracerProvider, InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    return tp, exp


async def test_spans_attributes_and_evaluation_events(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    tp, exp = exporter
    global_before = trace.get_tracer_provider()
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    r = await make_guard(POLICY, tracer_provider=tp).chat(Q)
    assert r.status == "answered"
    finished = exp.get_finished_spans()
    guard = next(s for s in finished if s.name == "guardrail.guard")
    calls = [s for s in finished if s.name == "chat main-model"]
    assert len(calls) == 2
    for s in calls:
        assert s.parent is not None and s.parent.span_id == guard.context.span_id
        assert s.kind is trace.SpanKind.CLIENT
        assert s.attributes["gen_ai.operation.name"] == "chat"
        assert s.attributes["gen_ai.provider.name"] == "openai"
        assert s.attributes["gen_ai.request.model"] == "main-model"
        assert s.attributes["gen_ai.response.finish_reasons"] == ("stop",) * (
            3 if s.attributes["guardrail.purpose"] == "consistency" else 1
        )
        assert s.attributes["gen_ai.usage.output_tokens"] >= 1
        assert "gen_ai.input.messages" not in s.attributes  # content capture off by default
        assert "gen_ai.output.messages" not in s.attributes
    sample_span = next(s for s in calls if s.attributes["guardrail.purpose"] == "consistency")
    assert sample_span.attributes["gen_ai.request.choice.count"] == 3
    assert sample_span.attributes["gen_ai.request.temperature"] == 0.9
    answer_span = next(s for s in calls if s.attributes["guardrail.purpose"] == "answer")
    assert "gen_ai.request.choice.count" not in answer_span.attributes  # n == 1
    # guard span: decision and cost; one evaluation event per signal + one for the decision
    assert guard.attributes["guardrail.decision.action"] == "notice"
    assert guard.attributes["guardrail.cost.calls"] == 2
    events = [e for e in guard.events if e.name == "gen_ai.evaluation.result"]
    by_name = {e.attributes["gen_ai.evaluation.name"]: e.attributes for e in events}
    assert set(by_name) == {"consistency", "semantic_entropy", "guardrail.decision"}
    assert by_name["semantic_entropy"]["gen_ai.evaluation.score.value"] == 0.0  # one cluster
    assert by_name["consistency"]["gen_ai.evaluation.score.value"] == 1.0
    # label = the policy's verdict: `unstable` (consistency < 0.5) did not fire on 1.0 -> pass
    assert by_name["consistency"]["gen_ai.evaluation.score.label"] == "pass"
    answer_id = answer_span.attributes["gen_ai.response.id"]
    assert all(e.attributes["gen_ai.response.id"] == answer_id for e in events)
    assert by_name["guardrail.decision"]["gen_ai.evaluation.score.label"] == "notice"
    assert "otherwise" in by_name["guardrail.decision"]["gen_ai.evaluation.explanation"]
    # the library never installed a tracer provider
    assert trace.get_tracer_provider() is global_before


async def test_content_capture_and_error_type(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    tp, exp = exporter
    server.answers = role_answers(answer="Paris.")
    server.faults.extend([Fault.ok(), Fault.status(500)])
    guard = make_guard(
        POLICY, provider_kw={"max_retries": 0}, tracer_provider=tp, capture_content=True
    )
    r = await guard.chat(Q)
    assert r.signal("consistency").status == "missing"  # type: ignore[union-attr]
    finished = exp.get_finished_spans()
    answer_span = next(s for s in finished if s.attributes.get("guardrail.purpose") == "answer")
    assert "What is the capital of France?" in answer_span.attributes["gen_ai.input.messages"]
    assert "Paris." in answer_span.attributes["gen_ai.output.messages"]
    failed = next(s for s in finished if s.attributes.get("guardrail.purpose") == "consistency")
    assert failed.attributes["error.type"] == "ServerError"
    assert failed.status.status_code is trace.StatusCode.ERROR
    guard_span = next(s for s in finished if s.name == "guardrail.guard")
    assert guard_span.attributes["guardrail.signals.missing"] == ("consistency", "semantic_entropy")
    ev = {
        e.attributes["gen_ai.evaluation.name"]: e.attributes
        for e in guard_span.events
        if e.name == "gen_ai.evaluation.result"
    }
    # on_missing review: `unstable` matched on the missing value -> the verdict is review
    assert ev["consistency"]["gen_ai.evaluation.score.label"] == "review"
    assert ev["consistency"]["error.type"] == "ServerError"
    assert "ServerError" in ev["consistency"]["gen_ai.evaluation.explanation"]
