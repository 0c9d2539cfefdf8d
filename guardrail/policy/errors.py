"""Structured diagnostics and the single exception of the policy package.

Every problem found while reading a policy -- a syntax error, an unknown signal, a rule that can
never fire -- is a :class:`Diagnostic` with a stable ``code``, the ``file:line:column`` it points
at, the offending source line and a caret underlining the exact range. Loading functions raise
:class:`PolicyError` carrying *all* diagnostics found, never a raw lark or Python exception.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from guardrail.policy.ast import Span

Severity = Literal["error", "warning"]


class Diagnostic(BaseModel):
    """One error or warning about a policy source.

    ``line``/``column`` are 1-based; ``caret`` has the same length as the underlined text and is
    aligned under ``source_line`` (tabs in the prefix are kept so it stays aligned in terminals).
    """

    code: str
    severity: Severity
    message: str
    file: str
    line: int
    column: int
    end_column: int
    source_line: str
    caret: str
    hint: str | None = None

    @property
    def location(self) -> str:
        """``file:line:column``."""
        return f"{self.file}:{self.line}:{self.column}"

    def render(self) -> str:
        """Human text in the compiler style::

        policies/x.guard:3:8: error[unknown-signal]: unknown signal 'consistncy'
           3 |   when consistncy < 0.7
             |        ^^^^^^^^^^
             = hint: did you mean 'consistency'?
        """
        gutter = " " * len(str(self.line))
        out = [
            f"{self.location}: {self.severity}[{self.code}]: {self.message}",
            f" {self.line} | {self.source_line}",
            f" {gutter} | {self.caret}",
        ]
        if self.hint:
            out.append(f" {gutter} = hint: {self.hint}")
        return "\n".join(out)


class PolicyError(Exception):
    """Raised by every loading function when a policy has errors.

    ``diagnostics`` lists every error *and* warning found (errors first, then by position).
    ``str(err)`` is the rendered text of all of them.
    """

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(
            diagnostics, key=lambda d: (d.severity != "error", d.file, d.line, d.column)
        )
        super().__init__("\n".join(d.render() for d in self.diagnostics) or "policy error")

    @property
    def errors(self) -> list[Diagnostic]:
        """Only the error-severity diagnostics."""
        return [d for d in self.diagnostics if d.severity == "error"]


def split_lines(text: str) -> list[str]:
    """Lines as the parser counts them: split on ``\n`` only (``str.splitlines`` also splits on
    ``\x85``, ``\u2028`` ... which would shift line numbers), a trailing ``\r`` removed."""
    return [line.removesuffix("\r") for line in text.split("\n")]


class Source:
    """A policy's text split into lines, used to build diagnostics with source line and caret."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.lines = split_lines(text)

    def line_text(self, line: int) -> str:
        """The text of 1-based ``line`` ('' outside the file)."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return ""

    def diagnostic(
        self,
        code: str,
        message: str,
        span: Span,
        *,
        severity: Severity = "error",
        hint: str | None = None,
    ) -> Diagnostic:
        """Build a :class:`Diagnostic` underlining ``span`` (clipped to its first line)."""
        line = max(span.line, 1)
        text = self.line_text(line)
        col = max(span.column, 1)
        if span.end_line == span.line and span.end_column > span.column:
            end = span.end_column
        else:
            end = len(text) + 1  # multi-line span: underline to the end of the first line
        end = max(end, col + 1)
        prefix = "".join(ch if ch == "\t" else " " for ch in text[: col - 1])
        caret = prefix + "^" * (end - col)
        return Diagnostic(
            code=code,
            severity=severity,
            message=message,
            file=self.filename,
            line=line,
            column=col,
            end_column=end,
            source_line=text,
            caret=caret,
            hint=hint,
        )
