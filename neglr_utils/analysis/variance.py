"""Where the variance of the probe's effect lives, and how many seeds a question needs.

One trained model is one draw of its algorithm; a probe of it averages task pairs. The
per-pair primary difference ``Delta_si`` (seed s, task pair i) splits, in a one-way
random-effects model ``Delta_si = mu + b_s + e_si``, into a between-seed part
``sigma_b^2`` (what another training seed changes) and a within-seed part ``sigma_w^2``
(what another task pair changes). The intraclass correlation
``ICC = sigma_b^2 / (sigma_b^2 + sigma_w^2)`` says which one a study must average over.

With seeds as the unit, the per-seed mean ``Delta_s`` has standard deviation
``sd = sqrt(sigma_b^2 + sigma_w^2 / n_pairs)``; from it:

- `seeds_to_detect`: seeds per comparison for a one-sample t-test over seeds to detect a
  mean of ``effect`` with the given power (two-sided, level alpha; noncentral t);
- `seeds_for_equivalence`: seeds for TOST within ``+-margin`` to succeed with the given
  power when the true mean is 0 (Chow, Shao & Wang 2008, eq. 3.2.4 with the t
  distribution);
- `probability_of_improvement`: P(X > Y) over pairs of seeds of two algorithms (ties
  count one half), with a percentile bootstrap interval over seeds (Agarwal et al. 2021;
  Bouthillier et al. 2021).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ..stats import Values, as_array

MAX_SEEDS = 100_000


@dataclass(frozen=True)
class VarianceParts:
    """A one-way random-effects decomposition of per-pair values grouped by seed."""

    n_seeds: int
    n_pairs: int  # per seed (balanced)
    grand_mean: float
    sd_between: float  # sigma_b: standard deviation of the seed effects (0 when MSB < MSW)
    sd_within: float  # sigma_w: standard deviation over task pairs within a seed
    sd_seed_means: float  # observed standard deviation of the per-seed means (ddof=1)

    @property
    def icc(self) -> float:
        total = self.sd_between**2 + self.sd_within**2
        return self.sd_between**2 / total if total > 0 else math.nan

    @property
    def sd_per_seed(self) -> float:
        """Model-based sd of one seed's mean over its pairs: sqrt(sb^2 + sw^2 / n)."""
        return self.sd_per_seed_at(self.n_pairs)

    def sd_per_seed_at(self, n_pairs: int) -> float:
        """Model-based sd of one seed's mean over ``n_pairs`` task pairs."""
        return math.sqrt(self.sd_between**2 + self.sd_within**2 / n_pairs)


MORE_PAIRS = 10  # "what if each seed were probed on this many times the task pairs?"


@dataclass(frozen=True)
class SeedsNeeded:
    """Seeds per algorithm each question needs at a dataset's measured spread."""

    detect: int  # detect the effect, at the observed sd of the per-seed means
    equivalence: int  # show the mean within +- the effect when it is 0
    detect_more_pairs: int  # detect it with `factor` times the task pairs per seed
    factor: int
    detect_any_pairs: int  # the floor: with unlimited pairs only the seed effect sb is left


def seeds_needed(parts: VarianceParts, effect: float, factor: int = MORE_PAIRS
                 ) -> SeedsNeeded:
    """`SeedsNeeded` for ``effect``; with more task pairs only the within-seed part of the
    per-seed sd shrinks: sqrt(sb^2 + sw^2 / (factor n))."""
    sd = parts.sd_seed_means
    return SeedsNeeded(seeds_to_detect(effect, sd), seeds_for_equivalence(effect, sd),
                       seeds_to_detect(effect, parts.sd_per_seed_at(factor * parts.n_pairs)),
                       factor,
                       seeds_to_detect(effect, parts.sd_between) if parts.sd_between > 0 else 2)


def decompose(groups: Sequence[Values]) -> VarianceParts:
    """ANOVA estimates for ``groups`` (one array of per-pair values per seed, equal sizes):
    ``sigma_w^2 = MSW``, ``sigma_b^2 = max(0, (MSB - MSW) / n)``."""
    arrays = [as_array(g) for g in groups]
    if len(arrays) < 2:
        raise ValueError(f"a between-seed variance needs at least 2 seeds, got {len(arrays)}")
    n = arrays[0].size
    if n < 2 or any(a.size != n for a in arrays):
        raise ValueError(f"each seed needs the same number (>= 2) of pairs: "
                         f"{[a.size for a in arrays]}")
    x = np.stack(arrays)  # [seeds, pairs]
    k = x.shape[0]
    means = x.mean(axis=1)
    msb = n * ((means - x.mean()) ** 2).sum() / (k - 1)
    msw = ((x - means[:, None]) ** 2).sum() / (k * (n - 1))
    var_b = max(0.0, (msb - msw) / n)
    return VarianceParts(k, n, float(x.mean()), math.sqrt(var_b), math.sqrt(msw),
                         float(means.std(ddof=1)))


def power_one_sample(n: int, effect: float, sd: float, alpha: float = 0.05) -> float:
    """Power of the two-sided one-sample t-test with ``n`` values to detect ``effect``."""
    if n < 2:
        return 0.0
    df, nc = n - 1, abs(effect) / sd * math.sqrt(n)
    crit = sps.t.ppf(1 - alpha / 2, df)
    return float(sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc))


def seeds_to_detect(effect: float, sd: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """The smallest number of seeds whose one-sample t-test over seeds detects ``effect``
    (the mean per-seed difference) with ``power``, given the per-seed ``sd``."""
    return _smallest_n(lambda n: power_one_sample(n, effect, sd, alpha), power)


def power_equivalence(n: int, margin: float, sd: float, alpha: float = 0.05) -> float:
    """Power of TOST within ``+-margin`` with ``n`` values when the true mean is 0:
    ``2 F_t(margin sqrt(n) / sd - t_{1-alpha, n-1}) - 1`` (0 when negative)."""
    if n < 2:
        return 0.0
    df = n - 1
    z = margin * math.sqrt(n) / sd - sps.t.ppf(1 - alpha, df)
    return max(0.0, float(2 * sps.t.cdf(z, df) - 1))


def seeds_for_equivalence(margin: float, sd: float, power: float = 0.8,
                          alpha: float = 0.05) -> int:
    """The smallest number of seeds whose TOST shows equivalence within ``+-margin`` with
    ``power`` when the true mean difference is 0."""
    return _smallest_n(lambda n: power_equivalence(n, margin, sd, alpha), power)


def _smallest_n(power_at, target: float) -> int:
    """The smallest n >= 2 with ``power_at(n) >= target`` (power rises with n)."""
    if power_at(MAX_SEEDS) < target:
        return MAX_SEEDS
    lo, hi = 2, 2
    while power_at(hi) < target:
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class Improvement:
    """P(X > Y) over pairs of seeds with its bootstrap interval."""

    p: float
    low: float
    high: float
    n_x: int
    n_y: int


def prob_greater(x: Values, y: Values) -> float:
    """P(X > Y) + 0.5 P(X = Y) over every pair (x_i, y_j): the Mann-Whitney U / (n m)."""
    a, b = as_array(x), as_array(y)
    diff = a[:, None] - b[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def probability_of_improvement(x: Values, y: Values, *, n_boot: int = 10_000,
                               confidence: float = 0.95, seed: int = 0) -> Improvement:
    """P(X > Y) for per-seed values of two algorithms, with a percentile bootstrap
    interval (each algorithm's seeds resampled with replacement, ``seed``-ed)."""
    a, b = as_array(x), as_array(y)
    if a.size < 1 or b.size < 1:
        raise ValueError("probability_of_improvement needs at least one seed of each")
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, a.size, size=(n_boot, a.size))
    ib = rng.integers(0, b.size, size=(n_boot, b.size))
    diff = a[ia][:, :, None] - b[ib][:, None, :]
    boots = (diff > 0).mean(axis=(1, 2)) + 0.5 * (diff == 0).mean(axis=(1, 2))
    tail = (1 - confidence) / 2
    low, high = np.quantile(boots, [tail, 1 - tail])
    return Improvement(prob_greater(a, b), float(low), float(high), int(a.size), int(b.size))
