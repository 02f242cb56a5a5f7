"""biasgrpo/stats.py against hand-worked cases and scipy.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from biasgrpo import stats


def test_normal_quantiles_match_scipy() -> None:
    for q in (0.8, 0.9, 0.975, 0.995):
        assert stats.z(q) == pytest.approx(sp.norm.ppf(q), abs=1e-9)


# -------------------------------------------------------------- McNemar ---
def test_mcnemar_hand_worked() -> None:
    # b = 1, c = 5: P(X <= 1 | n=6, p=.5) = (1 + 6) / 64; two-sided: 14/64
    assert stats.mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert stats.mcnemar_exact(5, 1) == pytest.approx(14 / 64)
    assert stats.mcnemar_exact(3, 3) == 1.0  # symmetric: capped at 1
    assert stats.mcnemar_exact(0, 0) == 1.0  # no discordant pair: no evidence
    assert stats.mcnemar_exact(0, 10) == pytest.approx(2 / 1024)


@pytest.mark.parametrize(("b", "c"), [(1, 5), (7, 20), (40, 61), (0, 3), (300, 250), (12, 12)])
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    assert stats.mcnemar_exact(b, c) == pytest.approx(sp.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_discordant_counts() -> None:
    a = [1, 1, 0, 0, 1, 0]
    b = [1, 0, 1, 0, 0, 0]
    assert stats.discordant(a, b) == (2, 1)  # a right / b wrong at 1 and 4; the reverse at 2


# --------------------------------------------------------------- Wilson ---
def test_wilson_interval_hand_worked_and_in_range() -> None:
    lo, hi = stats.wilson_interval(5, 10, 0.95)  # p = 0.5: centre 0.5, half = 1.96·√(0.025 + 0.0096)/1.384
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert stats.wilson_interval(0, 7)[0] == 0.0 and 0 < stats.wilson_interval(0, 7)[1] < 1
    assert stats.wilson_interval(7, 7)[1] == 1.0 and 0 < stats.wilson_interval(7, 7)[0] < 1
    assert stats.clamp(-3.3, 3.9, (0.0, 1.0)) == (0.0, 1.0)


def test_wilson_matches_scipy_binomtest_proportion_ci() -> None:
    for k, n in ((3, 14), (50, 200), (0, 5)):
        ci = sp.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert stats.wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


# ------------------------------------------------------------ bootstrap ---
def test_constant_difference_gives_a_point_interval() -> None:
    a = np.array([0.3, 0.5, 0.9, 0.1])
    out = stats.paired_bootstrap(a + 0.2, a, resamples=2000)
    assert out.estimate == pytest.approx(0.2)
    assert (out.lo, out.hi) == pytest.approx((0.2, 0.2))
    assert out.p == 0.0


def test_paired_bootstrap_is_deterministic_and_close_to_normal_theory() -> None:
    rng = np.random.default_rng(1)
    base = (rng.random(1500) < 0.3).astype(float)
    flip = rng.random(1500) < 0.2  # 20% discordant
    trained = np.where(flip, 1 - base, base)
    one = stats.paired_bootstrap(trained, base)
    assert one == stats.paired_bootstrap(trained, base)  # fixed RNG seed
    d = trained - base
    half = 1.95996 * d.std(ddof=1) / math.sqrt(len(d))
    assert one.estimate == pytest.approx(d.mean())
    assert one.hi - one.lo == pytest.approx(2 * half, rel=0.05)
    assert one.lo < one.estimate < one.hi


def test_pairing_narrows_the_interval() -> None:
    rng = np.random.default_rng(2)
    base = rng.random(400)
    trained = base + 0.01 + 0.02 * rng.standard_normal(400)  # strongly correlated with base
    paired = stats.paired_bootstrap(trained, base)
    unpaired_half = 1.96 * math.sqrt(trained.var(ddof=1) / 400 + base.var(ddof=1) / 400)
    assert (paired.hi - paired.lo) / 2 < unpaired_half / 5
    assert paired.lo > 0 and paired.p < 0.05


def test_seeds_are_resampled_too() -> None:
    # Two seeds of the trained model that differ by a constant: with seed resampling the interval
    # must cover both seeds' differences; resampling examples alone would give a point interval.
    base = np.linspace(0, 1, 50)
    trained = np.stack([base + 0.1, base + 0.3])
    out = stats.paired_bootstrap(trained, base, resamples=4000)
    assert out.estimate == pytest.approx(0.2)
    assert out.lo == pytest.approx(0.1) and out.hi == pytest.approx(0.3)  # 1/4 of draws pick seed 0 twice


def test_bootstrap_interval_of_an_accuracy_stays_in_range() -> None:
    acc = np.array([[1.0] * 13 + [0.0], [1.0] * 14])  # two seeds, near-perfect
    out = stats.bootstrap_mean(acc)
    assert 0.0 <= out.lo <= out.estimate <= out.hi <= 1.0


def test_bootstrap_rejects_unaligned_examples() -> None:
    with pytest.raises(ValueError, match="different numbers of examples"):
        stats.paired_bootstrap([1.0, 0.0], [1.0, 0.0, 1.0])


# ---------------------------------------------------------------- power ---
def test_connor_sample_size_matches_the_worked_example() -> None:
    # SCIENCE.md: d = 0.2, Δ = 0.037 needs about 1,150 questions.
    n = stats.n_paired_binary(0.2, 0.037)
    hand = (1.95996 * math.sqrt(0.2) + 0.84162 * math.sqrt(0.2 - 0.037**2)) ** 2 / 0.037**2
    assert n == pytest.approx(hand, rel=1e-4)
    assert 1140 < n < 1150
    with pytest.raises(ValueError, match="delta"):
        stats.n_paired_binary(0.01, 0.037)


def test_unpaired_binary_sample_size_hand_worked() -> None:
    n = stats.n_unpaired_binary(0.2750, 0.3123)  # the paper's BBQ base and GRPO: about 2,300 per model
    pbar = (0.2750 + 0.3123) / 2
    hand = (
        1.95996 * math.sqrt(2 * pbar * (1 - pbar)) + 0.84162 * math.sqrt(0.275 * 0.725 + 0.3123 * 0.6877)
    ) ** 2 / 0.0373**2
    assert n == pytest.approx(hand, rel=1e-4)
    assert 2300 < n < 2400


def test_continuous_sample_sizes_and_mde_invert_each_other() -> None:
    n = stats.n_paired_continuous(0.2, 0.01)
    assert n == pytest.approx(((1.95996 + 0.84162) * 0.2 / 0.01) ** 2, rel=1e-4)  # 3,140
    assert stats.n_unpaired_continuous(0.2, 0.01) == pytest.approx(2 * n)
    assert stats.mde_paired_continuous(round(n), 0.2) == pytest.approx(0.01, rel=1e-3)
    assert stats.sd_diff_from_correlation(0.2, 0.5) == pytest.approx(0.2)
    n_b = stats.n_paired_binary(0.2, 0.037)
    assert stats.mde_paired_binary(math.ceil(n_b), 0.2) == pytest.approx(0.037, rel=1e-3)
    n_u = stats.n_unpaired_binary(0.275, 0.3123)
    assert stats.mde_unpaired_binary(math.ceil(n_u), 0.275) == pytest.approx(0.0373, rel=1e-3)


def test_continuous_power_matches_simulation_free_scipy_check() -> None:
    # At n from the formula, the normal-approximation power is 0.8: Φ(Δ√n/sd − z_{.975}) = 0.8.
    n = stats.n_paired_continuous(0.3, 0.02)
    assert sp.norm.cdf(0.02 * math.sqrt(n) / 0.3 - sp.norm.ppf(0.975)) == pytest.approx(0.8, abs=1e-6)


def test_seeds_needed_uses_the_t_distribution() -> None:
    # sd = Δ: normal theory says 2·(2.8016)² = 15.7 per arm; the t test needs 17.
    assert stats.seeds_needed(1.0, 1.0) == 17
    assert stats.two_sample_t_power(17, 1.0, 1.0) >= 0.8 > stats.two_sample_t_power(16, 1.0, 1.0)
    assert stats.seeds_needed(0.1, 1.0) == 2
    assert stats.seeds_needed(0.0, 1.0) == 2
