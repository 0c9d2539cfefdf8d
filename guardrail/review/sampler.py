"""Spot-check sampler: a reproducible random sample of the decisions that did *not* go to review.

Each request is kept with probability ``rate(domain)`` (default 10%), decided by a hash, not a
random number generator: ``u = SHA-256(seed + ":" + request_id)`` read as a 64-bit fraction in
[0, 1), and the request is picked when ``u < rate``. So

- a replay of the same traffic with the same seed picks exactly the same requests;
- the picks are independent across requests (Poisson sampling, each request with its own
  known inclusion probability ``pi = rate``), which is what the Horvitz-Thompson weighting in
  :mod:`guardrail.review.live` needs (Horvitz & Thompson 1952, JASA 47(260):663-685);
- rates nest: a request picked at 5% is also picked at 10% (same ``u``);
- the sample is stratified by domain: every domain has its own rate (per-domain ``spot_check``
  settings in the policy files), so a small, high-stakes domain can be sampled more heavily.

Decisions with action ``review`` are never spot-checked: they are already in the queue.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

__all__ = ["DEFAULT_SPOT_CHECK_RATE", "SpotCheckSampler", "hash_fraction"]

#: The default spot-check fraction (10%).
DEFAULT_SPOT_CHECK_RATE = 0.10


def hash_fraction(request_id: str, seed: str | int = 0) -> float:
    """The request's sampling draw: a deterministic number in [0, 1).

    ``int.from_bytes(SHA-256(f"{seed}:{request_id}")[:8], "big") / 2**64``. SHA-256 output is
    indistinguishable from uniform, so over many distinct request ids the draws are i.i.d.
    Uniform[0, 1).
    """
    digest = hashlib.sha256(f"{seed}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _check_rate(rate: float, what: str) -> float:
    rate = float(rate)
    if math.isnan(rate) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{what} must be a fraction in [0, 1] (10% is 0.1), got {rate!r}")
    return rate


class SpotCheckSampler:
    """Decides which non-review decisions go to the review queue as spot checks.

    Args:
        rate: fraction in [0, 1] for domains without their own rate (default 0.10; 0 disables).
        seed: mixed into the hash; change it to draw a different (still reproducible) sample.
        domain_rates: domain -> fraction in [0, 1].

    Raises:
        ValueError: a rate outside [0, 1] or NaN.

    Example:
        >>> s = SpotCheckSampler(0.1, domain_rates={"medical": 0.5})
        >>> s.rate_for("medical"), s.rate_for("general")
        (0.5, 0.1)
        >>> s.should_sample("req-1", domain="medical", decision="review")
        False
    """

    def __init__(
        self,
        rate: float = DEFAULT_SPOT_CHECK_RATE,
        *,
        seed: str | int = 0,
        domain_rates: Mapping[str, float] | None = None,
    ) -> None:
        self.rate = _check_rate(rate, "spot-check rate")
        self.seed = seed
        self.domain_rates = {
            d: _check_rate(r, f"spot-check rate for domain {d!r}")
            for d, r in (domain_rates or {}).items()
        }

    @classmethod
    def from_policies(
        cls,
        policies: Mapping[str, object] | Iterable[object],
        *,
        default_rate: float = DEFAULT_SPOT_CHECK_RATE,
        seed: str | int = 0,
    ) -> SpotCheckSampler:
        """Build the sampler from loaded policies: each policy's ``spot_check`` setting (a fraction,
        or ``None`` when the file does not set it) becomes the rate of its domain.

        ``policies`` is either ``{domain: Policy}`` (as ``load_policies`` returns, keyed by policy
        name = domain) or an iterable of policies, whose ``name`` is taken as the domain.
        """
        items = (
            policies.items()
            if isinstance(policies, Mapping)
            else ((str(getattr(p, "name", "")), p) for p in policies)
        )
        rates: dict[str, float] = {}
        for domain, policy in items:
            value = getattr(policy, "spot_check", None)
            if value is not None:
                rates[domain] = float(value)
        return cls(default_rate, seed=seed, domain_rates=rates)

    def rate_for(self, domain: str | None) -> float:
        """The inclusion probability of a request in ``domain`` (the default rate when unknown)."""
        if domain is None:
            return self.rate
        return self.domain_rates.get(domain, self.rate)

    def draw(self, request_id: str) -> float:
        """The request's draw in [0, 1) (see :func:`hash_fraction`)."""
        return hash_fraction(request_id, self.seed)

    def should_sample(
        self, request_id: str, *, domain: str | None = None, decision: str = "pass"
    ) -> bool:
        """Whether this request is a spot-check pick. Always ``False`` for ``review`` decisions.

        Raises:
            ValueError: empty request id (it would collide with every other empty id).
        """
        if not request_id:
            raise ValueError("spot-check sampling needs a non-empty request id")
        if decision == "review":
            return False
        rate = self.rate_for(domain)
        return rate > 0.0 and self.draw(request_id) < rate

    def pick(
        self, request_id: str, *, domain: str | None = None, decision: str = "pass"
    ) -> float | None:
        """The sampling rate to store on the item when the request is picked, else ``None``."""
        if self.should_sample(request_id, domain=domain, decision=decision):
            return self.rate_for(domain)
        return None
