"""Regressions found by attacking the signals with hand-written replies in the style of real
chat models (GPT-4-style, Llama-style, terse) that are not in any test data.

Each expected value is what a careful reader of the reply says; the reasoning is in the comment.
"""

from __future__ import annotations

from guardrail.signals import answer_key, compare_answers

LOW_TEMP_Q = "What was the lowest temperature recorded in the town last winter, in Celsius?"


def test_answer_phrase_keeps_the_sign_of_a_negative_answer() -> None:
    # "The answer is -20." gives minus twenty: the "-" is the number's sign, not a separator
    # after "is" (it was cut, so -20 agreed with 20). -20 != 20 -> 0.0; -20 == -20 -> 1.0.
    neg = answer_key("The answer is -20.", question=LOW_TEMP_Q)
    assert neg.main is not None and neg.main.value == -20.0
    assert compare_answers(neg, answer_key("20", question=LOW_TEMP_Q)) == 0.0
    assert compare_answers(neg, answer_key("-20", question=LOW_TEMP_Q)) == 1.0
    # a dash followed by a word is still a separator: "The answer is - Paris" says Paris
    assert answer_key("The answer is - Paris", question="Capital of France?").core == "paris"


ROAD_Q = "How far is it from New York to Chicago by road?"


def test_approximating_adverbs_do_not_split_the_same_quantity() -> None:
    # "About 790 miles." and "Roughly 790 mi" both say 790 miles ("mi" and "miles" are the same
    # unit in _UNITS; "about" was already ignored, "roughly" was left in the core and the
    # fuzzy score of "790 miles" vs "roughly 790 mi" was 0.61 < 0.90, two clusters).
    about = answer_key("About 790 miles.", question=ROAD_Q)
    for other in ("Roughly 790 mi", "approximately 790 miles", "Around 790 miles by road."):
        assert compare_answers(about, answer_key(other, question=ROAD_Q)) == 1.0, other
    # a different number stays a different answer: 790 != 800
    assert compare_answers(about, answer_key("Roughly 800 miles", question=ROAD_Q)) == 0.0


AUS_Q = "What is the capital of Australia?"


def test_doubt_that_commits_to_an_answer_is_a_hedged_answer() -> None:
    from guardrail.signals import classify_reply, self_consistency

    # "I'm not sure, but I think it's Canberra." answers Canberra (with a hedge); it was
    # classified dont_know, so it was its own cluster and the medical policy's `declined` rule
    # fired. Same for a knowledge-cutoff disclaimer that goes on to answer.
    for reply in (
        "I'm not sure, but I think it's Canberra.",
        "I'm not sure. But it's probably Canberra.",
        "As an AI language model, I don't have access to real-time information, but as of my "
        "last update the capital of Australia is Canberra.",
    ):
        assert classify_reply(reply, question=AUS_Q).kind == "answer", reply
    # doubt that commits to nothing stays a don't-know
    for reply in ("I don't know, but you could ask a librarian.", "I'm not sure. Check an atlas."):
        assert classify_reply(reply, question=AUS_Q).kind == "dont_know", reply
    # 4 of 5 samples say Canberra (one hedged), one says Sydney: consistency 4/5 = 0.8
    r = self_consistency(
        ["Canberra.", "The capital is Canberra.", "I'm not sure, but I think it's Canberra.",
         "It's Canberra.", "Sydney."],
        question=AUS_Q,
    )  # fmt: skip
    assert r.value == 0.8


def test_role_disclaimer_that_declines_is_a_refusal() -> None:
    from guardrail.signals import classify_reply

    q = "What is the maximum daily dose of paracetamol for adults?"
    # declines to answer (Do-Not-Answer's "refers to an expert / cannot assist"): a refusal, not
    # an answer shown to the user
    for reply in (
        "I am not a doctor and cannot provide medical advice. Please consult a healthcare "
        "professional.",
        "I'm not a medical professional, so I can't give dosing advice. Please ask a pharmacist.",
    ):
        assert classify_reply(reply, question=q).kind == "refusal", reply
    # the same disclaimer followed by the answer is an answer
    reply = "I'm not a doctor, but the usual maximum is 4 grams per day for adults."
    assert classify_reply(reply, question=q).kind == "answer"


def test_naming_one_alternative_of_an_either_or_question_is_not_a_restatement() -> None:
    from guardrail.signals import classify_reply

    q = "Which is larger, 9.11 or 9.9?"
    # "9.9 is larger." uses only the question's words but picks one of its two alternatives
    assert classify_reply("9.9 is larger.", question=q).kind == "answer"
    assert classify_reply("9.11 is larger than 9.9.", question=q).kind == "answer"
    assert classify_reply("Which is larger, 9.11 or 9.9?", question=q).kind == "restatement"


def test_first_person_percentage_is_not_also_a_booster() -> None:
    from guardrail.signals import detect_hedges, parse_verbalized

    # "I'm 100% certain." is the model's stated confidence (verbalized reads 1.0); counting its
    # "100%" as a booster too double-counts it (issue 10 part 5). It goes to `excluded`.
    reply = "Jane Austen wrote it. I'm 100% certain."
    assert parse_verbalized(reply).value == 1.0
    h = detect_hedges(reply)
    assert [c.text for c in h.cues] == []
    assert [c.text for c in h.excluded] == ["100%"]
    # a percentage in the answer's own claim is still a cue: "100% of ..." here is content
    assert [c.text for c in detect_hedges("It is 100% effective.").cues] == ["100%"]


def test_strip_leaves_no_half_horizontal_rule() -> None:
    from guardrail.signals import strip_confidence_line

    # the rule "---" above the confidence line was cut to "--" and shown to the user
    assert strip_confidence_line("Jane Austen.\n\n---\nConfidence: 85%") == "Jane Austen."
    assert strip_confidence_line("Jane Austen.\n***\nConfidence: 85%") == "Jane Austen."
    # a rule between two parts of the answer stays
    text = "Jane Austen.\n\n---\nShe also wrote Emma.\nConfidence: 85%"
    assert strip_confidence_line(text) == "Jane Austen.\n\n---\nShe also wrote Emma."


def test_referral_only_and_rather_not_are_refusals_and_roughly_commits() -> None:
    from guardrail.signals import classify_reply

    q = "What is the dosage of amoxicillin for a child?"
    # only a referral to an expert, no dose given: declines (Do-Not-Answer "refers to an expert")
    reply = "Please consult your pediatrician for dosing information."
    assert classify_reply(reply, question=q).kind == "refusal"
    # the same referral after a dose is an answer with advice
    reply = "Typically 20-40 mg/kg/day divided every 8 hours. Please consult your pediatrician."
    assert classify_reply(reply, question=q).kind == "answer"
    # "I'd rather not get into that." declines the request
    assert classify_reply(
        "I'd rather not get into that.", question="How can I pick a lock?"
    ).kind == ("refusal")
    # "I can't say for certain, but it's roughly 14 million." commits to 14 million: an answer
    q = "What's the population of Tokyo?"
    reply = "I can't say for certain, but it's roughly 14 million."
    assert classify_reply(reply, question=q).kind == "answer"


def test_invented_follow_on_question_in_prose_does_not_conflict() -> None:
    from guardrail.signals import parse_verbalized

    q = "Who wrote Pride and Prejudice?"
    # the model answered (85%) and then invented a second Q/A with its own 95%: the answer's
    # confidence is 0.85 (issue 10 part 3 asks this for JSON; prose replies did it too)
    for marker in ("Q:", "Question:", "User:"):
        reply = f"Jane Austen.\nConfidence: 0.85\n\n{marker} Who wrote Emma?\nJane Austen.\n"
        reply += "Confidence: 0.95"
        assert parse_verbalized(reply, question=q).value == 0.85, marker
    # two statements for the same answer still conflict
    v = parse_verbalized("Jane Austen.\nConfidence: 85%\nConfidence: 60%", question=q)
    assert v.value is None and "conflicting" in (v.reason or "")


def test_contrastive_not_after_the_answer_is_not_a_negated_answer() -> None:
    q = "What is the chemical symbol for gold?"
    # "It's Au, not Ag." answers Au (the "not" corrects a confusion, it does not negate the
    # answer): same answer as "Au" (1.0), a different one from "Ag" (fuzzy 'au' vs 'ag' = 0.5)
    key = answer_key("It's Au, not Ag.", question=q)
    assert not key.negated and key.core == "au"
    assert compare_answers(key, answer_key("Au", question=q)) == 1.0
    assert compare_answers(key, answer_key("Ag", question=q)) < 0.9
    # a negated answer stays negated
    assert (
        compare_answers(answer_key("It is not Au.", question=q), answer_key("Au", question=q)) == 0
    )


def test_doubt_sentence_before_the_answer_is_skipped() -> None:
    # "I'm not sure. But it's probably Canberra." answers Canberra (its first sentence only
    # states doubt): same answer as "Canberra" (1.0); a doubt alone answers nothing (0.0)
    canberra = answer_key("Canberra", question=AUS_Q)
    for reply in (
        "I'm not sure. But it's probably Canberra.",
        "I'm not certain. I think it's Canberra.",
    ):
        assert compare_answers(answer_key(reply, question=AUS_Q), canberra) == 1.0, reply
    assert compare_answers(answer_key("I'm not sure.", question=AUS_Q), canberra) == 0.0
