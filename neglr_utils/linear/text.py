"""The linear model's results as table rows (the chapter writes its findings itself).

Everything here formats numbers computed by ``linear/model.py`` with the book's one
formatter (`display.format.fmt`); nothing is computed twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..display.format import fmt
from .model import LearnedRates, Regime

# Rates signed ("rate"), losses plain ("prob"), shares as percentages ("pct"); ratios
# p / (m n_v) with two significant digits.


def regime_rows(regimes: Sequence[Regime], n_sets: int) -> list[dict[str, str]]:
    """One table row per regime: its sizes, ``p / (m n_v)``, the test step, the sets sampled."""
    return [{"regime": r.name, "p": fmt(r.task.p, "count"), "m": fmt(r.train.m, "count"),
             "n_t": fmt(r.train.n_t, "count"), "n_v": fmt(r.train.n_v, "count"),
             "query rows m n_v": fmt(r.train.n_query, "count"),
             "all samples m (n_t + n_v)": fmt(r.train.m * (r.train.n_t + r.train.n_v), "count"),
             "p / (m n_v)": f"{r.ratio:.2g}", "n_r": fmt(r.n_r, "count"),
             "alpha_r": f"{r.alpha_r:g}", "sets": fmt(n_sets, "count")} for r in regimes]


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
