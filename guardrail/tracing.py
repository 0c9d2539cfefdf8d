"""OpenTelemetry tracing for guarded chats, per the GenAI semantic conventions.

guardrail uses **only the OpenTelemetry API**: it never creates or installs a tracer provider. When
the host application has configured the OpenTelemetry SDK (or an auto-instrumentation agent), the
spans below are exported; otherwise every call is a no-op.

Spans
    ``guardrail.guard`` (INTERNAL): one per guarded chat. Attributes ``guardrail.domain``,
    ``guardrail.policy``, ``gen_ai.request.model`` and, at the end, ``guardrail.decision.action``,
    ``guardrail.status``, ``guardrail.cost.calls``, ``gen_ai.usage.input_tokens``,
    ``gen_ai.usage.output_tokens``, ``guardrail.signals.missing``.

    ``chat {model}`` (CLIENT): one per model call, child of the guard span, attributed per the
    GenAI conventions: ``gen_ai.operation.name`` (``"chat"``), ``gen_ai.provider.name``,
    ``gen_ai.request.model``, ``gen_ai.request.choice.count`` (when ``n != 1``: the k samples),
    ``gen_ai.request.temperature``, ``gen_ai.request.max_tokens``, ``gen_ai.request.seed``,
    ``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
    ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``, ``error.type`` on failure, and
    ``guardrail.purpose`` (``answer``, ``verbalized``, ``consistency``, ``agreement``).

Events
    ``gen_ai.evaluation.result`` on the guard span, one per computed (or missing) signal and one for
    the decision, with ``gen_ai.evaluation.name``, ``gen_ai.evaluation.score.value``,
    ``gen_ai.evaluation.score.label`` and ``gen_ai.evaluation.explanation``.

Content capture
    Prompt and answer text are recorded (as ``gen_ai.input.messages`` / ``gen_ai.output.messages``
    JSON attributes of the model-call spans) only when capture is switched on, either per guard
    (``capture_content=True``) or with the standard environment variable
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``. Off by default.

Source: OpenTelemetry semantic conventions for generative AI (spans, events, attributes),
https://opentelemetry.io/docs/specs/semconv/gen-ai/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from guardrail import __version__
from guardrail.providers.base import ChatResult, Message

__all__ = [
    "CAPTURE_ENV",
    "EVALUATION_EVENT",
    "GUARD_SPAN",
    "capture_content_enabled",
    "emit_evaluation",
    "get_tracer",
    "guard_span",
    "model_call_span",
    "record_error",
    "record_result",
]

GUARD_SPAN = "guardrail.guard"
EVALUATION_EVENT = "gen_ai.evaluation.result"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def get_tracer(tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """guardrail's tracer from ``tracer_provider`` if given (the usual instrumentation-library
    argument), else from the *global* tracer provider (a no-op until the host sets one)."""
    return trace.get_tracer("guardrail", __version__, tracer_provider=tracer_provider)


def capture_content_enabled(explicit: bool | None = None) -> bool:
    """Whether prompt/answer text may be recorded: ``explicit`` if given, else the env variable."""
    if explicit is not None:
        return explicit
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@contextmanager
def guard_span(
    tracer: trace.Tracer, *, domain: str, policy: str, model: str | None
) -> Iterator[Span]:
    """The ``guardrail.guard`` span around one guarded chat (current span inside the block)."""
    attrs: dict[str, Any] = {"guardrail.domain": domain, "guardrail.policy": policy}
    if model:
        attrs["gen_ai.request.model"] = model
    with tracer.start_as_current_span(
        GUARD_SPAN, kind=SpanKind.INTERNAL, attributes=attrs, record_exception=False
    ) as span:
        yield span


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
) -> Iterator[Span]:
    """A ``chat {model}`` CLIENT span for one model call, with GenAI request attributes set.

    Exceptions raised inside the block are recorded (``error.type`` = the exception class name,
    status ERROR) and re-raised.
    """
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "guardrail.purpose": purpose,
    }
    if n != 1:
        attrs["gen_ai.request.choice.count"] = n
    if temperature is not None:
        attrs["gen_ai.request.temperature"] = temperature
    if max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = max_tokens
    if seed is not None:
        attrs["gen_ai.request.seed"] = seed
    if capture_content and messages is not None:
        attrs["gen_ai.input.messages"] = json.dumps(
            [{"role": m.role, "parts": [{"type": "text", "content": m.content}]} for m in messages]
        )
    with tracer.start_as_current_span(
        f"chat {model}",
        kind=SpanKind.CLIENT,
        attributes=attrs,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            record_error(span, exc)
            raise


def record_result(span: Span, result: ChatResult, *, capture_content: bool = False) -> None:
    """Set the GenAI response attributes of a model-call span from a :class:`ChatResult`."""
    span.set_attribute("gen_ai.response.model", result.model)
    if result.response_id:
        span.set_attribute("gen_ai.response.id", result.response_id)
    span.set_attribute("gen_ai.response.finish_reasons", result.finish_reasons)
    span.set_attribute("gen_ai.usage.input_tokens", result.usage.input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", result.usage.output_tokens)
    if result.failed:
        span.set_attribute("guardrail.samples.failed", result.failed)
    if capture_content:
        span.set_attribute(
            "gen_ai.output.messages",
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


def record_error(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed: ``error.type`` = exception class name, status ERROR."""
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))


def emit_evaluation(
    span: Span,
    name: str,
    *,
    score_value: float | None = None,
    score_label: str | None = None,
    explanation: str | None = None,
) -> None:
    """Add one ``gen_ai.evaluation.result`` event to ``span``.

    ``name`` is the evaluation (signal) name, e.g. ``consistency`` or ``guardrail.decision``;
    ``score_value`` a number (confidences in [0, 1]); ``score_label`` a short human label.
    """
    attrs: dict[str, Any] = {"gen_ai.evaluation.name": name}
    if score_value is not None:
        attrs["gen_ai.evaluation.score.value"] = float(score_value)
    if score_label is not None:
        attrs["gen_ai.evaluation.score.label"] = score_label
    if explanation:
        attrs["gen_ai.evaluation.explanation"] = explanation
    span.add_event(EVALUATION_EVENT, attributes=attrs)
