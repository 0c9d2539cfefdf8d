"""Evaluation of a checked policy: rules compiled to closures, Kleene three-valued logic for
missing signals, and the cost-aware question "which signals could still change the action?".

Semantics (DESIGN.md "Semantics that must hold"):

* ``+``/``-`` results are rounded to 12 decimal places, so decimal thresholds behave as written.
* Every rule is evaluated; a condition is true, false or *unknown* (it reads a missing signal and
  the known signals do not decide it: ``missing or true`` is true, ``missing and false`` is false,
  Kleene's strong three-valued logic).
* A true rule contributes its action; an unknown rule contributes ``on_missing`` (no contribution
  when ``on_missing`` is ``pass``); the decision is the most severe contribution, so rule order
  never changes the action. ``otherwise`` applies when nothing contributed.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from guardrail.policy.ast import And, Arith, Compare, Expr, Name, Neg, Not, Number, Or, String
from guardrail.policy.catalog import SIGNALS, Action
from guardrail.policy.decision import MISSING_NOTICE, Decision, RuleMatch, SignalValue
from guardrail.policy.template import Part, render

Values = dict[str, float | int | str]
Tri = bool | None
ValueFn = Callable[[Values], "float | str | None"]
CondFn = Callable[[Values], Tri]

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_PROB_TOLERANCE = 1e-9
# ``+``/``-`` results are rounded to 12 decimals so that 0.85 - 0.55 > 0.30 is false, as written
# (in binary floating point 0.85 - 0.55 is 0.30000000000000004).
_ARITH_DIGITS = 12


def names_in(expr: Expr) -> frozenset[str]:
    """Every signal name read by ``expr``."""
    if isinstance(expr, Name):
        return frozenset((expr.name,))
    if isinstance(expr, Number | String):
        return frozenset()
    if isinstance(expr, Neg | Not):
        return names_in(expr.operand)
    if isinstance(expr, Arith | Compare):
        return names_in(expr.left) | names_in(expr.right)
    out: frozenset[str] = frozenset()
    for op in expr.operands:
        out |= names_in(op)
    return out


# ------------------------------------------------------------------ compilation


def compile_value(expr: Expr) -> ValueFn:
    """A closure computing a numeric/string expression; None when a signal it reads is missing."""
    if isinstance(expr, Number):
        const_n = expr.value
        return lambda v: const_n
    if isinstance(expr, String):
        const_s = expr.value
        return lambda v: const_s
    if isinstance(expr, Name):
        return operator.methodcaller("get", expr.name)
    if isinstance(expr, Neg):
        inner = compile_value(expr.operand)

        def neg(v: Values) -> float | None:
            x = inner(v)
            return None if x is None else -float(x)

        return neg
    if isinstance(expr, Arith):
        left, right = compile_value(expr.left), compile_value(expr.right)
        sign = 1.0 if expr.op == "+" else -1.0

        def arith(v: Values) -> float | None:
            a = left(v)
            if a is None:
                return None
            b = right(v)
            if b is None:
                return None
            return round(float(a) + sign * float(b), _ARITH_DIGITS)

        return arith
    raise TypeError(f"not a value expression: {expr.kind}")


def compile_condition(expr: Expr) -> CondFn:
    """A closure computing a condition in three-valued logic (True / False / None = unknown)."""
    if isinstance(expr, Compare):
        left, right = compile_value(expr.left), compile_value(expr.right)
        cmp = _CMP[expr.op]

        def compare(v: Values) -> Tri:
            a = left(v)
            if a is None:
                return None
            b = right(v)
            if b is None:
                return None
            return bool(cmp(a, b))

        return compare
    if isinstance(expr, Not):
        inner = compile_condition(expr.operand)

        def not_(v: Values) -> Tri:
            x = inner(v)
            return None if x is None else not x

        return not_
    if isinstance(expr, And):
        parts = [compile_condition(op) for op in expr.operands]

        def and_(v: Values) -> Tri:
            unknown = False
            for p in parts:
                x = p(v)
                if x is False:
                    return False
                if x is None:
                    unknown = True
            return None if unknown else True

        return and_
    if isinstance(expr, Or):
        parts = [compile_condition(op) for op in expr.operands]

        def or_(v: Values) -> Tri:
            unknown = False
            for p in parts:
                x = p(v)
                if x is True:
                    return True
                if x is None:
                    unknown = True
            return None if unknown else False

        return or_
    raise TypeError(f"not a condition: {expr.kind}")


WitnessFn = Callable[[Values, bool], list[str]]


def compile_witness(expr: Expr) -> WitnessFn:
    """A closure listing the signals that give a decided condition the wanted truth value: for
    ``a or b`` wanted true only the true side's signals, for ``not (a and b)`` only the false
    side's, for a comparison every signal it reads (in reading order)."""
    if isinstance(expr, Not):
        inner = compile_witness(expr.operand)
        return lambda v, want: inner(v, not want)
    if isinstance(expr, And | Or):
        parts = [(compile_condition(op), compile_witness(op)) for op in expr.operands]
        is_and = isinstance(expr, And)

        def group(v: Values, want: bool) -> list[str]:
            every = is_and == want  # `and` wanted true / `or` wanted false: all operands count
            out: list[str] = []
            for cond, wit in parts:
                if every or cond(v) is want:
                    out.extend(wit(v, want))
            return out

        return group
    names = sorted(names_in(expr), key=lambda n: _first_pos(expr, n))
    return lambda v, want: names


def _first_pos(expr: Expr, name: str) -> tuple[int, int]:
    if isinstance(expr, Name):
        return (expr.span.line, expr.span.column) if expr.name == name else (1 << 30, 0)
    best = (1 << 30, 0)
    for child in _children(expr):
        best = min(best, _first_pos(child, name))
    return best


def _children(expr: Expr) -> list[Expr]:
    if isinstance(expr, Neg | Not):
        return [expr.operand]
    if isinstance(expr, Arith | Compare):
        return [expr.left, expr.right]
    if isinstance(expr, And | Or):
        return list(expr.operands)
    return []


# ------------------------------------------------------------------ values


_KIND_CODE = {"probability": 0, "count": 1, "nonnegative": 2, "category": 3, "text": 4}
# name -> (kind code, lower, upper, choices)
_TABLE: dict[str, tuple[int, float, float, frozenset[str]]] = {
    n: (_KIND_CODE[s.kind], s.lower, s.upper, frozenset(s.choices)) for n, s in SIGNALS.items()
}


def normalize_values(
    values: Mapping[str, SignalValue], needed: Iterable[str]
) -> tuple[Values, list[str], dict[str, str]]:
    """Validate the needed signals' values.

    Returns (present values, missing names sorted, invalid name -> reason). Probabilities may
    exceed [0, 1] by 1e-9 (float noise) and are clamped; anything else out of range, NaN, a bool,
    or a value of the wrong type is *invalid* and treated as missing. Counts become ints;
    category strings are stripped and lower-cased.
    """
    present: Values = {}
    missing: list[str] = []
    invalid: dict[str, str] = {}
    for name in needed:
        raw = values.get(name)
        if raw is None:
            missing.append(name)
            continue
        kind, lo, hi, choices = _TABLE[name]
        tp = type(raw)
        if kind <= 2:
            if (
                (tp is float or tp is int)  # fast path (bool is not int here)
                and isinstance(raw, int | float)
                and lo <= raw <= hi
                and (kind != 1 or tp is int or cast(float, raw).is_integer())
            ):
                present[name] = int(raw) if kind == 1 else raw
                continue
            problem = _numeric_problem(raw, kind, lo, hi)
            if problem is None:
                num = cast(float, raw)
                present[name] = int(num) if kind == 1 else min(max(float(num), lo), hi)
                continue
        elif not isinstance(raw, str):
            problem = f"expected a string, got {tp.__name__}"
        elif choices:
            norm = raw.strip().lower()
            if norm in choices:
                present[name] = norm
                continue
            problem = f"{raw!r} is not one of {', '.join(SIGNALS[name].choices)}"
        else:
            present[name] = raw
            continue
        invalid[name] = problem
        missing.append(name)
    missing.sort()
    return present, missing, invalid


def _numeric_problem(raw: object, kind: int, lo: float, hi: float) -> str | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return f"expected a number, got {type(raw).__name__}"
    if isinstance(raw, int):  # exact: a huge int has no float (float(10**400) raises)
        if raw < lo or raw > hi + _PROB_TOLERANCE:
            shown = repr(raw) if abs(raw) < 10**30 else f"a {len(str(abs(raw)))}-digit integer"
            return f"{shown} is outside [{lo:g}, {hi:g}]"
        return None
    x = float(raw)
    if math.isnan(x):
        return "NaN"
    if x < lo - _PROB_TOLERANCE or x > hi + _PROB_TOLERANCE:
        return f"{x!r} is outside [{lo:g}, {hi:g}]"
    if kind == 1 and not x.is_integer():  # inf too: int(inf) would raise
        return f"{x!r} is not a whole count"
    return None


def signal_value_problem(name: str, raw: object) -> str | None:
    """Why :meth:`Program.evaluate` would not use ``raw`` as the value of signal ``name``
    (it then treats the signal as missing), or None when it would.

    The rules of :func:`normalize_values`: a number for ``probability`` (in [0, 1], 1e-9 of
    float noise allowed), ``count`` (a whole number >= 0) and ``nonnegative`` signals (bools
    are not numbers); a string for ``category`` signals, one of the catalog's choices after
    stripping and lower-casing; any string for ``text`` signals. None for a name outside the
    catalog (the checker rejects policies that read one).

    Examples:
        >>> signal_value_problem("verbalized", "0.9")
        'expected a number, got str'
        >>> signal_value_problem("verbalized", 0.9) is None
        True
    """
    spec = _TABLE.get(name)
    if spec is None:
        return None
    kind, lo, hi, choices = spec
    if kind <= 2:
        return _numeric_problem(raw, kind, lo, hi)
    if not isinstance(raw, str):
        return f"expected a string, got {type(raw).__name__}"
    if choices and raw.strip().lower() not in choices:
        return f"{raw!r} is not one of {', '.join(SIGNALS[name].choices)}"
    return None


# ------------------------------------------------------------------ program


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run: its condition closure and what a match produces."""

    name: str
    action: Action
    expr: Expr
    cond: CondFn
    witness: WitnessFn
    reads: frozenset[str]
    message: list[Part] | None
    line: int


class Program:
    """A policy compiled for evaluation (built once per :class:`~guardrail.policy.Policy`)."""

    def __init__(
        self,
        name: str,
        rules: list[tuple[str, Expr, Action, list[Part] | None, int]],
        on_missing: Action,
        otherwise: tuple[Action, list[Part] | None] | None,
        builtins: Mapping[str, str],
    ) -> None:
        self.name = name
        self.rules = [
            CompiledRule(n, a, e, compile_condition(e), compile_witness(e), names_in(e), m, line)
            for n, e, a, m, line in rules
        ]
        self.rules_by_name = {r.name: r for r in self.rules}
        self.on_missing = on_missing
        self.otherwise = otherwise
        self.builtins = dict(builtins)
        needed: frozenset[str] = frozenset()
        for r in self.rules:
            needed |= r.reads
        self.needed = needed

    def evaluate(
        self, values: Mapping[str, SignalValue], context: Mapping[str, str] | None = None
    ) -> Decision:
        """See :meth:`guardrail.policy.Policy.evaluate`."""
        present, missing, invalid = normalize_values(values, self.needed)
        results: list[tuple[CompiledRule, Tri]] = []
        for rule in self.rules:
            tri = rule.cond(present)
            if tri is True or (tri is None and self.on_missing is not Action.PASS):
                results.append((rule, tri))
        ctx = context or {}

        def lookup(key: str) -> object:
            if key in present:
                return present[key]
            raw = values.get(key)
            if raw is not None and key not in invalid:
                return raw
            if key in ctx:
                return ctx[key]
            return self.builtins.get(key)

        matched: list[RuleMatch] = []
        notices: list[str] = []
        for rule, tri in results:
            if tri is True:
                msg = None if rule.message is None else render(rule.message, lookup)
                wit = dict.fromkeys(rule.witness(present, True))
                match = RuleMatch(
                    rule=rule.name,
                    action=rule.action,
                    message=msg,
                    values={k: present[k] for k in wit},
                    missing=[],
                    line=rule.line,
                )
                if match.action is Action.NOTICE and msg:
                    notices.append(msg)
            else:
                # Undecided: the rule did not fire, so its own message (written for when its
                # condition holds, e.g. "the samples disagreed") is not shown.
                miss = sorted(n for n in rule.reads if n not in present)
                known: dict[str, SignalValue] = {
                    k: present[k] for k in sorted(rule.reads) if k in present
                }
                match = RuleMatch(
                    rule=rule.name,
                    action=self.on_missing,
                    message=None,
                    values=known,
                    missing=miss,
                    line=rule.line,
                )
                if match.action is Action.NOTICE and MISSING_NOTICE not in notices:
                    notices.append(MISSING_NOTICE)
            matched.append(match)
        if matched:
            action = max(m.action for m in matched)
            message = next(
                (m.message for m in matched if m.action is action and not m.missing and m.message),
                None,
            )
            otherwise_applied = False
        elif self.otherwise is not None:
            action, parts = self.otherwise
            message = None if parts is None else render(parts, lookup)
            otherwise_applied = True
            if action is Action.NOTICE and message:
                notices.append(message)
        else:
            action, message, otherwise_applied = Action.PASS, None, False
        return Decision(
            action=action,
            policy=self.name,
            message=message,
            matched=matched,
            notices=notices,
            missing=missing,
            invalid=invalid,
            otherwise_applied=otherwise_applied,
        )

    # -------------------------------------------------------------- cost-aware evaluation

    def signals_that_matter(self, known: Mapping[str, SignalValue]) -> frozenset[str]:
        """See :meth:`guardrail.policy.Policy.signals_that_matter`."""
        unknown = frozenset(n for n in self.needed if n not in known)
        if not unknown:
            return frozenset()
        present, _, _ = normalize_values(
            {k: v for k, v in known.items() if k in self.needed}, self.needed - unknown
        )
        floor: Action | None = None
        open_rules: list[tuple[frozenset[Action | None], frozenset[str]]] = []
        for rule in self.rules:
            outcomes, relevant = _abstract_cond(rule.expr, present, unknown)
            contribs = frozenset(self._contribution(rule.action, o) for o in outcomes)
            if len(contribs) == 1:
                (only,) = contribs
                if only is not None and (floor is None or only > floor):
                    floor = only
            else:
                open_rules.append((contribs, relevant))
        matter: set[str] = set()
        for contribs, relevant in open_rules:
            if floor is None:
                matter |= relevant
            else:
                top = max((c for c in contribs if c is not None), default=None)
                if top is not None and top > floor:
                    matter |= relevant
        return frozenset(matter)

    def _contribution(self, action: Action, outcome: Tri) -> Action | None:
        if outcome is True:
            return action
        if outcome is None and self.on_missing is not Action.PASS:
            return self.on_missing
        return None


_ANY = object()  # abstract value: a not-yet-computed signal (any value, or missing)


def _abstract_value(expr: Expr, present: Values, unknown: frozenset[str]) -> object:
    """Concrete value, None (missing) or _ANY."""
    if isinstance(expr, Number | String):
        return expr.value
    if isinstance(expr, Name):
        if expr.name in unknown:
            return _ANY
        return present.get(expr.name)
    if isinstance(expr, Neg):
        x = _abstract_value(expr.operand, present, unknown)
        return x if x is None or x is _ANY else -float(x)  # type: ignore[arg-type]
    if isinstance(expr, Arith):
        a = _abstract_value(expr.left, present, unknown)
        b = _abstract_value(expr.right, present, unknown)
        if a is None or b is None:
            return None
        if a is _ANY or b is _ANY:
            return _ANY
        diff = float(a) + (1.0 if expr.op == "+" else -1.0) * float(b)  # type: ignore[arg-type]
        return round(diff, _ARITH_DIGITS)
    raise TypeError(expr.kind)


_ALL: frozenset[Tri] = frozenset((True, False, None))


def _abstract_cond(
    expr: Expr, present: Values, unknown: frozenset[str]
) -> tuple[frozenset[Tri], frozenset[str]]:
    """Over-approximate the set of outcomes of a condition when ``unknown`` signals may take any
    value or be missing; also the unknown signals that the outcome may depend on."""
    if isinstance(expr, Compare):
        a = _abstract_value(expr.left, present, unknown)
        b = _abstract_value(expr.right, present, unknown)
        if a is None or b is None:
            # missing on one side: unknown, unless the other side is also open (still unknown)
            return frozenset((None,)), frozenset()
        if a is _ANY or b is _ANY:
            return _ALL, names_in(expr) & unknown
        return frozenset((bool(_CMP[expr.op](a, b)),)), frozenset()
    if isinstance(expr, Not):
        inner, inner_rel = _abstract_cond(expr.operand, present, unknown)
        return frozenset(None if o is None else not o for o in inner), inner_rel
    if isinstance(expr, And | Or):
        results = [_abstract_cond(op, present, unknown) for op in expr.operands]
        outs: set[Tri] = set()
        combos: set[tuple[bool, bool]] = {(False, False)}  # (saw_unknown, saw_decider)
        decider = isinstance(expr, Or)  # Or: True decides; And: False decides
        for o, _ in results:
            new: set[tuple[bool, bool]] = set()
            for unk, dec in combos:
                for x in o:
                    new.add((unk or x is None, dec or x is decider))
            combos = new
        for unk, dec in combos:
            outs.add(decider if dec else (None if unk else not decider))
        final = frozenset(outs)
        rel: frozenset[str] = frozenset()
        if len(final) > 1:
            for o, r in results:
                if len(o) > 1:
                    rel |= r
        return final, rel
    raise TypeError(expr.kind)
