"""`top_logprobs` only with `logprobs: true` (OpenAI's reference: "logprobs must be set to true
if this parameter is used"; its API refuses it otherwise), checked in the one shared check
(`guardrail.providers.params.check_sampling_args`, used by `guardrail serve` and the drop-in:
their end-to-end cases are in tests/sampling_cases.py)."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail.providers.params import InvalidArgumentError, check_sampling_args


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ({"top_logprobs": 3}, "not given"),
        ({"top_logprobs": 0}, "not given"),
        ({"top_logprobs": 3, "logprobs": False}, "False"),
        ({"top_logprobs": 3, "logprobs": None}, "not given"),
    ],
)
def test_top_logprobs_without_logprobs_true_is_refused(args: dict[str, Any], shown: str) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        check_sampling_args(args)
    assert err.value.param == "top_logprobs"
    assert str(err.value) == f"'top_logprobs' requires 'logprobs': true, got logprobs {shown}"


def test_top_logprobs_with_logprobs_true_passes_and_type_errors_come_first() -> None:
    check_sampling_args({"top_logprobs": 20, "logprobs": True})
    check_sampling_args({"logprobs": False})  # logprobs alone is fine either way
    # a mistyped logprobs is named as such, not as a missing one
    with pytest.raises(InvalidArgumentError) as err:
        check_sampling_args({"top_logprobs": 2, "logprobs": "yes"})
    assert err.value.param == "logprobs"
    # an out-of-range top_logprobs is named by its range first
    with pytest.raises(InvalidArgumentError, match="between 0 and 20, got 21"):
        check_sampling_args({"top_logprobs": 21})
