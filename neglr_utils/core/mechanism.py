"""What pushes the rates negative: the meta-gradient with respect to the inner rates.

For a trained initialisation theta and per-parameter inner rates alpha (MAML: its scalar
in every entry), the meta-objective of one task is the query loss after adaptation,
``L_q(theta_n(alpha))``. Its gradient ``dL_q/dalpha`` is what the outer loop follows:
gradient descent moves alpha by ``-meta_lr * dL_q/dalpha``, so a layer whose mean
``dL_q/dalpha`` is positive is pushed towards negative rates.

At ``alpha = 0`` the inner loop does not move and the gradient has a closed form: with n
steps, ``dL_q/dalpha_j = -n * g_q,j * g_s,j`` (query gradient times support gradient of
parameter j at theta), so the sign says whether the support and query gradients of a
parameter agree (negative: learn forwards) or disagree (positive: learn backwards).

`rate_gradients` measures it per task over a fixed list of tasks, per layer group, at
alpha = 0 or at the learned alpha, with the query's BatchNorm statistics transductive
(as in training) or taken from the support set, and `layer_pushes` gives the mean, its
t-statistic over tasks and the fraction of entries whose mean gradient is positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..stats import PairedTest, paired_test
from .episodes import Episode
from .meta import QUERY_BN, adapt, query_logits, task_losses
from .models import layer_of

AT = ("zero", "learned")


@dataclass(frozen=True)
class RateGradients:
    """Per task and layer group, the mean of dL_q/dalpha over the group's entries."""

    at: str  # "zero" | "learned"
    query_bn: str  # "transductive" | "support"
    per_task: dict[str, np.ndarray]  # layer -> [n_tasks]
    positive_entries: dict[str, float]  # layer -> fraction of entries with mean grad > 0


def _rates_at(params: Mapping[str, Tensor], eff: Mapping[str, Tensor | float], at: str
              ) -> dict[str, Tensor]:
    """The rates at which to differentiate: zeros, or the run's effective rates."""
    ref = params
    if at == "zero":
        return {k: torch.zeros_like(ref[k]) for k in eff}
    return {k: (torch.full_like(ref[k], v) if isinstance(v, float) else v.detach().clone())
            for k, v in eff.items()}


def chunk_gradients(params: Mapping[str, Tensor], rates: Mapping[str, Tensor], episode, *,
                    n_inner_steps: int, query_bn: str) -> dict[str, Tensor]:
    """dL_q,t/dalpha for every task t of ``episode``: name -> ``[T, *shape]``.

    Each task gets its own copy of the rates (a leaf), so one backward pass gives every
    task's gradient (second order through the inner loop).
    """
    n = episode.n_tasks
    per_task = {k: v.detach().unsqueeze(0).repeat(n, *([1] * v.dim())).requires_grad_(True)
                for k, v in rates.items()}
    fast = adapt({k: v.detach() for k, v in params.items()}, episode.x_support,
                 episode.y_support, per_task, n_inner_steps)
    loss = task_losses(query_logits(fast, episode, query_bn), episode.y_query).sum()
    grads = torch.autograd.grad(loss, list(per_task.values()))
    return dict(zip(per_task, grads, strict=True))


def rate_gradients(params: Mapping[str, Tensor], rates: Mapping[str, Tensor | float],
                   n_inner_steps: int, batches: Iterable[Episode], *, at: str = "zero",
                   query_bn: str = "transductive") -> RateGradients:
    """dL_q/dalpha per task and layer on task ``batches`` (e.g. ``EpisodeSet.batches(25)``)
    for the initialisation ``params`` and its effective inner ``rates``
    (`meta.effective_rates`); see the module docstring."""
    if at not in AT or query_bn not in QUERY_BN:
        raise ValueError(f"at={at!r} must be one of {AT}; query_bn={query_bn!r} one of "
                         f"{QUERY_BN}")
    rates = _rates_at(params, rates, at)
    layers = sorted({layer_of(k) for k in rates})
    per_task: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    sums = {k: torch.zeros_like(v, dtype=torch.float64) for k, v in rates.items()}
    for ep in batches:
        g = chunk_gradients(params, rates, ep, n_inner_steps=n_inner_steps, query_bn=query_bn)
        for layer in layers:
            parts = [v.flatten(1) for k, v in g.items() if layer_of(k) == layer]
            per_task[layer].append(torch.cat(parts, 1).double().mean(1).cpu().numpy())
        for k, v in g.items():
            sums[k] += v.double().sum(0)
    positive = {layer: float(torch.cat([(sums[k] > 0).flatten().double() for k in sums
                                         if layer_of(k) == layer]).mean()) for layer in layers}
    return RateGradients(at, query_bn, {k: np.concatenate(v) for k, v in per_task.items()},
                         positive)


@dataclass(frozen=True)
class LayerPush:
    """One layer: where the meta-objective pushes its rates, over tasks."""

    layer: str
    test: PairedTest  # one-sample test of the per-task mean gradient against 0
    positive_entries: float

    @property
    def t(self) -> float:
        return self.test.t

    @property
    def direction(self) -> str:
        """"down" (towards negative rates) when dL/dalpha > 0 with p < 0.05, "up" when < 0."""
        if not self.test.p < 0.05:
            return "none"
        return "down" if self.test.diff.mean > 0 else "up"


def layer_pushes(g: RateGradients) -> dict[str, LayerPush]:
    return {layer: LayerPush(layer, paired_test(v, 0.0), g.positive_entries[layer])
            for layer, v in g.per_task.items()}


# ----------------------------------------------------------------------------- stored form

SETTINGS = tuple((at, bn) for at in AT for bn in QUERY_BN)
MECHANISM_SEED = 40_000  # the task list of the diagnostic (meta-training split)


@dataclass(frozen=True)
class StoredPush:
    """A `LayerPush` as stored in ``mechanism.json`` (numbers only)."""

    layer: str
    mean: float
    sd: float
    n: int
    t: float
    p: float
    positive_entries: float


def stored(push: LayerPush) -> StoredPush:
    d = push.test.diff
    return StoredPush(push.layer, d.mean, d.sd, d.n, push.t, push.test.p, push.positive_entries)
