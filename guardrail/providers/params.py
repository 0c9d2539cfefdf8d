"""Types and ranges of the sampling arguments of a chat-completions request, checked once.

``guardrail serve`` (HTTP 400) and the drop-in client's ``chat.completions.create``
(``UnsupportedArgumentError``) both call :func:`check_sampling_args` before anything is sent
upstream, so a mistyped value (``max_tokens="10"``, ``temperature="hot"``, ``seed=True``) is
refused the same way in both, and a valid value passes through unchanged.

The rules are those of OpenAI's API reference for ``POST /v1/chat/completions`` ("Create chat
completion"; the parameter docs of ``openai.resources.chat.completions.Completions.create``):

==========================================  =============================================
argument                                    accepted (``None``: not given, always accepted)
==========================================  =============================================
``max_tokens``, ``max_completion_tokens``   integer, 1 to 2**31 - 1
``n``                                       integer, 1 to 128
``seed``                                    integer, a signed 64-bit value
``top_logprobs``                            integer, 0 to 20
``temperature``                             number, 0 to 2
``top_p``                                   number, 0 to 1
``presence_penalty``, ``frequency_penalty`` number, -2 to 2
``stop``                                    a string, or a list of at most 4 strings
``logprobs``                                boolean
``logit_bias``                              object of numbers, each -100 to 100
==========================================  =============================================

and one rule between two of them: ``top_logprobs`` (any value) only with ``logprobs: true``
(OpenAI's reference: "logprobs must be set to true if this parameter is used"; its API answers
400 otherwise, so forwarding it would only move the refusal upstream).

A ``bool`` is not a number here (Python's ``True == 1``; JSON keeps them apart), nor are NaN
and infinities (every range comparison with them fails).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SAMPLING_ARGS", "InvalidArgumentError", "check_sampling_args", "merge_answer_options"]

_INT64 = 2**63
_INT32 = 2**31  # token caps: servers keep them in 32-bit integers (llama.cpp's n_predict)


class InvalidArgumentError(ValueError):
    """A sampling argument of the wrong type or out of its range.

    Attributes:
        param: the argument's name (OpenAI's error field ``param``).
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit conversion limit has no repr
        return f"an {type(value).__name__} too long to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    # an int is finite whatever its size (math.isfinite(10**400) raises OverflowError)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _integer(lo: int, hi: int | None, what: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not _is_int(value) or value < lo or (hi is not None and value > hi):
            raise InvalidArgumentError(
                name, f"'{name}' must be an integer {what}, got {_shown(value)}"
            )

    return check


def _number(lo: float, hi: float) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not _is_number(value) or not lo <= value <= hi:
            raise InvalidArgumentError(
                name, f"'{name}' must be a number between {lo:g} and {hi:g}, got {_shown(value)}"
            )

    return check


def _stop(name: str, value: Any) -> None:
    if isinstance(value, str):
        return
    if isinstance(value, list) and len(value) <= 4 and all(isinstance(x, str) for x in value):
        return
    raise InvalidArgumentError(
        name, f"'{name}' must be a string or a list of at most 4 strings, got {_shown(value)}"
    )


def _boolean(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidArgumentError(name, f"'{name}' must be a boolean, got {_shown(value)}")


def _logit_bias(name: str, value: Any) -> None:
    if isinstance(value, Mapping) and all(
        _is_number(v) and -100 <= v <= 100 for v in value.values()
    ):
        return
    raise InvalidArgumentError(
        name,
        f"'{name}' must be an object mapping token ids to numbers between -100 and 100, "
        f"got {_shown(value)}",
    )


_RULES: dict[str, Callable[[str, Any], None]] = {
    "max_tokens": _integer(1, _INT32 - 1, "from 1 to 2**31 - 1"),
    "max_completion_tokens": _integer(1, _INT32 - 1, "from 1 to 2**31 - 1"),
    "n": _integer(1, 128, "between 1 and 128"),
    "seed": _integer(-_INT64, _INT64 - 1, "(64-bit)"),
    "top_logprobs": _integer(0, 20, "between 0 and 20"),
    "temperature": _number(0.0, 2.0),
    "top_p": _number(0.0, 1.0),
    "presence_penalty": _number(-2.0, 2.0),
    "frequency_penalty": _number(-2.0, 2.0),
    "stop": _stop,
    "logprobs": _boolean,
    "logit_bias": _logit_bias,
}

#: The arguments :func:`check_sampling_args` checks, in the order it checks them.
SAMPLING_ARGS: tuple[str, ...] = tuple(_RULES)


def check_sampling_args(args: Mapping[str, Any]) -> None:
    """Check the sampling arguments present in ``args`` (a request body or ``create``'s keyword
    arguments; other keys and ``None`` values are ignored) against the table in this module's
    docstring (OpenAI's API reference, "Create chat completion").

    Args:
        args: argument name -> value.

    Raises:
        InvalidArgumentError: (a ``ValueError``) the first argument, in :data:`SAMPLING_ARGS`
            order, of the wrong type or out of range; the message names it, the range and the
            value given. Then ``top_logprobs`` given without ``logprobs: true`` (``param``
            ``top_logprobs``).

    Examples:
        >>> check_sampling_args({"max_tokens": 10, "temperature": 0.2, "stop": ["\\n"]})
        >>> check_sampling_args({"temperature": "hot"})
        Traceback (most recent call last):
        ...
        guardrail.providers.params.InvalidArgumentError: 'temperature' must be a number between 0 and 2, got 'hot'
    """  # noqa: E501
    for name, rule in _RULES.items():
        value = args.get(name)
        if value is not None:
            rule(name, value)
    if args.get("top_logprobs") is not None and args.get("logprobs") is not True:
        given = "not given" if args.get("logprobs") is None else _shown(args.get("logprobs"))
        raise InvalidArgumentError(
            "top_logprobs", f"'top_logprobs' requires 'logprobs': true, got logprobs {given}"
        )


def merge_answer_options(
    payload: dict[str, Any], options: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The answer call's request: the guard's ``payload`` (model, messages, token cap, seed,
    the log-probs the policy needs, ...) with the caller's answer-only ``options`` merged in.

    The caller's values win, except where the policy needs something for its own call:

    * ``logprobs``: when ``payload`` asks for them (a rule reads ``logprob_confidence``), the
      call asks for them even if the caller sent ``logprobs: false``;
    * ``top_logprobs``: the larger of the policy's and the caller's;
    * ``max_completion_tokens`` given: ``payload``'s ``max_tokens`` is dropped (servers refuse
      both).

    What the caller gets back is cut to its own request afterwards
    (:func:`guardrail.sdk.answer_call.caller_logprobs`). Shared by
    ``OpenAICompatProvider`` and the drop-in's ``OpenAIClientProvider`` (streamed or not).

    Args:
        payload: the guard's request fields; updated in place and returned.
        options: the caller's answer-only fields (None or empty: ``payload`` unchanged).

    Returns:
        ``payload``.
    """
    if not options:
        return payload
    opts = dict(options)
    if payload.get("logprobs") and not opts.get("logprobs", True):
        opts.pop("logprobs")  # the policy needs them for its own call
    if opts.get("top_logprobs") is not None and payload.get("top_logprobs") is not None:
        opts["top_logprobs"] = max(int(opts["top_logprobs"]), int(payload["top_logprobs"]))
    if opts.get("max_completion_tokens") is not None:
        payload.pop("max_tokens", None)  # servers reject both
    payload.update(opts)
    return payload
