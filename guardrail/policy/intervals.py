"""Interval reasoning over policy expressions: the one place where rules are evaluated on value
*ranges* instead of points.

Two users:

* the checker (:mod:`guardrail.policy.checker`) bounds the two sides of a comparison to prove a
  rule unsatisfiable (:func:`value_bounds`, :func:`may_hold`);
* the SDK asks, while samples are still arriving, whether any value the still-open signals can
  take could change the action (:func:`decide_on_ranges`, exposed as
  :meth:`guardrail.policy.Policy.decide_on_ranges`): after ``m`` of ``k`` samples, ``a`` of them
  agreeing with the shown answer, ``consistency`` lies in ``[a/k, (a + k - m)/k]``; when every
  point of that box gives the same action, the remaining samples cannot change it.

Soundness (what :func:`decide_on_ranges` guarantees): it returns an action only when
:meth:`~guardrail.policy.evaluator.Program.evaluate` gives that action at *every* point of the
box (each ranged signal anywhere in its closed interval; each signal neither known nor ranged any
value of its type or missing). The argument, step by step:

* ``+``/``-`` in the evaluator compute ``round(fl(a ± b), 12)``; IEEE addition and decimal
  rounding are both monotone non-decreasing, so applying the same operations to the interval
  end points gives an interval containing every value the evaluator can compute (exact at a
  point: a box of width zero reproduces the evaluator bit for bit).
* A comparison's possible outcomes are over-approximated from the two intervals (e.g. ``x < y``
  can be true iff ``lo(x) < hi(y)``); a side that reads a missing signal makes it unknown, a
  side that reads an open signal makes every outcome possible (Kleene logic as in the
  evaluator: ``unknown or true`` is true, ``unknown and false`` is false).
* Rules are treated as independent (an over-approximation, since rules share signals): the
  possible decisions are every ``v`` that some rule can contribute while every rule can
  contribute something ``<= v`` (nothing contributing = ``otherwise``). A single possible
  decision is therefore the decision.

It is conservative, never approximate: it may answer ``None`` (undecided) for a box whose points
all agree (correlated signals such as ``consistency - consistency``), never an action that a
point would not give.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from guardrail.policy.ast import And, Arith, Compare, Expr, Name, Neg, Not, Number, Or, String
from guardrail.policy.catalog import SIGNALS, Action

if TYPE_CHECKING:
    from guardrail.policy.decision import SignalValue
    from guardrail.policy.evaluator import Program

Bounds = tuple[float, float]
Tri = bool | None

# the evaluator's rounding of ``+``/``-`` results (guardrail.policy.evaluator._ARITH_DIGITS)
ARITH_DIGITS = 12


def arith_bounds(op: str, a: Bounds, b: Bounds) -> Bounds:
    """Bounds of ``a + b`` / ``a - b`` as the evaluator computes them (rounded to 12 decimals).

    Exact at points (``a = (x, x)``, ``b = (y, y)`` gives the evaluator's value twice) and sound
    on intervals because float addition and rounding are monotone.
    """
    if op == "+":
        return round(a[0] + b[0], ARITH_DIGITS), round(a[1] + b[1], ARITH_DIGITS)
    return round(a[0] - b[1], ARITH_DIGITS), round(a[1] - b[0], ARITH_DIGITS)


def value_bounds(expr: Expr, bound_of: Callable[[str], Bounds | None]) -> Bounds | None:
    """Bounds of a numeric expression given the bounds of each signal (``bound_of(name)``; None:
    not numeric or unbounded, which makes the whole expression None)."""
    if isinstance(expr, Number):
        return expr.value, expr.value
    if isinstance(expr, Name):
        return bound_of(expr.name)
    if isinstance(expr, Neg):
        b = value_bounds(expr.operand, bound_of)
        return None if b is None else (-b[1], -b[0])
    if isinstance(expr, Arith):
        a = value_bounds(expr.left, bound_of)
        b = value_bounds(expr.right, bound_of)
        if a is None or b is None:
            return None
        return arith_bounds(expr.op, a, b)
    return None


def compare_outcomes(op: str, a: Bounds, b: Bounds) -> frozenset[bool]:
    """The truth values ``x op y`` can take for ``x`` in ``a`` and ``y`` in ``b`` (closed
    intervals; an over-approximation only in that intervals are continuous)."""
    (alo, ahi), (blo, bhi) = a, b
    if op == "<":
        t, f = alo < bhi, ahi >= blo
    elif op == "<=":
        t, f = alo <= bhi, ahi > blo
    elif op == ">":
        t, f = ahi > blo, alo <= bhi
    elif op == ">=":
        t, f = ahi >= blo, alo < bhi
    else:
        overlap = alo <= bhi and blo <= ahi
        single = alo == ahi == blo == bhi
        t, f = overlap, not single
        if op == "!=":
            t, f = f, t
    return frozenset(x for x, ok in ((True, t), (False, f)) if ok)


def may_hold(op: str, lo: float, hi: float) -> bool:
    """Whether ``d op 0`` can hold for some ``d`` in ``[lo, hi]``, with a 1e-12 tolerance for
    float noise (the checker's unsatisfiability test: it errs towards "may hold")."""
    eps = 1e-12
    if op == "<":
        return lo < 0
    if op == "<=":
        return lo <= eps
    if op == ">":
        return hi > 0
    if op == ">=":
        return hi >= -eps
    if op == "==":
        return lo <= eps and hi >= -eps
    return not (abs(lo) <= eps and abs(hi) <= eps)


# ------------------------------------------------------------------ abstract evaluation

_OPEN = object()  # a signal neither known nor ranged: any value of its type, or missing
_ALL: frozenset[Tri] = frozenset((True, False, None))
Abstract = object  # None (missing) | str | Bounds | _OPEN


def _abs_value(expr: Expr, env: Mapping[str, object]) -> object:
    if isinstance(expr, Number):
        return (expr.value, expr.value)
    if isinstance(expr, String):
        return expr.value
    if isinstance(expr, Name):
        return env.get(expr.name, _OPEN)
    if isinstance(expr, Neg):
        x = _abs_value(expr.operand, env)
        if isinstance(x, tuple):
            return (-x[1], -x[0])
        return x  # None / _OPEN (a string cannot be negated: the checker rejects it)
    if isinstance(expr, Arith):
        a = _abs_value(expr.left, env)
        b = _abs_value(expr.right, env)
        if a is None or b is None:
            return None
        if isinstance(a, tuple) and isinstance(b, tuple):
            return arith_bounds(expr.op, a, b)
        return _OPEN
    raise TypeError(expr.kind)


def _abs_cond(expr: Expr, env: Mapping[str, object]) -> frozenset[Tri]:
    if isinstance(expr, Compare):
        a = _abs_value(expr.left, env)
        b = _abs_value(expr.right, env)
        if a is None or b is None:
            return frozenset((None,))
        if a is _OPEN or b is _OPEN:
            return _ALL
        if isinstance(a, tuple) and isinstance(b, tuple):
            return frozenset(compare_outcomes(expr.op, a, b))
        if isinstance(a, str) and isinstance(b, str):
            eq = a == b
            if expr.op in ("==", "!="):
                return frozenset((eq if expr.op == "==" else not eq,))
        return frozenset((True, False))  # mixed kinds: the checker rejects them; stay sound
    if isinstance(expr, Not):
        return frozenset(None if o is None else not o for o in _abs_cond(expr.operand, env))
    if isinstance(expr, And | Or):
        decider = isinstance(expr, Or)  # Or: True decides; And: False decides
        combos: set[tuple[bool, bool]] = {(False, False)}  # (saw unknown, saw decider)
        for op in expr.operands:
            outs = _abs_cond(op, env)
            combos = {(u or x is None, d or x is decider) for u, d in combos for x in outs}
        return frozenset(decider if d else (None if u else not decider) for u, d in combos)
    raise TypeError(expr.kind)


def _rank(a: Action | None) -> int:
    return -1 if a is None else a.severity


def decide_on_ranges(
    program: Program,
    known: Mapping[str, SignalValue],
    ranges: Mapping[str, Bounds],
) -> Action | None:
    """The action every point of the box gives, or None when points may differ.

    Args:
        program: the compiled policy.
        known: signal -> value for signals already computed (None = missing; invalid values are
            missing, as in :meth:`Program.evaluate`).
        ranges: numeric signal -> ``(lo, hi)``, closed, ``lo <= hi``: the signal will be present
            with a value in that interval. A signal in neither mapping is *open* (any value of
            its type, or missing).

    Returns:
        The action, or None (undecided).

    Raises:
        ValueError: a range on an unknown or non-numeric signal, ``lo > hi`` or a NaN bound.
    """
    from guardrail.policy.evaluator import normalize_values

    env: dict[str, object] = {}
    for name, (lo, hi) in ranges.items():
        spec = SIGNALS.get(name)
        if spec is None or not spec.numeric:
            raise ValueError(f"{name!r} is not a numeric signal; it cannot have a range")
        if not (lo <= hi):  # also rejects NaN
            raise ValueError(f"range of {name} must have lo <= hi, got ({lo!r}, {hi!r})")
        env[name] = (float(lo), float(hi))
    names = [n for n in program.needed if n in known and n not in ranges]
    present, _, _ = normalize_values({n: known[n] for n in names}, names)
    for n in names:
        v = present.get(n)
        env[n] = None if v is None else (v if isinstance(v, str) else (v, v))

    floors: list[int] = []
    possible: set[int] = set()
    for rule in program.rules:
        contribs = {
            _rank(_contribution(program, rule.action, o)) for o in _abs_cond(rule.expr, env)
        }
        floors.append(min(contribs))
        possible |= contribs
    floor = max(floors, default=-1)
    # v is a possible decision iff some rule can contribute v and every rule can contribute <= v
    outcomes = {v for v in possible if v >= floor} if possible else {-1}
    actions = sorted(Action, key=lambda a: a.severity)
    otherwise = program.otherwise[0] if program.otherwise is not None else Action.PASS
    final = {otherwise if v == -1 else actions[v] for v in outcomes}
    return next(iter(final)) if len(final) == 1 else None


def _contribution(program: Program, action: Action, outcome: Tri) -> Action | None:
    if outcome is True:
        return action
    if outcome is None and program.on_missing is not Action.PASS:
        return program.on_missing
    return None
