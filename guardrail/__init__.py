"""guardrail: keep LLM applications honest about what they don't know.

Sub-packages (one job each, arrows point one way):

* :mod:`guardrail.policy` -- the policy language: grammar, parser, checker, evaluator, formatter.
* :mod:`guardrail.signals` -- uncertainty signals computed from model replies (pure functions).
* :mod:`guardrail.providers` -- chat providers (OpenAI-compatible over httpx, local, replay).
* :mod:`guardrail.calibration` -- calibration metrics, reliability diagrams, profiles (pure numpy).
* :mod:`guardrail.review` -- review queue and spot-check sampler.
* :mod:`guardrail.guard` -- the SDK that ties them together.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily at run time so `import guardrail` stays cheap
    from guardrail.sdk import AsyncGuardedClient, Guard, GuardedClient, GuardedResponse

__all__ = ["AsyncGuardedClient", "Guard", "GuardedClient", "GuardedResponse", "__version__"]

_SDK_NAMES = {"AsyncGuardedClient", "Guard", "GuardedClient", "GuardedResponse"}


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        from guardrail import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'guardrail' has no attribute {name!r}")
