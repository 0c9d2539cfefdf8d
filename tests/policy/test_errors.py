"""One test per diagnostic kind: exact code, line, column, caret and hint.

Columns are counted by hand from the source strings below (1-based; the caret starts under the
first character of the offending text).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail.policy import PolicyError, check_text, load_policies, load_policy, parse_policy
from tests.policy.helpers import diags, only, profile_json, wrap

RULE_A = "  rule a {\n    when consistency < 0.5\n    then review\n  }\n"  # lines 6-9


def test_syntax_error_single_equals() -> None:
    src = wrap("  rule a {\n    when consistency = 0.5\n    then pass\n  }\n")
    d = only(src, "syntax-error")
    assert (d.line, d.column) == (7, 22)
    assert d.source_line == "    when consistency = 0.5"
    assert d.caret == " " * 21 + "^"
    assert d.hint is not None and "'=='" in d.hint
    assert d.severity == "error"


def test_syntax_error_chained_comparison() -> None:
    src = wrap("  rule a {\n    when 0.2 < consistency < 0.5\n    then pass\n  }\n")
    d = only(src, "syntax-error")
    # "    when 0.2 < consistency " is 27 characters: the second '<' is column 28
    assert (d.line, d.column, d.caret) == (7, 28, " " * 27 + "^")
    assert d.hint == "comparisons cannot be chained; combine them with 'and'"


def test_syntax_error_misspelled_block_keyword() -> None:
    src = wrap("  rul a {\n  }\n")
    d = only(src, "syntax-error")
    assert (d.line, d.column, d.caret) == (6, 9, " " * 8 + "^")
    assert d.hint == "did you mean 'rule'?"


def test_syntax_error_at_end_of_file() -> None:
    d = only("policy t {\n", "syntax-error")
    assert d.message.startswith("unexpected end of file")
    assert d.line == 1


def test_unterminated_string() -> None:
    d = only(wrap('  description "abc\n'), "unterminated-string")
    assert (d.line, d.column) == (6, 15)
    assert d.caret == " " * 14 + "^^^^"


def test_bad_escape() -> None:
    d = only(wrap('  description "a\\qb"\n'), "bad-escape")
    assert (d.line, d.column) == (6, 17)
    assert d.caret == " " * 16 + "^^"
    assert "\\q" in d.message


def test_unknown_setting() -> None:
    d = only(wrap("  on_mising review\n"), "unknown-setting")
    assert (d.line, d.column, d.caret) == (6, 3, "  " + "^" * 9)
    assert d.hint == "did you mean 'on_missing'?"


def test_signal_entry_written_as_setting() -> None:
    d = only(wrap("  logprobs\n"), "unknown-setting")
    assert d.hint == "'logprobs' belongs inside the signals { } block"


def test_unknown_signal_entry() -> None:
    d = only("policy t {\n  signals {\n    sample 5\n  }\n}\n", "unknown-signal-entry")
    assert (d.line, d.column, d.caret) == (3, 5, "    ^^^^^^")
    assert d.hint == "did you mean 'samples'?"


def test_unknown_option() -> None:
    src = "policy t {\n  signals {\n    samples 5 temprature 0.7\n  }\n}\n"
    d = only(src, "unknown-option")
    assert (d.line, d.column, d.caret) == (3, 15, " " * 14 + "^" * 10)
    assert d.hint == "did you mean 'temperature'?"


def test_unknown_signal() -> None:
    d = only(
        wrap("  rule a {\n    when consistncy < 0.5\n    then review\n  }\n"), "unknown-signal"
    )
    assert (d.line, d.column, d.caret) == (7, 10, " " * 9 + "^" * 10)
    assert d.hint == "did you mean 'consistency'?"


def test_context_name_is_not_a_signal() -> None:
    src = wrap('  rule a {\n    when knowledge_cutoff == "2024"\n    then review\n  }\n')
    d = only(src, "unknown-signal")
    assert d.message == "'knowledge_cutoff' is not a signal"
    assert d.hint is not None and "{knowledge_cutoff}" in d.hint


def test_unknown_action() -> None:
    d = only(
        wrap("  rule a {\n    when consistency < 0.5\n    then reveiw\n  }\n"), "unknown-action"
    )
    assert (d.line, d.column, d.caret) == (8, 10, " " * 9 + "^" * 6)
    assert d.hint == "did you mean 'review'?"


def test_unknown_rule_in_example() -> None:
    src = wrap(
        RULE_A + '  example "e" {\n    given consistency = 0.5\n    expect review by aa\n  }\n'
    )
    d = only(src, "unknown-rule")
    # example on lines 10-13; "    expect review by " is 21 characters
    assert (d.line, d.column, d.caret) == (12, 22, " " * 21 + "^^")
    assert d.hint == "did you mean 'a'?"


def test_unknown_placeholder() -> None:
    d = only(
        wrap('  rule a {\n    when consistency < 0.5\n    then review "see {foo}"\n  }\n'),
        "unknown-placeholder",
    )
    assert (d.line, d.column, d.caret) == (8, 22, " " * 21 + "^^^^^")


def test_bad_value_spot_check_above_one() -> None:
    d = only(wrap("  spot_check 150%\n"), "bad-value")
    assert (d.line, d.column, d.caret) == (6, 14, " " * 13 + "^^^^")


def test_bad_template() -> None:
    d = only(
        wrap('  rule a {\n    when consistency < 0.5\n    then review "a {"\n  }\n'), "bad-template"
    )
    assert (d.line, d.column, d.caret) == (8, 20, " " * 19 + "^")


def test_bad_template_position_counts_escapes() -> None:
    # the decoded text is 'a"b {' : the brace is at index 4 but the source has a 2-char escape
    d = only(
        wrap('  rule a {\n    when consistency < 0.5\n    then review "a\\"b {"\n  }\n'),
        "bad-template",
    )
    assert d.column == 23


def test_bad_format_spec() -> None:
    src = wrap('  rule a {\n    when consistency < 0.5\n    then review "{consistency:.0q}"\n  }\n')
    d = only(src, "bad-format-spec")
    assert (d.line, d.column, d.caret) == (8, 18, " " * 17 + "^" * 17)


def test_bad_string_value() -> None:
    d = only(
        wrap('  rule a {\n    when stakes == "hihg"\n    then review\n  }\n'), "bad-string-value"
    )
    assert (d.line, d.column, d.caret) == (7, 20, " " * 19 + "^" * 6)
    assert d.hint == "did you mean 'high'?"


def test_type_mismatch_string_signal_against_number() -> None:
    d = only(wrap("  rule a {\n    when stakes < 0.5\n    then review\n  }\n"), "type-mismatch")
    assert (d.line, d.column, d.caret) == (7, 10, " " * 9 + "^" * 12)
    assert d.hint == 'stakes is one of: "low", "medium", "high"'


def test_type_mismatch_condition_is_not_boolean() -> None:
    d = only(wrap("  rule a {\n    when consistency\n    then review\n  }\n"), "type-mismatch")
    assert (d.line, d.column, d.caret) == (7, 10, " " * 9 + "^" * 11)


def test_threshold_out_of_range() -> None:
    d = only(
        wrap("  rule a {\n    when consistency < 85\n    then review\n  }\n"),
        "threshold-out-of-range",
    )
    assert (d.line, d.column, d.caret) == (7, 24, " " * 23 + "^^")
    assert d.hint == "consistency is in [0, 1]: write 85% or 0.85"


def test_signal_not_gathered() -> None:
    d = only(
        wrap("  rule a {\n    when agreement < 0.5\n    then review\n  }\n"), "signal-not-gathered"
    )
    assert (d.line, d.column, d.caret) == (7, 10, " " * 9 + "^" * 9)
    assert d.hint == "add 'ensemble' to the signals { } block"


def test_calibration_required() -> None:
    d = only(
        wrap("  rule a {\n    when calibrated < 0.5\n    then review\n  }\n"),
        "calibration-required",
    )
    assert (d.line, d.column, d.caret) == (7, 10, " " * 9 + "^" * 10)


def test_calibration_not_found(tmp_path: Path) -> None:
    path = tmp_path / "p.guard"
    path.write_text(wrap('  calibration "nope.json"\n' + RULE_A.replace("6", "")), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    (d,) = [x for x in err.value.diagnostics if x.code == "calibration-not-found"]
    assert (d.line, d.column, d.caret) == (6, 15, " " * 14 + "^" * 11)
    assert d.file == str(path)
    assert str(tmp_path / "nope.json") in (d.hint or "")


def test_calibration_found_is_resolved_beside_the_policy(tmp_path: Path) -> None:
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "m.json").write_text(profile_json(), encoding="utf-8")
    path = tmp_path / "p.guard"
    path.write_text(wrap('  calibration "cal/m.json"\n' + RULE_A), encoding="utf-8")
    policy = load_policy(path)
    assert policy.calibration == tmp_path / "cal" / "m.json"


def test_duplicate_rule() -> None:
    src = wrap(RULE_A + "  rule a {\n    when consistency < 0.4\n    then abstain\n  }\n")
    d = only(src, "duplicate-rule")
    assert (d.line, d.column, d.caret) == (10, 8, " " * 7 + "^")
    assert d.hint == "first defined on line 6"


def test_duplicate_setting() -> None:
    d = only(wrap("  on_missing review\n  on_missing pass\n"), "duplicate-setting")
    assert (d.line, d.column, d.caret) == (7, 3, "  " + "^" * 10)
    assert d.hint == "first set on line 6"


def test_duplicate_given() -> None:
    src = wrap(
        RULE_A + '  example "e" {\n    given consistency = 0.5, consistency = 0.6\n'
        "    expect review\n  }\n"
    )
    d = only(src, "duplicate-given")
    assert (d.line, d.column, d.caret) == (11, 30, " " * 29 + "^" * 11)


def test_unsatisfiable_rule() -> None:
    src = wrap(
        "  rule a {\n    when consistency < 0.5 and consistency > 0.7\n    then review\n  }\n"
    )
    d = only(src, "unsatisfiable-rule")
    assert (d.line, d.column, d.caret) == (7, 10, " " * 9 + "^" * 39)
    assert d.message == (
        "rule 'a' can never fire: no value of consistency ([0, 1]) satisfies "
        "consistency < 0.5 and consistency > 0.7"
    )


def test_unused_signal_is_a_warning() -> None:
    d = only(wrap(RULE_A), "unused-signal")  # verbalized is gathered but never read
    assert d.severity == "warning"
    assert (d.line, d.column, d.caret) == (4, 5, "    " + "^" * 10)
    parse_policy(wrap(RULE_A))  # warnings do not stop loading


def test_misspelt_signal_gives_no_unused_signal_advice() -> None:
    # `consistncy` is unknown (line 7, col 10); the samples entry it meant to read must not be
    # reported unused with "remove it" advice. verbalized is still unread, but while any signal
    # name is unknown the reads are incomplete, so no unused-signal warning at all.
    src = wrap("  rule a {\n    when consistncy < 0.5\n    then review\n  }\n")
    d = only(src, "unknown-signal")
    assert (d.line, d.column, d.hint) == (7, 10, "did you mean 'consistency'?")
    assert [x.code for x in diags(src)] == ["unknown-signal"]


def test_placeholder_not_gathered_is_a_warning() -> None:
    src = wrap('  rule a {\n    when consistency < 0.5\n    then review "{agreement:.0%}"\n  }\n')
    d = only(src, "placeholder-not-gathered")
    assert d.severity == "warning"
    assert (d.line, d.column, d.caret) == (8, 18, " " * 17 + "^" * 15)


def test_duplicate_example_is_a_warning() -> None:
    ex = '  example "e" {\n    given consistency = 0.5\n    expect review\n  }\n'
    d = only(wrap(RULE_A + ex + ex), "duplicate-example")
    assert d.severity == "warning"
    assert (d.line, d.column, d.caret) == (14, 11, " " * 10 + "^^^")


def test_many_errors_are_reported_at_once() -> None:
    src = wrap(
        "  on_mising review\n"
        "  rule a {\n    when consistncy < 0.5 and verbalized > 85\n    then reveiw\n  }\n"
    )
    codes = sorted(d.code for d in diags(src))
    # no unused-signal warning for samples: the misspelt name is the rule meant to read it
    assert codes == [
        "threshold-out-of-range",
        "unknown-action",
        "unknown-setting",
        "unknown-signal",
    ]
    with pytest.raises(PolicyError) as err:
        parse_policy(src)
    assert len(err.value.errors) == 4
    text = str(err.value)
    assert "<string>:8:10: error[unknown-signal]: unknown signal 'consistncy'" in text
    assert all(d.file == "<string>" for d in err.value.diagnostics)


def test_file_not_found_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(tmp_path / "missing.guard")
    assert err.value.diagnostics[0].code == "file-not-found"
    bad = tmp_path / "bad.guard"
    bad.write_bytes(b"policy \xff {\n}\n")
    with pytest.raises(PolicyError) as err:
        load_policy(bad)
    assert err.value.diagnostics[0].code == "bad-encoding"


def test_duplicate_policy_name_across_files(tmp_path: Path) -> None:
    for name in ("a.guard", "b.guard"):
        (tmp_path / name).write_text(
            wrap(RULE_A.replace("review", "notice")).replace("    verbalized\n", ""),
            encoding="utf-8",
        )
    with pytest.raises(PolicyError) as err:
        load_policies(tmp_path)
    assert [d.code for d in err.value.diagnostics] == ["duplicate-policy"]
    assert err.value.diagnostics[0].file == str(tmp_path / "b.guard")


@pytest.mark.parametrize(
    ("cond", "why"),
    [
        ("hedges < 0", "no value of hedges (>= 0) satisfies hedges < 0"),
        (
            "hedges > 1 and hedges < 2",
            "no value of hedges (>= 0) satisfies hedges > 1 and hedges < 2",
        ),
        ("not (consistency >= 0)", "no value of consistency ([0, 1]) satisfies consistency < 0"),
        (
            "verbalized - consistency > 1.2",
            "verbalized - consistency > 1.2 cannot hold: the left side is in [-1, 1]",
        ),
        (
            'stakes == "high" and stakes == "low"',
            'no value of stakes satisfies stakes == "high" and stakes == "low"',
        ),
        (
            'hedge_label != "hedged" and hedge_label != "neutral" and hedge_label != "assertive"',
            "no value of hedge_label satisfies",
        ),
        (
            "(consistency < 0.2 or verbalized < 0.1) and consistency > 0.5 and verbalized > 0.5",
            "no value of consistency ([0, 1]) satisfies consistency < 0.2 and consistency > 0.5",
        ),
    ],
)
def test_unsatisfiable_variants(cond: str, why: str) -> None:
    d = only(wrap(f"  rule a {{\n    when {cond}\n    then review\n  }}\n"), "unsatisfiable-rule")
    assert d.message.startswith(f"rule 'a' can never fire: {why}")
    assert (d.line, d.column) == (7, 10)


@pytest.mark.parametrize(
    "cond",
    [
        "consistency < 0.5 and verbalized > 0.7",
        "hedges >= 0",
        "verbalized - consistency > 0.99",
        "(consistency < 0.2 or verbalized < 0.1) and consistency > 0.5",
        'stakes == "high" or stakes == "low"',
        "not (consistency < 0.5 and consistency > 0.7)",
    ],
)
def test_satisfiable_conditions_are_not_flagged(cond: str) -> None:
    src = wrap(f"  rule a {{\n    when {cond}\n    then review\n  }}\n")
    assert [d for d in diags(src) if d.severity == "error"] == []


@pytest.mark.parametrize(
    ("profile", "code", "message"),
    [
        ("not json", "calibration-invalid", "cannot read calibration profile"),
        ('{"domain": "t"}', "calibration-invalid", "calibration profile has no 'source'"),
        (
            '{"domain": "t", "source": "stakes"}',
            "calibration-invalid",
            "calibration profile maps 'stakes', which is not a confidence signal",
        ),
        (
            '{"domain": "t", "source": "verbalized"}',
            "calibration-invalid",
            "calibration profile is not usable: not a calibration profile",
        ),
        (
            profile_json(source="agreement"),
            "signal-not-gathered",
            "the calibration profile maps 'agreement', which this policy does not gather",
        ),
        (
            profile_json(domain="legal"),
            "calibration-domain",
            "calibration profile is for domain 'legal', this policy is 't'",
        ),
    ],
)
def test_calibration_profile_is_checked(
    tmp_path: Path, profile: str, code: str, message: str
) -> None:
    (tmp_path / "m.json").write_text(profile, encoding="utf-8")
    rule = "  rule a {\n    when calibrated < 0.5 and consistency < 0.9\n    then review\n  }\n"
    text = wrap('  calibration "m.json"\n' + rule)
    (d,) = [x for x in check_text(text, "t.guard", base_dir=tmp_path)[1] if x.code == code]
    assert d.message.startswith(message)
    assert (d.line, d.column) == (6, 15)


@pytest.mark.parametrize(
    ("text", "line", "column", "width", "hint"),
    [
        (
            'policy p {\n  rule a {\n    when hedges > 1\n    then "hello"\n  }\n}\n',
            4,
            10,
            7,
            "'then' needs an action before the message: pass, notice, review or abstain",
        ),
        (
            "policy p {\n  rule a {\n    when hedges > 1\n    then review\n  }\n",
            5,
            4,
            1,
            "a block is not closed: add '}'",
        ),
        (
            "policy p {\n  rule a {\n    when hedges > 1 then review\n  }\n}\n",
            3,
            21,
            4,
            "put 'then <action>' on its own line",
        ),
        ("policy p {\n  description 'x'\n}\n", 2, 15, 1, 'strings use double quotes: "..."'),
        (
            "policy p {\n  rule example {\n    when hedges > 1\n    then review\n  }\n}\n",
            2,
            8,
            7,
            "'example' is a reserved word; choose another name",
        ),
        (
            "policy p {\n  rule a {\n    when hedges > 1 %\n    then review\n  }\n}\n",
            3,
            21,
            1,
            "write the percent sign right after the number: 85%",
        ),
        (
            "policy p {\n}\npolicy q {\n}\n",
            3,
            1,
            6,
            "a file holds one policy; put the next one in its own .guard file",
        ),
    ],
)
def test_syntax_error_hints(text: str, line: int, column: int, width: int, hint: str) -> None:
    (d,) = diags(text)
    assert d.code == "syntax-error"
    assert (d.line, d.column, d.caret) == (line, column, " " * (column - 1) + "^" * width)
    assert d.hint == hint


def test_lexicon_not_found_and_found(tmp_path: Path) -> None:
    text = 'policy t {\n  signals {\n    hedges "lex/legal.json" cues "arguably"\n  }\n}\n'
    (d,) = [x for x in check_text(text, "t.guard", base_dir=tmp_path)[1]]
    assert d.code == "lexicon-not-found"
    assert (d.line, d.column, d.caret) == (3, 12, " " * 11 + "^" * 16)
    (tmp_path / "lex").mkdir()
    lexicon = '{"cues": [{"cue": "arguably", "category": "hedge"}]}'
    (tmp_path / "lex" / "legal.json").write_text(lexicon, encoding="utf-8")
    policy, diags = check_text(text, "t.guard", base_dir=tmp_path)
    assert diags == [] and policy is not None
    assert policy.signals.hedges.lexicon == str(tmp_path / "lex" / "legal.json")
    assert policy.signals.hedges.cues == ["arguably"]


def test_lexicon_that_is_not_a_lexicon(tmp_path: Path) -> None:
    # The file exists but the hedges signal could never load it: every guarded call would have
    # the hedges signal missing. check reports it at the lexicon string (3:12, 13 carets).
    text = 'policy t {\n  signals {\n    hedges "bad.json"\n  }\n}\n'
    for content, why in [
        ('{"hedges": 5}', "cues: Field required"),
        ("[1, 2]", "a hedge lexicon is a JSON object, not list"),
        ('{"cues": [{"cue": "x", "category": "maybe"}]}', "cues.0.category: Input should be"),
    ]:
        (tmp_path / "bad.json").write_text(content, encoding="utf-8")
        (d,) = check_text(text, "t.guard", base_dir=tmp_path)[1]
        assert d.code == "lexicon-invalid"
        assert (d.line, d.column, d.caret) == (3, 12, " " * 11 + "^" * 10)
        assert d.message.startswith("hedge lexicon 'bad.json' is not usable: " + why), d.message


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    # Windows editors (Notepad "UTF-8 with BOM") prefix U+FEFF; it was a syntax error
    # "unexpected character '\ufeff'" at 1:1. Positions after it are the ones the user sees.
    path = tmp_path / "bom.guard"
    text = "policy bom {\n  signals {\n    samples 5\n  }\n  rule r {\n    when consistncy < 0.5\n"
    path.write_bytes(b"\xef\xbb\xbf" + (text + "    then review\n  }\n}\n").encode())
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    (d,) = [d for d in err.value.diagnostics if d.severity == "error"]
    assert (d.code, d.line, d.column) == ("unknown-signal", 6, 10)
    path.write_bytes(path.read_bytes().replace(b"consistncy", b"consistency"))
    assert load_policy(path).name == "bom"


def test_hints_for_one_line_blocks_and_bare_decimal_points() -> None:
    # `signals { samples 5 }` on one line: the grammar wants one statement per line; the error
    # had no hint. `.5`: numbers need a leading digit.
    d = only("policy p {\n  signals { samples 5 }\n}\n", "syntax-error")
    assert (d.line, d.column) == (2, 13)
    assert d.hint == "one statement per line: start a new line before 'samples'"
    d = only(wrap("  rule r {\n    when consistency < .5\n    then review\n  }\n"), "syntax-error")
    assert (d.line, d.column) == (7, 24)
    assert d.hint == "write a digit before the point: 0.5"


def test_profile_source_read_through_calibrated_is_not_an_unused_signal(tmp_path: Path) -> None:
    # `calibrated` is computed from the profile's source (verbalized); the checker requires that
    # entry (signal-not-gathered without it) and then warned "'verbalized' is gathered but no
    # rule reads verbalized ... remove it", advice that produces the error.
    (tmp_path / "m.json").write_text(profile_json(), encoding="utf-8")
    rule = "  rule a {\n    when calibrated < 0.5 and consistency < 0.9\n    then review\n  }\n"
    text = wrap('  calibration "m.json"\n' + rule)
    assert check_text(text, "t.guard", base_dir=tmp_path)[1] == []
    # Without a rule reading `calibrated`, verbalized really is unused.
    rule = "  rule a {\n    when consistency < 0.9\n    then review\n  }\n"
    found = check_text(wrap('  calibration "m.json"\n' + rule), "t.guard", base_dir=tmp_path)[1]
    assert [(d.code, d.line, d.column) for d in found] == [("unused-signal", 4, 5)]


def test_paths_a_policy_names_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Loaded by a relative path from its own folder, the policy's calibration and lexicon paths
    # must not depend on the working directory afterwards (the SDK reads them lazily).
    (tmp_path / "cal.json").write_text(profile_json(), encoding="utf-8")
    (tmp_path / "lex.json").write_text('{"cues": []}', encoding="utf-8")
    (tmp_path / "p.guard").write_text(
        wrap('  calibration "cal.json"\n' + RULE_A).replace(
            "    verbalized\n", '    verbalized\n    hedges "lex.json"\n'
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    policy = load_policy("p.guard")
    monkeypatch.chdir(tmp_path.parent)
    assert policy.calibration == tmp_path.absolute() / "cal.json"
    assert policy.calibration.is_file()
    assert policy.signals.hedges is not None
    assert policy.signals.hedges.lexicon == str(tmp_path.absolute() / "lex.json")
