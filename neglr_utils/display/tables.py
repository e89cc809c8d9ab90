"""The chapters' tables: typed results from ``analysis`` turned into rows of text.

Every function takes the objects it shows (a `Study`, a `Verdict`, a `Calibration`, the
scorecard's `Claim`s) and reads nothing behind the caller's back; numbers become text
only here, through `format.fmt`. An absent number (a run not trained or not probed yet)
is `None` in the analysis and "—" here; the chapters say in a sentence what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..analysis import published
from ..analysis.calibration import Calibration, ModelEffect, median_p, reach
from ..analysis.endpoints import (
    CHANGES,
    Verdict,
    change_over_seeds,
    family,
    figure7,
    pairs_by_seed,
    verdict,
)
from ..analysis.rates import RatePoint, first_negative, late_range, rate_at
from ..analysis.results import RunSummary, Study, accuracy_over_seeds, table1
from ..analysis.scorecard import Claim, Finding
from ..analysis.variance import MAX_SEEDS, SeedsNeeded, VarianceParts
from ..core.meta import ALGOS
from ..core.probe import TRAINED, ProbeConfig
from ..runs.probes import select
from ..runs.profiles import Profile
from ..runs.study import MissingRun
from ..stats import Interval, mean_ci
from .format import ALGO_NAMES, duration, fmt

# ----------------------------------------------------------------------------- scales

DATASET_LABELS = {"omniglot": "Omniglot", "mini-imagenet": "mini-ImageNet"}


@dataclass(frozen=True)
class Scale:
    """Where a number came from: dataset, resolution, filters, iterations, seeds."""

    dataset: str
    image_size: int
    hidden: int
    n_iterations: int
    iteration: int  # reached (== n_iterations when finished)
    seeds: tuple[int, ...]
    extra: str = ""

    def label(self) -> str:
        it = (f"{self.n_iterations:,} iterations" if self.iteration >= self.n_iterations
              else f"iteration {self.iteration:,} of {self.n_iterations:,}")
        seeds = (f"seed {self.seeds[0]}" if len(self.seeds) == 1
                 else f"{len(self.seeds)} seeds ({', '.join(map(str, self.seeds))})")
        name = DATASET_LABELS.get(self.dataset, self.dataset)
        parts = [f"{name} {self.image_size}×{self.image_size}", f"{self.hidden} filters", it,
                 seeds]
        return ", ".join(parts + ([self.extra] if self.extra else []))


def scale_label(study: Study, extra: str = "") -> str:
    """The scale of a study's finished runs (all its runs when none is finished)."""
    runs = [r for r in study.runs.values() if r.finished] or list(study.runs.values())
    if not runs:
        return f"{study.profile.label}: no run yet"
    cfg = runs[0].config
    return Scale(cfg.dataset, cfg.model_config().image_size, cfg.hidden, cfg.n_iterations,
                 min(r.iteration for r in runs), tuple(sorted({r.seed for r in runs})),
                 extra).label()


def plural(n: int, word: str) -> str:
    """``n word`` with an s unless n is 1: "1 seed", "2 seeds"."""
    return f"{n:,} {word}{'s' if n != 1 else ''}"


def seeds_text(n: int) -> str:
    return plural(n, "seed")


def on_change_text(study: Study | None, algo: str) -> str:
    """The on-task change (on − pre_a) of ``algo`` over seeds, with the algorithm and what
    its interval is over, e.g. "+0.1697 ± 0.0768 (MAML, 3 seeds)"."""
    change = None if study is None else change_over_seeds(study.probes, study.profile.probe,
                                                         algo, which="on")
    if change is None:
        return f"not probed ({ALGO_NAMES[algo]})"
    n = len(select(study.probes, algo=algo, condition=TRAINED, config=study.profile.probe))
    unit = f"{n} seeds" if n > 1 else "one seed, interval over task pairs"
    return f"{fmt(change, 'change')} ({ALGO_NAMES[algo]}, {unit})"


def conv_sign_text(study: Study) -> str:
    """In how many conv layers the 95 % interval over seeds of the mean Meta-SGD rate lies
    wholly below or above zero, e.g. "the interval over seeds lies below zero in 1 (conv3)
    and above zero in 2 (conv1, conv4)"."""
    t = table1(study)
    conv = [k for k in published.CONV_LAYERS if k in t]
    if not conv or t[conv[0]].mean.n < 2:
        return "with one seed there is no interval over seeds"
    below = [k for k in conv if t[k].mean.high < 0]
    above = [k for k in conv if t[k].mean.low > 0]
    return (f"the interval over seeds lies below zero in {len(below)}"
            + (f" ({', '.join(below)})" if below else "")
            + f" and above zero in {len(above)}" + (f" ({', '.join(above)})" if above else ""))


def about(n: int) -> str:
    """A seed count estimated from a spread, to two significant digits: 5,119 -> "5,100"."""
    if n >= MAX_SEEDS:
        return f"> {MAX_SEEDS:,}"
    return f"{round(n, 2 - len(str(n))) if n >= 100 else n:,}"


def placebo_text(cal: Calibration, planned_seeds: int) -> str:
    """The placebo of one dataset in words: how many same-algorithm pairs give p below
    the report's, their median p, how many MAML–Meta-SGD pairs do (and with Meta-SGD
    ahead), what follows, and (under `MIN_PLACEBO` pairs) how many pairs the planned seeds
    of both algorithms will give."""
    if not cal.placebo:
        return "no two models of one algorithm are probed yet"
    n = len(cal.placebo)
    text = (f"p falls below the report's {cal.threshold:g} in {cal.n_placebo_below} of "
            f"{plural(n, 'same-algorithm pair')} (median p {fmt(median_p(cal.placebo), 'p')})")
    if cal.between:
        text += (f" and in {cal.n_between_below} of {len(cal.between)} MAML–Meta-SGD pairs "
                 f"({cal.n_reach()} with Meta-SGD ahead; median p "
                 f"{fmt(median_p(cal.between), 'p')})")
    if cal.calibrated is None:
        return text + (f"; so few pairs say little, and the {planned_seeds} planned seeds of "
                       f"each algorithm give {2 * math.comb(planned_seeds, 2)} such pairs")
    if not cal.calibrated:
        return text + "; the test is not calibrated there"
    here = reach(cal)
    if not cal.algorithms_reach and here.misses(published.effect()):
        return text + (f"; at {here.n_pairs:,} task pairs p < {cal.threshold:g} needs a mean "
                       f"difference of at least {here.detectable:.4f} between two models, "
                       f"more than the report's whole effect ({fmt(published.effect(), 'change')}"
                       "), so at this number of pairs the test cannot see a difference as small "
                       "as the report's")
    text += "; the placebo shows no sign of miscalibration there"
    if cal.algorithms_reach is None:
        return text
    return text + (", and most MAML–Meta-SGD pairs reach the report's p with Meta-SGD ahead"
                   if cal.algorithms_reach else
                   ", but the difference between the algorithms does not reach the report's p")


# ----------------------------------------------------------------------------- scorecard


def finding_text(f: Finding, kind: str) -> str:
    """Our number: the mean with its 95 % interval over seeds and n (one seed: no
    interval over seeds), or the detail the claim is counted in."""
    if f.value is None:
        return f.detail or "—"
    if kind == "pct":  # a share, e.g. of placebo pairs
        return f.detail
    iv = f.value
    text = fmt(iv.mean, kind)
    if iv.n >= 2:
        text += f" (95 % CI {fmt(iv.low, kind)} to {fmt(iv.high, kind)})"
    text += f", {seeds_text(f.n_seeds)}"
    return text + (f"; {f.detail}" if f.detail else "")


def status_text(f: Finding) -> str:
    if f.status != "inconclusive" or f.n_seeds < 2:
        return f.status + (" (one seed)" if f.status == "inconclusive" else "")
    if f.seeds_needed is None:
        return "inconclusive"
    need = about(f.seeds_needed)
    return (f"inconclusive ({need if need.startswith('>') else 'about ' + need} seeds per "
            "algorithm needed at this spread)")


def scorecard_rows(claims: Sequence[Claim], labels: Mapping[str, str]) -> list[dict[str, str]]:
    """One row per claim: the report's number, then ours and the status per study."""
    rows = []
    for c in claims:
        report = fmt(c.report, "p" if c.kind == "pct" else c.kind, 3 if c.report_rounded else None)
        row = {"claim of the report": c.text,
               "report": ("≈ " if c.report_rounded else "") + report}
        for name, label in labels.items():
            f = c.findings[name]
            row[label] = finding_text(f, c.kind)
            row[f"status, {label}"] = status_text(f)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- rates


def table1_rows(study: Study, algo: str = "meta-sgd") -> list[dict[str, str]]:
    """Table 1 over seeds beside the report's, one row per layer (conv weights only)."""
    rows = []
    for layer, s in table1(study, algo).items():
        rep = published.TABLE1.get(layer)
        rows.append({"layer": layer,
                     "mean": fmt(s.mean, "rate") + (" (95 % CI)" if s.mean.n > 1 else ""),
                     "std": fmt(s.std), "fraction < 0": fmt(s.frac_neg, "pct", 0),
                     "seeds with mean < 0": f"{s.n_negative_seeds} of {len(s.seeds)}",
                     "report mean / std": (f"{fmt(rep[0], 'rate', 3)} / {fmt(rep[1], 'prob', 3)}"
                                           if rep else "—")})
    return rows


def inert_rows(studies: Mapping[str, Study], algo: str = "meta-sgd") -> list[dict[str, str]]:
    """The conv biases' rates per study: their mean and spread over every run and tensor."""
    rows = []
    for s in studies.values():
        runs = s.of(algo)
        stats = [st for r in runs for st in r.inert.values()]
        if stats:
            rows.append({"dataset": s.profile.label, "runs": str(len(runs)),
                         "tensors": str(len(stats)),
                         "mean rate": fmt(sum(st.mean for st in stats) / len(stats), "rate"),
                         "largest std within a tensor": f"{max(st.std for st in stats):.1e}",
                         "initial rate": fmt(runs[0].config.meta.inner_lr, "rate")})
    return rows


def first_negative_rows(study: Study, algo: str = "meta-sgd") -> list[dict[str, str]]:
    """Per seed and layer: the logged iteration from which the mean rate stays negative."""
    rows = []
    for r in study.of(algo):
        row = {"seed": str(r.seed)}
        for layer in published.TABLE1_LAYERS:
            it = first_negative(r.evolution, layer)
            row[layer] = "not negative at the end" if it is None else f"{it:,}"
        rows.append(row)
    return rows


def settling_rows(points: Sequence[RatePoint], n_iterations: int) -> list[dict[str, str]]:
    """Where a long run's rates settle, per layer: the mean rate at each quarter of
    ``n_iterations`` (logged iterations) and its range over the last half, beside the
    report's Table 1 mean (after its 60,000 iterations)."""
    marks = [n_iterations * q // 4 for q in (1, 2, 3, 4)]
    rows = []
    for layer in published.TABLE1_LAYERS:
        at = {f"at {m:,}": rate_at(points, layer, m) for m in marks}
        low, high = late_range(points, layer, marks[1])
        rows.append({"layer": layer} | {k: fmt(v, "rate") for k, v in at.items()}
                    | {f"range from {marks[1]:,}": f"{fmt(low, 'rate')} to {fmt(high, 'rate')}",
                       "report (60,000)": fmt(published.TABLE1[layer][0], "rate", 3)})
    return rows


def accuracy_rows(study: Study) -> list[dict[str, str]]:
    """Test accuracy of each algorithm over its seeds, beside the report's (rounded)
    validation accuracy on mini-ImageNet; none beside another dataset's."""
    rows = []
    for algo in ALGOS:
        runs = [r for r in study.of(algo) if r.test is not None]
        if runs:
            rep = published.VAL_ACC.get(algo) if study.dataset == "mini-imagenet" else None
            rows.append({"algorithm": ALGO_NAMES[algo], "seeds": str(len(runs)),
                         "test accuracy (95 % CI)": fmt(accuracy_over_seeds(runs), "pct"),
                         "interval over": "seeds" if len(runs) > 1
                         else f"{runs[0].test.n_episodes} test tasks",
                         "report (mini-ImageNet 84×84, validation)":
                             f"≈ {fmt(rep, 'pct', 0)}" if rep else "—"})
    return rows


def run_accuracy(run: RunSummary) -> Interval | None:
    """A run's test accuracy with its 95 % interval over test tasks."""
    return accuracy_over_seeds([run])


# ----------------------------------------------------------------------------- probe


def changes_rows(study: Study, config: ProbeConfig) -> list[dict[str, str]]:
    """The probe's means and changes (rows) per algorithm as trained (columns, named as the
    text names them), over seeds."""
    algos = [a for a in ALGOS if select(study.probes, algo=a, condition=TRAINED, config=config)]
    fig = {a: figure7(study.probes, config, a) for a in algos}
    rows = [{"quantity": "seeds", **{ALGO_NAMES[a]: str(len(select(
        study.probes, algo=a, condition=TRAINED, config=config))) for a in algos}}]
    for c, name in (("pre", "pre (task A)"), ("on", "on-task (A)"), ("off", "off-task (B)")):
        rows.append({"quantity": name, **{ALGO_NAMES[a]: fmt(fig[a].get(c)) for a in algos}})
    for which, name in CHANGES.items():
        rows.append({"quantity": name, **{ALGO_NAMES[a]: fmt(change_over_seeds(
            study.probes, config, a, which=which), "change") for a in algos}})
    return rows


def family_rows(v: Verdict) -> list[dict[str, str]]:
    """The tests of a verdict with raw and Holm-adjusted p-values."""
    return [{"test": t.name, "unit": t.unit, "estimate": fmt(t.estimate, "change"),
             "p": fmt(t.p, "p"), "p (Holm)": fmt(t.p_holm, "p")} for t in family(v)]


def overlap_rows(study: Study, configs: Sequence[ProbeConfig]) -> list[dict[str, str]]:
    """Δ under each probe config whose runs were probed (class-disjoint, independent)."""
    rows = []
    for cfg in configs:
        if not select(study.probes, algo="maml", config=cfg):
            continue
        v = verdict(study.probes, cfg)
        rows.append({"off-task pairs": "class-disjoint" if cfg.disjoint else "independent",
                     "pairs sharing a class": fmt(v.frac_shared, "pct"),
                     "seeds": str(len(v.endpoint.seeds)),
                     "Δ (95 % CI over seeds)": fmt(v.endpoint.interval, "change"),
                     "the report's (off − on) form": fmt(v.report_form.total.interval, "change")})
    return rows


def report_form_rows(study: Study, configs: Sequence[ProbeConfig]) -> list[dict[str, str]]:
    """Meta-SGD − MAML in the report's (off − on) form and its three terms
    (`endpoints.ReportForm`), per probe config probed; 95 % t-intervals over seeds."""
    rows = []
    for cfg in configs:
        if not pairs_by_seed(study.probes, cfg, "meta-sgd", "maml"):
            continue
        f = verdict(study.probes, cfg).report_form
        rows.append({"off-task pairs": "class-disjoint" if cfg.disjoint else "independent",
                     "seeds": str(len(f.total.seeds)),
                     "off − on (the report's form)": fmt(f.total.interval, "change"),
                     "= off − pre_B": fmt(f.off.interval, "change"),
                     "− (on − pre_A)": fmt(f.on.interval.negated(), "change"),
                     "+ pre_B − pre_A": fmt(f.baseline.interval, "change"),
                     "pre_B − pre_A: SE over task pairs": f"{f.baseline_pair_se:.4f}"})
    return rows


def endpoint_data(v: Verdict) -> tuple[tuple[int, ...], list[Interval], Interval]:
    """(seeds, per-seed Δ intervals over task pairs, Δ over seeds) for `plots.plot_endpoint`."""
    return v.endpoint.seeds, [c.primary.diff for c in v.per_seed], v.endpoint.interval


def calibration_rows(cals: Sequence[tuple[str, Calibration]]) -> list[dict[str, str]]:
    """Per (dataset label, calibration): how many pairs of each kind fall below the
    report's p."""
    rows = []
    for label, c in cals:
        for kind, pairs, below in (("same algorithm (placebo)", c.placebo, c.n_placebo_below),
                                   ("different algorithms", c.between, c.n_between_below)):
            if pairs:
                rows.append({"dataset": label, "statistic": c.form, "pairs of models": kind,
                             "pairs": str(len(pairs)),
                             f"p < {c.threshold:g}": f"{below} ({below / len(pairs):.0%})",
                             "median p": fmt(median_p(pairs), "p")})
    return rows


def reach_rows(cals: Sequence[tuple[str, Calibration]], n_report: int
               ) -> list[dict[str, str]]:
    """Per (dataset label, calibration): the smallest mean difference between two models
    whose p falls below the report's at our number of task pairs and at ``n_report``, and
    the largest difference between two of our same-algorithm models."""
    rows = []
    for label, c in cals:
        ours, theirs = reach(c), reach(c, n_report)
        if ours is None or theirs is None:
            continue
        rows.append({"dataset": label, "statistic": c.form,
                     f"difference that reaches p: {ours.n_pairs:,} pairs": f"{ours.detectable:.4f}",
                     f"at {n_report:,} pairs": f"{theirs.detectable:.4f}",
                     "largest between two same-algorithm models": f"{ours.largest:.4f}"})
    return rows


def model_effect_rows(effects: Sequence[tuple[str, ModelEffect]], threshold: float,
                      n_report: int) -> list[dict[str, str]]:
    """Per (dataset label, `ModelEffect`): whether the models of one algorithm differ beyond
    task-pair noise, and the share of pairs of them projected below ``threshold`` at
    ``n_report`` task pairs, at σ_m's estimate [and the ends of its 95 % interval]."""
    rows = []
    for label, e in effects:
        shares = [fmt(x, "pct", 2 if x < 0.01 else 1) for x in
                  (e.share_below(threshold, n_report, sd)
                   for sd in (e.sd_model, e.sd_model_low, e.sd_model_high))]
        rows.append({"dataset": label, "statistic": e.form,
                     "algorithm (models)": f"{ALGO_NAMES[e.algo]} ({e.n_models})",
                     "F-test p": fmt(e.p, "p"),
                     "σ_m [95 % CI]": f"{e.sd_model:.4f} [{e.sd_model_low:.4f}, "
                                      f"{e.sd_model_high:.4f}]",
                     f"pairs below p at {n_report:,} [range]":
                         f"{shares[0]} [{shares[1]}, {shares[2]}]"})
    return rows


def variance_row(label: str, parts: VarianceParts, need: SeedsNeeded) -> dict[str, str]:
    """The decomposition of Δ and the seeds each question needs, for one dataset."""
    return {"dataset": label, "seeds": str(parts.n_seeds), "task pairs": str(parts.n_pairs),
            "sd of Δ̄ over seeds": f"{parts.sd_seed_means:.4f}",
            "seed effect σ_b": f"{parts.sd_between:.4f}",
            "within-seed sd σ_w (pairs)": f"{parts.sd_within:.3f}",
            "ICC": f"{parts.icc:.3f}",
            "seeds to detect the report's Δ": about(need.detect),
            f"… probing {need.factor}× the pairs": about(need.detect_more_pairs),
            "seeds to show Δ within ± it": about(need.equivalence)}


# ----------------------------------------------------------------------------- mechanism


def mechanism_rows(study: Study, algo: str) -> list[dict[str, str]]:
    """Per setting and layer: dL/dα over the seeds that have the diagnostic."""
    runs = [r for r in study.of(algo) if r.mechanism]
    rows = []
    for (at, bn) in (runs[0].mechanism if runs else {}):
        for layer in [k for k in published.TABLE1_LAYERS if k in runs[0].mechanism[(at, bn)]]:
            pushes = [r.mechanism[(at, bn)][layer] for r in runs]
            down = sum(p.p < 0.05 and p.mean > 0 for p in pushes)
            up = sum(p.p < 0.05 and p.mean < 0 for p in pushes)
            rows.append({"rates at": "α = 0" if at == "zero" else "learned α",
                         "query BatchNorm": bn, "layer": layer,
                         "dL/dα (mean over seeds)":
                             f"{mean_ci([p.mean for p in pushes]).mean:+.2e}",
                         "t per seed": ", ".join(f"{p.t:+.1f}" for p in pushes),
                         "seeds pushed down / up": f"{down} / {up} of {len(pushes)}",
                         "entries with dL/dα > 0": fmt(sum(p.positive_entries for p in pushes)
                                                        / len(pushes), "pct")})
    return rows


def ablation_rows(study: Study, ablation: Study) -> list[dict[str, str]]:
    """Table 1's conv layers and head of Meta-SGD trained with support-set BatchNorm
    statistics (``ablation``) beside the transductive runs (``study``), over seeds."""
    t_main, t_sup = table1(study), table1(ablation, "meta-sgd")
    return [{"layer": layer, "transductive": fmt(t_main[layer].mean, "rate"),
             "support statistics": fmt(t_sup[layer].mean, "rate"),
             "seeds < 0 (support)": f"{t_sup[layer].n_negative_seeds} of "
                                     f"{len(t_sup[layer].seeds)}"}
            for layer in published.TABLE1_LAYERS if layer in t_main and layer in t_sup]


# ----------------------------------------------------------------------------- methods


def profile_rows(profiles: Sequence[Profile]) -> list[dict[str, str]]:
    """Each profile's settings."""
    return [{"profile": p.name, "data": p.label, "filters": str(p.run.hidden),
             "iterations": f"{p.run.n_iterations:,}", "seeds": ", ".join(map(str, p.seeds)),
             "inner steps": str(p.run.meta.n_inner_steps), "inner rate": f"{p.run.meta.inner_lr:g}",
             "meta rate": f"{p.run.meta_lr:g}", "probe pairs": f"{p.probe.n_iterations:,}"}
            for p in profiles]


CHOICES: tuple[tuple[str, str, Callable[[Profile], str]], ...] = (
    ("Meta-SGD rate initialisation", "meta.rate_init",
     lambda p: f"constant = inner_lr = {p.run.meta.inner_lr}"
     if p.run.meta.rate_init == "constant" else f"uniform on {p.run.meta.rate_init_range}"),
    ("meta learning rate (Adam)", "meta_lr", lambda p: str(p.run.meta_lr)),
    ("BatchNorm mode", "meta.query_bn (ablation: support)",
     lambda p: "batch statistics, train and test (transductive)"
     if p.run.meta.query_bn == "transductive"
     else f"query uses the {p.run.meta.query_bn} statistics"),
    ("rates learned for BatchNorm parameters", "meta.adapt",
     lambda p: "yes, one per parameter like every other" if p.run.meta.adapt == "all" else "no"),
    ("probe data split", "ProbeConfig.split", lambda p: p.probe.split),
    ("probe BatchNorm batches", "ProbeConfig.bn_mode", lambda p: p.probe.bn_mode),
    ("probe off-task task B", "ProbeConfig.disjoint",
     lambda p: "class-disjoint from A" if p.probe.disjoint else "independent of A"),
)  # (setting the report leaves open, our parameter, its value in a profile)


def choices_rows(profiles: Sequence[Profile]) -> list[dict[str, str]]:
    """The settings the report does not state, with the value each profile uses (one
    column per profile, headed by its label)."""
    return [{"setting": name, **{p.label: value(p) for p in profiles}, "parameter": param}
            for name, param, value in CHOICES]


def run_rows(studies: Mapping[str, Study]) -> list[dict[str, Any]]:
    """One row per run: dataset, algorithm, seed, iterations, costs, device."""
    rows = []
    for s in studies.values():
        for (algo, seed), r in sorted(s.runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            rows.append({"dataset": s.profile.label, "algo": algo, "seed": seed,
                         "iterations": f"{r.iteration:,}" + ("" if r.finished else " (running)"),
                         "training": duration(r.wall_time),
                         "s / it.": f"{r.seconds_per_iteration:.2f}",
                         "probe": duration(sum(p.seconds for p in r.probes)) if r.probes else "—",
                         "device": r.device})
    return rows


def missing_rows(missing: Sequence[MissingRun]) -> list[dict[str, str]]:
    """The runs the book needs and does not train, with the command that trains them."""
    return [{"run": m.label, "trained": f"{m.done:,} of {m.total:,}",
             "time left": f"about {duration(60 * m.minutes)} on {m.where}",
             "command": f"`{m.command}`"} for m in missing]
