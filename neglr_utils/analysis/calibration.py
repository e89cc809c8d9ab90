"""Is the report's test calibrated? Its p-value between two models of the *same* algorithm.

The report compares one Meta-SGD model with one MAML model by a t-test over probe task
pairs and reads p = 0.00044 as "a real phenomenon". Two trained models differ even when
they come from the same algorithm (another seed), and a test over task pairs of one pair
of models cannot tell that difference from the algorithm's. The placebo: every pair of
runs of a dataset probed on the same task pairs, tested the report's way; same-algorithm
pairs (only the seed differs) should give small p-values no more often than chance if the
test measured the algorithm. Two forms of the per-pair statistic:

- ``off − pre_b``: each model's off-task change against task B's own baseline (the
  book's primary change), compared pair by pair;
- ``off − on``: each model's off-task minus on-task accuracy (the report's "relative
  changes between on-task and off-task performance").
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ..core.probe import TRAINED, PairAccuracies, ProbeConfig, ProbeResult
from ..runs.probes import select
from ..stats import paired_test

FORMS = ("off − pre_b", "off − on")
MISCALIBRATED = 0.05  # more same-algorithm pairs below the report's p: not calibrated
MIN_PLACEBO = 3  # fewer same-algorithm pairs say nothing about calibration


def form_values(acc: PairAccuracies, form: str) -> np.ndarray:
    """The per-pair statistic of one model: ``[n_pairs]``."""
    if form == "off − pre_b":
        return acc.off_b - acc.pre_b
    if form == "off − on":
        return acc.off_b - acc.on_a
    raise ValueError(f"form={form!r}; choose one of {FORMS}")


def check_same_tasks(results: Sequence[ProbeResult]) -> None:
    """Raise a ValueError unless every result was probed on the same task pairs.

    The task lists are a function of the dataset, its image size, the ways and shots, and
    the probe settings (seed, split, queries, disjointness): equal keys mean equal pairs.
    """
    def key(r: ProbeResult) -> tuple:
        return (r.run.dataset, tuple(sorted(r.config.key().items())), r.n_query, r.acc.n,
                round(r.frac_shared, 12))

    keys = {key(r): r for r in results}
    if len(keys) > 1:
        (k1, a), (k2, b) = list(keys.items())[:2]
        raise ValueError(
            f"probe results on different task pairs cannot be compared pair by pair: "
            f"{a.run.algo} seed {a.run.seed} has {k1}, {b.run.algo} seed {b.run.seed} has "
            f"{k2}; probe every run with the same ProbeConfig (seed, split, k_query)")


@dataclass(frozen=True)
class PlaceboPair:
    """The report's test between two runs of one dataset."""

    algo_x: str
    seed_x: int
    algo_y: str
    seed_y: int
    form: str
    p: float
    mean_diff: float  # mean over task pairs of the statistic, x minus y
    sd_diff: float  # its standard deviation over task pairs
    n: int  # task pairs

    @property
    def same_algorithm(self) -> bool:
        return self.algo_x == self.algo_y

    def ahead(self, algo: str) -> bool:
        """Whether ``algo``'s model has the larger mean statistic of the two."""
        if algo not in (self.algo_x, self.algo_y):
            raise ValueError(f"{algo!r} is neither {self.algo_x!r} nor {self.algo_y!r}")
        return self.mean_diff > 0 if algo == self.algo_x else self.mean_diff < 0


@dataclass(frozen=True)
class Calibration:
    """Every pair of runs of one dataset, tested the report's way, in one form."""

    form: str
    pairs: tuple[PlaceboPair, ...]
    threshold: float  # the report's p

    @property
    def placebo(self) -> tuple[PlaceboPair, ...]:
        return tuple(p for p in self.pairs if p.same_algorithm)

    @property
    def between(self) -> tuple[PlaceboPair, ...]:
        return tuple(p for p in self.pairs if not p.same_algorithm)

    @property
    def n_placebo_below(self) -> int:
        """Same-algorithm pairs whose p is below the report's."""
        return sum(p.p < self.threshold for p in self.placebo)

    @property
    def n_between_below(self) -> int:
        """Different-algorithm pairs whose p is below the report's."""
        return sum(p.p < self.threshold for p in self.between)

    @property
    def fraction_placebo_below(self) -> float:
        return self.n_placebo_below / len(self.placebo) if self.placebo else float("nan")

    @property
    def calibrated(self) -> bool | None:
        """At most `MISCALIBRATED` of the same-algorithm pairs fall below the report's p (a
        calibrated test: the p itself, 0.044 %); None with fewer than `MIN_PLACEBO` pairs."""
        if len(self.placebo) < MIN_PLACEBO:
            return None
        return self.fraction_placebo_below <= MISCALIBRATED

    def n_reach(self, algo: str = "meta-sgd") -> int:
        """Different-algorithm pairs below the report's p with ``algo`` ahead (the
        report's direction for Meta-SGD)."""
        return sum(p.p < self.threshold and p.ahead(algo) for p in self.between)

    @property
    def algorithms_reach(self) -> bool | None:
        """Most different-algorithm pairs fall below the report's p with Meta-SGD ahead;
        None when there is no such pair."""
        return self.n_reach() > len(self.between) / 2 if self.between else None


def median_p(pairs: Sequence[PlaceboPair]) -> float:
    """The median p-value of ``pairs`` (the mean of the middle two for an even count)."""
    if not pairs:
        raise ValueError("median_p needs at least one pair")
    return float(np.median([p.p for p in pairs]))


def calibrate(results: Sequence[ProbeResult], config: ProbeConfig, threshold: float,
              form: str = "off − pre_b", algos: Sequence[str] | None = None) -> Calibration:
    """The report's paired t-test over task pairs for every pair of runs (as trained, the
    main runs) probed with ``config``; ``algos`` restricts the runs."""
    runs = [r for r in select(results, condition=TRAINED, config=config)
            if algos is None or r.run.algo in algos]
    runs.sort(key=lambda r: (r.run.algo, r.run.seed))
    check_same_tasks(runs)
    pairs = []
    for x, y in itertools.combinations(runs, 2):
        t = paired_test(form_values(x.acc, form), form_values(y.acc, form))
        pairs.append(PlaceboPair(x.run.algo, x.run.seed, y.run.algo, y.run.seed, form, t.p,
                                 t.diff.mean, t.diff.sd, t.diff.n))
    return Calibration(form, tuple(pairs), threshold)


def critical_difference(threshold: float, sd: float, n_pairs: int) -> float:
    """The smallest mean difference over ``n_pairs`` task pairs, per-pair sd ``sd``, whose
    two-sided paired t-test gives p below ``threshold``."""
    return float(sps.t.ppf(1 - threshold / 2, n_pairs - 1) * sd / np.sqrt(n_pairs))


@dataclass(frozen=True)
class Reach:
    """What the report's test can see between two models at ``n_pairs`` task pairs, from
    the same-algorithm pairs of a `Calibration` (their per-pair sd, pooled)."""

    n_pairs: int
    detectable: float  # smallest |mean difference| with p below the threshold
    largest: float  # largest |mean difference| of the same-algorithm pairs (at their n)

    def misses(self, effect: float) -> bool:
        """Whether only a difference larger than ``effect`` can reach the threshold."""
        return self.detectable > abs(effect)


def reach(cal: Calibration, n_pairs: int | None = None) -> Reach | None:
    """`Reach` of the report's test at ``n_pairs`` task pairs (None: the probed number);
    None without same-algorithm pairs."""
    same = cal.placebo
    if not same:
        return None
    n_pairs = same[0].n if n_pairs is None else n_pairs
    sd = float(np.sqrt(np.mean([p.sd_diff ** 2 for p in same])))
    return Reach(n_pairs, critical_difference(cal.threshold, sd, n_pairs),
                 max(abs(p.mean_diff) for p in same))


@dataclass(frozen=True)
class ModelEffect:
    """How much the trained models of one algorithm differ in a statistic beyond task-pair
    noise: a two-way ANOVA of ``x[model, pair]`` without replication,

        E[MS_model] = σ_e² + n σ_m²,   E[MS_residual] = σ_e²,   F = MS_model / MS_residual

    on (M − 1, (M − 1)(n − 1)) degrees of freedom. The 95 % interval of σ_m comes from that
    of θ = σ_m² / σ_e², ((F / F_0.975 − 1) / n, (F / F_0.025 − 1) / n) clipped at 0, with
    σ_e at its estimate (its degrees of freedom are in the thousands).
    """

    algo: str
    form: str
    n_models: int
    n_pairs: int
    sd_model: float  # σ_m (0 when MS_model < MS_residual)
    sd_model_low: float
    sd_model_high: float
    sd_error: float  # σ_e: one model on one task pair, beyond model and pair effects
    p: float  # F test of no model effect

    def share_below(self, threshold: float, n_pairs: int, sd_model: float) -> float:
        """Expected share of pairs of this algorithm's models whose paired t-test over
        ``n_pairs`` task pairs gives p below ``threshold``, when the models' effects have sd
        ``sd_model``: the mean difference is N(0, 2 σ_m² + 2 σ_e² / n) and must pass
        `critical_difference` at per-pair sd √2 σ_e."""
        crit = critical_difference(threshold, np.sqrt(2) * self.sd_error, n_pairs)
        spread = np.sqrt(2 * sd_model ** 2 + 2 * self.sd_error ** 2 / n_pairs)
        return float(2 * sps.norm.sf(crit / spread))


def model_effect(results: Sequence[ProbeResult], config: ProbeConfig, algo: str,
                 form: str = "off − pre_b") -> ModelEffect | None:
    """`ModelEffect` of ``algo``'s trained runs probed with ``config``; None with fewer than
    two models."""
    runs = select(results, algo=algo, condition=TRAINED, config=config)
    if len(runs) < 2:
        return None
    check_same_tasks(runs)
    x = np.stack([form_values(r.acc, form) for r in runs]).astype(np.float64)  # [M, n]
    m, n = x.shape
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    ms_model = n * ((x.mean(axis=1) - x.mean()) ** 2).sum() / (m - 1)
    df_res = (m - 1) * (n - 1)
    ms_res = (resid ** 2).sum() / df_res
    f = ms_model / ms_res
    sd_e = float(np.sqrt(ms_res))

    def sd_at(ratio: float) -> float:
        return float(np.sqrt(max(ratio - 1, 0.0) / n) * sd_e)

    return ModelEffect(algo, form, m, n, sd_at(f),
                       sd_at(f / sps.f.ppf(0.975, m - 1, df_res)),
                       sd_at(f / sps.f.ppf(0.025, m - 1, df_res)), sd_e,
                       float(sps.f.sf(f, m - 1, df_res)))
