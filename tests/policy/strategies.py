"""Hypothesis strategies: random (valid) policies as text, and signal values for them."""

from __future__ import annotations

from hypothesis import strategies as st

from guardrail.policy import Policy, check_text

PROB_SIGNALS = ("consistency", "verbalized", "logprob_confidence")
THRESHOLDS = (0.0, 0.1, 0.25, 0.3, 0.5, 0.55, 0.7, 0.85, 0.9, 1.0)
ACTIONS = ("pass", "notice", "review", "abstain")

HEADER = """policy gen {{
  on_missing {on_missing}
  signals {{
    samples 5
    verbalized
    logprobs
  }}
"""


def _threshold_text(draw: st.DrawFn, value: float) -> str:
    if draw(st.booleans()):
        pct = round(value * 100, 6)
        return f"{pct:g}%"
    return f"{value:g}"


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["prob", "prob", "diff", "count", "cat"]))
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    if kind == "prob":
        name = draw(st.sampled_from(PROB_SIGNALS))
        return f"{name} {op} {_threshold_text(draw, draw(st.sampled_from(THRESHOLDS)))}"
    if kind == "diff":
        a, b = draw(st.permutations(PROB_SIGNALS))[:2]
        t = draw(st.sampled_from((0.1, 0.2, 0.3)))
        sign = draw(st.sampled_from(["-", "+"]))
        return f"{a} {sign} {b} {op} {_threshold_text(draw, t)}"
    if kind == "count":
        name = draw(st.sampled_from(["hedges", "boosters"]))
        return f"{name} {op} {draw(st.integers(0, 3))}"
    name, choices = draw(
        st.sampled_from(
            [
                ("stakes", ("low", "medium", "high")),
                ("hedge_label", ("hedged", "neutral", "assertive")),
            ]
        )
    )
    return f'{name} {draw(st.sampled_from(["==", "!="]))} "{draw(st.sampled_from(choices))}"'


def conditions(max_leaves: int = 4) -> st.SearchStrategy[str]:
    """Random conditions with and/or/not and parentheses."""
    return st.recursive(
        atoms(),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from([" and ", " or "]), inner).map(
                lambda t: f"({t[0]}){t[1]}({t[2]})"
            ),
            inner.map(lambda c: f"not ({c})"),
        ),
        max_leaves=max_leaves,
    )


@st.composite
def policy_texts(draw: st.DrawFn, min_rules: int = 1, max_rules: int = 6) -> str:
    """A policy text whose rules use random conditions and actions (may not pass the checker)."""
    n = draw(st.integers(min_rules, max_rules))
    text = HEADER.format(on_missing=draw(st.sampled_from(ACTIONS)))
    for i in range(n):
        action = draw(st.sampled_from(ACTIONS))
        text += (
            f"  rule r{i} {{\n    when {draw(conditions())}\n"
            f'    then {action} "message {i}"\n  }}\n'
        )
    if draw(st.booleans()):
        text += f'  otherwise {draw(st.sampled_from(ACTIONS))} "fallback"\n'
    return text + "}\n"


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """A random policy that passes the checker (unsatisfiable draws are rejected)."""
    text = draw(policy_texts())
    policy, _ = check_text(text)
    from hypothesis import assume

    assume(policy is not None)
    assert policy is not None
    return policy


def value_for(name: str) -> st.SearchStrategy[float | int | str | None]:
    """Values worth trying for one signal, including None (missing) and the thresholds."""
    if name in PROB_SIGNALS:
        near = [min(1.0, max(0.0, round(t + d, 4))) for t in THRESHOLDS for d in (-0.01, 0, 0.01)]
        return st.one_of(
            st.none(), st.sampled_from(sorted(set(near))), st.floats(0.0, 1.0, allow_nan=False)
        )
    if name in ("hedges", "boosters"):
        return st.one_of(st.none(), st.integers(0, 5))
    if name == "stakes":
        return st.sampled_from([None, "low", "medium", "high"])
    if name == "hedge_label":
        return st.sampled_from([None, "hedged", "neutral", "assertive"])
    raise AssertionError(name)


def candidate_values(name: str) -> list[float | int | str | None]:
    """A finite grid of values that straddles every threshold used by the generators."""
    if name in PROB_SIGNALS:
        grid = {0.0, 1.0}
        for t in THRESHOLDS:
            grid |= {t, min(1.0, t + 0.01), max(0.0, t - 0.01)}
        for d in (0.1, 0.2, 0.3):  # differences/sums of two signals around their thresholds
            grid |= {round(d + x, 2) for x in (0.0, 0.05, 0.5, 0.55) if d + x <= 1}
        return [None, *sorted(grid)]
    if name in ("hedges", "boosters"):
        return [None, 0, 1, 2, 3, 4]
    if name == "stakes":
        return [None, "low", "medium", "high"]
    return [None, "hedged", "neutral", "assertive"]


@st.composite
def assignments(draw: st.DrawFn, names: list[str]) -> dict[str, float | int | str | None]:
    """Values for ``names`` (None = missing), always including every name as a key."""
    return {n: draw(value_for(n)) for n in names}
