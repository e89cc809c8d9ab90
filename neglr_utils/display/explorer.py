"""The learning-rate explorer's science: the probe under rescaled inner rates.

Pure functions of trained runs and fixed task lists (the UI is in ``widgets.py``):

- `explorer_point`: Meta-SGD's learned rates scaled per layer (`probe.scale_rates`,
  negative factors flip signs) or MAML's scalar rate replaced, then the head-free probe
  (`probe.probe_pairs`, the probe loop itself) and the query accuracy *with* the head
  after the same adaptation (``adapt_acc``, as in `meta.evaluate`) on tasks A;
- `precompute_sweep`: one Meta-SGD point per multiplier of every conv layer's rates.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.episodes import Episode, EpisodeSet
from ..core.meta import Rates, accuracy
from ..core.models import forward
from ..core.probe import ProbeConfig, probe_pairs, scale_rates, task_lists
from ..runs.training import Run
from ..stats import Interval, mean_ci

LAYERS = ("conv1", "conv2", "conv3", "conv4", "bn", "head")  # slider groups (name prefixes)
EXPLORER_ALGOS = ("maml", "meta-sgd")
CONV_GRID = tuple(x / 4 for x in range(-8, 9))  # -2 .. 2, step 0.25


@dataclass(frozen=True)
class Point:
    """One model under one inner rule: means with 95 % t-intervals over the task pairs."""

    n: int
    pre_a: Interval
    on_a: Interval
    off_b: Interval
    pre_b: Interval
    adapt_acc: Interval  # with the head, after adaptation, task A's queries
    on_change: Interval  # on_a - pre_a
    off_change: Interval  # off_b - pre_b


def explorer_tasks(run: Run, image_split: Any, n_pairs: int, *, k_query: int = 10,
                   seed: int = 0, device: torch.device | str = "cpu"
                   ) -> tuple[EpisodeSet, EpisodeSet]:
    """Task lists A and B with the probe's seeds (`probe.task_lists`)."""
    cfg = ProbeConfig(n_iterations=n_pairs, k_query=k_query, seed=seed)
    return task_lists(image_split, run.config.n_way, run.config.k_shot, cfg,
                      torch.device(device), getattr(torch, run.config.dtype))


def point(params: Mapping[str, Tensor], rates: Rates, n_inner_steps: int,
          tasks_a: EpisodeSet, tasks_b: EpisodeSet, *, bn_mode: str = "joint",
          batch_size: int = 100) -> Point:
    """The probe loop with the head's accuracy read after each chunk's adaptation."""
    head_acc: list[Tensor] = []

    def with_head(ep_a: Episode, fast: dict[str, Tensor]) -> None:
        head_acc.append(accuracy(forward(fast, ep_a.x_query), ep_a.y_query).double().cpu())

    acc = probe_pairs(params, rates, n_inner_steps, tasks_a, tasks_b, bn_mode=bn_mode,
                      batch_size=batch_size, adapted=with_head)
    adapt_acc = torch.cat(head_acc).numpy()
    return Point(acc.n, mean_ci(acc.pre_a), mean_ci(acc.on_a), mean_ci(acc.off_b),
                 mean_ci(acc.pre_b), mean_ci(adapt_acc), mean_ci(acc.on_a - acc.pre_a),
                 mean_ci(acc.off_b - acc.pre_b))


def rule(run: Run, multipliers: Mapping[str, float] | None = None,
         inner_lr: float | None = None) -> dict[str, Tensor | float]:
    """A run's inner rates: Meta-SGD's scaled per layer prefix, or MAML's replaced."""
    rates = run.effective_rates()
    if run.config.meta.learns_rates:
        return scale_rates(rates, {k: float(v) for k, v in (multipliers or {}).items()})
    lr = run.config.meta.inner_lr if inner_lr is None else float(inner_lr)
    return dict.fromkeys(rates, lr)


def explorer_point(runs: Mapping[str, Run], tasks_a: EpisodeSet, tasks_b: EpisodeSet, *,
                   multipliers: Mapping[str, float], maml_inner_lr: float, n_inner_steps: int,
                   bn_mode: str = "joint", batch_size: int = 100) -> dict[str, Point]:
    """Each algorithm in ``runs`` ("maml", "meta-sgd") at one slider setting.

    ``multipliers``: factor per layer prefix for Meta-SGD's learned rates (a layer not
    named keeps factor 1; negative = sign flip); ``maml_inner_lr`` replaces MAML's rate;
    ``n_inner_steps`` applies to both. Deterministic: same inputs, same numbers.
    """
    return {algo: point(run.params, rule(run, multipliers, maml_inner_lr), n_inner_steps,
                        tasks_a, tasks_b, bn_mode=bn_mode, batch_size=batch_size)
            for algo, run in runs.items()}


@dataclass(frozen=True)
class ConvSweep:
    """Meta-SGD with all conv rates times each multiplier; MAML as trained for reference."""

    grid: tuple[float, ...]
    meta_sgd: tuple[Point, ...]
    maml: Point
    n_pairs: int
    seconds: float


def precompute_sweep(maml_run: Run, meta_sgd_run: Run, tasks_a: EpisodeSet, tasks_b: EpisodeSet,
                     grid: Sequence[float] = CONV_GRID, *, bn_mode: str = "joint",
                     batch_size: int = 100) -> ConvSweep:
    """BatchNorm and head rates stay as learned; both runs use their own inner steps."""
    t0 = time.perf_counter()
    kw = {"bn_mode": bn_mode, "batch_size": batch_size}
    maml = point(maml_run.params, rule(maml_run), maml_run.config.meta.n_inner_steps,
                 tasks_a, tasks_b, **kw)
    steps = meta_sgd_run.config.meta.n_inner_steps
    points = tuple(point(meta_sgd_run.params, rule(meta_sgd_run, {"conv": m}), steps,
                         tasks_a, tasks_b, **kw) for m in grid)
    return ConvSweep(tuple(float(m) for m in grid), points, maml, len(tasks_a),
                 time.perf_counter() - t0)


def sweep_table(sweep: ConvSweep) -> list[dict[str, float]]:
    """The sweep's numbers, one row per multiplier (means)."""
    return [{"conv multiplier": m, "on - pre (A)": p.on_change.mean,
             "off - pre (B)": p.off_change.mean, "adapted, with head": p.adapt_acc.mean}
            for m, p in zip(sweep.grid, sweep.meta_sgd, strict=True)]


def grid_values(step: float, limit: float = 2.0) -> list[float]:
    """Multipliers from -limit to limit in steps of ``step`` (1 included when on the grid)."""
    return np.round(np.arange(-limit, limit + step / 2, step), 4).tolist()
