"""The SDK: :class:`Guard` (guarded chat completions) and OpenAI-shaped drop-in clients.

The drop-in clients (:mod:`guardrail.sdk.client`) load on first use (PEP 562): they import the
``openai`` package when it is installed, which ``from guardrail import Guard`` does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guardrail.sdk.guard import Guard, GuardError, GuardTimeoutError
from guardrail.sdk.models import Cost, GuardedResponse, SignalReport, StreamEvent

if TYPE_CHECKING:
    from guardrail.sdk.client import (
        AsyncGuardedClient,
        AsyncGuardedStreamedResponse,
        GuardedClient,
        GuardedCompletion,
        GuardedRawResponse,
        GuardedStreamedResponse,
        GuardUsage,
        OpenAIClientProvider,
        UnsupportedArgumentError,
    )

_CLIENT_NAMES = frozenset(
    {
        "AsyncGuardedClient",
        "AsyncGuardedStreamedResponse",
        "GuardedClient",
        "GuardedCompletion",
        "GuardedRawResponse",
        "GuardedStreamedResponse",
        "GuardUsage",
        "OpenAIClientProvider",
        "UnsupportedArgumentError",
    }
)

__all__ = [
    "AsyncGuardedClient",
    "AsyncGuardedStreamedResponse",
    "Cost",
    "Guard",
    "GuardError",
    "GuardTimeoutError",
    "GuardUsage",
    "GuardedClient",
    "GuardedCompletion",
    "GuardedRawResponse",
    "GuardedResponse",
    "GuardedStreamedResponse",
    "OpenAIClientProvider",
    "SignalReport",
    "StreamEvent",
    "UnsupportedArgumentError",
]


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from guardrail.sdk import client

        value = getattr(client, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'guardrail.sdk' has no attribute {name!r}")
