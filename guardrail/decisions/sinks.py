"""Open a decision-log sink from one string (the CLI's ``--decision-log``, ``guardrail serve``'s
``GUARDRAIL_SERVE_DECISION_LOG``).

- ``otel``: :class:`~guardrail.decisions.otel.OTelDecisionLog` on the global logger provider
  (a no-op until the host installs one, e.g. ``opentelemetry-instrument guardrail serve ...``);
- ``sqlite:...``, ``postgresql://...``: the ``decision_log`` table
  (:func:`~guardrail.decisions.table.open_decision_table`);
- anything else: a JSONL file (:class:`~guardrail.decisions.log.JSONLDecisionLog`, rotated at UTC
  midnight), ``{pid}`` in it replaced by the process id (one file per worker process: the
  rotating handlers are not safe for several processes on one file), rotated files uploaded to
  ``ship_to`` when given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from guardrail.decisions.log import DecisionSink, JSONLDecisionLog

__all__ = ["is_jsonl_spec", "open_decision_sink"]


def is_jsonl_spec(spec: str) -> bool:
    """Whether ``spec`` names a JSONL file (not ``otel``, not a database URL)."""
    from guardrail.decisions.table import is_table_url

    return spec.strip() != "otel" and not is_table_url(spec)


def open_decision_sink(
    spec: str,
    *,
    ship_to: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> DecisionSink:
    """The sink ``spec`` names (see the module docstring).

    Raises:
        ValueError: an empty spec, or ``ship_to`` with a non-JSONL sink.
        OSError: the JSONL file cannot be opened. Database errors as
            :func:`~guardrail.decisions.table.open_decision_table`.
    """
    text = spec.strip()
    if not text:
        raise ValueError("the decision log is empty: give a JSONL path, a database URL or otel")
    if not is_jsonl_spec(text):
        if ship_to:
            raise ValueError("ship_to applies to a JSONL decision log only")
        if text == "otel":
            from guardrail.decisions.otel import OTelDecisionLog

            return OTelDecisionLog()
        from guardrail.decisions.table import open_decision_table

        return open_decision_table(text)
    return JSONLDecisionLog(
        text.replace("{pid}", str(os.getpid())), ship_to=ship_to, storage_options=storage_options
    )
