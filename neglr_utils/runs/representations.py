"""Representation change of run directories, computed once into ``representation.json``.

The measure itself (linear CKA per layer before vs after adaptation, the weight change,
the head accuracy) is `neglr_utils.core.representation`; this module loads a run, draws
the probe's task pairs (`core.probe.task_lists`: the same A and B lists as the probe, so
pair i here is the probe's pair i) and caches the per-pair numbers, keyed by the run's
hash and iteration, the probe settings, the condition and the number of pairs.

Cost, measured on one thread of the 2-core CPU beside a training run, 4 conditions
computed together: an Omniglot run (32 filters, 5 inner steps) takes about 0.6 s per
task pair (114 s for 200 pairs, 404 s for 600), a mini-ImageNet 32x32 run about twice
that; the 12 runs of the CPU study took 213 s with 20 pairs and 142 s with 16, the
default (within about 3 minutes). With 16 pairs the per-pair spread of the Omniglot
Meta-SGD run gives a 95 % half-width of about 0.035 for conv4's mean CKA and 0.07 for
the head's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..core.data import load_split
from ..core.meta import effective_rates
from ..core.probe import TRAINED, Condition, ProbeConfig, conv_scaled, scale_rates, task_lists
from ..core.representation import HEAD_ONLY, RepresentationChange, representation_pairs
from .runtime import device_description, resolve_device
from .store import StoredRepresentation, read_representations, write_representations
from .training import Run, load_run

DEFAULT_N_PAIRS = 16  # task pairs per run and condition (the module docstring's cost)


def representation_conditions(algo: str) -> tuple[Condition, ...]:
    """The conditions a run is measured under: as trained and with a frozen body (only the
    head adapts, ANIL-style); Meta-SGD also with its conv rates flipped and zeroed."""
    signs = (conv_scaled(-1.0), conv_scaled(0.0)) if algo == "meta-sgd" else ()
    return (TRAINED, *signs, HEAD_ONLY)


def representation_key(run: Run, cfg: ProbeConfig, condition: Condition, n_pairs: int
                       ) -> dict[str, Any]:
    """What a stored result depends on (as JSON): run state, probe settings, condition."""
    return {"run_hash": run.config.digest(), "iteration": run.iteration, "probe": cfg.key(),
            "condition": [list(s) for s in condition.scales], "n_pairs": n_pairs}


def compute_representation(run: Run, cfg: ProbeConfig, conditions: Sequence[Condition],
                           n_pairs: int, *, data_root: str | os.PathLike | None,
                           device: torch.device) -> dict[Condition, RepresentationChange]:
    """The representation change of a loaded run under each condition (computed together:
    the meta-initialisation's activations are shared)."""
    rc = run.config
    split = load_split(rc.dataset, cfg.split, data_root, image_size=rc.image_size or None)
    tasks = task_lists(split, rc.n_way, cfg.k_shot or rc.k_shot, cfg, device,
                       getattr(torch, rc.dtype))
    params = {k: v.to(device) for k, v in run.params.items()}
    rates = effective_rates(params, {k: v.to(device) for k, v in run.rates.items()}, rc.meta)
    rate_sets = [scale_rates(rates, dict(c.scales)) for c in conditions]
    changes = representation_pairs(params, rate_sets, rc.meta.n_inner_steps, *tasks,
                                   n_pairs=n_pairs, batch_size=cfg.batch_size,
                                   query_bn=rc.meta.query_bn)
    return dict(zip(conditions, changes, strict=True))


def ensure_representation(
    run_dir: str | os.PathLike,
    probe_config: ProbeConfig,
    conditions: Sequence[Condition],
    *,
    data_root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    n_pairs: int | None = None,
) -> dict[Condition, RepresentationChange]:
    """The representation change of one run under each condition, reusing the cache.

    ``probe_config`` chooses the task pairs (split, seed, ``k_query``, ``disjoint``) as
    for the probe; the first ``n_pairs`` of its ``n_iterations`` pairs are used
    (default `DEFAULT_N_PAIRS`, at most ``n_iterations``). A stored result is reused when
    its key (`representation_key`) is the same; the rest is computed and added to
    ``run_dir/representation.json``. Returns condition -> result, in the order given.
    """
    n_pairs = min(DEFAULT_N_PAIRS, probe_config.n_iterations) if n_pairs is None else n_pairs
    if not 1 <= n_pairs <= probe_config.n_iterations:
        raise ValueError(f"n_pairs={n_pairs}; choose 1 to {probe_config.n_iterations} (the "
                         "probe config's n_iterations), or raise n_iterations")
    device = resolve_device(device)
    run = load_run(run_dir, device=device)
    stored = read_representations(run_dir)
    keys = {c: representation_key(run, probe_config, c, n_pairs) for c in conditions}
    found = {c: next((e for e in stored if e.key == k), None) for c, k in keys.items()}
    missing = [c for c, e in found.items() if e is None]
    if missing:
        t0 = time.perf_counter()
        fresh = compute_representation(run, probe_config, missing, n_pairs,
                                       data_root=data_root, device=device)
        share = (time.perf_counter() - t0) / len(missing)  # the conditions share the work
        new = [StoredRepresentation(keys[c], share, device_description(device), change)
               for c, change in fresh.items()]
        write_representations(Path(run_dir), stored + new)
        stored = read_representations(run_dir)  # rounded as stored: every call agrees
        found = {c: next(e for e in stored if e.key == k) for c, k in keys.items()}
    return {c: found[c].change for c in conditions}
