"""Agreement of guardrail's judge with the data authors' own verdicts on real replies.

Reads ``../shared/data/model_outputs`` (or ``$GUARDRAIL_SHARED_DATA/model_outputs``) and prints,
per data set, how many replies the judge (:mod:`guardrail.runner.judge`) judges the way the
authors did, with a 95% Clopper-Pearson interval, and how the answer was found (``answer_from``):

* GSM8K GPT-3 solutions (4 configurations x 1,319): ``judge_short_answer(solution, [reference])``
  against ``is_correct``;
* LSAT-AR JSON replies of 11 models (``coerce`` True): the letter read by ``judge_reply`` against
  the authors' ``Answer`` column;
* GPT-4o-mini SimpleQA answers (``normal`` and ``distractors``): ``judge_short_answer`` against
  the SimpleQA grader's ``output == 1``.

Run from the repository root: ``python eval/judge_real_replies.py``.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

from guardrail.calibration import clopper_pearson
from guardrail.runner.judge import judge_reply, judge_short_answer
from guardrail.runner.questions import Question

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GUARDRAIL_SHARED_DATA") or ROOT.parent / "shared" / "data")
OUT = DATA / "model_outputs"


def show(name: str, agree: int, n: int, sources: Counter[str]) -> None:
    ci = clopper_pearson(agree, n)
    lo, hi = ci.low, ci.high
    how = ", ".join(f"{k} {v}" for k, v in sources.most_common())
    print(f"{name}: {agree}/{n} = {agree / n:.4f} (95% CI {lo:.4f}-{hi:.4f}); answer_from: {how}")


def main() -> int:
    rows = [
        json.loads(line)
        for line in (OUT / "gsm8k_gpt3_solutions" / "example_model_solutions.jsonl")
        .read_text(encoding="utf-8")
        .split("\n")
        if line
    ]
    agree = n = 0
    sources: Counter[str] = Counter()
    for row in rows:
        reference = row["ground_truth"].rsplit("A:", 1)[1].strip()
        for model in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
            j = judge_short_answer(row[model]["solution"], [reference])
            n += 1
            agree += j.correct == row[model]["is_correct"]
            sources[j.answer_from] += 1
    show("GSM8K GPT-3 solutions vs is_correct", agree, n, sources)

    csv.field_size_limit(1 << 30)
    q = Question(
        id="lsat", question="?", kind="multiple_choice", choices=tuple("vwxyz"), answer="A"
    )
    agree = n = 0
    sources = Counter()
    for path in sorted((OUT / "llm_confidence_json" / "parsed").glob("lsat_ar_test_*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                if rec["coerce"] != "True":
                    continue
                j = judge_reply(q, rec["content"])
                n += 1
                agree += j.parsed == rec["Answer"]
                sources[j.answer_from] += 1
    show("LSAT-AR JSON replies, letter vs the authors' parse", agree, n, sources)

    agree = n = 0
    sources = Counter()
    for name in ("normal", "distractors"):
        path = OUT / "gpt4o_mini_verbalized" / f"gpt-4o-mini_{name}_0_20_results.json"
        for item in json.loads(path.read_text(encoding="utf-8")).values():
            j = judge_short_answer(
                str(item["predicted_answer"]), [str(item["gold_answer"])], question=item["question"]
            )
            n += 1
            agree += j.correct == (item["output"] == 1)
            sources[j.answer_from] += 1
    show("GPT-4o-mini SimpleQA vs the SimpleQA grader", agree, n, sources)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
