"""MAML and Meta-SGD as one functional inner loop over the Conv-4.

Inner loop (Finn et al. 2017, eq. 1; Li et al. 2017, eq. 3), for each task i:

    theta_i <- theta_i - alpha o grad L_support(theta_i),   n_inner_steps times,

where ``alpha`` is one scalar (MAML) or a learned tensor per parameter, same shape, any
sign (Meta-SGD). The meta-loss is the mean over tasks of the query loss after adaptation;
the outer loop (``train.py``) differentiates it w.r.t. theta and, for Meta-SGD, alpha.

``meta-sgd-positive`` keeps every rate positive by learning ``log alpha``: the ablation
that asks whether negative rates cause the report's effect.

Rate initialisation (the report does not say): by default every Meta-SGD rate starts at
MAML's ``inner_lr``, so a Meta-SGD run starts as the MAML run and any negative rate is
learned, not drawn. ``rate_init="uniform"`` draws from ``rate_init_range`` as Li et al.

All tasks of a meta-batch run together through grouped convolutions (``models.py``);
the float64 tests in ``tests/test_meta.py`` show the meta-gradients equal a plain loop
over tasks and learn2learn's. The support gradients come from ``torch.func.grad``, one
inner loop for training (second or first order), evaluation, the probe and the compiled
step (``torch.compile`` traces it as one graph).

BatchNorm of the query (``query_bn``, the report does not say): "transductive" (the
query batch's own statistics, as in MAML's code) by default; "support" reuses the
adapted model's support-set statistics (the ablation of the study).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .episodes import Episode, EpisodeSet
from .models import Params, forward

ALGOS = ("maml", "meta-sgd", "meta-sgd-positive")
ADAPT_MODES = ("all", "head")
RATE_INITS = ("constant", "uniform")
QUERY_BN = ("transductive", "support")

Rates = Mapping[str, Tensor | float]


def check_choice(name: str, value: object, choices: tuple) -> None:
    """A clear error for a config field outside its choices."""
    if value not in choices:
        raise ValueError(f"{name}={value!r}; choose one of {choices}")


@dataclass(frozen=True)
class MetaConfig:
    """The inner loop: algorithm, its rate(s) and steps."""

    algo: str = "maml"  # "maml" | "meta-sgd" | "meta-sgd-positive"
    inner_lr: float = 0.01  # MAML's rate; Meta-SGD's initial rate with rate_init="constant"
    n_inner_steps: int = 5  # SGD steps on the support set, in training and evaluation
    first_order: bool = False  # drop second derivatives (FOMAML / first-order Meta-SGD)
    adapt: str = "all"  # "all" parameters, or "head" only (ANIL)
    rate_init: str = "constant"  # "constant" (= inner_lr) or "uniform" (Li et al. 2017)
    rate_init_range: tuple[float, float] = (0.005, 0.1)  # for rate_init="uniform"
    # BatchNorm of the query after adaptation: "transductive" (the query batch's own
    # statistics, as MAML) or "support" (the adapted model's support-set statistics).
    query_bn: str = "transductive"

    def __post_init__(self) -> None:
        check_choice("algo", self.algo, ALGOS)
        check_choice("adapt", self.adapt, ADAPT_MODES)
        check_choice("rate_init", self.rate_init, RATE_INITS)
        check_choice("query_bn", self.query_bn, QUERY_BN)
        if not isinstance(self.inner_lr, numbers.Real) or isinstance(self.inner_lr, bool):
            raise ValueError(f"inner_lr={self.inner_lr!r} must be a number")
        if not math.isfinite(self.inner_lr):
            raise ValueError(f"inner_lr={self.inner_lr} must be a finite number")
        if not isinstance(self.n_inner_steps, int) or isinstance(self.n_inner_steps, bool):
            raise ValueError(f"n_inner_steps={self.n_inner_steps!r} must be an integer")
        if self.n_inner_steps < 0:
            raise ValueError(f"n_inner_steps={self.n_inner_steps} must be >= 0")
        if self.algo == "meta-sgd-positive":
            lo = self.rate_init_range[0] if self.rate_init == "uniform" else self.inner_lr
            if lo <= 0:
                raise ValueError("meta-sgd-positive needs positive initial rates "
                                 f"(inner_lr / rate_init_range), got {lo}")

    @property
    def learns_rates(self) -> bool:
        return self.algo != "maml"


def adapted_names(params: Mapping[str, Tensor], adapt: str = "all") -> list[str]:
    """The parameters the inner loop changes: all of them, or the head only (ANIL)."""
    if adapt == "head":
        return [k for k in params if k.startswith("head.")]
    return list(params)


def init_rates(
    params: Mapping[str, Tensor], cfg: MetaConfig, *, generator: torch.Generator | None = None
) -> Params:
    """Meta-SGD's learnable rate tensors (``log`` rates for the positive variant); {} for MAML."""
    if not cfg.learns_rates:
        return {}
    rates: Params = {}
    for name in adapted_names(params, cfg.adapt):
        p = params[name]
        if cfg.rate_init == "uniform":
            lo, hi = cfg.rate_init_range
            r = lo + (hi - lo) * torch.rand(p.shape, generator=generator, dtype=torch.float64)
        else:
            r = torch.full(p.shape, cfg.inner_lr, dtype=torch.float64)
        if cfg.algo == "meta-sgd-positive":
            r = r.log()
        rates[name] = r.to(device=p.device, dtype=p.dtype)
    return rates


def effective_rates(
    params: Mapping[str, Tensor], rates: Mapping[str, Tensor], cfg: MetaConfig
) -> dict[str, Tensor | float]:
    """The step size of every adapted parameter: MAML's scalar or Meta-SGD's tensors."""
    names = adapted_names(params, cfg.adapt)
    if cfg.algo == "maml":
        return {k: cfg.inner_lr for k in names}
    if cfg.algo == "meta-sgd-positive":
        return {k: rates[k].exp() for k in names}
    return {k: rates[k] for k in names}


def task_losses(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy per task: ``logits [T, B, N]``, ``y [T, B]`` -> ``[T]``."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
    return ce.view(y.shape).mean(dim=1)


def accuracy(logits: Tensor, y: Tensor) -> Tensor:
    """Fraction correct per task: ``[T]``."""
    return (logits.argmax(dim=-1) == y).to(logits.dtype).mean(dim=1)


def adapt(
    params: Mapping[str, Tensor],
    x_support: Tensor,
    y_support: Tensor,
    rates: Rates,
    n_inner_steps: int,
    *,
    first_order: bool = False,
    per_task: bool = False,
    trajectory: list[Params] | None = None,
) -> Params:
    """Adapt ``params`` to each task: returns per-task parameters ``[T, *shape]``.

    ``x_support: [T, N*K, C, H, W]``, ``y_support: [T, N*K]``; ``rates`` maps each
    adapted name to a float or a tensor (the parameter's shape, or ``[T, *shape]`` with
    ``per_task``); names not in it stay as they are. ``params`` are shared (no task
    dimension), or with ``per_task`` already ``[T, *shape]`` (stacked models, `stack.py`).

    The support gradients come from ``torch.func.grad``, so the result stays
    differentiable w.r.t. ``params`` and ``rates`` (second order, full MAML / Meta-SGD)
    and the whole step can be traced by ``torch.compile``. ``first_order`` treats the
    support gradients as constants (FOMAML); for evaluation run under ``torch.no_grad()``.
    Each task's loss is its own mean and the losses are summed, so the gradient w.r.t. a
    task's copy of the weights is that task's gradient alone. With ``trajectory`` a list,
    the parameters before each step and after the last are appended to it.
    """
    n_tasks = x_support.shape[0]
    names = list(rates)
    frozen = {k: v for k, v in params.items() if k not in rates}
    fast = {k: params[k] if per_task else params[k].unsqueeze(0).expand(n_tasks, *params[k].shape)
            for k in names}

    def support_loss(adapted: Params) -> Tensor:
        return task_losses(forward({**frozen, **adapted}, x_support), y_support).sum()

    grad_fn = torch.func.grad(support_loss)
    for _ in range(n_inner_steps):
        if trajectory is not None:
            trajectory.append({**frozen, **fast})
        grads = grad_fn(fast)
        fast = {k: fast[k] - rates[k] * (grads[k].detach() if first_order else grads[k])
                for k in names}
    if trajectory is not None:
        trajectory.append({**frozen, **fast})
    return {**frozen, **fast}


def query_logits(fast: Mapping[str, Tensor], episode: Episode,
                 query_bn: str = "transductive") -> Tensor:
    """Logits of the query images ``[T, N*Q, N]`` under the adapted (per-task) weights.

    ``query_bn="transductive"``: the query set is one BatchNorm batch; ``"support"``:
    support and query go through together with the support set's statistics, so each
    query image is classified on its own.
    """
    if query_bn == "transductive":
        return forward(fast, episode.x_query)
    n_s = episode.x_support.shape[1]
    x = torch.cat([episode.x_support, episode.x_query], dim=1)
    return forward(fast, x, n_stats=n_s)[:, n_s:]


@dataclass(frozen=True)
class MetaOutput:
    """The meta-loss of a batch of tasks and what goes into the metrics log."""

    loss: Tensor  # scalar: mean query loss after adaptation
    query_loss: Tensor  # [T], detached
    query_acc: Tensor  # [T], detached


def meta_loss(
    params: Mapping[str, Tensor],
    rates: Mapping[str, Tensor],
    episode: Episode,
    cfg: MetaConfig,
    *,
    first_order: bool | None = None,
) -> MetaOutput:
    """Adapt on each task's support set, then the mean query loss (differentiable).

    ``rates`` are the learned (raw) rates of Meta-SGD, {} for MAML. ``first_order``
    defaults to ``cfg.first_order``; evaluation passes True under ``torch.no_grad()``.
    """
    first_order = cfg.first_order if first_order is None else first_order
    lrs = effective_rates(params, rates, cfg)
    fast = adapt(params, episode.x_support, episode.y_support, lrs, cfg.n_inner_steps,
                 first_order=first_order)
    logits = query_logits(fast, episode, cfg.query_bn)
    losses = task_losses(logits, episode.y_query)
    return MetaOutput(losses.mean(), losses.detach(), accuracy(logits, episode.y_query).detach())


def evaluate(
    params: Mapping[str, Tensor],
    rates: Mapping[str, Tensor],
    episodes: EpisodeSet,
    cfg: MetaConfig,
    *,
    batch_size: int = 50,
) -> Tensor:
    """Query accuracy after adaptation (with the head) on every task of ``episodes``: ``[E]``.

    First order (the support gradients are not differentiated further), without an
    outer graph: the same adapted weights as in training, at a fraction of the cost.
    """
    params = {k: v.detach() for k, v in params.items()}
    rates = {k: v.detach() for k, v in rates.items()}
    accs = []
    with torch.no_grad():
        for ep in episodes.batches(batch_size):
            accs.append(meta_loss(params, rates, ep, cfg, first_order=True).query_acc)
    return torch.cat(accs).cpu()
