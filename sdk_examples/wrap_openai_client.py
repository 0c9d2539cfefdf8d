"""Wrap an existing OpenAI-style client with guardrail: three lines change.

    python sdk_examples/wrap_openai_client.py --base-url http://127.0.0.1:8080/v1 --model smollm2 \
        "What is the boiling point of water at sea level?"

Without --base-url the embedded local model answers (no API key, no network). The `openai` package
is only needed with --base-url.
"""

from __future__ import annotations

import argparse
import os

from guardrail import GuardedClient


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("question")
    ap.add_argument("--base-url")
    ap.add_argument("--model", default=None)
    ap.add_argument("--domain", default="general")
    ap.add_argument("--policies", default="policies")
    args = ap.parse_args(argv)

    if args.base_url:
        from openai import OpenAI

        # 1. your existing client, unchanged
        openai_client = OpenAI(
            base_url=args.base_url, api_key=os.environ.get("OPENAI_API_KEY", "not-needed")
        )
        # 2. the one line that changes: wrap it
        client = GuardedClient(openai_client, policies=args.policies, domain=args.domain)
    else:
        client = GuardedClient(policies=args.policies, domain=args.domain, max_tokens=64)

    # 3. the call your code already makes
    completion = client.chat.completions.create(
        model=args.model or "smollm2",
        messages=[{"role": "user", "content": args.question}],
    )
    print(completion.choices[0].message.content)
    verdict = completion.guardrail
    print(f"-- guardrail: {verdict.status}, action={verdict.action}, calls={verdict.cost.calls}")
    for s in verdict.signals:
        print(f"   {s.name}: {s.status} {'' if s.value is None else s.value}")


if __name__ == "__main__":
    main()
