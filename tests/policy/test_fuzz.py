"""Fuzzing: random bytes, token soup and mutated bundled policies only ever raise PolicyError."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrail.policy import (
    PolicyError,
    ast_equal,
    check_text,
    load_policy,
    parse_ast,
    parse_policy,
)
from guardrail.policy.formatter import format_text
from tests.policy.helpers import BUNDLED

BUNDLED_TEXTS = [p.read_text(encoding="utf-8") for p in BUNDLED]
TOKENS = [
    "policy",
    "signals",
    "rule",
    "when",
    "then",
    "otherwise",
    "example",
    "given",
    "expect",
    "by",
    "missing",
    "and",
    "or",
    "not",
    "{",
    "}",
    "(",
    ")",
    ",",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "%",
    "#",
    "\n",
    " ",
    "\t",
    '"',
    "\\",
    "0.5",
    "85%",
    "7",
    "consistency",
    "verbalized",
    "hedges",
    "stakes",
    '"high"',
    "review",
    "abstain",
    "pass",
    "notice",
    "samples",
    "temperature",
    "on_missing",
    "calibration",
    '"x.json"',
    "{consistency:.0%}",
    "{",
    "é",
    "\x00",
    "\r\n",
    "1e5",
    "--",
    "..",
]


def _exercise(text: str) -> None:
    """Every entry point on ``text``: only PolicyError may escape; no internal errors."""
    policy, diags = check_text(text)
    assert all(d.code != "internal-error" for d in diags), [d.render() for d in diags]
    for d in diags:
        assert d.line >= 1 and d.column >= 1 and "^" in d.caret
    try:
        parsed = parse_policy(text)
    except PolicyError as err:
        assert err.diagnostics
        parsed = None
    assert (parsed is None) == (policy is None)
    try:
        out = format_text(text)
    except PolicyError:
        return
    assert ast_equal(parse_ast(out)[0], parse_ast(text)[0])
    assert format_text(out) == out
    if parsed is not None:
        parsed.run_examples()
        parsed.evaluate({n: 0.5 for n in parsed.needed_signals()})
        parsed.signals_that_matter({})


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_in_a_file(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "x.guard"
    path.write_bytes(data)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert err.value.diagnostics[0].code in {"bad-encoding", "syntax-error", "unterminated-string"}
    _exercise(data.decode("utf-8", errors="replace"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_token_soup(text: str) -> None:
    _exercise(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_token_soup_inside_a_rule(body: str) -> None:
    _exercise("policy p {\n  rule r {\n    when " + body + "\n    then review\n  }\n}\n")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(BUNDLED_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "dup_line", "swap_lines", "replace"]))
        n = len(text)
        i = draw(st.integers(0, n))
        if kind == "delete":
            j = draw(st.integers(i, min(n, i + 40)))
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif kind == "replace" and i < n:
            text = text[:i] + draw(st.characters(codec="utf-8")) + text[i + 1 :]
        else:
            lines = text.split("\n")
            a = draw(st.integers(0, len(lines) - 1))
            b = draw(st.integers(0, len(lines) - 1))
            if kind == "dup_line":
                lines.insert(b, lines[a])
            else:
                lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
    return text


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_bundled_policies(text: str) -> None:
    _exercise(text)


@pytest.mark.parametrize(
    "cond",
    [
        "(" * 3000 + "consistency < 0.5" + ")" * 3000,
        "not " * 3000 + "consistency < 0.5",
        " + ".join(["consistency"] * 3000) + " < 0.5",
        " or ".join(["consistency < 0.5"] * 3000),
    ],
)
def test_pathological_nesting_is_a_policy_error_or_works(cond: str) -> None:
    text = (
        "policy p {\n  signals {\n    samples 5\n  }\n  rule r {\n    when "
        + cond
        + "\n    then review\n  }\n}\n"
    )
    try:
        parse_policy(text)
    except PolicyError as err:
        assert err.diagnostics[0].severity == "error"
    with contextlib.suppress(PolicyError):
        format_text(text)


def test_too_deep_condition_points_at_its_rule() -> None:
    # Was reported at 1:1 (the `policy` keyword) as a syntax error; the docs promise the
    # `too-complex` code, and the location must be the offending condition's `when` (line 6).
    cond = "(" * 3000 + "consistency < 0.5" + ")" * 3000
    text = (
        "policy p {\n  signals {\n    samples 5\n  }\n\n  rule r {\n    when "
        + cond
        + "\n    then review\n  }\n}\n"
    )
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "deep.guard")
    (d,) = err.value.diagnostics
    assert (d.code, d.line, d.column) == ("too-complex", 7, 5)
    assert d.render().startswith("deep.guard:7:5: error[too-complex]")
