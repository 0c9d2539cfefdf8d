"""The LiteLLM adapter (guardrail.integrations.litellm.GuardrailUQ) through LiteLLM's own
``acompletion``: LiteLLM calls the fake OpenAI-compatible server on 127.0.0.1 for the answer, runs
the guardrail's post-call hook, and the hook's guard asks the same server for its samples.

Expected values by hand from the policy in conftest.py (QA: consistency thresholds, most severe
matched action wins) and the fake server's replies (`role_answers`: the answer call has no
temperature, the guard's sampling call has temperature 0.9).
"""

from __future__ import annotations

import asyncio
import importlib
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from adapter_cases import CASE_IDS, CASES, LOGPROB_POLICY, QA, DownStore
from servers.fake_openai import FakeOpenAIServer, Fault, role_answers

from guardrail import Guard
from guardrail.review import InMemoryReviewStore
from guardrail.sdk.guard import DEFAULT_FAILURE_MESSAGE

litellm = pytest.importorskip("litellm", reason="the 'litellm' extra is not installed")
from litellm.exceptions import GuardrailRaisedException  # noqa: E402
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

from guardrail.integrations.litellm import GuardrailUQ  # noqa: E402

Q = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def callbacks() -> Iterator[list[Any]]:
    """``litellm.callbacks`` for one test (restored afterwards: it is process-global)."""
    saved = list(litellm.callbacks)
    litellm.callbacks = []
    yield litellm.callbacks
    litellm.callbacks = saved


async def complete(server: FakeOpenAIServer, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "model": "openai/main-model",
        "api_base": server.base_url,
        "api_key": "k",
        "messages": Q,
        "guardrails": ["guardrail-uq"],
    }
    args.update(kw)
    return await litellm.acompletion(**args)


@pytest.mark.parametrize(("samples", "action", "status", "text", "finish"), CASES, ids=CASE_IDS)
async def test_each_action_reaches_the_litellm_response(
    server: FakeOpenAIServer,
    make_guard: Callable[..., Guard],
    callbacks: list[Any],
    samples: list[str],
    action: str,
    status: str,
    text: str,
    finish: str,
) -> None:
    server.answers = role_answers(answer="Paris.", samples=samples)
    store = InMemoryReviewStore()
    callbacks.append(GuardrailUQ(make_guard(review_store=store), domain="qa"))
    r = await complete(server)
    assert r.choices[0].message.content == text
    assert r.choices[0].finish_reason == finish
    v = r.guardrail
    assert (v["action"], v["status"], v["domain"]) == (action, status, "qa")
    assert v["withheld"] is (finish == "content_filter")
    # consistency = samples equal to the answer "Paris." / 4 (see conftest.CASES)
    assert v["signals"]["consistency"] == samples.count("Paris.") / 4
    assert r.model_dump()["guardrail"] == v  # the extra field survives serialisation
    # LiteLLM's answer call, then the guard's one n=4 sampling call (nothing else)
    assert [(b.get("n"), b.get("temperature")) for b in server.requests] == [(None, None), (4, 0.9)]
    assert server.requests[1]["messages"] == Q and server.requests[1]["model"] == "main-model"
    assert v["cost"]["calls"] == 1
    if action == "review":
        item = store.get(v["review_id"])
        assert item.raw_answer == "Paris." and item.answer_shown == text
    else:
        assert v["review_id"] is None and store.count() == 0


async def test_withheld_answer_leaves_no_token_logprobs(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    # every token of "Paris." has log-prob ln(0.25): exp(mean) = 0.25 < 0.5 -> abstain, with no
    # model call by the guard (log-probs came with the answer LiteLLM received)
    server.token_logprob = math.log(0.25)
    callbacks.append(GuardrailUQ(make_guard(LOGPROB_POLICY)))
    r = await complete(server, logprobs=True)
    assert r.guardrail["signals"]["logprob_confidence"] == pytest.approx(0.25)
    assert r.guardrail["action"] == "abstain" and r.guardrail["cost"]["calls"] == 0
    assert r.choices[0].message.content == "Not sure."
    assert r.choices[0].logprobs is None  # the withheld answer's tokens are not returned
    assert len(server.requests) == 1


async def test_raise_mode_raises_litellms_guardrail_exception(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    server.answers = role_answers(samples=["Paris.", "Lyon.", "Nice.", "Lille."])  # 1/4 abstain
    callbacks.append(GuardrailUQ(make_guard(), on_withheld="raise"))
    with pytest.raises(GuardrailRaisedException) as info:
        await complete(server)
    assert info.value.message == "I can't answer this reliably."
    assert info.value.status_code == 400 and info.value.blocked_content is True
    # a passing answer is not raised in raise mode: 4/4 -> pass
    server.answers = role_answers(samples=["Paris."])
    assert (await complete(server)).guardrail["action"] == "pass"


async def test_domain_from_request_metadata(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    strict = QA.replace("policy qa", "policy strict").replace(
        "consistency < 0.5", "consistency <= 1.0"
    )
    server.answers = role_answers(
        samples=["Paris."]
    )  # 4/4: qa passes, strict abstains (1.0 <= 1.0)
    callbacks.append(GuardrailUQ(make_guard(QA, strict), domain="qa"))
    assert (await complete(server)).guardrail["action"] == "pass"
    r = await complete(server, metadata={"guardrail_domain": "strict"})
    assert (r.guardrail["domain"], r.guardrail["action"]) == ("strict", "abstain")
    with pytest.raises(GuardrailRaisedException) as info:
        await complete(server, metadata={"guardrail_domain": "cardiology"})
    assert info.value.status_code == 400 and info.value.blocked_content is False
    assert "no policy for domain 'cardiology'; known domains: qa, strict" in info.value.message
    # a domain that is not a string is refused too (it used to apply the default policy)
    with pytest.raises(GuardrailRaisedException) as info:
        await complete(server, metadata={"guardrail_domain": 5})
    assert info.value.status_code == 400
    assert "no policy for domain '5'; known domains: qa, strict" in info.value.message


async def test_a_failed_judgement_never_shows_the_answer(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    # 2/4 samples agree -> review, but the review store refuses the item: the guard's result is
    # "failed" (a held answer nobody will review is never shown)
    server.answers = role_answers(samples=["Paris.", "Paris.", "Lyon.", "Nice."])
    callbacks.append(GuardrailUQ(make_guard(review_store=DownStore())))
    with pytest.raises(GuardrailRaisedException) as info:
        await complete(server)
    assert info.value.status_code == 503 and info.value.blocked_content is False
    assert "review database unreachable" in info.value.message
    callbacks[:] = [GuardrailUQ(make_guard(review_store=DownStore()), on_failure="replace")]
    r = await complete(server)
    assert r.choices[0].message.content == DEFAULT_FAILURE_MESSAGE
    assert r.choices[0].finish_reason == "content_filter"
    # the decision stands (review); carrying it out failed
    assert (r.guardrail["status"], r.guardrail["action"]) == ("failed", "review")
    assert r.guardrail["withheld"] is True


async def test_tool_call_reply_passes_through_unjudged(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    def to_tool_call(doc: dict[str, Any]) -> dict[str, Any]:
        doc["choices"][0]["message"] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        doc["choices"][0]["finish_reason"] = "tool_calls"
        return doc

    callbacks.append(GuardrailUQ(make_guard()))
    server.faults.append(Fault.edit(to_tool_call))
    r = await complete(server)
    assert r.choices[0].message.tool_calls[0].function.name == "lookup"
    assert r.choices[0].finish_reason == "tool_calls"
    assert "guardrail" not in r.model_dump() and len(server.requests) == 1


async def test_verdict_reaches_litellm_loggers(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    seen: dict[str, Any] = {}

    class Capture(CustomLogger):  # type: ignore[misc]
        async def async_log_success_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            # LiteLLM may also deliver earlier tests' pending events here: key by call id
            info = kwargs["standard_logging_object"]["guardrail_information"]
            seen[kwargs["litellm_call_id"]] = info

    server.answers = role_answers(samples=["Paris.", "Lyon.", "Nice.", "Lille."])  # abstain
    callbacks.extend([GuardrailUQ(make_guard()), Capture()])
    r = await complete(server, litellm_call_id="call-logged-1")
    assert r.guardrail["request_id"] == "call-logged-1"  # the guard reuses LiteLLM's call id
    for _ in range(300):  # LiteLLM logs success in a background task
        if "call-logged-1" in seen:
            break
        await asyncio.sleep(0.01)
    (info,) = seen["call-logged-1"]
    assert info["guardrail_name"] == "guardrail-uq"
    assert info["guardrail_status"] == "guardrail_intervened"
    assert info["guardrail_action"] == "abstain" and info["policy_template"] == "qa"
    assert info["violation_categories"] == ["unstable", "shaky", "mostly"]


def test_missing_extra_gives_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "guardrail.integrations.litellm")
    monkeypatch.setitem(sys.modules, "litellm", None)  # import litellm -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'guardrail-uq\[litellm\]'"):
        importlib.import_module("guardrail.integrations.litellm")


def test_bad_options_are_refused(make_guard: Callable[..., Guard]) -> None:
    with pytest.raises(ValueError, match="on_withheld"):
        GuardrailUQ(make_guard(), on_withheld="hide")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_failure"):
        GuardrailUQ(make_guard(), on_failure="pass")  # type: ignore[arg-type]


async def test_built_from_proxy_config_params(
    server: FakeOpenAIServer, callbacks: list[Any], tmp_path: Path
) -> None:
    """The LiteLLM proxy builds a custom guardrail as ``cls(guardrail_name=..., event_hook=mode,
    default_on=..., **extra)`` with ``extra`` = its ``LitellmParams`` dumped without None values
    and without guardrail/mode/default_on/stream_scope (litellm/proxy/guardrails/
    guardrail_registry.py, which needs ``litellm[proxy]`` to import): the same call here."""
    from litellm.types.guardrails import LitellmParams

    (tmp_path / "qa.guard").write_text(QA)
    params = LitellmParams(
        guardrail="guardrail.integrations.litellm.GuardrailUQ",
        mode="post_call",
        default_on=True,
        policies=str(tmp_path),
        api_base=server.base_url,
        api_key="k",
        model="main-model",
        domain="qa",
    )
    skip = {"guardrail", "mode", "default_on", "stream_scope"}
    extra = {k: v for k, v in params.model_dump(exclude_none=True).items() if k not in skip}
    g = GuardrailUQ(
        guardrail_name="guardrail-uq", event_hook=params.mode, default_on=params.default_on, **extra
    )
    assert (g.guard.domains, g.domain, g.model) == (["qa"], "qa", "main-model")
    callbacks.append(g)
    server.answers = role_answers(samples=["Paris.", "Lyon.", "Nice.", "Lille."])  # 1/4 abstain
    r = await complete(server, guardrails=[])  # default_on: runs without being named
    assert r.choices[0].message.content == "I can't answer this reliably."
    assert server.headers_seen[1]["authorization"] == "Bearer k"  # the guard's own key


async def test_sync_and_streamed_calls_pass_unjudged(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    """Documented limits (docs/integrations.md): LiteLLM's SDK runs post-call guardrail hooks
    only for non-streamed ``acompletion``; a synchronous ``completion`` and a stream reach the
    caller unjudged. If LiteLLM starts running them there, this fails and the docs change."""
    server.answers = role_answers(samples=["Paris.", "Lyon.", "Nice.", "Lille."])  # abstain
    callbacks.append(GuardrailUQ(make_guard()))
    args: dict[str, Any] = {
        "model": "openai/main-model",
        "api_base": server.base_url,
        "api_key": "k",
        "messages": Q,
        "guardrails": ["guardrail-uq"],
    }
    r = await asyncio.to_thread(litellm.completion, **args)
    assert r.choices[0].message.content == "Paris." and "guardrail" not in r.model_dump()
    stream = await litellm.acompletion(**args, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "Paris."
    assert [b.get("temperature") for b in server.requests] == [None, None]  # no guard samples


async def test_every_choice_is_judged(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    # n=2 answers "Paris." and "Lyon."; each choice gets its own n=4 sampling call, and each
    # call gets one full turn of the rotation (Paris x3, Lyon x1) whichever comes first:
    # "Paris." agrees with 3/4 = 0.75 -> notice; "Lyon." with 1/4 = 0.25 -> abstain
    answers = iter(["Paris.", "Lyon."])
    samples = role_answers(samples=["Paris.", "Paris.", "Paris.", "Lyon."])

    def respond(body: dict[str, Any], i: int) -> str:
        return next(answers) if body.get("temperature") is None else samples(body, i)

    server.answers = respond
    callbacks.append(GuardrailUQ(make_guard()))
    r = await complete(server, n=2, litellm_call_id="call-n2")
    first, second = r.guardrail_choices
    assert r.guardrail == first
    assert (first["action"], second["action"]) == ("notice", "abstain")
    assert (first["request_id"], second["request_id"]) == ("call-n2-0", "call-n2-1")
    assert r.choices[0].message.content == "Paris.\n\nCheck important facts."
    assert r.choices[1].message.content == "I can't answer this reliably."
    assert [c.finish_reason for c in r.choices] == ["stop", "content_filter"]
    assert [b.get("n") for b in server.requests] == [2, 4, 4]


async def test_tool_turns_and_image_parts_are_judged_not_refused(
    server: FakeOpenAIServer, make_guard: Callable[..., Guard], callbacks: list[Any]
) -> None:
    # docs/integrations.md: a conversation with tool turns and an image part is judged; the
    # guard's sampling call gets the messages unchanged. 4 of 4 samples "Paris." -> 1.0 -> the
    # otherwise notice of conftest.QA
    server.answers = role_answers(answer="Paris.", samples=["Paris."] * 4)
    msgs: list[dict[str, Any]] = [
        {"role": "user", "content": "Where is it sunny?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny in Paris"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
    ]
    callbacks.append(GuardrailUQ(make_guard(), domain="qa"))
    r = await complete(server, messages=msgs)
    assert r.guardrail["status"] == "answered" and r.guardrail["signals"]["consistency"] == 1.0
    (sample,) = [b for b in server.requests if b.get("temperature") == 0.9]
    assert sample["messages"][1]["tool_calls"][0]["id"] == "c1"
    assert sample["messages"][2] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "sunny in Paris",
    }
    assert sample["messages"][3]["content"][1]["type"] == "image_url"
