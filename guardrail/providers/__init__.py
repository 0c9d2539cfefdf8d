"""Chat-completion providers: OpenAI-compatible (httpx), embedded local (llama.cpp), replay.

``make_provider(base_url=None)`` is the usual entry point: with a ``base_url`` it returns an
:class:`OpenAICompatProvider`; without one, the embedded :class:`LocalProvider` (extra
``guardrail-uq[local]``).
"""

from __future__ import annotations

from collections.abc import Mapping

from guardrail.providers.base import (
    AuthenticationError,
    BadRequestError,
    ChatProvider,
    ChatResult,
    Choice,
    EmbeddingProvider,
    Message,
    MessagesLike,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RequestHook,
    ResponseFormatError,
    ServerError,
    StreamDelta,
    SyncChatMixin,
    TokenLogprob,
    ToolCallReply,
    TopLogprob,
    Usage,
    normalize_messages,
    request_hook,
    request_scope,
    run_sync,
)
from guardrail.providers.local import (
    DEFAULT_LOCAL_MODEL,
    LocalModelUnavailable,
    LocalProvider,
    embedded_model_path,
)
from guardrail.providers.openai_compat import (
    OpenAICompatProvider,
    chunk_delta,
    completion_delta,
    is_json_reply,
    parse_chat_completion,
    parse_embeddings,
    parse_retry_after,
    reply_deltas,
    sse_deltas,
)
from guardrail.providers.replay import (
    RecordingProvider,
    ReplayMissError,
    ReplayProvider,
    result_to_completion,
)

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "AuthenticationError",
    "BadRequestError",
    "ChatProvider",
    "ChatResult",
    "Choice",
    "EmbeddingProvider",
    "LocalModelUnavailable",
    "LocalProvider",
    "Message",
    "MessagesLike",
    "OpenAICompatProvider",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RecordingProvider",
    "ReplayMissError",
    "ReplayProvider",
    "RequestHook",
    "ResponseFormatError",
    "ServerError",
    "StreamDelta",
    "SyncChatMixin",
    "TokenLogprob",
    "ToolCallReply",
    "TopLogprob",
    "Usage",
    "chunk_delta",
    "completion_delta",
    "embedded_model_path",
    "is_json_reply",
    "make_provider",
    "normalize_messages",
    "parse_chat_completion",
    "parse_embeddings",
    "parse_retry_after",
    "reply_deltas",
    "request_hook",
    "request_scope",
    "result_to_completion",
    "run_sync",
    "sse_deltas",
]


def make_provider(
    base_url: str | None = None,
    *,
    model: str | None = None,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> ChatProvider:
    """An :class:`OpenAICompatProvider` for ``base_url``, or the embedded :class:`LocalProvider`.

    Raises:
        LocalModelUnavailable: no ``base_url`` and the ``local`` extra is not installed.
    """
    if base_url:
        return OpenAICompatProvider(
            base_url, api_key, model=model, headers=headers, timeout=timeout
        )
    return LocalProvider(model_name=model or DEFAULT_LOCAL_MODEL)
