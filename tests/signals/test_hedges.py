"""Hedge, booster and conditional cues (issue 4 examples; lexicon in guardrail/signals/data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import guardrail.signals
from guardrail.signals import default_lexicon, detect_hedges, load_lexicon


def cats(text: str) -> list[tuple[str, str]]:
    return [(c.text, c.category) for c in detect_hedges(text).cues]


def test_weakeners() -> None:
    r = detect_hedges("It may be Paris, but I'm not sure. It might also possibly be Lyon.")
    assert [c.text for c in r.cues] == ["may", "I'm not sure", "might", "possibly"]
    assert r.value == r.hedges == 4
    assert r.label == "hedged"
    assert cats("It is unclear. I think so.") == [("It is unclear", "hedge"), ("I think", "hedge")]


def test_boosters_and_negation() -> None:
    r = detect_hedges("There is no doubt: it is definitely Paris. It is well established.")
    assert [(c.text, c.category) for c in r.cues] == [
        ("There is no doubt", "booster"),
        ("definitely", "booster"),
        ("It is well established", "booster"),
    ]
    assert r.label == "assertive" and r.boosters == 3 and r.hedges == 0
    # "not sure" is a hedge; a negated booster becomes a hedge
    assert cats("I'm not sure.") == [("I'm not sure", "hedge")]
    neg = detect_hedges("That is not always true.").cues
    assert [(c.text, c.category, c.negated) for c in neg] == [("always", "hedge", True)]
    assert cats("Without doubt, yes.") == [("Without doubt", "booster")]


def test_conditionals_counted_separately() -> None:
    r = detect_hedges("If you have a fever, depending on age, rest. In some cases it varies.")
    assert r.conditionals == 4
    assert r.hedges == 0 and r.label == "neutral"


@pytest.mark.parametrize(
    "text",
    [
        "The meeting is on May 5th.",
        "See the May issue of the journal.",
        "In May it rains a lot.",
        "It was published on 5 May 2020.",
        "May I ask a follow-up?",
        "He fought with all his might.",
        "I suggest you rest.",
    ],
)
def test_not_hedges(text: str) -> None:
    assert detect_hedges(text).hedges == 0


def test_quoted_text_and_code_are_ignored() -> None:
    text = (
        'He said "it might be Paris" but it is Paris.\n'
        "> Perhaps this quoted line is unsure.\n"
        "Use `may` in code:\n```python\nx = might_fail()  # possibly\n```\nDone."
    )
    r = detect_hedges(text)
    assert r.cues == []
    assert r.label == "neutral"


def test_spans_point_into_the_original_text() -> None:
    text = "Answer: Paris. It\u2019s probably right, I believe."
    r = detect_hedges(text)
    for c in r.cues:
        assert text[c.start : c.end] == c.text
    assert [c.text for c in r.cues] == ["probably", "I believe"]


def test_extending_the_lexicon() -> None:
    base = detect_hedges("Allegedly it was Paris. Indisputably true.")
    assert base.hedges == 0 and base.boosters == 0
    r = detect_hedges(
        "Allegedly it was Paris. Indisputably true.",
        extra_hedges=["allegedly"],
        extra_boosters=["indisputably"],
    )
    assert (r.hedges, r.boosters, r.label) == (1, 1, "neutral")


def test_lexicon_file_roundtrip(tmp_path: Path) -> None:
    lex = default_lexicon()
    # the loaded lexicon is every entry of the data file (docs/signals.md: 172 cues)
    raw = json.loads(
        (Path(guardrail.signals.__file__).parent / "data" / "hedges.json").read_text("utf-8")
    )
    assert len(lex.cues) == len(raw["cues"]) == 172
    assert set(lex.sources) == {"conll2010", "hyland2005", "zhou2023", "guardrail"}
    for e in lex.cues:
        assert e.sources and set(e.sources) <= set(lex.sources)
    p = tmp_path / "mini.json"
    p.write_text(
        json.dumps({"name": "mini", "cues": [{"cue": "perchance", "category": "hedge"}]}),
        encoding="utf-8",
    )
    assert detect_hedges("Perchance it may rain.", lexicon=p).hedges == 1  # "may" not in mini
    assert load_lexicon(p).name == "mini"
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError):
        detect_hedges("x", lexicon=bad)


def test_empty_and_none() -> None:
    r = detect_hedges("")
    assert (r.value, r.label, r.cues) == (0, "neutral", [])
    assert detect_hedges(None).value == 0


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_never_raises_and_spans_are_exact(text: str) -> None:
    r = detect_hedges(text)
    assert r.value == r.hedges >= 0
    for c in r.cues:
        assert text[c.start : c.end] == c.text
