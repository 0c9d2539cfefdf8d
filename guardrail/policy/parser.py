"""Parse policy text into a :class:`~guardrail.policy.ast.PolicyAST` (syntax only).

The grammar lives in ``grammar.lark`` and is parsed with lark's LALR(1) parser. Newlines end
statements; :class:`LineJoiner` (a lark post-lexer) drops a newline inside parentheses, after an
operator, ``and``/``or``/``not`` or a comma, and before a line that starts with ``and``/``or`` or a
comparison, so long conditions may span lines. Comments are collected for the formatter.

Every lark exception is turned into a :class:`~guardrail.policy.errors.Diagnostic`; callers only
ever see :class:`~guardrail.policy.errors.PolicyError`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, cast

import lark
from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput
from lark.exceptions import UnexpectedToken as LarkUnexpectedToken

from guardrail.policy.ast import (
    And,
    Arith,
    Comment,
    Compare,
    Directive,
    Example,
    Expr,
    Given,
    GivenLine,
    Ident,
    Item,
    Literal_,
    Missing,
    Name,
    Neg,
    Not,
    Number,
    Option,
    Or,
    Otherwise,
    PolicyAST,
    Rule,
    SignalsBlock,
    Span,
    String,
    Value,
    Word,
)
from guardrail.policy.errors import Diagnostic, PolicyError, Source
from guardrail.policy.limits import (
    MAX_NESTING,
    MAX_NUMBER_CHARS,
    MAX_POLICY_BYTES,
    MAX_STRING_CHARS,
)

_JOIN_AFTER = frozenset(
    {
        "_AND",
        "_OR",
        "NOT",
        "COMP_OP",
        "PLUS",
        "MINUS",
        "COMMA",
        "LPAR",
        "EQUAL",
        "WHEN",
        "GIVEN",
        "BY",
    }
)
_JOIN_BEFORE = frozenset({"_AND", "_OR", "COMP_OP", "PLUS", "RPAR"})

_TERMINAL_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "NUMBER": "a number",
    "_NL": "end of line",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "EQUAL": "'='",
    "COMP_OP": "a comparison (<, <=, >, >=, ==, !=)",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "_AND": "'and'",
    "_OR": "'or'",
    "NOT": "'not'",
    "$END": "end of file",
}
_KEYWORDS = {
    "POLICY": "policy",
    "SIGNALS": "signals",
    "RULE": "rule",
    "WHEN": "when",
    "THEN": "then",
    "OTHERWISE": "otherwise",
    "EXAMPLE": "example",
    "GIVEN": "given",
    "EXPECT": "expect",
    "BY": "by",
    "MISSING": "missing",
}
_BLOCK_KEYWORDS = (
    "policy",
    "signals",
    "rule",
    "example",
    "otherwise",
    "when",
    "then",
    "given",
    "expect",
)

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


class _TooDeep(Exception):
    """Raised by :class:`LineJoiner` when a condition nests deeper than ``MAX_NESTING``;
    ``tok`` is the condition's ``when`` (or ``given``) keyword, else the offending token."""

    def __init__(self, tok: Token) -> None:
        super().__init__("nested too deeply")
        self.tok = tok


class LineJoiner:
    """lark post-lexer: collapses blank lines and joins continuation lines (see module doc);
    stops at a condition nested deeper than :data:`~guardrail.policy.limits.MAX_NESTING`
    (parentheses plus runs of ``not`` / unary ``-``)."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        unary = 0  # the current run of `not` / `-` (parentheses inside the run keep it going)
        prev: str | None = None
        pending: Token | None = None
        opener: Token | None = None
        for tok in stream:
            if tok.type in ("WHEN", "GIVEN", "EXPECT", "RULE", "EXAMPLE"):
                opener = tok if tok.type in ("WHEN", "GIVEN") else None
            if tok.type in ("NOT", "MINUS"):
                unary += 1
            elif tok.type not in ("LPAR", "_NL"):
                unary = 0
            if depth + unary + (tok.type == "LPAR") > MAX_NESTING:
                raise _TooDeep(opener or tok)
            if tok.type == "_NL":
                if depth > 0 or prev is None or prev in _JOIN_AFTER or prev == "_NL":
                    continue
                if pending is None:
                    pending = tok
                continue
            if pending is not None:
                if tok.type not in _JOIN_BEFORE:
                    yield pending
                    prev = "_NL"
                pending = None
            if tok.type == "LPAR":
                depth += 1
            elif tok.type == "RPAR":
                depth = max(depth - 1, 0)
            yield tok
            prev = tok.type
        if pending is not None:
            yield pending


@lru_cache(maxsize=1)
def _grammar() -> str:
    return resources.files("guardrail.policy").joinpath("grammar.lark").read_text(encoding="utf-8")


def _make_parser(comments: list[Token]) -> Lark:
    return Lark(
        _grammar(),
        parser="lalr",
        lexer="basic",
        propagate_positions=False,
        maybe_placeholders=True,
        postlex=LineJoiner(),
        lexer_callbacks={"COMMENT": comments.append},
        cache=_cache_file(),
    )


def _cache_file() -> str | bool:
    """Where lark keeps the built LALR tables between processes: the user's cache folder
    (``platformdirs.user_cache_path("guardrail")``), not the shared temp folder, because the file
    is a pickle. Loading it instead of rebuilding the tables is most of ``guardrail check``'s
    start-up (bench/bench_startup.py). lark stores a hash of the grammar and options in the file
    and rebuilds when they differ; False (no cache) when the folder cannot be created."""
    from platformdirs import user_cache_path

    folder = user_cache_path("guardrail", appauthor=False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return str(folder / f"policy-grammar-lark-{lark.__version__}.cache")


class _Parser:
    """Holds one lark parser; comments are collected per parse under ``lock``."""

    def __init__(self) -> None:
        self.comments: list[Token] = []
        self.lark = _make_parser(self.comments)
        self.lock = threading.Lock()


@lru_cache(maxsize=1)
def _shared_parser() -> _Parser:
    return _Parser()


# ------------------------------------------------------------------ helpers


def _tok_span(tok: Token) -> Span:
    line = tok.line or 1
    col = tok.column or 1
    end_line = tok.end_line or line
    end_col = tok.end_column or col + len(str(tok))
    return Span(line=line, column=col, end_line=end_line, end_column=end_col)


def _tree_span(tree: Tree[Any] | Token) -> Span:
    if isinstance(tree, Token):
        return _tok_span(tree)
    # From the kept tokens, not lark's meta: meta also covers the filtered end-of-line token.
    toks = list(tree.scan_values(lambda v: isinstance(v, Token)))
    if not toks:
        return Span()
    return _tok_span(toks[0]).to(_tok_span(toks[-1]))


def normalize_number(raw: str) -> tuple[float, str]:
    """``raw`` as written (``070.50%``) -> (value, canonical text): (0.705, ``70.5%``)."""
    percent = raw.endswith("%")
    digits = raw[:-1] if percent else raw
    whole, _, frac = digits.partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0")
    canon = whole + ("." + frac if frac else "")
    value = float(canon) / 100.0 if percent else float(canon)
    return value, canon + ("%" if percent else "")


class _Builder:
    """Turns lark's parse tree into AST nodes, collecting literal-level diagnostics."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.diags: list[Diagnostic] = []
        self.condition_at: Span | None = None  # the condition being built (for "too deep")

    # -- leaves
    def ident(self, tok: Token) -> Ident:
        return Ident(name=str(tok), span=_tok_span(tok))

    def string(self, tree: Tree[Any]) -> String:
        tok = cast(Token, tree.children[0])
        return String(value=self.decode_string(tok), span=_tok_span(tok))

    def decode_string(self, tok: Token) -> str:
        raw = str(tok)[1:-1]
        if len(raw) > MAX_STRING_CHARS:
            self.diags.append(
                self.src.diagnostic(
                    "string-too-long",
                    f"string of {len(raw)} characters; the limit is {MAX_STRING_CHARS}",
                    _tok_span(tok),
                )
            )
            return raw[:MAX_STRING_CHARS]
        out: list[str] = []
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            col = (tok.column or 1) + 1 + i
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
                out.append(chr(int(raw[i + 2 : i + 6], 16)))
                i += 6
            else:
                width = 2 if nxt != "u" else min(6, len(raw) - i)
                self.diags.append(
                    self.src.diagnostic(
                        "bad-escape",
                        f"unknown escape sequence '\\{nxt}' in string",
                        Span(
                            line=tok.line or 1,
                            column=col,
                            end_line=tok.line or 1,
                            end_column=col + width,
                        ),
                        hint='use \\" \\\\ \\n \\t \\r or \\uXXXX',
                    )
                )
                out.append(nxt)
                i += 2
        return "".join(out)

    def _long_number(self, tok: Token) -> bool:
        if len(tok) <= MAX_NUMBER_CHARS:
            return False
        self.diags.append(
            self.src.diagnostic(
                "number-too-long",
                f"number of {len(tok)} characters; the limit is {MAX_NUMBER_CHARS}",
                _tok_span(tok),
            )
        )
        return True

    def number(self, tree: Tree[Any]) -> Number:
        for tok in tree.children:
            if isinstance(tok, Token) and tok.type == "NUMBER" and self._long_number(tok):
                return Number(value=0.0, text="0", span=_tok_span(tok))
        if tree.data == "signed":
            minus, tok = cast(list[Token], tree.children)
            value, text = normalize_number(str(tok))
            span = _tok_span(minus).to(_tok_span(tok))
            if value == 0:
                return Number(value=0.0, text=text, span=span)
            return Number(value=-value, text="-" + text, span=span)
        tok = cast(Token, tree.children[0])
        value, text = normalize_number(str(tok))
        return Number(value=value, text=text, span=_tok_span(tok))

    def value(self, tree: Tree[Any]) -> Value:
        if tree.data in ("number", "signed"):
            return self.number(tree)
        if tree.data == "string":
            return self.string(tree)
        if tree.data == "word":
            tok = cast(Token, tree.children[0])
            return Word(name=str(tok), span=_tok_span(tok))
        raise AssertionError(tree.data)  # pragma: no cover - grammar guarantees

    def values(self, tree: Tree[Any] | None) -> list[Value]:
        if tree is None:
            return []
        return [self.value(cast(Tree[Any], c)) for c in tree.children]

    # -- expressions
    def expr(self, node: Tree[Any] | Token) -> Expr:
        if isinstance(node, Token):  # pragma: no cover - every atom is wrapped in a tree
            raise AssertionError(node)
        span = _tree_span(node)
        kind = node.data
        ch = node.children
        if kind == "number":
            return self.number(node)
        if kind == "string":
            return self.string(node)
        if kind == "name":
            return Name(name=str(ch[0]), span=span)
        if kind == "neg":
            return Neg(operand=self.expr(ch[1]), span=span)
        if kind == "binop":
            op: Literal["+", "-"] = "+" if str(ch[1]) == "+" else "-"
            return Arith(op=op, left=self.expr(ch[0]), right=self.expr(ch[2]), span=span)
        if kind == "compare":
            return Compare(
                op=cast(Any, str(ch[1])), left=self.expr(ch[0]), right=self.expr(ch[2]), span=span
            )
        if kind == "not_":
            return Not(operand=self.expr(ch[1]), span=span)
        if kind == "paren":  # parentheses only group; the node's span includes them
            return self.expr(ch[1]).model_copy(update={"span": span})
        if kind == "and_expr":
            return And(operands=[self.expr(c) for c in ch], span=span)
        if kind == "or_expr":
            return Or(operands=[self.expr(c) for c in ch], span=span)
        raise AssertionError(kind)  # pragma: no cover

    # -- statements
    def directive(self, tree: Tree[Any]) -> Directive:
        name_tok = cast(Token, tree.children[0])
        values = self.values(cast("Tree[Any] | None", tree.children[1]))
        options = []
        for opt in tree.children[2:]:
            opt = cast(Tree[Any], opt)
            key = cast(Token, opt.children[0])
            options.append(
                Option(
                    key=self.ident(key),
                    values=self.values(cast(Tree[Any], opt.children[1])),
                    span=_tree_span(opt),
                )
            )
        return Directive(
            name=self.ident(name_tok), values=values, options=options, span=_tree_span(tree)
        )

    def message(self, node: Tree[Any] | None) -> String | None:
        return None if node is None else self.string(node)

    def item(self, tree: Tree[Any]) -> Item:
        ch = tree.children
        if tree.data == "rule":  # where to point if the condition is too deep to walk
            self.condition_at = _tok_span(cast(Token, cast(Tree[Any], ch[3]).children[0]))
        span = _tree_span(tree)
        if tree.data == "directive":
            return self.directive(tree)
        if tree.data == "signals":
            head, lbrace, close = cast(Token, ch[0]), cast(Token, ch[1]), cast(Token, ch[-1])
            return SignalsBlock(
                directives=[self.directive(cast(Tree[Any], c)) for c in ch[2:-1]],
                span=span,
                header=_tok_span(head).to(_tok_span(lbrace)),
                close=_tok_span(close),
            )
        if tree.data == "rule":
            rule_tok, name, lbrace = cast(Token, ch[0]), cast(Token, ch[1]), cast(Token, ch[2])
            when, then, close = cast(Tree[Any], ch[3]), cast(Tree[Any], ch[4]), cast(Token, ch[5])
            return Rule(
                name=self.ident(name),
                condition=self.expr(when.children[1]),
                action=self.ident(cast(Token, then.children[1])),
                message=self.message(cast("Tree[Any] | None", then.children[2])),
                span=span,
                header=_tok_span(rule_tok).to(_tok_span(lbrace)),
                when_span=_tree_span(when),
                then_span=_tree_span(then),
                close=_tok_span(close),
            )
        if tree.data == "otherwise":
            return Otherwise(
                action=self.ident(cast(Token, ch[1])),
                message=self.message(cast("Tree[Any] | None", ch[2])),
                span=span,
            )
        if tree.data == "example":
            ex_tok, ex_name = cast(Token, ch[0]), cast(Tree[Any], ch[1])
            lbrace = cast(Token, ch[2])
            givens: list[GivenLine] = []
            for g_node in ch[3:-2]:
                g = cast(Tree[Any], g_node)
                assigns = []
                for a_node in g.children[1:]:
                    a = cast(Tree[Any], a_node)
                    lit = cast(Tree[Any], a.children[1])
                    value: Literal_
                    if lit.data == "missing":
                        value = Missing(span=_tree_span(lit))
                    elif lit.data == "string":
                        value = self.string(lit)
                    else:
                        value = self.number(lit)
                    assigns.append(
                        Given(
                            name=self.ident(cast(Token, a.children[0])),
                            value=value,
                            span=_tree_span(a),
                        )
                    )
                givens.append(GivenLine(assigns=assigns, span=_tree_span(g)))
            expect = cast(Tree[Any], ch[-2])
            names = [c for c in expect.children[1:] if isinstance(c, Token) and c.type == "NAME"]
            return Example(
                name=self.string(ex_name),
                given=givens,
                expect=self.ident(names[0]),
                expect_rules=[self.ident(t) for t in names[1:]],
                span=span,
                header=_tok_span(ex_tok).to(_tok_span(lbrace)),
                expect_span=_tree_span(expect),
                close=_tok_span(cast(Token, ch[-1])),
            )
        raise AssertionError(tree.data)  # pragma: no cover

    def policy(self, tree: Tree[Any]) -> PolicyAST:
        ch = tree.children
        head, name, lbrace, close = (
            cast(Token, ch[0]),
            cast(Token, ch[1]),
            cast(Token, ch[2]),
            cast(Token, ch[-1]),
        )
        return PolicyAST(
            name=self.ident(name),
            items=[self.item(cast(Tree[Any], c)) for c in ch[3:-1]],
            span=_tree_span(tree),
            header=_tok_span(head).to(_tok_span(lbrace)),
            close=_tok_span(close),
        )


# ------------------------------------------------------------------ syntax errors


def _describe_expected(expected: set[str] | frozenset[str]) -> str:
    names = []
    for term in sorted(expected):
        if term in _KEYWORDS:
            names.append(f"'{_KEYWORDS[term]}'")
        else:
            names.append(_TERMINAL_NAMES.get(term, term.lower()))
    names = sorted(set(names))
    if not names:
        return "nothing"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _last_code_line(src: Source) -> int:
    """The last line with something on it (where 'unexpected end of file' points)."""
    for i in range(len(src.lines), 0, -1):
        if src.line_text(i).strip():
            return i
    return 1


def _syntax_diagnostic(src: Source, err: UnexpectedInput) -> Diagnostic:
    line = getattr(err, "line", None) or 1
    col = getattr(err, "column", None) or 1
    if isinstance(line, int) and line < 0:
        line, col = len(src.lines), len(src.line_text(len(src.lines))) + 1
    hint: str | None = None
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream if err.pos_in_stream is not None else len(src.text)
        ch = src.text[pos] if pos < len(src.text) else ""
        span = Span(line=line, column=col, end_line=line, end_column=col + 1)
        if ch == '"':
            text = src.line_text(line)
            return src.diagnostic(
                "unterminated-string",
                "string is not closed on this line",
                Span(line=line, column=col, end_line=line, end_column=len(text) + 1),
                hint='close it with " (a string cannot span lines; use \\n for a newline)',
            )
        if ch in "&|":
            hint = "use 'and' / 'or'"
        elif ch == "!":
            hint = "use 'not' or '!='"
        elif ch == "=":
            hint = "use '==' to compare"
        elif ch == "'":
            hint = 'strings use double quotes: "..."'
        elif ch == "%":
            hint = "write the percent sign right after the number: 85%"
        elif ch == "." and src.text[pos + 1 : pos + 2].isdigit():
            hint = f"write a digit before the point: 0{src.text[pos : pos + 2]}"
        return src.diagnostic(
            "syntax-error",
            f"unexpected character {ch!r}",
            span,
            hint=hint,
        )
    if isinstance(err, LarkUnexpectedToken):
        tok = err.token
        expected = err.expected or set()
        if tok.type == "$END":
            last = _last_code_line(src)
            text = src.line_text(last)
            span = Span(line=last, column=len(text) + 1, end_line=last, end_column=len(text) + 2)
            what = "end of file"
        else:
            span = _tok_span(tok)
            if span.end_line != span.line:  # a newline token: point at the line end
                span = Span(
                    line=span.line,
                    column=span.column,
                    end_line=span.line,
                    end_column=span.column + 1,
                )
            what = "end of line" if tok.type == "_NL" else f"{tok!s}".strip() or tok.type
            what = what if tok.type == "_NL" else f"'{what}'"
        if tok.type == "EQUAL" or (tok.type == "_NL" and "COMP_OP" in expected):
            hint = "a condition compares values: use '==', '<', '>=' ..."
        if tok.type == "_NL" and "THEN" in expected:
            hint = "a rule is 'when <condition>' on one line, 'then <action>' on the next"
        if tok.type in ("LBRACE", "NAME", "STRING"):
            first = src.line_text(span.line).strip().split(" ")[0]
            if first and first not in _BLOCK_KEYWORDS:
                from rapidfuzz import process  # only for the "did you mean" hint

                match = process.extractOne(first, _BLOCK_KEYWORDS, score_cutoff=70)
                if match:
                    hint = f"did you mean '{match[0]}'?"
        if tok.type == "COMP_OP" and "COMP_OP" not in expected:
            hint = "comparisons cannot be chained; combine them with 'and'"
        if tok.type == "$END" and "RBRACE" in expected:
            hint = "a block is not closed: add '}'"
        if tok.type == "THEN":
            hint = "put 'then <action>' on its own line"
        if tok.type == "STRING" and expected == {"NAME"} and "then" in src.line_text(span.line):
            hint = "'then' needs an action before the message: pass, notice, review or abstain"
        if tok.type in _KEYWORDS and expected == {"NAME"}:
            hint = f"'{tok}' is a reserved word; choose another name"
        if tok.type == "POLICY" and expected <= {"$END", "_NL"}:
            hint = "a file holds one policy; put the next one in its own .guard file"
        if hint is None and tok.type not in ("_NL", "$END") and expected == {"_NL"}:
            hint = f"one statement per line: start a new line before {what}"
        return src.diagnostic(
            "syntax-error",
            f"unexpected {what}; expected {_describe_expected(expected)}",
            span,
            hint=hint,
        )
    if isinstance(err, UnexpectedEOF):  # pragma: no cover - LALR raises UnexpectedToken($END)
        last = len(src.lines)
        text = src.line_text(last)
        return src.diagnostic(
            "syntax-error",
            "unexpected end of file",
            Span(line=last, column=len(text) + 1, end_line=last, end_column=len(text) + 2),
        )
    return src.diagnostic(
        "syntax-error",
        str(err).splitlines()[0],
        Span(line=line, column=col, end_line=line, end_column=col + 1),
    )  # pragma: no cover


def parse_ast(text: str, filename: str = "<string>") -> tuple[PolicyAST, list[Diagnostic]]:
    """Parse ``text`` to an AST.

    Returns the tree and the non-fatal literal diagnostics (bad escapes). Raises
    :class:`PolicyError` with one ``syntax-error``/``unterminated-string`` diagnostic when the text
    is not a policy.
    """
    src = Source(text, filename)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_POLICY_BYTES:
        raise PolicyError(
            [
                src.diagnostic(
                    "policy-too-large",
                    f"policy text is {size} bytes; the limit is {MAX_POLICY_BYTES}",
                    Span(line=1, column=1, end_line=1, end_column=2),
                    hint="split it into one file per domain",
                )
            ]
        )
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        col = text.index("\x00") - (text.rfind("\n", 0, text.index("\x00")) + 1) + 1
        raise PolicyError(
            [
                src.diagnostic(
                    "syntax-error",
                    "NUL byte in policy text",
                    Span(line=line, column=col, end_line=line, end_column=col + 1),
                )
            ]
        )
    parser = _shared_parser()
    try:
        with parser.lock:  # one parse at a time: the comment list is shared
            parser.comments.clear()
            tree = parser.lark.parse(text)
            comment_tokens = list(parser.comments)
    except UnexpectedInput as err:
        raise PolicyError([_syntax_diagnostic(src, err)]) from None
    except _TooDeep as err:
        raise PolicyError(
            [
                src.diagnostic(
                    "too-complex",
                    f"condition nests parentheses / not / '-' more than {MAX_NESTING} deep",
                    _tok_span(err.tok),
                    hint="split it into several rules (each rule's action still applies)",
                )
            ]
        ) from None
    except (LarkError, RecursionError) as err:
        raise PolicyError(
            [
                src.diagnostic(
                    "syntax-error",
                    f"cannot parse policy: {err}",
                    Span(line=1, column=1, end_line=1, end_column=2),
                )
            ]
        ) from None
    builder = _Builder(src)
    try:
        ast = builder.policy(cast(Tree[Any], tree.children[0]))
    except (AssertionError, TypeError, ValueError, IndexError) as err:
        raise PolicyError(
            [
                src.diagnostic(
                    "internal-error",
                    f"the parser failed: {type(err).__name__}: {err}",
                    Span(line=1, column=1, end_line=1, end_column=2),
                    hint="this is a bug in guardrail; please report it with the policy file",
                )
            ]
        ) from None
    except RecursionError:
        at = builder.condition_at or Span(line=1, column=1, end_line=1, end_column=2)
        raise PolicyError(
            [
                src.diagnostic(
                    "too-complex",
                    "condition is nested too deeply to check",
                    at,
                    hint="split it into several rules (each rule's action still applies)",
                )
            ]
        ) from None
    comments = []
    for tok in comment_tokens:
        span = _tok_span(tok)
        own = src.line_text(span.line)[: span.column - 1].strip() == ""
        comments.append(Comment(text=str(tok).rstrip(), own_line=own, span=span))
    ast = ast.model_copy(update={"comments": comments})
    return ast, builder.diags
