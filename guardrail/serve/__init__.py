"""``guardrail serve``: an OpenAI-compatible guarding proxy (extra ``web``; ``docs/serve.md``).

:func:`create_app` lives in :mod:`guardrail.serve.app` (imports FastAPI); the settings model
imports only pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guardrail.serve.settings import ServeSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings, **kwargs: Any) -> FastAPI:
    """See :func:`guardrail.serve.app.create_app`."""
    from guardrail.serve.app import create_app as _create

    return _create(settings, **kwargs)
