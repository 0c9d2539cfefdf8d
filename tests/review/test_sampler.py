"""Spot-check sampler: reproducibility, per-domain rates, review exclusion, and the sample fraction.

Binomial bounds: with p = 0.1 and n = 100,000 draws the sample fraction has standard deviation
sqrt(p(1-p)/n) = 0.000949; the tests allow 5 standard deviations (false-alarm odds ~ 6e-7).
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from guardrail.review import SpotCheckSampler, hash_fraction


def test_hash_fraction_is_the_documented_formula() -> None:
    # SHA-256("0:req-1") starts f9bdad6ca378e130 (sha256sum); 0xf9bdad6ca378e130 / 2**64:
    assert hash_fraction("req-1", 0) == 0xF9BDAD6CA378E130 / 2**64
    assert round(hash_fraction("req-1", 0), 6) == 0.975550
    # SHA-256("0:req-2") starts 86da1832393c89ae -> 0.526765...
    assert round(hash_fraction("req-2"), 6) == 0.526765
    assert hash_fraction("req-1", 1) != hash_fraction("req-1", 0)


def test_same_seed_same_picks_and_rates_nest() -> None:
    ids = [f"r{i}" for i in range(20_000)]
    a, b = SpotCheckSampler(0.1, seed=7), SpotCheckSampler(0.1, seed=7)
    picks_a = [i for i in ids if a.should_sample(i)]
    assert picks_a == [i for i in ids if b.should_sample(i)]
    small = {i for i in ids if SpotCheckSampler(0.05, seed=7).should_sample(i)}
    assert small <= set(picks_a) and 0 < len(small) < len(picks_a)


def test_fraction_matches_rate_per_domain() -> None:
    s = SpotCheckSampler(0.1, seed="prod", domain_rates={"medical": 0.5, "legal": 0.0})
    n = 100_000
    sd = math.sqrt(0.1 * 0.9 / n)
    frac = sum(s.should_sample(f"g{i}", domain="general") for i in range(n)) / n
    assert abs(frac - 0.1) < 5 * sd
    frac_med = sum(s.should_sample(f"m{i}", domain="medical") for i in range(n)) / n
    assert abs(frac_med - 0.5) < 5 * math.sqrt(0.25 / n)
    assert not any(s.should_sample(f"l{i}", domain="legal") for i in range(1000))
    assert s.pick("m-special", domain="medical") in (0.5, None)


def test_seeds_draw_independent_samples() -> None:
    n = 100_000
    a, b = SpotCheckSampler(0.1, seed=1), SpotCheckSampler(0.1, seed=2)
    both = sum(a.should_sample(f"x{i}") and b.should_sample(f"x{i}") for i in range(n)) / n
    assert abs(both - 0.01) < 5 * math.sqrt(0.01 * 0.99 / n)  # independent: 0.1 * 0.1


def test_review_decisions_are_never_spot_checked() -> None:
    s = SpotCheckSampler(1.0)
    assert s.should_sample("r1", decision="pass")
    assert s.should_sample("r1", decision="abstain")
    assert not s.should_sample("r1", decision="review")
    assert s.pick("r1", decision="review") is None
    assert s.pick("r1", decision="notice") == 1.0


def test_bad_rates_and_ids() -> None:
    with pytest.raises(ValueError, match=r"10% is 0.1"):
        SpotCheckSampler(10)
    with pytest.raises(ValueError, match="medical"):
        SpotCheckSampler(0.1, domain_rates={"medical": -0.1})
    with pytest.raises(ValueError):
        SpotCheckSampler(float("nan"))
    with pytest.raises(ValueError, match="request id"):
        SpotCheckSampler().should_sample("")


def test_from_policies_reads_spot_check() -> None:
    pols = {
        "medical": SimpleNamespace(name="medical", spot_check=0.25),
        "general": SimpleNamespace(name="general", spot_check=None),
    }
    s = SpotCheckSampler.from_policies(pols, default_rate=0.1, seed=3)
    assert (s.rate_for("medical"), s.rate_for("general"), s.rate_for("legal")) == (0.25, 0.1, 0.1)
    s2 = SpotCheckSampler.from_policies(list(pols.values()))
    assert s2.domain_rates == {"medical": 0.25}


def test_rates_come_from_the_bundled_policy_files(repo_root: Path) -> None:
    """``spot_check`` settings in policies/*.guard: finance 10%, general 2%, legal 20%,
    medical 20% (read from the files)."""
    from guardrail.policy import load_policies

    s = SpotCheckSampler.from_policies(load_policies(repo_root / "policies"))
    assert s.domain_rates == {"finance": 0.10, "general": 0.02, "legal": 0.20, "medical": 0.20}
