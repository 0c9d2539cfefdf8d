"""Adapters that put guardrail's judgement into other LLM frameworks (``docs/integrations.md``).

Each adapter lives in its own module and imports its framework there, so importing this package
needs no optional extra:

* :mod:`guardrail.integrations.litellm` -- :class:`~guardrail.integrations.litellm.GuardrailUQ`,
  a LiteLLM ``CustomGuardrail`` (post-call hook; extra ``litellm``).
* :mod:`guardrail.integrations.langchain` --
  :class:`~guardrail.integrations.langchain.GuardedChatModel`, a LangChain ``BaseChatModel`` that
  wraps any chat model (extra ``langchain``).

Both judge an answer made elsewhere with :meth:`guardrail.Guard.assess` and attach the verdict
object of :func:`guardrail.sdk.verdict.verdict` (the same shape ``guardrail serve`` sends).
"""
