"""Why ``logprob_probe`` exists: time a greedy answer with log-probs on every token against the
same answer without log-probs plus a 1-token probe that carries them (embedded SmolLM2-135M).

    .venv/bin/python docs/audit-run/bench_logprob_probe.py [N_QUESTIONS]

Prints the median seconds per question of each way and their ratio, measured in the same run
(the machine's load changes the seconds, not much the ratio).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from guardrail.providers import LocalProvider
from guardrail.runner.prompts import base_messages
from guardrail.runner.questions import load_questions, sample_questions
from guardrail.signals import inline_messages

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


async def main(n: int) -> None:
    qs = sample_questions(load_questions(DATA / "mmlu/test/clinical_knowledge_test.csv"), n, seed=1)
    provider = LocalProvider(n_ctx=2048, n_threads=1)
    inline, probe = [], []
    for q in qs:
        msgs = inline_messages(base_messages(q))
        # warm the prefix cache identically for both ways
        await provider.chat(msgs, temperature=0.0, max_tokens=1, seed=1)
        t = time.perf_counter()
        await provider.chat(
            msgs, temperature=0.0, max_tokens=24, seed=1, logprobs=True, top_logprobs=10
        )
        inline.append(time.perf_counter() - t)
        t = time.perf_counter()
        await provider.chat(msgs, temperature=0.0, max_tokens=24, seed=1)
        await provider.chat(
            msgs, temperature=0.0, max_tokens=1, seed=1, logprobs=True, top_logprobs=10
        )
        probe.append(time.perf_counter() - t)
    a, b = statistics.median(inline), statistics.median(probe)
    print(f"{n} questions, 24-token greedy answers, top-10 log-probs")
    print(f"log-probs on every token : {a:.2f} s (median)")
    print(f"answer + 1-token probe   : {b:.2f} s (median)")
    print(f"ratio                    : {a / b:.1f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
