"""Self-contained HTML audit report: the matrix table, reliability diagrams, fitted thresholds."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from guardrail.calibration.audit import AuditReport, GroupAudit
from guardrail.calibration.profile import CalibrationProfile

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;
color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}
h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0}
th,td{padding:.25rem .55rem;border-bottom:1px solid #e5e5e5;text-align:right;white-space:nowrap}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
.good{color:#1a7f37}.fair{color:#9a6700}.significant{color:#cf222e}.severe{color:#82071e;font-weight:700}
.muted{color:#666;font-size:.85rem}img{max-width:100%;border:1px solid #eee}
details{margin:.4rem 0}summary{cursor:pointer}
"""


def _f(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _ci(est: float, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return _f(est)
    return f"{est:.3f} <span class='muted'>[{low:.3f}, {high:.3f}]</span>"


def _matrix_rows(rows: list[GroupAudit]) -> str:
    out = []
    for g in rows:
        ece = _ci(g.ece, g.ece_ci.low if g.ece_ci else None, g.ece_ci.high if g.ece_ci else None)
        brier = _ci(
            g.brier, g.brier_ci.low if g.brier_ci else None, g.brier_ci.high if g.brier_ci else None
        )
        out.append(
            "<tr>"
            f"<td>{html.escape(g.label)}</td><td>{g.n}</td>"
            f"<td>{_ci(g.accuracy.estimate, g.accuracy.low, g.accuracy.high)}</td>"
            f"<td>{_f(g.mean_confidence)}</td><td>{g.overconfidence:+.3f}</td>"
            f"<td>{ece}</td><td>{_f(g.mce)}</td><td>{brier}</td><td>{_f(g.auroc)}</td>"
            f"<td>{_f(g.aurc)}</td><td>{_f(g.eaurc)}</td>"
            f"<td class='{g.verdict}'>{g.verdict}</td></tr>"
        )
    return "\n".join(out)


def _threshold_rows(rows: list[GroupAudit]) -> str:
    out = []
    for g in rows:
        t = g.threshold
        if t is None:
            continue
        thr = (
            "none reaches the target (abstain on all)"
            if t.threshold is None
            else _f(t.threshold, 4)
        )
        cov = _ci(t.coverage.estimate, t.coverage.low, t.coverage.high) if t.coverage else "—"
        acc = _ci(t.accuracy.estimate, t.accuracy.low, t.accuracy.high) if t.accuracy else "—"
        out.append(
            f"<tr><td>{html.escape(g.label)}</td><td>{t.target} ≥ {t.target_value:g}</td>"
            f"<td>{thr}</td><td>{t.n_accepted} / {t.n}</td><td>{cov}</td><td>{acc}</td></tr>"
        )
    return "\n".join(out)


def _bins_table(g: GroupAudit) -> str:
    rows = []
    for b in g.reliability.bins:
        rows.append(
            f"<tr><td>({b.lower:.3f}, {b.upper:.3f}]</td><td>{b.count}</td>"
            f"<td>{_f(b.mean_confidence)}</td><td>{_f(b.accuracy)}</td>"
            f"<td>{_f(b.accuracy_low)} – {_f(b.accuracy_high)}</td><td>{_f(b.gap)}</td></tr>"
        )
    return (
        f"<details><summary>{html.escape(g.label)}: reliability table</summary><table>"
        "<tr><th>bin</th><th>n</th><th>mean confidence</th><th>accuracy</th>"
        "<th>95% Clopper-Pearson</th><th>accuracy − confidence</th></tr>"
        + "\n".join(rows)
        + "</table></details>"
    )


def render_html(
    report: AuditReport,
    diagram_png: Path | None = None,
    profiles: Mapping[str, CalibrationProfile] | None = None,
    note: str | None = None,
) -> str:
    """The report as one HTML string (the PNG, if given, is embedded as a data URI)."""
    s = report.settings
    rows = [report.overall, *report.groups]
    img = ""
    if diagram_png is not None:
        data = base64.b64encode(diagram_png.read_bytes()).decode("ascii")
        img = f"<img alt='reliability diagrams' src='data:image/png;base64,{data}'>"
    elif note:
        img = f"<p class='muted'>{html.escape(note)}</p>"
    thr = _threshold_rows(rows)
    thr_html = (
        "<h2>Fitted thresholds</h2><p class='muted'>Answers with raw confidence ≥ threshold pass; "
        "intervals are 95% Clopper-Pearson.</p><table><tr><th>group</th><th>target</th>"
        "<th>threshold</th><th>passed</th><th>coverage</th><th>accuracy</th></tr>"
        f"{thr}</table>"
        if thr
        else ""
    )
    prof_html = ""
    if profiles:
        items = "".join(
            f"<li><code>{html.escape(str(path))}</code>: domain {html.escape(p.domain)}, "
            f"source {html.escape(p.source)}, n = {p.n}</li>"
            for path, p in profiles.items()
        )
        prof_html = f"<h2>Calibration profiles written</h2><ul>{items}</ul>"
    bad = (
        f"<p class='muted'>{report.n_bad_rows} bad row(s) skipped.</p>" if report.n_bad_rows else ""
    )
    files = ", ".join(html.escape(f) for f in report.files) or "(in memory)"
    ci_note = (
        f"ECE and Brier intervals: percentile bootstrap, {s.n_bootstrap} resamples, seed {s.seed}."
        if s.n_bootstrap
        else "No bootstrap intervals (--bootstrap 0)."
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>guardrail calibration audit</title>
<style>{_CSS}</style></head><body>
<h1>Calibration audit</h1>
<p class="muted">{files} · generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} ·
{s.n_bins} {"equal-width" if s.binning == "width" else "equal-mass"} bins (right-closed) ·
grouped by {", ".join(s.group_by) or "nothing"}</p>
{bad}
<h2>Confidence-accuracy matrix</h2>
<p class="muted">Overconfidence = mean confidence − accuracy. Verdict by ECE: &lt; 0.05 good,
&lt; 0.1 fair, &lt; 0.3 significant, ≥ 0.3 severe. {ci_note}</p>
<table><tr><th>group</th><th>n</th><th>accuracy</th><th>mean conf.</th><th>overconf.</th>
<th>ECE</th><th>MCE</th><th>Brier</th><th>AUROC</th><th>AURC</th><th>E-AURC</th><th>verdict</th></tr>
{_matrix_rows(rows)}
</table>
{thr_html}
<h2>Reliability diagrams</h2>
{img}
{"".join(_bins_table(g) for g in rows)}
{prof_html}
</body></html>
"""


def write_html_report(
    report: AuditReport,
    out_dir: str | Path,
    profiles: Mapping[str, CalibrationProfile] | None = None,
) -> list[Path]:
    """Write ``index.html``, ``audit.json`` and (with matplotlib) ``reliability.png``/``.svg``.

    Returns the files written. Without matplotlib the HTML says how to get the diagrams.
    """
    from guardrail.calibration.plot import (
        PLOT_EXTRA_HINT,
        matplotlib_available,
        reliability_diagram,
    )

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    png: Path | None = None
    note = None
    if matplotlib_available():
        written += reliability_diagram(report, d / "reliability.png")
        png = d / "reliability.png"
    else:
        note = PLOT_EXTRA_HINT
    (d / "audit.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    written.append(d / "audit.json")
    (d / "index.html").write_text(render_html(report, png, profiles, note), encoding="utf-8")
    written.append(d / "index.html")
    return written
