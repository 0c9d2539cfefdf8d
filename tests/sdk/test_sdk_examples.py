"""Each sdk_examples/ program runs, against the real-socket fake OpenAI server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail.policy import parse_policy
from guardrail.providers import OpenAICompatProvider
from guardrail.sdk import Guard

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "sdk_examples" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_wrap_openai_client_example(server: FakeOpenAIServer) -> None:
    pytest.importorskip("openai", reason="the example wraps the openai client")
    server.answers = role_answers(answer="Water boils at 100 °C at sea level.")
    out = _run(
        "wrap_openai_client.py",
        "--base-url",
        server.base_url,
        "--model",
        "fake",
        "Boiling point of water at sea level?",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # general policy: 5 of 5 samples agree and no hedge -> `otherwise pass`: the answer as is
    assert lines[0] == "Water boils at 100 °C at sea level."
    assert "guardrail: answered, action=pass, calls=2" in out.stdout
    assert "consistency: computed 1.0" in out.stdout
    assert len(server.requests) == 2 and server.requests[1]["n"] == 5


def test_async_batch_example_traces_to_console(server: FakeOpenAIServer) -> None:
    server.answers = role_answers(answer="Paris.", samples=["Paris.", "Lyon.", "Nice."])
    out = _run(
        "async_batch.py",
        "--base-url",
        server.base_url,
        "--model",
        "fake",
        "Capital of France?",
        "Capital of Italy?",
    )
    assert out.returncode == 0, out.stderr
    # samples rotate Paris/Lyon/Nice over both questions' 5 samples: each question gets 1 or 2
    # of 5 agreeing (0.2 or 0.4) -> abstain (< 40%) or a weak-agreement notice (< 70%)
    summary = [line for line in out.stdout.splitlines() if line.startswith("[")]
    assert len(summary) == 2
    assert all(line.split("]")[0] in ("[abstained", "[answered") for line in summary)
    assert '"name": "guardrail.guard"' in out.stdout
    assert '"name": "chat fake"' in out.stdout
    assert '"gen_ai.evaluation.name": "consistency"' in out.stdout
    assert '"gen_ai.request.choice.count": 5' in out.stdout


def test_chat_app_example_shows_notices(server: FakeOpenAIServer) -> None:
    pytest.importorskip("fastapi", reason="the chat app needs the web extra")
    from fastapi.testclient import TestClient

    from sdk_examples.chat_app import create_app

    policy = parse_policy(
        """
policy general {
  signals {
    samples 3 temperature 0.9
  }
  rule guessing {
    when consistency < 0.4
    then abstain "Not confident enough to answer."
  }
  rule weak {
    when consistency < 0.7
    then notice "This answer may be unreliable."
  }
}
""",
        "general.guard",
    )
    guard = Guard({"general": policy}, OpenAICompatProvider(server.base_url, model="fake"))
    client = TestClient(create_app(guard))
    page = client.get("/")
    assert page.status_code == 200 and '<option value="general">' in page.text

    server.answers = role_answers(answer="Paris.", samples=["Paris.", "Paris.", "Lyon."])
    r = client.post("/api/chat", json={"message": "Capital of France?", "domain": "general"})
    assert r.status_code == 200
    body = r.json()
    # 2 of 3 samples agree: 0.667 < 0.7 -> notice, shown beside the answer
    assert body == {
        "status": "answered",
        "answer": "Paris.",
        "notices": ["This answer may be unreliable."],
        "action": "notice",
        "review_id": None,
    }
    server.answers = role_answers(answer="Paris.", samples=["Lyon.", "Nice.", "Rome."])
    r2 = client.post("/api/chat", json={"message": "Capital of France?"})
    assert json.loads(r2.text)["status"] == "abstained"
    assert r2.json()["answer"] == "Not confident enough to answer."


def test_chat_app_bad_domain_is_a_4xx_with_a_message(server: FakeOpenAIServer) -> None:
    """An unknown or missing domain raised ValueError inside the handler: HTTP 500 and a
    traceback. Now 422 with the known domains, and no model call is made."""
    pytest.importorskip("fastapi", reason="the chat app needs the web extra")
    from fastapi.testclient import TestClient

    from sdk_examples.chat_app import create_app

    guard = Guard.from_policies(
        Path(__file__).parents[2] / "policies",
        OpenAICompatProvider(server.base_url, model="fake"),
    )
    client = TestClient(create_app(guard), raise_server_exceptions=False)
    cases = [
        ({"message": "Capital of France?", "domain": "astrology"}, "unknown domain 'astrology'"),
        ({"message": "Capital of France?"}, "give a domain: one of finance, general"),
        ({"message": "  ", "domain": "general"}, "the message is empty"),
    ]
    for body, text in cases:
        r = client.post("/api/chat", json=body)
        assert r.status_code == 422, (body, r.text)
        assert text in r.json()["detail"]
    assert server.requests == []
