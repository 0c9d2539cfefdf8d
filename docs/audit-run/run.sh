#!/usr/bin/env bash
# The documented audit run (docs/audit-run.md). Run from the repository root with the `local`
# extra installed and the shared data in ../shared/data. Resumable: re-running skips done ids.
#
# 50 seeded questions each of MMLU clinical knowledge (medical), jurisprudence (legal) and
# professional accounting (finance), all 46 BIG-bench known_unknowns (general; abstention;
# --limit 50 keeps all 46), and 50 TriviaQA questions (general). TriviaQA gets 48 answer tokens:
# SmolLM2 restates the question before answering and 24 tokens cut the answer off.
set -euo pipefail
D=${GUARDRAIL_SHARED_DATA:-../shared/data}
OUT=docs/audit-run
COMMON=(--limit 50 --seed 0 --shuffle-choices --threads 1 --sample-max-tokens 10 --samples 5
        --temperature 0.9 -o "$OUT/records.jsonl")
guardrail audit run "${COMMON[@]}" --max-tokens 24 \
  "$D/mmlu/test/clinical_knowledge_test.csv" \
  "$D/mmlu/test/jurisprudence_test.csv" \
  "$D/mmlu/test/professional_accounting_test.csv" \
  "$D/bigbench/known_unknowns" "$@"
guardrail audit run "${COMMON[@]}" --max-tokens 48 "$D/triviaqa/triviaqa_sm_sub.jsonl" "$@"
# Summary, threshold recommendations and the calibration report (HTML + diagrams, ~2 MB, not
# committed: docs/audit-run/make_figures.py draws the two diagrams shown in the docs) over every
# record of the run
# (nothing left to ask: this call only reads the records).
guardrail audit run "${COMMON[@]}" --max-tokens 24 \
  "$D/mmlu/test/clinical_knowledge_test.csv" \
  "$D/mmlu/test/jurisprudence_test.csv" \
  "$D/mmlu/test/professional_accounting_test.csv" \
  "$D/bigbench/known_unknowns" "$D/triviaqa/triviaqa_sm_sub.jsonl" \
  --summary-json "$OUT/summary.json" --policy-snippet "$OUT/recommended" \
  --report "${REPORT:-audit-run-report}" "$@"
