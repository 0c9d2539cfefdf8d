"""One valid value for every answer-only argument (openai 3.x shapes), shared by the drop-in's
`create` contract test (tests/sdk/test_openai_create_contract.py: every value reaches the
answer call and no sample) and `guardrail serve`'s request-field test
(tests/serve/test_serve_request_fields.py: the body fields among them, the same way)."""

from __future__ import annotations

from typing import Any

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}

#: argument -> a valid value; keys == guardrail.sdk.client.ANSWER_ONLY_ARGS (tested)
VALUES: dict[str, Any] = {
    "frequency_penalty": 0.1,
    "function_call": "auto",
    "functions": [{"name": "f", "parameters": {"type": "object"}}],
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "max_completion_tokens": 9,
    "metadata": {"k": "v"},
    "modalities": ["text"],
    "moderation": {"model": "omni-moderation-latest"},
    "parallel_tool_calls": False,
    "prediction": {"type": "content", "content": "Paris"},
    "presence_penalty": 0.2,
    "prompt_cache_key": "pk",
    "prompt_cache_options": {"mode": "explicit"},
    "prompt_cache_retention": "24h",
    "reasoning_effort": "low",
    "response_format": {"type": "text"},
    "safety_identifier": "sid",
    "service_tier": "auto",
    "stop": ["\n\n"],
    "store": False,
    "temperature": 0.3,
    "tool_choice": "none",
    "tools": [TOOL],
    "top_logprobs": 2,
    "top_p": 0.9,
    "user": "u-1",
    "verbosity": "low",
    "web_search_options": {"search_context_size": "low"},
    "extra_headers": {"X-Answer-Only": "yes"},
    "extra_query": {"answer_only": "yes"},
    "extra_body": {"top_k": 3},
    "timeout": 17.0,
}
