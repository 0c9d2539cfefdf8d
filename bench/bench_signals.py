"""Signals benchmark: quality on real model outputs, and speed against a same-run baseline.

    .venv/bin/python bench/bench_signals.py            # both parts
    .venv/bin/python bench/bench_signals.py quality    # AUROC / accuracy at 80% coverage
    .venv/bin/python bench/bench_signals.py speed      # agreement timing, hedge throughput

Quality: each signal as a score for "this answer is correct" on the real outputs in
``../shared/data/model_outputs`` and on the recorded SmolLM2 replies in ``tests/fixtures``:
AUROC (``guardrail.calibration.auroc``) and the accuracy of the 80% most confident answers
(``guardrail.calibration.accuracy_at_coverage``). Speed: median time of self-consistency over
k = 10 answers of ~100 words against a pure-Python ``difflib`` baseline measured in the same run,
and hedge detection throughput. Output is pasted into docs/signals.md.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from guardrail.calibration import accuracy_at_coverage, auroc
from guardrail.signals import (
    FuzzySimilarity,
    cluster_answers,
    detect_hedges,
    logprob_confidence,
    normalize_answer,
    parse_verbalized,
    self_consistency,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GUARDRAIL_SHARED_DATA") or ROOT.parent / "shared" / "data")
FIX = ROOT / "tests" / "fixtures"


def row(name: str, n: int, conf: Sequence[float], correct: Sequence[bool]) -> str:
    c = np.asarray(conf, dtype=float)
    y = np.asarray(correct, dtype=bool)
    a = auroc(c, y)
    auc = "n/a" if a.value is None else f"{a.value:.3f}"
    acc80 = accuracy_at_coverage(c, y, 0.8)
    return (
        f"| {name} | {n} | {y.mean():.3f} | {auc} | {acc80.accuracy:.3f} "
        f"(cov {acc80.coverage:.2f}) |"
    )


HEADER = (
    "| signal (data) | n | accuracy | AUROC | accuracy at 80% coverage |\n|---|---|---|---|---|"
)


# --- real data sets -------------------------------------------------------------------------


def llama13b() -> list[str]:
    folder = DATA / "model_outputs" / "conformal_llama13b_mmlu" / "llm_probs_gpt"
    opt, agree, correct = [], [], []
    for path in sorted(folder.glob("*_scores.npy")):
        scores = np.load(path, allow_pickle=False)  # (10 prompts, n, 4)
        targets = np.load(str(path).replace("_scores", "_targets"), allow_pickle=False)
        letters = np.array(list("ABCD"))[scores.argmax(axis=2)]  # (10, n)
        for q in range(scores.shape[1]):
            p = scores[0, q]
            ch = int(p.argmax())
            content = [
                {
                    "token": "ABCD"[ch],
                    "logprob": math.log(p[ch]),
                    "top_logprobs": [
                        {"token": "ABCD"[j], "logprob": math.log(p[j])} for j in range(4)
                    ],
                }
            ]
            r = logprob_confidence(content, options=list("ABCD"))
            opt.append(float(r.value))  # type: ignore[arg-type]
            c = self_consistency(list(letters[1:, q]), primary=str(letters[0, q]))
            agree.append(float(c.primary_agreement or 0.0))
            correct.append(ch == int(targets[q]))
    return [
        row("logprob option_prob (LLaMA-13B MMLU, prompt 0)", len(opt), opt, correct),
        row(
            "consistency: agreement of prompts 1-9 with prompt 0 (LLaMA-13B)",
            len(agree),
            agree,
            correct,
        ),
    ]


def gpt4o_mini() -> list[str]:
    out = []
    folder = DATA / "model_outputs" / "gpt4o_mini_verbalized"
    for name in ("normal", "distractors"):
        d = json.loads((folder / f"gpt-4o-mini_{name}_0_20_results.json").read_text("utf-8"))
        items = list(d.values())
        verb = [parse_verbalized(f"Confidence: {it['confidence']}%").value for it in items]
        hedge = [1.0 / (1 + detect_hedges(it["predicted_answer"]).hedges) for it in items]
        corr = [it["output"] == 1 for it in items]
        out.append(row(f"verbalized (GPT-4o-mini SimpleQA {name})", len(items), verb, corr))  # type: ignore[arg-type]
        out.append(row(f"hedges 1/(1+h) (GPT-4o-mini SimpleQA {name})", len(items), hedge, corr))
    return out


def uqlm() -> list[str]:
    d = json.loads(
        (DATA / "model_outputs/uqlm_fixture/ensemble_results_file.json").read_text("utf-8")
    )
    lines = []
    for cfg, v in d.items():
        seq = [logprob_confidence(c).sequence_prob for c in v["metadata"]["logprobs"]]
        gm = [logprob_confidence(c).value for c in v["metadata"]["logprobs"]]
        samples = v["data"]["sampled_responses"]
        agree = [
            self_consistency(s, primary=r).value if s else None
            for s, r in zip(samples, v["data"]["responses"], strict=True)
        ]
        lines.append(
            f"| {cfg} | {', '.join(f'{x:.6f}' for x in seq)} | "  # type: ignore[str-format]
            f"{1 - float(np.mean(seq)):.4f} | {1 - float(np.mean(gm)):.4f} | "  # type: ignore[arg-type]
            f"{', '.join('-' if a is None else f'{a:.1f}' for a in agree)} |"
        )
    return lines


# --- recorded SmolLM2 replies ---------------------------------------------------------------


def mc_letter(text: str) -> str | None:
    m = re.search(r"\b(?:answer|option)\s*(?:is|:)?\s*\(?([A-D])\b", text, re.IGNORECASE)
    if m:
        return m.group(1).upper()
    m = re.search(r"(?:^|\n|\s)\(?([A-D])[).:]", text)
    if m:
        return m.group(1)
    m = re.search(r"\b([A-D])\b", text)
    return m.group(1) if m else None


def trivia_correct(text: str, aliases: Sequence[str]) -> bool:
    t = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(a)} " in t for a in aliases if normalize_answer(a))


def smollm2() -> list[str]:
    out = []
    recs = [
        json.loads(x) for x in (FIX / "smollm2_verbalized.jsonl").read_text("utf-8").splitlines()
    ]
    trivia_aliases = {}
    samples = [
        json.loads(x) for x in (FIX / "smollm2_samples.jsonl").read_text("utf-8").splitlines()
    ]
    for s in samples:
        if s["kind"] == "samples":
            trivia_aliases[s["question"]] = s["aliases"]
    for mode in ("inline", "followup"):
        conf, corr, hconf, parsed = [], [], [], []
        for r in recs:
            if r["mode"] != mode:
                continue
            answer = r["reply"] if mode == "inline" else r["answer"]
            if r["source"] == "triviaqa":
                aliases = trivia_aliases.get(r["question"], [r["gold"]])
                ok = trivia_correct(answer, aliases)
            else:
                ok = mc_letter(answer) == r["gold"]
            v = parse_verbalized(r["reply"], mode=mode, question=r["question"]).value
            conf.append(0.0 if v is None else float(v))
            parsed.append(v is not None)
            corr.append(ok)
            hconf.append(1.0 / (1 + detect_hedges(answer).hedges))
        out.append(row(f"verbalized {mode}, missing = 0 (SmolLM2-135M)", len(conf), conf, corr))
        pc = [c for c, p in zip(conf, parsed, strict=True) if p]
        py = [y for y, p in zip(corr, parsed, strict=True) if p]
        out.append(row(f"verbalized {mode}, parsed replies only (SmolLM2-135M)", len(pc), pc, py))
        if mode == "followup":
            out.append(row("hedges 1/(1+h) on the answer (SmolLM2-135M)", len(hconf), hconf, corr))
    lp_conf, lp_corr, sc_conf, sc_corr, se_conf = [], [], [], [], []
    for s in samples:
        if s["kind"] == "logprobs":
            r = logprob_confidence(s["logprobs"]["content"], options=s["options"])
            lp_conf.append(float(r.value) if r.value is not None else 0.0)
            lp_corr.append(r.chosen_option == s["gold"])
        else:
            c = self_consistency(s["samples"], primary=s["primary"], question=s["question"])
            sc_conf.append(float(c.primary_agreement or 0.0))
            se_conf.append(max(0.0, 1.0 - float(c.normalized_entropy or 0.0)))
            sc_corr.append(trivia_correct(s["primary"], s["aliases"]))
    out.append(
        row("logprob option_prob, MMLU letter (SmolLM2-135M)", len(lp_conf), lp_conf, lp_corr)
    )
    out.append(
        row("consistency primary_agreement, k=5 (SmolLM2 TriviaQA)", len(sc_conf), sc_conf, sc_corr)
    )
    out.append(
        row(
            "1 - normalised semantic entropy, k=5 (SmolLM2 TriviaQA)",
            len(se_conf),
            se_conf,
            sc_corr,
        )
    )
    return out


def quality() -> None:
    print("## Quality on real outputs\n")
    print(HEADER)
    for line in llama13b() + gpt4o_mini() + smollm2():
        print(line)
    print("\n### uqlm fixture (all 5 answers correct: AUROC undefined)\n")
    print(
        "| config | sequence prob exp(Σ logprob) | ECE of sequence prob (1 - mean) | "
        "ECE of default value (geometric mean) | self-consistency agreement |"
    )
    print("|---|---|---|---|---|")
    for line in uqlm():
        print(line)


# --- speed ----------------------------------------------------------------------------------


def make_answer_sets(n_sets: int, rng: random.Random) -> list[list[str]]:
    rows = [
        json.loads(x)
        for x in (DATA / "medqa" / "pubmedqa" / "test.jsonl").read_text("utf-8").splitlines()
    ]
    # PubMedQA abstracts (real clinical prose), cut to 110 words: ~100 after 10% word dropout
    texts = [r["question"] for r in rows if len(r["question"].split()) >= 110]
    sets = []
    for _ in range(n_sets):
        a, b, c = rng.sample(texts, 3)
        base = [a] * 6 + [b] * 3 + [c]
        answers = []
        for t in base:
            words = t.split()[:110]
            kept = [w for w in words if rng.random() > 0.1]  # 10% word dropout per sample
            answers.append(" ".join(kept))
        rng.shuffle(answers)
        sets.append(answers)
    return sets


def difflib_agreement(samples: Sequence[str], threshold: float = 0.7) -> float:
    """Pure-Python baseline: SequenceMatcher ratio over all pairs, same greedy clustering."""
    norm = [normalize_answer(s) for s in samples]
    k = len(norm)
    sim = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            sim[i, j] = sim[j, i] = difflib.SequenceMatcher(None, norm[i], norm[j]).ratio()
    groups = cluster_answers(sim, threshold)
    return max(len(g) for g in groups) / k


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def speed() -> None:
    rng = random.Random(7)
    sets = make_answer_sets(30, rng)
    words = statistics.mean(len(a.split()) for s in sets for a in s)
    full = FuzzySimilarity(long_words=10**6)  # compare full texts with token_set_ratio
    prev = FuzzySimilarity()  # the previous default: key claims for answers over 40 words
    for s in sets[:3]:  # warm-up
        self_consistency(s)
        self_consistency(s, similarity=full)
        self_consistency(s, similarity=prev)
        difflib_agreement(s)

    methods: dict[str, Callable[[list[str]], Any]] = {
        "base": difflib_agreement,
        "ours": lambda s: self_consistency(s),
        "full": lambda s: self_consistency(s, similarity=full),
        "prev": lambda s: self_consistency(s, similarity=prev),
    }
    per_set: dict[str, list[float]] = {k: [] for k in methods}
    one, five, _ = os.getloadavg()
    print(f"load average at start: {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs")
    for s in sets:  # interleaved: every method on a set before the next set
        for name, fn in methods.items():
            per_set[name].append(median_time(lambda s=s, fn=fn: fn(s), 5))
    t_base, t_ours, t_full, t_prev = (
        statistics.median(per_set[k]) for k in ("base", "ours", "full", "prev")
    )
    agree = [
        (
            self_consistency(s).value,
            self_consistency(s, similarity=prev).value,
            self_consistency(s, similarity=full).value,
            difflib_agreement(s),
        )
        for s in sets
    ]
    print("## Speed\n")
    print(
        f"k = 10 answers, mean {words:.0f} words, {len(sets)} answer sets (true agreement 0.6); "
        "per set the median of 5 runs of each method, methods interleaved set by set; "
        "median over sets\n"
    )
    print("| method | median time per k=10 set | vs difflib |\n|---|---|---|")
    print(f"| difflib.SequenceMatcher double loop (baseline) | {t_base * 1e3:.2f} ms | 1.0x |")
    print(
        f"| self_consistency, default (answer extraction, non-answer detector) | "
        f"{t_ours * 1e3:.2f} ms | {t_base / t_ours:.1f}x faster |"
    )
    print(
        f"| self_consistency, previous default (key claims, rapidfuzz cdist) | "
        f"{t_prev * 1e3:.2f} ms | {t_base / t_prev:.1f}x faster |"
    )
    print(
        f"| self_consistency, full text token_set_ratio cdist | {t_full * 1e3:.2f} ms | "
        f"{t_base / t_full:.1f}x faster |"
    )
    print(
        "\nmean agreement found (default / previous default / full text / difflib): "
        + " / ".join(f"{np.mean([a[i] for a in agree]):.3f}" for i in range(4))
    )
    texts = [
        json.loads(x)["answer_rationale"]
        for x in (DATA / "medqa" / "pubmedqa" / "test.jsonl").read_text("utf-8").splitlines()
    ]
    detect_hedges(texts[0])
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):  # interleaved: claims only (default) vs every cue outside code/quotes
        for claims_only in (True, False):
            t0 = time.perf_counter()
            for t in texts:
                detect_hedges(t, claims_only=claims_only)
            rates[claims_only].append(len(texts) / (time.perf_counter() - t0))
    mean_words = statistics.mean(len(t.split()) for t in texts)
    r_claims, r_all = statistics.median(rates[True]), statistics.median(rates[False])
    print(
        f"\nhedge detection: {r_claims:,.0f} answers/s with claims_only=True (default), "
        f"{r_all:,.0f} answers/s with claims_only=False ({r_all / r_claims:.2f}x); "
        f"median of 3 interleaved passes over {len(texts)} PubMedQA long answers, "
        f"mean {mean_words:.0f} words"
    )
    one, five, _ = os.getloadavg()
    print(f"load average at end: {one:.2f} (1 min), {five:.2f} (5 min)")


def main(argv: Sequence[str]) -> int:
    parts = set(argv) or {"quality", "speed"}
    if "quality" in parts:
        quality()
        print()
    if "speed" in parts:
        speed()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
