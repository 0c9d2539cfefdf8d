"""Pairwise clustering quality of guardrail's self-consistency clusters on real SmolLM2 replies.

Reads the committed fixture ``tests/fixtures/smollm2_clusters.jsonl`` (34 questions, the shown
answer + 7 samples each, recorded by ``tests/fixtures/record_smollm2_clusters.py``) and the hand
labels ``tests/fixtures/smollm2_clusters_labels.json`` (rules: docs/signals.md, "Hand-labelled
SmolLM2 clusters"), clusters every question's 7 samples with
:func:`guardrail.signals.self_consistency` (the default equivalence; with the question when the
installed version takes it, as the guard does) and prints:

* pairwise precision / recall / F1 over sample pairs within a question (21 pairs per question),
  pooled over questions (micro): a pair is *positive* when both samples are in one cluster;
  the hand labels put two samples together only when they give the same answer (non-answers
  are singletons). P = TP / (TP + FP), R = TP / (TP + FN), F1 = 2PR / (P + R); a 95% interval
  from 2,000 bootstrap resamples of questions (seed 0);
* the ``consistency`` the guard would report (``consistency_from_samples``) against the hand
  value (samples in the shown answer's hand group / 7; 0 when the shown answer is a
  non-answer), per question.

Run from the repository root: ``python eval/smollm2_clusters.py [--per-question]``.
"""

from __future__ import annotations

import inspect
import json
import sys
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from guardrail.sdk.signal_steps import consistency_from_samples
from guardrail.signals import self_consistency

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "smollm2_clusters.jsonl"
LABELS = ROOT / "tests" / "fixtures" / "smollm2_clusters_labels.json"


def load() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(recorded row, its labels) per question, in fixture order."""
    rows = [json.loads(x) for x in FIXTURE.read_text(encoding="utf-8").splitlines() if x]
    labels = json.loads(LABELS.read_text(encoding="utf-8"))["questions"]
    return [(row, labels[row["id"]]) for row in rows]


def same(a: str, b: str) -> bool:
    """Two hand labels say "same answer": equal, and not a non-answer (``!kind``)."""
    return a == b and not a.startswith("!")


def with_question(fn: Any, question: str) -> dict[str, str]:
    """``{"question": question}`` when ``fn`` takes it (answer-level clustering), else ``{}``."""
    return {"question": question} if "question" in inspect.signature(fn).parameters else {}


def pair_counts(samples: list[str], gold: list[str], question: str) -> tuple[int, int, int]:
    """(TP, FP, FN) over the sample pairs of one question."""
    res = self_consistency(samples, **with_question(self_consistency, question))
    cluster_of = {m: c for c, cl in enumerate(res.clusters) for m in cl.members}
    tp = fp = fn = 0
    for i, j in combinations(range(len(samples)), 2):
        pred = i in cluster_of and cluster_of.get(i) == cluster_of.get(j)
        true = same(gold[i], gold[j])
        tp += pred and true
        fp += pred and not true
        fn += true and not pred
    return tp, fp, fn


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def hand_consistency(lab: dict[str, Any]) -> float:
    """Share of the 7 samples in the shown answer's hand group (0 for a non-answer)."""
    a = lab["answer"]
    return sum(same(a, s) for s in lab["samples"]) / len(lab["samples"])


def main(argv: list[str]) -> int:
    data = load()
    counts = np.array(
        [pair_counts(row["samples"], lab["samples"], row["question"]) for row, lab in data]
    )
    p, r, f = prf(*(int(x) for x in counts.sum(axis=0)))
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(2000):
        idx = rng.integers(0, len(counts), len(counts))
        boot.append(prf(*(int(x) for x in counts[idx].sum(axis=0)))[2])
    lo, hi = np.percentile(boot, [2.5, 97.5])
    tp, fp, fn = (int(x) for x in counts.sum(axis=0))
    print(f"questions: {len(data)}, sample pairs: {21 * len(data)}; TP {tp}, FP {fp}, FN {fn}")
    print(f"pairwise precision {p:.3f}, recall {r:.3f}, F1 {f:.3f} (95% CI {lo:.3f}-{hi:.3f})")
    exact = 0
    for (row, lab), c in zip(data, counts, strict=True):
        kw = with_question(consistency_from_samples, row["question"])
        out = consistency_from_samples(row["answer"], row["samples"], requested=7, errors=[], **kw)
        got = out["consistency"][0]
        want = hand_consistency(lab)
        exact += got is not None and abs(float(got) - want) < 1e-9
        if "--per-question" in argv:
            pq = prf(*(int(x) for x in c))
            shown = "missing" if got is None else f"{float(got):.3f}"
            print(f"  {row['id']:42} F1 {pq[2]:.2f}  consistency {shown} (hand {want:.3f})")
    print(f"consistency equal to the hand value: {exact} of {len(data)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
