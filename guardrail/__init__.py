"""guardrail: keep LLM applications honest about what they don't know.

Sub-packages (one job each, arrows point one way):

* :mod:`guardrail.policy` -- the policy language: grammar, parser, checker, evaluator, formatter.
* :mod:`guardrail.signals` -- uncertainty signals computed from model replies (pure functions).
* :mod:`guardrail.providers` -- chat-completion providers (OpenAI-compatible over httpx, local, replay).
* :mod:`guardrail.calibration` -- calibration metrics, reliability diagrams, profiles (pure numpy).
* :mod:`guardrail.review` -- review queue and spot-check sampler.
* :mod:`guardrail.guard` -- the SDK that ties them together.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
