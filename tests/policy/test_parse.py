"""Golden parse tests: the AST (without positions) and the positions of selected nodes."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail.policy import parse_ast, parse_policy
from guardrail.policy.ast import And, Arith, Compare, Neg, Not, Or, Rule
from guardrail.policy.parser import normalize_number

SMALL = """# comment
policy tiny {
  on_missing review
  signals {
    samples 7 temperature 90%
  }
  rule low {
    when consistency < 0.7 or stakes == "high"
    then abstain "can't \\"say\\""
  }
  otherwise notice
  example "x" {
    given consistency = 0.5, stakes = missing
    expect abstain by low
  }
}
"""


def _num(value: float, text: str) -> dict[str, Any]:
    return {"kind": "number", "value": value, "text": text}


GOLDEN = {
    "name": {"name": "tiny"},
    "items": [
        {
            "kind": "directive",
            "name": {"name": "on_missing"},
            "values": [{"kind": "word", "name": "review"}],
            "options": [],
        },
        {
            "kind": "signals",
            "directives": [
                {
                    "kind": "directive",
                    "name": {"name": "samples"},
                    "values": [_num(7.0, "7")],
                    "options": [{"key": {"name": "temperature"}, "values": [_num(0.9, "90%")]}],
                },
            ],
        },
        {
            "kind": "rule",
            "name": {"name": "low"},
            "condition": {
                "kind": "or",
                "operands": [
                    {
                        "kind": "compare",
                        "op": "<",
                        "left": {"kind": "name", "name": "consistency"},
                        "right": _num(0.7, "0.7"),
                    },
                    {
                        "kind": "compare",
                        "op": "==",
                        "left": {"kind": "name", "name": "stakes"},
                        "right": {"kind": "string", "value": "high"},
                    },
                ],
            },
            "action": {"name": "abstain"},
            "message": {"kind": "string", "value": 'can\'t "say"'},
        },
        {"kind": "otherwise", "action": {"name": "notice"}, "message": None},
        {
            "kind": "example",
            "name": {"kind": "string", "value": "x"},
            "given": [
                {
                    "assigns": [
                        {"name": {"name": "consistency"}, "value": _num(0.5, "0.5")},
                        {"name": {"name": "stakes"}, "value": {"kind": "missing"}},
                    ]
                }
            ],
            "expect": {"name": "abstain"},
            "expect_rules": [{"name": "low"}],
        },
    ],
}


def test_golden_ast() -> None:
    ast, diags = parse_ast(SMALL)
    assert diags == []
    assert ast.model_dump() == GOLDEN


def test_positions() -> None:
    ast, _ = parse_ast(SMALL)
    rule = ast.items[2]
    assert isinstance(rule, Rule)
    assert (rule.name.span.line, rule.name.span.column) == (7, 8)
    assert (rule.header.line, rule.header.column, rule.header.end_column) == (7, 3, 13)
    cond = rule.condition
    assert isinstance(cond, Or)
    left, right = cond.operands
    # "    when consistency < 0.7 or stakes == "high"": consistency at column 10, stakes at 33
    assert (left.span.line, left.span.column, left.span.end_column) == (8, 10, 27)
    assert (right.span.column, right.span.end_column) == (31, 47)
    assert (rule.close.line, rule.close.column) == (10, 3)
    assert [(c.text, c.own_line, c.span.line) for c in ast.comments] == [("# comment", True, 1)]


@pytest.mark.parametrize(
    ("raw", "value", "text"),
    [
        ("85%", 0.85, "85%"),
        ("0.85", 0.85, "0.85"),
        ("070.50%", 0.705, "70.5%"),
        ("7", 7.0, "7"),
        ("0.000", 0.0, "0"),
        ("12.5%", 0.125, "12.5%"),
        ("100%", 1.0, "100%"),
    ],
)
def test_numbers(raw: str, value: float, text: str) -> None:
    assert normalize_number(raw) == (value, text)


@pytest.mark.parametrize(
    ("literal", "decoded"),
    [
        (r'"a\"b"', 'a"b'),
        (r'"a\\b"', "a\\b"),
        (r'"tab\there"', "tab\there"),
        (r'"\u00e9t\u00E9"', "été"),
        (r'"line\nbreak"', "line\nbreak"),
        ('"ünïcödé ✓"', "ünïcödé ✓"),
    ],
)
def test_string_escapes(literal: str, decoded: str) -> None:
    ast, diags = parse_ast(f"policy p {{\n  description {literal}\n}}\n")
    assert diags == []
    assert ast.items[0].model_dump()["values"][0]["value"] == decoded


def _cond(text: str) -> Any:
    ast, _ = parse_ast(f"policy p {{\n  rule r {{\n    when {text}\n    then pass\n  }}\n}}\n")
    rule = ast.items[0]
    assert isinstance(rule, Rule)
    return rule.condition


def test_precedence_or_and_not() -> None:
    c = _cond("hedges == 0 or not consistency < 0.5 and verbalized > 0.5")
    assert isinstance(c, Or)
    assert isinstance(c.operands[1], And)
    assert isinstance(c.operands[1].operands[0], Not)
    assert isinstance(c.operands[1].operands[0].operand, Compare)
    # `not` > `and` > `or` (docs/policy-language.md grammar): the whole shape, by signal name,
    # i.e. hedges == 0 or ((not (consistency < 0.5)) and (verbalized > 0.5))
    assert len(c.operands) == 2 and len(c.operands[1].operands) == 2
    first, (negated, last) = c.operands[0], c.operands[1].operands
    assert (first.op, first.left.name, first.right.value) == ("==", "hedges", 0.0)
    inner = negated.operand
    assert (inner.op, inner.left.name, inner.right.value) == ("<", "consistency", 0.5)
    assert (last.op, last.left.name, last.right.value) == (">", "verbalized", 0.5)


def test_arithmetic_is_left_associative_and_binds_tighter_than_comparison() -> None:
    c = _cond("verbalized - consistency - agreement > -0.5")
    assert isinstance(c, Compare) and c.op == ">"
    assert isinstance(c.left, Arith) and isinstance(c.left.left, Arith)
    assert c.left.left.op == "-" and c.left.op == "-"
    assert isinstance(c.right, Neg)


def test_newlines_are_joined_inside_parentheses_and_after_operators() -> None:
    a = _cond("(consistency < 0.5\n      or hedges == 0)\n      and verbalized >\n 0.9")
    b = _cond("(consistency < 0.5 or hedges == 0) and verbalized > 0.9")
    assert a.model_dump() == b.model_dump()


def test_policy_model_from_text() -> None:
    policy = parse_policy(SMALL)
    assert policy.name == "tiny" and policy.on_missing.value == "review"
    assert policy.signals.samples is not None
    assert (policy.signals.samples.k, policy.signals.samples.temperature) == (7, 0.9)
    assert policy.rules[0].condition_text == 'consistency < 0.7 or stakes == "high"'
    assert policy.examples[0].given == {"consistency": 0.5, "stakes": None}
    assert policy.otherwise is not None and policy.otherwise.message is None


def test_full_settings() -> None:
    policy = parse_policy("""policy full {
  description "All settings"
  on_missing abstain
  knowledge_cutoff "2024-06"
  spot_check 12.5%
  signals {
    samples 5
    ensemble "gpt-4o-mini", "llama-3.1-70b" weights 2, 1
    verbalized inline
    hedges "default" cues "reportedly", "it seems" boosters "definitely"
    logprobs
  }
  rule r {
    when agreement < 0.5 or logprob_confidence < 0.2 or verbalized < 0.1
      or consistency < 0.3
    then review
  }
}""")
    s = policy.signals
    assert policy.spot_check == 0.125 and policy.knowledge_cutoff == "2024-06"
    assert s.ensemble is not None and s.ensemble.models == ["gpt-4o-mini", "llama-3.1-70b"]
    assert s.ensemble.weights == [2.0, 1.0]
    assert s.verbalized is not None and s.verbalized.mode == "inline"
    assert (s.hedges.lexicon, s.hedges.cues, s.hedges.boosters) == (
        "default",
        ["reportedly", "it seems"],
        ["definitely"],
    )
    assert s.logprobs and s.samples is not None and s.samples.temperature == 0.7
    assert policy.gathered_signals() >= {"agreement", "logprob_confidence", "consistency"}
    assert "calibrated" not in policy.gathered_signals()


def test_crlf_line_endings_and_tabs() -> None:
    text = SMALL.replace("\n", "\r\n").replace("  rule low", "\trule low")
    ast, diags = parse_ast(text)
    assert diags == [] and ast.model_dump() == GOLDEN
    from guardrail.policy.formatter import format_text

    assert format_text(text) == format_text(SMALL)  # canonical output uses \n and spaces
    bad = "policy p {\r\n\trule a {\r\n\t\twhen consistncy < 0.5\r\n\t\tthen review\r\n\t}\r\n}\r\n"
    from guardrail.policy import check_text

    (d,) = [x for x in check_text(bad)[1] if x.code == "unknown-signal"]
    assert (d.line, d.column) == (3, 8)
    assert d.source_line == "\t\twhen consistncy < 0.5"
    assert d.caret == "\t\t     " + "^" * 10  # tabs kept so the caret lines up in a terminal


def test_line_breaks_after_when_given_and_by() -> None:
    text = (
        "policy p {\n  signals {\n    samples 5\n  }\n"
        "  rule r {\n    when\n      consistency < 0.5\n"
        '    then review\n  }\n  example "e" {\n    given\n      consistency = 0.4\n'
        "    expect review by\n      r\n  }\n}\n"
    )
    policy = parse_policy(text)
    assert policy.rules[0].condition_text == "consistency < 0.5"
    assert policy.examples[0].given == {"consistency": 0.4}
    assert policy.examples[0].expect_rules == ["r"]


def test_parsing_from_threads_keeps_comments_apart() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f'# c{i}\npolicy p{i} {{\n  description "d"  # t{i}\n}}\n' for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(parse_ast, texts))
    for i, (ast, _) in enumerate(results):
        assert ast.name.name == f"p{i}"
        assert [c.text for c in ast.comments] == [f"# c{i}", f"# t{i}"]
