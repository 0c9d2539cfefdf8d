"""Abstract syntax tree of a policy file, with source positions.

Every node carries a :class:`Span` (1-based line and column, end exclusive). Spans are excluded
from ``model_dump()``, so two trees are compared *without positions* with :func:`ast_equal`
(``parse(fmt(x))`` equals ``parse(x)`` in that sense). Comments are kept beside the tree (for the
formatter) and are not part of it either.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Span(BaseModel):
    """A source range: 1-based ``line``/``column`` of the first character, ``end_line``/
    ``end_column`` one past the last character (lark's convention)."""

    model_config = ConfigDict(frozen=True)

    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0

    def to(self, other: Span) -> Span:
        """The span from the start of ``self`` to the end of ``other``."""
        return Span(
            line=self.line,
            column=self.column,
            end_line=other.end_line,
            end_column=other.end_column,
        )


NO_SPAN = Span()


class Node(BaseModel):
    """Base of all tree nodes (immutable); ``span`` is excluded from dumps and comparisons."""

    model_config = ConfigDict(frozen=True)

    span: Span = Field(default=NO_SPAN, exclude=True, repr=False)


# ---------------------------------------------------------------- expressions and values


class Number(Node):
    """A number literal. ``value`` is the meaning (``85%`` -> 0.85); ``text`` the canonical
    spelling (``85%``, ``0.85``, ``7``) that the formatter writes back."""

    kind: Literal["number"] = "number"
    value: float
    text: str


class String(Node):
    """A string literal; ``value`` is the decoded text (escapes resolved)."""

    kind: Literal["string"] = "string"
    value: str


class Word(Node):
    """A bare word used as a value (``on_missing review``, ``verbalized followup``)."""

    kind: Literal["word"] = "word"
    name: str


class Missing(Node):
    """The ``missing`` literal in an example's ``given`` line."""

    kind: Literal["missing"] = "missing"


class Name(Node):
    """A signal reference inside a condition."""

    kind: Literal["name"] = "name"
    name: str


class Neg(Node):
    """Unary minus."""

    kind: Literal["neg"] = "neg"
    operand: Expr


class Arith(Node):
    """``left + right`` or ``left - right``."""

    kind: Literal["arith"] = "arith"
    op: Literal["+", "-"]
    left: Expr
    right: Expr


CompareOp = Literal["<", "<=", ">", ">=", "==", "!="]


class Compare(Node):
    """``left op right`` (one comparison; chains are a syntax error)."""

    kind: Literal["compare"] = "compare"
    op: CompareOp
    left: Expr
    right: Expr


class Not(Node):
    """``not operand``."""

    kind: Literal["not"] = "not"
    operand: Expr


class And(Node):
    """``a and b and ...`` (flattened, at least two operands)."""

    kind: Literal["and"] = "and"
    operands: list[Expr]


class Or(Node):
    """``a or b or ...`` (flattened, at least two operands)."""

    kind: Literal["or"] = "or"
    operands: list[Expr]


Expr = Annotated[
    Number | String | Name | Neg | Arith | Compare | Not | And | Or,
    Field(discriminator="kind"),
]
Value = Annotated[Number | String | Word, Field(discriminator="kind")]
Literal_ = Annotated[Number | String | Missing, Field(discriminator="kind")]


# ---------------------------------------------------------------- statements


class Ident(Node):
    """A name written in the source (rule names, setting names, actions)."""

    name: str


class Option(Node):
    """``key value[, value...]`` after a directive's positional values."""

    key: Ident
    values: list[Value]


class Directive(Node):
    """A setting (``on_missing review``) or a signals line (``samples 7 temperature 0.9``)."""

    kind: Literal["directive"] = "directive"
    name: Ident
    values: list[Value] = Field(default_factory=list)
    options: list[Option] = Field(default_factory=list)


class SignalsBlock(Node):
    """``signals { directive... }``; ``header``/``close`` are the ``signals {`` and ``}`` spans."""

    kind: Literal["signals"] = "signals"
    directives: list[Directive]
    header: Span = Field(default=NO_SPAN, exclude=True, repr=False)
    close: Span = Field(default=NO_SPAN, exclude=True, repr=False)


class Rule(Node):
    """``rule name { when condition then action ["message"] }``."""

    kind: Literal["rule"] = "rule"
    name: Ident
    condition: Expr
    action: Ident
    message: String | None = None
    header: Span = Field(default=NO_SPAN, exclude=True, repr=False)
    when_span: Span = Field(default=NO_SPAN, exclude=True, repr=False)
    then_span: Span = Field(default=NO_SPAN, exclude=True, repr=False)
    close: Span = Field(default=NO_SPAN, exclude=True, repr=False)


class Otherwise(Node):
    """``otherwise action ["message"]``: the decision when no rule matched."""

    kind: Literal["otherwise"] = "otherwise"
    action: Ident
    message: String | None = None


class Given(Node):
    """``name = literal`` inside an example's ``given`` line."""

    name: Ident
    value: Literal_


class GivenLine(Node):
    """One ``given a = 1, b = 2`` line (kept as a line for the formatter)."""

    assigns: list[Given]


class Example(Node):
    """``example "name" { given ...; expect action [by rule, ...] }``."""

    kind: Literal["example"] = "example"
    name: String
    given: list[GivenLine]
    expect: Ident
    expect_rules: list[Ident] = Field(default_factory=list)
    header: Span = Field(default=NO_SPAN, exclude=True, repr=False)
    expect_span: Span = Field(default=NO_SPAN, exclude=True, repr=False)
    close: Span = Field(default=NO_SPAN, exclude=True, repr=False)


Item = Annotated[
    Directive | SignalsBlock | Rule | Otherwise | Example,
    Field(discriminator="kind"),
]


class Comment(Node):
    """A ``# ...`` comment; ``own_line`` when nothing but blanks precede it on its line."""

    text: str
    own_line: bool


class PolicyAST(Node):
    """A whole policy file: ``policy name { items }``."""

    name: Ident
    items: list[Item]
    header: Span = Field(default=NO_SPAN, exclude=True, repr=False)
    close: Span = Field(default=NO_SPAN, exclude=True, repr=False)
    comments: list[Comment] = Field(default_factory=list, exclude=True, repr=False)


for _model in (Neg, Arith, Compare, Not, And, Or):
    _model.model_rebuild()


def ast_equal(a: Node, b: Node) -> bool:
    """True when two trees are equal ignoring positions and comments."""
    return a.model_dump() == b.model_dump()


def dump(node: Node) -> dict[str, Any]:
    """The tree as plain data without positions (for golden tests)."""
    return node.model_dump()
