"""OpenTelemetry traces and metrics for guarded chats, per the GenAI semantic conventions.

This module is the only place that knows OpenTelemetry names; they are imported from
``opentelemetry-semantic-conventions`` constants where the conventions define them, and the tracer
and meter carry the conventions' ``schema_url`` (:data:`SCHEMA_URL`). guardrail uses **only the
OpenTelemetry API**: it never creates or installs a tracer or meter provider. When the host
application has configured the SDK (or an auto-instrumentation agent), the spans, events and
metrics below are exported; otherwise every call is a no-op.

Spans
    ``guardrail.guard`` (INTERNAL): one per guarded chat. Attributes ``guardrail.domain``,
    ``guardrail.policy``, ``gen_ai.request.model`` and, at the end, ``guardrail.decision.action``,
    ``guardrail.status``, ``guardrail.cost.calls``, ``guardrail.cost.input_tokens``,
    ``guardrail.cost.output_tokens`` (the guard's totals under guardrail's own names: the
    ``gen_ai.usage.*`` attributes live on the model-call spans only, so a backend summing them
    over a trace counts every token once), ``guardrail.cost.unused_calls`` (of the calls
    started, the speculative requests whose reply no signal used: ``Cost.unused_calls``),
    ``guardrail.cost.unmetered_calls`` (calls whose usage the server did not report: a ``live``
    stream's answer without a usage chunk), ``guardrail.signals.missing``. A failed guarded
    chat (no answer) has status ERROR and ``error.type``.

    ``chat {model}`` (CLIENT): one per model call of the guard, child of the guard span:
    ``gen_ai.operation.name`` (``"chat"``), ``gen_ai.provider.name``, ``gen_ai.request.model``,
    ``server.address``/``server.port`` (from the provider's base URL, when it has one),
    ``gen_ai.request.choice.count`` (when ``n != 1``: the k samples),
    ``gen_ai.request.temperature``, ``gen_ai.request.max_tokens``, ``gen_ai.request.seed``,
    ``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
    ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``, ``error.type`` and status
    ERROR on failure, and ``guardrail.purpose`` (``answer``, ``verbalized``, ``consistency``,
    ``agreement``, ``equivalence``). A provider that tops up samples with single requests still
    records one span for the k requests (``guardrail.requests`` says how many).

    A request **guardrail cancelled on purpose** (:func:`cancel_by_guardrail`: a ``plan
    latency`` sample or ensemble request once the stop test settled the action, one the answer
    alone made pointless, an eager sample the plan did not need) is not an error: its span ends
    with status UNSET (as the HTTP client conventions leave a span without an error), no
    ``error.type``, and ``guardrail.cancelled`` = true with ``guardrail.cancel.reason``
    (``stopped_early``, ``not_needed``; ``tool_calls`` for the requests of a ``live`` stream's
    assessment stopped because the answer was a tool call, whose guard span carries the same
    two attributes and no error). A cancellation from the host (its task cancelled, a deadline
    around the guarded call, a stream consumer that went away) still sets ``error.type`` =
    ``CancelledError`` and status ERROR, on the guard span too.

Events
    ``gen_ai.evaluation.result``: with a ``logger_provider`` given to the guard, log-based events
    (the logs API's ``event_name``) whose context is the evaluated *answer chat span*; without
    one, span events on the guard span. One per evaluated (computed or missing) signal
    and one for the decision (``gen_ai.evaluation.name`` = ``guardrail.decision``). Each carries
    ``gen_ai.response.id`` of the evaluated answer call (the chat span has ended by then),
    ``gen_ai.evaluation.score.value`` (numeric signals), ``gen_ai.evaluation.score.label`` = the
    policy verdict (the action of the first matched rule that read the signal, ``pass`` when no
    rule fired on it; the decision's action for ``guardrail.decision``),
    ``gen_ai.evaluation.explanation``, and ``error.type`` when the signal could not be computed.
    Signals the guard skipped (they could not change the action) are not evaluations: no event.

Metrics (through the meter provider given, else the global one)
    ``gen_ai.client.token.usage`` (histogram, ``{token}``, ``gen_ai.token.type`` =
    ``input``/``output``) and ``gen_ai.client.operation.duration`` (histogram, seconds; with
    ``error.type`` on failures), one record per model call with ``gen_ai.operation.name``,
    ``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
    ``server.address``/``server.port``; and ``guardrail.decisions`` (counter, ``{decision}``) by
    ``guardrail.domain`` and ``guardrail.decision.action`` (``failed`` when no answer).

Decision log records (:class:`guardrail.decisions.otel.OTelDecisionLog`)
    One log record per guarded call, event name ``guardrail.decision`` (:data:`DECISION_EVENT`),
    severity INFO, timestamp = the decision's time, emitted in the guard span's context (so it
    carries its trace and span id). Attributes (:func:`decision_attributes`):
    ``guardrail.request_id``, ``guardrail.domain``, ``guardrail.policy``,
    ``guardrail.policy.version`` (when known), ``guardrail.status``,
    ``guardrail.decision.action`` (absent when the call failed), ``guardrail.decision.matched``
    (string array, file order), ``guardrail.signal.<name>`` (one per computed signal: double,
    int or string), ``guardrail.signals.missing`` and ``guardrail.signals.skipped`` (string
    arrays), ``gen_ai.request.model``, ``guardrail.cost.calls``, ``guardrail.cost.input_tokens``,
    ``guardrail.cost.output_tokens``, ``guardrail.cost.latency_s``; with content capture on,
    ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (the same JSON as on the chat spans,
    already redacted). :func:`decision_from_attributes` turns the attributes back into the
    decision-log dictionary the replay reads.

Content capture
    Prompt and answer text are recorded (as ``gen_ai.input.messages`` / ``gen_ai.output.messages``
    JSON attributes of the model-call spans) only when capture is switched on, either per guard
    (``capture_content=True``) or with the standard environment variable
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``. Off by default.

Source: OpenTelemetry semantic conventions for generative AI (spans, events, metrics,
attributes), https://opentelemetry.io/docs/specs/semconv/gen-ai/.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import _logs, metrics, trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GA
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as GM
from opentelemetry.semconv.attributes import error_attributes as EA
from opentelemetry.semconv.attributes import server_attributes as SA
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode

from guardrail import __version__
from guardrail.providers.base import (
    ChatResult,
    Message,
    RequestReport,
    ToolCallReply,
    request_hook,
)

__all__ = [
    "CANCELLED",
    "CANCEL_NOT_NEEDED",
    "CANCEL_REASON",
    "CANCEL_STOPPED_EARLY",
    "CANCEL_TOOL_CALLS",
    "CAPTURE_ENV",
    "DECISION_COUNTER",
    "DECISION_EVENT",
    "EVALUATION_EVENT",
    "GUARD_SPAN",
    "PASSED_THROUGH",
    "SCHEMA_URL",
    "GuardMetrics",
    "cancel_by_guardrail",
    "cancelled_by_guardrail",
    "capture_content_enabled",
    "decision_attributes",
    "decision_from_attributes",
    "emit_decision",
    "emit_evaluation",
    "end_guard_span",
    "get_event_logger",
    "get_metrics",
    "get_tracer",
    "guard_span",
    "model_call_span",
    "record_error",
    "record_result",
    "server_of",
]

GUARD_SPAN = "guardrail.guard"
#: The conventions' event name (semconv 0.66b2 has no constant for event names).
EVALUATION_EVENT = "gen_ai.evaluation.result"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
DECISION_COUNTER = "guardrail.decisions"
#: ``guardrail.status`` of a guard span whose answer call returned tool calls (not evaluated).
PASSED_THROUGH = "passed_through"
#: Event name of a decision-log record sent through the logs API.
DECISION_EVENT = "guardrail.decision"
_SIGNAL_PREFIX = "guardrail.signal."
_COST_PREFIX = "guardrail.cost."
# decision-log key -> attribute (scalars)
_DECISION_SCALARS = {
    "request_id": "guardrail.request_id",
    "domain": "guardrail.domain",
    "policy": "guardrail.policy",
    "policy_version": "guardrail.policy.version",
    "status": "guardrail.status",
    "action": "guardrail.decision.action",
    "model": GA.GEN_AI_REQUEST_MODEL,
}
# decision-log key -> attribute (string arrays)
_DECISION_LISTS = {
    "matched": "guardrail.decision.matched",
    "missing": "guardrail.signals.missing",
    "skipped": "guardrail.signals.skipped",
}
#: Boolean attribute of a ``chat`` span whose request guardrail cancelled on purpose (status
#: UNSET, no ``error.type``): a cancellation guardrail decided is not an error.
CANCELLED = "guardrail.cancelled"
#: Why guardrail cancelled it: :data:`CANCEL_STOPPED_EARLY`, :data:`CANCEL_NOT_NEEDED`,
#: :data:`CANCEL_TOOL_CALLS`.
CANCEL_REASON = "guardrail.cancel.reason"
#: The stop test settled the action (``plan latency`` samples / ensemble models).
CANCEL_STOPPED_EARLY = "stopped_early"
#: The plan never needed the call (the answer alone settled the action, the chat ended).
CANCEL_NOT_NEEDED = "not_needed"
#: A ``live`` stream's answer was a tool call: nothing is judged.
CANCEL_TOOL_CALLS = "tool_calls"
# tasks guardrail cancelled on purpose -> why (read by the spans the tasks opened)
_CANCELLED_TASKS: weakref.WeakKeyDictionary[asyncio.Future[Any], str] = weakref.WeakKeyDictionary()
#: The semantic-conventions version the names follow (on the tracer and the meter).
SCHEMA_URL = Schemas.V1_37_0.value
# explicit bucket boundaries the GenAI conventions advise for the two histograms
_TOKEN_BUCKETS = [float(4**i) for i in range(14)]  # 1, 4, 16, ..., 4**13 = 67108864
_DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 0.01, 0.02, ..., 81.92 s


def get_tracer(tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """guardrail's tracer from ``tracer_provider`` if given (the usual instrumentation-library
    argument), else from the *global* tracer provider (a no-op until the host sets one)."""
    return trace.get_tracer(
        "guardrail", __version__, tracer_provider=tracer_provider, schema_url=SCHEMA_URL
    )


@dataclass(frozen=True)
class GuardMetrics:
    """The guard's instruments (from :func:`get_metrics`)."""

    token_usage: metrics.Histogram
    duration: metrics.Histogram
    decisions: metrics.Counter

    def decision(self, domain: str, action: str) -> None:
        """Count one guarded chat's outcome (``action``: pass/notice/review/abstain/failed)."""
        self.decisions.add(1, {"guardrail.domain": domain, "guardrail.decision.action": action})


def get_metrics(meter_provider: metrics.MeterProvider | None = None) -> GuardMetrics:
    """guardrail's instruments from ``meter_provider`` if given, else the global one (a no-op
    until the host sets one). Never installs a provider."""
    meter = metrics.get_meter(
        "guardrail", __version__, meter_provider=meter_provider, schema_url=SCHEMA_URL
    )
    return GuardMetrics(
        token_usage=meter.create_histogram(
            GM.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        ),
        duration=meter.create_histogram(
            GM.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        ),
        decisions=meter.create_counter(
            DECISION_COUNTER,
            unit="{decision}",
            description="Guarded chats by domain and decided action.",
        ),
    )


def get_event_logger(logger_provider: _logs.LoggerProvider | None = None) -> _logs.Logger | None:
    """guardrail's logger for log-based events from ``logger_provider``; ``None`` (evaluation
    results then go out as span events) when no provider is given: opt-in, never the global."""
    if logger_provider is None:
        return None
    return _logs.get_logger(
        "guardrail", __version__, logger_provider=logger_provider, schema_url=SCHEMA_URL
    )


def capture_content_enabled(explicit: bool | None = None) -> bool:
    """Whether prompt/answer text may be recorded: ``explicit`` if given, else the env variable."""
    if explicit is not None:
        return explicit
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def server_of(provider: object) -> tuple[str | None, int | None]:
    """``(server.address, server.port)`` from a provider's ``base_url`` (a string or URL object;
    ``client.base_url`` of a wrapped OpenAI client), the port defaulting by scheme; ``(None,
    None)`` when it has none (the embedded local model)."""
    url = getattr(provider, "base_url", None)
    if url is None:
        url = getattr(getattr(provider, "client", None), "base_url", None)
    if url is None:
        return None, None
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError:
        return None, None
    if not parts.hostname:
        return None, None
    if port is None:
        port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.hostname, port


@contextmanager
def guard_span(
    tracer: trace.Tracer, *, domain: str, policy: str, model: str | None
) -> Iterator[Span]:
    """The ``guardrail.guard`` span around one guarded chat (current span inside the block).
    An exception escaping the block sets ``error.type`` and status ERROR."""
    attrs: dict[str, Any] = {"guardrail.domain": domain, "guardrail.policy": policy}
    if model:
        attrs[GA.GEN_AI_REQUEST_MODEL] = model
    with tracer.start_as_current_span(
        GUARD_SPAN,
        kind=SpanKind.INTERNAL,
        attributes=attrs,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except ToolCallReply as exc:  # a successful call that is not evaluated: no error
            span.set_attribute("guardrail.status", PASSED_THROUGH)
            span.set_attribute("guardrail.pass_through.reason", "tool_calls")
            span.set_attribute("guardrail.cost.calls", exc.result.calls)
            span.set_attribute("guardrail.cost.input_tokens", exc.result.usage.input_tokens)
            span.set_attribute("guardrail.cost.output_tokens", exc.result.usage.output_tokens)
            raise
        except BaseException as exc:
            reason = (
                cancelled_by_guardrail(_current_task())
                if isinstance(exc, asyncio.CancelledError)
                else None
            )
            if reason is not None:  # guardrail's own decision (a live answer's tool call)
                span.set_attribute(CANCELLED, True)
                span.set_attribute(CANCEL_REASON, reason)
            else:
                record_error(span, exc)
            raise


def end_guard_span(
    span: Span,
    *,
    status: str,
    action: str | None,
    calls: int,
    input_tokens: int,
    output_tokens: int,
    missing: Sequence[str],
    error: str | None = None,
    unused_calls: int = 0,
    unmetered_calls: int = 0,
) -> None:
    """Set the guard span's outcome attributes (see the module docstring); ``status ==
    "failed"`` marks it ERROR with ``error.type`` = the failure's class (``error``'s
    ``"Type: message"`` prefix, ``_OTHER`` when it has none)."""
    span.set_attribute("guardrail.status", status)
    if action is not None:
        span.set_attribute("guardrail.decision.action", action)
    span.set_attribute("guardrail.cost.calls", calls)
    span.set_attribute("guardrail.cost.unused_calls", unused_calls)
    span.set_attribute("guardrail.cost.unmetered_calls", unmetered_calls)
    span.set_attribute("guardrail.cost.input_tokens", input_tokens)
    span.set_attribute("guardrail.cost.output_tokens", output_tokens)
    if missing:
        span.set_attribute("guardrail.signals.missing", list(missing))
    if status == "failed":
        span.set_attribute(EA.ERROR_TYPE, error_type_of(error))
        span.set_status(Status(StatusCode.ERROR, (error or "failed")[:200]))


def error_type_of(reason: str | None) -> str:
    """A low-cardinality ``error.type`` from a guardrail failure reason: the exception class of
    ``"ServerError: ..."``, ``timeout`` for a guard timeout, else ``_OTHER`` (the conventions'
    fallback value)."""
    if not reason:
        return EA.ErrorTypeValues.OTHER.value
    if reason.startswith("guard timeout"):
        return "timeout"
    head = reason.split(":", 1)[0].strip()
    if ":" in reason and head.isidentifier() and head[:1].isupper():
        return head
    return EA.ErrorTypeValues.OTHER.value


def cancel_by_guardrail(task: asyncio.Future[Any], reason: str) -> bool:
    """Cancel ``task`` on guardrail's own decision (``reason``: :data:`CANCEL_STOPPED_EARLY`,
    :data:`CANCEL_NOT_NEEDED`, :data:`CANCEL_TOOL_CALLS`). The ``chat`` spans the task opened
    then end with status UNSET, no ``error.type``, and :data:`CANCELLED` = true with
    :data:`CANCEL_REASON`; a task cancelled any other way (the host's task, a deadline) still
    reports ``error.type = CancelledError`` and status ERROR. Returns ``task.cancel()``."""
    if task.done():
        return False
    _CANCELLED_TASKS[task] = reason
    return task.cancel()


def cancelled_by_guardrail(task: asyncio.Future[Any] | None) -> str | None:
    """The reason :func:`cancel_by_guardrail` cancelled ``task`` with, else None."""
    return _CANCELLED_TASKS.get(task) if task is not None else None


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop
        return None


@dataclass
class _CallState:
    """The model call in progress (set by :func:`model_call_span`): its metric attributes and
    instruments, how many HTTP requests the provider reported through the request hook, and the
    task that opened it (requests made in sub-tasks of that task share its cancellation)."""

    metric_attrs: dict[str, Any]
    metrics: GuardMetrics | None
    requests: int = 0
    first_end_ns: int | None = None
    task: asyncio.Task[Any] | None = None

    def failed(self, span: Span, exc: BaseException, metric_attrs: dict[str, Any]) -> None:
        """Record how the call (or one request of it) ended with ``exc``: a cancellation
        guardrail decided is not an error (:func:`cancel_by_guardrail`); anything else sets
        ``error.type`` and status ERROR, on the span and the duration metric."""
        reason = (
            cancelled_by_guardrail(self.task) if isinstance(exc, asyncio.CancelledError) else None
        )
        if reason is not None:
            span.set_attribute(CANCELLED, True)
            span.set_attribute(CANCEL_REASON, reason)
            return
        record_error(span, exc)
        metric_attrs[EA.ERROR_TYPE] = type(exc).__name__


_CALL: contextvars.ContextVar[_CallState | None] = contextvars.ContextVar(
    "guardrail_call_state", default=None
)


class _RequestSpans:
    """The request hook of one model call (:class:`guardrail.providers.RequestHook`): the first
    HTTP request the provider reports is the call's own (live) span; every further one (samples
    topped up one by one when the server ignores ``n``) gets its own ``chat`` CLIENT span,
    a sibling under the same parent (the guard span), with its own response id, usage, finish
    reasons, seed, duration and token metrics. The live span then ends when the first request
    did."""

    def __init__(
        self,
        tracer: trace.Tracer,
        live: Span,
        parent: Any,
        name: str,
        attrs: dict[str, Any],
        state: _CallState,
        capture_content: bool,
    ) -> None:
        self._tracer = tracer
        self._live = live
        self._parent = parent
        self._name = name
        self._attrs = attrs
        self._state = state
        self._capture = capture_content

    @contextmanager
    def __call__(self, *, n: int, seed: int | None) -> Iterator[RequestReport]:
        state = self._state
        state.requests += 1
        first = state.requests == 1
        if first:
            span = self._live
        else:
            span = self._tracer.start_span(
                self._name,
                context=self._parent,
                kind=SpanKind.CLIENT,
                attributes=self._attrs,
                record_exception=False,
                set_status_on_exception=False,
            )
        if n != 1:
            span.set_attribute(GA.GEN_AI_REQUEST_CHOICE_COUNT, n)
        if seed is not None:
            span.set_attribute(GA.GEN_AI_REQUEST_SEED, seed)
        metric_attrs = dict(state.metric_attrs)
        start = time.perf_counter()

        def report(result: ChatResult) -> None:
            _set_response(span, result, metric_attrs, state.metrics, self._capture)

        try:
            with trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                yield report
        except BaseException as exc:
            state.failed(span, exc, metric_attrs)
            raise
        finally:
            if state.metrics is not None:
                state.metrics.duration.record(time.perf_counter() - start, metric_attrs)
            if first:
                state.first_end_ns = time.time_ns()
            else:
                span.end()


@contextmanager
def model_call_span(
    tracer: trace.Tracer,
    *,
    provider: str,
    model: str,
    purpose: str,
    n: int = 1,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    messages: Sequence[Message] | None = None,
    capture_content: bool = False,
    server: tuple[str | None, int | None] = (None, None),
    metrics: GuardMetrics | None = None,
) -> Iterator[Span]:
    """A ``chat {model}`` CLIENT span for one model call, with GenAI request attributes set;
    with ``metrics``, the call's duration is recorded when the block ends (and its token usage
    by :func:`record_result`).

    Inside the block a :class:`guardrail.providers.RequestHook` is installed: a provider that
    reports its HTTP requests (:func:`guardrail.providers.request_scope`; the OpenAI-compatible
    providers do) gets **one span per request**: the first request is this span, each further
    one (samples topped up one by one) a sibling span with its own response attributes, and
    duration and token metrics are recorded per request (:func:`record_result` then adds
    nothing). Providers that report nothing (the embedded model) keep one span per call.

    Exceptions raised inside the block are recorded (``error.type`` = the exception class name,
    status ERROR) and re-raised; :class:`~guardrail.providers.ToolCallReply` is a successful
    call (its result is recorded, no error).
    """
    base: dict[str, Any] = {
        GA.GEN_AI_OPERATION_NAME: GA.GenAiOperationNameValues.CHAT.value,
        GA.GEN_AI_PROVIDER_NAME: provider,
        GA.GEN_AI_REQUEST_MODEL: model,
    }
    address, port = server
    if address is not None:
        base[SA.SERVER_ADDRESS] = address
        if port is not None:
            base[SA.SERVER_PORT] = port
    attrs: dict[str, Any] = {**base, "guardrail.purpose": purpose}
    # choice count and seed are per request: set by the request hook, or (a provider that
    # reports no requests) for the whole call when the block ends
    per_call: dict[str, Any] = {}
    if n != 1:
        per_call[GA.GEN_AI_REQUEST_CHOICE_COUNT] = n
    if seed is not None:
        per_call[GA.GEN_AI_REQUEST_SEED] = seed
    if temperature is not None:
        attrs[GA.GEN_AI_REQUEST_TEMPERATURE] = temperature
    if max_tokens is not None:
        attrs[GA.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    if capture_content and messages is not None:
        attrs[GA.GEN_AI_INPUT_MESSAGES] = json.dumps(
            [{"role": m.role, "parts": [{"type": "text", "content": m.content}]} for m in messages]
        )
    state = _CallState(metric_attrs=dict(base), metrics=metrics, task=_current_task())
    token = _CALL.set(state)
    parent = trace.set_span_in_context(trace.get_current_span())
    name = f"chat {model}"
    start = time.perf_counter()
    try:
        with tracer.start_as_current_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=attrs,
            record_exception=False,
            set_status_on_exception=False,
            end_on_exit=False,
        ) as span:
            hook = _RequestSpans(tracer, span, parent, name, attrs, state, capture_content)
            try:
                with request_hook(hook):
                    yield span
            except ToolCallReply as exc:
                record_result(span, exc.result, capture_content=capture_content)
                raise
            except BaseException as exc:
                # the call failed (its first request's span says so), or guardrail cancelled it
                state.failed(span, exc, state.metric_attrs)
                raise
            finally:
                if state.requests == 0:
                    span.set_attributes(per_call)
                span.end(end_time=state.first_end_ns)
    finally:
        _CALL.reset(token)
        if metrics is not None and state.requests == 0:
            metrics.duration.record(time.perf_counter() - start, state.metric_attrs)


def _set_response(
    span: Span,
    result: ChatResult,
    metric_attrs: dict[str, Any],
    metrics: GuardMetrics | None,
    capture_content: bool,
) -> None:
    span.set_attribute(GA.GEN_AI_RESPONSE_MODEL, result.model)
    if result.response_id:
        span.set_attribute(GA.GEN_AI_RESPONSE_ID, result.response_id)
    span.set_attribute(GA.GEN_AI_RESPONSE_FINISH_REASONS, result.finish_reasons)
    span.set_attribute(GA.GEN_AI_USAGE_INPUT_TOKENS, result.usage.input_tokens)
    span.set_attribute(GA.GEN_AI_USAGE_OUTPUT_TOKENS, result.usage.output_tokens)
    if metrics is not None:
        metric_attrs[GA.GEN_AI_RESPONSE_MODEL] = result.model
        for kind, count in (
            (GA.GenAiTokenTypeValues.INPUT.value, result.usage.input_tokens),
            (GA.GenAiTokenTypeValues.OUTPUT.value, result.usage.output_tokens),
        ):
            metrics.token_usage.record(count, {**metric_attrs, GA.GEN_AI_TOKEN_TYPE: kind})
    if capture_content:
        span.set_attribute(
            GA.GEN_AI_OUTPUT_MESSAGES,
            json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": c.text}],
                        "finish_reason": c.finish_reason or "unknown",
                    }
                    for c in result.choices
                ]
            ),
        )


def record_result(span: Span, result: ChatResult, *, capture_content: bool = False) -> None:
    """Set the GenAI response attributes of a model-call span from a :class:`ChatResult`, and
    record its token usage when the enclosing :func:`model_call_span` has metrics. A no-op when
    the provider already reported its requests one by one (the request hook did it)."""
    state = _CALL.get()
    if state is not None and state.requests:
        return
    _set_response(
        span,
        result,
        state.metric_attrs if state is not None else {},
        state.metrics if state is not None else None,
        capture_content,
    )
    if result.calls != 1:
        span.set_attribute("guardrail.requests", result.calls)
    if result.failed:
        span.set_attribute("guardrail.samples.failed", result.failed)


def record_error(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed: ``error.type`` = exception class name, status ERROR."""
    span.set_attribute(EA.ERROR_TYPE, type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))


def emit_evaluation(
    span: Span,
    name: str,
    *,
    score_value: float | None = None,
    score_label: str | None = None,
    explanation: str | None = None,
    response_id: str | None = None,
    error_type: str | None = None,
    logger: _logs.Logger | None = None,
    parent: SpanContext | None = None,
) -> None:
    """Emit one ``gen_ai.evaluation.result`` event: a log-based event through ``logger`` whose
    context is ``parent`` (the evaluated chat span) when a logger is given, else a span event on
    ``span``.

    ``name`` is the evaluation (signal) name, e.g. ``consistency`` or ``guardrail.decision``;
    ``score_value`` a number (confidences in [0, 1]); ``score_label`` the policy verdict;
    ``response_id`` the evaluated answer call's ``gen_ai.response.id``; ``error_type`` set when
    the evaluation failed.
    """
    attrs: dict[str, Any] = {GA.GEN_AI_EVALUATION_NAME: name}
    if score_value is not None:
        attrs[GA.GEN_AI_EVALUATION_SCORE_VALUE] = float(score_value)
    if score_label is not None:
        attrs[GA.GEN_AI_EVALUATION_SCORE_LABEL] = score_label
    if explanation:
        attrs[GA.GEN_AI_EVALUATION_EXPLANATION] = explanation
    if response_id:
        attrs[GA.GEN_AI_RESPONSE_ID] = response_id
    if error_type:
        attrs[EA.ERROR_TYPE] = error_type
    if logger is not None:
        ctx = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
        logger.emit(event_name=EVALUATION_EVENT, attributes=attrs, context=ctx)
        return
    span.add_event(EVALUATION_EVENT, attributes=attrs)


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def decision_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    """Log-record attributes of one decision-log record (``DecisionRecord.to_dict()``); names
    in the module docstring. ``None`` values are left out (attributes cannot hold null)."""
    attrs: dict[str, Any] = {}
    for key, name in _DECISION_SCALARS.items():
        if record.get(key) is not None:
            attrs[name] = record[key]
    for key, name in _DECISION_LISTS.items():
        attrs[name] = [str(x) for x in record.get(key) or ()]
    for sig, value in (record.get("values") or {}).items():
        if value is not None:
            attrs[_SIGNAL_PREFIX + sig] = value
    for key, value in (record.get("cost") or {}).items():
        attrs[_COST_PREFIX + key] = value
    if record.get("question") is not None:
        attrs[GA.GEN_AI_INPUT_MESSAGES] = _messages("user", record["question"])
    if record.get("answer") is not None:
        attrs[GA.GEN_AI_OUTPUT_MESSAGES] = _messages("assistant", record["answer"])
    return attrs


def decision_from_attributes(
    attrs: Mapping[str, Any], time_ns: int | None = None
) -> dict[str, Any]:
    """The decision-log dictionary (:meth:`DecisionRecord.to_dict` shape, what ``guardrail
    replay`` reads from JSONL) back from :func:`decision_attributes`' output; ``time_ns`` (the
    log record's timestamp) becomes ``time``."""
    from datetime import UTC, datetime, timedelta

    out: dict[str, Any] = {}
    if time_ns is not None:
        t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_ns // 1000)
        out["time"] = t.isoformat()
    for key, name in _DECISION_SCALARS.items():
        out[key] = attrs.get(name)
    for key, name in _DECISION_LISTS.items():
        out[key] = list(attrs.get(name) or ())
    out["values"] = {
        k[len(_SIGNAL_PREFIX) :]: v for k, v in attrs.items() if k.startswith(_SIGNAL_PREFIX)
    }
    out["cost"] = {
        k[len(_COST_PREFIX) :]: v for k, v in attrs.items() if k.startswith(_COST_PREFIX)
    }
    content = (("question", GA.GEN_AI_INPUT_MESSAGES), ("answer", GA.GEN_AI_OUTPUT_MESSAGES))
    for key, name in content:
        if name in attrs:
            out[key] = json.loads(attrs[name])[0]["parts"][0]["content"]
    return out


def emit_decision(logger: _logs.Logger, record: Mapping[str, Any], time_ns: int) -> None:
    """Emit one decision-log record as a ``guardrail.decision`` log record (INFO) through
    ``logger``, in the current context (the guard span when called from the guard)."""
    logger.emit(
        timestamp=time_ns,
        observed_timestamp=time.time_ns(),
        severity_number=_logs.SeverityNumber.INFO,
        severity_text="INFO",
        event_name=DECISION_EVENT,
        attributes=decision_attributes(record),
    )
