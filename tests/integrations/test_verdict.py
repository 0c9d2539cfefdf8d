"""guardrail.sdk.verdict.verdict is the object `guardrail serve` sends (docs/serve.md): the
adapters and the proxy must not drift apart: `guardrail.serve.app` imports it, and this test holds
the proxy's name to the same object and values for every status the proxy can send in a body (a
`failed` result is an HTTP error there, never a verdict)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from adapter_cases import CASE_IDS, CASES
from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail import Guard
from guardrail.sdk.verdict import verdict

pytest.importorskip("fastapi", reason="guardrail serve needs the 'web' extra")
from guardrail.serve.app import verdict as serve_verdict


@pytest.mark.parametrize(("samples", "action", "status", "text", "finish"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("hold", [True, False])
async def test_verdict_is_the_proxys(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    samples: list[str],
    action: str,
    status: str,
    text: str,
    finish: str,
    hold: bool,
) -> None:
    server.answers = role_answers(samples=samples)
    r = await make_guard(hold_reviews=hold).assess(
        [{"role": "user", "content": "Capital of France?"}], "Paris.", domain="qa"
    )
    assert (r.status, r.action and r.action.value) == (status, action)
    v = verdict(r, hold_reviews=hold)
    assert v == serve_verdict(r, hold_reviews=hold)
    # withheld: abstained, or held for review while the guard holds reviews
    assert v["withheld"] is (action == "abstain" or (action == "review" and hold))
