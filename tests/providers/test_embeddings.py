"""OpenAICompatProvider.embed against the real-socket fake server (tests/servers/fake_openai.py):
request shape, input order, retries, malformed bodies, and parse_embeddings on known documents."""

from __future__ import annotations

from typing import Any

import pytest
from servers.fake_openai import FakeOpenAIServer, Fault

from guardrail.providers import (
    BadRequestError,
    EmbeddingProvider,
    OpenAICompatProvider,
    ResponseFormatError,
    ServerError,
    parse_embeddings,
)


def make(server: FakeOpenAIServer, **kw: Any) -> OpenAICompatProvider:
    kw.setdefault("retry_initial_wait", 0.01)
    kw.setdefault("retry_max_wait", 0.5)
    return OpenAICompatProvider(server.base_url, model="embed-model", **kw)


def by_length(text: str) -> list[float]:
    """A known vector per text: [len(text), 1.0]."""
    return [float(len(text)), 1.0]


async def test_one_request_for_all_texts_in_input_order(server: FakeOpenAIServer) -> None:
    server.embeddings = by_length
    p = make(server)
    assert isinstance(p, EmbeddingProvider)
    vecs = await p.embed(["Paris", "It is Paris", "x"])
    assert vecs == [[5.0, 1.0], [11.0, 1.0], [1.0, 1.0]]
    assert len(server.embedding_requests) == 1
    body = server.embedding_requests[0]
    assert body == {
        "model": "embed-model",
        "input": ["Paris", "It is Paris", "x"],
        "encoding_format": "float",
    }
    assert server.requests == []  # no chat call
    assert await p.embed([]) == [] and len(server.embedding_requests) == 1  # nothing sent


async def test_a_500_is_retried_then_succeeds(server: FakeOpenAIServer) -> None:
    server.embeddings = by_length
    server.faults.append(Fault.status(500))
    vecs = await make(server).embed(["ab"])
    assert vecs == [[2.0, 1.0]]
    assert len(server.embedding_requests) == 2


async def test_retries_stop_and_calls_are_counted(server: FakeOpenAIServer) -> None:
    server.embeddings = by_length
    for _ in range(3):
        server.faults.append(Fault.status(503))
    with pytest.raises(ServerError) as info:
        await make(server, max_retries=2).embed(["ab"])
    assert info.value.calls == 3 and len(server.embedding_requests) == 3


async def test_wrong_count_is_a_format_error_retried_like_a_truncated_body(
    server: FakeOpenAIServer,
) -> None:
    server.embeddings = by_length

    def drop_one(doc: dict[str, Any]) -> dict[str, Any]:
        doc["data"] = doc["data"][:1]
        return doc

    server.faults.extend([Fault.edit(drop_one), Fault.truncated()])
    vecs = await make(server).embed(["a", "bcd"])  # third attempt is clean
    assert vecs == [[1.0, 1.0], [3.0, 1.0]]
    assert len(server.embedding_requests) == 3


async def test_server_without_embeddings_is_a_bad_request(server: FakeOpenAIServer) -> None:
    # server.embeddings is None: the route answers 404, which is never retried
    with pytest.raises(BadRequestError):
        await make(server).embed(["a"])


async def test_a_single_string_is_rejected(server: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="list of strings"):
        await make(server).embed("Paris")  # type: ignore[arg-type]


def test_parse_embeddings_orders_by_index_and_mean_pools_per_token_vectors() -> None:
    doc = {
        "data": [
            {"index": 1, "embedding": [[1.0, 2.0], [3.0, 4.0]]},  # per token: mean [2, 3]
            {"index": 0, "embedding": [0.5, -1.0]},
        ]
    }
    assert parse_embeddings(doc, expected=2) == [[0.5, -1.0], [2.0, 3.0]]


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"data": [{"index": 0, "embedding": "AAAA"}]},  # base64
        {"data": [{"index": 0, "embedding": [1.0, float("nan")]}]},
        {"data": [{"index": 0, "embedding": [1.0, True]}]},
        {"data": [{"index": 0, "embedding": []}]},
        {"data": [{"index": 0, "embedding": [[1.0], [1.0, 2.0]]}]},
    ],
)
def test_parse_embeddings_rejects_malformed_documents(doc: dict[str, Any]) -> None:
    with pytest.raises(ResponseFormatError):
        parse_embeddings(doc, expected=1)


def test_parse_embeddings_rejects_mixed_lengths() -> None:
    doc = {"data": [{"embedding": [1.0, 2.0]}, {"embedding": [1.0]}]}
    with pytest.raises(ResponseFormatError, match="different lengths"):
        parse_embeddings(doc, expected=2)


async def test_embed_batch_size_splits_requests_and_keeps_order(server: FakeOpenAIServer) -> None:
    server.embeddings = by_length
    vecs = await make(server, embed_batch_size=2).embed(["a", "bb", "ccc"])
    assert vecs == [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]
    assert sorted(len(b["input"]) for b in server.embedding_requests) == [1, 2]
    with pytest.raises(ValueError, match="embed_batch_size"):
        make(server, embed_batch_size=0)
