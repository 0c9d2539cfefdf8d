"""Question loaders on the real files in ../shared/data (counts and answers from its README,
or read from the file itself where the README gives none: cited per test)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from guardrail.runner.questions import (
    Question,
    QuestionFileError,
    check_unique_ids,
    detect_format,
    load_bigbench_task,
    load_choice_jsonl,
    load_legalbench_task,
    load_medagents_jsonl,
    load_mmlu_csv,
    load_question_file,
    load_questions,
    load_triviaqa_jsonl,
    sample_questions,
)

# Row counts stated in shared/data/README.md ("Files" table).
MMLU_ROWS = {
    "anatomy": 135,
    "clinical_knowledge": 265,
    "college_medicine": 173,
    "econometrics": 114,
    "global_facts": 100,
    "high_school_macroeconomics": 390,
    "international_law": 121,
    "jurisprudence": 108,
    "medical_genetics": 100,
    "miscellaneous": 783,
    "professional_accounting": 282,
    "professional_law": 1534,
    "professional_medicine": 272,
}


@pytest.mark.parametrize("subject", sorted(MMLU_ROWS))
def test_mmlu_row_counts_match_readme(shared_data: Path, subject: str) -> None:
    qs = load_mmlu_csv(shared_data / "mmlu" / "test" / f"{subject}_test.csv")
    assert len(qs) == MMLU_ROWS[subject]
    assert all(q.kind == "multiple_choice" and len(q.choices) == 4 for q in qs)
    assert all(q.answer in "ABCD" for q in qs)
    assert qs[0].id == f"mmlu/{subject}/0"


def test_mmlu_quoted_fields_and_domain(shared_data: Path) -> None:
    # First two rows of anatomy_test.csv (LF file): row 1's answer is A; row 2's question has a
    # CSV-escaped quote ("" -> ") and its options contain commas.
    qs = load_mmlu_csv(shared_data / "mmlu" / "test" / "anatomy_test.csv")
    assert qs[0].question.startswith("A lesion causing compression of the facial nerve")
    assert qs[0].answer == "A"
    assert qs[0].reference == "A. paralysis of the facial muscles."
    assert qs[0].domain == "medical" and qs[0].dataset == "mmlu/anatomy"
    assert qs[1].question == 'A "dished face" profile is often associated with'
    assert qs[0].choices[2] == "paralysis of the facial muscles, loss of taste and lacrimation."


def test_mmlu_crlf_file_without_final_newline(shared_data: Path) -> None:
    # professional_accounting_test.csv is CRLF with no final newline (README); the last row must
    # be complete and no field may keep a stray "\r".
    path = shared_data / "mmlu" / "test" / "professional_accounting_test.csv"
    raw = path.read_bytes()
    assert b"\r\n" in raw and not raw.endswith(b"\n")
    qs = load_mmlu_csv(path)
    assert qs[-1].answer in "ABCD"
    assert not any("\r" in c for q in qs for c in (q.question, *q.choices))
    assert qs[0].domain == "finance"
    assert Counter(
        q.domain for q in load_mmlu_csv(shared_data / "mmlu" / "test" / "professional_law_test.csv")
    ) == {"legal": 1534}


def test_mmlu_dev_split_ids(shared_data: Path) -> None:
    qs = load_mmlu_csv(shared_data / "mmlu" / "dev" / "anatomy_dev.csv")
    assert len(qs) == 5  # README: dev splits have 5 rows
    assert qs[0].id == "mmlu/anatomy/dev/0"


def test_medqa_and_pubmedqa(shared_data: Path) -> None:
    medqa = load_medagents_jsonl(shared_data / "medqa" / "medqa" / "test.jsonl")
    assert len(medqa) == 1273  # README
    first = medqa[0]
    # Line 1 of medqa/test.jsonl: realidx 0, answer_idx B.
    assert first.id == "medqa/0" and first.answer == "B"
    assert first.choices[1] == "Tell the attending that he cannot fail to disclose this mistake"
    pub = load_medagents_jsonl(shared_data / "medqa" / "pubmedqa" / "test.jsonl")
    assert len(pub) == 500  # README
    assert pub[0].id == "pubmedqa/12377809"
    assert pub[0].choices == ("yes", "no", "maybe")  # README: A yes / B no / C maybe
    assert all(q.domain == "medical" for q in pub)


def test_legalbench_tasks(shared_data: Path) -> None:
    lb = shared_data / "legalbench"
    # README: hearsay 95, overruling 2394, abercrombie 95, proa 95, rule_qa 50 test rows.
    hearsay = load_legalbench_task(lb / "hearsay")
    assert len(hearsay) == 95 and hearsay[0].choices == ("No", "Yes")
    assert hearsay[0].kind == "label" and hearsay[0].answer == "No"
    assert hearsay[0].instruction is not None and "hearsay" in hearsay[0].instruction
    assert len(load_legalbench_task(lb / "overruling")) == 2394
    assert len(load_legalbench_task(lb / "proa" / "test.tsv")) == 95
    aber = load_legalbench_task(lb / "abercrombie")
    assert len(aber) == 95
    assert aber[0].choices == ("generic", "descriptive", "suggestive", "arbitrary", "fanciful")
    # 19 of each category (counted from abercrombie/test.tsv).
    assert Counter(q.answer for q in aber) == dict.fromkeys(aber[0].choices, 19)
    rule = load_legalbench_task(lb / "rule_qa")
    assert len(rule) == 50 and rule[1].kind == "short_answer"
    assert rule[1].question == "Where is diversity jurisdiction codified?"
    assert rule[1].answer == "28 USC § 1332"


def test_legalbench_header_only_train_split(shared_data: Path) -> None:
    # README: rule_qa/train.tsv holds only its header.
    assert load_legalbench_task(shared_data / "legalbench" / "rule_qa", split="train") == []


def test_triviaqa(shared_data: Path) -> None:
    qs = load_triviaqa_jsonl(shared_data / "triviaqa" / "triviaqa_sm_sub.jsonl")
    assert len(qs) == 3000  # README
    q = qs[0]
    assert q.question == ("Brunswick, Lancastrian and Pearl Pickler are types of which vegetable?")
    assert q.answer == "Onion" and "Allium cepa" in q.aliases
    assert q.kind == "short_answer" and q.domain == "general"


def test_triviaqa_line_with_unicode_line_separator(shared_data: Path) -> None:
    # Line 1781 of triviaqa_sm_sub.jsonl holds a raw U+0085 (NEL) inside a JSON string
    # ("Sutherland Brothers and \x85."); str.splitlines() would cut the record in two.
    path = shared_data / "triviaqa" / "triviaqa_sm_sub.jsonl"
    line = path.read_text(encoding="utf-8").split("\n")[1780]
    assert "\x85" in line
    qs = load_triviaqa_jsonl(path)
    assert (
        qs[1780].question
        == json.loads(line)["context"].removeprefix("Question: ").split("\nAnswer:")[0].strip()
    )


def test_boolq_and_misconceptions(shared_data: Path) -> None:
    boolq = load_choice_jsonl(shared_data / "triviaqa" / "boolq.jsonl")
    assert len(boolq) == 3270
    assert Counter(q.answer for q in boolq) == {"yes": 2033, "no": 1237}  # README
    assert boolq[0].kind == "label" and boolq[0].choices == ("no", "yes")
    mis = load_choice_jsonl(shared_data / "triviaqa" / "bigbench_misconceptions.jsonl")
    assert len(mis) == 219
    assert Counter(q.answer for q in mis) == {"F": 114, "T": 105}  # README
    assert not mis[0].question.endswith("A:")


def test_bigbench_known_unknowns(shared_data: Path) -> None:
    qs = load_bigbench_task(shared_data / "bigbench" / "known_unknowns")
    # README: 46 two-choice examples, 23 unanswerable ("Unknown" is right), 23 answerable.
    assert len(qs) == 46
    assert sum(not q.answerable for q in qs) == 23
    first = qs[0]
    assert first.question == "How often did Abraham Lincoln cut his toenails?"
    assert first.choices == ("Every Saturday night", "Unknown") and first.answer == "B"
    assert not first.answerable
    assert qs[1].answerable and qs[1].reference == "A. February 12, 1809"


def test_bigbench_several_correct_choices(shared_data: Path) -> None:
    # general_knowledge example 17 ("What is the color of a human tongue?") scores red and pink 1.
    qs = load_bigbench_task(shared_data / "bigbench" / "general_knowledge" / "task.json")
    assert len(qs) == 70  # README
    q = qs[17]
    assert q.choices[0] == "red" and q.choices[1] == "pink"
    assert q.answer == "A" and q.aliases == ("B",)


def test_bigbench_misconceptions_are_labels(shared_data: Path) -> None:
    qs = load_bigbench_task(shared_data / "bigbench" / "misconceptions")
    assert len(qs) == 219
    assert qs[0].kind == "label" and qs[0].choices == ("T", "F") and qs[0].answer == "F"
    assert qs[0].instruction and qs[0].instruction.startswith("Is the following statement")


@pytest.mark.parametrize(
    ("rel", "fmt"),
    [
        ("mmlu/test/anatomy_test.csv", "mmlu"),
        ("medqa/medqa/test.jsonl", "medagents"),
        ("legalbench/hearsay", "legalbench"),
        ("legalbench/hearsay/test.tsv", "legalbench"),
        ("triviaqa/triviaqa_sm_sub.jsonl", "triviaqa"),
        ("triviaqa/boolq.jsonl", "choice"),
        ("bigbench/known_unknowns", "bigbench"),
        ("bigbench/known_unknowns/task.json", "bigbench"),
    ],
)
def test_detect_format(shared_data: Path, rel: str, fmt: str) -> None:
    assert detect_format(shared_data / rel) == fmt


def test_shuffle_keeps_the_right_answer(shared_data: Path) -> None:
    qs = load_bigbench_task(shared_data / "bigbench" / "known_unknowns")
    shuffled = [q.with_shuffled_choices(0) for q in qs]
    for before, after in zip(qs, shuffled, strict=True):
        assert sorted(before.choices) == sorted(after.choices)
        right = before.choices[before.letters.index(before.answer)]
        assert after.choices[after.letters.index(after.answer)] == right
    # "Unknown" is always option B as published; shuffling moves it for some questions.
    positions = Counter(q.choices.index("Unknown") for q in shuffled)
    assert positions[0] > 0 and positions[1] > 0
    assert [q.with_shuffled_choices(0) for q in qs] == shuffled  # deterministic


def test_sample_is_seeded_and_keeps_file_order(shared_data: Path) -> None:
    qs = load_triviaqa_jsonl(shared_data / "triviaqa" / "triviaqa_sm_sub.jsonl")
    a = sample_questions(qs, 10, seed=3)
    assert [q.id for q in a] == [q.id for q in sample_questions(qs, 10, seed=3)]
    assert [q.id for q in a] != [q.id for q in sample_questions(qs, 10, seed=4)]
    idx = [int(q.id.split("/")[1]) for q in a]
    assert idx == sorted(idx) and len(set(idx)) == 10
    assert sample_questions(qs[:3], 10, seed=0) == qs[:3]


# ---------------------------------------------------------------- generic files and bad input


def test_generic_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "qs.jsonl"
    rows = [
        {"question": "2+2?", "answer": "4", "aliases": ["four"], "domain": "finance"},
        {
            "id": "mc1",
            "question": "Capital of France?",
            "choices": ["Lyon", "Paris"],
            "answer": "Paris",
        },
        {"question": "Sky blue?", "choices": ["yes", "no"], "answer": "yes", "kind": "label"},
        {
            "question": "Lincoln's toenails?",
            "choices": ["Saturday", "Unknown"],
            "answer": "B",
            "answerable": False,
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    qs = load_questions(path)
    assert detect_format(path) == "generic"
    assert qs[0] == Question(
        id="qs/0",
        question="2+2?",
        kind="short_answer",
        answer="4",
        aliases=("four",),
        domain="finance",
        dataset="qs",
    )
    assert qs[1].id == "mc1" and qs[1].answer == "B"  # choice text -> letter
    assert qs[2].kind == "label" and qs[2].answer == "yes"
    assert not qs[3].answerable


def test_generic_csv_with_letter_columns(tmp_path: Path) -> None:
    path = tmp_path / "qs.csv"
    path.write_text(
        "question,A,B,C,answer,domain,aliases\r\n"
        '"Which, of these?",x,y,z,c,legal,\r\n'
        "Who wrote Hamlet?,,,,Shakespeare,general,William Shakespeare|Shakespear\r\n",
        encoding="utf-8",
    )
    qs = load_question_file(path)
    assert qs[0].choices == ("x", "y", "z") and qs[0].answer == "C" and qs[0].domain == "legal"
    assert qs[1].kind == "short_answer"
    assert qs[1].accepted == ("Shakespeare", "William Shakespeare", "Shakespear")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "q", "answer": "a"}\n{"question": "q2"\n', "qs.jsonl:2: invalid JSON"),
        ('{"question": "q"}\n', "qs.jsonl:1: missing field 'answer'"),
        ('{"question": "q", "choices": ["a", "b"], "answer": "c"}\n', "neither a letter"),
        (
            '{"id": "x", "question": "q", "answer": "a"}\n{"id": "x", "question": "r", '
            '"answer": "b"}\n',
            "duplicate id 'x'",
        ),
        ('{"question": "q", "answer": "a", "answerable": "perhaps"}\n', "'answerable'"),
    ],
)
def test_generic_bad_rows_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "qs.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(QuestionFileError, match=message.replace("(", r"\(")):
        load_question_file(path)


def test_mmlu_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "x_test.csv"
    path.write_text("q,a,b,c,d,A\nq2,a,b,c,d,E\n", encoding="utf-8")
    with pytest.raises(QuestionFileError, match="row 2"):
        load_mmlu_csv(path)
    path.write_text("q,a,b,c,A\n", encoding="utf-8")
    with pytest.raises(QuestionFileError, match="expected 6 fields"):
        load_mmlu_csv(path)


def test_unrecognised_inputs(tmp_path: Path) -> None:
    with pytest.raises(QuestionFileError, match="no such file"):
        detect_format(tmp_path / "missing.jsonl")
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"foo": 1}\n', encoding="utf-8")
    with pytest.raises(QuestionFileError, match="unrecognised JSONL shape"):
        load_questions(odd)
    with pytest.raises(QuestionFileError, match=r"neither task\.json nor test\.tsv"):
        detect_format(tmp_path)
    with pytest.raises(QuestionFileError, match="unknown question format"):
        load_questions(odd, fmt="nope")


def test_duplicate_ids_across_inputs() -> None:
    q = Question(id="a", question="q", kind="short_answer", answer="x")
    with pytest.raises(QuestionFileError, match="duplicate question id 'a'"):
        check_unique_ids([q, q])


def test_question_validation() -> None:
    with pytest.raises(ValueError, match="not one of the letters"):
        Question(id="a", question="q", kind="multiple_choice", choices=("x", "y"), answer="C")
    with pytest.raises(ValueError, match="not in labels"):
        Question(id="a", question="q", kind="label", choices=("Yes", "No"), answer="Maybe")
