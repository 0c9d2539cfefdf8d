"""The replay report as a self-contained HTML page (``guardrail replay --html FILE``).

Rendered with Jinja2 (extra ``web``) from ``guardrail/decisions/templates/replay.html`` with
autoescaping on: every string from the log or the policy (domain names, signal names, paths) is
escaped. Per domain: the before/after table (actions, review load, abstention rate, accuracy of
shown answers with its interval), the transition matrix (logged action x candidate action, changed
cells highlighted) and the undetermined rows with the signals the log lacks; an overview table
across domains on top. No script, no external resource.

Every number is rendered from :meth:`~guardrail.decisions.replay.ReplayAccumulator.report` and
carries ``data-key`` (a JSON array: the path into that report, e.g. ``["medical", "after",
"review_per_day"]``, or ``["medical", "matrix", "review", "pass"]`` for a transition cell) and
``data-value`` (the exact value, ``repr`` of a float), so a reader or a test can check the page
against ``--format json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from guardrail.decisions.replay import ACTIONS, FAILED, UNDETERMINED

__all__ = ["html_report", "transition_matrix"]

TEMPLATES = Path(__file__).parent / "templates"
_ORDER = (*ACTIONS, FAILED, UNDETERMINED)


def transition_matrix(domain: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """logged action -> candidate action -> rows, from one domain of the report (its changed
    ``transitions`` plus the unchanged diagonal: logged count minus the rows that left it).
    Only actions that occur are present."""
    before = domain["before"]["counts"]
    after = domain["after"]["counts"]
    out: dict[str, dict[str, int]] = {}
    rows = [a for a in _ORDER if before.get(a, 0)]
    cols = [a for a in _ORDER if before.get(a, 0) or after.get(a, 0)]
    for old in rows:
        out[old] = {new: 0 for new in cols}
        left = 0
        for new in cols:
            if new != old:
                c = int(domain["transitions"].get(f"{old}->{new}", 0))
                out[old][new] = c
                left += c
        if old in out[old]:
            out[old][old] = int(before[old]) - left
    return out


def _key(*parts: str) -> str:
    return json.dumps(list(parts), ensure_ascii=False)


def _cell(key: str, value: float | int, text: str) -> dict[str, Any]:
    return {"key": key, "value": repr(value), "text": text}


def _metric(name: str, side: str, s: Mapping[str, Any], field: str, fmt: str) -> dict[str, Any]:
    """The cell of ``report[name][side][field]``, shown with ``fmt``."""
    return _cell(_key(name, side, field), s[field], format(s[field], fmt))


def _acc_text(est: Mapping[str, Any] | None) -> str:
    if est is None:
        return "no labels"
    return f"{est['accuracy']:.3f} [{est['low']:.3f}, {est['high']:.3f}] (n={est['n']})"


def _domain_view(name: str, d: Mapping[str, Any]) -> dict[str, Any]:
    b, a = d["before"], d["after"]
    summary: list[dict[str, Any]] = []
    for act in _ORDER:
        if b["counts"][act] or a["counts"][act]:
            summary.append(
                {
                    "label": act,
                    "cells": [
                        _cell(
                            _key(name, side, "counts", act), s["counts"][act], str(s["counts"][act])
                        )
                        for side, s in (("before", b), ("after", a))
                    ],
                }
            )
    summary.append(
        {
            "label": "review load (items/day)",
            "cells": [
                _metric(name, side, s, "review_per_day", ".1f")
                for side, s in (("before", b), ("after", a))
            ],
        }
    )
    summary.append(
        {
            "label": "abstention rate",
            "cells": [
                _metric(name, side, s, "abstention_rate", ".3f")
                for side, s in (("before", b), ("after", a))
            ],
        }
    )
    acc_cells = []
    for side, s in (("before", b), ("after", a)):
        est = s["shown_accuracy"]
        acc_cells.append(
            {
                "key": _key(name, side, "shown_accuracy"),
                "value": None
                if est is None
                else json.dumps(
                    {k: est[k] for k in ("accuracy", "low", "high", "n")}, sort_keys=True
                ),
                "text": _acc_text(est),
            }
        )
    summary.append({"label": "accuracy of shown answers (95% CI)", "cells": acc_cells})

    matrix = transition_matrix(d)
    columns = next(iter(matrix.values())).keys() if matrix else []
    mrows = [
        {
            "action": old,
            "cells": [
                {
                    "key": _key(name, "matrix", old, new),
                    "value": c,
                    "changed": new != old,
                }
                for new, c in cols.items()
            ],
        }
        for old, cols in matrix.items()
    ]
    return {
        "name": name,
        "undetermined_key": _key(name, "undetermined"),
        "unlabelled_key": _key(name, "unlabelled_now_shown"),
        "rows": d["rows"],
        "days": d["days"],
        "changed": d["changed"],
        "no_policy": d["no_policy"],
        "overview": [
            _cell(_key(name, "rows"), d["rows"], str(d["rows"])),
            _cell(_key(name, "changed"), d["changed"], str(d["changed"])),
            _metric(name, "before", b, "review_per_day", ".1f"),
            _metric(name, "after", a, "review_per_day", ".1f"),
            _metric(name, "before", b, "abstention_rate", ".3f"),
            _metric(name, "after", a, "abstention_rate", ".3f"),
        ],
        "summary": summary,
        "columns": list(columns),
        "matrix": mrows,
        "undetermined": d["undetermined"],
        "missing": [
            {"name": k, "key": _key(name, "missing_signals", k), "value": v}
            for k, v in d["missing_signals"].items()
        ],
        "unlabelled_now_shown": d["unlabelled_now_shown"],
        "versions": [
            {"name": v or "no version", "key": _key(name, "policy_versions", v), "value": c}
            for v, c in d["policy_versions"].items()
        ]
        if len(d["policy_versions"]) > 1
        else [],
    }


def html_report(
    report: Mapping[str, Any],
    *,
    candidate: str,
    logs: Iterable[str],
    level: float = 0.95,
) -> str:
    """The replay report as one HTML page (see the module docstring).

    Args:
        report: :meth:`~guardrail.decisions.replay.ReplayAccumulator.report` output.
        candidate: how to name the candidate policy (its path).
        logs: the logs replayed (shown as given: redact URLs with secrets first).
        level: the interval level the report was made with (for the footnote).

    Raises:
        ImportError: Jinja2 is not installed (extra ``web``).
    """
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - jinja2 comes with the web extra
        raise ImportError("the HTML report needs jinja2: pip install 'guardrail-uq[web]'") from exc
    from guardrail import __version__

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    domains = [_domain_view(name, d) for name, d in report["domains"].items()]
    return env.get_template("replay.html").render(
        candidate=candidate,
        logs=list(logs),
        rows=report["rows"],
        changed=report["changed"],
        rows_key=_key("rows"),
        changed_key=_key("changed"),
        domains=domains,
        version=__version__,
        level_pct=f"{level * 100:g}",
    )
