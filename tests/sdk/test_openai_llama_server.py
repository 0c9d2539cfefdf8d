"""The drop-in with the real ``openai`` package against a real ``llama_cpp.server`` (the embedded
SmolLM2 GGUF) on 127.0.0.1, started with an API key: sync, async, tools, ``response_format``,
``stop``, ``timeout``, a token cap cut (``finish_reason="length"``), a wrong key (401) and a
refused connection. Small ``max_tokens`` keep it fast; assertions are on properties of the reply
(never on the small model's wording)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers.llama_server import free_port, run_llama_server

from guardrail.policy import parse_policy
from guardrail.providers import LocalModelUnavailable, embedded_model_path
from guardrail.sdk import AsyncGuardedClient, Guard, GuardedClient, OpenAIClientProvider

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")
from openai.types.chat import ChatCompletion  # noqa: E402

try:
    import llama_cpp.server.app  # noqa: F401

    GGUF = str(embedded_model_path())
    SKIP = ""
except (ImportError, LocalModelUnavailable) as exc:
    GGUF, SKIP = "", f"local extra not installed (pip install 'guardrail-uq[local]'): {exc}"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(SKIP), reason=SKIP)]

KEY = "sk-local-test"
POLICY = """
policy e2e {
  on_missing notice
  signals {
    samples 2 temperature 0.8
  }
  rule unstable {
    when consistency < 0.5
    then abstain "The samples disagree."
  }
  otherwise notice "Checked by guardrail."
}
"""
Q = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    args = ("--n_ctx", "1024")
    with run_llama_server(tmp_path_factory.mktemp("llama"), GGUF, *args, api_key=KEY) as base:
        yield base


def _guard(client: object) -> Guard:
    p = parse_policy(POLICY, "e2e.guard")
    return Guard({p.name: p}, OpenAIClientProvider(client, model="smollm2"), max_tokens=24)


def _check(c: object) -> ChatCompletion:
    assert isinstance(c, ChatCompletion)
    ChatCompletion.model_validate(c.to_dict())  # a valid plain ChatCompletion document
    assert c.id and c.guardrail is not None  # type: ignore[attr-defined]
    r = c.guardrail  # type: ignore[attr-defined]
    assert r.status in {"answered", "abstained"}, r.error
    withheld = r.status == "abstained"
    assert (c.choices[0].finish_reason == "content_filter") is withheld
    assert c.usage is not None and c.usage.completion_tokens >= 1
    # the guard made 1 answer call + 2 samples (llama_cpp.server ignores n: single calls)
    g = c.guardrail_usage  # type: ignore[attr-defined]
    assert g.calls == 3 and g.completion_tokens > c.usage.completion_tokens
    return c


def test_sync_stop_response_format_length_timeout(base_url: str) -> None:
    oa = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    with GuardedClient(guard=_guard(oa)) as client:
        c = _check(client.chat.completions.create(model="smollm2", messages=Q, seed=1))
        assert c.id.startswith("chatcmpl-")  # llama.cpp's own id, not guardrail's
        stopped = _check(
            client.chat.completions.create(model="smollm2", messages=Q, stop=["."], seed=2)
        )
        assert "." not in stopped.guardrail.raw_answer  # type: ignore[attr-defined]
        js = _check(
            client.chat.completions.create(
                model="smollm2",
                messages=[{"role": "user", "content": "Reply with a JSON object with a key a."}],
                response_format={"type": "json_object"},
                seed=3,
            )
        )
        assert js.guardrail.raw_answer.lstrip().startswith("{")  # type: ignore[attr-defined]
        cut = client.chat.completions.create(
            model="smollm2", messages=Q, max_completion_tokens=1, seed=4
        )
        r = cut.guardrail
        assert r is not None
        assert cut.choices[0].finish_reason == (
            "length" if r.status == "answered" else "content_filter"
        )
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="smollm2", messages=Q, timeout=0.001)
        tools = [
            {
                "type": "function",
                "function": {"name": "capital", "parameters": {"type": "object"}},
            }
        ]
        t = client.chat.completions.create(model="smollm2", messages=Q, tools=tools, seed=5)
        assert isinstance(t, ChatCompletion)
        if t.guardrail is None:  # the model called the tool: passed through as is
            assert t.choices[0].message.tool_calls
        else:
            _check(t)


async def test_async_client(base_url: str) -> None:
    oa = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    async with AsyncGuardedClient(guard=_guard(oa)) as client:
        _check(await client.chat.completions.create(model="smollm2", messages=Q, seed=6))


def test_wrong_key_and_refused_connection(base_url: str) -> None:
    bad = GuardedClient(guard=_guard(openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)))
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="smollm2", messages=Q)
    dead = openai.OpenAI(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        GuardedClient(guard=_guard(dead)).chat.completions.create(model="smollm2", messages=Q)


def test_raw_response_headers_and_one_span_per_request(base_url: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    oa = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    p = parse_policy(POLICY, "e2e.guard")
    guard = Guard(
        {p.name: p},
        OpenAIClientProvider(oa, model="smollm2"),
        max_tokens=24,
        tracer_provider=tp,
    )
    client = GuardedClient(guard=guard)
    raw = client.chat.completions.with_raw_response.create(model="smollm2", messages=Q, seed=7)
    # the upstream answer call's HTTP response (uvicorn's JSON reply)
    assert raw.status_code == 200 and raw.method == "POST"
    assert raw.headers["content-type"].startswith("application/json")
    assert int(raw.headers["content-length"]) > 0
    assert str(raw.url) == f"{base_url}/chat/completions"
    c = _check(raw.parse())
    spans = list(exp.get_finished_spans())
    chats = [s for s in spans if s.kind is trace.SpanKind.CLIENT]
    guard_span = next(s for s in spans if s.name == "guardrail.guard")
    # llama_cpp.server ignores n: the answer, the n=2 sampling request (1 choice back) and one
    # single top-up request, a span each, children of the guard span, each its own response id
    assert len(chats) == 3 == c.guardrail_usage.calls  # type: ignore[attr-defined]
    port = int(base_url.split(":")[2].split("/")[0])
    ids = set()
    for s in chats:
        a = s.attributes or {}
        assert (a["server.address"], a["server.port"]) == ("127.0.0.1", port)
        assert s.parent is not None and guard_span.context is not None
        assert s.parent.span_id == guard_span.context.span_id
        assert s.status.status_code is not trace.StatusCode.ERROR
        ids.add(a["gen_ai.response.id"])
    assert len(ids) == 3 and c.id in ids  # the completion's id is the answer span's
    seeds = sorted(int((s.attributes or {})["gen_ai.request.seed"]) for s in chats)
    assert seeds == [7, 8, 9]  # answer seed 7; samples seed+1, seed+2
    # the spans' usage sums to what the guard counted (the server's own usage figures)
    g = c.guardrail_usage  # type: ignore[attr-defined]
    assert sum(int((s.attributes or {})["gen_ai.usage.input_tokens"]) for s in chats) == (
        g.prompt_tokens
    )
    assert sum(int((s.attributes or {})["gen_ai.usage.output_tokens"]) for s in chats) == (
        g.completion_tokens
    )


def test_langchain_chat_openai_one_guarded_call(base_url: str) -> None:
    lc = pytest.importorskip("langchain_openai", reason="langchain-openai (dev extra) missing")
    oa = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    client = GuardedClient(guard=_guard(oa))
    llm = lc.ChatOpenAI(
        client=client.chat.completions, model="smollm2", api_key=KEY, max_tokens=24, seed=11
    )
    m = llm.invoke("What is the capital of France? Answer in one word.")
    # the guarded text: the answer with the policy's notice, or the abstention message
    assert isinstance(m.content, str)
    assert m.content.endswith("Checked by guardrail.") or m.content == "The samples disagree."
    assert m.response_metadata["id"].startswith("chatcmpl-")  # llama.cpp's own id
    assert m.response_metadata["finish_reason"] in {"stop", "length", "content_filter"}
