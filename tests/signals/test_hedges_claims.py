"""Hedges count cues in the answer's own claims only (issue 10, part 5): not in a confidence
statement (already the `verbalized` signal), not in talk about confidence, the task or the
question. Cue counts below are by hand, reading each text against the lexicon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrail.signals.hedges import detect_hedges

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _texts(res: object, attr: str) -> list[str]:
    return [c.text for c in getattr(res, attr)]


def test_booster_in_confidence_line_does_not_double_count() -> None:
    reply = "Canberra is definitely the capital.\nConfidence: 100%"
    before = detect_hedges(reply, claims_only=False)
    after = detect_hedges(reply)
    # before: "definitely" + "100%" = 2 boosters; after: "definitely" only, "100%" excluded
    assert (before.boosters, after.boosters) == (2, 1)
    assert _texts(after, "excluded") == ["100%"]
    assert after.label == "assertive"


@pytest.mark.parametrize(
    ("reply", "counted", "excluded"),
    [
        # talk about confidence: "may" is not a hedge of a claim
        ("Confidence may vary. The capital is Canberra.", [], ["may"]),
        # talk about the question, then a hedged claim in the next clause
        (
            "I'm not sure what you mean by the question, but it might be Canberra.",
            ["might be"],
            ["I'm not sure"],
        ),
        # talk about the answer's correctness, then a hedged claim after ";"
        ("This answer may not be accurate; it is possibly Lyon.", ["possibly"], ["may"]),
        # a plain hedged claim is unchanged
        ("It is probably Canberra, although Sydney is larger.", ["probably"], []),
    ],
)
def test_meta_talk_is_not_a_claim(reply: str, counted: list[str], excluded: list[str]) -> None:
    res = detect_hedges(reply)
    assert _texts(res, "cues") == counted
    assert _texts(res, "excluded") == excluded
    assert res.value == len([c for c in res.cues if c.category == "hedge"])


def test_json_answer_field_is_the_claim() -> None:
    # string values of a JSON reply are the answer, not a quotation; the confidence field is not
    res = detect_hedges('{"answer": "It is probably Paris", "confidence": "certainly 90%"}')
    assert _texts(res, "cues") == ["probably"]
    assert res.label == "hedged"
    # before the change every JSON string was a quotation: no cue at all
    assert (
        detect_hedges(
            '{"answer": "It is probably Paris", "confidence": 0.7}', claims_only=False
        ).cues
        == []
    )


def test_quoted_and_code_still_ignored() -> None:
    res = detect_hedges('He said "it might rain" and `maybe()` returned. It is Paris.')
    assert res.cues == [] and res.excluded == []


def _smollm2(rec_id: str) -> str:
    for line in (FIXTURES / "smollm2_verbalized.jsonl").read_text("utf-8").splitlines():
        r = json.loads(line)
        if r["id"] == rec_id:
            return str(r["reply"])
    raise AssertionError(rec_id)


def test_real_smollm2_replies() -> None:
    # trivia-307-inline: "100%\n\nThe Levant is indeed a geographical term ...": the value line
    # "100%" is the confidence statement; "indeed" is the answer's booster
    res = detect_hedges(_smollm2("trivia-307-inline"))
    assert _texts(res, "cues") == ["indeed"] and _texts(res, "excluded") == ["100%"]
    # trivia-664-inline: "The answer to this question is not entirely possible to determine, as
    # the answer's accuracy ...": the whole sentence is about the question, so "possible" is no
    # hedge of a claim
    res = detect_hedges(_smollm2("trivia-664-inline"))
    assert res.cues == [] and _texts(res, "excluded") == ["possible"]
