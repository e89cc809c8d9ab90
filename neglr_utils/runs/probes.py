"""Probing run directories: each run's probe results computed once into ``probe.json``.

The probe itself (task lists, adaptation, the cosine-prototype accuracy) is
`neglr_utils.core.probe`; this module loads runs, probes them under conditions and caches
the typed results (`ensure_probes` computes only what is missing).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import torch

from ..core.data import ImageSplit, load_split
from ..core.meta import effective_rates
from ..core.probe import (
    TRAINED,
    Condition,
    ProbeConfig,
    ProbeResult,
    RunKey,
    default_conditions,
    probe_pairs,
    scale_rates,
    shared_class_fraction,
    task_lists,
)
from .runtime import device_description, resolve_device
from .store import load_probe_results, save_probe_results
from .training import Run, load_run


def run_key(run: Run) -> RunKey:
    """The `RunKey` of a loaded run (what its probe results are filed under)."""
    c = run.config
    return RunKey(c.algo, c.seed, c.dataset, c.profile, c.digest(), run.iteration,
                  run.finished, c.meta.query_bn)


def probe_run(run: Run, cfg: ProbeConfig, condition: Condition = TRAINED, *,
              image_split: ImageSplit, device: torch.device, progress: bool = False,
              compiled: bool = False) -> ProbeResult:
    """Probe one loaded run under ``condition`` on ``image_split`` (its probe split)."""
    rc = run.config
    k_shot = cfg.k_shot or rc.k_shot
    tasks = task_lists(image_split, rc.n_way, k_shot, cfg, device, getattr(torch, rc.dtype))
    params = {k: v.to(device) for k, v in run.params.items()}
    rates = effective_rates(params, {k: v.to(device) for k, v in run.rates.items()}, rc.meta)
    rates = scale_rates(rates, dict(condition.scales))
    t0 = time.perf_counter()
    acc = probe_pairs(params, rates, rc.meta.n_inner_steps, *tasks, bn_mode=cfg.bn_mode,
                      batch_size=cfg.batch_size, progress=progress, compiled=compiled)
    return ProbeResult(run_key(run), condition, cfg, acc, rc.n_way * cfg.k_query,
                       shared_class_fraction(*tasks), time.perf_counter() - t0,
                       device_description(device))


def ensure_probes(
    run_dirs: Sequence[str | os.PathLike],
    cfg: ProbeConfig,
    conditions: Callable[[str], Sequence[Condition]] = default_conditions,
    *,
    data_root: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    progress: bool = False,
    compiled: bool = False,
) -> list[ProbeResult]:
    """Probe every run under every condition of its algorithm, reusing ``probe.json``.

    A stored result is reused when it was made from the run as it is now (hash and
    iteration) with the same condition and probe settings; the rest is computed and
    added to the run's ``probe.json``. Returns the results in the order of the runs.
    """
    device = resolve_device(device)
    splits: dict[tuple, ImageSplit] = {}
    out: list[ProbeResult] = []
    for d in run_dirs:
        run = load_run(d, device=device)
        key = run_key(run)
        stored = load_probe_results(d)
        for cond in conditions(key.algo):
            hit = next((r for r in stored if r.matches(key, cond, cfg)), None)
            if hit is None:
                split_key = (run.config.dataset, cfg.split, run.config.image_size)
                if split_key not in splits:
                    splits[split_key] = load_split(run.config.dataset, cfg.split, data_root,
                                                   image_size=run.config.image_size or None)
                hit = probe_run(run, cfg, cond, image_split=splits[split_key], device=device,
                                progress=progress, compiled=compiled)
                stored = [r for r in stored if not r.matches(key, cond, cfg)] + [hit]
                save_probe_results(stored, d)
            out.append(hit)
    return out


def select(results: Sequence[ProbeResult], *, algo: str | None = None,
           condition: Condition | None = None, config: ProbeConfig | None = None,
           seed: int | None = None, query_bn: str | None = "transductive"
           ) -> list[ProbeResult]:
    """The results that match every given field, in their order (None: any).

    ``query_bn`` defaults to the study's main runs, leaving out the BatchNorm ablation.
    """
    return [r for r in results
            if (algo is None or r.run.algo == algo)
            and (condition is None or r.condition == condition)
            and (config is None or r.config.key() == config.key())
            and (seed is None or r.run.seed == seed)
            and (query_bn is None or r.run.query_bn == query_bn)]
