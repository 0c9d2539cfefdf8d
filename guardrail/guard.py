"""``guardrail.guard``: the SDK entry points (implemented in :mod:`guardrail.sdk`)."""

from guardrail.sdk import (
    AsyncGuardedClient,
    Cost,
    Guard,
    GuardedClient,
    GuardedCompletion,
    GuardedResponse,
    GuardError,
    GuardTimeoutError,
    OpenAIClientProvider,
    SignalReport,
)

__all__ = [
    "AsyncGuardedClient",
    "Cost",
    "Guard",
    "GuardError",
    "GuardTimeoutError",
    "GuardedClient",
    "GuardedCompletion",
    "GuardedResponse",
    "OpenAIClientProvider",
    "SignalReport",
]
