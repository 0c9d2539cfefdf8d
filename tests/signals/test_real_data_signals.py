"""Signals on real published model outputs in ../shared/data/model_outputs (see its README)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from guardrail.signals import detect_hedges, parse_verbalized, self_consistency


def test_llama13b_prompt_agreement_matches_direct_count(shared_data: Path) -> None:
    # Kumar et al. 2023 (arXiv 2305.18404): 10 prompts per MMLU question. Self-consistency over
    # the answer letters of prompts 1-9 must equal a direct count on the arrays.
    folder = shared_data / "model_outputs" / "conformal_llama13b_mmlu" / "llm_probs_gpt"
    scores = np.load(folder / "anatomy_scores.npy", allow_pickle=False)
    letters = np.array(list("ABCD"))[scores.argmax(axis=2)]
    assert letters.shape == (10, 150)
    for q in range(150):
        samples = [str(x) for x in letters[1:, q]]
        r = self_consistency(samples, primary=str(letters[0, q]))
        counts = Counter(samples)
        assert r.value == pytest.approx(max(counts.values()) / 9)
        assert r.primary_agreement == pytest.approx(counts[str(letters[0, q])] / 9)
        assert len(r.clusters) == len(counts)
        p = np.array(list(counts.values())) / 9
        assert r.semantic_entropy == pytest.approx(float(-(p * np.log(p)).sum()))


@pytest.mark.parametrize(("name", "mean_conf"), [("normal", 0.7550), ("distractors", 0.8025)])
def test_gpt4o_mini_verbalized_confidences(shared_data: Path, name: str, mean_conf: float) -> None:
    # Chhikara 2025 (arXiv 2502.11028); README: mean confidence 0.7550 / 0.8025 (n = 20 each).
    path = (
        shared_data
        / "model_outputs"
        / "gpt4o_mini_verbalized"
        / f"gpt-4o-mini_{name}_0_20_results.json"
    )
    items = list(json.loads(path.read_text(encoding="utf-8")).values())
    vals = [parse_verbalized(f"Confidence: {it['confidence']}%").value for it in items]
    assert vals == [it["confidence"] / 100 for it in items]
    assert float(np.mean(vals)) == pytest.approx(mean_conf, abs=5e-5)
    # the predicted answers are bare, unhedged short answers
    assert all(detect_hedges(it["predicted_answer"]).hedges == 0 for it in items)


def test_uqlm_sampled_responses_agree(shared_data: Path) -> None:
    # uqlm fixture: 5 sampled responses per prompt (ensemble1 / bsdetector); all identical.
    path = shared_data / "model_outputs" / "uqlm_fixture" / "ensemble_results_file.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for cfg in ("ensemble1", "bsdetector"):
        d = data[cfg]["data"]
        for resp, samples in zip(d["responses"], d["sampled_responses"], strict=True):
            r = self_consistency(samples, primary=resp)
            assert r.value == 1.0 and r.semantic_entropy == 0.0 and r.primary_in_majority
