"""Log-probability confidence from OpenAI-shaped token log-probs.

Input: the ``logprobs.content`` list of a chat completion choice, items
``{"token": str, "logprob": float, "top_logprobs": [{"token": str, "logprob": float}, ...]}``
(natural-log probabilities, as the OpenAI API returns them).

Measures (all probabilities in [0, 1]):

* ``sequence_prob`` = exp(Σ_t logprob_t), the probability of the whole answer;
* ``geometric_mean_prob`` = exp(mean_t logprob_t), the length-normalised sequence probability
  (Malinin & Gales 2021, arXiv 2002.07650);
* ``mean_token_prob`` = mean_t exp(logprob_t) and ``min_token_prob`` = min_t exp(logprob_t)
  (token-level scores as in Manakul et al. 2023, SelfCheckGPT, arXiv 2303.08896; uqlm's
  ``min_probability``);
* ``option_prob``: for single-token / multiple-choice answers, the chosen option's probability
  renormalised over the offered options, p(chosen) / Σ_o p(o), read from the answer token's
  ``top_logprobs`` (the option scoring used by Kumar et al. 2023, arXiv 2305.18404).

Default ``value``: ``option_prob`` when ``options`` are given and an option token was found, else
``geometric_mean_prob`` (comparable across answer lengths; equal to ``sequence_prob`` for a one-
token answer). Pass ``aggregate=`` to choose another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from guardrail.signals.base import SignalResult

__all__ = ["Aggregate", "LogprobResult", "logprob_confidence"]

Aggregate = Literal["auto", "sequence", "geometric_mean", "mean", "min", "option"]


class LogprobResult(SignalResult):
    """Log-probability confidence.

    Attributes:
        value: the chosen aggregate (see module docstring), or None with a reason.
        aggregate: which measure ``value`` is.
        n_tokens: number of tokens read.
        sequence_prob, geometric_mean_prob, mean_token_prob, min_token_prob: see module docstring.
        min_token: the token with the lowest probability.
        option_prob: normalised probability of the chosen option (None without ``options``).
        chosen_option: the option found in the answer; option_probs: normalised probability of
            each offered option (options absent from ``top_logprobs`` get 0: a lower bound).
        option_token_index: index of the token the option was read from.
    """

    name: str = "logprob_confidence"
    aggregate: str = "geometric_mean"
    n_tokens: int = 0
    sequence_prob: float | None = None
    geometric_mean_prob: float | None = None
    mean_token_prob: float | None = None
    min_token_prob: float | None = None
    min_token: str | None = None
    option_prob: float | None = None
    chosen_option: str | None = None
    option_probs: dict[str, float] | None = None
    option_token_index: int | None = None


def _none(reason: str, **kw: Any) -> LogprobResult:
    return LogprobResult(value=None, reason=reason, evidence={"reason": reason}, **kw)


def _logprob(item: object) -> float | None:
    if not isinstance(item, Mapping):
        return None
    lp = item.get("logprob")
    if isinstance(lp, bool) or not isinstance(lp, (int, float)):
        return None
    lp = float(lp)
    if math.isnan(lp) or lp > 1e-6:
        return None
    return min(lp, 0.0)


def _strip_token(tok: object) -> str:
    if not isinstance(tok, str):
        return ""
    return re.sub(
        r"^[\s(\[*_\"']+|[\s)\].:,*_\"']+$", "", tok.replace("\u2581", " ").replace("\u0120", " ")
    )


def _option_probs(
    content: Sequence[Mapping[str, Any]], options: Sequence[str]
) -> tuple[int, str, dict[str, float]] | str:
    """(token index, chosen option, normalised probs) or a reason string."""
    wanted = {o.strip(): o for o in options}
    folded = {o.strip().lower(): o for o in options}
    for idx, item in enumerate(content):
        tok = _strip_token(item.get("token"))
        if not tok:
            continue
        chosen = wanted.get(tok) or folded.get(tok.lower())
        if chosen is None:
            return f"first answer token {item.get('token')!r} is not one of the options"
        mass: dict[str, float] = dict.fromkeys(options, 0.0)
        seen: set[str] = set()
        tops = item.get("top_logprobs")
        for alt in tops if isinstance(tops, Sequence) else []:
            lp = _logprob(alt)
            if lp is None or not isinstance(alt, Mapping):
                continue
            raw = alt.get("token")
            name = wanted.get(_strip_token(raw)) or folded.get(_strip_token(raw).lower())
            if name is not None and raw not in seen:
                seen.add(str(raw))
                mass[name] += math.exp(lp)
        if not seen or str(item.get("token")) not in seen:
            lp = _logprob(item)
            if lp is not None:
                mass[chosen] += math.exp(lp)
        total = sum(mass.values())
        if total <= 0:
            return "the option token has zero probability"
        return idx, chosen, {o: p / total for o, p in mass.items()}
    return "no answer token found"


def logprob_confidence(
    content: Sequence[Mapping[str, Any]] | None,
    *,
    options: Sequence[str] | None = None,
    aggregate: Aggregate = "auto",
) -> LogprobResult:
    """Confidence from the answer's token log-probabilities.

    Args:
        content: ``choice.logprobs.content`` (OpenAI shape); None or empty gives no value.
        options: the offered options for a multiple-choice / single-token answer (e.g.
            ``["A", "B", "C", "D"]`` or ``["yes", "no"]``); the first non-blank answer token
            (stripped of spaces, brackets and trailing punctuation) must be one of them.
        aggregate: ``auto`` (option_prob when available, else geometric_mean), ``sequence``,
            ``geometric_mean``, ``mean``, ``min`` or ``option``.

    Returns:
        :class:`LogprobResult`. ``value`` None with a reason when ``content`` is missing or empty,
        an item has no finite logprob <= 0, or ``aggregate="option"`` and no option was found.
        Never raises for malformed server data.

    Raises:
        ValueError: an unknown ``aggregate`` or an empty ``options`` list (caller errors).
    """
    if aggregate not in ("auto", "sequence", "geometric_mean", "mean", "min", "option"):
        raise ValueError(f"unknown aggregate {aggregate!r}")
    if options is not None and len(options) == 0:
        raise ValueError("options must not be empty")
    if content is None:
        return _none("no log-probs in the response")
    if isinstance(content, (str, bytes)) or not isinstance(content, Sequence):
        return _none(f"log-probs content is a {type(content).__name__}, not a list")
    if len(content) == 0:
        return _none("log-probs content is empty")
    lps: list[float] = []
    for i, item in enumerate(content):
        lp = _logprob(item)
        if lp is None:
            return _none(f"token {i} has no finite logprob <= 0", n_tokens=len(content))
        lps.append(lp)
    probs = [math.exp(x) for x in lps]
    total_lp = sum(lps)
    imin = min(range(len(probs)), key=probs.__getitem__)
    fields: dict[str, Any] = {
        "n_tokens": len(lps),
        "sequence_prob": math.exp(total_lp),
        "geometric_mean_prob": math.exp(total_lp / len(lps)),
        "mean_token_prob": sum(probs) / len(probs),
        "min_token_prob": probs[imin],
        "min_token": str(content[imin].get("token")),
    }
    option_reason: str | None = None
    if options is not None:
        res = _option_probs(content, list(options))
        if isinstance(res, str):
            option_reason = res
        else:
            idx, chosen, dist = res
            fields.update(
                option_prob=dist[chosen],
                chosen_option=chosen,
                option_probs=dist,
                option_token_index=idx,
            )
    agg = aggregate
    if agg == "auto":
        agg = "option" if fields.get("option_prob") is not None else "geometric_mean"
    key = {
        "sequence": "sequence_prob",
        "geometric_mean": "geometric_mean_prob",
        "mean": "mean_token_prob",
        "min": "min_token_prob",
        "option": "option_prob",
    }[agg]
    value = fields.get(key)
    evidence: dict[str, Any] = {
        k: fields.get(k)
        for k in ("n_tokens", "sequence_prob", "min_token_prob", "min_token", "chosen_option")
    }
    if option_reason:
        evidence["option_reason"] = option_reason
    if value is None:
        reason = option_reason or "option probability unavailable"
        return _none(reason, aggregate=agg, **fields)
    return LogprobResult(
        value=min(1.0, max(0.0, float(value))),
        reason=option_reason,
        aggregate=agg,
        evidence=evidence,
        **fields,
    )
