"""Recompute the tables and diagrams of docs/audit-run.md from docs/audit-run/records.jsonl.

    .venv/bin/python docs/audit-run/make_figures.py      # needs the `plot` extra for the PNGs

Writes ``tables.md`` (per-domain x per-source matrix, judging and abstention tables) and two
reliability diagrams beside this file, all with guardrail.calibration (10 equal-width bins,
1000 bootstrap resamples, seed 0).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from guardrail.calibration import audit, load_records
from guardrail.calibration.plot import reliability_diagram

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "records.jsonl"
SOURCES = ("consistency", "logprob_confidence", "verbalized_followup", "verbalized", "hedge_label")


def _f(x: float | None, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def main() -> None:
    rs = load_records(RECORDS, strict=True)
    raw = [json.loads(line) for line in RECORDS.read_text(encoding="utf-8").splitlines()]
    report = audit(rs, ("domain", "source"), n_bootstrap=1000, seed=0, target_accuracy=0.9)
    out: list[str] = []

    # 1. questions, accuracy and judging per dataset (one row per question)
    per_q: dict[str, dict[str, object]] = {}
    for r in raw:
        per_q.setdefault(r["question_id"], r)
    out.append("| dataset | domain | questions | accuracy | judged by |")
    out.append("|---|---|---|---|---|")
    by_ds: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in per_q.values():
        by_ds[str(r["dataset"])].append(r)
    for ds, rows in sorted(by_ds.items()):
        acc = sum(bool(r["correct"]) for r in rows) / len(rows)
        how = Counter(str(r["judged_by"]) for r in rows)
        out.append(
            f"| {ds} | {rows[0]['domain']} | {len(rows)} | {acc:.3f} | "
            + ", ".join(f"{k} {v}" for k, v in how.most_common())
            + " |"
        )
    out.append("")

    # 2. coverage of each source (share of questions with a value) per domain
    n_by_domain = Counter(str(r["domain"]) for r in per_q.values())
    have: Counter[tuple[str, str]] = Counter((r["domain"], r["source"]) for r in raw)
    out.append("| domain | questions | " + " | ".join(SOURCES) + " |")
    out.append("|---|---|" + "---|" * len(SOURCES))
    for d in sorted(n_by_domain):
        cells = [f"{have[(d, s)] / n_by_domain[d]:.0%}" for s in SOURCES]
        out.append(f"| {d} | {n_by_domain[d]} | " + " | ".join(cells) + " |")
    out.append("")

    # 3. the confidence-accuracy matrix
    out.append(
        "| domain | source | n | accuracy | mean conf. | overconf. | ECE [95% CI] | Brier "
        "| AUROC | threshold for 90% (coverage) |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for g in sorted(report.groups, key=lambda g: (g.key["domain"], SOURCES.index(g.key["source"]))):
        ci = f" [{g.ece_ci.low:.3f}, {g.ece_ci.high:.3f}]" if g.ece_ci else ""
        t = g.threshold
        thr = (
            f"{t.threshold:.2f} ({t.coverage.estimate:.0%})"
            if t is not None and t.reached and t.threshold is not None and t.coverage
            else "not reached"
        )
        out.append(
            f"| {g.key['domain']} | {g.key['source']} | {g.n} | {g.accuracy.estimate:.3f} | "
            f"{g.mean_confidence:.3f} | {g.overconfidence:+.3f} | {g.ece:.3f}{ci} | "
            f"{g.brier:.3f} | {_f(g.auroc)} | {thr} |"
        )
    out.append("")

    # 4. abstention on known_unknowns (per question; confident = confidence >= 0.7)
    ku = [r for r in per_q.values() if str(r["dataset"]) == "bigbench/known_unknowns"]
    if ku:
        un = [r for r in ku if not r["answerable"]]
        an = [r for r in ku if r["answerable"]]
        out.append("| known_unknowns | questions | abstained | answered correctly |")
        out.append("|---|---|---|---|")
        for name, rows in (("unanswerable", un), ("answerable", an)):
            out.append(
                f"| {name} | {len(rows)} | {sum(bool(r['abstained']) for r in rows)} | "
                f"{sum(bool(r['correct']) for r in rows)} |"
            )
        out.append("")
        out.append("| source | records on unanswerable | confidently wrong (>= 0.7) |")
        out.append("|---|---|---|")
        for s in SOURCES:
            rows = [
                r
                for r in raw
                if r["dataset"] == "bigbench/known_unknowns"
                and not r["answerable"]
                and r["source"] == s
            ]
            cw = sum(
                1
                for r in rows
                if not r["abstained"] and not r["correct"] and r["confidence"] >= 0.7
            )
            out.append(f"| {s} | {len(rows)} | {cw} |")
        out.append("")
    # 5. coverage / accuracy trade-off per domain for the two informative sources:
    #    pass when confidence >= t, for every observed t (ties pass together).
    for source in ("consistency", "logprob_confidence"):
        out.append(f"**{source}**: pass when `{source} >= t`")
        out.append("")
        out.append("| domain | t | passed | coverage | accuracy of passed |")
        out.append("|---|---|---|---|---|")
        for d in sorted(n_by_domain):
            rows = sorted(
                (
                    (r["confidence"], bool(r["correct"]))
                    for r in raw
                    if r["domain"] == d and r["source"] == source
                ),
                reverse=True,
            )
            if not rows:
                continue
            levels = sorted({round(c, 2) for c, _ in rows}, reverse=True)
            if len(levels) > 6:  # continuous scores: show quantile cut points only
                idx = [round(i * (len(rows) - 1) / 5) for i in range(6)]
                levels = sorted({round(rows[i][0], 2) for i in idx}, reverse=True)
            for t in levels:
                passed = [ok for c, ok in rows if round(c, 2) >= t]
                out.append(
                    f"| {d} | {t:.2f} | {len(passed)} | {len(passed) / len(rows):.0%} | "
                    f"{sum(passed) / len(passed):.3f} |"
                )
        out.append("")
    (HERE / "tables.md").write_text("\n".join(out), encoding="utf-8")

    # Diagrams: consistency per domain; all domains pooled per source.
    cons = [r for r in rs.records if r.source == "consistency"]
    by_domain = audit(cons, ("domain",), n_bootstrap=1000, seed=0)
    reliability_diagram(
        by_domain, HERE / "consistency_by_domain.png", formats=("png",), ncols=5, dpi=100
    )
    by_source = audit(rs, ("source",), n_bootstrap=1000, seed=0)
    reliability_diagram(
        by_source,
        HERE / "by_source.png",
        formats=("png",),
        include_overall=False,
        ncols=5,
        dpi=100,
    )


if __name__ == "__main__":
    main()
