"""Log-probability confidence on real outputs.

* uqlm fixture (real Azure OpenAI log-probs, cvs-health/uqlm @7bd5ed47): the shared data README
  lists the sequence probability exp(Σ logprob) of every response; uqlm's own ``min_probability``
  scores are in the file.
* LLaMA-13B option probabilities on 16 MMLU subjects (Kumar et al. 2023, arXiv 2305.18404): the
  README gives pooled prompt-0 accuracy 0.4054 and mean confidence 0.4060 (n = 2886).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.signals import logprob_confidence

README_SEQUENCE_PROBS = {
    "ensemble1": [0.999999, 0.999998, 0.999084, 0.146205, 0.999999],
    "bsdetector": [0.999999, 0.999997, 0.999084, 0.920736, 0.999999],
    "ensemble2": [0.999999, 0.999998, 0.091031, 0.876797, 0.999999],
}


@pytest.fixture(scope="module")
def uqlm(shared_data: Path) -> dict[str, Any]:
    path = shared_data / "model_outputs" / "uqlm_fixture" / "ensemble_results_file.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("config", sorted(README_SEQUENCE_PROBS))
def test_uqlm_sequence_probabilities_match_readme(uqlm: dict[str, Any], config: str) -> None:
    got = [
        logprob_confidence(content).sequence_prob
        for content in uqlm[config]["metadata"]["logprobs"]
    ]
    assert got == pytest.approx(README_SEQUENCE_PROBS[config], abs=5e-7)


@pytest.mark.parametrize("config", ["ensemble1", "ensemble2"])
def test_uqlm_min_token_prob_matches_uqlm_min_probability(
    uqlm: dict[str, Any], config: str
) -> None:
    ours = [logprob_confidence(c).min_token_prob for c in uqlm[config]["metadata"]["logprobs"]]
    assert ours == pytest.approx(uqlm[config]["data"]["min_probability"], rel=1e-9)


def test_uqlm_multi_token_response(uqlm: dict[str, Any]) -> None:
    # ensemble2 response 3 is "17 marbles." in 4 tokens: 17, " mar", "bles", "."
    content = uqlm["ensemble2"]["metadata"]["logprobs"][2]
    r = logprob_confidence(content)
    lps = [-0.0012972581, -1.7015977, 0.0, -0.69366264]
    assert r.n_tokens == 4
    assert r.geometric_mean_prob == pytest.approx(math.exp(sum(lps) / 4))
    assert r.mean_token_prob == pytest.approx(sum(math.exp(x) for x in lps) / 4)
    assert r.min_token == " mar"
    assert r.aggregate == "geometric_mean"
    assert r.value == r.geometric_mean_prob


def test_uqlm_bsdetector_dollar_five(uqlm: dict[str, Any]) -> None:
    # "$", "5": the option reader skips nothing here ("$" is not an option) -> reason, value kept
    content = uqlm["bsdetector"]["metadata"]["logprobs"][3]
    r = logprob_confidence(content, options=["5", "6"])
    assert r.option_prob is None
    assert r.reason == "first answer token '$' is not one of the options"
    assert r.value == pytest.approx(math.sqrt(0.9207356747670868))


def _as_content(probs: np.ndarray, chosen: int) -> list[dict[str, Any]]:
    letters = "ABCD"
    top = [{"token": f" {letters[j]}", "logprob": math.log(p)} for j, p in enumerate(probs)]
    return [
        {"token": f" {letters[chosen]}", "logprob": math.log(probs[chosen]), "top_logprobs": top}
    ]


def test_llama13b_option_probability_matches_readme(shared_data: Path) -> None:
    folder = shared_data / "model_outputs" / "conformal_llama13b_mmlu" / "llm_probs_gpt"
    confs: list[float] = []
    correct: list[bool] = []
    for scores_path in sorted(folder.glob("*_scores.npy")):
        scores = np.load(scores_path, allow_pickle=False)[0]
        targets = np.load(str(scores_path).replace("_scores", "_targets"), allow_pickle=False)
        for row, target in zip(scores, targets, strict=True):
            chosen = int(np.argmax(row))
            r = logprob_confidence(_as_content(row, chosen), options=["A", "B", "C", "D"])
            assert r.aggregate == "option"
            assert r.option_probs is not None
            assert list(r.option_probs.values()) == pytest.approx(list(row / row.sum()), abs=1e-9)
            confs.append(float(r.value))  # type: ignore[arg-type]
            correct.append(r.chosen_option == "ABCD"[int(target)])
    assert len(confs) == 2886
    assert float(np.mean(correct)) == pytest.approx(0.4054, abs=5e-5)
    assert float(np.mean(confs)) == pytest.approx(0.4060, abs=5e-5)


def test_option_prob_renormalises_over_offered_options() -> None:
    content = [
        {
            "token": "B",
            "logprob": math.log(0.6),
            "top_logprobs": [
                {"token": "B", "logprob": math.log(0.6)},
                {"token": "A", "logprob": math.log(0.2)},
                {"token": " B", "logprob": math.log(0.1)},  # same option, other spelling
                {"token": "The", "logprob": math.log(0.05)},
            ],
        },
        {"token": ".", "logprob": math.log(0.9), "top_logprobs": []},
    ]
    r = logprob_confidence(content, options=["A", "B", "C", "D"])
    assert r.option_prob == pytest.approx(0.7 / 0.9)
    assert r.option_probs == pytest.approx({"A": 0.2 / 0.9, "B": 0.7 / 0.9, "C": 0.0, "D": 0.0})
    assert r.sequence_prob == pytest.approx(0.54)
    assert r.value == r.option_prob
    assert logprob_confidence(content, options=["A", "B"], aggregate="sequence").value == (
        pytest.approx(0.54)
    )
    yes = [{"token": "Yes", "logprob": math.log(0.8), "top_logprobs": []}]
    assert logprob_confidence(yes, options=["yes", "no"]).option_prob == 1.0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no log-probs in the response"),
        ([], "log-probs content is empty"),
        ("oops", "log-probs content is a str, not a list"),
        ([{"token": "a"}], "token 0 has no finite logprob <= 0"),
        ([{"token": "a", "logprob": 0.5}], "token 0 has no finite logprob <= 0"),
        ([{"token": "a", "logprob": float("nan")}], "token 0 has no finite logprob <= 0"),
        ([{"token": "a", "logprob": -0.1}, "junk"], "token 1 has no finite logprob <= 0"),
    ],
)
def test_malformed_logprobs_degrade(content: Any, reason: str) -> None:
    r = logprob_confidence(content)
    assert r.value is None
    assert r.reason == reason


def test_minus_infinity_logprob_is_probability_zero() -> None:
    r = logprob_confidence([{"token": "a", "logprob": -math.inf}, {"token": "b", "logprob": 0.0}])
    assert r.sequence_prob == 0.0 and r.min_token_prob == 0.0 and r.value == 0.0


def test_caller_errors() -> None:
    with pytest.raises(ValueError, match="unknown aggregate"):
        logprob_confidence([], aggregate="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="options must not be empty"):
        logprob_confidence([], options=[])
    r = logprob_confidence([{"token": "x", "logprob": -0.1}], options=["A"], aggregate="option")
    assert r.value is None and r.reason == "first answer token 'x' is not one of the options"


_junk = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_item = st.fixed_dictionaries(
    {"token": st.text(max_size=3) | st.none(), "logprob": st.floats() | st.none()},
    optional={"top_logprobs": st.lists(_junk, max_size=3) | _junk},
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_item | _junk, max_size=4), st.sampled_from([None, ["A", "B"], ["yes", "no"]]))
def test_never_raises_on_malformed_server_data(content: Any, options: Any) -> None:
    r = logprob_confidence(content, options=options)
    assert r.value is None or 0.0 <= r.value <= 1.0
    if r.value is None:
        assert r.reason


def test_recorded_smollm2_letter_logprobs() -> None:
    # Real llama-cpp-python log-probs (tests/fixtures/smollm2_samples.jsonl, recorded by
    # tests/fixtures/record_smollm2_signals.py): SmolLM2-135M answering 40 MMLU questions with a
    # letter. The option probability must equal p(chosen) / sum of p(A..D) in top_logprobs.
    path = Path(__file__).resolve().parent.parent / "fixtures" / "smollm2_samples.jsonl"
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["kind"] == "logprobs"]
    assert len(rows) == 40
    for r in rows:
        content = r["logprobs"]["content"]
        res = logprob_confidence(content, options=r["options"])
        first = content[0]
        assert res.chosen_option == first["token"].strip() == r["reply"][0]
        mass = {
            t["token"]: math.exp(t["logprob"])
            for t in first["top_logprobs"]
            if t["token"] in r["options"]
        }
        assert res.option_prob == pytest.approx(mass[first["token"]] / sum(mass.values()))
        assert sum(res.option_probs.values()) == pytest.approx(1.0)  # type: ignore[union-attr]
        assert res.sequence_prob == pytest.approx(
            math.exp(sum(t["logprob"] for t in content)), rel=1e-12
        )
