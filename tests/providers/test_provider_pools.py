"""Connection pools of OpenAICompatProvider (issue 17.4): requests fill one small pool before the
next, sequential use keeps one kept-alive connection, and every pool shares one TLS context."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from servers.fake_openai import FakeOpenAIServer

from guardrail.providers import OpenAICompatProvider
from guardrail.providers.openai_compat import _LoopClients

MSG = [{"role": "user", "content": "Capital of France?"}]


def _connections(provider: OpenAICompatProvider) -> list[int]:
    """Open connections per pool shard of the current loop (httpx/httpcore internals)."""
    entry = provider._pools()
    return [len(c._transport._pool.connections) for c in entry.clients]  # type: ignore[attr-defined]


def test_a_request_goes_to_the_first_pool_with_room_then_to_the_least_busy() -> None:
    pools = _LoopClients([object(), object(), object()], None, per_shard=2)  # type: ignore[list-item]
    # 6 requests fill shard 0, then 1, then 2 (2 each)
    assert [pools.acquire() for _ in range(6)] == [0, 0, 1, 1, 2, 2]
    assert pools.in_flight == [2, 2, 2]
    # all full: the least busy, the first of equals -> 0, then 1 (0 now has 3)
    assert [pools.acquire(), pools.acquire()] == [0, 1]
    assert pools.in_flight == [3, 3, 2]
    pools.release(0)
    pools.release(0)
    pools.release(0)  # shard 0 empty again: the next request takes it, not the least busy 2
    assert pools.acquire() == 0
    assert pools.in_flight == [1, 3, 2]


async def test_sequential_chats_reuse_one_connection_and_a_burst_fills_pools_in_order() -> None:
    with FakeOpenAIServer(latency=0.0) as srv:
        provider = OpenAICompatProvider(
            srv.base_url, model="m", max_connections=64, pool_shards=8
        )  # 8 connections per shard
        for _ in range(10):
            await provider.chat(MSG)
        # one connection, kept alive in shard 0 (round robin over 8 shards would open 8)
        assert _connections(provider) == [1, 0, 0, 0, 0, 0, 0, 0]
        srv.latency = 1.0  # all 20 requests are in flight together
        await asyncio.gather(*(provider.chat(MSG) for _ in range(20)))
        # requests 1-8 -> shard 0 (reusing its connection), 9-16 -> shard 1, 17-20 -> shard 2
        assert _connections(provider) == [8, 8, 4, 0, 0, 0, 0, 0]
        assert srv.max_active == 20
        await provider.aclose()


async def test_every_pool_and_loop_shares_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    real = httpx.create_ssl_context

    def counting(*args: object, **kwargs: object) -> object:
        ctx = real()
        made.append(ctx)
        return ctx

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    provider = OpenAICompatProvider("https://api.example.invalid/v1", model="m", pool_shards=4)
    entry = provider._pools()  # builds the pools; no request is sent
    assert len(made) == 1
    pools = [c._transport._pool for c in entry.clients]  # type: ignore[attr-defined]
    assert len(pools) == 4 and all(p._ssl_context is made[0] for p in pools)

    def other_loop() -> object:
        async def build() -> object:
            e = provider._pools()
            return e.clients[0]._transport._pool._ssl_context  # type: ignore[attr-defined]

        return asyncio.run(build())

    assert await asyncio.to_thread(other_loop) is made[0]  # a second event loop: same context
    assert len(made) == 1
    await provider.aclose()


async def test_never_more_connections_than_max_connections() -> None:
    # 10 connections over at most 32 pools: 10 pools of 1 (not 32 pools of at least 1)
    provider = OpenAICompatProvider("http://127.0.0.1:9/v1", model="m", max_connections=10)
    entry = provider._pools()
    assert len(entry.clients) == 10 and entry.per_shard == 1
    # 100 over 32 pools: 32 pools of 3 = 96 <= 100
    wide = OpenAICompatProvider("http://127.0.0.1:9/v1", model="m", max_connections=100)
    assert (len(wide._pools().clients), wide._pools().per_shard) == (32, 3)
    with pytest.raises(ValueError, match="max_connections"):
        OpenAICompatProvider("http://127.0.0.1:9/v1", max_connections=0)
    await provider.aclose()
    await wide.aclose()
