"""Exact binomial confidence intervals (Clopper-Pearson) from our own regularized incomplete beta.

Sources: Clopper & Pearson, "The use of confidence or fiducial limits illustrated in the case of
the binomial", Biometrika 26(4), 1934. The regularized incomplete beta function is evaluated with
its continued fraction (Abramowitz & Stegun 26.5.8) by the modified Lentz method
(Press et al., *Numerical Recipes*, 3rd ed., section 6.4); its inverse by safeguarded Newton
iteration with bisection fallback.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict

_TINY = 1e-300
_EPS = 1e-15


def _beta_cf(a: float, b: float, x: float) -> float:
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b})")


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta ``I_x(a, b)`` for ``a, b > 0`` and ``x`` in [0, 1].

    Raises:
        ValueError: ``a`` or ``b`` not positive, or ``x`` outside [0, 1].
    """
    if a <= 0.0 or b <= 0.0:
        raise ValueError(f"betainc needs a > 0 and b > 0, got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc needs x in [0, 1], got {x}")
    if x == 0.0:
        return 0.0
    if x == 1.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def beta_ppf(q: float, a: float, b: float) -> float:
    """Quantile of Beta(a, b): the ``p`` with ``I_p(a, b) = q`` (absolute tolerance 1e-13)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile level must be in [0, 1], got {q}")
    if q == 0.0:
        return 0.0
    if q == 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    # start from the normal approximation of Beta(a, b), which is close for large a + b
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
    p = mean + NormalDist().inv_cdf(q) * sd
    if not 0.0 < p < 1.0:
        p = mean
    log_b = _log_beta(a, b)
    for _ in range(300):
        f = betainc(a, b, p) - q
        if f == 0.0:
            return p
        if f > 0.0:
            hi = p
        else:
            lo = p
        pdf = math.exp((a - 1.0) * math.log(p) + (b - 1.0) * math.log1p(-p) - log_b)
        step_ok = pdf > 0.0 and math.isfinite(pdf)
        nxt = p - f / pdf if step_ok else 0.5 * (lo + hi)
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - p) < 1e-13 or hi - lo < 1e-15:
            return nxt
        p = nxt
    return p


class BinomialInterval(BaseModel):
    """A two-sided confidence interval for a binomial proportion ``k / n`` (all in [0, 1])."""

    model_config = ConfigDict(frozen=True)

    estimate: float
    low: float
    high: float
    level: float
    k: int
    n: int


def clopper_pearson(k: int, n: int, level: float = 0.95) -> BinomialInterval:
    """Exact (Clopper-Pearson 1934) interval for a proportion with ``k`` successes in ``n`` trials.

    ``low = Beta^{-1}(alpha/2; k, n-k+1)`` (0 when k = 0) and
    ``high = Beta^{-1}(1-alpha/2; k+1, n-k)`` (1 when k = n), ``alpha = 1 - level``. An all-correct
    bin therefore gets ``[(alpha/2)^(1/n), 1]``, never a zero-width interval.

    Raises:
        ValueError: ``n < 1``, ``k`` outside ``0..n`` or ``level`` not in (0, 1).
    """
    if n < 1:
        raise ValueError(f"clopper_pearson needs n >= 1, got n={n}")
    if not 0 <= k <= n:
        raise ValueError(f"clopper_pearson needs 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    alpha = 1.0 - level
    low = 0.0 if k == 0 else beta_ppf(alpha / 2.0, k, n - k + 1)
    high = 1.0 if k == n else beta_ppf(1.0 - alpha / 2.0, k + 1, n - k)
    return BinomialInterval(estimate=k / n, low=low, high=high, level=level, k=k, n=n)
