"""Benchmark of the policy language (numbers are printed, never asserted).

Prints:
* the median wall time to parse + check the four bundled policies (all four, from text);
* the median time of one ``Policy.evaluate`` call on a 10-rule policy against two hand-written
  Python baselines measured in the same run, and the ratios:
  - equal work: a function that validates every signal value it reads (present, type, finite,
    range), makes the ten comparisons and returns the same ``Decision`` (matched rules with their
    witness values, rendered messages, notices); the script checks it equals ``evaluate``'s
    result on two value sets;
  - comparisons only (less work): the ten comparisons returning the same action.
* the load average at the start and the end (the machine is shared).

Run: ``python bench/bench_policy.py`` (about 15 seconds).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
import timeit
from pathlib import Path

from guardrail.policy import Action, Decision, RuleMatch, check_text, parse_policy

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


_PROB = ("consistency", "verbalized", "agreement", "logprob_confidence")
_COUNT = ("hedges", "boosters")
_LABEL = {"stakes": ("low", "medium", "high"), "hedge_label": ("hedged", "neutral", "assertive")}
_LINES = {"r1": 9, "r2": 13, "r3": 17, "r4": 21, "r5": 25, "r6": 29, "r7": 33, "r8": 37}
_LINES |= {"r9": 41, "r10": 45}


def by_hand_decision(v: dict[str, float | int | str | None]) -> Decision:
    """Equal work: validate the values read, the ten rules with witnesses, the same Decision.

    Only the case the benchmark measures is written out: every value present and valid (a
    missing or invalid value raises instead of applying ``on_missing review``)."""
    for name in _PROB:
        x = v.get(name)
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise ValueError(name)
        if not 0.0 <= x <= 1.0:
            raise ValueError(name)
    for name in _COUNT:
        x = v.get(name)
        if isinstance(x, bool) or not isinstance(x, int | float) or x < 0:
            raise ValueError(name)
    for name, allowed in _LABEL.items():
        if v.get(name) not in allowed:
            raise ValueError(name)
    if not isinstance(v.get("domain"), str):
        raise ValueError("domain")
    c, vb, a = v["consistency"], v["verbalized"], v["agreement"]
    assert isinstance(c, float) and isinstance(vb, float) and isinstance(a, float)
    fired: list[tuple[str, Action, str, dict[str, float | int | str | None]]] = []
    if c < 0.4:
        fired.append(("r1", Action.ABSTAIN, "r1", {"consistency": c}))
    if c < 0.7:
        fired.append(("r2", Action.NOTICE, f"r2 {c:.0%}", {"consistency": c}))
    if vb - c > 0.3:
        fired.append(("r3", Action.REVIEW, "r3", {"verbalized": vb, "consistency": c}))
    if v["hedges"] == 0 and vb >= 0.9:
        fired.append(("r4", Action.REVIEW, "r4", {"hedges": v["hedges"], "verbalized": vb}))
    if a < 0.5:
        fired.append(("r5", Action.ABSTAIN, "r5", {"agreement": a}))
    if v["stakes"] == "high" and c < 0.9:
        fired.append(("r6", Action.REVIEW, "r6", {"stakes": v["stakes"], "consistency": c}))
    lp = v["logprob_confidence"]
    assert isinstance(lp, float)
    if lp < 0.2:
        fired.append(("r7", Action.NOTICE, "r7", {"logprob_confidence": lp}))
    elif v["hedge_label"] == "hedged" and c < 0.8:
        fired.append(("r7", Action.NOTICE, "r7", {"hedge_label": "hedged", "consistency": c}))
    boosters = v["boosters"]
    assert isinstance(boosters, int)
    if boosters > 2 and vb > 0.95:
        fired.append(("r8", Action.NOTICE, "r8", {"boosters": boosters, "verbalized": vb}))
    if not a >= 0.8 and c < 0.85:
        fired.append(("r9", Action.REVIEW, "r9", {"agreement": a, "consistency": c}))
    if v["domain"] == "medical" and c < 0.95:
        fired.append(("r10", Action.REVIEW, "r10", {"domain": "medical", "consistency": c}))
    if not fired:
        return Decision(action=Action.PASS, policy="bench", otherwise_applied=True)
    action = max(f[1] for f in fired)
    return Decision(
        action=action,
        policy="bench",
        message=next(f[2] for f in fired if f[1] is action),
        matched=[
            RuleMatch(rule=r, action=act, message=msg, values=vals, line=_LINES[r])
            for r, act, msg, vals in fired
        ],
        notices=[f[2] for f in fired if f[1] is Action.NOTICE],
    )


def _median_per_call(fn: object, number: int, repeat: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)  # type: ignore[arg-type]
    return statistics.median(times) / number


def main() -> int:
    one, five, _ = os.getloadavg()
    print(f"start: load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs")
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
    other = {**VALUES, "consistency": 0.3, "hedge_label": "hedged"}  # five rules fire
    for vals in (VALUES, other):
        assert by_hand_decision(vals) == policy.evaluate(vals), vals
    t_eval = _median_per_call(lambda: policy.evaluate(VALUES), number=2000, repeat=15)
    t_full = _median_per_call(lambda: by_hand_decision(VALUES), number=2000, repeat=15)
    t_hand = _median_per_call(lambda: by_hand(VALUES), number=20000, repeat=15)

    print(f"python {sys.version.split()[0]}")
    print(
        f"parse+check 4 bundled policies: median {parse_check * 1e3:.2f} ms "
        f"({parse_check / len(texts) * 1e3:.2f} ms per policy, 30 runs)"
    )
    print(f"evaluate, 10-rule policy:       median {t_eval * 1e6:.1f} us per call (15 x 2000)")
    print(
        f"by hand, same Decision:         median {t_full * 1e6:.1f} us per call (15 x 2000; "
        "equal work, equal result checked)"
    )
    print(f"by hand, comparisons only:      median {t_hand * 1e6:.2f} us per call (15 x 20000)")
    print(f"ratio evaluate / same Decision: {t_eval / t_full:.1f}x")
    print(f"ratio evaluate / comparisons:   {t_eval / t_hand:.1f}x (less work in the baseline)")
    one, five, _ = os.getloadavg()
    print(f"end: load average {one:.2f} (1 min), {five:.2f} (5 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
