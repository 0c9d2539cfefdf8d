"""Self-consistency clusters against hand labels, on real SmolLM2-135M replies.

Fixture: ``tests/fixtures/smollm2_clusters.jsonl``, recorded by
``tests/fixtures/record_smollm2_clusters.py`` (README command 1's anaphylaxis question plus 33
short-answer questions drawn with a fixed seed from ``../shared/data``; the shown answer and 7
samples at temperature 0.7, each call with its own seed, exactly as ``guardrail ask`` sends
them). Labels: ``tests/fixtures/smollm2_clusters_labels.json``, written by reading every reply
(rules in docs/signals.md, "Hand-labelled SmolLM2 clusters"): replies giving the same answer to
the question share a group name; non-answers are ``!kind`` and never share a group.

Pairwise clustering score over the 21 sample pairs of each question, pooled over questions:
a pair is predicted-together when guardrail puts both samples in one cluster, and truly
together when the hand labels give both the same (non-``!``) group.
``P = TP / (TP + FP)``, ``R = TP / (TP + FN)``, ``F1 = 2 P R / (P + R)``.
``python eval/smollm2_clusters.py`` prints the same figures with a bootstrap interval.
"""

from __future__ import annotations

import inspect
import json
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from guardrail.sdk.signal_steps import consistency_from_samples
from guardrail.signals import self_consistency

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NON_ANSWER_KINDS = {"refusal", "idk", "restate", "template", "loop", "empty", "noanswer"}


def _with_question(fn: Any, question: str) -> dict[str, str]:
    # The guard clusters with the user's question where the clustering takes it (answer-level
    # agreement, issue 10); the same call works before and after that lands.
    return {"question": question} if "question" in inspect.signature(fn).parameters else {}


@pytest.fixture(scope="module")
def labelled() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rows = [
        json.loads(line)
        for line in (FIXTURES / "smollm2_clusters.jsonl").read_text(encoding="utf-8").splitlines()
        if line
    ]
    labels = json.loads((FIXTURES / "smollm2_clusters_labels.json").read_text("utf-8"))
    return [(row, labels["questions"][row["id"]]) for row in rows]


def _same(a: str, b: str) -> bool:
    return a == b and not a.startswith("!")


def test_fixture_is_complete_and_labelled(
    labelled: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    assert len(labelled) >= 31  # README command 1 + at least 30 more questions
    assert labelled[0][0]["question"] == "What is the first-line treatment for anaphylaxis?"
    for row, lab in labelled:
        assert row["model"] == "SmolLM2-135M-Instruct"
        assert len(row["samples"]) == 7 and len(lab["samples"]) == 7, row["id"]
        seeds = [row["settings"]["answer"]["seed"], *row["settings"]["samples"]["seeds"]]
        assert len(set(seeds)) == 8, row["id"]  # no sample reuses the answer call's seed
        assert row["settings"]["samples"]["temperature"] == 0.7
        for label in [lab["answer"], *lab["samples"]]:
            assert not label.startswith("!") or label[1:] in NON_ANSWER_KINDS, (row["id"], label)


def test_pairwise_clustering_f1_against_hand_labels(
    labelled: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    tp = fp = fn = 0
    for row, lab in labelled:
        res = self_consistency(row["samples"], **_with_question(self_consistency, row["question"]))
        cluster_of = {m: c for c, cl in enumerate(res.clusters) for m in cl.members}
        for i, j in combinations(range(7), 2):
            pred = i in cluster_of and cluster_of.get(i) == cluster_of.get(j)
            true = _same(lab["samples"][i], lab["samples"][j])
            tp += pred and true
            fp += pred and not true
            fn += true and not pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    scores = f"P {precision:.3f} R {recall:.3f} F1 {f1:.3f} (TP {tp} FP {fp} FN {fn})"
    # Issue 10 asks F1 >= 0.90; the answer-level default reaches TP 64, FP 7, FN 38 on the 714
    # pairs: P = 64/71 = 0.901, R = 64/102 = 0.627, F1 = 2 * 64 / (2 * 64 + 7 + 38) = 0.73988
    # (docs/signals.md "Hand-labelled SmolLM2 clusters"; 0.558 before the question-aware answer
    # span, 0.492 with the previous whole-text default) and the issue stays open for the rest.
    # These floors keep what was measured from sliding back.
    assert precision >= 64 / 71 - 1e-9 and recall >= 64 / 102 - 1e-9, scores
    assert f1 >= 0.7398, scores


def test_anaphylaxis_epinephrine_samples_form_one_cluster_with_the_shown_answer(
    labelled: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    row, lab = labelled[0]
    epi = {i for i, g in enumerate(lab["samples"]) if g == "epinephrine"}
    borderline = set(lab.get("borderline", []))  # close calls may go either way
    assert lab["answer"] == "epinephrine" and len(epi) == 6  # what the recorded replies say
    kw = _with_question(self_consistency, row["question"])
    res = self_consistency(row["samples"], primary=row["answer"], **kw)
    holding = [set(c.members) for c in res.clusters if epi & set(c.members)]
    assert len(holding) == 1, holding  # all epinephrine samples in one cluster ...
    cluster = holding[0]
    assert epi <= cluster <= epi | borderline  # ... with no other answer in it
    # and the shown answer joins it: consistency = its size / 7
    kw = _with_question(consistency_from_samples, row["question"])
    out = consistency_from_samples(row["answer"], row["samples"], requested=7, errors=[], **kw)
    assert out["consistency"][0] == pytest.approx(len(cluster) / 7)
