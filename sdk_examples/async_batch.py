"""Answer a batch of questions concurrently through guardrail, tracing to the console.

    python sdk_examples/async_batch.py --domain general "Capital of France?" "Who wrote Hamlet?"

Tracing: guardrail only uses the OpenTelemetry *API*; the application (this script) installs the
SDK and an exporter. Each guarded chat becomes a ``guardrail.guard`` span with ``chat {model}``
child spans and ``gen_ai.evaluation.result`` events, printed as JSON by the console exporter.
"""

from __future__ import annotations

import argparse
import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from guardrail import Guard
from guardrail.providers import make_provider


async def run(questions: list[str], guard: Guard, domain: str, concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def one(q: str) -> tuple[str, str, str]:
        async with limit:
            r = await guard.chat([{"role": "user", "content": q}], domain=domain)
        return q, r.status, r.text.replace("\n", " ")[:80]

    results = await asyncio.gather(*(one(q) for q in questions))
    for q, status, text in results:
        print(f"[{status}] {q} -> {text}")
    await guard.aclose()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("questions", nargs="+")
    ap.add_argument("--base-url")
    ap.add_argument("--model")
    ap.add_argument("--domain", default="general")
    ap.add_argument("--policies", default="policies")
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args(argv)

    # Application code: install the OTel SDK with a console exporter.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)

    guard = Guard.from_policies(
        args.policies, make_provider(args.base_url, model=args.model), max_tokens=64
    )
    asyncio.run(run(args.questions, guard, args.domain, args.concurrency))
    provider.shutdown()


if __name__ == "__main__":
    main()
