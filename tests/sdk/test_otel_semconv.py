"""Every span, event and metric name and attribute of a guarded chat, read back with the OTel
SDK's in-memory exporters, checked against the constants of ``opentelemetry-semantic-conventions``
(GenAI, server and error attributes; GenAI metrics); and the tokens recorded as
``gen_ai.usage.*`` over all spans of one guarded chat equal what the fake server served."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail import Guard
from guardrail.tracing import SCHEMA_URL

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


def _constants(*modules: ModuleType) -> set[str]:
    return {v for m in modules for k, v in vars(m).items() if k.isupper() and isinstance(v, str)}


SEMCONV_ATTRS = _constants(gen_ai_attributes, server_attributes, error_attributes)
SEMCONV_METRICS = _constants(gen_ai_metrics)
OWN_METRICS = {"guardrail.decisions"}


def _check_keys(keys: Any, where: str) -> None:
    for key in keys:
        if key.startswith("guardrail."):
            continue  # guardrail's own namespace
        assert key in SEMCONV_ATTRS, f"{where}: {key} is not a semantic-conventions attribute"


@pytest.fixture
def otel() -> Iterator[tuple[TracerProvider, InMemorySpanExporter, MeterProvider, Any]]:
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    yield tp, exp, mp, reader
    mp.shutdown()


def _points(reader: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "guardrail" and sm.scope.schema_url == SCHEMA_URL
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


async def test_names_match_semconv_and_usage_sums_to_served_tokens(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    otel: tuple[TracerProvider, InMemorySpanExporter, MeterProvider, Any],
) -> None:
    tp, exp, mp, reader = otel
    global_tp, global_mp = trace.get_tracer_provider(), metrics.get_meter_provider()
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    server.ignore_n = True  # k samples become 1 + 2 top-up requests: a span each
    r = await make_guard(POLICY, tracer_provider=tp, meter_provider=mp).chat(Q)
    assert r.status == "answered"
    spans: list[ReadableSpan] = list(exp.get_finished_spans())
    for s in spans:
        _check_keys(s.attributes or {}, s.name)
        assert s.instrumentation_scope is not None
        assert s.instrumentation_scope.schema_url == SCHEMA_URL
        for e in s.events:
            assert e.name == "gen_ai.evaluation.result"
            _check_keys(e.attributes or {}, e.name)
    chats = [s for s in spans if s.kind is trace.SpanKind.CLIENT]
    guard = next(s for s in spans if s.name == "guardrail.guard")
    # one CLIENT span per HTTP request: the answer, the n=3 sampling request the server
    # answered with one choice, and the 2 single top-up requests; all children of the guard span
    assert len(chats) == 4 == len(server.requests)
    assert guard.context is not None
    for s in chats:
        a = s.attributes or {}
        assert a[server_attributes.SERVER_ADDRESS] == "127.0.0.1"
        assert a[server_attributes.SERVER_PORT] == server.port
        assert a[gen_ai_attributes.GEN_AI_OPERATION_NAME] == "chat"
        assert s.parent is not None and s.parent.span_id == guard.context.span_id
        # each request's own usage: 6 question words in, "Paris." = 1 out
        assert a["gen_ai.usage.input_tokens"] == 6 and a["gen_ai.usage.output_tokens"] == 1
    # each its own response id (the fake server numbers its replies 1..4)
    ids = sorted(str((s.attributes or {})[gen_ai_attributes.GEN_AI_RESPONSE_ID]) for s in chats)
    assert ids == [f"chatcmpl-fake-{i}" for i in range(1, 5)]
    purposes = sorted(str((s.attributes or {})["guardrail.purpose"]) for s in chats)
    assert purposes == ["answer", "consistency", "consistency", "consistency"]
    counts = [
        (s.attributes or {}).get(gen_ai_attributes.GEN_AI_REQUEST_CHOICE_COUNT) for s in chats
    ]
    assert sorted(counts, key=str) == [3, None, None, None]  # only the n=3 request asked for 3
    assert not any(k.startswith("gen_ai.usage.") for k in guard.attributes or {})
    # tokens served: the fake server counts space-separated words
    # (tests/servers/fake_openai.py). 4 requests (answer + 3 single samples), each sending the
    # question "What is the capital of France?" = 6 words -> 24 in; each answer "Paris." = 1 -> 4.
    assert len(server.requests) == 4
    served_in = sum(
        len(str(m["content"]).split(" ")) for req in server.requests for m in req["messages"]
    )
    assert served_in == 24
    used_in = sum((s.attributes or {}).get("gen_ai.usage.input_tokens", 0) for s in spans)
    used_out = sum((s.attributes or {}).get("gen_ai.usage.output_tokens", 0) for s in spans)
    assert (used_in, used_out) == (24, 4)
    # evaluation events point at the evaluated answer (its response id; the fake server numbers
    # its replies: the answer is the first, chatcmpl-fake-1)
    assert {e.attributes["gen_ai.response.id"] for e in guard.events} == {"chatcmpl-fake-1"}
    # metrics: names from the conventions (plus guardrail's own counter), same token totals
    pts = _points(reader)
    assert set(pts) <= SEMCONV_METRICS | OWN_METRICS
    assert set(pts) == {
        gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE,
        gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION,
        "guardrail.decisions",
    }
    for name, points in pts.items():
        for p in points:
            _check_keys(p.attributes, name)
    tokens = {
        p.attributes[gen_ai_attributes.GEN_AI_TOKEN_TYPE]: p.sum
        for p in pts[gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE]
    }
    assert tokens == {"input": 24, "output": 4}
    durations = pts[gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION]
    assert sum(p.count for p in durations) == 4  # one per request (= per chat span)
    (decision,) = pts["guardrail.decisions"]
    assert decision.value == 1
    assert dict(decision.attributes) == {
        "guardrail.domain": "traced",
        "guardrail.decision.action": "notice",
    }
    assert trace.get_tracer_provider() is global_tp  # nothing installed globally
    assert metrics.get_meter_provider() is global_mp


async def test_failed_chat_is_an_error_everywhere(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    otel: tuple[TracerProvider, InMemorySpanExporter, MeterProvider, Any],
) -> None:
    tp, exp, mp, reader = otel
    server.faults.append(Fault.status(500))
    guard = make_guard(
        POLICY, provider_kw={"max_retries": 0}, tracer_provider=tp, meter_provider=mp
    )
    r = await guard.chat(Q)
    assert r.status == "failed"
    spans = list(exp.get_finished_spans())
    g = next(s for s in spans if s.name == "guardrail.guard")
    assert g.status.status_code is trace.StatusCode.ERROR
    assert (g.attributes or {})["error.type"] == "ServerError"
    (event,) = g.events
    assert event.attributes["error.type"] == "ServerError"
    assert gen_ai_attributes.GEN_AI_EVALUATION_SCORE_LABEL not in event.attributes  # no verdict
    pts = _points(reader)
    (duration,) = pts[gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION]
    assert duration.attributes["error.type"] == "ServerError"
    assert gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE not in pts  # nothing was served
    (decision,) = pts["guardrail.decisions"]
    assert decision.attributes["guardrail.decision.action"] == "failed"


async def test_log_based_evaluation_events_are_parented_to_the_answer_span(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    otel: tuple[TracerProvider, InMemorySpanExporter, MeterProvider, Any],
) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    tp, exp, _, _ = otel
    logs = InMemoryLogRecordExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    server.answers = role_answers(answer="Paris.", samples=["Lyon.", "Nice.", "Paris."])
    r = await make_guard(POLICY, tracer_provider=tp, logger_provider=lp).chat(Q)
    assert r.status == "abstained"  # 1 of 3 samples agree: consistency 1/3 < 0.5
    spans = list(exp.get_finished_spans())
    answer = next(s for s in spans if (s.attributes or {}).get("guardrail.purpose") == "answer")
    guard = next(s for s in spans if s.name == "guardrail.guard")
    assert guard.events == ()  # no span-event copies: dashboards count each result once
    records = [d.log_record for d in logs.get_finished_logs()]
    by_name = {rec.attributes["gen_ai.evaluation.name"]: rec for rec in records}
    assert set(by_name) == {"consistency", "semantic_entropy", "guardrail.decision"}
    for rec in records:
        assert rec.event_name == "gen_ai.evaluation.result"
        _check_keys(rec.attributes, "log event")
        assert answer.context is not None
        assert (rec.trace_id, rec.span_id) == (answer.context.trace_id, answer.context.span_id)
    assert by_name["consistency"].attributes["gen_ai.evaluation.score.label"] == "abstain"
    assert by_name["guardrail.decision"].attributes["gen_ai.evaluation.score.label"] == "abstain"
    lp.shutdown()
