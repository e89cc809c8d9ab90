"""The report's claims, one by one, against our runs: a number and a status per dataset.

Every claim has a rule (`RULES`, shown beside the table in the book) that turns our
numbers into one of `STATUSES`; the unit is the training seed (an interval over seeds),
so with one seed nothing but "inconclusive" can follow from an interval. Where a claim
is inconclusive, `Finding.seeds_needed` says how many seeds per algorithm would detect
the report's effect with 80 % power at the variability we measured (`variance`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..core.probe import TRAINED, ProbeConfig
from ..runs.probes import select
from ..stats import Interval, mean_ci, welch_ci
from . import published
from .calibration import MIN_PLACEBO, MISCALIBRATED, Calibration, calibrate, reach
from .endpoints import ReportForm, changes, pairs_by_seed, verdict
from .results import Study, table1
from .variance import seeds_to_detect

STATUSES = ("reproduced", "not reproduced", "inconclusive", "not testable here")
ALMOST_AS_GOOD = 0.02  # "almost as good": head-free within 2 points of the adapted head

RULES = {
    "sign": "reproduced when the 95 % interval over seeds lies on the claimed side of zero, "
            "not reproduced when it lies on the other side, inconclusive otherwise (always "
            "with one seed)",
    "all conv": "reproduced when every conv layer's interval lies below zero, not "
                "reproduced when one lies above zero, inconclusive otherwise",
    "almost": f"reproduced when the interval of (head-free − with head) lies above "
              f"−{ALMOST_AS_GOOD:g}, not reproduced when it lies below, inconclusive otherwise",
    "calibration": f"not reproduced when more than {100 * MISCALIBRATED:.0f} % of the pairs "
                   "of models of the same algorithm also give p below the report's (the "
                   "test is not calibrated; a calibrated one: 0.044 %; the pairs share "
                   "models, so the share describes, it does not test), or when at most half "
                   "of the MAML–Meta-SGD pairs give p below it with Meta-SGD ahead; "
                   "reproduced when the test is not shown miscalibrated and most of them do; "
                   f"not testable with fewer than {MIN_PLACEBO} same-algorithm pairs, or "
                   "when at our number of task pairs only a difference larger than the "
                   "report's effect can reach its p",
    "delta": "as 'sign'; also not reproduced when a TOST over seeds excludes an effect as "
             "large as the report's",
}


@dataclass(frozen=True)
class Finding:
    """Our number for one claim on one dataset, and what the rule makes of it."""

    value: Interval | None  # over seeds (one seed: over task pairs or test tasks)
    n_seeds: int
    status: str
    seeds_needed: int | None = None  # per algorithm, to detect the report's effect
    detail: str = ""  # e.g. "4 of 4 layers negative" or "3 of 9 pairs"


@dataclass(frozen=True)
class Claim:
    """One claim of the report, its number and our finding per dataset."""

    text: str
    report: float | None
    kind: str  # a `display.format.fmt` kind
    rule: str  # a key of RULES
    findings: dict[str, Finding]  # study name -> finding
    report_rounded: bool = False  # the report gives this number only roughly ("about 46 %")


def sign_status(iv: Interval | None, claimed: int) -> str:
    """`RULES["sign"]` for a claimed sign (+1 or -1)."""
    if iv is None:
        return "not testable here"
    if iv.n < 2 or not math.isfinite(iv.low):
        return "inconclusive"
    if (iv.low > 0 and claimed > 0) or (iv.high < 0 and claimed < 0):
        return "reproduced"
    if (iv.low > 0 and claimed < 0) or (iv.high < 0 and claimed > 0):
        return "not reproduced"
    return "inconclusive"


def _needed(iv: Interval | None, effect: float) -> int | None:
    """Seeds per algorithm to detect ``effect`` given the per-seed sd of ``iv``."""
    if iv is None or iv.n < 2 or not iv.sd > 0 or effect == 0:
        return None
    return seeds_to_detect(effect, iv.sd)


def _finding(iv: Interval | None, claimed: int, effect: float, n: int,
             detail: str = "") -> Finding:
    """`RULES["sign"]`; when inconclusive, the seeds needed to detect the report's effect
    (none when our mean has the opposite sign: more seeds would not make it the claim)."""
    status = sign_status(iv, claimed)
    need = None
    if status == "inconclusive" and iv is not None:
        if iv.mean * claimed < 0:
            detail = "; ".join(filter(None, [detail, "mean on the other side of zero"]))
        else:
            need = _needed(iv, effect)
    return Finding(iv, n, status, need, detail)


def conv_negative(study: Study) -> Finding:
    t = table1(study)
    convs = [t[k] for k in published.CONV_LAYERS if k in t]
    if not convs:
        return Finding(None, 0, "not testable here")
    n = len(convs[0].seeds)
    worst = max(convs, key=lambda c: c.mean.mean)
    statuses = [sign_status(c.mean, -1) for c in convs]
    status = ("not reproduced" if "not reproduced" in statuses else
              "reproduced" if all(s == "reproduced" for s in statuses) else "inconclusive")
    neg = sum(c.mean.mean < 0 for c in convs)
    need = _needed(worst.mean, published.TABLE1[worst.layer][0]) \
        if status == "inconclusive" else None
    return Finding(worst.mean, n, status, need,
                   f"{neg} of {len(convs)} layers negative; the largest mean is {worst.layer}'s")


def logits_positive(study: Study) -> Finding:
    t = table1(study)
    if "logits" not in t:
        return Finding(None, 0, "not testable here")
    iv = t["logits"].mean
    return _finding(iv, +1, published.TABLE1["logits"][0], iv.n)


def head_free_as_good(study: Study, config: ProbeConfig, algo: str) -> Finding:
    """Head-free pre-adaptation accuracy minus the adapted model's test accuracy."""
    runs = {r.seed: r for r in study.of(algo) if r.test is not None}
    pre = {r.run.seed: float(r.acc.pre_a.mean())
           for r in select(study.probes, algo=algo, condition=TRAINED, config=config)}
    seeds = sorted(runs.keys() & pre.keys())
    if not seeds:
        return Finding(None, 0, "not testable here")
    iv = mean_ci([pre[s] - runs[s].test.acc for s in seeds])
    if len(seeds) < 2:
        status = "inconclusive"
    elif iv.low > -ALMOST_AS_GOOD:
        status = "reproduced"
    elif iv.high < -ALMOST_AS_GOOD:
        status = "not reproduced"
    else:
        status = "inconclusive"
    return Finding(iv, len(seeds), status)


def change(study: Study, config: ProbeConfig, algo: str, which: str, claimed: int,
           effect: float) -> Finding:
    """``on`` (on − pre_a) or ``off`` (off − pre_b) of ``algo`` over seeds."""
    values = [getattr(changes(r.acc), which).diff.mean
              for r in select(study.probes, algo=algo, condition=TRAINED, config=config)]
    if not values:
        return Finding(None, 0, "not testable here")
    return _finding(mean_ci(values), claimed, effect, len(values))


def delta(study: Study, config: ProbeConfig) -> Finding:
    """The primary endpoint Δ over seeds, with TOST at the report's effect."""
    if not pairs_by_seed(study.probes, config, "meta-sgd", "maml"):
        return Finding(None, 0, "not testable here")
    v = verdict(study.probes, config)
    iv = v.endpoint.interval
    eq = v.endpoint.equivalence
    if iv.n >= 2 and eq is not None and eq.equivalent:
        return Finding(iv, iv.n, "not reproduced", None,
                       f"equivalent to 0 within ±{v.margin:.4f} (TOST p = {eq.p:.2g})")
    return _finding(iv, +1, published.effect(), iv.n)


def calibrated(study: Study, config: ProbeConfig) -> Finding:
    """The report's test between every two models: of one algorithm (the placebo) and of
    MAML and Meta-SGD."""
    return calibration_finding(calibrate(study.probes, config, published.FIGURE7_P,
                                         algos=("maml", "meta-sgd")))


def calibration_finding(cal: Calibration) -> Finding:
    """The 'calibration' rule: is the report's test calibrated (same-algorithm pairs), and
    does the difference between the algorithms reach the report's p in its direction
    (MAML–Meta-SGD pairs, Meta-SGD ahead)?"""
    n = len(cal.placebo)
    share = Interval(cal.fraction_placebo_below, math.nan, math.nan, math.nan, n)
    detail = (f"{cal.n_placebo_below} of {n} same-algorithm pairs below p = "
              f"{cal.threshold:g}; {cal.n_reach()} of {len(cal.between)} MAML–Meta-SGD "
              "pairs below it with Meta-SGD ahead")
    if cal.calibrated is None:
        return Finding(None, n, "not testable here", None,
                       f"{n} same-algorithm pair{'s' if n != 1 else ''}")
    if cal.calibrated and cal.algorithms_reach is None:
        return Finding(share, n, "not testable here", None, "no MAML–Meta-SGD pair")
    here = reach(cal)
    if cal.calibrated and not cal.algorithms_reach and here.misses(published.effect()):
        return Finding(share, n, "not testable here", None,
                       f"{detail}; at {here.n_pairs:,} task pairs p < {cal.threshold:g} needs "
                       f"a difference of {here.detectable:.4f}, more than the report's effect")
    status = "reproduced" if cal.calibrated and cal.algorithms_reach else "not reproduced"
    return Finding(share, n, status, None, detail)


def report_form_independent(study: Study) -> ReportForm | None:
    """Meta-SGD − MAML in the report's (off − on) form with independent task pairs (the
    report's pairing), split into its terms; None when no such probe has both."""
    cfg = dataclasses.replace(study.profile.probe, disjoint=False)
    if not pairs_by_seed(study.probes, cfg, "meta-sgd", "maml"):
        return None
    return verdict(study.probes, cfg).report_form


def _exceeds(x: list[float], y: list[float], effect: float) -> Finding:
    """The claim that the seeds ``x`` (Meta-SGD) exceed ``y`` (MAML): Welch's interval of
    the difference of means, `RULES["sign"]`."""
    if not x or not y:
        return Finding(None, 0, "not testable here")
    iv = welch_ci(x, y)  # sd = sqrt(sx^2 + sy^2): the per-seed sd of a difference
    status = sign_status(iv, +1)
    need = seeds_to_detect(effect, iv.sd) if status == "inconclusive" and iv.sd > 0 else None
    return Finding(iv, min(len(x), len(y)), status, need)


def meta_sgd_beats_maml(study: Study) -> Finding:
    return _exceeds([r.test.acc for r in study.of("meta-sgd") if r.test is not None],
                    [r.test.acc for r in study.of("maml") if r.test is not None],
                    published.VAL_ACC["meta-sgd"] - published.VAL_ACC["maml"])


def head_free_beats_maml(study: Study, config: ProbeConfig) -> Finding:
    """Meta-SGD's head-free features before adaptation against MAML's (per-seed mean of
    pre_a), the report's "Meta-SGD outperforms MAML in this setting as well"."""
    def pre(algo: str) -> list[float]:
        return [float(r.acc.pre_a.mean())
                for r in select(study.probes, algo=algo, condition=TRAINED, config=config)]

    fig = published.FIGURE7
    return _exceeds(pre("meta-sgd"), pre("maml"), fig["meta-sgd"]["pre"] - fig["maml"]["pre"])


def scorecard(studies: Mapping[str, Study]) -> list[Claim]:
    """Every claim of the report against every study (its profile's probe config)."""
    def per(fn: Callable[[Study], Finding]) -> dict[str, Finding]:
        return {name: fn(s) for name, s in studies.items()}

    fig = published.FIGURE7
    return [
        Claim("Meta-SGD's mean inner rate is negative in every conv layer (rate; shown: the "
              "largest conv-layer mean)",
              max(published.TABLE1[k][0] for k in published.CONV_LAYERS), "rate", "all conv",
              per(conv_negative)),
        Claim("Meta-SGD's mean head (logits) rate is positive (rate)",
              published.TABLE1["logits"][0], "rate", "sign", per(logits_positive)),
        *[Claim(f"{name}: head-free features before adaptation almost as good as the adapted "
                "model with its head (accuracy: head-free pre − with head)",
                fig[algo]["pre"] - published.VAL_ACC[algo], "change", "almost",
                per(lambda s, a=algo: head_free_as_good(s, s.profile.probe, a)),
                report_rounded=True)
          for algo, name in (("meta-sgd", "Meta-SGD"), ("maml", "MAML"))],
        Claim("Meta-SGD's head-free features beat MAML's before adaptation (accuracy: "
              "pre, Meta-SGD − MAML)", fig["meta-sgd"]["pre"] - fig["maml"]["pre"], "change",
              "sign", per(lambda s: head_free_beats_maml(s, s.profile.probe))),
        *[Claim(f"{name}: on-task head-free accuracy falls (accuracy: on − pre)",
                fig[algo]["on"] - fig[algo]["pre"], "change", "sign",
                per(lambda s, a=algo: change(s, s.profile.probe, a, "on", -1,
                                             fig[a]["on"] - fig[a]["pre"])))
          for algo, name in (("meta-sgd", "Meta-SGD"), ("maml", "MAML"))],
        Claim("Meta-SGD: off-task head-free accuracy rises (accuracy: off − pre)",
              published.off_change("meta-sgd"),
              "change", "sign", per(lambda s: change(s, s.profile.probe, "meta-sgd", "off", +1,
                                                     published.off_change("meta-sgd")))),
        Claim("MAML: off-task head-free accuracy falls (accuracy: off − pre)",
              published.off_change("maml"),
              "change", "sign", per(lambda s: change(s, s.profile.probe, "maml", "off", -1,
                                                     published.off_change("maml")))),
        Claim("Meta-SGD's off-task change exceeds MAML's (accuracy: Δ)", published.effect(),
              "change",
              "delta", per(lambda s: delta(s, s.profile.probe))),
        Claim("p = 0.00044 shows the difference is real (pairs of models below it)",
              published.FIGURE7_P, "pct", "calibration",
              per(lambda s: calibrated(s, s.profile.probe))),
        Claim("Meta-SGD's accuracy exceeds MAML's (accuracy with head, after adaptation)",
              published.VAL_ACC["meta-sgd"] - published.VAL_ACC["maml"], "change", "sign",
              per(meta_sgd_beats_maml), report_rounded=True),
    ]

