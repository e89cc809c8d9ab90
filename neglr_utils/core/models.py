"""The report's Conv-4, in functional form over a dict of parameters.

Four blocks of 3x3 conv (padding 1, with bias) -> BatchNorm -> ReLU -> 2x2 max-pool,
then a linear head. The blocks compute ReLU after the pooling, which gives the same
values and gradients (ReLU and max commute; a window whose maximum is not positive gets
no gradient either way) on a quarter of the elements (about 5 % of a meta-iteration).
On 84x84x3 the body gives 64 * 5 * 5 = 1600 features (the report's embedding); on
Omniglot's 28x28x1 it gives 64.

BatchNorm uses batch statistics, also at test time, with no running averages (MAML's
transductive mode, Finn et al. 2017): by default the statistics of the whole batch it is
given; with ``n_stats`` those of its first images only (the support set's statistics
reused for the query, the non-transductive ablation of ``meta.MetaConfig.query_bn``).

Functional form: ``params`` maps names (``conv1.weight`` ... ``head.bias``) to tensors.
A tensor may carry a leading task dimension ``T`` (per-task weights after adaptation)
or not (one shared initialisation). Inputs always carry it: ``x: [T, B, C, H, W]``.
Tasks run together as grouped convolutions (``groups=T``), which is exactly T separate
convolutions: per-task BatchNorm statistics stay per task, so gradients are those of a
loop over tasks (checked in float64 by ``tests/test_meta.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Params = dict[str, Tensor]

BN_EPS = 1e-5


_LAYER = re.compile(r"^(conv|bn)(\d+)\.|^(head)\.")


def layer_of(name: str) -> str:
    """Table 1 group of a parameter: ``conv2.bias`` -> ``conv2``, ``head.*`` -> ``logits``."""
    m = _LAYER.match(name)
    if m is None:
        raise ValueError(f"parameter {name!r} is not conv<i>.*, bn<i>.* or head.*")
    return "logits" if m.group(3) else f"{m.group(1)}{m.group(2)}"


def is_inert(name: str) -> bool:
    """Whether a parameter cannot learn: a conv bias, whose per-channel constant the
    BatchNorm after it removes, so it gets no gradient (nor does its inner rate)."""
    return name.startswith("conv") and name.endswith(".bias")


@dataclass(frozen=True)
class Conv4Config:
    """Shape of the Conv-4: input channels and size, filters per block, classes."""

    in_channels: int = 3  # 3 for mini-ImageNet, 1 for Omniglot
    image_size: int = 84  # square inputs; 84 for mini-ImageNet, 28 for Omniglot
    hidden: int = 64  # filters per conv block (the report: 64)
    n_way: int = 5  # outputs of the linear head
    n_blocks: int = 4

    @property
    def feature_size(self) -> int:
        """Spatial size after the blocks (each 2x2 max-pool floors: 84->42->21->10->5)."""
        size = self.image_size
        for _ in range(self.n_blocks):
            size //= 2
        if size < 1:
            raise ValueError(
                f"image_size={self.image_size} is too small for {self.n_blocks} pooling "
                f"blocks; use at least {2**self.n_blocks} pixels"
            )
        return size

    @property
    def feature_dim(self) -> int:
        """Length of the flattened embedding the head (and the probe) sees."""
        return self.hidden * self.feature_size**2


def param_shapes(cfg: Conv4Config) -> dict[str, tuple[int, ...]]:
    """Names and shapes of every parameter, in forward order."""
    shapes: dict[str, tuple[int, ...]] = {}
    c_in = cfg.in_channels
    for i in range(1, cfg.n_blocks + 1):
        shapes[f"conv{i}.weight"] = (cfg.hidden, c_in, 3, 3)
        shapes[f"conv{i}.bias"] = (cfg.hidden,)
        shapes[f"bn{i}.weight"] = (cfg.hidden,)
        shapes[f"bn{i}.bias"] = (cfg.hidden,)
        c_in = cfg.hidden
    shapes["head.weight"] = (cfg.n_way, cfg.feature_dim)
    shapes["head.bias"] = (cfg.n_way,)
    return shapes


def count_params(cfg: Conv4Config) -> int:
    """Number of scalars in the model."""
    return sum(math.prod(s) for s in param_shapes(cfg).values())


def init_params(
    cfg: Conv4Config,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Params:
    """A fresh initialisation: Xavier-uniform convs and head, zero biases, BN (1, 0).

    Sampling happens on the CPU with ``generator`` so the same seed gives the same
    weights on every device.
    """
    params: Params = {}
    for name, shape in param_shapes(cfg).items():
        if name.endswith("weight") and len(shape) > 1:
            fan_in = math.prod(shape[1:])
            fan_out = shape[0] * math.prod(shape[2:])
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            t = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        elif name.startswith("bn") and name.endswith("weight"):
            t = torch.ones(shape, dtype=torch.float64)
        else:
            t = torch.zeros(shape, dtype=torch.float64)
        params[name] = t.to(device=device, dtype=dtype)
    return params


def _per_task(t: Tensor, ndim: int, n_tasks: int) -> Tensor:
    """``t`` with a leading task dimension: expands a shared tensor, keeps a per-task one."""
    if t.dim() == ndim:
        return t.unsqueeze(0).expand(n_tasks, *t.shape)
    if t.dim() != ndim + 1 or t.shape[0] != n_tasks:
        raise ValueError(f"parameter of shape {tuple(t.shape)} does not fit {n_tasks} tasks")
    return t


def batch_norm(h: Tensor, gamma: Tensor, beta: Tensor, n_stats: int | None = None) -> Tensor:
    """BatchNorm with batch statistics: ``h: [B, C, H, W]``, ``gamma, beta: [C]``.

    ``n_stats=None`` normalises with the statistics of the whole batch (MAML's
    transductive mode); ``n_stats=k`` with those of the first ``k`` images only, so the
    rest (e.g. query images after the support set) are normalised by the support set's
    statistics and no query image influences another's output.
    """
    if n_stats is None:
        return F.batch_norm(h, None, None, gamma, beta, training=True, eps=BN_EPS)
    ref = h[:n_stats]
    mean = ref.mean(dim=(0, 2, 3))
    var = ref.var(dim=(0, 2, 3), unbiased=False)
    scale = gamma * torch.rsqrt(var + BN_EPS)
    return h * scale[:, None, None] + (beta - mean * scale)[:, None, None]


def n_conv_blocks(params: Mapping[str, Tensor]) -> int:
    """Number of conv blocks in a parameter dict (``conv1.weight`` ... ``convN.weight``)."""
    return sum(1 for k in params if k.startswith("conv") and k.endswith(".weight"))


def features(params: Mapping[str, Tensor], x: Tensor, n_blocks: int | None = None,
             n_stats: int | None = None) -> Tensor:
    """The conv body: ``x: [T, B, C, H, W]`` -> embeddings ``[T, B, D]``.

    ``n_blocks`` defaults to the blocks in ``params``; ``n_stats`` as in `batch_norm`
    (per task: the first ``n_stats`` images of each task's batch set its statistics).
    """
    n_blocks = n_conv_blocks(params) if n_blocks is None else n_blocks
    if x.dim() != 5:
        raise ValueError(f"x must be [tasks, batch, C, H, W], got shape {tuple(x.shape)}")
    n_tasks, batch = x.shape[:2]
    h = x.permute(1, 0, 2, 3, 4).reshape(batch, n_tasks * x.shape[2], *x.shape[3:])
    for i in range(1, n_blocks + 1):
        w = _per_task(params[f"conv{i}.weight"], 4, n_tasks)
        expected_c = w.shape[2] * n_tasks
        if h.shape[1] != expected_c:
            raise ValueError(
                f"conv{i} expects {w.shape[2]} input channels, got {h.shape[1] // n_tasks}"
            )
        b = _per_task(params[f"conv{i}.bias"], 1, n_tasks)
        h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), b.reshape(-1), padding=1, groups=n_tasks)
        gamma = _per_task(params[f"bn{i}.weight"], 1, n_tasks).reshape(-1)
        beta = _per_task(params[f"bn{i}.bias"], 1, n_tasks).reshape(-1)
        h = batch_norm(h, gamma, beta, n_stats)
        h = F.relu(F.max_pool2d(h, 2))  # = max_pool(relu(h)) (both monotone), 4x less ReLU
    return h.reshape(batch, n_tasks, -1).transpose(0, 1)


def head(params: Mapping[str, Tensor], feats: Tensor) -> Tensor:
    """The linear head: ``feats: [T, B, D]`` -> logits ``[T, B, n_way]``."""
    n_tasks = feats.shape[0]
    w = _per_task(params["head.weight"], 2, n_tasks)
    b = _per_task(params["head.bias"], 1, n_tasks)
    return torch.baddbmm(b.unsqueeze(1), feats, w.transpose(1, 2))


def forward(params: Mapping[str, Tensor], x: Tensor, n_stats: int | None = None) -> Tensor:
    """Logits of the whole Conv-4: ``x: [T, B, C, H, W]`` -> ``[T, B, n_way]``.

    ``n_stats``: BatchNorm statistics from the first ``n_stats`` images of each task
    (`batch_norm`); None: from the whole batch.
    """
    return head(params, features(params, x, n_stats=n_stats))


class Conv4(nn.Module):
    """The same network as an ``nn.Module`` with ``features`` and ``classifier`` parts.

    For users who want a module (and for learn2learn, the reference in tests and
    benchmarks). ``load_params``/``params`` convert to and from the functional dict.
    """

    def __init__(self, cfg: Conv4Config) -> None:
        super().__init__()
        self.cfg = cfg
        blocks: list[nn.Module] = []
        c_in = cfg.in_channels
        for _ in range(cfg.n_blocks):
            blocks += [
                nn.Conv2d(c_in, cfg.hidden, 3, padding=1),
                nn.BatchNorm2d(cfg.hidden, eps=BN_EPS, track_running_stats=False),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            c_in = cfg.hidden
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.classifier = nn.Linear(cfg.feature_dim, cfg.n_way)

    def forward(self, x: Tensor) -> Tensor:
        """``x: [B, C, H, W]`` -> logits ``[B, n_way]``."""
        return self.classifier(self.features(x))

    def _module_names(self) -> dict[str, str]:
        names = {}
        for i in range(self.cfg.n_blocks):
            for kind in ("weight", "bias"):
                names[f"conv{i + 1}.{kind}"] = f"features.{4 * i}.{kind}"
                names[f"bn{i + 1}.{kind}"] = f"features.{4 * i + 1}.{kind}"
        names["head.weight"] = "classifier.weight"
        names["head.bias"] = "classifier.bias"
        return names

    @torch.no_grad()
    def load_params(self, params: Mapping[str, Tensor]) -> Conv4:
        """Copy a functional parameter dict into this module; returns self."""
        own = dict(self.named_parameters())
        for name, mod_name in self._module_names().items():
            own[mod_name].copy_(params[name])
        return self

    def params(self) -> Params:
        """This module's parameters as a functional dict (shared storage, not copies)."""
        own = dict(self.named_parameters())
        return {name: own[mod_name] for name, mod_name in self._module_names().items()}
