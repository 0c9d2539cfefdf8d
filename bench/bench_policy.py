"""Benchmark of the policy language (numbers are printed, never asserted).

Prints:
* the median wall time to parse + check the four bundled policies (all four, from text);
* the median time of one ``Policy.evaluate`` call on a 10-rule policy, the median time of a
  plain Python function making the same comparisons by hand and returning the same action, and
  their ratio (both measured in this run, on this machine).

Run: ``python bench/bench_policy.py`` (about 10 seconds).
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit
from pathlib import Path

from guardrail.policy import Action, check_text, parse_policy

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "policies").glob("*.guard"))

TEN_RULES = """policy bench {
  on_missing review
  signals {
    samples 5
    verbalized
    ensemble "a", "b"
    logprobs
  }
  rule r1 {
    when consistency < 0.4
    then abstain "r1"
  }
  rule r2 {
    when consistency < 0.7
    then notice "r2 {consistency:.0%}"
  }
  rule r3 {
    when verbalized - consistency > 0.3
    then review "r3"
  }
  rule r4 {
    when hedges == 0 and verbalized >= 0.9
    then review "r4"
  }
  rule r5 {
    when agreement < 0.5
    then abstain "r5"
  }
  rule r6 {
    when stakes == "high" and consistency < 0.9
    then review "r6"
  }
  rule r7 {
    when logprob_confidence < 0.2 or hedge_label == "hedged" and consistency < 0.8
    then notice "r7"
  }
  rule r8 {
    when boosters > 2 and verbalized > 0.95
    then notice "r8"
  }
  rule r9 {
    when not (agreement >= 0.8) and consistency < 0.85
    then review "r9"
  }
  rule r10 {
    when domain == "medical" and consistency < 0.95
    then review "r10"
  }
  otherwise pass
}
"""

VALUES: dict[str, float | int | str | None] = {
    "consistency": 0.75,
    "verbalized": 0.92,
    "hedges": 0,
    "boosters": 1,
    "agreement": 0.9,
    "stakes": "low",
    "hedge_label": "neutral",
    "logprob_confidence": 0.6,
    "domain": "general",
}


def by_hand(v: dict[str, float | int | str | None]) -> Action:
    """The same ten comparisons written directly in Python (no missing-signal handling)."""
    c, vb, a = float(v["consistency"]), float(v["verbalized"]), float(v["agreement"])  # type: ignore[arg-type]
    acts = []
    if c < 0.4:
        acts.append(Action.ABSTAIN)
    if c < 0.7:
        acts.append(Action.NOTICE)
    if vb - c > 0.3:
        acts.append(Action.REVIEW)
    if v["hedges"] == 0 and vb >= 0.9:
        acts.append(Action.REVIEW)
    if a < 0.5:
        acts.append(Action.ABSTAIN)
    if v["stakes"] == "high" and c < 0.9:
        acts.append(Action.REVIEW)
    if float(v["logprob_confidence"]) < 0.2 or (v["hedge_label"] == "hedged" and c < 0.8):  # type: ignore[arg-type]
        acts.append(Action.NOTICE)
    if int(v["boosters"]) > 2 and vb > 0.95:  # type: ignore[arg-type]
        acts.append(Action.NOTICE)
    if not a >= 0.8 and c < 0.85:
        acts.append(Action.REVIEW)
    if v["domain"] == "medical" and c < 0.95:
        acts.append(Action.REVIEW)
    return max(acts) if acts else Action.PASS


def _median_per_call(fn: object, number: int, repeat: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)  # type: ignore[arg-type]
    return statistics.median(times) / number


def main() -> int:
    texts = [(p.read_text(encoding="utf-8"), str(p)) for p in BUNDLED]
    check_text(*texts[0])  # warm-up: builds the lark parser once
    runs = []
    for _ in range(30):
        start = time.perf_counter()
        for text, name in texts:
            policy, _ = check_text(text, name)
            assert policy is not None
        runs.append(time.perf_counter() - start)
    parse_check = statistics.median(runs)

    policy = parse_policy(TEN_RULES)
    decision = policy.evaluate(VALUES)
    assert decision.action is by_hand(VALUES) is Action.REVIEW, decision.explain()
    t_eval = _median_per_call(lambda: policy.evaluate(VALUES), number=2000, repeat=15)
    t_hand = _median_per_call(lambda: by_hand(VALUES), number=20000, repeat=15)

    print(f"python {sys.version.split()[0]}")
    print(
        f"parse+check 4 bundled policies: median {parse_check * 1e3:.2f} ms "
        f"({parse_check / len(texts) * 1e3:.2f} ms per policy, 30 runs)"
    )
    print(f"evaluate, 10-rule policy:       median {t_eval * 1e6:.1f} us per call")
    print(f"hand-written Python function:   median {t_hand * 1e6:.2f} us per call")
    print(f"ratio evaluate / by hand:       {t_eval / t_hand:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
