"""Agreement of guardrail's confidence parser with the llm_confidence_json authors' parse.

Data: ``model_outputs/llm_confidence_json`` under the shared data directory
(``$GUARDRAIL_SHARED_DATA`` or ``/work/shared/data``): ``parsed/<task>_<model>.csv`` holds each
raw reply (``content``);
``llm-confidence-correct.csv`` holds the authors' final ``stated_confidence`` for every reply
they could parse (HaluEval-QA: the ``Confidence`` field; LSAT-AR: the chosen option's probability
divided by the sum of the five option probabilities).

For every reply the authors parsed, ``parse_verbalized(content, question=...)`` agrees when its
value is within 0.005 of theirs. Replies the authors could not parse are counted separately
(``authors: none``). Prints n, agreement and a Clopper-Pearson 95% interval per task and per
model, the development / held-out split, and the disagreements by category.

Usage: ``python eval/structured_confidence.py [--show N]``
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import re
import sys
from pathlib import Path

from guardrail.calibration.stats import clopper_pearson
from guardrail.signals.verbalized import parse_verbalized

TASKS = {"halu_eval_qa": "HaluEval-QA", "lsat_ar_test": "LSAT-AR"}
DEV_MODELS = (
    "Meta-Llama-3.1-8B-Instruct",
    "claude-3-haiku-20240307",
    "claude-sonnet-4-20250514",
    "deepseek-r1",
    "gemini-2.5-flash",
    "gpt-4o",
)
"""Models the parser was developed on; the other five were held out until the report."""
TOL = 0.005


def data_dir() -> Path:
    root = Path(os.environ.get("GUARDRAIL_SHARED_DATA", "/work/shared/data"))
    return root / "model_outputs" / "llm_confidence_json"


def _questions(base: Path) -> dict[str, str]:
    """LSAT-AR question text with options by question id (formatted/lsat_ar_test_formatted.csv)."""
    path = base / "formatted" / "lsat_ar_test_formatted.csv"
    out: dict[str, str] = {}
    if not path.exists():
        return out
    with path.open(newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            qid = row.get("Question ID") or row.get("question_id") or str(i)
            opts = [f"{k[-1]}) {row[k]}" for k in row if k.startswith("Option ")]
            out[qid] = "\n".join([row.get("Question", ""), *opts])
    return out


def rows() -> list[dict[str, object]]:
    """One record per reply: task, model, qid, content, authors' value (None if unparsed), ours."""
    csv.field_size_limit(2**31 - 1)
    base = data_dir()
    authors: dict[tuple[str, str, str], float] = {}
    with (base / "llm-confidence-correct.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            if r["qset"] in TASKS:
                authors[(r["llm"], r["qset"], r["question_id"])] = float(r["stated_confidence"])
    questions = _questions(base)
    out: list[dict[str, object]] = []
    for path in sorted((base / "parsed").glob("*.csv")):
        task = next(t for t in TASKS if path.name.startswith(t + "_"))
        model = path.stem[len(task) + 1 :]
        with path.open(newline="") as f:
            for i, r in enumerate(csv.DictReader(f)):
                qid = r["Question ID"]
                q = questions.get(qid) if task == "lsat_ar_test" else None
                res = parse_verbalized(r["content"], question=q)
                out.append(
                    {
                        "task": task,
                        "model": model,
                        "row": i,
                        "qid": qid,
                        "content": r["content"],
                        "authors": authors.get((model, task, qid)),
                        "ours": res.value,
                        "reason": res.reason,
                        "rule": res.evidence.get("rule"),
                    }
                )
    return out


def category(r: dict[str, object]) -> str:
    a, o = r["authors"], r["ours"]
    content = str(r["content"])
    if a is not None and o is None:
        return f"we give none ({str(r['reason'])[:50]})"
    if a is not None and o is not None:
        return f"different value (rule {r['rule']})"
    if a is None and o is not None:
        if not content.strip():
            return "authors: none; empty reply but we read a value"
        return f"authors: none; we read a value (rule {r['rule']})"
    return "authors: none; we: none"


def agree(r: dict[str, object]) -> bool:
    a, o = r["authors"], r["ours"]
    return a is not None and o is not None and abs(float(a) - float(o)) <= TOL  # type: ignore[arg-type]


def _fmt(k: int, n: int) -> str:
    if n == 0:
        return "n=0"
    ci = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.4f} [{ci.low:.4f}, {ci.high:.4f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--show", type=int, default=0, help="print N disagreeing replies per category")
    args = ap.parse_args(argv)
    recs = rows()
    print("Agreement with the authors' parse (|ours - theirs| <= 0.005), replies they parsed;")
    print("95% Clopper-Pearson interval.\n")
    print("| task | models | agree / n = rate [95% CI] |")
    print("|---|---|---|")
    for task, name in TASKS.items():
        for label, sel in (
            ("all 11", lambda m: True),
            ("development (6)", lambda m: m in DEV_MODELS),
            ("held out (5)", lambda m: m not in DEV_MODELS),
        ):
            rs = [r for r in recs if r["task"] == task and r["authors"] is not None]
            rs = [r for r in rs if sel(str(r["model"]))]
            print(f"| {name} | {label} | {_fmt(sum(agree(r) for r in rs), len(rs))} |")
    print("\nPer model (replies the authors parsed; '*' = held out):\n")
    print("| task | model | agree / n = rate [95% CI] | authors none: we none / we read |")
    print("|---|---|---|---|")
    for task, name in TASKS.items():
        for model in sorted({str(r["model"]) for r in recs if r["task"] == task}):
            rs = [r for r in recs if r["task"] == task and r["model"] == model]
            parsed = [r for r in rs if r["authors"] is not None]
            unparsed = [r for r in rs if r["authors"] is None]
            star = "" if model in DEV_MODELS else "*"
            both_none = sum(r["ours"] is None for r in unparsed)
            print(
                f"| {name} | {model}{star} | {_fmt(sum(agree(r) for r in parsed), len(parsed))} "
                f"| {both_none} / {len(unparsed) - both_none} |"
            )
    print("\nDisagreements and unparsed replies by category:\n")
    cats: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    for r in recs:
        if not agree(r):
            cats[f"{TASKS[str(r['task'])]}: {category(r)}"].append(r)
    for cat, rs in sorted(cats.items(), key=lambda kv: -len(kv[1])):
        where = ", ".join(f"{r['model']}#{r['row']}" for r in rs[:4])
        print(f"- {cat}: {len(rs)} (e.g. {where})")
        for r in rs[: args.show]:
            c = re.sub(r"\s+", " ", str(r["content"]))
            who = f"{r['model']}#{r['row']} authors={r['authors']} ours={r['ours']}"
            print(f"    {who}: {c[-300:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
