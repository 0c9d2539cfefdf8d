"""LangChain adapter: :class:`GuardedChatModel`, a ``BaseChatModel`` that wraps any LangChain
chat model and judges each answer with :meth:`guardrail.Guard.assess` (extra ``langchain``).

``invoke`` / ``ainvoke`` (and everything built on them: chains, agents, ``batch``) call the
wrapped model as usual, then judge its answer under the domain's policy: the conversation (the
input messages, converted with ``langchain_core.messages.convert_to_openai_messages``) and the
answer's text go to ``Guard.assess``; samples, the verbalized follow-up and ensemble answers are
asked of the *guard's* provider, free signals are computed locally (token log-probs in the
answer's ``response_metadata["logprobs"]``, as ``ChatOpenAI(logprobs=True)`` returns them, feed
``logprob_confidence``). The result is an ``AIMessage`` whose ``content`` is the text the policy
lets the user see (answer + notices, or the abstention / review message) and whose
``response_metadata["guardrail"]`` is the verdict (:func:`guardrail.sdk.verdict.verdict`, the
shape ``guardrail serve`` sends). A withheld answer (abstained, or held for review) also gets
``response_metadata["finish_reason"] = "content_filter"`` and keeps none of the wrapped
message's ``additional_kwargs`` or log-probs, so no copy of it is returned. The message keeps the
wrapped answer's ``id`` and ``usage_metadata`` (the answer call's tokens; the guard's own calls
are in the verdict's ``cost``).

Answers that are tool calls pass through unjudged (only final text answers are judged);
``bind_tools`` binds the tools to the wrapped model. ``stream`` / ``astream`` yield the judged
message as one chunk once it is decided (nothing of an undecided answer is streamed).

Domain of a call, first found wins: the keyword ``guardrail_domain`` (``model.invoke(msgs,
guardrail_domain="medical")`` or ``model.bind(guardrail_domain=...)``), the wrapper's ``domain``,
the only policy when the guard has one; ``guardrail_stakes`` sets the ``stakes`` signal. These
keywords are removed before the wrapped model is called.

Sources: the signal designs are those of :meth:`guardrail.Guard.chat` (``docs/sdk.md``); the
model contract is LangChain's ``BaseChatModel`` (``_generate`` / ``_agenerate``, langchain-core
1.x).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

try:
    from langchain_core.callbacks import (
        AsyncCallbackManager,
        AsyncCallbackManagerForLLMRun,
        BaseCallbackManager,
        CallbackManager,
        CallbackManagerForLLMRun,
    )
    from langchain_core.language_models import BaseChatModel, LanguageModelInput
    from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.runnables import Runnable, RunnableConfig
    from langchain_core.tools import BaseTool
    from pydantic import ConfigDict
except ImportError as exc:  # pragma: no cover - exercised by a test that hides langchain_core
    raise ImportError(
        "guardrail.integrations.langchain needs the 'langchain' extra: "
        "pip install 'guardrail-uq[langchain]'"
    ) from exc

from guardrail.integrations._common import domain_or_none, openai_logprobs, text_or_none
from guardrail.providers import Choice
from guardrail.sdk.guard import Guard, GuardError
from guardrail.sdk.models import GuardedResponse
from guardrail.sdk.verdict import verdict, withheld

__all__ = ["VERDICT_KEY", "GuardedChatModel"]

#: Key of the verdict in the returned message's ``response_metadata``.
VERDICT_KEY = "guardrail"

OnFailure = Literal["raise", "replace"]


class GuardedChatModel(BaseChatModel):
    """Any LangChain chat model, with each text answer judged by a guardrail :class:`Guard`.

    Attributes:
        llm: the wrapped chat model (or any runnable that returns a ``BaseMessage``, such as the
            result of ``chat_model.bind_tools(...)``).
        guard: the :class:`~guardrail.Guard` that judges (policies, provider for samples /
            follow-ups, review store, decision log).
        domain: default domain (overridden per call by the ``guardrail_domain`` keyword).
        guard_model: model name the guard's samples / follow-up are asked for. ``None``: the
            guard's own ``model`` if set, else the answer's ``response_metadata["model_name"]``
            (or ``["model"]``): the model that made the answer, as the policy assumes.
        on_failure: what to do when the guard's result is ``failed`` (the decision could not be
            carried out: a held answer the review store did not accept, an internal error; a
            signal the guard's provider could not compute is *missing* instead, and the policy's
            ``on_missing`` decides). ``"raise"`` (default): :class:`~guardrail.GuardError`;
            ``"replace"``: the message's content is the guard's failure message, as
            :meth:`Guard.chat` would show it. The answer is never returned either way.

    Raises (from ``invoke`` / ``ainvoke``):
        ValueError: unknown domain, or messages the guard cannot read (see
            :func:`guardrail.providers.normalize_messages`).
        guardrail.providers.AuthenticationError: the guard's provider rejected its key.
        GuardError: a ``failed`` result with ``on_failure="raise"``.
        Whatever the wrapped model raises, unchanged.

    Example::

        from langchain_openai import ChatOpenAI
        guard = Guard.from_policies("policies/", OpenAICompatProvider(URL, model="gpt-4o"))
        llm = GuardedChatModel(llm=ChatOpenAI(model="gpt-4o"), guard=guard, domain="medical")
        m = llm.invoke("Max daily dose of paracetamol?")
        m.content, m.response_metadata["guardrail"]["action"]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Runnable[LanguageModelInput, BaseMessage]
    guard: Guard
    domain: str | None = None
    guard_model: str | None = None
    on_failure: OnFailure = "raise"

    @property
    def _llm_type(self) -> str:
        return "guardrail-guarded"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        inner = getattr(self.llm, "_identifying_params", None)
        return {
            "domain": self.domain,
            "guard_model": self.guard_model,
            "llm": dict(inner) if isinstance(inner, dict) else type(self.llm).__name__,
        }

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The same wrapper around ``llm.bind_tools(tools, ...)``: tool calls pass through
        unjudged, text answers are judged.

        Raises:
            NotImplementedError: the wrapped model cannot bind tools."""
        bind = getattr(self.llm, "bind_tools", None)
        if bind is None:
            raise NotImplementedError(f"{type(self.llm).__name__} has no bind_tools")
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.model_copy(update={"llm": bind(tools, **kwargs)})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        domain, stakes = self._options(kwargs)
        config: RunnableConfig = {"callbacks": _child(run_manager, CallbackManager)}
        answer = self.llm.invoke(messages, config, stop=stop, **kwargs)
        if not _judgeable(answer):
            return ChatResult(generations=[ChatGeneration(message=answer)])
        r = self.guard.assess_sync(
            convert_to_openai_messages(messages),
            _choice(answer),
            domain=domain,
            model=self._model_for(answer),
            stakes=stakes,
        )
        return self._result(answer, r)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        domain, stakes = self._options(kwargs)
        config: RunnableConfig = {"callbacks": _child(run_manager, AsyncCallbackManager)}
        answer = await self.llm.ainvoke(messages, config, stop=stop, **kwargs)
        if not _judgeable(answer):
            return ChatResult(generations=[ChatGeneration(message=answer)])
        r = await self.guard.assess(
            convert_to_openai_messages(messages),
            _choice(answer),
            domain=domain,
            model=self._model_for(answer),
            stakes=stakes,
        )
        return self._result(answer, r)

    def _options(self, kwargs: dict[str, Any]) -> tuple[str | None, str | None]:
        """Pop the guardrail keywords (the wrapped model must not see them)."""
        domain = domain_or_none(kwargs.pop("guardrail_domain", None)) or self.domain
        stakes = text_or_none(kwargs.pop("guardrail_stakes", None))
        return domain, stakes

    def _model_for(self, answer: BaseMessage) -> str | None:
        if self.guard_model is not None:
            return self.guard_model
        if self.guard.model is not None:
            return None
        meta = answer.response_metadata
        return text_or_none(meta.get("model_name")) or text_or_none(meta.get("model"))

    def _result(self, answer: BaseMessage, r: GuardedResponse) -> ChatResult:
        v = verdict(r, hold_reviews=self.guard.hold_reviews)
        if r.status == "failed" and self.on_failure == "raise":
            raise GuardError(f"guardrail could not judge the answer: {r.error}")
        usage = getattr(answer, "usage_metadata", None)
        if withheld(r, hold_reviews=self.guard.hold_reviews):
            meta = {k: val for k, val in answer.response_metadata.items() if k != "logprobs"}
            meta.update({"finish_reason": "content_filter", VERDICT_KEY: v})
            message = AIMessage(
                content=r.text, id=answer.id, response_metadata=meta, usage_metadata=usage
            )
        else:
            meta = {**answer.response_metadata, VERDICT_KEY: v}
            message = AIMessage(
                content=r.text,
                id=answer.id,
                additional_kwargs=dict(answer.additional_kwargs),
                response_metadata=meta,
                usage_metadata=usage,
            )
        return ChatResult(generations=[ChatGeneration(message=message)])


def _child(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    kind: type[BaseCallbackManager],
) -> BaseCallbackManager | None:
    """Callbacks for the wrapped model's run: a child of this run, inheriting its handlers, tags
    and metadata (what LangChain's parent run managers give their children)."""
    if run_manager is None:
        return None
    manager = kind(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def _judgeable(answer: BaseMessage) -> bool:
    """A text answer: not a tool call, not empty."""
    if isinstance(answer, AIMessage) and (answer.tool_calls or answer.invalid_tool_calls):
        return False
    return bool(answer.text.strip())


def _choice(answer: BaseMessage) -> Choice:
    meta = answer.response_metadata
    return Choice(
        index=0,
        text=answer.text,
        finish_reason=text_or_none(meta.get("finish_reason")),
        logprobs=openai_logprobs(meta.get("logprobs")),
    )
