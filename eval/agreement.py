"""Answer-level agreement on real model outputs: AUROC per data set and per equivalence backend.

    PYTHONPATH=. /work/venv/bin/python eval/agreement.py [--resamples 1000]

Reads ``$GUARDRAIL_SHARED_DATA`` (default ``../shared/data`` next to the checkout):

* ``model_outputs/gsm8k_gpt3_solutions/example_model_solutions.jsonl`` (1,319 GSM8K questions, 4
  GPT-3 solutions each): the agreement of the 175B-verifier solution with the other three
  solutions (``ensemble_agreement(..., primary=..., question=...).primary_agreement`` on the *full*
  solution texts, nothing tells the backend where the answer is) as a score for the 175B-verifier
  solution's ``is_correct`` (the authors' label).
* ``model_outputs/uq_nlg_triviaqa_samples/triviaqa_llama13b_20samples.jsonl`` (500 TriviaQA
  questions x 20 LLaMA-13B samples): the agreement of sample 0 with samples 1-19
  (``self_consistency(samples[1:], primary=samples[0], question=...).primary_agreement``) on the
  raw samples (``samples``, with the model's follow-on text) and on the authors' cleaned samples
  (``samples_cleaned``), as a score for sample 0's correctness.
  Judging rule (independent of the backends): guardrail's audit judge for short answers,
  ``guardrail.runner.judge.judge_short_answer(sample_0, [gold], question=question)``: the first
  line of the reply, normalised as in the official TriviaQA evaluation (Joshi et al. 2017, arXiv
  1705.03551), equals the gold answer, contains it as a whole-word span (replies of <= 30
  words), or has rapidfuzz ``fuzz.ratio`` >= 85 with it (spelling variants); see
  docs/audit-run.md.

Backends: ``answer`` (the default, :class:`guardrail.signals.AnswerSimilarity`, no model calls),
``rapidfuzz`` (the previous default, :class:`guardrail.signals.FuzzySimilarity`, whole texts),
``exact`` (baseline: the normalised whole texts are equal). The model-backed backends of
``guardrail.signals.equivalence`` (embedding, entailment) are measured on the same data, scores
and labels by ``eval/equivalence.py``, which imports this module. AUROC ties count one
half (``guardrail.calibration.auroc``); the 95% interval is a percentile bootstrap over questions
(``--resamples`` resamples, seed 0). Model calls are counted from a backend's ``calls`` attribute
(0 for the local backends); time is wall-clock for the whole data set on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrail.calibration import auroc
from guardrail.runner.judge import judge_short_answer
from guardrail.signals import (
    AnswerSimilarity,
    FuzzySimilarity,
    Similarity,
    ensemble_agreement,
    self_consistency,
)

REPO = Path(__file__).resolve().parent.parent
GSM8K = "model_outputs/gsm8k_gpt3_solutions/example_model_solutions.jsonl"
TRIVIAQA = "model_outputs/uq_nlg_triviaqa_samples/triviaqa_llama13b_20samples.jsonl"
OTHERS = ("6b_finetuning", "6b_verification", "175b_finetuning")
PRIMARY = "175b_verification"


def data_dir() -> Path:
    env = os.environ.get("GUARDRAIL_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


_PUNCT = set(string.punctuation) | set("‘’´`“”–—")


def squad_norm(text: str) -> str:
    """TriviaQA answer normalisation (the official evaluation script of Joshi et al. 2017, arXiv
    1705.03551, after SQuAD's, arXiv 1606.05250): lower case, punctuation replaced by spaces,
    articles a/an/the removed, whitespace collapsed."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = "".join(" " if c in _PUNCT else c for c in s)
    s = re.sub(r"\b(?:a|an|the)\b", " ", s)
    return " ".join(s.split())


class ExactSimilarity:
    """Baseline: 1 when the SQuAD-normalised whole texts are equal (and non-empty), else 0."""

    name = "exact"
    threshold = 1.0

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        norm = [squad_norm(t) for t in texts]
        n = len(norm)
        out = np.eye(n, dtype=np.float64)
        for i in range(n):
            for j in range(i + 1, n):
                out[i, j] = out[j, i] = float(bool(norm[i]) and norm[i] == norm[j])
        return out


Factory = Callable[[str], Similarity]


def backends() -> dict[str, Factory]:
    """name -> factory(question) for every backend that runs here."""
    out: dict[str, Factory] = {
        "answer (default)": lambda q: AnswerSimilarity(q),
        "rapidfuzz (previous default)": lambda q: FuzzySimilarity(),
        "exact (baseline)": lambda q: ExactSimilarity(),
    }
    return out


def auroc_ci(
    scores: Sequence[float], labels: Sequence[bool], resamples: int
) -> tuple[float, float, float]:
    """AUROC and its 95% percentile-bootstrap interval over items (seed 0)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    point = auroc(s, y).value
    assert point is not None
    if resamples < 1:
        return float(point), float("nan"), float("nan")
    rng = np.random.default_rng(0)
    vals: list[float] = []
    for _ in range(resamples):
        idx = rng.integers(0, len(s), len(s))
        v = auroc(s[idx], y[idx]).value
        if v is not None:
            vals.append(v)
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(point), float(lo), float(hi)


def calls_of(sim: object) -> int:
    c = getattr(sim, "calls", 0)
    return int(c) if isinstance(c, int) else 0


def gsm8k(factory: Factory, rows: list[dict[str, Any]]) -> tuple[list[float], list[bool], int]:
    scores: list[float] = []
    labels: list[bool] = []
    calls = 0
    for r in rows:
        sim = factory(r["question"])
        res = ensemble_agreement(
            {m: r[m]["solution"] for m in OTHERS},
            primary=r[PRIMARY]["solution"],
            question=r["question"],
            similarity=sim,
        )
        calls += calls_of(sim)
        scores.append(float(res.primary_agreement or 0.0))
        labels.append(bool(r[PRIMARY]["is_correct"]))
    return scores, labels, calls


def triviaqa_correct(row: dict[str, Any]) -> bool:
    """Sample 0 judged against the gold answer by guardrail's audit judge (module docstring)."""
    verdict = judge_short_answer(row["samples"][0], [row["answer"]], question=row["question"])
    return bool(verdict.correct)


def triviaqa(
    factory: Factory, rows: list[dict[str, Any]], field: str
) -> tuple[list[float], list[bool], int]:
    scores: list[float] = []
    labels: list[bool] = []
    calls = 0
    for r in rows:
        sim = factory(r["question"])
        samples = r[field]
        res = self_consistency(
            samples[1:], primary=samples[0], question=r["question"], similarity=sim
        )
        calls += calls_of(sim)
        scores.append(float(res.primary_agreement or 0.0))
        labels.append(triviaqa_correct(r))
    return scores, labels, calls


SMOLLM2 = {
    "development set (rules written while reading it)": REPO
    / "tests"
    / "fixtures"
    / "smollm2_agreement.jsonl",
    "second set (held out until two last rules, see docs)": REPO
    / "tests"
    / "fixtures"
    / "smollm2_agreement_heldout.jsonl",
    "third set (labelled before any clustering ran on it; held out)": REPO
    / "tests"
    / "fixtures"
    / "smollm2_agreement_fresh.jsonl",
}


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    rc = tp / (tp + fn) if tp + fn else 1.0
    return p, rc, (2 * p * rc / (p + rc) if p + rc else 0.0)


def pairwise_f1(factory: Factory, records: list[dict[str, Any]]) -> tuple[float, float, float, int]:
    """Pairwise clustering precision, recall and F1 against hand labels, and the gold pair count.

    Each record holds the answer and 7 samples of one question and one label per reply (same
    label = same answer, "-" = gives no answer). All 8 replies are clustered with
    ``self_consistency(..., question=...)``; a pair is positive when both replies carry the same
    label other than "-"."""
    counts = pairwise_counts(factory, records)
    tp, fp, fn = (sum(c[k] for c in counts) for k in range(3))
    return (*_prf(tp, fp, fn), tp + fn)


def f1_interval(counts: list[tuple[int, int, int]], resamples: int) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the pooled pairwise F1 over questions (seed 0)."""
    if resamples < 1 or not counts:
        return float("nan"), float("nan")
    arr = np.asarray(counts, dtype=np.int64)
    rng = np.random.default_rng(0)
    vals = [
        _prf(*(int(x) for x in arr[rng.integers(0, len(arr), len(arr))].sum(axis=0)))[2]
        for _ in range(resamples)
    ]
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def pairwise_counts(factory: Factory, records: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """(TP, FP, FN) of the reply pairs of each record (see :func:`pairwise_f1`)."""
    out: list[tuple[int, int, int]] = []
    for r in records:
        tp = fp = fn = 0
        texts = [r["answer"], *r["samples"]]
        res = self_consistency(texts, question=r["question"], similarity=factory(r["question"]))
        where = {m: ci for ci, c in enumerate(res.clusters) for m in c.members}
        labels = r["labels"]
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                gold = labels[i] == labels[j] and labels[i] != "-"
                pred = where.get(i, -1 - i) == where.get(j, -1 - j)
                tp += gold and pred
                fp += pred and not gold
                fn += gold and not pred
        out.append((tp, fp, fn))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    args = ap.parse_args(argv)
    root = data_dir()
    if not (root / GSM8K).is_file():
        print(f"data not found under {root} (set GUARDRAIL_SHARED_DATA)", file=sys.stderr)
        return 2
    g_rows = [json.loads(x) for x in (root / GSM8K).read_text(encoding="utf-8").splitlines() if x]
    t_rows = [
        json.loads(x) for x in (root / TRIVIAQA).read_text(encoding="utf-8").splitlines() if x
    ]
    sets: list[tuple[str, Callable[[Factory], tuple[list[float], list[bool], int]]]] = [
        ("GSM8K 175B-verifier vs 3 other solutions (full texts)", lambda f: gsm8k(f, g_rows)),
        (
            "TriviaQA LLaMA-13B sample 0 vs 1-19 (raw samples)",
            lambda f: triviaqa(f, t_rows, "samples"),
        ),
        (
            "TriviaQA LLaMA-13B sample 0 vs 1-19 (authors' cleaned samples)",
            lambda f: triviaqa(f, t_rows, "samples_cleaned"),
        ),
    ]
    print(f"data: {root}; bootstrap: {args.resamples} resamples, seed 0")
    print()
    print("| data set | backend | n | accuracy | AUROC [95% CI] | model calls | time |")
    print("|---|---|---|---|---|---|---|")
    for title, run in sets:
        for name, factory in backends().items():
            t0 = time.perf_counter()
            scores, labels, calls = run(factory)
            dt = time.perf_counter() - t0
            point, lo, hi = auroc_ci(scores, labels, args.resamples)
            acc = sum(labels) / len(labels)
            print(
                f"| {title} | {name} | {len(labels)} | {acc:.3f} | {point:.3f} [{lo:.3f}, {hi:.3f}]"
                f" | {calls} | {dt:.1f} s |"
            )
    print()
    print(
        "SmolLM2-135M, 30 questions x 8 replies (answer + 7 samples) per set, labelled by hand: "
        "pairwise clustering against the labels"
    )
    print()
    print("| set | backend | gold pairs | TP / FP / FN | precision | recall | F1 [95% CI] |")
    print("|---|---|---|---|---|---|---|")
    for title, path in SMOLLM2.items():
        records = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
        for name, factory in backends().items():
            counts = pairwise_counts(factory, records)
            tp, fp, fn = (sum(c[k] for c in counts) for k in range(3))
            p, rc, f1 = _prf(tp, fp, fn)
            lo, hi = f1_interval(counts, args.resamples)
            print(
                f"| {title} | {name} | {tp + fn} | {tp} / {fp} / {fn} | {p:.3f} | {rc:.3f}"
                f" | {f1:.3f} [{lo:.3f}, {hi:.3f}] |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
