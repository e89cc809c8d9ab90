"""The report's head-free feature probe (section 4, Figure 7), batched over task pairs.

Per probe iteration a pair of tasks A and B is drawn from one split. The head is
ignored: images go through the conv body (`models.features`), each class's support
embeddings are averaged into a centroid (with 1 shot, the one example), and each query
image takes the class of the most cosine-similar centroid. Four numbers per pair:

- ``pre_a``: meta-initialisation, task A;
- ``on_a``: after adapting to A's support set with the run's own inner rule
  (`meta.adapt` with the run's effective rates, ``n_inner_steps`` steps, the head
  included, first order: the probe needs no second derivatives), task A;
- ``off_b``: the same adapted weights, task B;
- ``pre_b`` (our extension): meta-initialisation, task B, so the off-task number has a
  baseline on its own images.

A `Condition` alters the rates at probe time (conv rates flipped, zeroed, scaled). The
task lists depend only on the probe seed, so every run and condition of a dataset sees
the same task pairs (paired comparisons across models). ``ProbeConfig.disjoint`` draws
B from classes A does not use (on a 20-class split, independent 5-way tasks share a
class about 80 % of the time). BatchNorm (``bn_mode``): ``"joint"`` embeds a task's
support and query images as one batch, ``"separate"`` as two batches.

Results are typed (`ProbeResult`, with per-pair accuracies as `PairAccuracies`);
``runs/probes.py`` probes run directories and caches the results in ``probe.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..progress import tqdm
from .data import ImageSplit
from .episodes import Episode, EpisodeSet
from .meta import Rates, adapt
from .models import features

BN_MODES = ("joint", "separate")
PROBE_SEED = 30_000  # probe task lists: A = PROBE_SEED + 2 * seed, B = A + 1


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of one probe, identical across the four accuracies."""

    split: str = "test"  # image split of both task lists (the report does not say)
    n_iterations: int = 1000  # probe iterations (task pairs); the report used 40,000
    k_query: int = 15  # query images per class
    k_shot: int = 0  # support images per class; 0: the run's k_shot
    bn_mode: str = "joint"  # "joint": support+query one BN batch; "separate": two batches
    batch_size: int = 100  # task pairs per chunk (changes no number, only speed)
    seed: int = 0  # selects the A and B task lists
    disjoint: bool = False  # task B shares no class with task A

    def __post_init__(self) -> None:
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode={self.bn_mode!r}; choose one of {BN_MODES}")
        if self.n_iterations < 1 or self.batch_size < 1 or self.k_query < 1 or self.k_shot < 0:
            raise ValueError(f"need n_iterations, batch_size, k_query >= 1 and k_shot >= 0: "
                             f"{self}")

    @property
    def seeds(self) -> tuple[int, int]:
        """Seeds of the A and B task lists."""
        return PROBE_SEED + 2 * self.seed, PROBE_SEED + 2 * self.seed + 1

    def key(self) -> dict[str, Any]:
        """What the numbers depend on (everything but the batch size)."""
        d = asdict(self)
        d.pop("batch_size")
        return d


@dataclass(frozen=True)
class Condition:
    """How the run's learned inner rule is changed at probe time.

    ``scales``: (name prefix, factor) pairs for `scale_rates`; () probes the run as
    trained. ``("conv", -1.0)`` flips every conv layer's rates, ``("conv", 0.0)``
    freezes the conv layers during adaptation.
    """

    scales: tuple[tuple[str, float], ...] = ()

    @property
    def name(self) -> str:
        if not self.scales:
            return "trained"
        return ", ".join(f"{p} rates x{f:g}" for p, f in self.scales)

    @property
    def conv_factor(self) -> float | None:
        """The conv multiplier of a conv-only condition (1 for trained), else None."""
        if not self.scales:
            return 1.0
        if len(self.scales) == 1 and self.scales[0][0] == "conv":
            return self.scales[0][1]
        return None


TRAINED = Condition()


def conv_scaled(factor: float) -> Condition:
    """The conv layers' rates multiplied by ``factor`` (1: as trained)."""
    return TRAINED if factor == 1 else Condition((("conv", float(factor)),))


CONV_FLIPPED, CONV_ZEROED = conv_scaled(-1.0), conv_scaled(0.0)
SIGN_SWEEP = (-1.0, -0.5, 0.0, 0.5, 1.0)  # conv-rate multipliers of the sign sweep


@dataclass(frozen=True)
class PairAccuracies:
    """Head-free accuracy per task pair, float64 ``[n]`` each."""

    pre_a: np.ndarray
    on_a: np.ndarray
    off_b: np.ndarray
    pre_b: np.ndarray

    @property
    def n(self) -> int:
        return int(self.pre_a.size)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"pre_a": self.pre_a, "on_a": self.on_a, "off_b": self.off_b,
                "pre_b": self.pre_b}


@dataclass(frozen=True)
class RunKey:
    """Which trained model a probe result belongs to (read from its run directory)."""

    algo: str
    seed: int
    dataset: str
    profile: str
    run_hash: str
    iteration: int
    finished: bool
    query_bn: str = "transductive"


@dataclass(frozen=True)
class ProbeResult:
    """One probe of one run under one condition."""

    run: RunKey
    condition: Condition
    config: ProbeConfig
    acc: PairAccuracies
    n_query: int  # query images per task (accuracies are multiples of 1/n_query)
    frac_shared: float  # fraction of (A, B) pairs that share at least one class
    seconds: float
    device: str

    def matches(self, run: RunKey, condition: Condition, config: ProbeConfig) -> bool:
        return (self.run.run_hash == run.run_hash and self.run.iteration == run.iteration
                and self.condition == condition and self.config.key() == config.key())


# ----------------------------------------------------------------------------- the probe


def prototype_accuracy(
    f_support: Tensor, y_support: Tensor, f_query: Tensor, y_query: Tensor,
    n_way: int | None = None,
) -> Tensor:
    """Cosine nearest-centroid accuracy per task.

    ``f_support: [T, N*K, D]``, ``y_support: [T, N*K]`` (labels 0..N-1),
    ``f_query: [T, M, D]``, ``y_query: [T, M]`` -> fraction correct ``[T]``.
    Centroid of a class = mean of its support embeddings (the one example when K=1);
    a query goes to the centroid of largest cosine similarity (ties: lowest label).
    """
    n = int(y_support.max()) + 1 if n_way is None else n_way
    onehot = F.one_hot(y_support, n).to(f_support.dtype)  # [T, N*K, N]
    counts = onehot.sum(dim=1).clamp_min(1).unsqueeze(-1)  # [T, N, 1]
    centroids = onehot.transpose(1, 2) @ f_support / counts  # [T, N, D]
    sim = F.normalize(f_query, dim=-1) @ F.normalize(centroids, dim=-1).transpose(1, 2)
    return (sim.argmax(dim=-1) == y_query).double().mean(dim=1)


_COMPILED: dict[str, Callable] = {}


def feature_fn(compiled: bool = False) -> Callable:
    """`models.features`, or the same under ``torch.compile`` (one per process): inductor
    fuses BatchNorm, ReLU and pooling, which take most of the probe's time on a CPU
    (about 2.5x faster here; the first call of each shape compiles, ~15 s)."""
    if not compiled:
        return features
    if "features" not in _COMPILED:
        _COMPILED["features"] = torch.compile(features, dynamic=False)
    return _COMPILED["features"]


def embed(params: Mapping[str, Tensor], ep: Episode, bn_mode: str = "joint",
          feats: Callable = features) -> tuple[Tensor, Tensor]:
    """Embeddings of an episode's support ``[T, N*K, D]`` and query ``[T, M, D]`` images."""
    if bn_mode == "joint":
        n_s = ep.x_support.shape[1]
        f = feats(params, torch.cat([ep.x_support, ep.x_query], dim=1))
        return f[:, :n_s], f[:, n_s:]
    if bn_mode == "separate":
        return feats(params, ep.x_support), feats(params, ep.x_query)
    raise ValueError(f"bn_mode={bn_mode!r}; choose one of {BN_MODES}")


def probe_accuracy(params: Mapping[str, Tensor], ep: Episode, bn_mode: str = "joint",
                   feats: Callable = features) -> Tensor:
    """Head-free prototype accuracy of ``params`` (shared or per task) on ``ep``: ``[T]``."""
    f_s, f_q = embed(params, ep, bn_mode, feats)
    return prototype_accuracy(f_s, ep.y_support, f_q, ep.y_query, int(ep.classes.shape[1])).cpu()


def probe_pairs(
    params: Mapping[str, Tensor],
    rates: Rates,
    n_inner_steps: int,
    tasks_a: EpisodeSet,
    tasks_b: EpisodeSet,
    *,
    bn_mode: str = "joint",
    batch_size: int = 100,
    progress: bool = False,
    adapted: Callable[[Episode, Tensor], None] | None = None,
    compiled: bool = False,
) -> PairAccuracies:
    """The probe loop: pre/on/off-task accuracy over every pair (A_i, B_i).

    ``params``: the meta-initialisation (shared, no task dimension); ``rates``: effective
    inner rates (name -> float or tensor, possibly scaled by `scale_rates`); names absent
    from ``rates`` are not adapted. ``adapted(ep_a, fast)`` is called after each chunk's
    adaptation (the explorer reads the head's accuracy there). ``compiled`` embeds with
    `feature_fn` (``torch.compile``): the same numbers up to float rounding.
    """
    if len(tasks_a) != len(tasks_b):
        raise ValueError(f"task lists differ in length: {len(tasks_a)} vs {len(tasks_b)}")
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode={bn_mode!r}; choose one of {BN_MODES}")
    params = {k: v.detach() for k, v in params.items()}
    rates = {k: v.detach() if isinstance(v, Tensor) else v for k, v in rates.items()}
    out: dict[str, list[Tensor]] = {k: [] for k in ("pre_a", "on_a", "off_b", "pre_b")}
    starts = range(0, len(tasks_a), batch_size)
    feats = feature_fn(compiled)
    with torch.no_grad():
        for start in tqdm(starts, disable=not progress, desc="probe", unit="chunk"):
            stop = min(start + batch_size, len(tasks_a))
            ep_a, ep_b = tasks_a.get(start, stop), tasks_b.get(start, stop)
            fast = adapt(params, ep_a.x_support, ep_a.y_support, rates, n_inner_steps,
                         first_order=True)
            if adapted is not None:
                adapted(ep_a, fast)
            for key, p, ep in (("pre_a", params, ep_a), ("on_a", fast, ep_a),
                               ("off_b", fast, ep_b), ("pre_b", params, ep_b)):
                out[key].append(probe_accuracy(p, ep, bn_mode, feats))
    return PairAccuracies(**{k: torch.cat(v).numpy() for k, v in out.items()})


def scale_rates(rates: Mapping[str, Tensor | float], layer_scales: Mapping[str, float]
                ) -> dict[str, Tensor | float]:
    """Multiply the rates of parameters whose name starts with a prefix by its factor.

    ``{"conv": -1.0}`` flips every conv layer's rates, ``{"conv": 0.0}`` zeroes them;
    prefixes such as ``"conv1"``, ``"bn"``, ``"head"`` or full names work too. When
    several prefixes match a name, the longest (most specific) wins, so
    ``{"conv": 0.0, "conv4": 1.0}`` freezes conv1-3 only. A prefix that matches no
    name raises (a typo would otherwise silently change nothing).
    """
    unused = [p for p in layer_scales if not any(n.startswith(p) for n in rates)]
    if unused:
        raise ValueError(f"prefixes {unused} match none of the rate names {sorted(rates)}")
    out: dict[str, Tensor | float] = {}
    for name, r in rates.items():
        hits = [p for p in layer_scales if name.startswith(p)]
        out[name] = r * layer_scales[max(hits, key=len)] if hits else r
    return out


def task_lists(split: ImageSplit, n_way: int, k_shot: int, cfg: ProbeConfig,
               device: torch.device, dtype: torch.dtype) -> tuple[EpisodeSet, EpisodeSet]:
    """The probe's A and B task lists (B class-disjoint from A with ``cfg.disjoint``)."""
    seed_a, seed_b = cfg.seeds
    a = EpisodeSet(split, n_way, k_shot, cfg.k_query, cfg.n_iterations, seed=seed_a,
                   device=device, dtype=dtype)
    b = EpisodeSet(split, n_way, k_shot, cfg.k_query, cfg.n_iterations, seed=seed_b,
                   device=device, dtype=dtype, disjoint_from=a if cfg.disjoint else None)
    return a, b


def shared_class_fraction(tasks_a: EpisodeSet, tasks_b: EpisodeSet) -> float:
    """Fraction of pairs (A_i, B_i) with at least one class in common."""
    a, b = tasks_a.indices.classes, tasks_b.indices.classes  # [T, N]
    return (a.unsqueeze(2) == b.unsqueeze(1)).any(dim=2).any(dim=1).double().mean().item()


def default_conditions(algo: str) -> tuple[Condition, ...]:
    """Every run: the sign sweep of its conv rates (x1 is the run as trained)."""
    return tuple(conv_scaled(f) for f in sorted(SIGN_SWEEP, key=lambda f: f != 1))
