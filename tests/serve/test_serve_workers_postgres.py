"""`guardrail serve --workers 4` (a real CLI process, uvicorn's process manager) against one
PostgreSQL review store: stateless workers, every held answer queued exactly once.

Needs a live PostgreSQL: `$GUARDRAIL_TEST_POSTGRES_DSN` (skips with that reason when unset).
Each request's 4 samples are [A, A, A, W] (servers.fake_openai.role_answers rotates per sample;
n=4 asks for exactly 4 per request, so the rotation stays aligned): consistency 3/4 = 0.75 ->
the `qa` policy (tests/serve/conftest.py) sends every answer to review.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_testlib import UPSTREAM_KEY, free_port
from servers.fake_openai import FakeOpenAIServer, role_answers

pytest.importorskip("fastapi", reason="guardrail serve needs the 'web' extra")
pytest.importorskip("psycopg", reason="the PostgreSQL store needs the 'postgres' extra")

DSN = os.environ.get("GUARDRAIL_TEST_POSTGRES_DSN", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DSN, reason="set GUARDRAIL_TEST_POSTGRES_DSN to a live PostgreSQL"),
]

ANSWER, WRONG = "Paris is the capital of France.", "Lyon is the capital of France."
N_REQUESTS = 40


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.fixture
def schema() -> Iterator[str]:
    from guardrail.review.postgres_store import PostgresReviewStore

    name = f"serve_{uuid.uuid4().hex[:12]}"
    yield name
    store = PostgresReviewStore(DSN, schema=name)
    store.drop_schema()
    store.close()


def test_four_workers_share_one_postgres_queue(policy_dir: Path, schema: str) -> None:
    from guardrail.review.postgres_store import PostgresReviewStore

    with FakeOpenAIServer(api_key=UPSTREAM_KEY) as upstream:
        upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER, ANSWER, ANSWER, WRONG])
        port = free_port()
        sep = "&" if "?" in DSN else "?"
        cli = "from guardrail.cli import main; main()"
        cmd = [sys.executable, "-c", cli, "serve", "--upstream", upstream.base_url]
        cmd += ["--policies", str(policy_dir), "--store", f"{DSN}{sep}schema={schema}"]
        cmd += ["--workers", "4", "--port", str(port), "--no-spot-check"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "guardrail serve did not come up in 90 s"
                time.sleep(0.3)
            # uvicorn's supervisor runs the 4 workers as child processes
            assert len(_children(proc.pid)) >= 4

            async def one(client: httpx.AsyncClient, i: int) -> httpx.Response:
                return await client.post(
                    base + "/v1/chat/completions",
                    json={
                        "model": "m@qa",
                        "messages": [{"role": "user", "content": f"Capital of France? ({i})"}],
                    },
                    headers={"Authorization": f"Bearer {UPSTREAM_KEY}"},
                )

            async def burst() -> list[httpx.Response]:
                async with httpx.AsyncClient(timeout=60) as client:
                    return await asyncio.gather(*(one(client, i) for i in range(N_REQUESTS)))

            responses = asyncio.run(burst())
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert [r.status_code for r in responses] == [200] * N_REQUESTS
    ids = [r.headers["x-guardrail-review-id"] for r in responses]
    assert len(set(ids)) == N_REQUESTS
    store = PostgresReviewStore(DSN, schema=schema)
    try:
        # every held answer is in the one queue exactly once, none lost, none doubled
        assert store.count(status="pending") == N_REQUESTS
        assert sorted(store.get(i).id for i in ids) == sorted(ids)
        questions = {store.get(i).question for i in ids}
        assert questions == {f"Capital of France? ({i})" for i in range(N_REQUESTS)}
        assert all(UPSTREAM_KEY not in store.get(i).model_dump_json() for i in ids)
    finally:
        store.close()
