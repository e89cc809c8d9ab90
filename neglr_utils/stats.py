"""The book's statistics: one confidence interval, paired tests, equivalence, Holm.

Every interval in the book comes from `mean_ci` (Student's t with n - 1 degrees of
freedom). The unit of a test is stated by what is passed in: per-task differences of one
trained model (probe task pairs), or per-seed means (training seeds, the unit that speaks
for the algorithm rather than for one trained network).

- `paired_test`: t-test of paired differences and the Wilcoxon signed-rank test. Probe
  accuracies are counts of correct queries, so many differences are exactly zero; the
  Wilcoxon test ranks them with the others and then drops them (Pratt 1959,
  ``zero_method="pratt"``), which keeps the information that those pairs did not move.
- `tost`: two one-sided tests (Schuirmann 1987) of |mean| < margin; equivalent at level
  alpha exactly when the (1 - 2 alpha) interval lies inside (-margin, margin).
- `holm`: Holm's step-down adjustment over a family of tests shown together.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from torch import Tensor

Values = Tensor | Sequence[float] | np.ndarray


def as_array(values: Values) -> np.ndarray:
    """Float64 numpy vector of ``values`` (a tensor, a list or an array)."""
    if isinstance(values, Tensor):
        return values.detach().double().cpu().numpy().ravel()
    return np.asarray(values, dtype=np.float64).ravel()


@dataclass(frozen=True)
class Interval:
    """A mean with its t-based confidence interval (NaN bounds when n < 2)."""

    mean: float
    low: float
    high: float
    sd: float  # sample standard deviation (ddof=1) of the values
    n: int
    confidence: float = 0.95

    @property
    def half(self) -> float:
        """Half-width of the interval (NaN when undefined)."""
        return (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)

    def negated(self) -> Interval:
        """The interval of minus the values."""
        return dataclasses.replace(self, mean=-self.mean, low=-self.high, high=-self.low)


def mean_ci(values: Values, confidence: float = 0.95) -> Interval:
    """Mean of ``values`` with the interval ``mean ± t_{n-1} sd / sqrt(n)``."""
    v = as_array(values)
    if v.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, math.nan, math.nan, math.nan, 1, confidence)
    sd = float(v.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, v.size - 1)) * sd / math.sqrt(v.size)
    return Interval(mean, mean - half, mean + half, sd, int(v.size), confidence)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison: the differences x - y, their t-test and Wilcoxon test."""

    diff: Interval
    t: float
    p: float
    p_wilcoxon: float  # NaN when every difference is zero
    cohens_d: float  # d_z = mean / sd of the differences (NaN when sd = 0)
    n_zero: int  # differences exactly zero


def paired_test(x: Values, y: Values | float = 0.0) -> PairedTest:
    """Paired test of x against y (same units, same order), or of x against a constant.

    t and p are NaN when all differences are equal (the t statistic is undefined).
    """
    a = as_array(x)
    b = np.full_like(a, float(y)) if np.isscalar(y) else as_array(y)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {a.size} and {b.size}")
    d = a - b
    ci = mean_ci(d)
    if d.size < 2 or np.ptp(d) == 0:
        t = p = math.nan
    else:
        res = sps.ttest_1samp(d, 0.0)
        t, p = float(res.statistic), float(res.pvalue)
    sd = ci.sd
    d_z = ci.mean / sd if sd and math.isfinite(sd) and sd > 0 else math.nan
    return PairedTest(ci, t, p, wilcoxon(d), d_z, int((d == 0).sum()))


def wilcoxon(diff: Values) -> float:
    """Two-sided Wilcoxon signed-rank p of ``diff`` (Pratt's treatment of zeros)."""
    d = as_array(diff)
    if not np.any(d != 0):
        return math.nan
    return float(sps.wilcoxon(d, zero_method="pratt").pvalue)


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests of |mean| < margin."""

    margin: float
    p: float  # the larger of the two one-sided p-values
    interval: Interval  # the (1 - 2 alpha) interval the decision rests on
    alpha: float

    @property
    def equivalent(self) -> bool:
        return bool(self.p < self.alpha)


def tost(values: Values, margin: float, alpha: float = 0.05) -> Equivalence:
    """TOST of the mean of ``values`` (differences) within ``(-margin, margin)``.

    H0: mean <= -margin or mean >= margin. p = max of the one-sided p-values of
    ``t_low = (mean + margin) / se`` (upper tail) and ``t_high = (mean - margin) / se``
    (lower tail), each with n - 1 degrees of freedom.
    """
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    v = as_array(values)
    ci = mean_ci(v, 1 - 2 * alpha)
    if v.size < 2 or not ci.sd > 0:
        return Equivalence(margin, math.nan, ci, alpha)
    se = ci.sd / math.sqrt(v.size)
    p_low = float(sps.t.sf((ci.mean + margin) / se, v.size - 1))
    p_high = float(sps.t.cdf((ci.mean - margin) / se, v.size - 1))
    return Equivalence(margin, max(p_low, p_high), ci, alpha)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order (NaN entries stay NaN, not counted)."""
    p = np.asarray(pvalues, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(p))
    out = np.full(p.shape, math.nan)
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def welch_ci(x: Values, y: Values, confidence: float = 0.95) -> Interval:
    """The difference of means x - y with Welch's t-interval (unequal variances; NaN
    bounds when either sample has fewer than 2 values). ``sd`` is the standard error's
    sqrt(n)-free analogue sqrt(sx^2 + sy^2) and ``n`` the smaller sample size."""
    a, b = as_array(x), as_array(y)
    if a.size == 0 or b.size == 0:
        raise ValueError("welch_ci needs at least one value on each side")
    mean = float(a.mean() - b.mean())
    n = int(min(a.size, b.size))
    if a.size < 2 or b.size < 2:
        return Interval(mean, math.nan, math.nan, math.nan, n, confidence)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(mean, mean, mean, 0.0, n, confidence)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(sps.t.ppf(0.5 + confidence / 2, df)) * se
    sd = math.sqrt(a.var(ddof=1) + b.var(ddof=1))
    return Interval(mean, mean - half, mean + half, sd, n, confidence)
