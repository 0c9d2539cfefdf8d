"""ReplayProvider / RecordingProvider: JSONL recorded responses served back without a network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servers.fake_openai import FakeOpenAIServer

from guardrail.providers import (
    OpenAICompatProvider,
    RecordingProvider,
    ReplayMissError,
    ReplayProvider,
    ServerError,
)

Q = [{"role": "user", "content": "Is aspirin an NSAID?"}]


def completion(*texts: str) -> dict[str, object]:
    return {
        "id": "x",
        "model": "rec-model",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": len(texts)},
    }


def write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("# recorded\n\n" + "\n".join(json.dumps(r) for r in records) + "\n")
    return path


async def test_replays_in_order_and_cycles(tmp_path: Path) -> None:
    f = write(
        tmp_path / "r.jsonl",
        [
            {"messages": Q, "response": completion("Yes.")},
            {"messages": Q, "response": completion("Yes, it is.")},
        ],
    )
    p = ReplayProvider(f)
    texts = [(await p.chat(Q)).text for _ in range(3)]
    assert texts == ["Yes.", "Yes, it is.", "Yes."]


async def test_n_samples_span_records(tmp_path: Path) -> None:
    f = write(
        tmp_path / "r.jsonl",
        [
            {"messages": Q, "response": completion("A", "B")},
            {"messages": Q, "response": completion("C")},
        ],
    )
    r = await ReplayProvider(f).chat(Q, n=3)
    assert [c.text for c in r.choices] == ["A", "B", "C"]
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert r.calls == 2 and r.usage.input_tokens == 10 and r.usage.output_tokens == 3


async def test_model_specific_records_win(tmp_path: Path) -> None:
    recs = [
        {"messages": Q, "response": completion("generic")},
        {"model": "m2", "messages": Q, "response": completion("from m2")},
    ]
    p = ReplayProvider(recs)
    assert (await p.chat(Q, model="m2")).text == "from m2"
    assert (await p.chat(Q, model="m1")).text == "generic"


async def test_miss_and_replayed_error(tmp_path: Path) -> None:
    p = ReplayProvider(
        [{"messages": Q, "error": {"type": "ServerError", "message": "recorded outage"}}]
    )
    with pytest.raises(ServerError, match="recorded outage"):
        await p.chat(Q)
    with pytest.raises(ReplayMissError, match="no recorded response"):
        await p.chat([{"role": "user", "content": "something else"}])


def test_bad_file_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"messages": Q, "response": completion("ok")}) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        ReplayProvider(f)
    f.write_text(json.dumps({"messages": Q}) + "\n")
    with pytest.raises(ValueError, match="needs 'response' or 'error'"):
        ReplayProvider(f)


async def test_record_then_replay_round_trip(tmp_path: Path) -> None:
    with FakeOpenAIServer(["Yes, aspirin is an NSAID."]) as srv:
        live = OpenAICompatProvider(srv.base_url, model="fake-model")
        rec = RecordingProvider(live, tmp_path / "rec.jsonl")
        original = await rec.chat(Q, logprobs=True)
        await rec.aclose()
    replayed = await ReplayProvider(tmp_path / "rec.jsonl").chat(
        Q, model="fake-model", logprobs=True
    )
    assert replayed.text == original.text
    assert replayed.choices[0].logprobs == original.choices[0].logprobs
    assert replayed.usage == original.usage


async def test_recorded_text_with_unicode_line_separators_replays_whole(tmp_path: Path) -> None:
    # A reply containing U+0085 / U+2028 written raw (ensure_ascii=False) must stay one JSONL
    # record: JSON Lines splits on "\n" only, not on every str.splitlines() boundary.
    reply = "Hamlet\x85by Shakespeare\u2028(1600)"
    line = json.dumps({"messages": Q, "response": completion(reply)}, ensure_ascii=False)
    f = tmp_path / "r.jsonl"
    f.write_text(line + "\n", encoding="utf-8")
    assert (await ReplayProvider(f).chat(Q)).text == reply
