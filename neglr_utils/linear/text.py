"""The linear model's results as text: table rows and the chapter's sentences.

Everything here formats numbers computed by ``linear.py`` (with the book's one
formatter, `report.fmt`); nothing is computed twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..display.format import fmt
from ..stats import Interval
from .model import (
    SAME_RATE_TOL,
    LearnedRates,
    LossCurve,
    RateComparison,
    Regime,
    best_adaptation_rate,
)

# formatter (`report.fmt`): rates signed ("rate"), losses and their differences plain
# ("prob"), shares as percentages ("pct"); ratios p / (m n_v) with two significant digits.


def rate_sign(alpha: float) -> str:
    """The sign of a rate in words: "negative", "zero" or "positive"."""
    return "negative" if alpha < 0 else "zero" if alpha == 0 else "positive"


def interval_text(iv: Interval, digits: int = 4) -> str:
    """An interval as ``mean (95 % CI low to high)``, which shows whether it excludes zero."""
    low, high = fmt(iv.low, "prob", digits), fmt(iv.high, "prob", digits)
    return (f"{fmt(iv.mean, 'prob', digits)} ({100 * iv.confidence:.0f} % CI {low} to "
            f"{high})")


def regime_rows(regimes: Sequence[Regime], n_sets: int) -> list[dict[str, str]]:
    """One table row per regime: its sizes, ``p / (m n_v)``, the test step, the sets sampled."""
    return [{"regime": r.name, "p": fmt(r.task.p, "count"), "m": fmt(r.train.m, "count"),
             "n_t": fmt(r.train.n_t, "count"), "n_v": fmt(r.train.n_v, "count"),
             "query rows m n_v": fmt(r.train.n_query, "count"),
             "all samples m (n_t + n_v)": fmt(r.train.m * (r.train.n_t + r.train.n_v), "count"),
             "p / (m n_v)": f"{r.ratio:.2g}", "n_r": fmt(r.n_r, "count"),
             "alpha_r": f"{r.alpha_r:g}", "sets": fmt(n_sets, "count")} for r in regimes]


def setup_sentence(under: Regime, over: Regime) -> str:
    """The task distribution and the two meta-training sets in words, with ``alpha_r*`` at
    ``w0`` (`best_adaptation_rate`) beside the ``alpha_r`` used (Markdown)."""
    task = under.task
    return (
        f"The tasks have $p = {task.p}$ parameters, $\\nu = {task.nu:g}$, "
        f"$\\sigma = {task.sigma:g}$ and $\\|w_0\\| = {task.w0_norm:g}$; each meta-training "
        f"task has $n_t = {under.train.n_t}$ support and $n_v = {under.train.n_v}$ query "
        f"samples. With $m = {under.train.m}$ tasks there are {under.train.n_query} query rows "
        f"for {task.p} parameters; with $m = {over.train.m}$ there are {over.train.n_query}, "
        f"and {over.train.m * (over.train.n_t + over.train.n_v)} samples in all. A test task "
        f"has $n_r = {under.n_r}$ samples; for an initialisation at $w_0$, {{eq}}`lin-alpha-r` "
        f"gives $\\alpha_r^* = {fmt(best_adaptation_rate(task, under.n_r), 'rate', 3)}$, and "
        f"we adapt with $\\alpha_r = {under.alpha_r:g}$.")


def gain_sentence(c: RateComparison) -> str:
    """One regime's optimal training rate and its paired gains over 0 and ``alpha_r``."""
    worse = "worse" if c.alpha_r_vs_zero.mean > 0 else "better"
    return (f"In the {c.regime.name} regime the optimal training rate is "
            f"{rate_sign(c.alpha_t_opt)}, $\\alpha_t^* = {fmt(c.alpha_t_opt, 'rate', 2)}$; it "
            f"lowers the expected test loss from {fmt(c.loss_zero.mean, 'prob', 3)} at "
            f"$\\alpha_t = 0$ by {interval_text(c.gain_vs_zero)} and the loss at "
            f"$\\alpha_t = \\alpha_r$ by {interval_text(c.gain_vs_alpha_r)}; training with the "
            f"test rate is {worse} than no inner loop, by {interval_text(c.alpha_r_vs_zero)} "
            f"(paired over {c.n_sets} meta-training sets).")


def scan_sentence(label: str, rows: Sequence[RateComparison], grid: np.ndarray) -> str:
    """The sign pattern of ``alpha_t*`` over a `ratio_scan` and where its gain over
    ``alpha_t = 0`` excludes zero; ``grid``: the search grid the scan used (Markdown)."""
    opt = np.array([r.alpha_t_opt for r in rows])
    sig = [r for r in rows if r.gain_vs_zero.low > 0]
    top = max(rows, key=lambda r: r.gain_vs_zero.mean)
    ratios = ", ".join(f"{r.regime.ratio:.2g}" for r in sig)
    where = f" (at $p / (m n_v)$ = {ratios})" if sig else ""
    return (f"With {label}, $\\alpha_t^*$ is negative at {int(np.sum(opt < 0))} of {len(rows)} "
            f"ratios (from {fmt(opt.min(), 'rate', 2)} to {fmt(opt.max(), 'rate', 2)}, "
            f"searched over [{grid[0]:g}, {grid[-1]:g}]); its gain over $\\alpha_t = 0$ "
            f"excludes zero at {len(sig)} of them{where}, and is largest, "
            f"{fmt(top.gain_vs_zero.mean, 'prob', 3)}, at "
            f"$p / (m n_v) = {top.regime.ratio:.2g}$.")


def objective_sentence(under_profile: LossCurve, over_profile: LossCurve,
                       under_best: RateComparison) -> str:
    """Where the meta-training loss minimised over ``omega`` (`train_profile_loss` curves) is
    lowest, beside the optimal training rate; and how flat it is when over-parameterised."""
    low = float(under_profile.alphas[np.argmin(under_profile.mean())])
    return (f"Under-parameterised, the meta-training loss is lowest at a {rate_sign(low)} rate "
            f"(grid minimum at {fmt(low, 'rate', 2)}), while the optimal training rate is "
            f"{fmt(under_best.alpha_t_opt, 'rate', 2)}. Over-parameterised, it is at most "
            f"{over_profile.losses.max():.1e} over the whole grid: the initialisation "
            f"interpolates the query sets at every rate, so the objective carries no "
            f"information about $\\alpha$.")


def learned_rows(learned: Sequence[LearnedRates]) -> list[dict[str, str]]:
    """One table row per `learn_rates` result: the learned rate (± 95 % CI over sets), its
    range, the share of negative coordinates, and the losses at the end."""
    return [{"regime": r.regime.name,
             "rates": "per coordinate" if r.cfg.per_coordinate else "scalar",
             "start": fmt(r.cfg.alpha_init, "rate", 1),
             "learned rate (mean)": fmt(r.alpha, "rate", 3),
             "range": f"{fmt(r.alpha_range[0], 'rate', 2)} to {fmt(r.alpha_range[1], 'rate', 2)}",
             "negative coordinates": fmt(r.frac_negative.mean, "pct", 0),
             "meta-training loss": fmt(r.train_loss, "prob", 3),
             "test loss, tied": fmt(r.test_tied, "prob", 3),
             "test loss, untied": fmt(r.test_untied, "prob", 3),
             "converged": "yes" if r.all_converged else "no"} for r in learned]


def find_learned(learned: Sequence[LearnedRates], regime: Regime, per_coordinate: bool,
                 alpha_init: float) -> LearnedRates:
    """The result of ``learned`` fitted on ``regime`` with these Meta-SGD settings."""
    for r in learned:
        if (r.regime == regime and r.cfg.per_coordinate == per_coordinate
                and r.cfg.alpha_init == alpha_init):
            return r
    raise ValueError(f"no learn_rates result for {regime.name!r} with per_coordinate="
                     f"{per_coordinate}, alpha_init={alpha_init}: fit it with learn_rates first")


def meta_sgd_sentence(learned: Sequence[LearnedRates], under_best: RateComparison,
                      over: Regime, tied_best: float) -> str:
    """What the learned rates of ``learned`` (scalar and per coordinate, from ``±alpha_r``)
    are, against ``alpha_r*`` for ``n_t`` samples (the many-task limit of a tied learned
    rate), the optimal training rate and the best tied rate of the under-parameterised
    regime (``under_best.regime``); then where the over-parameterised scalar rate ends."""
    under = under_best.regime
    plus, minus = (find_learned(learned, under, False, s) for s in (under.alpha_r, -under.alpha_r))
    coord = find_learned(learned, under, True, under.alpha_r)
    ends = [find_learned(learned, over, False, s).alpha.mean for s in (over.alpha_r, -over.alpha_r)]
    same = abs(plus.alpha.mean - minus.alpha.mean) < SAME_RATE_TOL
    limit = best_adaptation_rate(under.task, under.train.n_t)
    return (
        f"Under-parameterised, the learned scalar rate converges to {fmt(plus.alpha, 'rate', 3)} "
        f"({'the same from either start' if same else 'depending on the start'}): "
        f"{rate_sign(plus.alpha.mean)}. With unlimited tasks it would reach the best "
        f"adaptation rate for {under.train.n_t}-sample support sets ({{eq}}`lin-alpha-r` with "
        f"$n_r = n_t$: {fmt(limit, 'rate', 3)}; a test checks this limit), because the "
        f"meta-training loss is an estimate of the tied test loss with $n_t$ samples. It is not "
        f"the optimal training rate, {fmt(under_best.alpha_t_opt, 'rate', 2)}, nor the best "
        f"tied rate, {fmt(tied_best, 'rate', 3)}. Per coordinate, the learned rates spread from "
        f"{fmt(coord.alpha_range[0], 'rate', 2)} to {fmt(coord.alpha_range[1], 'rate', 2)}, "
        f"{fmt(coord.frac_negative.mean, 'pct', 0)} of them negative, although no coordinate "
        f"differs from another in this model: the extra {under.task.p - 1} rates lower the "
        f"meta-training loss to {fmt(coord.train_loss, 'prob', 3)} (scalar: "
        f"{fmt(plus.train_loss, 'prob', 3)}) and change the tied test loss to "
        f"{fmt(coord.test_tied, 'prob', 3)} (scalar: {fmt(plus.test_tied, 'prob', 3)}). "
        f"Over-parameterised, the scalar rate ends at {fmt(ends[0], 'rate', 3)} when it starts "
        f"at $+\\alpha_r$ and at {fmt(ends[1], 'rate', 3)} when it starts at $-\\alpha_r$: "
        f"wherever the descent on $\\omega$ reaches zero loss first.")


def summary_bullets(under_best: RateComparison, over_best: RateComparison,
                    scan: Sequence[RateComparison], learned: Sequence[LearnedRates]) -> str:
    """The chapter's computed results as a Markdown list: the optimal training rates and
    their gains in both regimes, the sign pattern of ``scan`` (a `ratio_scan`), and where
    Meta-SGD's scalar rate (started at ``±alpha_r``) converged."""
    u, o = under_best, over_best
    grown = find_learned(learned, u.regime, False, u.regime.alpha_r).alpha.mean
    ends = [find_learned(learned, o.regime, False, s).alpha.mean
            for s in (o.regime.alpha_r, -o.regime.alpha_r)]
    ratios = [r.regime.ratio for r in scan]
    top = max(scan, key=lambda r: r.gain_vs_zero.mean)
    return (
        f"- The optimal training rate is {fmt(u.alpha_t_opt, 'rate', 2)} "
        f"({rate_sign(u.alpha_t_opt)}) with many tasks and {fmt(o.alpha_t_opt, 'rate', 2)} "
        f"({rate_sign(o.alpha_t_opt)}) with few; it saves {fmt(u.gain_vs_zero.mean, 'prob')} "
        f"and {fmt(o.gain_vs_zero.mean, 'prob')} of test loss over no inner loop "
        f"($\\alpha_t = 0$), and {fmt(u.gain_vs_alpha_r.mean, 'prob')} and "
        f"{fmt(o.gain_vs_alpha_r.mean, 'prob')} over training with the test rate.\n"
        f"- With the larger label noise it is negative at "
        f"{sum(r.alpha_t_opt < 0 for r in scan)} of {len(scan)} ratios $p / (m n_v)$ from "
        f"{min(ratios):.2g} to {max(ratios):.2g}; its largest gain over $\\alpha_t = 0$ is at "
        f"$p / (m n_v) = {top.regime.ratio:.2g}$.\n"
        f"- Meta-SGD's scalar rate, learned from the meta-training loss, converges to "
        f"{fmt(grown, 'rate', 3)} with many tasks ({rate_sign(grown)}), and with few tasks to "
        f"a value set by where it starts ({fmt(ends[0], 'rate', 3)} and "
        f"{fmt(ends[1], 'rate', 3)} from $\\pm\\alpha_r$).")
