"""Canonical formatter: golden output, comments kept, idempotence, parse(fmt(x)) == parse(x)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail.policy import ast_equal, parse_ast
from guardrail.policy.formatter import format_text
from tests.policy.helpers import BUNDLED
from tests.policy.strategies import policy_texts

MESSY = """# header

# second paragraph
policy   demo{   # on the header
  description   "Say \\"hi\\"\\tthere" # trailing
  on_missing review
  # before spot_check
  spot_check 010.50%
  signals {
    samples 7   temperature 0.90
    ensemble "a","b" weights 0.6,0.4
  }
  rule low { # why
    when ((consistency < 70%)) and (agreement - consistency) > 0.3 or not hedges == 0
    then abstain "x {consistency:.0%}"
  }
  otherwise notice "hi"
  example "e1" {
    given consistency = 0.5, hedges = 0,
      agreement = 1
    expect abstain by low
  }
  # dangling at the end
}
# footer
"""

CANONICAL = """# header

# second paragraph
policy demo {  # on the header
  description "Say \\"hi\\"\\tthere"  # trailing
  on_missing review
  # before spot_check
  spot_check 10.5%

  signals {
    samples 7 temperature 0.9
    ensemble "a", "b" weights 0.6, 0.4
  }

  rule low {  # why
    when (consistency < 70% and agreement - consistency > 0.3) or not (hedges == 0)
    then abstain "x {consistency:.0%}"
  }

  otherwise notice "hi"

  example "e1" {
    given consistency = 0.5, hedges = 0, agreement = 1
    expect abstain by low
  }
  # dangling at the end
}
# footer
"""


def test_golden_canonical_layout() -> None:
    assert format_text(MESSY) == CANONICAL
    assert format_text(CANONICAL) == CANONICAL


def test_round_trip_of_the_golden_file() -> None:
    a, _ = parse_ast(MESSY)
    b, _ = parse_ast(format_text(MESSY))
    assert ast_equal(a, b)


def test_long_conditions_break_before_top_level_or() -> None:
    cond = " or ".join(f"consistency < 0.{i}" for i in range(1, 9))
    text = f"policy p {{\n  rule r {{\n    when {cond}\n    then review\n  }}\n}}\n"
    out = format_text(text)
    lines = out.splitlines()
    assert lines[2] == "    when consistency < 0.1"
    assert lines[3] == "        or consistency < 0.2"
    assert lines[9] == "        or consistency < 0.8"
    assert format_text(out) == out
    assert ast_equal(parse_ast(out)[0], parse_ast(text)[0])


def test_bundled_policies_are_canonical() -> None:
    for path in BUNDLED:
        text = path.read_text(encoding="utf-8")
        assert format_text(text) == text, path.name


_COMMENT = st.text(st.characters(codec="utf-8", exclude_characters="\n\r\x00"), max_size=12).map(
    lambda t: "# " + t.strip()
)


@st.composite
def messy(draw: st.DrawFn) -> str:
    """A generated policy with random comments, blank lines and indentation."""
    lines = draw(policy_texts()).splitlines()
    out: list[str] = []
    for line in lines:
        for _ in range(draw(st.integers(0, 1))):
            out.append(" " * draw(st.integers(0, 6)) + draw(_COMMENT))
        if draw(st.booleans()):
            out.append("")
        indent = " " * draw(st.integers(0, 3))
        trailing = "  " + draw(_COMMENT) if draw(st.integers(0, 3)) == 0 else ""
        out.append(indent + line.strip() + trailing)
    return "\n".join(out) + "\n"


def _comments(text: str) -> Counter[str]:
    ast, _ = parse_ast(text)
    return Counter(c.text for c in ast.comments)


@settings(max_examples=80, deadline=None)
@given(messy())
def test_format_round_trip_and_idempotence(text: str) -> None:
    once = format_text(text)
    assert format_text(once) == once
    assert ast_equal(parse_ast(text)[0], parse_ast(once)[0])
    assert _comments(once) == _comments(text)
