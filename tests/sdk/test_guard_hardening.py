"""Nothing escapes ``Guard.chat`` and deadlines hold (issue 12, findings 1 and 2)."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault

from guardrail import Guard
from guardrail.policy import parse_policy
from guardrail.providers import ChatResult, MessagesLike
from guardrail.sdk.guard import DEFAULT_FAILURE_MESSAGE, DEFAULT_TIMEOUT, GuardError

HEDGES = """
policy general {
  rule hedgy {
    when hedges >= 2
    then notice "The answer hedges."
  }
  otherwise pass
}
"""
SAMPLES = """
policy general {
  signals {
    samples 3 temperature 0.9
  }
  rule unstable {
    when consistency < 0.5
    then abstain "Not sure."
  }
  otherwise pass
}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]
NO_RETRY = {"max_retries": 0}


def test_deeply_nested_reply_gives_failed(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    depth = 50_000  # json.loads raised RecursionError, which escaped Guard.chat (100 KB body)
    server.faults.append(Fault.body(b'{"choices": ' + b"[" * depth + b"]" * depth + b"}"))
    r = make_guard(HEDGES, NO_RETRY).chat_sync(MSGS, max_tokens=2000)
    assert r.status == "failed" and r.text == DEFAULT_FAILURE_MESSAGE
    assert r.error is not None and r.error.startswith("ResponseFormatError")


def test_surrogate_reply_flows_into_the_sampling_request(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # the answer carries a lone surrogate; the samples request must still be encodable
    server.answers = ["Paris \ud800."]
    r = make_guard(SAMPLES, NO_RETRY).chat_sync(MSGS)
    assert r.status == "answered" and r.answer == "Paris \ufffd."
    assert r.values["consistency"] == 1.0  # 3 identical samples
    assert len(server.requests) == 2


def test_ten_megabyte_reply_is_refused_quickly(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    doc = {"choices": [{"message": {"content": "perhaps maybe " * 750_000}}]}  # ~10.5 MB
    server.faults.append(Fault.body(json.dumps(doc).encode()))
    r = make_guard(HEDGES, NO_RETRY).chat_sync(MSGS)
    # the guard's default max_tokens 512 -> 98,304-byte budget; hedge regexes never ran on it
    assert r.status == "failed" and r.error is not None and "98304-byte limit" in r.error


def test_guard_timeout_is_finite_by_default() -> None:
    default = inspect.signature(Guard.__init__).parameters["timeout"].default
    assert default == DEFAULT_TIMEOUT == 120.0


def test_trickling_server_is_cut_at_the_guard_deadline(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # one byte every 0.3 s of a ~250-byte reply: ~75 s; provider read timeout 60 s never fires
    server.faults.append(Fault.trickle(0.3))
    g = make_guard(HEDGES, NO_RETRY, timeout=1.0)
    t0 = time.monotonic()
    r = g.chat_sync(MSGS)
    took = time.monotonic() - t0
    assert r.status == "failed" and r.error == "guard timeout (1.0 s) expired"
    assert took < 1.0 + 1.0


class _Broken:
    """A provider with a bug: it raises something no provider should."""

    name = "broken"
    default_model = "m"

    async def chat(self, messages: MessagesLike, **kw: Any) -> ChatResult:
        raise KeyError("internal bug")

    async def aclose(self) -> None:
        return None


def test_unexpected_errors_become_failed_or_guard_error() -> None:
    p = parse_policy(HEDGES, "general.guard")
    r = Guard({p.name: p}, _Broken()).chat_sync(MSGS)
    assert r.status == "failed" and r.error == "KeyError: 'internal bug'"
    with pytest.raises(GuardError, match="internal bug"):
        Guard({p.name: p}, _Broken(), strict=True).chat_sync(MSGS)


SECRET_PW = "pw-Secret-77"
SECRET_Q = "sk-query-88"


def test_a_key_in_base_url_reaches_no_result_span_or_explanation(
    server: FakeOpenAIServer,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from guardrail.providers import OpenAICompatProvider

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    url = server.base_url.replace("http://", f"http://u:{SECRET_PW}@") + f"?api_key={SECRET_Q}"
    # the answer call succeeds, the samples call fails twice with 500: its error text lands in
    # the signal report, the evaluation events and the span status
    server.faults.extend([Fault.ok(), Fault.status(500), Fault.status(500)])
    p = parse_policy(SAMPLES, "general.guard")
    prov = OpenAICompatProvider(url, model="m", max_retries=1, retry_initial_wait=0.01)
    r = Guard({p.name: p}, prov, tracer_provider=tp).chat_sync(MSGS)
    consistency = r.signal("consistency")
    assert consistency is not None and consistency.status == "missing"
    assert consistency.reason is not None and "HTTP 500" in consistency.reason
    # the first fault is a connection reset: the answer call itself fails
    server.faults.extend([Fault.reset(), Fault.reset()])
    failed = Guard({p.name: p}, prov, tracer_provider=tp).chat_sync(MSGS)
    assert failed.status == "failed" and failed.error is not None
    texts = [r.model_dump_json(), r.explain(), failed.model_dump_json(), failed.explain()]
    for span in exporter.get_finished_spans():
        texts.append(str(span.status.description))
        texts += [str(v) for v in span.attributes.values()]  # type: ignore[union-attr]
        for ev in span.events:
            texts += [str(v) for v in ev.attributes.values()]  # type: ignore[union-attr]
    blob = "\n".join(texts)
    assert "HTTP 500" in blob and "ProviderConnectionError" in blob
    assert SECRET_PW not in blob and SECRET_Q not in blob
