"""The early-stopping bound itself, on random sample sequences: after the first m of k samples
(a agreeing with the shown answer), the consistency of all k lies in [a/k, (a + k - m)/k]
(guardrail/sdk/sample_plan.py explains why, from the greedy prefix-stable clustering).

Sample sequences are drawn from real replies: the SmolLM2-135M answer and 7 samples recorded per
question in tests/fixtures/smollm2_clusters.jsonl (paraphrases, wrong answers, non-answers),
plus empty strings (failed samples). Random order and repetition stress the clustering (a sample
that matches several clusters, the answer matching more than one cluster).
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.sdk.sample_plan import SampleState, consistency_box
from guardrail.sdk.signal_steps import consistency_from_samples

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "smollm2_clusters.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]


def _agreeing(answer: str, samples: list[str], question: str) -> tuple[float | None, int]:
    out = consistency_from_samples(
        answer, samples, requested=len(samples), errors=[], question=question
    )
    value, _, detail = out["consistency"]
    return value, (int(detail["agreeing"]) if value is not None else 0)


@st.composite
def sequences(draw: st.DrawFn) -> tuple[dict[str, object], str, list[str]]:
    row = draw(st.sampled_from(ROWS))
    pool = [str(row["answer"]), *map(str, row["samples"]), ""]
    # the shown answer: usually the recorded answer, sometimes one of the samples
    answer = draw(st.sampled_from([str(row["answer"]), *map(str, row["samples"])]))
    k = draw(st.integers(2, 7))
    samples = draw(st.lists(st.sampled_from(pool), min_size=k, max_size=k))
    return row, answer, samples


@settings(max_examples=150, deadline=None)
@given(seq=sequences())
def test_every_prefix_bounds_the_final_consistency(
    seq: tuple[dict[str, object], str, list[str]],
) -> None:
    row, answer, samples = seq
    question = str(row["question"])
    k = len(samples)
    final, final_a = _agreeing(answer, samples, question)
    for m in range(1, k):
        value, a = _agreeing(answer, samples[:m], question)
        if value is None:  # no usable sample yet: the SDK does not stop here
            continue
        assert final is not None  # a usable sample in the prefix is one in the whole
        lo, hi = consistency_box(SampleState(k=k, m=m, a=a))
        assert lo - 1e-12 <= final_a / k <= hi + 1e-12, (m, a, final_a)
        # the value the SDK reports when it stops here (a/m) lies in the box too
        assert lo - 1e-12 <= a / m <= hi + 1e-12
