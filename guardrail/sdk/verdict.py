"""The verdict object: a JSON-ready summary of a :class:`~guardrail.sdk.models.GuardedResponse`.

One shape for every place a verdict leaves guardrail next to someone else's response object:
the ``guardrail`` field of ``guardrail serve``'s ``ChatCompletion`` (``docs/serve.md``), the
LiteLLM adapter's response field and logging record, and the LangChain wrapper's
``response_metadata`` (``docs/integrations.md``). Needs no optional extra.
"""

from __future__ import annotations

from typing import Any

from guardrail.sdk.models import GuardedResponse

__all__ = ["verdict", "withheld"]


def withheld(r: GuardedResponse, *, hold_reviews: bool = True) -> bool:
    """True when the user does not see the model's answer: ``abstained``, ``failed`` (``text``
    is the guard's failure message), or ``pending_review`` while the guard holds reviewed
    answers (``Guard(hold_reviews=True)``, the default)."""
    return r.status in ("abstained", "failed") or (r.status == "pending_review" and hold_reviews)


def verdict(r: GuardedResponse, *, hold_reviews: bool = True) -> dict[str, Any]:
    """The documented verdict object of ``r`` (JSON-serialisable; keys always present).

    Keys: ``status`` (``answered`` | ``abstained`` | ``pending_review`` | ``failed``),
    ``action`` (``pass`` | ``notice`` | ``review`` | ``abstain``, ``None`` when failed),
    ``domain``, ``policy``, ``rules`` (matched rule names, file order), ``notices``, ``message``
    (the decision's message, ``None`` when failed), ``missing`` (signals the policy needed but
    could not get), ``signals`` (DSL name -> value), ``review_id``, ``spot_check_id``,
    ``request_id``, ``withheld`` (:func:`withheld`), ``retracted`` / ``replacement`` (``False`` /
    ``None`` here; set by ``live`` streams of ``guardrail serve``), ``cost`` (``calls``,
    ``input_tokens``, ``output_tokens``, ``latency_s`` rounded to 0.1 ms, ``unused_calls``,
    ``unmetered_calls``: :class:`~guardrail.sdk.models.Cost`) of every call the guard made (a
    ``live`` stream's answer call included).
    """
    d = r.decision
    return {
        "status": r.status,
        "action": r.action.value if r.action is not None else None,
        "domain": r.domain,
        "policy": r.policy,
        "rules": [m.rule for m in d.matched] if d is not None else [],
        "notices": list(r.notices),
        "message": d.message if d is not None else None,
        "missing": list(d.missing) if d is not None else [],
        "signals": dict(r.values),
        "review_id": r.review_id,
        "spot_check_id": r.spot_check_id,
        "request_id": r.request_id,
        "withheld": withheld(r, hold_reviews=hold_reviews),
        "retracted": False,
        "replacement": None,
        "cost": {
            "calls": r.cost.calls,
            "input_tokens": r.cost.input_tokens,
            "output_tokens": r.cost.output_tokens,
            "latency_s": round(r.cost.latency_s, 4),
            "unused_calls": r.cost.unused_calls,
            "unmetered_calls": r.cost.unmetered_calls,
        },
    }
