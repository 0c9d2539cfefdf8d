"""Canonical text of expressions and values (shared by the formatter and the checker)."""

from __future__ import annotations

from guardrail.policy.ast import (
    And,
    Arith,
    Compare,
    Expr,
    Missing,
    Name,
    Neg,
    Not,
    Number,
    Or,
    String,
    Word,
)

_ESCAPE_OUT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(text: str) -> str:
    """A string literal that reads back as ``text``."""
    out = []
    for ch in text:
        if ch in _ESCAPE_OUT:
            out.append(_ESCAPE_OUT[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def value_text(v: Number | String | Word | Missing) -> str:
    """Canonical text of a literal value."""
    if isinstance(v, Number):
        return v.text
    if isinstance(v, String):
        return quote(v.value)
    if isinstance(v, Word):
        return v.name
    return "missing"


# precedence: or 1, and 2, not 3, compare 4, arith 5, unary 6, atom 7
def _prec(e: Expr) -> int:
    if isinstance(e, Or):
        return 1
    if isinstance(e, And):
        return 2
    if isinstance(e, Not):
        return 3
    if isinstance(e, Compare):
        return 4
    if isinstance(e, Arith):
        return 5
    if isinstance(e, Neg):
        return 6
    if isinstance(e, Number) and e.value < 0:
        return 6
    return 7


def expr_text(e: Expr) -> str:
    """Canonical source of an expression: minimal parentheses, except that ``and`` inside ``or``
    and any operand of ``not`` other than ``not`` are parenthesized for readability."""
    if isinstance(e, Number):
        return e.text
    if isinstance(e, String):
        return quote(e.value)
    if isinstance(e, Name):
        return e.name
    if isinstance(e, Neg):
        inner = expr_text(e.operand)
        return "-" + (inner if _prec(e.operand) >= 6 else f"({inner})")
    if isinstance(e, Arith):
        left = expr_text(e.left)
        if _prec(e.left) < 5:
            left = f"({left})"
        right = expr_text(e.right)
        if _prec(e.right) <= 5:
            right = f"({right})"
        return f"{left} {e.op} {right}"
    if isinstance(e, Compare):
        left = expr_text(e.left)
        right = expr_text(e.right)
        if _prec(e.left) <= 4:
            left = f"({left})"
        if _prec(e.right) <= 4:
            right = f"({right})"
        return f"{left} {e.op} {right}"
    if isinstance(e, Not):
        inner = expr_text(e.operand)
        return "not " + (inner if isinstance(e.operand, Not) else f"({inner})")
    if isinstance(e, And):
        return " and ".join(
            f"({expr_text(o)})" if _prec(o) <= 2 else expr_text(o) for o in e.operands
        )
    parts = []
    for o in e.operands:
        t = expr_text(o)
        parts.append(f"({t})" if _prec(o) <= 2 else t)
    return " or ".join(parts)
