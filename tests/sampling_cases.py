"""Sampling arguments of a chat-completions request, mistyped or out of range, shared by the
`guardrail serve` test (HTTP 400) and the drop-in client's test (`UnsupportedArgumentError`):
both must refuse exactly these, before any upstream request, through the one check
(`guardrail.providers.params.check_sampling_args`).

Ranges from OpenAI's API reference ("Create chat completion"; the parameter docs of
`openai.resources.chat.completions.Completions.create`): temperature 0..2, top_p 0..1,
presence/frequency penalty -2..2, top_logprobs 0..20 and only with logprobs true, stop up
to 4 sequences, logit_bias -100..100; max_tokens / max_completion_tokens at least 1 (at most
2**31 - 1: servers keep token caps in 32-bit integers); n 1..128; seed a 64-bit integer.
"""

from __future__ import annotations

from typing import Any

#: (argument, bad value, text the error message must contain)
BAD: list[tuple[str, Any, str]] = [
    ("max_tokens", "10", "'max_tokens' must be an integer from 1 to 2**31 - 1, got '10'"),
    ("max_tokens", True, "'max_tokens' must be an integer from 1 to 2**31 - 1, got True"),
    ("max_tokens", 0, "'max_tokens' must be an integer from 1 to 2**31 - 1, got 0"),
    ("max_tokens", 2**31, "'max_tokens' must be an integer from 1 to 2**31 - 1, got 2147483648"),
    ("max_tokens", 10**400, "'max_tokens' must be an integer from 1 to 2**31 - 1, got 1000000"),
    ("max_completion_tokens", 2.5, "'max_completion_tokens' must be an integer from 1 to 2**31"),
    ("temperature", "hot", "'temperature' must be a number between 0 and 2, got 'hot'"),
    ("temperature", 2.5, "'temperature' must be a number between 0 and 2, got 2.5"),
    ("temperature", True, "'temperature' must be a number between 0 and 2, got True"),
    ("temperature", -0.1, "'temperature' must be a number between 0 and 2"),
    ("top_p", 1.5, "'top_p' must be a number between 0 and 1, got 1.5"),
    ("top_p", "0.9", "'top_p' must be a number between 0 and 1"),
    ("n", True, "'n' must be an integer between 1 and 128, got True"),
    ("n", "1", "'n' must be an integer between 1 and 128"),
    ("seed", "42", "'seed' must be an integer (64-bit), got '42'"),
    ("seed", True, "'seed' must be an integer (64-bit), got True"),
    ("seed", 1.5, "'seed' must be an integer (64-bit)"),
    ("seed", 2**63, "'seed' must be an integer (64-bit)"),  # one past the largest int64
    ("presence_penalty", -2.5, "'presence_penalty' must be a number between -2 and 2"),
    ("frequency_penalty", "0", "'frequency_penalty' must be a number between -2 and 2"),
    ("frequency_penalty", 3, "'frequency_penalty' must be a number between -2 and 2, got 3"),
    ("stop", 5, "'stop' must be a string or a list of at most 4 strings, got 5"),
    ("stop", ["a", 1], "'stop' must be a string or a list of at most 4 strings"),
    ("stop", ["a", "b", "c", "d", "e"], "'stop' must be a string or a list of at most 4"),
    ("top_logprobs", 21, "'top_logprobs' must be an integer between 0 and 20, got 21"),
    # in range, but without logprobs: true (OpenAI answers 400: "logprobs must be set to true")
    ("top_logprobs", 5, "'top_logprobs' requires 'logprobs': true, got logprobs not given"),
    ("logprobs", "yes", "'logprobs' must be a boolean, got 'yes'"),
    ("logit_bias", {"50256": 101}, "'logit_bias' must be an object mapping token ids"),
    # a 401-digit JSON integer: the finiteness check converted it to float (OverflowError, not
    # the argument error; serve answered 500)
    ("temperature", 10**400, "'temperature' must be a number between 0 and 2, got 1000000"),
    ("logit_bias", {"50256": -(10**400)}, "'logit_bias' must be an object mapping token ids"),
]

#: Valid values at the edges of their ranges: they must reach the upstream unchanged.
EDGES: dict[str, Any] = {
    "max_tokens": 1,
    "temperature": 0,
    "top_p": 1,
    "seed": -1,
    "presence_penalty": -2,
    "frequency_penalty": 2.0,
    "stop": ["a", "b", "c", "d"],
}


def case_id(case: tuple[str, Any, str]) -> str:
    return f"{case[0]}={case[1]!r}"
