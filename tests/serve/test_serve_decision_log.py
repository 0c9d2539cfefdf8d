"""`guardrail serve` writes one decision record per guarded call (issue 16: the proxy's decision
log), to the decision_log table and to a JSONL file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from serve_testlib import UPSTREAM_KEY
from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail.decisions.table import open_decision_table

ANSWER = "Paris is the capital of France."
Q = [{"role": "user", "content": "What is the capital of France?"}]


def _ask(url: str, request_id: str) -> dict[str, object]:
    r = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "gpt-4o@qa", "messages": Q},
        headers={"Authorization": f"Bearer {UPSTREAM_KEY}", "X-Request-Id": request_id},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return dict(r.json()["guardrail"])


def test_decisions_go_to_the_table_and_to_jsonl(
    serve: Callable[..., str], upstream: FakeOpenAIServer, tmp_path: Path
) -> None:
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    db = tmp_path / "review.db"
    verdict = _ask(serve(decision_log=f"sqlite:{db}"), "r-1")
    log = tmp_path / "logs" / "decisions-{pid}.jsonl"
    _ask(serve(decision_log=str(log)), "r-2")
    with open_decision_table(f"sqlite:{db}", create=False) as table:
        ((rec,),) = list(table.read())
    # qa.guard: 4/4 samples agree -> consistency 1.0 -> otherwise notice (serve_testlib)
    assert rec["action"] == verdict["action"] == "notice"
    assert rec["values"]["consistency"] == 1.0 and rec["domain"] == "qa"
    assert rec["cost"]["calls"] == 2  # the answer call and one sampling call (n=4)
    (jsonl,) = (tmp_path / "logs").iterdir()  # {pid} became this process's id
    assert jsonl.name.startswith("decisions-") and jsonl.name[10:-6].isdigit()
    (line,) = jsonl.read_text().splitlines()
    assert json.loads(line)["action"] == "notice"
