"""The SDK: :class:`Guard` (guarded chat completions) and OpenAI-shaped drop-in clients."""

from guardrail.sdk.client import (
    AsyncGuardedClient,
    GuardedClient,
    GuardedCompletion,
    GuardUsage,
    OpenAIClientProvider,
)
from guardrail.sdk.guard import Guard, GuardError, GuardTimeoutError
from guardrail.sdk.models import Cost, GuardedResponse, SignalReport

__all__ = [
    "AsyncGuardedClient",
    "Cost",
    "Guard",
    "GuardError",
    "GuardTimeoutError",
    "GuardUsage",
    "GuardedClient",
    "GuardedCompletion",
    "GuardedResponse",
    "OpenAIClientProvider",
    "SignalReport",
]
