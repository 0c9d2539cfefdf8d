"""`guardrail serve` in front of a real `python -m llama_cpp.server` (the embedded SmolLM2 GGUF,
extra `local`) on 127.0.0.1, driven by the official `openai` client (sync, async, stream=True)
and by raw HTTP (what curl sends).

A real 135M model's decisions vary, so the held case uses a policy whose only rule fires for
every value of consistency (consistency >= 0% is always true: consistency is in [0, 1]); the
test then checks the property that matters: the answer the store holds never reached the client
in hold mode, and in live mode it did reach it and was retracted.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from guardrail.providers import LocalModelUnavailable, embedded_model_path

pytest.importorskip("fastapi", reason="guardrail serve needs the 'web' extra")
pytest.importorskip("prometheus_client", reason="guardrail serve needs the 'web' extra")

try:
    import llama_cpp
    import llama_cpp.server.app  # noqa: F401

    GGUF = str(embedded_model_path())
    SKIP = ""
except (ImportError, LocalModelUnavailable) as exc:
    GGUF, SKIP = "", f"local extra not installed (pip install 'guardrail-uq[local]'): {exc}"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(SKIP), reason=SKIP)]

from serve_testlib import running  # noqa: E402

from guardrail.review import InMemoryReviewStore  # noqa: E402
from guardrail.serve import ServeSettings, create_app  # noqa: E402

POLICIES = {
    "quick.guard": """policy quick {
  on_missing notice

  signals {
    samples 2 temperature 0.8
  }

  rule split {
    when consistency < 50%
    then notice "The samples disagreed."
  }

  otherwise pass
}
""",
    "held.guard": """policy held {
  on_missing review

  signals {
    samples 2 temperature 0.8
  }

  rule always_checked {
    when consistency >= 0%
    then review "A person will check this answer."
  }
}
""",
    "held_live.guard": """policy held_live {
  on_missing review

  signals {
    samples 2 temperature 0.8
  }

  rule always_checked {
    when consistency >= 0%
    then review "A person will check this answer."
  }
}
""",
}
Q = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", GGUF, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_ctx", "1024", "--model_alias", "smollm2"]
    # by default llama_cpp.server aborts a running (streamed) completion when another request
    # arrives; the proxy's samples run while the answer streams, so they must queue instead
    cmd += ["--interrupt_requests", "false"]
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = log_path.open("wb")  # a file, not a pipe: a full pipe would block the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                err = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {err}")
            try:
                if httpx.get(f"{base}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not come up within 120 s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def proxy(
    llama_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, InMemoryReviewStore]]:
    d: Path = tmp_path_factory.mktemp("policies")
    for name, text in POLICIES.items():
        (d / name).write_text(text)
    store = InMemoryReviewStore()
    settings = ServeSettings(
        upstream=llama_server, policies=d, spot_check=False, live_domains=("quick", "held_live")
    )
    with running(create_app(settings, store=store)) as url:
        yield url, store


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)


def test_sync_and_async_clients(proxy: tuple[str, InMemoryReviewStore]) -> None:
    url, _ = proxy
    r = _client(url).chat.completions.create(model="smollm2@quick", messages=Q, max_tokens=16)  # type: ignore[arg-type]
    assert r.choices[0].finish_reason == "stop" and (r.choices[0].message.content or "").strip()
    assert r.model_extra is not None
    v = r.model_extra["guardrail"]
    # 2 samples: consistency is 0, 0.5 or 1 (share of samples in the answer's cluster)
    assert v["signals"]["consistency"] in (0.0, 0.5, 1.0)
    assert v["action"] == ("notice" if v["signals"]["consistency"] < 0.5 else "pass")

    async def go() -> str:
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="none") as ac:
            a = await ac.chat.completions.create(
                model="smollm2@quick",
                messages=Q,  # type: ignore[arg-type]
                max_tokens=16,
            )
        return a.choices[0].finish_reason

    import asyncio

    assert asyncio.run(go()) == "stop"


def test_hold_stream_never_shows_the_held_answer(proxy: tuple[str, InMemoryReviewStore]) -> None:
    url, store = proxy
    body = {"model": "smollm2@held", "messages": Q, "stream": True, "max_tokens": 16}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200 and r.headers["x-guardrail-action"] == "review"
        raw = b"".join(r.iter_bytes()).decode()
        rid = r.headers["x-guardrail-review-id"]
    held = store.get(rid).raw_answer.strip()
    # the model did answer; the answer is in the queue (and distinguishable from the message)
    assert held and held not in "A person will check this answer."
    # ... and not one chunk of it reached the client (raw or JSON-escaped)
    assert held not in raw and json.dumps(held)[1:-1] not in raw
    events = [json.loads(e[6:]) for e in raw.splitlines() if e.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == "A person will check this answer."
    assert events[-1]["choices"][0]["finish_reason"] == "content_filter"


def test_openai_stream_live_relays_the_model_tokens(
    proxy: tuple[str, InMemoryReviewStore],
) -> None:
    url, _ = proxy
    chunks = list(
        _client(url).chat.completions.create(
            model="smollm2@quick",
            messages=Q,  # type: ignore[arg-type]
            max_tokens=16,
            stream=True,
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra is not None
    v = chunks[-1].model_extra["guardrail"]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    # live: the model's own tokens (several chunks), plus the notice when the samples split
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) >= 2
    assert text.endswith("The samples disagreed.") == (v["action"] == "notice")


def test_live_stream_of_a_held_answer_is_retracted(
    proxy: tuple[str, InMemoryReviewStore],
) -> None:
    url, store = proxy
    body = {"model": "smollm2@held_live", "messages": Q, "stream": True, "max_tokens": 16}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200 and r.headers["x-guardrail-stream"] == "live"
        raw = b"".join(r.iter_bytes()).decode()
    events = [json.loads(e[6:]) for e in raw.splitlines() if e.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    v = events[-1]["guardrail"]
    assert v["status"] != "failed", v.get("error")
    assert events[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert v["retracted"] is True and v["replacement"] == "A person will check this answer."
    # what was streamed is exactly the answer now waiting in the queue
    assert text.strip() == store.get(v["review_id"]).raw_answer.strip() != ""
