"""`agreement "BACKEND" [model "M"]` on `samples` and `ensemble`: what it compiles to, the
checker's errors at exact positions (columns counted by hand, 1-based), and the formatter."""

from __future__ import annotations

import pytest

from guardrail.policy import Diagnostic, parse_policy
from guardrail.policy.formatter import format_text
from guardrail.policy.parser import parse_ast
from tests.policy.helpers import diags

RULES = """  rule a {
    when consistency < 0.5 or agreement < 0.5
    then review
  }
}
"""


def src(*entries: str) -> str:
    """A policy whose signals block holds ``entries`` from line 3 on."""
    return "policy t {\n  signals {\n" + "".join(f"    {e}\n" for e in entries) + "  }\n" + RULES


def only(text: str, code: str) -> Diagnostic:
    found = [d for d in diags(text) if d.code == code]
    assert len(found) == 1, [d.render() for d in diags(text)]
    return found[0]


def test_backend_and_model_compile_into_the_configs() -> None:
    p = parse_policy(
        src(
            'samples 7 temperature 0.7 agreement "entailment"',
            'ensemble "a", "b" weights 2, 1 agreement "embedding" model "nomic-embed-text"',
        )
    )
    assert p.signals.samples is not None and p.signals.ensemble is not None
    s, e = p.signals.samples, p.signals.ensemble
    assert (s.k, s.temperature, s.equivalence, s.equivalence_model) == (7, 0.7, "entailment", None)
    assert (e.models, e.weights) == (["a", "b"], [2.0, 1.0])
    assert (e.equivalence, e.equivalence_model) == ("embedding", "nomic-embed-text")


def test_default_backend_is_lexical() -> None:
    p = parse_policy(src("samples 5", 'ensemble "a"'))
    assert p.signals.samples is not None and p.signals.ensemble is not None
    assert p.signals.samples.equivalence == "lexical"
    assert p.signals.ensemble.equivalence == "lexical"
    assert p.signals.samples.equivalence_model is None


def test_unknown_backend_did_you_mean_with_caret() -> None:
    d = only(src('samples 7 temperature 0.7 agreement "entailmnt"'), "unknown-equivalence")
    # '    samples 7 temperature 0.7 agreement ' is 4+7+2+12+4+10+1 = 40 characters: the string
    # starts in column 41 and is 11 characters long with its quotes
    assert (d.line, d.column) == (3, 41)
    assert d.caret == " " * 40 + "^" * 11
    assert d.message == "unknown agreement backend 'entailmnt'"
    assert d.hint == "did you mean 'entailment'?"
    assert d.severity == "error"
    # the entry still gathers consistency: no cascade of signal-not-gathered
    codes = [x.code for x in diags(src('samples 7 agreement "x"', 'ensemble "a"'))]
    assert codes == ["unknown-equivalence"]


def test_unknown_backend_on_ensemble() -> None:
    d = only(src('ensemble "a", "b" weights 1, 2 agreement "embeding"'), "unknown-equivalence")
    # '    ensemble "a", "b" weights 1, 2 agreement ' = 4+8+4+1+4+8+2+1+2+10+1 = 45 characters
    assert (d.line, d.column) == (3, 46)
    assert d.caret == " " * 45 + "^" * 10
    assert d.hint == "did you mean 'embedding'?"


def test_a_far_off_name_lists_the_backends() -> None:
    d = only(src('samples 5 agreement "bert"'), "unknown-equivalence")
    assert d.hint == "expected one of: lexical, embedding, entailment"


def test_unquoted_backend_is_a_bad_value_with_the_quoted_form() -> None:
    d = only(src("samples 5 agreement entailment"), "bad-value")
    # '    samples 5 agreement ' = 4+7+2+10+1 = 24 characters -> column 25, 10 carets
    assert (d.line, d.column, d.caret) == (3, 25, " " * 24 + "^" * 10)
    assert d.hint == 'write it in quotes: agreement "entailment"'


def test_model_needs_a_model_backed_backend() -> None:
    d = only(src('samples 7 agreement "lexical" model "m"'), "bad-value")
    # '    samples 7 agreement "lexical" model ' = 4+7+2+10+10+6+1 = 40 -> column 41, '"m"'
    assert (d.line, d.column, d.caret) == (3, 41, " " * 40 + "^^^")
    assert "'lexical' makes no model call" in d.message
    # without `agreement` the backend is lexical too: '    samples 7 model ' = 4+7+2+6+1 = 20
    assert only(src('samples 7 model "m"'), "bad-value").column == 21


@pytest.mark.parametrize(
    ("entry", "column", "message"),
    [
        # '    samples 5 agreement "entailment", ' = 4+7+2+10+13+1+1 = 38 -> column 39
        ('samples 5 agreement "entailment", "lexical"', 39, "'agreement' takes one backend"),
        # '    samples 5 agreement "embedding" model ' = 4+7+2+10+12+6+1 = 42 -> column 43
        ('samples 5 agreement "embedding" model ""', 43, "'model' takes one non-empty"),
        ('samples 5 agreement "embedding" model nomic', 43, "'model' takes one non-empty"),
    ],
)
def test_bad_values(entry: str, column: int, message: str) -> None:
    d = only(src(entry), "bad-value")
    assert (d.line, d.column) == (3, column)
    assert d.message.startswith(message)


def test_misspelled_option_suggests_agreement() -> None:
    d = only(src('samples 5 agrement "entailment"'), "unknown-option")
    assert (d.line, d.column) == (3, 15)  # '    samples 5 ' = 4+7+1+1+1 = 14 -> column 15
    assert d.hint == "did you mean 'agreement'?"


def test_duplicate_agreement_option() -> None:
    d = only(src('samples 5 agreement "lexical" agreement "embedding"'), "duplicate-setting")
    # '    samples 5 agreement "lexical" ' = 4+7+2+10+10+1 = 34 -> column 35
    assert (d.line, d.column) == (3, 35)


def test_formatter_round_trip() -> None:
    messy = src(
        'samples   7  temperature 0.70   agreement   "entailment"  model "judge-1"',
        'ensemble "a","b"  weights 2,1 agreement "embedding"',
    )
    out = format_text(messy)
    assert '    samples 7 temperature 0.7 agreement "entailment" model "judge-1"\n' in out
    assert '    ensemble "a", "b" weights 2, 1 agreement "embedding"\n' in out
    assert format_text(out) == out  # idempotent
    a, _ = parse_ast(messy, "t.guard")
    b, _ = parse_ast(out, "t.guard")
    pa, pb = parse_policy(messy), parse_policy(out)
    assert pa.signals == pb.signals
    assert len(a.items) == len(b.items)
