"""The ``create`` contract of the drop-in against the *installed* ``openai`` package: every
parameter of ``openai.resources.chat.completions.Completions.create`` is a guard argument,
forwarded to the answer call (checked on the wire of the fake server, tests/servers/fake_openai.py),
or rejected with a clear error, and docs/sdk.md's per-argument table names each one; the typed
``stream`` overloads; openai's ``omit``/``NOT_GIVEN`` sentinels; ``with_raw_response`` headers of
the upstream answer call; a tool-call reply is passed through without failure telemetry.
``stream`` / ``stream_options`` are the streaming class (test_guarded_client_stream.py)."""

from __future__ import annotations

import inspect
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from answer_values import TOOL, VALUES
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sampling_cases import BAD, EDGES, case_id
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail.policy import parse_policy
from guardrail.sdk import AsyncGuardedClient, Guard, GuardedClient, OpenAIClientProvider
from guardrail.sdk.client import (
    ANSWER_ONLY_ARGS,
    GUARD_ARGS,
    REJECTED_ARGS,
    STREAM_ARGS,
    UnsupportedArgumentError,
    _Completions,
    _SyncCompletions,
)

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")
from openai.resources.chat.completions import Completions as OpenAICompletions  # noqa: E402
from openai.types.chat import ChatCompletion  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
POLICY = """
policy general {
  signals {
    samples 3 temperature 0.9
  }
  rule unstable {
    when consistency < 0.5
    then abstain "I am not sure enough to answer."
  }
  otherwise notice "Answers may be out of date."
}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]
OPENAI_PARAMS = [p for p in inspect.signature(OpenAICompletions.create).parameters if p != "self"]


def _client(server: FakeOpenAIServer, **guard_kw: Any) -> GuardedClient:
    p = parse_policy(POLICY, "general.guard")
    oa = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return GuardedClient(
        guard=Guard({p.name: p}, OpenAIClientProvider(oa), **guard_kw), domain="general"
    )


def _doc_table_rows() -> dict[str, str]:
    """docs/sdk.md's "Arguments of create" table: argument name -> handling column."""
    text = DOCS.read_text()
    table = text.split("**Arguments of `create`**", 1)[1].split("\n\n", 2)[1]
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for name in re.findall(r"`([a-z_]+)", cells[0]):
            rows[name] = cells[1]
    return rows


def test_every_openai_parameter_is_classified_accepted_and_documented() -> None:
    assert len(OPENAI_PARAMS) >= 40  # the installed openai has the full create signature
    classes = {
        "guard": set(GUARD_ARGS),
        "answer": set(ANSWER_ONLY_ARGS),
        "rejected": set(REJECTED_ARGS),
        "stream": set(STREAM_ARGS),
    }
    # the three classes are disjoint and cover every openai parameter, nothing else but ours
    assert sum(len(c) for c in classes.values()) == len(set().union(*classes.values()))
    for name in OPENAI_PARAMS:
        assert any(name in c for c in classes.values()), f"{name}: not classified"
    assert set().union(*classes.values()) <= set(OPENAI_PARAMS)
    # our create (async and sync, and with_raw_response) has each one, keyword-only
    for fn in (_Completions.create, _SyncCompletions.create):
        sig = inspect.signature(fn)
        ours = {n: p for n, p in sig.parameters.items() if n != "self"}
        assert set(ours) == set(OPENAI_PARAMS) | {"domain"}
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in ours.values())
    # docs/sdk.md: one row per argument, saying which class it is in
    rows = _doc_table_rows()
    for name in OPENAI_PARAMS:
        assert name in rows, f"docs/sdk.md argument table lacks `{name}`"
        handling = rows[name]
        if name in classes["answer"]:
            assert "answer call only" in handling, name
        elif name in classes["rejected"]:
            assert "rejected" in handling, name
        elif name in classes["stream"]:
            assert "chunk" in handling, name
        else:
            assert "every call" in handling or "samples" in handling, name


def test_create_has_typed_stream_overloads() -> None:
    for fn in (_Completions.create, _SyncCompletions.create):
        overloads = typing.get_overloads(fn)
        assert len(overloads) == 3
        streams = [inspect.signature(o).parameters["stream"].annotation for o in overloads]
        returns = [inspect.signature(o).return_annotation for o in overloads]
        assert streams == [
            "Literal[False] | _NotSent | None",
            "Literal[True]",
            "bool | _NotSent | None",
        ]
        stream = "GuardedAsyncStream" if fn is _Completions.create else "GuardedStream"
        assert returns == [
            "GuardedChatCompletion",
            stream,
            f"GuardedChatCompletion | {stream}",
        ]
        for o in overloads:  # every overload has the full openai parameter list
            assert set(inspect.signature(o).parameters) - {"self"} == set(OPENAI_PARAMS) | {
                "domain"
            }


# one value per answer-only argument: tests/answer_values.py (shared with tests/serve)


def test_every_answer_only_argument_reaches_the_answer_call_and_no_sample(
    server: FakeOpenAIServer,
) -> None:
    assert set(VALUES) == set(ANSWER_ONLY_ARGS)  # one value for each (the list is complete)
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    c = _client(server).chat.completions.create(model="main-model", messages=MSGS, **VALUES)
    assert c.guardrail is not None and c.guardrail.status == "answered"
    assert len(server.requests) == 2  # the answer call and one n=3 sampling request
    answer, samples = server.requests
    for name, value in VALUES.items():
        if name.startswith("extra_") or name == "timeout":
            continue
        assert answer[name] == value, name
        if name != "temperature":  # samples use the policy's temperature (0.9)
            assert name not in samples, name
    assert samples["temperature"] == 0.9
    assert answer["top_k"] == 3 and "top_k" not in samples  # extra_body
    assert server.headers_seen[0]["x-answer-only"] == "yes"  # extra_headers
    assert "x-answer-only" not in server.headers_seen[1]
    assert "answer_only=yes" in server.paths[0] and "answer_only" not in server.paths[1]


def test_timeout_applies_to_the_answer_call(server: FakeOpenAIServer) -> None:
    # the answer request hangs 2 s; openai's default timeout is 600 s, so only a forwarded
    # timeout=0.2 turns it into openai.APITimeoutError
    server.faults.append(Fault.hang(2.0))
    with pytest.raises(openai.APITimeoutError):
        _client(server).chat.completions.create(model="main-model", messages=MSGS, timeout=0.2)


def test_openai_sentinels_mean_not_given(server: FakeOpenAIServer) -> None:
    # agent frameworks pass openai's NOT_GIVEN / omit explicitly for arguments they do not set
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    client = _client(server)
    given = {name: openai.NOT_GIVEN for name in ANSWER_ONLY_ARGS if name != "timeout"}
    given.update(n=openai.omit, stream=openai.omit, max_tokens=openai.NOT_GIVEN)
    given.update(seed=openai.omit, stream_options=openai.NOT_GIVEN, audio=openai.omit)
    c = client.chat.completions.create(model="main-model", messages=MSGS, **given)
    assert c.guardrail is not None and c.guardrail.status == "answered"
    answer = server.requests[0]
    # nothing but the two required fields and the guard's own token cap
    assert set(answer) == {"model", "messages", "max_tokens"}
    assert answer["max_tokens"] == client.guard.max_tokens


def test_rejected_arguments_raise_type_errors(server: FakeOpenAIServer) -> None:
    client = _client(server)
    bad: list[dict[str, Any]] = [
        {"n": 2},
        {"stream_options": {"include_usage": True}},  # without stream=True
        {"audio": {"voice": "alloy", "format": "wav"}},
        {"modalities": ["text", "audio"]},
    ]
    for kw in bad:
        with pytest.raises(TypeError, match=next(iter(kw))) as err:
            client.chat.completions.create(model="main-model", messages=MSGS, **kw)
        assert isinstance(err.value, UnsupportedArgumentError | ValueError)
    with pytest.raises(UnsupportedArgumentError, match="with_raw_response does not stream"):
        client.chat.completions.with_raw_response.create(
            model="main-model", messages=MSGS, stream=True
        )
    with pytest.raises(TypeError, match="unexpected keyword"):
        client.chat.completions.with_raw_response.create(
            model="main-model", messages=MSGS, temprature=1
        )
    assert server.requests == []  # nothing was sent
    client.chat.completions.create(model="main-model", messages=MSGS, n=1)  # n=1 is fine


def test_raw_response_headers_are_the_upstream_answer_calls(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    raw = _client(server).chat.completions.with_raw_response.create(
        model="main-model", messages=MSGS
    )
    # the fake server sends x-request-id "req-" + the completion id; the answer call is its
    # first request (chatcmpl-fake-1), the n=3 sampling request the second
    assert raw.headers["x-request-id"] == "req-chatcmpl-fake-1"
    assert raw.request_id == "req-chatcmpl-fake-1"
    assert raw.status_code == 200 and str(raw.url).endswith("/chat/completions")
    assert raw.method == "POST" and len(server.requests) == 2
    c = raw.parse()
    assert isinstance(c, ChatCompletion) and c.id == "chatcmpl-fake-1"
    assert c.choices[0].message.content == "Paris.\n\nAnswers may be out of date."
    # text/json are the guarded completion, not the unguarded upstream body
    assert raw.json()["choices"][0]["message"]["content"] == c.choices[0].message.content
    assert ChatCompletion.model_validate_json(raw.text).id == "chatcmpl-fake-1"


async def test_async_raw_response(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    p = parse_policy(POLICY, "general.guard")
    oa = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    client = AsyncGuardedClient(guard=Guard({p.name: p}, OpenAIClientProvider(oa)))
    raw = await client.chat.completions.with_raw_response.create(
        model="main-model", messages=MSGS, domain="general"
    )
    assert raw.headers["x-request-id"] == "req-chatcmpl-fake-1"
    assert raw.parse().guardrail.status == "answered"
    await client.aclose()


def test_tool_call_reply_is_not_a_failed_evaluation(server: FakeOpenAIServer) -> None:
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}

    def tools(doc: dict[str, Any]) -> dict[str, Any]:
        doc["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
        doc["choices"][0]["finish_reason"] = "tool_calls"
        return doc

    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    server.faults.append(Fault.edit(tools))
    client = _client(server, tracer_provider=tp, meter_provider=mp, strict=True)
    c = client.chat.completions.create(model="main-model", messages=MSGS, tools=[TOOL])
    assert c.guardrail is None and c.choices[0].message.tool_calls is not None
    assert len(server.requests) == 1  # no samples drawn
    # usage as the server reported it: "Capital of France?" 3 words in, and the fake server
    # counted its answer "Paris." (1 word) before the edit turned it into a tool call
    g = c.guardrail_usage
    assert (g.calls, g.prompt_tokens, g.completion_tokens) == (1, 3, 1)
    spans = list(exp.get_finished_spans())
    assert len(spans) == 2
    guard = next(s for s in spans if s.name == "guardrail.guard")
    chat = next(s for s in spans if s.kind is trace.SpanKind.CLIENT)
    for s in spans:  # a successful call, not a failure
        assert s.status.status_code is not trace.StatusCode.ERROR, s.name
        assert "error.type" not in (s.attributes or {}), s.name
        assert s.events == ()  # no evaluation: nothing was evaluated
    assert (guard.attributes or {})["guardrail.status"] == "passed_through"
    assert (guard.attributes or {})["guardrail.pass_through.reason"] == "tool_calls"
    assert (guard.attributes or {})["guardrail.cost.input_tokens"] == 3
    a = chat.attributes or {}
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert a["gen_ai.response.id"] == "chatcmpl-fake-1"
    assert a["gen_ai.usage.input_tokens"] == 3
    data = reader.get_metrics_data()
    names = {
        m.name: m
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert "guardrail.decisions" not in names  # no decision, in particular no "failed" one
    (duration,) = names["gen_ai.client.operation.duration"].data.data_points
    assert "error.type" not in duration.attributes
    mp.shutdown()


TYPED_USE = """
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam
from guardrail.sdk import AsyncGuardedClient, GuardedClient

msgs: list[ChatCompletionMessageParam] = [{"role": "user", "content": "x"}]
client = GuardedClient(OpenAI())
r = client.chat.completions.create(model="m", messages=msgs, temperature=0.2, stop=["."])
reveal_type(r)
reveal_type(r.choices[0].message.content)
flag: bool = False
reveal_type(client.chat.completions.create(model="m", messages=msgs, stream=flag))
client.chat.completions.create(model="m", messages=msgs, temprature=0.2)


async def f() -> None:
    x = await AsyncGuardedClient().chat.completions.create(model="m", messages=msgs)
    reveal_type(x)
"""


@pytest.mark.slow
def test_create_type_checks_like_openai(tmp_path: Path) -> None:
    # mypy --strict on code written against openai's types: the overloads give the
    # ChatCompletion subclass back, and a misspelt keyword is a type error (as with openai)
    api = pytest.importorskip("mypy.api", reason="mypy (dev extra) is not installed")
    src = tmp_path / "use.py"
    src.write_text(TYPED_USE)
    out, _, status = api.run(["--strict", "--cache-dir", str(tmp_path / "cache"), str(src)])
    revealed = re.findall(r'Revealed type is "([^"]+)"', out)
    assert revealed == [
        "guardrail.sdk.client.GuardedChatCompletion",
        "str | None",
        "guardrail.sdk.client.GuardedChatCompletion | guardrail.sdk.client.GuardedStream",
        "guardrail.sdk.client.GuardedChatCompletion",
    ]
    errors = [line for line in out.splitlines() if ": error:" in line]
    # only the misspelt call fails (mypy reports it twice: the keyword, then no overload)
    assert errors and all(f"{src}:13:" in e for e in errors), errors
    assert 'Unexpected keyword argument "temprature"' in errors[0]
    assert status == 1


@pytest.mark.parametrize("case", BAD, ids=case_id)
def test_mistyped_sampling_arguments_are_refused_before_any_request(
    server: FakeOpenAIServer, case: tuple[str, Any, str]
) -> None:
    # the same cases guardrail serve answers with 400 (tests/sampling_cases.py)
    name, value, message = case
    client = _client(server)
    with pytest.raises(UnsupportedArgumentError) as err:
        client.chat.completions.create(model="main-model", messages=MSGS, **{name: value})
    assert message in str(err.value)
    assert isinstance(err.value, TypeError) and isinstance(err.value, ValueError)
    with pytest.raises(UnsupportedArgumentError):  # streams are checked the same way
        client.chat.completions.create(
            model="main-model", messages=MSGS, stream=True, **{name: value}
        )
    assert server.requests == []  # nothing was sent


def test_nan_temperature_is_refused(server: FakeOpenAIServer) -> None:
    with pytest.raises(UnsupportedArgumentError, match="'temperature' must be a number"):
        _client(server).chat.completions.create(
            model="main-model", messages=MSGS, temperature=float("nan")
        )
    assert server.requests == []


def test_sampling_arguments_at_the_edges_pass_through_unchanged(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    c = _client(server).chat.completions.create(model="main-model", messages=MSGS, n=1, **EDGES)
    assert c.guardrail is not None and c.guardrail.status == "answered"
    answer = server.requests[0]  # the answer call carries every one of them as given
    assert {k: answer[k] for k in EDGES} == EDGES
    assert type(answer["temperature"]) is int and type(answer["frequency_penalty"]) is float


# ------------------------------------------------------------------ with_streaming_response

GUARDED_TEXT = "Paris.\n\nAnswers may be out of date."  # 3/3 samples agree -> otherwise notice
RESPONSE_API = (
    "headers",
    "status_code",
    "url",
    "method",
    "http_version",
    "elapsed",
    "request_id",
    "is_closed",
    "http_request",
    "parse",
    "read",
    "text",
    "json",
    "close",
    "iter_bytes",
    "iter_text",
    "iter_lines",
)


def test_streaming_response_has_openais_api_response_shape() -> None:
    from openai._response import APIResponse, AsyncAPIResponse

    from guardrail.sdk import AsyncGuardedStreamedResponse, GuardedStreamedResponse

    for ours, theirs in (
        (GuardedStreamedResponse, APIResponse),
        (AsyncGuardedStreamedResponse, AsyncAPIResponse),
    ):
        for name in RESPONSE_API:
            assert hasattr(theirs, name), name  # the installed openai still has it
            a, b = getattr(ours, name), getattr(theirs, name)
            assert isinstance(a, property) == isinstance(b, property), name
            assert inspect.iscoroutinefunction(a) == inspect.iscoroutinefunction(b), name
            assert inspect.isasyncgenfunction(a) == inspect.isasyncgenfunction(b), name


def test_streaming_response_is_the_guarded_completion_with_upstream_headers(
    server: FakeOpenAIServer,
) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    client = _client(server)
    ctx = client.chat.completions.with_streaming_response.create(model="main-model", messages=MSGS)
    assert server.requests == []  # nothing is sent before the block is entered
    with ctx as r:
        assert not r.is_closed
        # the answer call is the fake server's first request (x-request-id "req-" + its id)
        assert r.headers["x-request-id"] == "req-chatcmpl-fake-1"
        assert r.request_id == "req-chatcmpl-fake-1" and r.status_code == 200
        assert r.method == "POST" and str(r.url).endswith("/chat/completions")
        c = r.parse(to=ChatCompletion)
        assert c.choices[0].message.content == GUARDED_TEXT
        assert c.guardrail is not None and c.guardrail.status == "answered"
        body = r.read()
        assert json.loads(body)["choices"][0]["message"]["content"] == GUARDED_TEXT
        assert r.text() == body.decode() and r.json() == json.loads(body)
        assert b"".join(r.iter_bytes(7)) == body and len(next(r.iter_bytes(7))) == 7
        assert "".join(r.iter_text(5)) == body.decode()
        assert "\n".join(r.iter_lines()) == body.decode()
        assert "guardrail" not in r.json()  # the verdict stays an attribute, as in parse()
    assert r.is_closed
    assert len(server.requests) == 2  # the answer call and the n=3 samples call


async def test_async_streaming_response(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    p = parse_policy(POLICY, "general.guard")
    oa = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    client = AsyncGuardedClient(guard=Guard({p.name: p}, OpenAIClientProvider(oa)))
    async with client.chat.completions.with_streaming_response.create(
        model="main-model", messages=MSGS, domain="general"
    ) as r:
        assert r.headers["x-request-id"] == "req-chatcmpl-fake-1"
        c = await r.parse()
        assert c.choices[0].message.content == GUARDED_TEXT
        body = await r.read()
        assert (await r.json())["choices"][0]["message"]["content"] == GUARDED_TEXT
        assert await r.text() == body.decode()
        assert b"".join([b async for b in r.iter_bytes(7)]) == body
        assert "".join([t async for t in r.iter_text()]) == body.decode()
        assert [line async for line in r.iter_lines()] == body.decode().splitlines()
    assert r.is_closed
    await client.aclose()


def test_streaming_response_refuses_what_create_refuses(server: FakeOpenAIServer) -> None:
    client = _client(server)
    streaming = client.chat.completions.with_streaming_response
    with (
        pytest.raises(UnsupportedArgumentError, match="with_streaming_response does not stream"),
        streaming.create(model="main-model", messages=MSGS, stream=True),
    ):
        pass
    with (
        pytest.raises(UnsupportedArgumentError, match="'temperature' must be a number"),
        streaming.create(model="main-model", messages=MSGS, temperature="hot"),
    ):
        pass
    with pytest.raises(TypeError, match="unexpected keyword"):  # at create(), as openai's
        streaming.create(model="main-model", messages=MSGS, temprature=1)
    raw = client.chat.completions.with_raw_response
    assert inspect.signature(streaming.create) == inspect.signature(raw.create)
    assert "temperature" in inspect.signature(streaming.create).parameters
    assert server.requests == []
