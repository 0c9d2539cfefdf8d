"""`guardrail serve` in front of a real `python -m llama_cpp.server` (the embedded SmolLM2 GGUF,
extra `local`) on 127.0.0.1, driven by the official `openai` client (sync, async, stream=True),
by raw HTTP and by `curl` itself; and the drop-in client's `stream=True` against the same server.
Each policy chooses its stream mode (`stream hold|live`, or the default): no `--live` override.

A real 135M model's decisions vary, so the held case uses a policy whose only rule fires for
every value of consistency (consistency >= 0% is always true: consistency is in [0, 1]); the
test then checks the property that matters: the answer the store holds never reached the client
in hold mode, and in live mode it did reach it and was retracted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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
from servers.llama_server import run_llama_server  # noqa: E402

from guardrail.review import InMemoryReviewStore  # noqa: E402
from guardrail.serve import ServeSettings, create_app  # noqa: E402

POLICIES = {
    # notice or pass only: `live` by default (nothing to retract)
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
    # can hold for review: `hold` by default
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
  stream live

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


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # by default llama_cpp.server aborts a running (streamed) completion when another request
    # arrives; the samples run while the answer streams, so they must queue instead
    args = ("--n_ctx", "1024", "--interrupt_requests", "false")
    with run_llama_server(tmp_path_factory.mktemp("llama"), GGUF, *args) as base:
        yield base


@pytest.fixture(scope="module")
def proxy(
    llama_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, InMemoryReviewStore]]:
    d: Path = tmp_path_factory.mktemp("policies")
    for name, text in POLICIES.items():
        (d / name).write_text(text)
    store = InMemoryReviewStore()
    settings = ServeSettings(upstream=llama_server, policies=d, spot_check=False)
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
    # llama-cpp-python's server (0.3.x) ignores stream_options.include_usage: the streamed
    # answer is counted as a call whose tokens are unknown (docs/sdk.md "Cost of a stream")
    assert v["cost"]["unmetered_calls"] == 1 and v["cost"]["calls"] >= 2


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


# ------------------------------------------------------------------ curl, as a shell user would

CURL = shutil.which("curl")
CURL_SKIP = "curl is not installed (.ci/run installs it with apt-get; CI runs this test)"


def _curl(url: str, body: dict[str, object]) -> tuple[dict[str, str], str]:
    """POST ``body`` with curl; the response headers (lower-case names) and body."""
    assert CURL is not None
    cmd = [CURL, "-sS", "-N", "-D", "-", "--max-time", "120", url + "/v1/chat/completions"]
    cmd += ["-H", "Content-Type: application/json", "-H", "Authorization: Bearer none"]
    cmd += ["-d", json.dumps(body)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=150).stdout
    head, _, payload = out.replace("\r\n", "\n").partition("\n\n")
    headers = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, payload


@pytest.mark.skipif(CURL is None, reason=CURL_SKIP)
def test_curl_non_stream_and_streams(proxy: tuple[str, InMemoryReviewStore]) -> None:
    url, store = proxy
    # non-stream: a ChatCompletion with the verdict
    headers, payload = _curl(url, {"model": "smollm2@quick", "messages": Q, "max_tokens": 16})
    doc = json.loads(payload)
    assert doc["object"] == "chat.completion" and doc["choices"][0]["message"]["content"].strip()
    assert headers["x-guardrail-action"] == doc["guardrail"]["action"] in ("pass", "notice")
    # hold stream (policy `held`, default hold): only the review message, never the answer
    body = {"model": "smollm2@held", "messages": Q, "stream": True, "max_tokens": 16}
    headers, payload = _curl(url, body)
    assert headers["x-guardrail-stream"] == "hold"
    held = store.get(headers["x-guardrail-review-id"]).raw_answer.strip()
    assert held and held not in payload and json.dumps(held)[1:-1] not in payload
    events = [json.loads(e[6:]) for e in payload.splitlines() if e.startswith("data: {")]
    assert payload.rstrip().endswith("data: [DONE]")
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == "A person will check this answer."
    # live stream (policy `held_live`: `stream live`): tokens, then the retraction
    body = {"model": "smollm2@held_live", "messages": Q, "stream": True, "max_tokens": 16}
    headers, payload = _curl(url, body)
    assert headers["x-guardrail-stream"] == "live"
    events = [json.loads(e[6:]) for e in payload.splitlines() if e.startswith("data: {")]
    v = events[-1]["guardrail"]
    assert v["retracted"] is True and events[-1]["choices"][0]["finish_reason"] == "content_filter"
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text.strip() == store.get(v["review_id"]).raw_answer.strip() != ""


def test_ci_installs_curl(repo_root: Path) -> None:
    # the curl test may skip outside CI only: CI's apt-get line must install curl
    script = (repo_root / ".ci" / "run").read_text()
    apt = next(line for line in script.splitlines() if "apt-get install" in line)
    assert " curl" in apt
    if os.environ.get("GUARDRAIL_TESTS_NO_SKIP"):
        assert CURL is not None, CURL_SKIP


# ------------------------------------------------------------------ the drop-in client streams


def test_dropin_client_streams_hold_and_live(llama_server: str, tmp_path: Path) -> None:
    from guardrail import GuardedClient
    from guardrail.policy import load_policies

    for name, text in POLICIES.items():
        (tmp_path / name).write_text(text)
    store = InMemoryReviewStore()
    oa = openai.OpenAI(base_url=llama_server, api_key="none", max_retries=0)
    client = GuardedClient(oa, policies=tmp_path, review_store=store, eager_samples=True)
    assert set(load_policies(tmp_path)) == {"quick", "held", "held_live"}
    # hold (policy held): the answer goes to review; no chunk of it reaches the caller
    stream = client.chat.completions.create(
        model="smollm2", messages=Q, max_tokens=16, stream=True, domain="held"
    )
    assert stream.mode == "hold"
    chunks = list(stream)
    last = chunks[-1]
    assert last.guardrail is not None and last.guardrail.review_id is not None
    held = store.get(last.guardrail.review_id).raw_answer.strip()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert held and held not in text and text == "A person will check this answer."
    assert last.choices[0].finish_reason == "content_filter"
    # live (policy held_live): the model's tokens flow, then the retraction
    stream = client.chat.completions.create(
        model="smollm2", messages=Q, max_tokens=16, stream=True, domain="held_live"
    )
    assert stream.mode == "live"
    chunks = list(stream)
    last = chunks[-1]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert last.guardrail is not None and last.guardrail.status == "pending_review"
    assert last.guardrail_retracted is True
    assert last.guardrail_replacement == "A person will check this answer."
    assert last.choices[0].finish_reason == "content_filter"
    assert text.strip() == store.get(last.guardrail.review_id).raw_answer.strip() != ""
