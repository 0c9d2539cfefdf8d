#!/usr/bin/env bash
# The documented audit run (docs/audit-run.md). Run from the repository root with the `local`
# extra installed and the shared data in ../shared/data. Resumable: re-running skips done ids.
#
# 50 seeded questions each of MMLU clinical knowledge (medical), jurisprudence (legal),
# professional accounting (finance) and TriviaQA (general), plus all 46 BIG-bench
# known_unknowns (general; abstention): --limit 50 keeps all 46.
set -euo pipefail
D=${GUARDRAIL_SHARED_DATA:-../shared/data}
OUT=docs/audit-run
guardrail audit run \
  "$D/mmlu/test/clinical_knowledge_test.csv" \
  "$D/mmlu/test/jurisprudence_test.csv" \
  "$D/mmlu/test/professional_accounting_test.csv" \
  "$D/triviaqa/triviaqa_sm_sub.jsonl" \
  "$D/bigbench/known_unknowns" \
  --limit 50 --seed 0 --shuffle-choices --threads 1 \
  --max-tokens 24 --sample-max-tokens 10 --samples 5 --temperature 0.9 \
  -o "$OUT/records.jsonl" --summary-json "$OUT/summary.json" \
  --policy-snippet "$OUT/recommended.guard" --report "$OUT/report" "$@"
