"""Threshold recommendations and the policy snippet (numbers worked out by hand)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from guardrail.policy import check_text
from guardrail.runner.recommend import (
    best_per_domain,
    policy_snippet,
    policy_snippets,
    recommend_thresholds,
)
from guardrail.runner.records import AuditRecord


def _recs(domain: str, source: str, pairs: list[tuple[float, bool]]) -> list[AuditRecord]:
    base: dict[str, Any] = {
        "dataset": "d",
        "question": "q",
        "answer": "a",
        "reference": "r",
        "model": "m",
        "provider": "p",
        "reply": "a",
        "judged_by": "exact",
    }
    return [
        AuditRecord(
            id=f"{domain}{i}#{source}",
            question_id=f"{domain}{i}",
            source=source,
            confidence=c,
            correct=ok,
            domain=domain,
            **base,
        )
        for i, (c, ok) in enumerate(pairs)
    ]


# 10 records: confidences 0.1 .. 1.0; the top 4 (0.7-1.0) are all correct, 0.6 is wrong,
# 0.5 correct, the rest wrong. Accuracy of "conf >= t":
#   t=0.7: 4/4 = 1.0; t=0.6: 4/5 = 0.8; t=0.5: 5/6 = 0.833; t=0.1: 5/10 = 0.5.
# Target 0.9 -> lowest threshold reaching it is 0.7 (coverage 0.4).
# Target 0.8 -> 0.5 (5/6 = 0.833 >= 0.8; 0.4 gives 5/7 = 0.714), coverage 0.6.
PAIRS = [
    (0.1, False),
    (0.2, False),
    (0.3, False),
    (0.4, False),
    (0.5, True),
    (0.6, False),
    (0.7, True),
    (0.8, True),
    (0.9, True),
    (1.0, True),
]


def test_threshold_for_target_accuracy() -> None:
    (rec,) = recommend_thresholds(_recs("medical", "consistency", PAIRS), target_accuracy=0.9)
    assert rec.reached and rec.threshold == pytest.approx(0.7)
    assert rec.coverage == pytest.approx(0.4) and rec.accuracy == 1.0 and rec.n_passed == 4
    assert rec.accuracy_all == 0.5 and rec.signal == "consistency"
    assert rec.coverage_ci is not None and rec.coverage_ci[0] < 0.4 < rec.coverage_ci[1]
    (rec8,) = recommend_thresholds(_recs("medical", "consistency", PAIRS), target_accuracy=0.8)
    assert rec8.threshold == pytest.approx(0.5) and rec8.coverage == pytest.approx(0.6)


def test_best_reachable_point() -> None:
    # PAIRS with at least 5 passing: t=0.6 -> 4/5 = 0.8 (coverage 0.5), t=0.5 -> 5/6 = 0.833
    # (coverage 0.6): the best is 0.833 at 0.5.
    import numpy as np

    from guardrail.runner.recommend import best_selective_point

    conf = np.array([c for c, _ in PAIRS])
    corr = np.array([ok for _, ok in PAIRS])
    acc, thr, cov = best_selective_point(conf, corr, 5) or (0.0, 0.0, 0.0)
    assert (acc, thr, cov) == (pytest.approx(5 / 6), 0.5, pytest.approx(0.6))
    # ties pass together: two records at 0.9 (one wrong) and min_passed 1 -> t=1.0 alone
    acc, thr, cov = best_selective_point(
        np.array([1.0, 0.9, 0.9]), np.array([True, True, False]), 1
    ) or (0.0, 0.0, 0.0)
    assert (acc, thr, cov) == (1.0, 1.0, pytest.approx(1 / 3))
    assert best_selective_point(conf, corr, 11) is None


def test_unreachable_target_and_small_groups() -> None:
    wrong = [(c, False) for c, _ in PAIRS]
    (rec,) = recommend_thresholds(_recs("legal", "logprob_confidence", wrong))
    assert not rec.reached and rec.threshold is None and rec.coverage is None
    assert recommend_thresholds(_recs("legal", "consistency", PAIRS[:9])) == []  # < 10 records
    assert recommend_thresholds(_recs("legal", "hedge_label", PAIRS)) == []  # ordinal source
    with pytest.raises(ValueError, match="target accuracy"):
        recommend_thresholds([], target_accuracy=0.0)


def test_best_source_is_the_one_keeping_most_coverage() -> None:
    # logprob: top 6 correct -> threshold 0.5, coverage 0.6; consistency (PAIRS): coverage 0.4.
    lp = [(c, c >= 0.5) for c, _ in PAIRS]
    recs = recommend_thresholds(
        _recs("medical", "consistency", PAIRS) + _recs("medical", "logprob_confidence", lp)
    )
    best = best_per_domain(recs)["medical"]
    assert best is not None and best.source == "logprob_confidence"
    assert best.coverage == pytest.approx(0.6)


def test_policy_snippet_is_valid_policy_language() -> None:
    recs = recommend_thresholds(
        _recs("medical", "consistency", PAIRS)
        + _recs("legal", "verbalized_followup", [(c, c >= 0.9) for c, _ in PAIRS])
        + _recs("finance", "consistency", [(c, False) for c, _ in PAIRS])
    )
    snippets = policy_snippets(recs, model="SmolLM2", samples=5, sample_temperature=0.9)
    assert sorted(snippets) == ["finance", "legal", "medical"]
    by_name = {}
    for domain, block in snippets.items():  # each one a whole .guard file on its own
        policy, diags = check_text(block)
        assert policy is not None, (block, [str(d) for d in diags])
        assert policy.name == domain
        by_name[policy.name] = (policy, block)
    # the printed form is the three files one after the other
    text = policy_snippet(recs, model="SmolLM2", samples=5, sample_temperature=0.9)
    assert text == "\n".join(snippets[d] for d in ("finance", "legal", "medical"))
    med_policy, med = by_name["medical"]
    assert "samples 5 temperature 0.9" in med
    assert "when consistency < 70%" in med
    assert "#   consistency: >= 70% keeps 40% of 10" in med
    # the policy acts as recommended: 0.6 goes to review, 0.7 passes
    assert med_policy.evaluate({"consistency": 0.6}).action.name.lower() == "review"
    assert med_policy.evaluate({"consistency": 0.7}).action.name.lower() == "pass"
    _, legal = by_name["legal"]
    assert "verbalized followup" in legal and "when verbalized < 90%" in legal
    fin_policy, fin = by_name["finance"]
    assert "otherwise review" in fin and "no threshold reaches 90%" in fin
    # all wrong: the best reachable point is 0% accuracy, still reported
    assert "(accuracy of all 10: 0%; best: 0% at >= " in fin
    assert fin_policy.evaluate({}).action.name.lower() == "review"


def test_snippet_folder_is_one_checkable_file_per_policy(tmp_path: Path) -> None:
    """`audit run --policy-snippet` wrote all domains into one file, which `guardrail check`
    rejects ("a file holds one policy"); it now writes a folder of <domain>.guard files."""
    from rich.console import Console
    from typer.testing import CliRunner

    from guardrail.cli import app
    from guardrail.cli.audit_run_cmd import _write_snippets

    recs = recommend_thresholds(
        _recs("medical", "consistency", PAIRS)
        + _recs("finance", "consistency", [(c, False) for c, _ in PAIRS])
    )
    snippets = policy_snippets(recs, model="SmolLM2", samples=5, sample_temperature=0.9)
    _write_snippets(tmp_path / "rec", snippets, Console(file=io.StringIO()))
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == [
        "finance.guard",
        "medical.guard",
    ]
    result = CliRunner().invoke(app, ["check", str(tmp_path / "rec")])
    assert result.exit_code == 0, result.output
    assert "2 file(s): 0 error(s)" in result.output
    # A .guard path is refused up front (exit 2), before any model call.
    result = CliRunner().invoke(
        app, ["audit", "run", str(tmp_path / "q.jsonl"), "-o", str(tmp_path / "r.jsonl"),
              "--policy-snippet", str(tmp_path / "recommended.guard")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--policy-snippet takes a folder" in " ".join(result.output.split())
