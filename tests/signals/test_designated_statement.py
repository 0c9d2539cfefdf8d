"""Issue 12 item 3: only a designated confidence statement is read or stripped; content (code,
quotations, a label mid-sentence) is neither read nor cut; negative values are never read as
positive; look-alike letters do not hide a statement; an obedient model states any confidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrail.signals.verbalized import parse_verbalized, strip_confidence_line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(
    "reply",
    [
        "Use `confidence: 0.9` in config.yaml",
        'He wrote "confidence: 99%" in the report, which was wrong.',
        "Set confidence: 99% in the config file, then run it again.",
        "```yaml\nconfidence: 0.9\nthreshold: 0.5\n```\nThat is the whole config.",
        "> Confidence: 99%\nThat line is quoted from the vendor's page.",
        "The \u201cconfidence: 80%\u201d label in the UI is only a default.",
    ],
)
def test_content_is_neither_read_nor_cut(reply: str) -> None:
    assert parse_verbalized(reply).value is None
    assert parse_verbalized(reply, mode="inline").value is None
    assert strip_confidence_line(reply) == reply.strip()


def test_issue_example_code_span_stays_intact() -> None:
    # issue 12: ``"Use `confidence: 0.9` in config.yaml"`` became ``"Use `"``
    assert strip_confidence_line("Use `confidence: 0.9` in config.yaml") == (
        "Use `confidence: 0.9` in config.yaml"
    )


def test_content_kept_and_designated_last_line_read_and_cut() -> None:
    reply = (
        "Put this in config.yaml:\n```yaml\nconfidence: 0.9\n```\n"
        'The docs call it "confidence: 90%" too.\n'
        "Confidence: 70%"
    )
    got = parse_verbalized(reply, mode="inline")
    assert got.value == pytest.approx(0.7)
    assert strip_confidence_line(reply) == (
        "Put this in config.yaml:\n```yaml\nconfidence: 0.9\n```\n"
        'The docs call it "confidence: 90%" too.'
    )


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        ("Canberra. Confidence: 85%", "Canberra."),
        ("Canberra (confidence: 85%)", "Canberra"),
        ("Canberra, confidence: 85%", "Canberra"),
        ("Canberra\n**Confidence:** 85%", "Canberra"),
        ('Canberra\n"Confidence: 85%"', "Canberra"),
    ],
)
def test_designated_statements_are_read_and_cut(reply: str, shown: str) -> None:
    assert parse_verbalized(reply, mode="inline").value == pytest.approx(0.85)
    assert strip_confidence_line(reply) == shown


def test_a_line_about_confidence_is_not_a_statement() -> None:
    reply = "Confidence is a feeling of self-assurance.\nConfidence: 70%"
    assert parse_verbalized(reply, mode="inline").value == pytest.approx(0.7)
    assert strip_confidence_line(reply) == "Confidence is a feeling of self-assurance."


@pytest.mark.parametrize(
    "reply",
    ["Canberra.\nConfidence: -50%", "Canberra - 90%\nConfidence: -50%", "Confidence: \u221250%"],
)
def test_negative_confidence_is_never_read(reply: str) -> None:
    # issue 12: "Confidence: -50%" read as 0.5 when the question was passed
    for q in (None, "What is the capital of Australia?"):
        got = parse_verbalized(reply, question=q, mode="inline")
        assert got.value is None, (q, got.matched)
        assert "negative" in (got.reason or "")
    assert "50" not in strip_confidence_line(reply).replace("Canberra - 90%", "")


@pytest.mark.parametrize(
    "label",
    [
        "C\u043enfidence",  # Cyrillic o
        "\u0421onfidence",  # Cyrillic capital Es
        "Confid\u0435nce",  # Cyrillic ie
        "\uff23onfidence",  # fullwidth C (NFKC)
        "C\u03bfnfidence",  # Greek omicron
    ],
)
def test_homoglyph_label_is_read_and_stripped(label: str) -> None:
    reply = f"Canberra is the capital.\n{label}: 80%"
    assert parse_verbalized(reply, mode="inline").value == pytest.approx(0.8)
    assert strip_confidence_line(reply) == "Canberra is the capital."


def test_fullwidth_digits_and_percent() -> None:
    reply = "Canberra.\nConfidence: \uff18\uff15\uff05"  # "８５％"
    assert parse_verbalized(reply).value == pytest.approx(0.85)
    assert strip_confidence_line(reply) == "Canberra."


def test_json_reply_is_not_cut() -> None:
    # a JSON reply is the structure the caller asked for: the field is read, never cut out
    reply = '{"answer": "Canberra", "confidence": 0.9}'
    assert parse_verbalized(reply).value == pytest.approx(0.9)
    assert strip_confidence_line(reply) == reply
    multi = '{\n  "answer": "Canberra",\n  "confidence": 0.9\n}'
    assert strip_confidence_line(multi) == multi


def test_an_obedient_model_states_whatever_confidence_it_is_told() -> None:
    """Real SmolLM2-135M replies (tests/fixtures/smollm2_obedient.jsonl, recorded by
    record_smollm2_obedient.py) to questions that end "say you are 100% confident". Five of the
    nine replies state the dictated confidence in a readable form and none of them contains a
    correct answer (read by hand: no reply names Canberra, George Eliot or 212 F): `verbalized`
    reports what the user told the model to say, so a policy must not accept an answer on
    `verbalized` alone."""
    rows = [
        json.loads(line) for line in (FIXTURES / "smollm2_obedient.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 9
    values = [parse_verbalized(r["reply"], mode="inline").value for r in rows]
    obeyed = [
        (r["reply"], v) for r, v in zip(rows, values, strict=True) if v is not None and v >= 0.99
    ]
    # seed 101 Canberra: "I am 100% confident that my answer is correct." (1.0);
    # seed 100 Middlemarch: "I'm 100% confident in my answer." (1.0); seed 101 Middlemarch:
    # "Confidence: 99.9%" (0.999); boiling point seeds 100 and 102: "100%" (1.0, 1.0)
    assert len(obeyed) == 5
    for reply, _ in obeyed:
        assert not any(gold in reply for gold in ("Canberra", "Eliot", "212"))


@pytest.mark.parametrize(
    "reply",
    [
        "Canberra is the capital.\nConf\u200bidence: 80%",  # zero-width space in the label
        "Canberra is the capital.\nC\u043enf\u00adidence: 8\u200b0%",  # Cyrillic o + soft hyphen
    ],
)
def test_invisible_characters_do_not_hide_a_statement(reply: str) -> None:
    got = parse_verbalized(reply, mode="inline")
    assert got.value == pytest.approx(0.8)
    assert got.span is not None and reply[got.span[0] : got.span[1]].replace("\u200b", "") == "80%"
    assert strip_confidence_line(reply) == "Canberra is the capital."


def test_invisible_characters_in_content_are_kept() -> None:
    # a zero-width joiner inside an emoji sequence stays; only the statement is cut
    reply = "Family \U0001f468\u200d\U0001f469 emoji.\nConfidence: 70%"
    assert strip_confidence_line(reply) == "Family \U0001f468\u200d\U0001f469 emoji."
