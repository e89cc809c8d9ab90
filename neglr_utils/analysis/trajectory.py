"""What the inner steps do to a task: accuracy after each step, with the head included."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ..core.data import load_split
from ..core.episodes import EpisodeSet
from ..core.meta import accuracy, adapt
from ..core.models import forward
from ..runs.config import TEST_SEED
from ..runs.training import Run


@dataclass(frozen=True)
class AdaptationCurves:
    """Accuracy ``[n_steps + 1, n_tasks]`` on support and query images, step 0 = init."""

    support: np.ndarray
    query: np.ndarray
    n_trained_steps: int


def adaptation_curves(run: Run, *, n_tasks: int = 100, extra_steps: int = 5,
                      data_root: str | os.PathLike | None = None,
                      device: torch.device | str = "cpu") -> AdaptationCurves:
    """Adapt ``run``'s initialisation to the first ``n_tasks`` test tasks with its own rule,
    ``extra_steps`` past its training steps, and score every step."""
    cfg = run.config
    split = load_split(cfg.dataset, "test", data_root, image_size=cfg.image_size or None)
    ep = EpisodeSet(split, cfg.n_way, cfg.k_shot, cfg.k_query, n_tasks, seed=TEST_SEED,
                    device=device, dtype=getattr(torch, cfg.dtype)).get(0, n_tasks)
    steps: list = []
    with torch.no_grad():
        adapt(run.params, ep.x_support, ep.y_support, run.effective_rates(),
              cfg.meta.n_inner_steps + extra_steps, first_order=True, trajectory=steps)
        support = torch.stack([accuracy(forward(p, ep.x_support), ep.y_support) for p in steps])
        query = torch.stack([accuracy(forward(p, ep.x_query), ep.y_query) for p in steps])
    return AdaptationCurves(support.double().cpu().numpy(), query.double().cpu().numpy(),
                            cfg.meta.n_inner_steps)
