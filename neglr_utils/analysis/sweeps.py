"""A sweep's finished runs summarised per grid point (seeds pooled): `collect`.

``python -m neglr_utils sweep FILE --collect`` writes the table as ``collect.json`` and
``collect.csv`` in the sweep's folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..runs.sweep import RunSpec, Sweep, is_finished, run_dir
from ..stats import Interval, mean_ci
from .results import accuracy_over_seeds, summarize


@dataclass(frozen=True)
class SweepRow:
    """One grid point over its seeds: the swept settings and numbers with CIs over seeds."""

    profile: str
    algo: str
    settings: tuple[tuple[str, Any], ...]  # the overrides (without the seed)
    seeds: tuple[int, ...]  # finished seeds
    rate_means: dict[str, Interval]  # layer -> mean rate over seeds
    frac_neg: dict[str, float]  # layer -> mean over seeds of the fraction negative
    test_acc: Interval | None


def collect(sweep: Sweep) -> list[SweepRow]:
    """Finished runs of ``sweep`` summarised per grid point (seeds pooled)."""
    groups: dict[tuple, list[RunSpec]] = {}
    for s in sweep.specs():
        groups.setdefault((s.profile, s.algo, s.overrides), []).append(s)
    rows = []
    for (profile, algo, overrides), specs in groups.items():
        runs = [summarize(run_dir(s, sweep.out)) for s in specs if is_finished(s, sweep.out)]
        if not runs:
            continue
        layers = list(runs[0].rates)
        rows.append(SweepRow(
            profile, algo, overrides, tuple(r.seed for r in runs),
            {k: mean_ci([r.rates[k].mean for r in runs]) for k in layers},
            {k: sum(r.rates[k].frac_neg for r in runs) / len(runs) for k in layers},
            accuracy_over_seeds(runs)))
    return rows


def collect_table(rows: Sequence[SweepRow]) -> list[dict[str, Any]]:
    """Flat rows (numbers) for JSON and CSV: one column per setting, layer statistic."""
    out = []
    for r in rows:
        d: dict[str, Any] = {"profile": r.profile, "algo": r.algo, **dict(r.settings),
                             "seeds": " ".join(map(str, r.seeds)), "n_seeds": len(r.seeds)}
        for layer, ci in r.rate_means.items():
            d |= {f"{layer} mean": ci.mean, f"{layer} ci95": ci.half,
                  f"{layer} frac_neg": r.frac_neg[layer]}
        if r.test_acc is not None:
            d |= {"test acc": r.test_acc.mean, "test acc ci95": r.test_acc.half}
        out.append(d)
    return out


def sweep_series(rows: Sequence[SweepRow], setting: str, layers: Sequence[str]
                 ) -> tuple[list[Any], dict[str, list[Interval | None]]]:
    """(values of ``setting``, layer -> mean rate over seeds at each value) from `collect`,
    for the rows that vary ``setting``, in its order."""
    rows = sorted((r for r in rows if setting in dict(r.settings)),
                  key=lambda r: dict(r.settings)[setting])
    return ([dict(r.settings)[setting] for r in rows],
            {k: [r.rate_means.get(k) for r in rows] for k in layers})
