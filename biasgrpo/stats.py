"""Statistics for comparing models on the same examples: paired intervals, exact tests and power.

All models are evaluated on the same examples, so they are compared example by example
(SCIENCE.md, section 4):

- ``paired_bootstrap``: the difference of a metric (a mean over examples) between two models, with
  a percentile interval from resampling examples and, where a model has several seeds, its seeds
  (Efron & Tibshirani 1993; Koehn 2004). 10,000 resamples, a fixed RNG seed: the same inputs give
  the same interval. A percentile interval of a bounded metric stays inside its range.
- ``mcnemar_exact``: paired binary outcomes (BBQ correct / wrong): a two-sided binomial test of the
  b discordant pairs of one kind among the b + c discordant pairs, at p = 0.5.
- ``wilson_interval``: a proportion's interval, always inside [0, 1].
- Sample sizes at a chosen power: paired binary (Connor 1987), paired and unpaired continuous
  (normal approximation), unpaired binary (two proportions), and the number of seeds per arm from
  the seed-to-seed spread (noncentral t, exact for normal seed figures).

Everything here is a pure function of its arguments (numpy arrays or floats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
_CHUNK = 500  # resamples drawn at once: a [500, n] count matrix


def z(q: float) -> float:
    """The standard normal quantile: ``z(0.975)`` = 1.95996."""
    return NormalDist().inv_cdf(q)


# -------------------------------------------------------------- bootstrap ---
@dataclass(frozen=True)
class Interval:
    estimate: float
    lo: float
    hi: float
    p: float | None = None
    """Two-sided bootstrap p-value of a difference (None for one model's interval)."""


def _as_matrix(x: np.ndarray | list) -> np.ndarray:
    """``[S, n]`` float array: one row per seed (a 1-D input is one seed)."""
    m = np.asarray(x, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2 or m.shape[1] == 0 or m.shape[0] == 0:
        raise ValueError(f"expected [seeds, examples] values with at least one of each, got shape {m.shape}")
    return m


def bootstrap_stats(
    a: np.ndarray | list, b: np.ndarray | list | None = None, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """``resamples`` bootstrap replicates of mean(a) − mean(b) (or of mean(a) when b is None).

    ``a`` is ``[S_a, n]`` (S_a seeds of one model on n examples), ``b`` is ``[S_b, n]`` on the
    same n examples in the same order. Each replicate draws n examples with replacement (the same
    draw for both models: the pairing is kept) and, independently for each model, S seeds with
    replacement; its value is the mean over the drawn seeds and examples.
    """
    mats = [_as_matrix(a)] + ([] if b is None else [_as_matrix(b)])
    n = mats[0].shape[1]
    if any(m.shape[1] != n for m in mats):
        raise ValueError(f"the two models have different numbers of examples: {[m.shape[1] for m in mats]}")
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        r = min(_CHUNK, resamples - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=r).astype(np.float64)  # [r, n]
        value = np.zeros(r)
        for sign, m in zip((1.0, -1.0), mats):
            per_seed = counts @ m.T / n  # [r, S]: each seed's mean over the drawn examples
            s = m.shape[0]
            weights = rng.multinomial(s, np.full(s, 1.0 / s), size=r) / s  # [r, S]: drawn seeds
            value += sign * (weights * per_seed).sum(axis=1)
        out[start : start + r] = value
    return out


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """The (1 − level)/2 and (1 + level)/2 quantiles of the bootstrap replicates."""
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def paired_bootstrap(
    a: np.ndarray | list,
    b: np.ndarray | list,
    level: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval:
    """mean(a) − mean(b) over the same examples, its percentile interval, and a two-sided p-value.

    The p-value is twice the smaller share of replicates on either side of 0 (capped at 1): the
    smallest 1 − level at which the percentile interval would exclude 0.
    """
    reps = bootstrap_stats(a, b, resamples, seed)
    lo, hi = percentile_interval(reps, level)
    p = min(1.0, 2.0 * min(float(np.mean(reps <= 0)), float(np.mean(reps >= 0))))
    return Interval(float(_as_matrix(a).mean() - _as_matrix(b).mean()), lo, hi, p)


def bootstrap_mean(
    a: np.ndarray | list, level: float = 0.95, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> Interval:
    """One model's metric (mean over seeds and examples) and its percentile interval."""
    lo, hi = percentile_interval(bootstrap_stats(a, None, resamples, seed), level)
    return Interval(float(_as_matrix(a).mean()), lo, hi)


# ------------------------------------------------------------ exact tests ---
def discordant(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> tuple[int, int]:
    """(b, c) of McNemar's table for 0/1 outcomes of two models on the same examples:
    the examples ``a`` gets right and ``b`` wrong, and the reverse."""
    x, y = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    if x.shape != y.shape:
        raise ValueError(f"outcomes of different lengths: {x.shape} and {y.shape}")
    return int(np.sum(x & ~y)), int(np.sum(~x & y))


def binom_two_sided_half(k: int, n: int) -> float:
    """Two-sided exact binomial p-value of k successes in n trials at p = 0.5:
    2 · P(X ≤ min(k, n − k)), capped at 1 (the distribution is symmetric). 1 when n = 0."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1))
    return min(1.0, 2.0 * tail / 2**n)


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: two-sided binomial p-value of b among the b + c discordant pairs at 0.5."""
    return binom_two_sided_half(b, b + c)


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for k successes in n trials (Wilson 1927): inside [0, 1] always."""
    if n == 0:
        return 0.0, 1.0
    q = z((1 + level) / 2)
    p = k / n
    centre = (p + q * q / (2 * n)) / (1 + q * q / n)
    half = q * math.sqrt(p * (1 - p) / n + q * q / (4 * n * n)) / (1 + q * q / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def clamp(lo: float, hi: float, bounds: tuple[float, float]) -> tuple[float, float]:
    """An interval cut to a metric's range (e.g. a Student-t interval of an accuracy to [0, 1])."""
    return max(lo, bounds[0]), min(hi, bounds[1])


# ------------------------------------------------------------------ power ---
def _z_sum(alpha: float, power: float) -> tuple[float, float]:
    return z(1 - alpha / 2), z(power)


def n_paired_binary(d: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Questions needed to detect a change ``delta`` in a paired proportion with discordance rate ``d``
    (the share of questions where the two models differ in correctness), two-sided (Connor 1987):
    n = (z_{1−α/2} √d + z_{power} √(d − Δ²))² / Δ²."""
    if not 0 < abs(delta) <= d <= 1:
        raise ValueError(
            f"need 0 < |delta| <= d <= 1 (a change needs at least that many discordant pairs), got d={d}, delta={delta}"
        )
    za, zb = _z_sum(alpha, power)
    return (za * math.sqrt(d) + zb * math.sqrt(d - delta * delta)) ** 2 / delta**2


def n_unpaired_binary(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Examples per model to tell proportions p1 and p2 apart with independent samples:
    n = (z_{1−α/2} √(2 p̄ q̄) + z_{power} √(p1 q1 + p2 q2))² / (p1 − p2)²."""
    if p1 == p2:
        raise ValueError("p1 and p2 are equal: no sample size detects a zero effect")
    za, zb = _z_sum(alpha, power)
    pbar = (p1 + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return num**2 / (p1 - p2) ** 2


def n_paired_continuous(sd_diff: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Examples needed for a paired mean difference ``delta`` when the per-example differences have
    standard deviation ``sd_diff``: n = ((z_{1−α/2} + z_{power}) · sd_diff / Δ)²."""
    if delta == 0:
        raise ValueError("delta = 0: no sample size detects a zero effect")
    za, zb = _z_sum(alpha, power)
    return ((za + zb) * sd_diff / delta) ** 2


def n_unpaired_continuous(sd: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Examples per model for a difference of means ``delta``, independent samples of SD ``sd`` each:
    n = 2 (z_{1−α/2} + z_{power})² sd² / Δ²."""
    return 2 * n_paired_continuous(sd, delta, alpha, power)


def sd_diff_from_correlation(sd: float, rho: float) -> float:
    """SD of per-example differences of two models of equal per-example SD and correlation ρ: sd·√(2(1 − ρ))."""
    return sd * math.sqrt(2 * (1 - rho))


def mde_paired_continuous(n: int, sd_diff: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest paired mean difference n examples detect: (z_{1−α/2} + z_{power}) · sd_diff / √n."""
    za, zb = _z_sum(alpha, power)
    return (za + zb) * sd_diff / math.sqrt(n)


def mde_paired_binary(n: int, d: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest change in a paired proportion n questions detect at discordance d (Connor's n solved
    for Δ by bisection; d when even Δ = d needs more than n questions)."""
    lo, hi = 1e-9, d
    if n_paired_binary(d, hi, alpha, power) > n:
        return d
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if n_paired_binary(d, mid, alpha, power) > n else (lo, mid)
    return hi


def mde_unpaired_binary(n: int, p1: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest rise from p1 that n examples per model detect unpaired (bisection on Δ)."""
    lo, hi = 1e-9, 1 - p1
    if n_unpaired_binary(p1, 1.0 - 1e-12, alpha, power) > n:
        return hi
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if n_unpaired_binary(p1, p1 + mid, alpha, power) > n else (lo, mid)
    return hi


def two_sample_t_power(n: int, sd: float, delta: float, alpha: float = 0.05) -> float:
    """Power of a two-sided two-sample t test with n per arm (noncentral t with 2n − 2 degrees of freedom)."""
    from scipy import stats

    df = 2 * n - 2
    nc = abs(delta) / (sd * math.sqrt(2 / n))
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def seeds_needed(sd_seed: float, delta: float, alpha: float = 0.05, power: float = 0.8, most: int = 10_000) -> int:
    """Seeds per arm for a two-sample t test between two algorithms to detect ``delta`` at ``power``,
    given the seed-to-seed standard deviation of the figure; at least 2. ``most`` + 1 when even that
    many do not suffice."""
    if sd_seed == 0:
        return 2
    start = max(2, math.floor(n_unpaired_continuous(sd_seed, delta, alpha, power)) - 1)  # t needs at least ~this
    for n in range(start, most + 1):
        if two_sample_t_power(n, sd_seed, delta, alpha) >= power:
            return n
    return most + 1
