"""Exact early stopping for ensemble ``agreement`` (issue 15, item 2), on random policies and
random model replies: whenever the stop test settles an action after the first m models, that
action is the one the policy gives with every model's reply (and with any later values of the
signals not computed yet), and the value the SDK then reports (the prefix's agreement) gives it
too.

Replies are real SmolLM2-135M answers and samples (tests/fixtures/smollm2_clusters.jsonl:
paraphrases, wrong answers, non-answers) standing in for the ensemble models' answers, plus
failed models (None); weights are drawn from {0, 0.5, 1, 2, 3} or left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from guardrail.policy import Policy, check_text
from guardrail.sdk.sample_plan import (
    agreement_box,
    agreement_settled,
    ensemble_state,
    next_ensemble_wave,
)
from guardrail.sdk.signal_steps import agreement_with_answer
from tests.policy.strategies import policy_texts, value_for

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "smollm2_clusters.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
OTHER = ("verbalized", "logprob_confidence", "hedges", "boosters", "stakes", "hedge_label")


@st.composite
def agreement_policies(draw: st.DrawFn) -> Policy:
    """A random checked policy whose `consistency` atoms read `agreement` instead."""
    text = draw(policy_texts()).replace("consistency", "agreement")
    text = text.replace("    samples 5\n", '    ensemble "m0", "m1"\n')
    policy, _ = check_text(text)
    assume(policy is not None)
    assert policy is not None
    return policy


@st.composite
def ensembles(draw: st.DrawFn) -> dict[str, Any]:
    row = draw(st.sampled_from(ROWS))
    pool: list[str | None] = [str(row["answer"]), *map(str, row["samples"]), None]
    k = draw(st.integers(2, 6))
    weighted = draw(st.booleans())
    return {
        "question": str(row["question"]),
        "answer": draw(st.sampled_from([str(row["answer"]), *map(str, row["samples"])])),
        "models": [f"m{i}" for i in range(k)],
        "replies": draw(st.lists(st.sampled_from(pool), min_size=k, max_size=k)),
        "weights": (
            draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]), min_size=k, max_size=k))
            if weighted
            else None
        ),
    }


def _agreement(e: dict[str, Any], m: int) -> float | None:
    models = e["models"][:m]
    out = agreement_with_answer(
        "main",
        e["answer"],
        dict(zip(models, e["replies"][:m], strict=True)),
        weights=dict(zip(models, e["weights"][:m], strict=True)) if e["weights"] else None,
        errors={},
        question=e["question"],
    )
    value = out["agreement"][0]
    return None if value is None else float(value)


@settings(max_examples=200, deadline=None)
@given(policy=agreement_policies(), e=ensembles(), data=st.data())
def test_a_settled_prefix_gives_the_decision_of_all_models(
    policy: Policy, e: dict[str, Any], data: st.DataObject
) -> None:
    needed = [n for n in OTHER if n in policy.needed_signals()]
    # signals already computed when the ensemble runs (the rest are open, computed later)
    known = {n: data.draw(value_for(n)) for n in needed if data.draw(st.booleans())}
    later = {n: data.draw(value_for(n)) for n in needed if n not in known}
    final = _agreement(e, len(e["models"]))
    final_action = policy.evaluate({**known, **later, "agreement": final}).action
    for m in range(0, len(e["models"])):
        state = ensemble_state(
            "main", e["answer"], e["models"], e["weights"], e["replies"][:m], question=e["question"]
        )
        if state is None:  # no model answered yet: agreement may still end up missing
            continue
        lo, hi = agreement_box(state)
        if final is not None:
            assert lo <= final <= hi, (m, state, final)
        action = agreement_settled(policy, known, state)
        # plan cost's next wave is always at least one model and never more than are left
        assert 1 <= next_ensemble_wave(policy, known, state) <= len(e["models"]) - m
        if action is None or m == 0:
            continue
        event("stopped early")
        assert action == final_action, (m, state, final)
        reported = _agreement(e, m)  # what the SDK reports when it stops here
        assert reported is not None and lo <= reported <= hi
        assert policy.evaluate({**known, **later, "agreement": reported}).action == action
