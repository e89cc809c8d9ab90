"""M runs trained as one model: stacked parameters, one grouped forward, one Adam.

Runs with the same shapes and schedule (dataset, image size, filters, ways, shots,
queries, tasks per batch, inner steps, meta learning rate, iterations) but any mix of
algorithms, inner rates and seeds train together. Each parameter is one tensor
``[M, *shape]``; each model's T tasks are expanded from its own row, so one grouped
convolution runs M*T tasks (``models.features``). Meta-SGD's rates are stacked over the
rate-learning models only. One Adam steps the stacked tensors; Adam is elementwise, so
this is M independent Adams (all at the same step count). The summed loss of the M
models has, for each model's rows, the gradient of that model's own meta-loss.

A single run is a stack of one (``train.train``), so there is one training path. Each
model's state is saved in its own run directory in the format of a single run
(`model_state` / `load_model_state`): a stacked run resumes exactly, and a model can be
split out and continued alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor

from .episodes import Episode
from .meta import accuracy, adapt, init_rates, query_logits, task_losses
from .models import Params, init_params

# RunConfig / MetaConfig fields that may differ between the models of one stack.
PER_MODEL_FIELDS = ("profile", "seed", "algo", "inner_lr", "rate_init", "rate_init_range")


def stack_key(cfg: Any) -> dict[str, Any]:
    """The settings every model of a stack must share (a RunConfig minus per-model fields)."""
    d = asdict(cfg)
    meta = {f"meta.{k}": v for k, v in d.pop("meta").items() if k not in PER_MODEL_FIELDS}
    return {**{k: v for k, v in d.items() if k not in PER_MODEL_FIELDS}, **meta}


def check_stackable(cfgs: Sequence[Any]) -> None:
    """Raise a ValueError naming the first setting that differs between the configs."""
    if not cfgs:
        raise ValueError("a stack needs at least one run config")
    first = stack_key(cfgs[0])
    for cfg in cfgs[1:]:
        key = stack_key(cfg)
        diff = sorted(k for k in first if first[k] != key[k])
        if diff:
            raise ValueError(f"runs differ in {diff} ({cfgs[0].algo} seed {cfgs[0].seed} vs "
                             f"{cfg.algo} seed {cfg.seed}); only {PER_MODEL_FIELDS} may differ "
                             "within a stack: train them separately")
    names = [(c.algo, c.seed, c.digest()) for c in cfgs]
    if len(set(names)) != len(names):
        raise ValueError("the same run appears twice in a stack")


def _expand(t: Tensor, n_tasks: int) -> Tensor:
    """``[M, *shape]`` -> ``[M*T, *shape]``: each model's row once per task."""
    return t.unsqueeze(1).expand(t.shape[0], n_tasks, *t.shape[1:]).reshape(-1, *t.shape[1:])


class Stack:
    """The trainable state of M runs: stacked parameters and rates, and their Adam.

    ``params[name]: [M, *shape]``; ``rates[name]: [R, *shape]`` for the R models that
    learn rates (their raw values: ``log`` rates for ``meta-sgd-positive``).
    """

    def __init__(self, cfgs: Sequence[Any], device: torch.device, *,
                 torch_compile: bool = False) -> None:
        check_stackable(cfgs)
        self.cfgs = list(cfgs)
        self.meta = cfgs[0].meta  # the shared inner-loop settings (steps, order, BN)
        self.dtype = getattr(torch, cfgs[0].dtype)
        per_model = [self._init_model(c, device) for c in cfgs]
        self.rate_rows = [c.meta.learns_rates for c in cfgs]
        self.params = {k: torch.stack([p[k] for p, _ in per_model]).requires_grad_(True)
                       for k in per_model[0][0]}
        learners = [r for (_, r), learns in zip(per_model, self.rate_rows, strict=True) if learns]
        self.rates = ({k: torch.stack([r[k] for r in learners]).requires_grad_(True)
                       for k in learners[0]} if learners else {})
        leaves = [*self.params.values(), *self.rates.values()]
        self.opt = torch.optim.Adam(leaves, lr=cfgs[0].meta_lr)
        # torch.compile traces the meta-loss (inner loop included) as one graph; the first
        # call compiles (about a minute on 2 CPU cores, then cached on disk by inductor).
        self._loss = (torch.compile(self.meta_loss, dynamic=False) if torch_compile
                      else self.meta_loss)

    def _init_model(self, cfg: Any, device: torch.device) -> tuple[Params, Params]:
        """A single run's initialisation: its own generator, weights then rates."""
        gen = torch.Generator().manual_seed(cfg.seed)
        params = init_params(cfg.model_config(), generator=gen, dtype=self.dtype, device=device)
        return params, init_rates(params, cfg.meta, generator=gen)

    @property
    def n_models(self) -> int:
        return len(self.cfgs)

    def _rate_index(self, m: int) -> int:
        return sum(self.rate_rows[:m])

    def effective_rates(self) -> dict[str, Tensor | float]:
        """Each adapted name's step sizes ``[M, *shape]`` (a float when all are MAML's)."""
        names = list(self.rates) or list(self.params)
        if not self.rates and len({c.meta.inner_lr for c in self.cfgs}) == 1:
            return {k: self.cfgs[0].meta.inner_lr for k in names}
        out = {}
        for k in names:
            rows = []
            for m, cfg in enumerate(self.cfgs):
                if not cfg.meta.learns_rates:
                    rows.append(torch.full_like(self.params[k][m], cfg.meta.inner_lr))
                    continue
                raw = self.rates[k][self._rate_index(m)]
                rows.append(raw.exp() if cfg.algo == "meta-sgd-positive" else raw)
            out[k] = torch.stack(rows)
        return out

    def meta_loss(self, episode: Episode) -> tuple[Tensor, Tensor, Tensor]:
        """Summed meta-loss of the M models on ``episode`` (M*T tasks, model-major).

        Returns (loss to differentiate, per-model query loss [M], per-model accuracy [M]).
        """
        n_tasks = episode.n_tasks // self.n_models
        one = self.n_models == 1  # a single run: shared weights, as the unstacked loop
        lift = (lambda v: v[0]) if one else (lambda v: _expand(v, n_tasks))
        params = {k: lift(v) for k, v in self.params.items()}
        lrs = {k: v if isinstance(v, float) else lift(v)
               for k, v in self.effective_rates().items()}
        fast = adapt(params, episode.x_support, episode.y_support, lrs,
                     self.meta.n_inner_steps, first_order=self.meta.first_order,
                     per_task=not one)
        logits = query_logits(fast, episode, self.meta.query_bn)
        losses = task_losses(logits, episode.y_query).view(self.n_models, n_tasks).mean(1)
        acc = accuracy(logits, episode.y_query).view(self.n_models, n_tasks).mean(1)
        return losses.sum(), losses.detach(), acc.detach()

    def step(self, episode: Episode) -> tuple[Tensor, Tensor]:
        """One meta-iteration: loss, backward, Adam. Returns per-model (loss, acc) [M]."""
        loss, losses, acc = self._loss(episode)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return losses, acc

    # --------------------------------------------------------------- one model's view

    def model_params(self, m: int) -> Params:
        """Model ``m``'s parameters (detached views)."""
        return {k: v[m].detach() for k, v in self.params.items()}

    def model_rates(self, m: int) -> Params:
        """Model ``m``'s raw rates (detached views; {} for MAML)."""
        if not self.rate_rows[m]:
            return {}
        i = self._rate_index(m)
        return {k: v[i].detach() for k, v in self.rates.items()}

    def _leaves(self, m: int) -> dict[str, tuple[Tensor, int]]:
        """``"param:name"`` / ``"rate:name"`` -> (stacked tensor, row of model m)."""
        out = {f"param:{k}": (v, m) for k, v in self.params.items()}
        if self.rate_rows[m]:
            out |= {f"rate:{k}": (v, self._rate_index(m)) for k, v in self.rates.items()}
        return out

    def adam_state(self, m: int) -> dict[str, Any]:
        """Model ``m``'s Adam moments and step count (what a single run's Adam would hold)."""
        step, avg, avg_sq = 0, {}, {}
        for name, (t, row) in self._leaves(m).items():
            st = self.opt.state.get(t)
            if st:
                step = int(st["step"])
                avg[name] = st["exp_avg"][row].detach().clone()
                avg_sq[name] = st["exp_avg_sq"][row].detach().clone()
        return {"step": step, "exp_avg": avg, "exp_avg_sq": avg_sq}

    def load_model(self, m: int, params: Params, rates: Params, adam: dict[str, Any]) -> None:
        """Put one run's saved weights, rates and Adam moments into row ``m``."""
        with torch.no_grad():
            for k, v in params.items():
                self.params[k][m].copy_(v)
            for k, v in rates.items():
                self.rates[k][self._rate_index(m)].copy_(v)
        if not adam["step"]:
            return
        for name, (t, row) in self._leaves(m).items():
            st = self.opt.state[t]
            if not st:
                st["step"] = torch.tensor(float(adam["step"]))
                st["exp_avg"] = torch.zeros_like(t)
                st["exp_avg_sq"] = torch.zeros_like(t)
            elif int(st["step"]) != adam["step"]:
                raise ValueError(f"run {m} is at Adam step {adam['step']}, the stack at "
                                 f"{int(st['step'])}: stacked runs must be at the same iteration")
            st["exp_avg"][row] = adam["exp_avg"][name]
            st["exp_avg_sq"][row] = adam["exp_avg_sq"][name]
