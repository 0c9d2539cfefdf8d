"""Helpers shared by the adapters (no optional extra needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardrail.providers import TokenLogprob, TopLogprob

__all__ = ["openai_logprobs", "text_or_none"]


def openai_logprobs(lp: Any) -> list[TokenLogprob] | None:
    """OpenAI-shaped ``logprobs`` (``{"content": [{"token", "logprob", "top_logprobs"}]}``, as
    dicts or objects with ``model_dump()``) as guardrail token log-probs.

    Returns ``None`` when absent, empty or unreadable: the ``logprob_confidence`` signal is then
    missing rather than invented. Never raises."""
    content = lp.get("content") if isinstance(lp, Mapping) else getattr(lp, "content", None)
    if not isinstance(content, list) or not content:
        return None
    out: list[TokenLogprob] = []
    try:
        for t in content:
            item = t if isinstance(t, Mapping) else t.model_dump()
            tops = [
                TopLogprob(token=str(a["token"]), logprob=float(a["logprob"]))
                for a in item.get("top_logprobs") or []
            ]
            out.append(
                TokenLogprob(
                    token=str(item["token"]), logprob=float(item["logprob"]), top_logprobs=tops
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return out


def text_or_none(value: Any) -> str | None:
    """``value`` when it is a non-blank string, else ``None``."""
    return value if isinstance(value, str) and value.strip() else None


def domain_or_none(value: Any) -> str | None:
    """A requested domain: a non-blank string as is; ``None`` or blank: not given (``None``);
    anything else (a number, a list) as its text, so that the guard refuses it as an unknown
    domain (``ValueError`` listing the domains) instead of silently applying the default one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value if isinstance(value, str) else str(value)
