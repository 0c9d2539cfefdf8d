"""The drop-in with the real ``openai`` package against a real ``llama_cpp.server`` (the embedded
SmolLM2 GGUF) on 127.0.0.1, started with an API key: sync, async, tools, ``response_format``,
``stop``, ``timeout``, a token cap cut (``finish_reason="length"``), a wrong key (401) and a
refused connection. Small ``max_tokens`` keep it fast; assertions are on properties of the reply
(never on the small model's wording)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", GGUF, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_ctx", "1024", "--model_alias", "smollm2", "--api_key", KEY]
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = log_path.open("wb")  # a file, not a pipe: a full pipe blocks llama.cpp
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log_path.read_text(errors='replace')}")
            try:
                auth = {"Authorization": f"Bearer {KEY}"}
                if httpx.get(f"{base}/models", headers=auth, timeout=1.0).status_code == 200:
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
    dead = openai.OpenAI(base_url=f"http://127.0.0.1:{_free_port()}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        GuardedClient(guard=_guard(dead)).chat.completions.create(model="smollm2", messages=Q)
