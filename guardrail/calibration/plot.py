"""Reliability diagrams (PNG / SVG) with matplotlib, the optional ``plot`` extra.

Each panel (one per group, e.g. domain): per-bin accuracy bars with 95 % Clopper-Pearson error
bars (drawn at the bin's mean confidence), the diagonal of perfect calibration, the gap between
accuracy and the bin's mean confidence shaded (red: overconfident, green: underconfident), and a
count histogram underneath; the title gives n, ECE (with its bootstrap interval when computed) and
the Brier score. Reliability diagrams after DeGroot & Fienberg 1983 (The Statistician 32) and
Guo et al. 2017 (arXiv 1706.04599).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guardrail.calibration.audit import AuditReport, GroupAudit

PLOT_EXTRA_HINT = (
    "reliability diagrams need matplotlib, which is not installed: pip install 'guardrail-uq[plot]'"
)


class PlotUnavailableError(RuntimeError):
    """matplotlib (the ``plot`` extra) is not installed."""


def matplotlib_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailableError(PLOT_EXTRA_HINT) from exc
    return plt


_BAR = "#9ecae1"
_BAR_EDGE = "#3b6ea5"
_OVER = "#d62728"
_UNDER = "#2ca02c"
_HIST = "#8c8c8c"


def _panel_stats(g: GroupAudit) -> str:
    ece = f"ECE = {g.ece:.3f}"
    if g.ece_ci is not None:
        ece += f" [{g.ece_ci.low:.3f}, {g.ece_ci.high:.3f}]"
    return f"n = {g.n}   accuracy = {g.accuracy.estimate:.3f}   Brier = {g.brier:.3f}\n{ece}"


def _draw_panel(ax: Any, hx: Any, g: GroupAudit, show_ylabel: bool) -> None:
    bins = g.reliability.bins
    ax.plot([0, 1], [0, 1], ls="--", lw=1.0, color="0.35", zorder=1, label="perfect calibration")
    for row in bins:
        width = row.upper - row.lower
        if row.count == 0 or row.accuracy is None or row.mean_confidence is None:
            continue
        ax.bar(
            row.lower,
            row.accuracy,
            width=width,
            align="edge",
            color=_BAR,
            edgecolor=_BAR_EDGE,
            linewidth=0.7,
            zorder=2,
        )
        lo, hi = sorted((row.accuracy, row.mean_confidence))
        ax.bar(
            row.lower,
            hi - lo,
            bottom=lo,
            width=width,
            align="edge",
            facecolor=(_OVER if row.mean_confidence > row.accuracy else _UNDER) + "59",
            edgecolor=_OVER if row.mean_confidence > row.accuracy else _UNDER,
            linewidth=0.7,
            hatch="////",
            zorder=3,
        )
        # error bar at the bin's mean confidence: the dot on the diagonal sits on the bar
        # exactly when the bin is consistent with perfect calibration at 95 %
        cx = row.mean_confidence
        if row.accuracy_low is not None and row.accuracy_high is not None:
            ax.errorbar(
                cx,
                row.accuracy,
                yerr=[[row.accuracy - row.accuracy_low], [row.accuracy_high - row.accuracy]],
                fmt="none",
                ecolor="black",
                elinewidth=0.9,
                capsize=2.5,
                zorder=4,
                clip_on=False,
            )
        ax.plot(row.mean_confidence, row.mean_confidence, marker="o", ms=3, color="black", zorder=5)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.tick_params(labelbottom=False)
    ax.grid(True, lw=0.4, color="0.88", zorder=0)
    ax.set_axisbelow(True)
    if show_ylabel:
        ax.set_ylabel("accuracy")
    ax.set_title(g.label, fontsize=10, fontweight="bold", pad=27)
    ax.text(
        0.5,
        1.025,
        _panel_stats(g),
        transform=ax.transAxes,
        va="bottom",
        ha="center",
        fontsize=7.5,
        linespacing=1.4,
    )
    for row in bins:
        hx.bar(
            row.lower,
            row.count,
            width=row.upper - row.lower,
            align="edge",
            color=_HIST,
            edgecolor="white",
            linewidth=0.8,
        )
    hx.set_xlim(0, 1)
    hx.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    hx.set_xlabel("confidence")
    if show_ylabel:
        hx.set_ylabel("count")
    hx.grid(True, axis="y", lw=0.4, color="0.88")
    hx.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
        hx.spines[spine].set_visible(False)


def reliability_diagram(
    groups: AuditReport | Sequence[GroupAudit],
    out: str | Path,
    formats: Sequence[str] = ("png", "svg"),
    ncols: int | None = None,
    include_overall: bool | None = None,
    dpi: int = 200,
) -> list[Path]:
    """Draw one reliability panel per group and save it as ``out`` with each suffix in ``formats``.

    Args:
        groups: an :class:`AuditReport` (its groups, plus the pooled row first when
            ``include_overall`` is true or there is more than one group) or a list of rows.
        out: file path; its suffix is replaced by each format (``png``, ``svg``, ``pdf``).
        ncols: panels per row (default: up to 4).

    Returns:
        The files written.

    Raises:
        PlotUnavailableError: matplotlib is not installed (``pip install 'guardrail-uq[plot]'``).
        ValueError: no groups to draw.
    """
    plt = _pyplot()
    if isinstance(groups, AuditReport):
        rows = list(groups.groups)
        if include_overall or (include_overall is None and len(rows) != 1):
            rows = [groups.overall, *rows]
    else:
        rows = list(groups)
    if not rows:
        raise ValueError("no groups to draw")
    cols = ncols or min(len(rows), 4)
    nrows = math.ceil(len(rows) / cols)
    with plt.rc_context(
        {
            "font.size": 9,
            "axes.titlesize": 9,
            "axes.labelsize": 9,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "legend.fontsize": 8,
            "svg.fonttype": "none",
            "hatch.linewidth": 0.5,
        }
    ):
        width = max(3.1 * cols, 4.6)
        fig = plt.figure(figsize=(width, 4.1 * nrows + 0.4 + (0.3 if cols < 3 else 0.0)))
        fig.set_layout_engine("constrained")
        outer = fig.add_gridspec(nrows, cols)
        for i, g in enumerate(rows):
            cell = outer[i // cols, i % cols]
            inner = cell.subgridspec(2, 1, height_ratios=[3.0, 1], hspace=0.04)
            ax = fig.add_subplot(inner[0])
            hx = fig.add_subplot(inner[1], sharex=ax)
            _draw_panel(ax, hx, g, show_ylabel=(i % cols == 0))
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [
            Line2D([0], [0], ls="--", color="0.35", label="perfect calibration"),
            Patch(facecolor=_BAR, edgecolor=_BAR_EDGE, label="bin accuracy, 95% Clopper-Pearson"),
            Patch(fc=_OVER + "59", ec=_OVER, hatch="////", label="overconfident gap"),
            Patch(fc=_UNDER + "59", ec=_UNDER, hatch="////", label="underconfident gap"),
            Line2D([0], [0], marker="o", ls="none", c="black", ms=3, label="bin mean confidence"),
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol={1: 2, 2: 3}.get(cols, 5),
            frameon=False,
        )
        base = Path(out)
        base.parent.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for fmt in formats:
            target = base.with_suffix("." + fmt.lstrip("."))
            meta = {"Software": "guardrail"} if fmt == "png" else None
            fig.savefig(target, dpi=dpi, metadata=meta)
            written.append(target)
        plt.close(fig)
    return written
