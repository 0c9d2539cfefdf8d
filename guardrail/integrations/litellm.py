"""LiteLLM adapter: :class:`GuardrailUQ`, a ``CustomGuardrail`` whose post-call hook judges the
answer LiteLLM got with :meth:`guardrail.Guard.assess` (extra ``litellm``).

LiteLLM calls ``async_post_call_success_hook(data, user_api_key_dict, response)`` after a
successful completion: from the Python SDK (``litellm.acompletion(..., guardrails=[name])`` with
the guardrail in ``litellm.callbacks``; LiteLLM runs these deployment hooks for async calls only)
and from the LiteLLM proxy (``guardrails:`` in its config, ``mode: post_call``). The hook:

1. judges every text choice of a ``ModelResponse`` under the domain's policy (``data["messages"]``
   without the answer are the conversation; samples, the verbalized follow-up and ensemble
   answers are asked of the *guard's* provider, free signals are computed locally; token
   log-probs LiteLLM received feed ``logprob_confidence``);
2. replaces ``message.content`` with the text the policy lets the user see (answer + notices, or
   the abstention / review message). A withheld answer (abstained, held for review, or a
   ``failed`` judgement with ``on_failure="replace"``) gets ``finish_reason="content_filter"``
   and loses its token log-probs and reasoning fields, so no copy of it leaves in the response;
   with ``on_withheld="raise"`` a withheld answer raises LiteLLM's ``GuardrailRaisedException``
   (status 400, ``blocked_content=True``) instead;
3. attaches the verdict (:func:`guardrail.sdk.verdict.verdict`, the shape ``guardrail serve``
   sends) as the response's extra field ``guardrail`` (in ``model_dump()`` and the proxy's JSON),
   and records it for LiteLLM's loggers through
   ``add_standard_logging_guardrail_information_to_request_data`` (the request metadata's
   ``standard_logging_guardrail_information``).

Replies that are only tool calls, or have no text, pass through unjudged. Streams are not judged
by this hook (LiteLLM does not run it on them); ``guardrail serve`` guards streams.

Domain of a request, first found wins: ``metadata["guardrail_domain"]`` (or
``metadata["domain"]``, also read from ``litellm_metadata``), the adapter's ``domain``, the only
policy when the guard has one. ``metadata["guardrail_stakes"]`` sets the ``stakes`` signal.

Sources: the signal designs are those of :meth:`guardrail.Guard.chat` (``docs/sdk.md``); the hook
contract is LiteLLM's ``CustomGuardrail`` / ``CustomLogger`` (read from litellm 1.110).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Literal

try:
    import litellm
    from litellm.exceptions import GuardrailRaisedException
    from litellm.integrations.custom_guardrail import CustomGuardrail
    from litellm.types.guardrails import GuardrailEventHooks
except ImportError as exc:  # pragma: no cover - exercised by a test that hides litellm
    raise ImportError(
        "guardrail.integrations.litellm needs the 'litellm' extra: "
        "pip install 'guardrail-uq[litellm]'"
    ) from exc

from guardrail.integrations._common import domain_or_none, openai_logprobs
from guardrail.integrations._common import text_or_none as _text
from guardrail.providers import AuthenticationError, Choice
from guardrail.sdk.guard import Guard, GuardError
from guardrail.sdk.models import GuardedResponse
from guardrail.sdk.verdict import verdict, withheld

__all__ = ["DEFAULT_NAME", "VERDICT_FIELD", "GuardrailUQ"]

#: Default ``guardrail_name``: what requests list in ``guardrails=[...]``.
DEFAULT_NAME = "guardrail-uq"
#: Extra field of the ``ModelResponse`` carrying the verdict (as in ``guardrail serve``).
VERDICT_FIELD = "guardrail"

OnWithheld = Literal["replace", "raise"]
OnFailure = Literal["raise", "replace"]


class GuardrailUQ(CustomGuardrail):
    """A LiteLLM post-call guardrail that judges answers with a guardrail :class:`Guard`.

    Args:
        guard: the :class:`~guardrail.Guard` that judges (its policies, provider for samples /
            follow-ups, review store, decision log). ``None``: one is built from ``policies``,
            ``api_base``, ``api_key``, ``model`` and ``review_store`` (how a LiteLLM proxy config
            passes settings: every extra ``litellm_params`` key reaches this constructor).
        domain: default domain when the request's metadata names none.
        model: model name the guard's samples / follow-up are asked for. ``None``: the guard's
            own ``model`` if it has one, else the name the upstream reported in
            ``response.model`` (the model that made the answer, as the policy assumes).
        policies: a ``.guard`` file or folder (only without ``guard``; ``None`` resolves like the
            CLI: ``$GUARDRAIL_POLICIES``, ``./policies``, the bundled policies).
        api_base, api_key: an OpenAI-compatible server for the guard's own calls (only without
            ``guard``; ``None``: the embedded local model, extra ``local``).
        review_store: review store URL for held answers (only without ``guard``; see
            :func:`guardrail.review.backends.open_store`); ``None``: in-memory.
        on_withheld: ``"replace"`` (default): a withheld answer's content becomes the policy's
            message, ``finish_reason="content_filter"``; ``"raise"``: raise
            ``GuardrailRaisedException`` (LiteLLM's block; the proxy answers 400).
        on_failure: what to do when the guard's result is ``failed`` (the decision could not be
            carried out: a held answer the review store did not accept, an internal error; a
            signal the guard's provider could not compute is *missing* instead, and the policy's
            ``on_missing`` decides). ``"raise"`` (default): ``GuardrailRaisedException`` with
            ``status_code=503``, ``blocked_content=False``; ``"replace"``: the content becomes
            the guard's failure message with ``finish_reason="content_filter"``, as
            :meth:`Guard.chat` would show it. The answer is never shown either way.
        guardrail_name, event_hook, default_on, **kwargs: LiteLLM's ``CustomGuardrail``
            arguments; only ``post_call`` is supported.

    Raises (from the hook, into the LiteLLM call):
        GuardrailRaisedException: withheld answer with ``on_withheld="raise"`` (status 400,
            ``blocked_content=True``); unknown domain or messages the guard cannot read
            (status 400, ``blocked_content=False``); a ``failed`` result with
            ``on_failure="raise"``, or the guard's provider rejecting its key (status 503).

    Example (SDK; the proxy equivalent is in ``docs/integrations.md``)::

        guard = Guard.from_policies("policies/", OpenAICompatProvider(URL, model="gpt-4o"))
        litellm.callbacks = [GuardrailUQ(guard, domain="medical")]
        r = await litellm.acompletion(model="openai/gpt-4o", api_base=URL, messages=msgs,
                                      guardrails=["guardrail-uq"])
        r.choices[0].message.content, r.guardrail["action"]
    """

    def __init__(
        self,
        guard: Guard | None = None,
        *,
        domain: str | None = None,
        model: str | None = None,
        policies: str | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
        review_store: str | None = None,
        on_withheld: OnWithheld = "replace",
        on_failure: OnFailure = "raise",
        guardrail_name: str = DEFAULT_NAME,
        event_hook: Any = GuardrailEventHooks.post_call,
        default_on: bool = False,
        **kwargs: Any,
    ) -> None:
        if on_withheld not in ("replace", "raise"):
            raise ValueError(f"on_withheld must be 'replace' or 'raise', got {on_withheld!r}")
        if on_failure not in ("raise", "replace"):
            raise ValueError(f"on_failure must be 'raise' or 'replace', got {on_failure!r}")
        super().__init__(
            guardrail_name=guardrail_name,
            supported_event_hooks=[GuardrailEventHooks.post_call],
            event_hook=event_hook,
            default_on=default_on,
            **kwargs,
        )
        self.guard = (
            guard
            if guard is not None
            else _build_guard(policies, api_base, api_key, model, review_store)
        )
        self.domain = domain
        self.model = model
        self.on_withheld: OnWithheld = on_withheld
        self.on_failure: OnFailure = on_failure

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any
    ) -> Any:
        """Judge ``response`` (a LiteLLM ``ModelResponse``) in place and return it.

        Other response types (embeddings, images, ...) and choices without text pass through.
        See the class docstring for what changes and what is raised."""
        if not isinstance(response, litellm.ModelResponse):
            return response
        targets = [c for c in response.choices if _judgeable(c)]
        if not targets:
            return response
        meta = _metadata(data)
        domain = (
            domain_or_none(meta.get("guardrail_domain")) or _text(meta.get("domain")) or self.domain
        )
        stakes = _text(meta.get("guardrail_stakes"))
        model = self.model or (None if self.guard.model else _text(response.model))
        call_id = _text(data.get("litellm_call_id"))
        started = time.time()
        try:
            results: list[GuardedResponse] = await asyncio.gather(
                *(
                    self.guard.assess(
                        data.get("messages") or [],
                        _choice(c),
                        domain=domain,
                        model=model,
                        stakes=stakes,
                        request_id=_request_id(call_id, c, len(targets)),
                        max_tokens=_int(data.get("max_tokens")),
                        seed=_int(data.get("seed")),
                    )
                    for c in targets
                )
            )
        except ValueError as exc:  # unknown domain, messages the guard cannot read
            self._record(data, {"error": str(exc)}, "guardrail_failed_to_respond", started)
            raise GuardrailRaisedException(
                self.guardrail_name, f"guardrail-uq: {exc}", status_code=400
            ) from exc
        except (AuthenticationError, GuardError) as exc:
            self._record(data, {"error": str(exc)}, "guardrail_failed_to_respond", started)
            raise GuardrailRaisedException(
                self.guardrail_name,
                f"guardrail-uq could not judge the answer: {type(exc).__name__}: {exc}",
                status_code=503,
            ) from exc
        hold = self.guard.hold_reviews
        verdicts = [verdict(r, hold_reviews=hold) for r in results]
        logged: dict[str, Any] | list[dict[str, Any]] = (
            verdicts[0] if len(verdicts) == 1 else verdicts
        )
        failed = [r for r in results if r.status == "failed"]
        if failed and self.on_failure == "raise":
            self._record(data, logged, "guardrail_failed_to_respond", started)
            raise GuardrailRaisedException(
                self.guardrail_name,
                f"guardrail-uq could not judge the answer: {failed[0].error}",
                status_code=503,
            )
        held = [r for r in results if r.status != "failed" and withheld(r, hold_reviews=hold)]
        status = (
            "guardrail_failed_to_respond"
            if failed
            else ("guardrail_intervened" if held else "success")
        )
        if held and self.on_withheld == "raise":
            self._record(data, logged, status, started)
            raise GuardrailRaisedException(
                self.guardrail_name,
                held[0].text,
                should_wrap_with_default_message=False,
                status_code=400,
                blocked_content=True,
            )
        for c, r in zip(targets, results, strict=True):
            c.message.content = r.text
            if withheld(r, hold_reviews=hold):
                _scrub(c)
        setattr(response, VERDICT_FIELD, verdicts[0])
        if len(verdicts) > 1:
            setattr(response, f"{VERDICT_FIELD}_choices", verdicts)
        self._record(data, logged, status, started)
        return response

    def _record(self, data: dict[str, Any], payload: Any, status: Any, started: float) -> None:
        """LiteLLM's logging record of this run (``standard_logging_guardrail_information``)."""
        ended = time.time()
        first = payload[0] if isinstance(payload, list) else payload
        detail: Any = {}
        if isinstance(first, Mapping) and "action" in first:
            detail = {
                "guardrail_action": first.get("action"),
                "policy_template": first.get("policy"),
                "violation_categories": list(first.get("rules") or []),
            }
        self.add_standard_logging_guardrail_information_to_request_data(
            guardrail_json_response=payload,
            request_data=data,
            guardrail_status=status,
            start_time=started,
            end_time=ended,
            duration=ended - started,
            guardrail_provider="guardrail-uq",
            event_type=GuardrailEventHooks.post_call,
            tracing_detail=detail,
        )


def _build_guard(
    policies: str | None,
    api_base: str | None,
    api_key: str | None,
    model: str | None,
    review_store: str | None,
) -> Guard:
    from guardrail.providers import OpenAICompatProvider

    provider = (
        OpenAICompatProvider(api_base, api_key=api_key, model=model)
        if api_base is not None
        else None
    )
    options: dict[str, Any] = {"model": model}
    if review_store is not None:
        from guardrail.review.backends import open_store

        options["review_store"] = open_store(review_store)
    return Guard.from_policies(policies, provider, **options)


def _judgeable(choice: Any) -> bool:
    """A text answer (not a tool call, not empty) in a non-streaming choice."""
    message = getattr(choice, "message", None)
    if message is None or getattr(message, "tool_calls", None):
        return False
    content = getattr(message, "content", None)
    return isinstance(content, str) and bool(content.strip())


def _choice(choice: Any) -> Choice:
    """The LiteLLM choice as guardrail's :class:`Choice` (text, finish reason, token log-probs)."""
    return Choice(
        index=int(getattr(choice, "index", 0) or 0),
        text=choice.message.content,
        finish_reason=_text(getattr(choice, "finish_reason", None)),
        logprobs=openai_logprobs(getattr(choice, "logprobs", None)),
    )


def _scrub(choice: Any) -> None:
    """Remove every copy of a withheld answer from a choice: log-probs spell its tokens, and
    reasoning fields may state it."""
    choice.finish_reason = "content_filter"
    if getattr(choice, "logprobs", None) is not None:
        choice.logprobs = None
    message = choice.message
    for name in ("reasoning_content", "thinking_blocks", "reasoning_items"):
        if getattr(message, name, None) is not None:
            setattr(message, name, None)


def _metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("litellm_metadata", "metadata"):  # later wins: the caller's own metadata
        bucket = data.get(key)
        if isinstance(bucket, Mapping):
            out.update(bucket)
    return out


def _request_id(call_id: str | None, choice: Any, n: int) -> str | None:
    if call_id is None:
        return None
    return call_id if n == 1 else f"{call_id}-{int(getattr(choice, 'index', 0) or 0)}"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
