"""The drop-in's `create(stream=True)` over a wrapped client object whose `create` ignores
`stream` and returns the whole completion (a non-openai client, a mock in an application's
tests): the completion is read as one complete delta, the same way a server that ignores
`"stream": true` is read (`guardrail.providers.completion_delta`;
tests/sdk/test_stream_json_reply.py).
No HTTP: the wrapped client answers in-process.

Expected values by hand: the policy draws 3 samples at temperature 0.9; every sample equals the
answer, so consistency = 3/3 = 1.0 -> `otherwise pass` (nothing appended); with samples
["Paris is the capital.", "Lyon.", "Nice."] only 1 of 3 agrees, 1/3 = 0.33 < 0.5 -> abstain,
and in `live` mode the streamed answer is retracted.
"""

from __future__ import annotations

from typing import Any

import pytest

from guardrail.policy import parse_policy
from guardrail.providers import ResponseFormatError
from guardrail.sdk import AsyncGuardedClient, Guard, GuardedClient, OpenAIClientProvider

openai = pytest.importorskip("openai", reason="the openai package (dev extra) is not installed")
from openai.types.chat import ChatCompletion  # noqa: E402

POLICY = """
policy general {{
  stream {mode}
  on_missing notice
  signals {{
    samples 3 temperature 0.9
  }}
  rule unstable {{
    when consistency < 0.5
    then abstain "I am not sure enough to answer."
  }}
  otherwise pass
}}
"""
MSGS = [{"role": "user", "content": "Capital of France?"}]
ANSWER = "Paris is the capital."


def _doc(texts: list[str]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-whole",
        "object": "chat.completion",
        "created": 1,
        "model": "main-model",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": t},
                "finish_reason": "stop",
            }
            for i, t in enumerate(texts)
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


class _Completions:
    """``chat.completions`` of a client that never streams: ``create`` returns the whole
    completion whatever ``stream`` says (as an openai ``ChatCompletion`` or a plain dict)."""

    def __init__(self, samples: list[str], as_dict: bool) -> None:
        self.samples = samples
        self.as_dict = as_dict
        self.calls: list[dict[str, Any]] = []

    def _reply(self, kwargs: dict[str, Any]) -> Any:
        self.calls.append(kwargs)
        if kwargs.get("temperature") == 0.9:  # the policy's samples
            doc = _doc(self.samples[: int(kwargs.get("n") or 1)])
        else:
            doc = _doc([ANSWER])
        return doc if self.as_dict else ChatCompletion.model_validate(doc)

    def create(self, **kwargs: Any) -> Any:
        return self._reply(kwargs)


class _AsyncCompletions(_Completions):
    async def create(self, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._reply(kwargs)


class _Chat:
    def __init__(self, completions: _Completions) -> None:
        self.completions = completions


class _Client:
    def __init__(self, completions: _Completions) -> None:
        self.chat = _Chat(completions)


def _guard(client: _Client, mode: str) -> Guard:
    p = parse_policy(POLICY.format(mode=mode), "general.guard")
    return Guard({p.name: p}, OpenAIClientProvider(client, model="main-model"))


@pytest.mark.parametrize("as_dict", [False, True], ids=["ChatCompletion", "dict"])
@pytest.mark.parametrize("mode", ["live", "hold"])
def test_sync_client_returning_a_whole_completion_streams(as_dict: bool, mode: str) -> None:
    completions = _Completions([ANSWER] * 3, as_dict)
    client = GuardedClient(guard=_guard(_Client(completions), mode), domain="general")
    chunks = list(client.chat.completions.create(model="main-model", messages=MSGS, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"
    resp = chunks[-1].guardrail
    assert resp is not None and resp.status == "answered"
    assert resp.values["consistency"] == 1.0
    if mode == "live":  # the answer call asked for a stream and got the whole completion
        assert completions.calls[0].get("stream") is True
        assert [c.choices[0].delta.content for c in chunks] == ["", ANSWER, None]


@pytest.mark.parametrize("as_dict", [False, True], ids=["ChatCompletion", "dict"])
async def test_async_client_returning_a_whole_completion_is_retracted_on_abstain(
    as_dict: bool,
) -> None:
    completions = _AsyncCompletions([ANSWER, "Lyon.", "Nice."], as_dict)
    client = AsyncGuardedClient(guard=_guard(_Client(completions), "live"), domain="general")
    stream = await client.chat.completions.create(model="main-model", messages=MSGS, stream=True)
    chunks = [c async for c in stream]
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks[:-1] if c.choices)
    assert streamed == ANSWER  # shown live, then withdrawn
    last = chunks[-1]
    assert last.choices[0].finish_reason == "content_filter"
    assert last.guardrail_retracted is True
    assert last.guardrail_replacement == "I am not sure enough to answer."
    assert last.guardrail is not None and last.guardrail.status == "abstained"


async def test_a_returned_document_without_choices_is_a_format_error() -> None:
    class _Broken(_AsyncCompletions):
        async def create(self, **kwargs: Any) -> Any:  # type: ignore[override]
            return {"id": "x", "object": "chat.completion"}

    provider = OpenAIClientProvider(_Client(_Broken([], True)), model="main-model")
    with pytest.raises(ResponseFormatError):
        _ = [d async for d in provider.stream_chat(MSGS)]
