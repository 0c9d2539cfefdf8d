"""The bundled policies: clean check, canonical layout, passing examples, domain guidance."""

from __future__ import annotations

import pytest

from guardrail.policy import Action, check_text, load_policies, load_policy
from guardrail.policy.formatter import format_text
from tests.policy.helpers import BUNDLED, POLICIES

ALL = load_policies(POLICIES)


def test_the_four_domains_are_bundled() -> None:
    assert sorted(ALL) == ["finance", "general", "legal", "medical"]
    assert [p.stem for p in BUNDLED] == ["finance", "general", "legal", "medical"]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_policy_is_clean(path: object) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    text = path.read_text(encoding="utf-8")
    policy, diags = check_text(text, str(path), base_dir=path.parent)
    assert policy is not None and diags == []
    assert format_text(text) == text
    results = policy.run_examples()
    assert len(results) >= 5
    assert all(r.passed for r in results), [r.problems for r in results if not r.passed]
    assert text.startswith("# "), "each bundled policy opens with a comment on its thresholds"


def _act(name: str, **values: float | int | str | None) -> Action:
    return ALL[name].evaluate(values).action


def test_general_passes_at_seventy_percent_agreement() -> None:
    # 4 of 5 samples agree (0.8 >= 0.7) -> pass; 3 of 5 (0.6) -> notice; 1 of 5 -> abstain
    assert _act("general", consistency=0.8, hedge_label="neutral") is Action.PASS
    assert _act("general", consistency=0.7, hedge_label="neutral") is Action.PASS
    assert _act("general", consistency=0.6, hedge_label="neutral") is Action.NOTICE
    assert _act("general", consistency=0.2, hedge_label="neutral") is Action.ABSTAIN


@pytest.mark.parametrize("name", ["medical", "legal"])
def test_medical_and_legal_need_ninety_percent_agreement(name: str) -> None:
    # reply_kind is always computed by the SDK (local); these are answers
    base = {
        "verbalized": 0.7,
        "hedges": 2,
        "hedge_label": "hedged",
        "stakes": "low",
        "reply_kind": "answer",
    }
    # 6 of 7 samples = 0.857 < 0.90 -> review; 7 of 7 -> only the domain notice
    assert ALL[name].evaluate({**base, "consistency": 6 / 7}).action is Action.REVIEW
    assert ALL[name].evaluate({**base, "consistency": 1.0}).action is Action.NOTICE
    assert ALL[name].evaluate({**base, "consistency": 3 / 7}).action is Action.ABSTAIN


@pytest.mark.parametrize("name", ["medical", "legal"])
def test_confident_unhedged_answers_go_to_review(name: str) -> None:
    values = {
        "consistency": 1.0,
        "verbalized": 0.95,
        "hedges": 0,
        "hedge_label": "assertive",
        "stakes": "low",
        "reply_kind": "answer",
    }
    d = ALL[name].evaluate(values)
    assert d.action is Action.REVIEW
    assert [m.rule for m in d.matched] == ["confident_unhedged"]


@pytest.mark.parametrize("kind", ["refusal", "dont_know"])
def test_medical_shows_a_declined_reply_with_a_notice_instead_of_review(kind: str) -> None:
    # The same signals as the confident-unhedged answer above (review), but the reply declined:
    # confident_unhedged needs reply_kind == "answer", so only `declined` (notice) matches.
    values = {"consistency": 1.0, "verbalized": 0.95, "hedges": 0, "reply_kind": kind}
    d = ALL["medical"].evaluate(values)
    assert d.action is Action.NOTICE
    assert [m.rule for m in d.matched] == ["declined"]
    assert d.message == "The model did not answer this question. Please consult a clinician."
    # 4 of 7 samples (0.571 < 0.70): low agreement still abstains
    assert ALL["medical"].evaluate({**values, "consistency": 4 / 7}).action is Action.ABSTAIN


@pytest.mark.parametrize("kind", ["restatement", "template", "loop"])
def test_medical_never_shows_a_reply_that_is_no_answer(kind: str) -> None:
    d = ALL["medical"].evaluate(
        {"consistency": 1.0, "verbalized": 0.9, "hedges": 1, "reply_kind": kind}
    )
    assert d.action is Action.ABSTAIN and [m.rule for m in d.matched] == ["not_an_answer"]


def test_finance_flags_the_verbalized_vs_sampled_gap() -> None:
    d = ALL["finance"].evaluate({"verbalized": 0.9, "consistency": 0.6, "stakes": "low"})
    # 0.9 - 0.6 = 0.30 > 0.25 -> review; 0.6 < 0.8 -> notice as well
    assert d.action is Action.REVIEW
    assert d.message == (
        "Stated confidence (90%) is well above sample agreement (60%); an analyst will review this."
    )
    assert d.notices == ["Only 60% of sampled answers agreed; double-check before acting on it."]
    # a 20-point gap alone is tolerated
    assert _act("finance", verbalized=1.0, consistency=0.8, stakes="low") is Action.NOTICE


def test_spot_check_and_cutoff_settings() -> None:
    assert {n: p.spot_check for n, p in ALL.items()} == {
        "finance": 0.1,
        "general": 0.02,
        "legal": 0.2,
        "medical": 0.2,
    }
    assert all(p.knowledge_cutoff for p in ALL.values())
    assert load_policy(POLICIES / "medical.guard").on_missing is Action.REVIEW
