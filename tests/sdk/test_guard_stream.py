"""Guard.stream / stream_sync: hold and live streaming semantics (issue 14), on the fake server.

Expected values by hand from the policy semantics and the fake server's replies
(tests/servers/fake_openai.py: `role_answers`; streamed answers come one word token per chunk).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers
from task_leaks import guardrail_tasks

from guardrail import Guard
from guardrail.policy import Action, parse_policy
from guardrail.providers import ChatResult, Choice, Usage
from guardrail.sdk import StreamEvent

Q = [{"role": "user", "content": "What is the capital of France?"}]

# samples at temperature 0.9 (role_answers tells them from the answer call by it)
POLICY = """
policy qa {{
  {stream}
  on_missing notice
  signals {{
    samples 4 temperature 0.9
  }}
  rule guessing {{
    when consistency < 50%
    then abstain "Not sure enough to answer."
  }}
  rule weak {{
    when consistency < 100%
    then notice "Some samples disagreed."
  }}
  otherwise pass
}}
"""


async def _events(guard: Guard, **kw: object) -> list[StreamEvent]:
    kw.setdefault("domain", "qa")
    return [ev async for ev in guard.stream(Q, **kw)]  # type: ignore[arg-type]


def _text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if e.type == "delta")


async def test_default_mode_of_an_abstaining_policy_is_hold_and_shows_no_answer(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # samples: 1 of 4 agree with "Paris." -> consistency 0.25 < 0.5 -> abstain
    server.answers = role_answers(
        answer="Paris is the capital.", samples=["Paris.", "Lyon.", "Nice.", "Lille."]
    )
    events = await _events(make_guard(POLICY.format(stream="")))
    assert {e.mode for e in events} == {"hold"}
    assert [e.type for e in events][-1] == "done"
    assert "Paris" not in _text(events)  # no chunk of the withheld answer
    assert _text(events) == "Not sure enough to answer."
    done = events[-1]
    assert done.response is not None and done.response.action is Action.ABSTAIN
    # hold: every event already carries the verdict
    assert all(e.response is done.response for e in events)
    # the answer call was not streamed; the samples (n=4) went out with it
    assert not any(b.get("stream") for b in server.requests)
    assert sorted(b.get("n") or 1 for b in server.requests) == [1, 4]


async def test_hold_pass_streams_the_answer_in_word_pieces(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris is the capital.", samples=["Paris."])
    events = await _events(make_guard(POLICY.format(stream="stream hold")))
    # 4 of 4 samples agree -> consistency 1.0 -> pass; pieces: "Paris ", "is ", "the ", ...
    assert [e.text for e in events if e.type == "delta"] == ["Paris ", "is ", "the ", "capital."]
    assert events[-1].response is not None and events[-1].response.action is Action.PASS


async def test_live_relays_tokens_and_retracts_an_abstention(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(
        answer="Paris is the capital.", samples=["Paris.", "Lyon.", "Nice.", "Lille."]
    )
    events = await _events(make_guard(POLICY.format(stream="stream live")))
    assert {e.mode for e in events} == {"live"}
    # the fake server streams one word token per chunk: "Paris", " is", " the", " capital."
    deltas = [e.text for e in events if e.type == "delta"]
    assert deltas == ["Paris", " is", " the", " capital."]
    assert [e.type for e in events][-2:] == ["retraction", "done"]
    retraction, done = events[-2], events[-1]
    assert retraction.text == "Not sure enough to answer."
    assert done.retracted and done.response is not None
    assert (
        done.response.action is Action.ABSTAIN and done.response.answer == "Paris is the capital."
    )
    # tokens carry no verdict: it did not exist yet
    assert all(e.response is None for e in events if e.type == "delta")
    # one streamed answer call, one n=4 sampling call
    assert sorted((bool(b.get("stream")), b.get("n") or 1) for b in server.requests) == [
        (False, 4),
        (True, 1),
    ]


async def test_live_pass_with_notice_appends_the_notice(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # 3 of 4 samples agree -> 0.75: not < 0.5, but < 1.0 -> notice
    server.answers = role_answers(answer="Paris.", samples=["Paris.", "Paris.", "Paris.", "Lyon."])
    events = await _events(make_guard(POLICY.format(stream="stream live")))
    assert [e.type for e in events] == ["delta", "delta", "done"]
    assert _text(events) == "Paris.\n\nSome samples disagreed."
    assert events[-1].response is not None and events[-1].response.values["consistency"] == 0.75
    assert not events[-1].retracted


@pytest.mark.parametrize("include_usage", [True, False])
async def test_live_cost_counts_the_streamed_answer_like_chat(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], include_usage: bool
) -> None:
    # 3 of 4 samples agree -> 0.75 -> notice, in every mode (the same scripted upstream)
    ans = "Paris is the capital."
    server.answers = role_answers(answer=ans, samples=[ans, ans, ans, "Lyon."])
    guard = make_guard(POLICY.format(stream="stream live"))
    chat = await guard.chat(Q, domain="qa")
    hold = (await _events(guard, mode="hold"))[-1].response
    server.stream_usage = include_usage  # False: the upstream sends no usage chunk
    live = (await _events(guard))[-1].response
    assert chat.action is Action.NOTICE and hold is not None and live is not None
    assert live.action is Action.NOTICE and hold.action is Action.NOTICE
    # by hand (the fake server counts words): the answer call has "What is the capital of
    # France?" = 6 in, "Paris is the capital." = 4 out; the n=4 sampling call 6 in,
    # 4 + 4 + 4 + 1 = 13 out -> 2 calls, 12 in, 17 out
    costs = [(r.cost.calls, r.cost.input_tokens, r.cost.output_tokens) for r in (chat, hold)]
    assert costs == [(2, 12, 17), (2, 12, 17)]
    if include_usage:
        assert (live.cost.calls, live.cost.input_tokens, live.cost.output_tokens) == (2, 12, 17)
        assert live.cost.unmetered_calls == 0
    else:
        # the answer call counts, its tokens are unknown: only the samples' 6 in / 13 out
        assert (live.cost.calls, live.cost.input_tokens, live.cost.output_tokens) == (2, 6, 13)
        assert live.cost.unmetered_calls == 1
    assert chat.cost.unmetered_calls == hold.cost.unmetered_calls == 0
    # the streamed answer call asked for its usage
    assert [b.get("stream_options") for b in server.requests if b.get("stream")] == [
        {"include_usage": True}
    ]


async def test_mode_argument_overrides_the_policy(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris."])
    events = await _events(make_guard(POLICY.format(stream="stream live")), mode="hold")
    assert {e.mode for e in events} == {"hold"}
    assert not any(b.get("stream") for b in server.requests)


def test_stream_sync_gives_the_same_events(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(
        answer="Paris is the capital.", samples=["Paris.", "Lyon.", "Nice.", "Lille."]
    )
    guard = make_guard(POLICY.format(stream="stream live"))
    events = list(guard.stream_sync(Q, domain="qa"))
    assert [e.type for e in events] == ["delta"] * 4 + ["retraction", "done"]
    assert events[-2].text == "Not sure enough to answer."


def test_stream_sync_closed_early_stops_cleanly(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    server.answers = role_answers(answer="Paris is the capital.", samples=["Paris."])
    it = make_guard(POLICY.format(stream="stream live")).stream_sync(Q, domain="qa")
    first = next(it)
    assert first.type == "delta" and first.text == "Paris"
    it.close()  # type: ignore[attr-defined]  # cancels the assessment; no exception escapes


async def test_unknown_domain_raises_before_any_event(make_guard: Callable[..., Guard]) -> None:
    with pytest.raises(ValueError, match="known domains: qa"):
        await _events(make_guard(POLICY.format(stream="")), domain="nope")


def _sse(*deltas: tuple[dict[str, object], str | None]) -> str:
    docs = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "main-model",
            "choices": [{"index": 0, "delta": d, "finish_reason": f}],
        }
        for d, f in deltas
    ]
    return "".join(f"data: {json.dumps(doc)}\n\n" for doc in docs)


@pytest.mark.parametrize(
    ("tail", "error"),
    [
        # the connection closes after two tokens: no finish_reason, no [DONE]
        ("", "ended before the answer was complete"),
        # the server reports a failure mid-stream as an error event, then [DONE]
        (
            'data: {"error": {"message": "model crashed", "type": "server_error"}}\n\n'
            "data: [DONE]\n\n",
            "reported an error: model crashed",
        ),
    ],
)
async def test_live_stream_broken_after_tokens_is_retracted_not_answered(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], tail: str, error: str
) -> None:
    # docs/serve.md: an upstream that breaks after the first token ends the stream with a
    # retraction whose replacement is the failure message (status "failed")
    head = _sse(
        ({"role": "assistant"}, None), ({"content": "Paris"}, None), ({"content": " is"}, None)
    )
    server.faults.append(Fault.body((head + tail).encode(), length_header=False))
    # a policy with no sampling call: the one fault can only meet the answer stream
    guard = make_guard(
        "policy qa {\n  stream live\n  signals {\n    hedges\n  }\n  otherwise pass\n}\n"
    )
    events = await _events(guard)
    assert [e.text for e in events if e.type == "delta"] == ["Paris", " is"]
    assert [e.type for e in events][-2:] == ["retraction", "done"]
    assert events[-2].text == guard.failure_message
    done = events[-1].response
    assert done is not None and done.status == "failed"
    assert done.error is not None and error in done.error


@pytest.mark.parametrize("mode", ["HOLD", "held", ""])
async def test_a_misspelt_mode_is_refused_not_streamed_live(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], mode: str
) -> None:
    # an abstaining answer (1 of 4 samples agree -> 0.25 < 0.5): "HOLD" used to select live
    # and show "Paris is the capital." token by token before retracting it
    server.answers = role_answers(
        answer="Paris is the capital.", samples=["Paris.", "Lyon.", "Nice.", "Lille."]
    )
    with pytest.raises(ValueError, match=f"mode must be 'hold' or 'live'.*got '{mode}'"):
        await _events(make_guard(POLICY.format(stream="")), mode=mode)
    assert server.requests == []  # refused before any call


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
async def test_live_stream_closed_early_leaves_no_task_running(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard]
) -> None:
    # the samples request (n=4) gets no reply until its client goes away (`hold`); the consumer
    # stops after the first token: closing the stream must cancel the assessment *and wait for
    # it* (before: cancelled but still pending when the stream was closed)
    server.answers = role_answers(answer="Paris is the capital.", samples=["Paris."])
    server.hold = lambda body: body.get("n") == 4
    guard = make_guard(POLICY.format(stream="stream live"))
    try:
        events = guard.stream(Q, domain="qa")
        first = await anext(events)  # type: ignore[call-overload]
        assert first.type == "delta" and first.text == "Paris"
        await events.aclose()  # type: ignore[attr-defined]
        assert guardrail_tasks() == []
    finally:
        await guard.aclose()
        server.release_held()


class _NoStreamProvider:
    """A provider without ``stream_chat`` (like the embedded model): live gets its whole answer
    as one delta. Every call reports 7 prompt tokens and 1 completion token per choice."""

    name = "nostream"
    default_model = "m"

    async def chat(self, messages: object, **kw: object) -> ChatResult:
        n = kw.get("n") if isinstance(kw.get("n"), int) else 1
        choices = [Choice(index=i, text="Paris.") for i in range(n)]
        return ChatResult(
            provider="nostream",
            model="m",
            choices=choices,
            usage=Usage(input_tokens=7, output_tokens=n),
        )

    async def aclose(self) -> None:
        return None


async def test_live_without_stream_chat_counts_the_answer_calls_usage() -> None:
    policy = parse_policy(POLICY.format(stream="stream live"), "qa.guard")
    guard = Guard({policy.name: policy}, _NoStreamProvider())  # type: ignore[arg-type]
    chat = await guard.chat(Q, domain="qa")
    live = [ev async for ev in guard.stream(Q, domain="qa")][-1].response
    assert live is not None and live.action is chat.action is Action.PASS
    # answer 7 in / 1 out + one n=4 sampling call 7 in / 4 out = 2 calls, 14 in, 5 out
    for r in (chat, live):
        assert (r.cost.calls, r.cost.input_tokens, r.cost.output_tokens) == (2, 14, 5)
        assert r.cost.unmetered_calls == 0
