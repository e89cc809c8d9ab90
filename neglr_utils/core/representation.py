"""Representation similarity before and after adaptation (Raghu et al. 2020).

Raghu et al. ("Rapid learning or feature reuse?", ICLR 2020) compare each layer's
activations under the meta-initialisation theta with those under the weights adapted
to a task, theta'_A: a similarity near 1 in the body and low only in the head means the
inner loop reuses the features rather than learning new ones. The similarity is linear
CKA (Kornblith et al. 2019, "Similarity of neural network representations revisited",
ICML), computed per task pair and layer on:

- ``cka_on``: task A's query images (the task the weights were adapted to);
- ``cka_off``: task B's support and query images (another task of the same split).

Beside them ``weight_change``, the relative change ``||theta'_A - theta|| / ||theta||``
of each layer, and ``head_acc``, the query accuracy of task A with the head after
adaptation (what the meta-objective optimises).

Layers: ``conv1`` .. ``conv4`` are the blocks' outputs after conv -> BatchNorm -> ReLU ->
max-pool, flattened (`block_activations`); ``head`` is the logits. A block's weight
change pools all its parameters, conv weight and bias and BatchNorm scale and shift
(the activations depend on all four); the head's pools ``head.weight`` and ``head.bias``.

BatchNorm uses batch statistics per task, as the model does (``models.batch_norm``): with
``query_bn="transductive"`` task A's query images are one batch and task B's support and
query images one batch; with ``"support"`` each task's support images set the statistics
(A's query is normalised by A's support set, B's images by B's support set), so the head
accuracy is the run's own evaluation (``meta.query_logits``).

The adaptation is the package's one inner loop (`meta.adapt`, first order, no graph); a
parameter whose name is not in ``rates`` is not adapted, and a zero rate leaves it as it
is, so ``HEAD_ONLY`` (body rates x0) is the frozen-body / head-only adaptation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..progress import tqdm
from .episodes import Episode, EpisodeSet
from .meta import QUERY_BN, Rates, adapt, check_choice
from .models import features, head, layer_of, n_conv_blocks
from .probe import Condition

HEAD = "head"
# Only the head adapts: every conv and BatchNorm rate x0 (``bn1`` .. ``bn4`` start "bn").
HEAD_ONLY = Condition((("conv", 0.0), ("bn", 0.0)))


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA between two representations of the same ``n`` examples, in float64.

    ``x: [n, p]``, ``y: [n, q]`` (row i of both is example i; p and q may differ). With
    column-centred ``Xc, Yc`` (Kornblith et al. 2019, linear kernel)::

        CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)

    in [0, 1]; invariant to orthogonal transforms and isotropic scaling of either side,
    not to other invertible linear maps. Computed from the ``n x n`` Gram matrices when
    ``n`` is at most the width (``||Yc^T Xc||_F^2 = <Xc Xc^T, Yc Yc^T>``), else from the
    feature-space products. A constant representation (every row the same, so zero
    centred norm) has no defined CKA: NaN.
    """
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"x and y must be [n, features]; got shapes {tuple(x.shape)} and "
                         f"{tuple(y.shape)} (flatten each example's activations first)")
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x has {n} examples and y {y.shape[0]}; CKA compares two "
                         "representations of the same examples, row by row")
    if n < 2:
        raise ValueError(f"CKA needs at least 2 examples, got {n}")
    if bool((x == x[:1]).all()) or bool((y == y[:1]).all()):
        return math.nan
    xc = x.double() - x.double().mean(dim=0)
    yc = y.double() - y.double().mean(dim=0)
    if n <= max(x.shape[1], y.shape[1]):
        k, l_ = xc @ xc.T, yc @ yc.T
        xy, xx, yy = (k * l_).sum(), (k * k).sum(), (l_ * l_).sum()
    else:
        xy = (yc.T @ xc).square().sum()
        xx, yy = (xc.T @ xc).square().sum(), (yc.T @ yc).square().sum()
    denom = torch.sqrt(xx * yy)
    return math.nan if denom == 0 else (xy / denom).item()


def layer_names(params: Mapping[str, Tensor]) -> tuple[str, ...]:
    """``("conv1", ..., "convN", "head")`` for the blocks in ``params``."""
    return (*(f"conv{i}" for i in range(1, n_conv_blocks(params) + 1)), HEAD)


def iter_block_activations(params: Mapping[str, Tensor], x: Tensor,
                           n_stats: int | None = None) -> Iterator[tuple[str, Tensor]]:
    """(layer, activations ``[T, B, D_l]``) one layer at a time (`block_activations`).

    Block k is `models.features` run with block k's parameters as its only block on
    block k-1's output, unflattened to ``[T, B, C, H, W]``: the model's own code, once
    per block (``features(params, x, n_blocks=k)`` for every k computes 10 blocks instead
    of 4, 2.5x the cost). ``tests/test_representation.py`` checks that block k equals
    ``features(params, x, n_blocks=k)`` exactly.
    """
    h = x
    for k in range(1, n_conv_blocks(params) + 1):
        block = {f"{kind}1.{part}": params[f"{kind}{k}.{part}"]
                 for kind in ("conv", "bn") for part in ("weight", "bias")}
        feats = features(block, h, n_blocks=1, n_stats=n_stats)
        yield f"conv{k}", feats
        size = h.shape[-1] // 2  # each block's 2x2 max-pool floors the (square) size
        h = feats.reshape(*feats.shape[:2], -1, size, size)
    yield HEAD, head(params, feats)


def block_activations(params: Mapping[str, Tensor], x: Tensor,
                      n_stats: int | None = None) -> dict[str, Tensor]:
    """Activations of every layer of the Conv-4 on ``x: [T, B, C, H, W]``.

    ``conv1`` .. ``conv4``: each block's output after conv -> BatchNorm -> ReLU ->
    max-pool, flattened ``[T, B, D_l]``; ``head``: the logits ``[T, B, n_way]``.
    ``params`` shared or per task (``[T, *shape]``); ``n_stats`` as in `models.features`.
    """
    return dict(iter_block_activations(params, x, n_stats))


def _layer(name: str) -> str:
    """The layer a parameter belongs to: ``bn2.weight`` -> ``conv2``, ``head.*`` -> ``head``."""
    group = layer_of(name)
    return HEAD if group == "logits" else "conv" + group.removeprefix("conv").removeprefix("bn")


def weight_change(params: Mapping[str, Tensor], fast: Mapping[str, Tensor], n_tasks: int
                  ) -> dict[str, Tensor]:
    """Relative change ``||fast - params|| / ||params||`` per layer and task: ``[T]`` each.

    ``params``: shared (no task dimension); ``fast``: per task ``[T, *shape]`` (or shared
    for a parameter that was not adapted). A block pools its conv and BatchNorm
    parameters, the head its weight and bias (module docstring).
    """
    diff: dict[str, Tensor] = {}
    norm: dict[str, Tensor] = {}
    for name, p in params.items():
        layer = _layer(name)
        d = (fast[name] - p).double().expand(n_tasks, *p.shape).reshape(n_tasks, -1)
        diff[layer] = diff.get(layer, 0) + d.square().sum(dim=1)
        norm[layer] = norm.get(layer, 0) + p.double().square().sum()
    return {layer: diff[layer].sqrt() / norm[layer].sqrt() for layer in layer_names(params)}


@dataclass(frozen=True)
class RepresentationChange:
    """Per task pair and layer (``layer_names``): CKA before vs after adaptation to A.

    Every array is float64 ``[n_pairs]``; the mappings go from layer to array.
    """

    cka_on: Mapping[str, np.ndarray]  # theta vs theta'_A on A's query images
    cka_off: Mapping[str, np.ndarray]  # theta vs theta'_A on B's support + query images
    weight_change: Mapping[str, np.ndarray]  # ||theta'_A - theta|| / ||theta|| of the layer
    head_acc: np.ndarray  # A's query accuracy with the head under theta'_A (fraction)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.cka_on)

    @property
    def n(self) -> int:
        return int(self.head_acc.size)

    def as_dict(self) -> dict[str, dict[str, np.ndarray] | np.ndarray]:
        return {"cka_on": dict(self.cka_on), "cka_off": dict(self.cka_off),
                "weight_change": dict(self.weight_change), "head_acc": self.head_acc}

    @classmethod
    def from_dict(cls, d: Mapping) -> RepresentationChange:
        """The inverse of `as_dict` (lists are accepted for arrays)."""
        def arrays(m: Mapping) -> dict[str, np.ndarray]:
            return {k: np.asarray(v, dtype=np.float64) for k, v in m.items()}

        return cls(arrays(d["cka_on"]), arrays(d["cka_off"]), arrays(d["weight_change"]),
                   np.asarray(d["head_acc"], dtype=np.float64))

    @classmethod
    def concat(cls, parts: Sequence[RepresentationChange]) -> RepresentationChange:
        """The pairs of ``parts`` one after another."""
        def cat(field: str) -> dict[str, np.ndarray]:
            return {k: np.concatenate([getattr(p, field)[k] for p in parts])
                    for k in parts[0].layers}

        return cls(cat("cka_on"), cat("cka_off"), cat("weight_change"),
                   np.concatenate([p.head_acc for p in parts]))


def _inputs(ep: Episode, query_only: bool, query_bn: str) -> tuple[Tensor, int | None, int]:
    """Images of one side (``x``), their BatchNorm ``n_stats`` and the first row to keep."""
    n_s = ep.x_support.shape[1]
    if query_only and query_bn == "transductive":
        return ep.x_query, None, 0
    x = torch.cat([ep.x_support, ep.x_query], dim=1)
    return x, (n_s if query_bn == "support" else None), (n_s if query_only else 0)


def _activations(params: Mapping[str, Tensor], ep: Episode, query_only: bool, query_bn: str
                 ) -> Iterator[tuple[str, Tensor]]:
    """Every layer's activations of one side (A's query, or B's images), kept rows only."""
    x, n_stats, start = _inputs(ep, query_only, query_bn)
    for layer, act in iter_block_activations(params, x, n_stats):
        yield layer, act[:, start:]


def _cka(before: Mapping[str, Tensor], after: Iterator[tuple[str, Tensor]]
         ) -> tuple[dict[str, np.ndarray], Tensor]:
    """CKA per layer and task (``[T]`` each) of two weights' activations, and the last
    layer's (the logits) of ``after``."""
    out: dict[str, np.ndarray] = {}
    for layer, a1 in after:
        a0 = before[layer]
        out[layer] = np.array([linear_cka(a0[t], a1[t]) for t in range(a0.shape[0])])
        logits = a1
    return out, logits


def _check_rate_sets(rate_sets: Sequence[Rates]) -> None:
    if isinstance(rate_sets, Mapping) or not all(isinstance(r, Mapping) for r in rate_sets):
        raise TypeError("rate_sets must be a sequence of rate mappings (one per condition); "
                        "for one condition pass [rates]")


def pair_changes(params: Mapping[str, Tensor], rate_sets: Sequence[Rates], n_inner_steps: int,
                 ep_a: Episode, ep_b: Episode, *, query_bn: str = "transductive"
                 ) -> list[RepresentationChange]:
    """The representation change of one batch of task pairs (A_i, B_i), per rate set.

    ``params``: the meta-initialisation (shared); ``rate_sets``: effective inner rates,
    one mapping per condition (name -> float or tensor, e.g. from `probe.scale_rates`;
    names absent are not adapted). For each, adapts to each A's support set with
    `meta.adapt` (``n_inner_steps``, first order) and compares the two weights'
    activations (module docstring); the meta-initialisation's are computed once for all.
    ``ep_a``, ``ep_b``: ``T`` tasks each. Run under ``torch.no_grad()``.
    """
    check_choice("query_bn", query_bn, QUERY_BN)
    _check_rate_sets(rate_sets)
    on_before = dict(_activations(params, ep_a, True, query_bn))
    off_before = dict(_activations(params, ep_b, False, query_bn))
    out = []
    for rates in rate_sets:
        fast = adapt(params, ep_a.x_support, ep_a.y_support, rates, n_inner_steps,
                     first_order=True)
        cka_on, logits = _cka(on_before, _activations(fast, ep_a, True, query_bn))
        cka_off, _ = _cka(off_before, _activations(fast, ep_b, False, query_bn))
        acc = (logits.argmax(dim=-1) == ep_a.y_query).double().mean(dim=1)
        change = {k: v.cpu().numpy() for k, v in weight_change(params, fast, ep_a.n_tasks).items()}
        out.append(RepresentationChange(cka_on, cka_off, change, acc.cpu().numpy()))
    return out


def representation_pairs(
    params: Mapping[str, Tensor],
    rate_sets: Sequence[Rates],
    n_inner_steps: int,
    tasks_a: EpisodeSet,
    tasks_b: EpisodeSet,
    *,
    n_pairs: int | None = None,
    batch_size: int = 100,
    query_bn: str = "transductive",
    progress: bool = False,
) -> list[RepresentationChange]:
    """`pair_changes` over the first ``n_pairs`` pairs (A_i, B_i) (None: all), in chunks:
    one result per rate set.

    Mirrors `probe.probe_pairs`: the same task lists give the same pairs, and neither the
    chunk size nor the other rate sets change a number.
    """
    if len(tasks_a) != len(tasks_b):
        raise ValueError(f"task lists differ in length: {len(tasks_a)} vs {len(tasks_b)}")
    n_pairs = len(tasks_a) if n_pairs is None else n_pairs
    if not 1 <= n_pairs <= len(tasks_a):
        raise ValueError(f"n_pairs={n_pairs}; choose 1 to {len(tasks_a)} (the task lists' "
                         "length), or make longer lists")
    _check_rate_sets(rate_sets)
    params = {k: v.detach() for k, v in params.items()}
    rate_sets = [{k: v.detach() if isinstance(v, Tensor) else v for k, v in rates.items()}
                 for rates in rate_sets]
    chunks = []
    with torch.no_grad():
        for start in tqdm(range(0, n_pairs, batch_size), disable=not progress,
                          desc="representation", unit="chunk"):
            stop = min(start + batch_size, n_pairs)
            chunks.append(pair_changes(params, rate_sets, n_inner_steps,
                                       tasks_a.get(start, stop), tasks_b.get(start, stop),
                                       query_bn=query_bn))
    return [RepresentationChange.concat(parts) for parts in zip(*chunks, strict=True)]
