"""Every field of OpenAI's chat-completions body that `guardrail serve` receives is forwarded
(to every call or to the answer call only), refused with a 400 naming it, or documented as
dropped, and docs/serve.md's request-field table says which; the answer-only decision is the
drop-in client's (`guardrail.sdk.answer_call.ANSWER_FIELDS`). Log-probs: the policy's need wins
for its own call, the caller's request shapes what the caller gets back.

Fake upstream (tests/servers/fake_openai.py) on 127.0.0.1. The fake reports every token with
log-prob `token_logprob` and, per token, the top alternatives `[token, "<alt>"]` cut to the
request's `top_logprobs`; it counts whitespace words as tokens.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from answer_values import VALUES
from openai.resources.chat.completions import Completions as OpenAICompletions
from openai.types.chat import ChatCompletion
from serve_testlib import UPSTREAM_KEY, running
from servers.fake_openai import FakeOpenAIServer, role_answers

from guardrail.review import InMemoryReviewStore
from guardrail.sdk.answer_call import ANSWER_FIELDS, CLIENT_OPTIONS
from guardrail.sdk.client import ANSWER_ONLY_ARGS
from guardrail.serve import ServeSettings, create_app
from guardrail.serve.app import FORWARDED_FIELDS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "serve.md"
Q = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "Paris is the capital of France."
AUTH = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
#: the body fields of the installed openai's create (its request options are not body fields)
OPENAI_FIELDS = [
    p
    for p in inspect.signature(OpenAICompletions.create).parameters
    if p != "self" and p not in CLIENT_OPTIONS
]
# what serve does with them, written out here independently of the code
EVERY_CALL = {"messages", "model", "max_tokens", "max_completion_tokens", "seed"}
STREAMING = {"stream", "stream_options"}
REFUSED = {"n", "audio"}

LP_POLICY = """policy lp {
  on_missing review

  signals {
    logprobs
  }

  rule unsure {
    when logprob_confidence < 0.5
    then abstain "I can't answer this reliably."
  }

  otherwise pass
}
"""


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def _doc_rows() -> dict[str, str]:
    """docs/serve.md's request-field table: field name -> the "where it goes" column."""
    text = DOCS.read_text()
    table = text.split("Request fields (", 1)[1].split("| field | where it goes |", 1)[1]
    rows: dict[str, str] = {}
    for line in table.split("\n\n", 1)[0].splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            rows[name] = cells[1]
        if cells[0] == "any other field":
            rows["*"] = cells[1]
    return rows


def test_every_openai_body_field_has_one_documented_handling() -> None:
    assert len(OPENAI_FIELDS) >= 36  # the installed openai has the full create signature
    # the answer-only fields are the drop-in's decision, minus the token cap serve applies to all
    assert set(FORWARDED_FIELDS) == set(ANSWER_FIELDS) - {"max_completion_tokens"}
    assert set(ANSWER_ONLY_ARGS) == set(ANSWER_FIELDS) | set(CLIENT_OPTIONS)
    classes = [EVERY_CALL, set(FORWARDED_FIELDS), STREAMING, REFUSED]
    assert sum(map(len, classes)) == len(set().union(*classes))  # disjoint
    assert set().union(*classes) == set(OPENAI_FIELDS)  # and together exactly openai's fields
    rows = _doc_rows()
    for name in OPENAI_FIELDS:
        assert name in rows, f"docs/serve.md's request-field table lacks `{name}`"
        where = rows[name]
        if name in FORWARDED_FIELDS:
            assert "answer call only" in where, name
        elif name in REFUSED:
            assert "400" in where, name
        elif name in STREAMING:
            assert "stream" in where, name
        else:
            assert "every call" in where or "samples" in where, name
    assert "dropped" in rows["*"]


@pytest.fixture
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=UPSTREAM_KEY) as srv:
        yield srv


@pytest.fixture
def proxy(upstream: FakeOpenAIServer, policy_dir: Path) -> Iterator[Callable[[Path], str]]:
    """``proxy(policies)`` serves those policies in front of the fake upstream."""
    stack: list[Any] = []

    def start(policies: Path) -> str:
        settings = ServeSettings(
            upstream=upstream.base_url, policies=policies, max_retries=0, spot_check=False
        )
        cm = running(create_app(settings, store=InMemoryReviewStore()))
        stack.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


def test_every_forwarded_field_reaches_the_answer_call_only(
    proxy: Callable[[Path], str], upstream: FakeOpenAIServer, policy_dir: Path
) -> None:
    # serve_testlib's `qa` policy: the answer call, then one n=4 request at temperature 0.9;
    # 4/4 samples agree with the answer -> `otherwise notice "Check important facts."`
    upstream.answers = role_answers(answer=ANSWER, samples=[ANSWER])
    url = proxy(policy_dir)
    forwarded = {k: v for k, v in VALUES.items() if k in FORWARDED_FIELDS}
    assert set(forwarded) == set(FORWARDED_FIELDS)  # a value for each
    body = {
        "model": "x@qa",
        "messages": Q,
        "max_completion_tokens": 64,
        "seed": 5,
        "top_k": 7,  # not an OpenAI field: dropped
        **forwarded,
    }
    r = _post(url, body)
    assert r.status_code == 200, r.text
    doc = r.json()
    ChatCompletion.model_validate(doc)
    assert doc["choices"][0]["message"]["content"] == f"{ANSWER}\n\nCheck important facts."
    answer, samples = upstream.requests
    assert samples["n"] == 4
    for name, value in forwarded.items():
        assert answer[name] == value, name
        if name != "temperature":
            assert name not in samples, name
    assert samples["temperature"] == 0.9
    # the token cap of every call, as max_tokens; the seed of the answer, then seed + 1
    assert answer["max_tokens"] == samples["max_tokens"] == 64
    assert "max_completion_tokens" not in answer and "max_completion_tokens" not in samples
    assert (answer["seed"], samples["seed"]) == (5, 6)
    assert "top_k" not in answer and "top_k" not in samples
    # logprobs: true, top_logprobs: 2 -> every token of the 6-word answer with its 2 top
    # alternatives (the policy `qa` needs none of its own)
    lp = doc["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in lp] == ANSWER.split(" ")[:1] + [
        " " + w for w in ANSWER.split(" ")[1:]
    ]
    assert all(len(e["top_logprobs"]) == 2 for e in lp)


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("n", {"n": 2}),
        ("audio", {"audio": {"voice": "alloy", "format": "wav"}, "modalities": ["text"]}),
        ("modalities", {"modalities": ["text", "audio"]}),
        ("stream_options", {"stream_options": {"include_usage": True}}),
        ("stream_options", {"stream": False, "stream_options": {"include_usage": True}}),
    ],
)
def test_refused_fields_are_400_naming_the_field(
    proxy: Callable[[Path], str],
    upstream: FakeOpenAIServer,
    policy_dir: Path,
    field: str,
    body: dict[str, Any],
) -> None:
    url = proxy(policy_dir)
    r = _post(url, {"model": "x@qa", "messages": Q, **body})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == field and field in error["message"]
    assert upstream.requests == []


@pytest.fixture
def lp_dir(tmp_path: Path) -> Path:
    d = tmp_path / "lp-policies"
    d.mkdir()
    (d / "lp.guard").write_text(LP_POLICY)
    return d


def test_policy_log_probs_win_for_its_call_the_caller_shapes_what_it_gets(
    proxy: Callable[[Path], str], upstream: FakeOpenAIServer, lp_dir: Path
) -> None:
    # every token at log-prob ln(0.8): logprob_confidence = geometric mean = 0.8 >= 0.5 -> pass
    upstream.token_logprob = math.log(0.8)
    upstream.answers = [ANSWER]
    url = proxy(lp_dir)
    words = len(ANSWER.split())  # 6 tokens

    # the caller says logprobs: false; the policy needs them: the call asks (top_logprobs 1),
    # the caller gets none back and the signal is computed
    r = _post(url, {"model": "x@lp", "messages": Q, "logprobs": False})
    assert r.status_code == 200, r.text
    call = upstream.requests[-1]
    assert call["logprobs"] is True and call["top_logprobs"] == 1
    assert r.json()["choices"][0]["logprobs"] is None
    assert r.json()["guardrail"]["signals"]["logprob_confidence"] == pytest.approx(0.8)
    assert r.json()["choices"][0]["message"]["content"] == ANSWER

    # logprobs: true without top_logprobs: the call keeps the policy's top_logprobs 1, the
    # caller gets each token with no alternatives (OpenAI's answer for top_logprobs 0)
    r = _post(url, {"model": "x@lp", "messages": Q, "logprobs": True})
    call = upstream.requests[-1]
    assert call["logprobs"] is True and call["top_logprobs"] == 1
    lp = r.json()["choices"][0]["logprobs"]["content"]
    assert len(lp) == words and all(e["top_logprobs"] == [] for e in lp)
    assert all(e["logprob"] == pytest.approx(math.log(0.8)) for e in lp)

    # top_logprobs 2 > the policy's 1: the call asks 2, the caller gets 2
    r = _post(url, {"model": "x@lp", "messages": Q, "logprobs": True, "top_logprobs": 2})
    assert upstream.requests[-1]["top_logprobs"] == 2
    lp = r.json()["choices"][0]["logprobs"]["content"]
    assert [t["token"] for t in lp[0]["top_logprobs"]] == ["Paris", "<alt>"]
    assert all(len(e["top_logprobs"]) == 2 for e in lp)

    # a withheld answer: ln(0.25) per token -> confidence 0.25 < 0.5 -> abstain; the caller
    # asked for log-probs but gets none (they would spell out the withheld answer)
    upstream.token_logprob = math.log(0.25)
    r = _post(url, {"model": "x@lp", "messages": Q, "logprobs": True, "top_logprobs": 2})
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] == "I can't answer this reliably."
    assert choice["logprobs"] is None
