"""Canonical layout of a policy file (``guardrail fmt``).

Rules of the canonical form: two-space indentation; one statement per line; a blank line around
every block (``signals``, ``rule``, ``example``) and before ``otherwise``, none between
consecutive settings; numbers as normalized literals (``070.50%`` -> ``70.5%``); strings
re-quoted with the minimal escapes; conditions with minimal parentheses except ``(a and b) or c``
and ``not (...)``; conditions longer than the line limit are broken before each top-level
``and``/``or``. Comments are kept: a comment after code stays at the end of that line, a comment
on its own line stays above the statement that follows it (with at most one blank line kept
inside and after a comment group).

``format_text`` is idempotent and ``parse(format_text(x))`` equals ``parse(x)`` ignoring positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guardrail.policy.ast import (
    And,
    Comment,
    Directive,
    Example,
    Or,
    Otherwise,
    PolicyAST,
    Rule,
    SignalsBlock,
    Span,
    String,
)
from guardrail.policy.errors import split_lines
from guardrail.policy.exprfmt import expr_text, quote, value_text
from guardrail.policy.parser import parse_ast

INDENT = "  "
LINE_LIMIT = 100


@dataclass
class _Line:
    depth: int
    text: str
    anchor: Span
    blank_before: bool = False
    close: bool = False
    leading: list[tuple[str, bool]] = field(default_factory=list)  # (comment, blank after it)
    trailing: list[str] = field(default_factory=list)


def _directive_text(d: Directive) -> str:
    out = d.name.name
    if d.values:
        out += " " + ", ".join(value_text(v) for v in d.values)
    for opt in d.options:
        out += f" {opt.key.name} " + ", ".join(value_text(v) for v in opt.values)
    return out


def _message(m: String | None) -> str:
    return "" if m is None else " " + quote(m.value)


def _condition_lines(rule: Rule, depth: int) -> list[_Line]:
    cond = rule.condition
    text = "when " + expr_text(cond)
    if len(INDENT * depth) + len(text) <= LINE_LIMIT or not isinstance(cond, And | Or):
        return [_Line(depth, text, rule.when_span)]
    word = "and" if isinstance(cond, And) else "or"
    lines = []
    for i, op in enumerate(cond.operands):
        part = expr_text(op)
        if isinstance(op, And | Or):  # nested (and-in-or by style, the rest by necessity)
            part = f"({part})"
        if i == 0:
            anchor = rule.when_span.model_copy(
                update={"end_line": op.span.end_line, "end_column": op.span.end_column}
            )
            lines.append(_Line(depth, "when " + part, anchor))
        else:
            lines.append(_Line(depth + 2, f"{word} {part}", op.span))
    return lines


def _layout(ast: PolicyAST) -> list[_Line]:
    lines = [_Line(0, f"policy {ast.name.name} {{", ast.header)]
    prev: object | None = None
    for item in ast.items:
        blank = prev is not None and not (
            isinstance(item, Directive) and isinstance(prev, Directive)
        )
        start = len(lines)
        if isinstance(item, Directive):
            lines.append(_Line(1, _directive_text(item), item.span))
        elif isinstance(item, SignalsBlock):
            lines.append(_Line(1, "signals {", item.header))
            lines.extend(_Line(2, _directive_text(d), d.span) for d in item.directives)
            lines.append(_Line(1, "}", item.close, close=True))
        elif isinstance(item, Rule):
            lines.append(_Line(1, f"rule {item.name.name} {{", item.header))
            lines.extend(_condition_lines(item, 2))
            lines.append(
                _Line(2, f"then {item.action.name}{_message(item.message)}", item.then_span)
            )
            lines.append(_Line(1, "}", item.close, close=True))
        elif isinstance(item, Otherwise):
            lines.append(
                _Line(1, f"otherwise {item.action.name}{_message(item.message)}", item.span)
            )
        elif isinstance(item, Example):
            lines.append(_Line(1, f"example {quote(item.name.value)} {{", item.header))
            for g in item.given:
                given = ", ".join(f"{a.name.name} = {value_text(a.value)}" for a in g.assigns)
                lines.append(_Line(2, "given " + given, g.span))
            expect = "expect " + item.expect.name
            if item.expect_rules:
                expect += " by " + ", ".join(r.name for r in item.expect_rules)
            lines.append(_Line(2, expect, item.expect_span))
            lines.append(_Line(1, "}", item.close, close=True))
        lines[start].blank_before = blank
        prev = item
    lines.append(_Line(0, "}", ast.close, close=True))
    return lines


def _attach(lines: list[_Line], comments: list[Comment], source_lines: list[str]) -> list[str]:
    """Attach comments to layout lines; returns the comments after the last line (footer)."""

    def blank_between(a: int, b: int) -> bool:
        return any(
            not source_lines[i - 1].strip() for i in range(a + 1, b) if 0 < i <= len(source_lines)
        )

    footer: list[str] = []
    pending: list[tuple[str, int]] = []  # own-line comments waiting for the next statement
    order = sorted(comments, key=lambda c: (c.span.line, c.span.column))
    for comment in order:
        line_no = comment.span.line
        if not comment.own_line:
            target = None
            for ln in lines:
                if ln.anchor.end_line == line_no:
                    target = ln
            if target is None:
                for ln in lines:
                    if ln.anchor.line <= line_no <= ln.anchor.end_line:
                        target = ln
            if target is not None:
                target.trailing.append(comment.text)
                continue
        pending.append((comment.text, line_no))
    # second pass for own-line comments: give each to the first line starting after it
    own = pending
    j = 0
    for ln in lines:
        group: list[tuple[str, int]] = []
        while j < len(own) and own[j][1] < ln.anchor.line:
            group.append(own[j])
            j += 1
        for gi, (text, n) in enumerate(group):
            nxt = group[gi + 1][1] if gi + 1 < len(group) else ln.anchor.line
            ln.leading.append((text, blank_between(n, nxt)))
    footer.extend(t for t, _ in own[j:])
    return footer


def format_ast(ast: PolicyAST, source_lines: list[str] | None = None) -> str:
    """Canonical text of ``ast`` (comments placed using the original ``source_lines``)."""
    lines = _layout(ast)
    footer = _attach(lines, list(ast.comments), source_lines or [])
    out: list[str] = []
    for ln in lines:
        pad = INDENT * ln.depth
        if ln.blank_before and out and out[-1] != "":
            out.append("")
        lead_pad = INDENT * (ln.depth + 1) if ln.close else pad
        for text, blank_after in ln.leading:
            out.append(lead_pad + text)
            if blank_after:
                out.append("")
        text = pad + ln.text
        if ln.trailing:
            text += "  " + " ".join(ln.trailing)
        out.append(text)
    for text in footer:
        out.append(text)
    return "\n".join(out) + "\n"


def format_text(text: str, filename: str = "<string>") -> str:
    """Format policy source text. Raises :class:`PolicyError` when it does not parse."""
    ast, _ = parse_ast(text, filename)
    return format_ast(ast, split_lines(text))
