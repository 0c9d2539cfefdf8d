"""Reproduce the reference figures of ``shared/data/README.md`` from the real model outputs.

Sources (see that README for commits and licences):
* LLaMA-13B option probabilities on 16 MMLU subjects: Kumar, Lu et al., "Conformal Prediction
  with Large Language Models for Multi-Choice Question Answering" (arXiv 2305.18404),
  bhaweshiitk/ConformalLLM @5419c301. Confidence = max of the 4 option probabilities.
* GPT-4o-mini verbalized confidence on SimpleQA: Chhikara, "Mind the Confidence Gap"
  (arXiv 2502.11028), prateekchhikara/llms-calibration @8ff0d753. ``output == 1`` is correct.
* uqlm scorer fixture: cvs-health/uqlm @7bd5ed47; all 5 SVAMP answers are correct.
All ECEs: 10 equal-width bins, right-closed (README conventions).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from guardrail.calibration import (
    AuditRecord,
    CalibrationAccumulator,
    audit,
    expected_calibration_error,
)

from ._compare import assert_same

LLAMA = "model_outputs/conformal_llama13b_mmlu/llm_probs_gpt"

# subject: (domain, n, acc p0, mean conf p0, ECE p0) -- shared/data/README.md table
README_LLAMA = {
    "anatomy": ("medical", 150, 0.4400, 0.4207, 0.1014),
    "business_ethics": ("finance", 112, 0.4464, 0.4653, 0.0622),
    "clinical_knowledge": ("medical", 295, 0.4136, 0.3980, 0.0771),
    "college_chemistry": ("general", 109, 0.1927, 0.3478, 0.1602),
    "college_computer_science": ("general", 112, 0.2768, 0.3593, 0.0976),
    "college_medicine": ("medical", 191, 0.3927, 0.4134, 0.0923),
    "computer_security": ("general", 112, 0.5179, 0.4353, 0.0846),
    "formal_logic": ("general", 141, 0.2908, 0.3689, 0.0842),
    "high_school_biology": ("medical", 343, 0.3965, 0.4204, 0.0824),
    "high_school_computer_science": ("general", 110, 0.3909, 0.3744, 0.1368),
    "machine_learning": ("general", 124, 0.3790, 0.3748, 0.0416),
    "management": ("finance", 115, 0.4522, 0.4753, 0.1184),
    "marketing": ("finance", 260, 0.6615, 0.5068, 0.1548),
    "professional_accounting": ("finance", 314, 0.3567, 0.3476, 0.0418),
    "professional_medicine": ("medical", 275, 0.3018, 0.3657, 0.0745),
    "public_relations": ("general", 123, 0.4959, 0.4335, 0.0756),
}


def _llama(shared: Path, subject: str) -> tuple[np.ndarray, np.ndarray]:
    """Confidences and correctness, shape (10 prompts, n)."""
    scores = np.load(shared / LLAMA / f"{subject}_scores.npy", allow_pickle=False)
    targets = np.load(shared / LLAMA / f"{subject}_targets.npy", allow_pickle=False)
    return scores.max(axis=-1), scores.argmax(axis=-1) == targets[None, :]


@pytest.mark.parametrize("subject", sorted(README_LLAMA))
def test_llama_subject_prompt0(shared_data: Path, subject: str) -> None:
    _, n, acc, conf, ece = README_LLAMA[subject]
    c, y = _llama(shared_data, subject)
    r = expected_calibration_error(c[0], y[0], n_bins=10)
    assert r.n == n
    assert round(r.accuracy, 4) == acc
    assert round(r.mean_confidence, 4) == conf
    assert round(r.value, 4) == ece


def test_llama_pooled(shared_data: Path) -> None:
    cs, ys = zip(*(_llama(shared_data, s) for s in sorted(README_LLAMA)), strict=True)
    p0 = expected_calibration_error(
        np.concatenate([c[0] for c in cs]), np.concatenate([y[0] for y in ys])
    )
    # README: pooled prompt 0: n 2886, acc 0.4054, mean confidence 0.4060, ECE 0.0547
    assert (p0.n, round(p0.accuracy, 4), round(p0.mean_confidence, 4)) == (2886, 0.4054, 0.4060)
    assert round(p0.value, 4) == 0.0547
    # README: all 10 prompts pooled: n 28860, acc 0.4067, mean conf 0.4057, ECE 0.0397;
    # computed here in chunks (one per subject) through the mergeable accumulator
    acc = CalibrationAccumulator()
    for c, y in zip(cs, ys, strict=True):
        acc.update(c.ravel(), y.ravel())
    all_p = acc.expected_calibration_error()
    assert (all_p.n, round(all_p.accuracy, 4), round(all_p.mean_confidence, 4)) == (
        28860,
        0.4067,
        0.4057,
    )
    assert round(all_p.value, 4) == 0.0397
    assert_same(
        all_p,
        expected_calibration_error(
            np.concatenate([c.ravel() for c in cs]), np.concatenate([y.ravel() for y in ys])
        ),
    )


def test_llama_domain_audit(shared_data: Path) -> None:
    recs = []
    by_domain: dict[str, tuple[list[float], list[bool]]] = {}
    for subject, (domain, *_rest) in README_LLAMA.items():
        c, y = _llama(shared_data, subject)
        recs += [
            AuditRecord(confidence=float(ci), correct=bool(yi), domain=domain)
            for ci, yi in zip(c[0], y[0], strict=True)
        ]
        by_domain.setdefault(domain, ([], []))[0].extend(c[0].tolist())
        by_domain[domain][1].extend(y[0].tolist())
    rep = audit(recs, n_bootstrap=200, seed=0, target_accuracy=0.6)
    assert rep.overall.n == 2886 and round(rep.overall.ece, 4) == 0.0547
    by = {g.label: g for g in rep.groups}
    assert sorted(by) == ["finance", "general", "medical"]
    assert [by[d].n for d in ("finance", "general", "medical")] == [801, 831, 1254]
    for g in rep.groups:
        assert g.ece_ci is not None and g.ece_ci.low <= g.ece <= g.ece_ci.high
        assert g.verdict == "fair"  # every domain's ECE lies in [0.05, 0.1)
        # AUROC checked against an independent brute-force Mann-Whitney count over every
        # (correct, wrong) pair, ties counting 1/2 (Hanley & McNeil 1982, Radiology 143):
        # finance 0.7206, general 0.6227, medical 0.6904.
        conf, corr = np.asarray(by_domain[g.label][0]), np.asarray(by_domain[g.label][1])
        pos, neg = conf[corr], conf[~corr]
        wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        assert g.auroc == pytest.approx(wins / (len(pos) * len(neg)), abs=1e-12)
        assert g.accuracy.estimate == pytest.approx(corr.mean(), abs=1e-15)
        assert g.threshold is not None and g.threshold.reached


def _verbalized(shared: Path, name: str) -> tuple[list[float], list[bool]]:
    path = shared / "model_outputs/gpt4o_mini_verbalized" / f"gpt-4o-mini_{name}_0_20_results.json"
    data = json.loads(path.read_text())
    return [v["confidence"] / 100 for v in data.values()], [v["output"] == 1 for v in data.values()]


def _left_closed_ece(conf: list[float], corr: list[bool]) -> float:
    """The [b/10, (b+1)/10) convention, for contrast only (README's left-closed column)."""
    c, y = np.asarray(conf), np.asarray(corr, dtype=float)
    b = np.minimum(np.floor(np.round(c * 10, 9)).astype(int), 9)
    return float(
        sum(abs(y[b == k].mean() - c[b == k].mean()) * (b == k).sum() for k in set(b)) / len(c)
    )


def test_gpt4o_mini_verbalized_edge_rule_matters(shared_data: Path) -> None:
    c, y = _verbalized(shared_data, "normal")
    r = expected_calibration_error(c, y)
    assert (r.n, r.accuracy, round(r.mean_confidence, 4)) == (20, 0.1, 0.755)
    assert round(r.value, 4) == 0.6550
    c, y = _verbalized(shared_data, "distractors")
    r = expected_calibration_error(c, y)
    assert (r.accuracy, round(r.mean_confidence, 4)) == (0.55, 0.8025)
    assert round(r.value, 4) == 0.2825  # right-closed: 70 sits in (0.6, 0.7]
    assert round(_left_closed_ece(c, y), 4) == 0.2525  # left-closed would move it up a bin


def _uqlm(shared: Path) -> dict[str, dict[str, list[float]]]:
    data = json.loads(
        (shared / "model_outputs/uqlm_fixture/ensemble_results_file.json").read_text()
    )
    out: dict[str, dict[str, list[float]]] = {}
    for name, cfg in data.items():
        seq = [math.exp(sum(t["logprob"] for t in toks)) for toks in cfg["metadata"]["logprobs"]]
        out[name] = {"ensemble_scores": cfg["data"]["ensemble_scores"], "sequence": seq}
        if cfg["data"].get("min_probability") is not None:
            out[name]["min_probability"] = cfg["data"]["min_probability"]
    return out


def test_uqlm_fixture_eces(shared_data: Path) -> None:
    # README table: all 5 answers correct, so ECE = 1 - mean confidence
    expected = {
        "ensemble1": {"ensemble_scores": 0.0427, "min_probability": 0.1709, "sequence": 0.1709},
        "bsdetector": {"ensemble_scores": 0.0000, "sequence": 0.0160},
        "ensemble2": {"ensemble_scores": 0.0938, "min_probability": 0.1875, "sequence": 0.2064},
    }
    got = _uqlm(shared_data)
    for cfg, scores in expected.items():
        assert set(got[cfg]) == set(scores)
        for score, ece in scores.items():
            conf = got[cfg][score]
            r = expected_calibration_error(conf, [1] * 5)
            assert round(r.value, 4) == ece, (cfg, score)
            assert r.value == pytest.approx(1 - np.mean(conf), abs=1e-12)
