"""Ensemble agreement and the verbalized-vs-consistency gap (values worked out by hand)."""

from __future__ import annotations

import pytest

from guardrail.signals import (
    confidence_gap,
    ensemble_agreement,
    parse_verbalized,
    self_consistency,
)


def test_ensemble_majority_and_dissent() -> None:
    r = ensemble_agreement(
        {"gpt-4o-mini": "Paris", "llama-3.1-70b": "It's Paris.", "mistral": "Lyon"}
    )
    assert r.value == pytest.approx(2 / 3)
    assert r.majority_answer == "Paris"
    assert r.majority_models == ["gpt-4o-mini", "llama-3.1-70b"]
    assert r.dissenting_models == ["mistral"]
    assert r.failed_models == []
    assert r.tie is False
    assert r.name == "agreement"


def test_ensemble_primary_answer() -> None:
    answers = {"a": "Paris", "b": "Lyon", "c": "paris.", "d": None}
    r = ensemble_agreement(answers, weights={"b": 2.0}, primary="It's Paris")
    # Paris cluster weight 2 vs Lyon 2: tie, earliest (Paris) is the majority
    assert r.tie is True and r.majority_answer == "Paris"
    assert r.primary_agreement == pytest.approx(0.5)
    assert r.primary_in_majority is True
    r2 = ensemble_agreement(answers, primary="Lyon")
    assert r2.primary_agreement == pytest.approx(1 / 3)
    assert r2.primary_in_majority is False
    assert ensemble_agreement(answers).primary_agreement is None


def test_ensemble_failed_models_are_excluded_and_reported() -> None:
    r = ensemble_agreement({"a": "B", "b": None, "c": "(B)", "d": "  "})
    assert r.value == 1.0
    assert r.failed_models == ["b", "d"]
    assert r.evidence["failed_models"] == ["b", "d"]
    one = ensemble_agreement({"a": "B", "b": None})
    assert one.value is None
    assert one.reason == "need answers from at least 2 models, got 1 (1 failed: b)"


def test_ensemble_weights() -> None:
    answers = {"big": "Lyon", "small1": "Paris", "small2": "Paris"}
    # unweighted: Paris 2/3
    assert ensemble_agreement(answers).majority_answer == "Paris"
    # weighted: Lyon 3 vs Paris 1 + 1 -> Lyon 3/5
    r = ensemble_agreement(answers, weights={"big": 3.0})
    assert r.majority_answer == "Lyon"
    assert r.value == pytest.approx(0.6)
    assert r.dissenting_models == ["small1", "small2"]
    tie = ensemble_agreement(answers, weights={"big": 2.0})
    assert tie.tie is True and tie.value == pytest.approx(0.5)
    assert tie.majority_answer == "Lyon"  # earliest of the tied clusters
    zero = ensemble_agreement({"a": "x", "b": "y"}, weights={"a": 0.0, "b": 0.0})
    assert zero.value is None and zero.reason == "the answering models' weights sum to 0"


def test_ensemble_bad_weights() -> None:
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        ensemble_agreement({"a": "x", "b": "x"}, weights={"a": -1.0})
    with pytest.raises(ValueError, match="has no answer entry"):
        ensemble_agreement({"a": "x", "b": "x"}, weights={"zzz": 1.0})


def test_gap_flags_confident_but_inconsistent() -> None:
    # "I'm 85% sure" with three different answers in five samples: agreement 3/5 at most
    v = parse_verbalized("Paris.\nConfidence: 85%")
    c = self_consistency(["Paris", "Lyon", "Paris", "Marseille", "Paris"])
    assert c.value == pytest.approx(0.6)
    g = confidence_gap(v, c)
    assert g.gap == pytest.approx(0.25)
    assert g.value == pytest.approx(0.25)
    assert g.confident_but_inconsistent is True
    c2 = self_consistency(["Paris", "Lyon", "Nice", "Marseille", "Paris"])
    g2 = confidence_gap(v, c2)
    assert g2.gap == pytest.approx(0.45) and g2.confident_but_inconsistent is True


def test_gap_not_flagged_and_negative() -> None:
    g = confidence_gap(0.5, 0.9)
    assert g.gap == pytest.approx(-0.4)
    assert g.value == 0.0
    assert g.confident_but_inconsistent is False
    assert confidence_gap(0.95, 0.8).confident_but_inconsistent is False


def test_gap_missing_inputs() -> None:
    g = confidence_gap(parse_verbalized("no idea"), 0.5)
    assert g.value is None
    assert g.reason == "verbalized is missing (no confidence statement found)"
    g2 = confidence_gap(None, None)
    assert g2.reason == "verbalized is missing; consistency is missing"
    with pytest.raises(ValueError, match=r"verbalized must be in \[0, 1\]"):
        confidence_gap(85.0, 0.5)
