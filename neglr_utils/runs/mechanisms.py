"""The rate meta-gradient diagnostic of a run directory, computed once into ``mechanism.json``.

The diagnostic itself is `neglr_utils.core.mechanism`; this module loads the run and its
task list and caches the per-layer summaries (`store.read_mechanism` reads them back).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch

from ..core.data import load_split
from ..core.episodes import EpisodeSet
from ..core.mechanism import MECHANISM_SEED, SETTINGS, layer_pushes, rate_gradients, stored
from . import store
from .runtime import resolve_device
from .training import load_run


def has_mechanism(run_dir: str | os.PathLike) -> bool:
    """Whether the run directory holds a diagnostic (of any task count)."""
    return (Path(run_dir) / "mechanism.json").is_file()


def ensure_mechanism(run_dir: str | os.PathLike, *, n_tasks: int = 1000, split: str = "train",
                     batch_size: int = 25, data_root: str | os.PathLike | None = None,
                     device: str | torch.device = "cpu") -> dict[tuple[str, str], dict]:
    """(at, query_bn) -> layer -> `StoredPush` for a run, computed once into
    ``mechanism.json`` (recomputed when the run, the task count or the split changed)."""
    device = resolve_device(device)
    run = load_run(run_dir, device=device)
    key = {"run_hash": run.config.digest(), "iteration": run.iteration, "n_tasks": n_tasks,
           "split": split, "seed": MECHANISM_SEED}
    if store.mechanism_key(run_dir) != key:
        cfg = run.config
        image_split = load_split(cfg.dataset, split, data_root, image_size=cfg.image_size or None)
        tasks = EpisodeSet(image_split, cfg.n_way, cfg.k_shot, cfg.k_query, n_tasks,
                           seed=MECHANISM_SEED, device=device, dtype=getattr(torch, cfg.dtype))
        results = []
        for at, bn in SETTINGS:
            g = rate_gradients(run.params, run.effective_rates(), cfg.meta.n_inner_steps,
                               tasks.batches(batch_size), at=at, query_bn=bn)
            results.append({"at": at, "query_bn": bn,
                            "layers": [asdict(stored(p)) for p in layer_pushes(g).values()]})
        store.write_mechanism(run_dir, key, results)
    return store.read_mechanism(run_dir)

