"""Learned inner rates per layer (the report's Table 1 and Figure 6) and their evolution.

Rates are always the *effective* step sizes (`meta.effective_rates`): Meta-SGD's tensors
as stored, ``exp`` of the stored log-rates for ``meta-sgd-positive``, MAML's scalar.

Layer groups follow the report's Table 1: ``conv1`` ... ``conv4`` are each block's conv
weights, ``logits`` pools the head's weight and bias. The conv biases are left out: the
BatchNorm after each conv removes any per-channel constant, so a conv bias gets no
gradient and its rate stays at its initial value (`models.is_inert`); pooled with the
weights they would pull each conv layer's mean towards the initial 0.01. They are
summarised apart (`inert_table`). BatchNorm scales and shifts (``bn1`` ... ``bn4``),
which the report does not list, get their own rows. Over several training seeds each
layer's mean rate becomes one value per seed, summarised by `stats.mean_ci` (a
t-interval over seeds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from ..core.models import is_inert, layer_of, param_shapes
from ..stats import Interval, as_array, mean_ci

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class RateStats:
    """Distribution of the effective rates of one layer group (or one tensor)."""

    layer: str
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1)
    frac_neg: float
    quantiles: tuple[float, ...] = ()  # at QUANTILES (empty when only moments are known)


def describe(layer: str, values: np.ndarray) -> RateStats:
    q = tuple(float(x) for x in np.quantile(values, QUANTILES))
    return RateStats(layer, int(values.size), float(values.mean()),
                     float(values.std(ddof=1)) if values.size > 1 else 0.0,
                     float((values < 0).mean()), q)


def rates_by_layer(rates: Mapping[str, Tensor | float]) -> dict[str, np.ndarray]:
    """Effective rates flattened per layer group, inert conv biases left out (Figure 6)."""
    out: dict[str, list[np.ndarray]] = {}
    for name, r in rates.items():
        if not is_inert(name):
            out.setdefault(layer_of(name), []).append(as_array(r))
    return {k: np.concatenate(v) for k, v in out.items()}


def rate_table(rates: Mapping[str, Tensor | float]) -> dict[str, RateStats]:
    """Layer group -> `RateStats` of a run's effective rates (names to tensors or floats)."""
    return {layer: describe(layer, v) for layer, v in rates_by_layer(rates).items()}


def fraction_negative(table: Mapping[str, RateStats]) -> float:
    """The fraction of all rates in a `rate_table` that are negative (pooled over its layer
    groups, each weighted by its number of rates)."""
    n = sum(s.n for s in table.values())
    if n == 0:
        raise ValueError("fraction_negative needs learned rates (MAML's table is empty)")
    return sum(s.n * s.frac_neg for s in table.values()) / n


def inert_table(rates: Mapping[str, Tensor | float]) -> dict[str, RateStats]:
    """Parameter name -> `RateStats` of the inert rates (the conv biases)."""
    return {name: describe(name, as_array(r)) for name, r in rates.items() if is_inert(name)}


@dataclass(frozen=True)
class LayerOverSeeds:
    """One layer's rates over training seeds: the seed means and their interval."""

    layer: str
    seeds: tuple[int, ...]
    means: tuple[float, ...]  # each seed's mean rate
    mean: Interval  # over seeds
    std: float  # mean over seeds of the within-run standard deviation
    frac_neg: float  # mean over seeds of the fraction negative
    n_negative_seeds: int  # seeds whose mean rate is negative


def table1_over_seeds(tables: Mapping[int, Mapping[str, RateStats]]) -> dict[str, LayerOverSeeds]:
    """Seed -> `rate_table` of that seed's run, combined per layer."""
    seeds = tuple(sorted(tables))
    layers = list(tables[seeds[0]])
    out = {}
    for layer in layers:
        rows = [tables[s][layer] for s in seeds]
        means = tuple(r.mean for r in rows)
        out[layer] = LayerOverSeeds(layer, seeds, means, mean_ci(means),
                                    float(np.mean([r.std for r in rows])),
                                    float(np.mean([r.frac_neg for r in rows])),
                                    sum(m < 0 for m in means))
    return out


# ----------------------------------------------------------------------------- evolution


@dataclass(frozen=True)
class RatePoint:
    """A layer's rate statistics at one logged iteration (pooled from its tensors)."""

    iteration: int
    layer: str
    n: int
    mean: float
    std: float
    frac_neg: float


def pool(layer: str, iteration: int, parts: Sequence[tuple[int, Mapping[str, float]]]
         ) -> RatePoint:
    """Exact pooled mean, sample std and fraction negative of tensors (numel, summary)."""
    n = sum(k for k, _ in parts)
    mean = sum(k * s["mean"] for k, s in parts) / n
    ss = sum((k - 1) * s["std"] ** 2 + k * s["mean"] ** 2 for k, s in parts)
    var = (ss - n * mean**2) / (n - 1) if n > 1 else 0.0
    return RatePoint(iteration, layer, n, mean, math.sqrt(max(var, 0.0)),
                     sum(k * s["frac_neg"] for k, s in parts) / n)


def rate_evolution(metrics: Iterable[Mapping[str, Any]], sizes: Mapping[str, int]
                   ) -> list[RatePoint]:
    """Per layer and logged iteration, from the per-tensor summaries in a metrics log.

    ``train.py`` logs, at validation times, each tensor's effective-rate mean, std
    (ddof=1) and fraction negative under ``"rates"``; ``sizes`` (numel per tensor) pools
    them into Table 1's layer groups exactly.
    """
    out: list[RatePoint] = []
    for row in metrics:
        if not row.get("rates"):
            continue
        groups: dict[str, list[tuple[int, Mapping[str, float]]]] = {}
        for name, s in row["rates"].items():
            if not is_inert(name):
                groups.setdefault(layer_of(name), []).append((int(sizes[name]), s))
        out += [pool(layer, int(row["iteration"]), parts) for layer, parts in groups.items()]
    return out


def run_rate_evolution(run: Any) -> list[RatePoint]:
    """`rate_evolution` of a loaded ``train.Run``, pooled into layers with its shapes."""
    sizes = {k: math.prod(s) for k, s in param_shapes(run.config.model_config()).items()}
    return rate_evolution(run.metrics, sizes)


def first_negative(points: Sequence[RatePoint], layer: str) -> int | None:
    """The first logged iteration from which ``layer``'s mean rate stays negative."""
    series = sorted((p.iteration, p.mean) for p in points if p.layer == layer)
    first = None
    for it, mean in series:
        if mean < 0 and first is None:
            first = it
        elif mean >= 0:
            first = None
    return first


def rate_at(points: Sequence[RatePoint], layer: str, iteration: int) -> float | None:
    """``layer``'s mean rate at the last logged iteration at or before ``iteration``; None
    before the first log or past the last (a run not trained that far)."""
    series = sorted((p.iteration, p.mean) for p in points if p.layer == layer)
    if not series or not series[0][0] <= iteration <= series[-1][0]:
        return None
    return [m for it, m in series if it <= iteration][-1]


def late_range(points: Sequence[RatePoint], layer: str, start: int) -> tuple[float, float]:
    """Lowest and highest mean rate of ``layer`` over the logged iterations >= ``start``."""
    means = [p.mean for p in points if p.layer == layer and p.iteration >= start]
    if not means:
        raise ValueError(f"no logged rates of {layer} from iteration {start}")
    return min(means), max(means)


@dataclass(frozen=True)
class Curves:
    """Columns of a metrics log: every logged row, and the validated ones."""

    iteration: tuple[int, ...]
    train_acc: tuple[float, ...]
    val_iteration: tuple[int, ...]
    val_acc: tuple[float, ...]
    val_ci95: tuple[float, ...]


def training_curves(metrics: Iterable[Mapping[str, Any]]) -> Curves:
    rows = list(metrics)
    val = [r for r in rows if "val_acc" in r]
    return Curves(tuple(r["iteration"] for r in rows), tuple(r["train_acc"] for r in rows),
                  tuple(r["iteration"] for r in val), tuple(r["val_acc"] for r in val),
                  tuple(r["val_ci95"] for r in val))
