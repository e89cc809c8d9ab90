"""What the probe says about the report's claim: changes, model comparisons, seeds.

Per task pair i of one probe (`probe.PairAccuracies`):

- on-task change ``on_a - pre_a``; off-task change as the report measures it
  ``off_b - pre_a``; off-task change against task B's own baseline ``off_b - pre_b``
  (the primary within-model change: same images before and after).

Two models probed on the same task pairs (the task lists depend only on the probe seed)
are compared *paired*, pair by pair:

- primary endpoint ``Delta_i = (off_b - pre_b)[Meta-SGD] - (off_b - pre_b)[MAML]``;
- the report's form ``(off_b - on_a)[Meta-SGD] - (off_b - on_a)[MAML]``, the reading of
  its "t-test comparing the relative changes between on-task and off-task" that gives
  one p for the two models.

Each trained model is one draw of the algorithm, so the verdict takes seeds as the unit:
the per-seed means of Delta, a t-interval over seeds, and an equivalence test (TOST)
whose margin is the report's own effect (`published.effect`, 0.24 points): "no effect"
then means the data exclude an effect as large as the one the report claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.probe import TRAINED, Condition, PairAccuracies, ProbeConfig, ProbeResult
from ..runs.probes import select
from ..stats import Equivalence, Interval, PairedTest, holm, mean_ci, paired_test, tost
from . import published


@dataclass(frozen=True)
class Changes:
    """The changes of one probe, each a paired test over task pairs."""

    on: PairedTest  # on_a - pre_a
    off_report: PairedTest  # off_b - pre_a (the report's off-task change)
    off: PairedTest  # off_b - pre_b (against task B's own baseline)
    on_vs_off: PairedTest  # (on_a - pre_a) - (off_b - pre_a): the report's t-test, within


def changes(acc: PairAccuracies) -> Changes:
    return Changes(on=paired_test(acc.on_a, acc.pre_a),
                   off_report=paired_test(acc.off_b, acc.pre_a),
                   off=paired_test(acc.off_b, acc.pre_b),
                   on_vs_off=paired_test(acc.on_a, acc.off_b))


@dataclass(frozen=True)
class Comparison:
    """Model x against model y on the same task pairs."""

    primary: PairedTest  # (off_b - pre_b)[x] - (off_b - pre_b)[y]
    report_form: PairedTest  # (off_b - on_a)[x] - (off_b - on_a)[y]
    on: PairedTest  # (on_a - pre_a)[x] - (on_a - pre_a)[y]
    baseline: PairedTest  # (pre_b - pre_a)[x] - (pre_b - pre_a)[y]: no adaptation in it


def compare(x: PairAccuracies, y: PairAccuracies) -> Comparison:
    """Per pair, report_form = primary - on + baseline exactly (`ReportForm`)."""
    if x.n != y.n:
        raise ValueError(f"paired comparison needs the same task pairs: {x.n} vs {y.n}")
    return Comparison(primary=paired_test(x.off_b - x.pre_b, y.off_b - y.pre_b),
                      report_form=paired_test(x.off_b - x.on_a, y.off_b - y.on_a),
                      on=paired_test(x.on_a - x.pre_a, y.on_a - y.pre_a),
                      baseline=paired_test(x.pre_b - x.pre_a, y.pre_b - y.pre_a))


@dataclass(frozen=True)
class OverSeeds:
    """One number per training seed, and what they say together."""

    seeds: tuple[int, ...]
    values: tuple[float, ...]
    interval: Interval  # t-interval over seeds (NaN bounds with one seed)
    test: PairedTest  # one-sample t-test of the seed values against 0
    equivalence: Equivalence | None  # TOST within +-margin (None without a margin)


def over_seeds(seeds: Sequence[int], values: Sequence[float],
               margin: float | None = None) -> OverSeeds:
    v = np.asarray(values, dtype=np.float64)
    return OverSeeds(tuple(seeds), tuple(v.tolist()), mean_ci(v), paired_test(v, 0.0),
                     tost(v, margin) if margin is not None else None)


@dataclass(frozen=True)
class ReportForm:
    """The report's (off − on) form of Δ split into three terms, per seed:

        off_b − on_a = (off_b − pre_b) − (on_a − pre_a) + (pre_b − pre_a),

    each an x-minus-y difference. The last term involves no adaptation: the two models'
    head-free accuracy on the task-B set minus the task-A set. The pair (A, B) is
    exchangeable (B independent of A, or drawn from the classes A leaves out), so it is zero
    in expectation over task draws; every seed is probed on the same pairs, so
    an interval over seeds does not see its sampling error, and ``baseline_pair_se`` does:
    the standard error over task pairs of its per-pair values averaged over seeds.
    """

    total: OverSeeds  # the report's form
    off: OverSeeds  # the primary Δ
    on: OverSeeds  # Δ of the on-task change (enters the total with a minus sign)
    baseline: OverSeeds  # Δ of pre_b − pre_a
    baseline_pair_se: float


def report_form_split(seeds: Sequence[int], pairs: Sequence[tuple[PairAccuracies,
                                                                  PairAccuracies]],
                      comps: Sequence[Comparison], margin: float | None = None) -> ReportForm:
    """`ReportForm` of the seeds' model pairs ``(x, y)`` and their `compare` results."""
    per_pair = np.mean([(x.pre_b - x.pre_a) - (y.pre_b - y.pre_a) for x, y in pairs], axis=0)
    se = float(per_pair.std(ddof=1) / np.sqrt(len(per_pair))) if len(per_pair) > 1 \
        else float("nan")
    return ReportForm(
        total=over_seeds(seeds, [c.report_form.diff.mean for c in comps], margin),
        off=over_seeds(seeds, [c.primary.diff.mean for c in comps]),
        on=over_seeds(seeds, [c.on.diff.mean for c in comps]),
        baseline=over_seeds(seeds, [c.baseline.diff.mean for c in comps]),
        baseline_pair_se=se)


def adaptation_part(form: ReportForm) -> Interval:
    """What adaptation contributes to the report's form, (off − pre_b) − (on − pre_a), over
    seeds: the total without the term that involves no adaptation."""
    return mean_ci(np.subtract(form.total.values, form.baseline.values))


VERDICTS = {
    "supported": "Meta-SGD's off-task change exceeds MAML's (95 % CI over seeds above 0)",
    "opposite": "MAML's off-task change exceeds Meta-SGD's (95 % CI over seeds below 0)",
    "equivalent": "no difference as large as the report's (TOST over seeds)",
    "inconclusive": "neither a difference nor equivalence is shown over seeds",
}


@dataclass(frozen=True)
class Verdict:
    """The report's claim tested on one set of runs: primary endpoint over seeds."""

    per_seed: tuple[Comparison, ...]
    endpoint: OverSeeds  # per-seed mean of the primary Delta
    report_form: ReportForm  # the report's (off - on) form, split into its terms
    margin: float
    conclusion: str  # a key of VERDICTS
    n_pairs: int
    frac_shared: float

    @property
    def statement(self) -> str:
        return VERDICTS[self.conclusion]


def conclude(endpoint: OverSeeds) -> str:
    ci = endpoint.interval
    if ci.n >= 2 and ci.low > 0:
        return "supported"
    if ci.n >= 2 and ci.high < 0:
        return "opposite"
    if endpoint.equivalence is not None and endpoint.equivalence.equivalent:
        return "equivalent"
    return "inconclusive"


def pairs_by_seed(results: Sequence[ProbeResult], config: ProbeConfig, algo_x: str,
                  algo_y: str, condition: Condition = TRAINED
                  ) -> dict[int, tuple[ProbeResult, ProbeResult]]:
    """Seed -> (result of x, result of y) for the seeds where both were probed."""
    xs = {r.run.seed: r for r in select(results, algo=algo_x, condition=condition,
                                        config=config)}
    ys = {r.run.seed: r for r in select(results, algo=algo_y, condition=TRAINED,
                                        config=config)}
    return {s: (xs[s], ys[s]) for s in sorted(xs.keys() & ys.keys())}


def verdict(results: Sequence[ProbeResult], config: ProbeConfig, *, algo_x: str = "meta-sgd",
            algo_y: str = "maml", condition: Condition = TRAINED,
            margin: float | None = None) -> Verdict:
    """Meta-SGD (``algo_x``, under ``condition``) against MAML, seeds as the unit."""
    pairs = pairs_by_seed(results, config, algo_x, algo_y, condition)
    if not pairs:
        raise ValueError(f"no seed has probe results of both {algo_x} and {algo_y}")
    margin = abs(published.effect()) if margin is None else margin
    comps = tuple(compare(x.acc, y.acc) for x, y in pairs.values())
    seeds = tuple(pairs)
    endpoint = over_seeds(seeds, [c.primary.diff.mean for c in comps], margin)
    report_form = report_form_split(seeds, [(x.acc, y.acc) for x, y in pairs.values()],
                                    comps, margin)
    first = next(iter(pairs.values()))[0]
    return Verdict(comps, endpoint, report_form, margin, conclude(endpoint), first.acc.n,
                   first.frac_shared)


@dataclass(frozen=True)
class TestRow:
    """One test of a family shown together, with its Holm-adjusted p."""

    name: str
    unit: str  # "task pairs (seed s)" or "seeds"
    estimate: Interval
    p: float
    p_holm: float


def family(v: Verdict) -> list[TestRow]:
    """The tests of a verdict, Holm-corrected together: per seed and over seeds."""
    rows = []
    for seed, c in zip(v.endpoint.seeds, v.per_seed, strict=True):
        rows.append(("primary Δ", f"task pairs (seed {seed})", c.primary))
        rows.append(("report's (off − on) form", f"task pairs (seed {seed})", c.report_form))
    rows.append(("primary Δ", "seeds", v.endpoint.test))
    rows.append(("report's (off − on) form", "seeds", v.report_form.total.test))
    adjusted = holm([t.p for _, _, t in rows])
    return [TestRow(n, u, t.diff, t.p, p) for (n, u, t), p in zip(rows, adjusted, strict=True)]


# ----------------------------------------------------------------------------- over seeds


FIGURE7_KEYS = {"pre": "pre_a", "on": "on_a", "off": "off_b"}  # the report's three bars


def figure7(results: Sequence[ProbeResult], config: ProbeConfig, algo: str,
            condition: Condition = TRAINED) -> dict[str, Interval]:
    """pre/on/off means of ``algo``: over seeds (t-interval of the per-seed means) or, with
    one seed, over its task pairs ({} when not probed)."""
    rs = select(results, algo=algo, condition=condition, config=config)
    if len(rs) == 1:
        return {c: mean_ci(getattr(rs[0].acc, k)) for c, k in FIGURE7_KEYS.items()}
    return {c: mean_ci([getattr(r.acc, k).mean() for r in rs])
            for c, k in FIGURE7_KEYS.items()} if rs else {}


CHANGES = {"on": "on − pre_a", "off_report": "off − pre_a (the report's)", "off": "off − pre_b"}


def change_over_seeds(results: Sequence[ProbeResult], config: ProbeConfig, algo: str,
                      condition: Condition = TRAINED, which: str = "off") -> Interval | None:
    """A change of `Changes` (``on``, ``off``, ``off_report``) of ``algo``: its interval
    over seeds, or over task pairs when one seed was probed (None when none was)."""
    rs = select(results, algo=algo, condition=condition, config=config)
    tests = [getattr(changes(r.acc), which) for r in rs]
    if len(tests) == 1:
        return tests[0].diff
    return mean_ci([t.diff.mean for t in tests]) if tests else None


def sign_sweep(results: Sequence[ProbeResult], config: ProbeConfig, algo: str = "meta-sgd"
               ) -> dict[float, dict[str, Interval | None]]:
    """Conv-rate multiplier -> the on-task and off-task change over seeds."""
    out: dict[float, dict[str, Interval | None]] = {}
    for r in select(results, algo=algo, config=config):
        f = r.condition.conv_factor
        if f is not None and f not in out:
            out[f] = {w: change_over_seeds(results, config, algo, r.condition, w)
                      for w in ("on", "off")}
    return dict(sorted(out.items()))


def seed_deltas(results: Sequence[ProbeResult], config: ProbeConfig, algo_x: str = "meta-sgd",
                algo_y: str = "maml") -> dict[int, np.ndarray]:
    """Seed -> the per-pair primary Δ of that seed's two models ``[n_pairs]`` (the groups
    of `variance.decompose`)."""
    return {s: (x.acc.off_b - x.acc.pre_b) - (y.acc.off_b - y.acc.pre_b)
            for s, (x, y) in pairs_by_seed(results, config, algo_x, algo_y).items()}


def seed_changes(results: Sequence[ProbeResult], config: ProbeConfig, algo: str,
                 which: str = "off") -> dict[int, float]:
    """Seed -> the mean change (`Changes` field ``which``) of that seed's model."""
    return {r.run.seed: getattr(changes(r.acc), which).diff.mean
            for r in select(results, algo=algo, condition=TRAINED, config=config)}
