"""The report's head-free feature probe (section 4, Figure 7), batched over tasks.

Per probe iteration a pair of tasks A and B is drawn from one split, independently.
The head is ignored: images go through the conv body (`models.features`, 1600-d on
84x84x3), each class's support embeddings are averaged into a centroid (with 1 shot,
the one example is the centroid, as in the report), and each query image takes the
class of the most cosine-similar centroid. Four numbers per iteration:

- ``pre_a``: meta-initialisation, task A;
- ``on_a``: after adapting to A's support set with the model's own inner rule
  (`meta.adapt` with `meta.effective_rates`, ``n_inner_steps`` steps, the head
  included, first order: the probe needs no second derivatives), task A, the same
  support and query images as ``pre_a``;
- ``off_b``: the same adapted weights, task B;
- ``pre_b`` (our paired extension): meta-initialisation, task B, so the off-task number
  has a baseline on its own images.

BatchNorm (``bn_mode``): the Conv-4 always normalises with the statistics of the batch
it is given. ``"joint"`` (default) embeds a task's support and query images as one
batch, so centroids and queries share one normalisation (as MAML's transductive
evaluation sees a task); ``"separate"`` embeds the support set and the query set as two
batches (with 1 shot the support batch is only N images). Both modes are the same in
all four conditions.

Task lists: two `episodes.EpisodeSet` with seeds ``PROBE_SEED + 2 * seed`` (A) and
``PROBE_SEED + 2 * seed + 1`` (B), so A and B are different draws; they may share a
class by chance (the result records how often). T tasks run at once through grouped
convolutions, ``batch_size`` at a time; batching does not change any number.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from . import analysis
from .episodes import Episode, EpisodeSet
from .meta import Rates, adapt, effective_rates
from .models import features

BN_MODES = ("joint", "separate")
PROBE_SEED = 30_000  # probe task lists: A = PROBE_SEED + 2 * seed, B = A + 1
CONDITIONS = analysis.CONDITIONS
DEFAULT_ABLATIONS: dict[str, dict[str, float]] = {
    "conv_flipped": {"conv": -1.0},  # every conv layer's rates sign-flipped
    "conv_zeroed": {"conv": 0.0},  # conv layers frozen during adaptation
}


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of one probe, identical across the four conditions."""

    split: str = "test"  # image split of both task lists (the report does not say)
    n_iterations: int = 1000  # probe iterations (task pairs); the report used 40,000
    k_query: int = 15  # query images per class
    k_shot: int = 0  # support images per class; 0: the run's k_shot
    bn_mode: str = "joint"  # "joint": support+query one BN batch; "separate": two batches
    batch_size: int = 100  # task pairs per chunk (T of the grouped convolutions)
    seed: int = 0  # selects the A and B task lists

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


def _n_blocks(params: Mapping[str, Tensor]) -> int:
    return sum(1 for k in params if k.startswith("conv") and k.endswith(".weight"))


def embed(params: Mapping[str, Tensor], ep: Episode, bn_mode: str = "joint"
          ) -> tuple[Tensor, Tensor]:
    """Embeddings of an episode's support ``[T, N*K, D]`` and query ``[T, M, D]`` images."""
    n_blocks = _n_blocks(params)
    if bn_mode == "joint":
        n_s = ep.x_support.shape[1]
        f = features(params, torch.cat([ep.x_support, ep.x_query], dim=1), n_blocks)
        return f[:, :n_s], f[:, n_s:]
    if bn_mode == "separate":
        return features(params, ep.x_support, n_blocks), features(params, ep.x_query, n_blocks)
    raise ValueError(f"bn_mode={bn_mode!r}; choose one of {BN_MODES}")


def probe_accuracy(params: Mapping[str, Tensor], ep: Episode, bn_mode: str = "joint") -> Tensor:
    """Head-free prototype accuracy of ``params`` (shared or per task) on ``ep``: ``[T]``."""
    with torch.no_grad():
        f_s, f_q = embed(params, ep, bn_mode)
        n_way = int(ep.classes.shape[1])
        return prototype_accuracy(f_s, ep.y_support, f_q, ep.y_query, n_way).cpu()


def run_probe(
    params: Mapping[str, Tensor],
    rates: Rates,
    n_inner_steps: int,
    tasks_a: EpisodeSet,
    tasks_b: EpisodeSet,
    *,
    bn_mode: str = "joint",
    batch_size: int = 100,
    progress: bool = False,
) -> dict[str, Tensor]:
    """Pre/on/off-task probe over every pair (A_i, B_i): ``{condition: [n_iterations]}``.

    ``params``: the meta-initialisation (shared, no task dimension); ``rates``: effective
    inner rates (name -> float or tensor, e.g. `meta.effective_rates`, possibly scaled
    by `scale_rates`); names absent from ``rates`` are not adapted. Accuracies are
    float64 on the CPU, in the order of the task lists.
    """
    if len(tasks_a) != len(tasks_b):
        raise ValueError(f"task lists differ in length: {len(tasks_a)} vs {len(tasks_b)}")
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode={bn_mode!r}; choose one of {BN_MODES}")
    params = {k: v.detach() for k, v in params.items()}
    rates = {k: v.detach() if isinstance(v, Tensor) else v for k, v in rates.items()}
    out: dict[str, list[Tensor]] = {k: [] for k in CONDITIONS}
    starts = range(0, len(tasks_a), batch_size)
    for start in tqdm(starts, disable=not progress, desc="probe", unit="chunk"):
        stop = min(start + batch_size, len(tasks_a))
        ep_a, ep_b = tasks_a.get(start, stop), tasks_b.get(start, stop)
        out["pre_a"].append(probe_accuracy(params, ep_a, bn_mode))
        out["pre_b"].append(probe_accuracy(params, ep_b, bn_mode))
        with torch.enable_grad():
            fast = adapt(params, ep_a.x_support, ep_a.y_support, rates, n_inner_steps,
                         create_graph=False)
        fast = {k: v.detach() for k, v in fast.items()}
        out["on_a"].append(probe_accuracy(fast, ep_a, bn_mode))
        out["off_b"].append(probe_accuracy(fast, ep_b, bn_mode))
    return {k: torch.cat(v) for k, v in out.items()}


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


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def _pair_overlap(tasks_a: EpisodeSet, tasks_b: EpisodeSet) -> dict[str, float]:
    a, b = tasks_a.indices.classes, tasks_b.indices.classes  # [T, N]
    shared = (a.unsqueeze(2) == b.unsqueeze(1)).any(dim=2).sum(dim=1).double()
    return {"mean_shared_classes": shared.mean().item(),
            "frac_pairs_sharing_a_class": (shared > 0).double().mean().item()}


def probe_run(
    run: Any,
    probe_cfg: ProbeConfig = ProbeConfig(),  # noqa: B008 - frozen dataclass
    *,
    data_root: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    rate_transform: Mapping[str, float] | Callable[[dict], dict] | None = None,
    image_split: Any = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Probe one trained run (a ``train.Run`` or its directory).

    ``rate_transform``: layer scales for `scale_rates` (recorded in the result) or any
    function of the effective-rate dict. ``image_split``: an already loaded
    ``ImageSplit`` (else ``probe_cfg.split`` of the run's dataset is loaded). Returns
    ``{"accuracies": {condition: [n] tensor}, "stats": analysis.probe_statistics(...),
    "config", "run", "seconds", "seconds_per_1000", "device", ...}``.
    """
    from .train import device_description, load_run, resolve_device

    device = resolve_device(device)
    if not hasattr(run, "params"):
        run = load_run(run, device=device)
    cfg = run.config
    if image_split is None:
        from .data import load_split
        image_split = load_split(cfg.dataset, probe_cfg.split, data_root,
                                 image_size=cfg.image_size or None)
    dtype = getattr(torch, cfg.dtype)
    k_shot = probe_cfg.k_shot or cfg.k_shot
    seed_a, seed_b = probe_cfg.seeds
    tasks = [EpisodeSet(image_split, cfg.n_way, k_shot, probe_cfg.k_query,
                        probe_cfg.n_iterations, seed=s, device=device, dtype=dtype)
             for s in (seed_a, seed_b)]
    params = {k: v.to(device) for k, v in run.params.items()}
    rates = effective_rates(params, {k: v.to(device) for k, v in run.rates.items()}, cfg.meta)
    transform: Any = None
    if isinstance(rate_transform, Mapping):
        rates, transform = scale_rates(rates, rate_transform), dict(rate_transform)
    elif rate_transform is not None:
        rates, transform = rate_transform(dict(rates)), repr(rate_transform)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    acc = run_probe(params, rates, cfg.meta.n_inner_steps, *tasks, bn_mode=probe_cfg.bn_mode,
                    batch_size=probe_cfg.batch_size, progress=progress)
    seconds = time.perf_counter() - t0
    return {
        "run": str(run.path), "algo": cfg.algo, "train_seed": cfg.seed,
        "run_hash": cfg.digest(), "iteration": run.iteration, "finished": run.finished,
        "dataset": cfg.dataset, "n_way": cfg.n_way, "k_shot": k_shot,
        "n_inner_steps": cfg.meta.n_inner_steps, "config": asdict(probe_cfg),
        "task_seeds": [seed_a, seed_b], "rate_transform": transform,
        "pair_overlap": _pair_overlap(*tasks), "stats": analysis.probe_statistics(acc),
        "rates": analysis.rate_table(rates, per_tensor=False),
        "seconds": seconds, "seconds_per_1000": 1000 * seconds / probe_cfg.n_iterations,
        "device": device_description(device), "accuracies": acc,
    }


def _jsonable(result: Mapping[str, Any]) -> dict[str, Any]:
    """Per-iteration accuracies as integer counts of correct queries (compact, exact)."""
    out = {k: v for k, v in result.items() if k != "accuracies"}
    n_query = result["n_way"] * result["config"]["k_query"]
    out["per_iteration"] = {"n_query": n_query, "correct": {
        k: torch.round(v * n_query).long().tolist() for k, v in result["accuracies"].items()}}
    return out


def from_jsonable(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of the JSON form: ``accuracies`` as float64 tensors again."""
    out = {k: v for k, v in entry.items() if k != "per_iteration"}
    per = entry.get("per_iteration")
    if per is not None:
        out["accuracies"] = {k: torch.tensor(v, dtype=torch.float64) / per["n_query"]
                             for k, v in per["correct"].items()}
    return out


def write_probe_json(results: Mapping[str, Mapping[str, Any]], path: str | os.PathLike,
                     *, per_iteration: bool = True) -> Path:
    """Write ``{condition label: probe_run result}`` as JSON (atomically); returns the path."""
    from .train import atomic_write_text
    path = Path(path)
    body = {}
    for label, r in results.items():
        entry = _jsonable(r)
        if not per_iteration:
            entry.pop("per_iteration")
        body[label] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps(body, indent=1), path)
    return path


def read_probe_json(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``{condition label: result}`` from `write_probe_json`, accuracies as tensors."""
    return {k: from_jsonable(v) for k, v in json.loads(Path(path).read_text()).items()}


def condition_labels(algo: str, ablations: Mapping[str, Any] = DEFAULT_ABLATIONS,
                     ablate_algos: Sequence[str] = ("meta-sgd",)) -> list[str]:
    """The conditions `probe_runs` computes for a run of ``algo``, in its order."""
    return ["trained"] + (list(ablations) if algo in ablate_algos else [])


def condition_key(probe_cfg: ProbeConfig, run_cfg: Any, iteration: int,
                  scales: Mapping[str, float] | None) -> str:
    """What a stored condition was made from: probe config, run config and iteration,
    rate scales. A stored result with another key is stale."""
    return _digest([asdict(probe_cfg), run_cfg.digest(), iteration, scales])


def current_conditions(run_dir: str | os.PathLike, probe_cfg: ProbeConfig,
                       ablations: Mapping[str, Mapping[str, float]] = DEFAULT_ABLATIONS
                       ) -> list[str]:
    """Labels in ``run_dir/probe.json`` made from the run as it is now, with ``probe_cfg``."""
    from .train import load_run
    file = Path(run_dir) / "probe.json"
    if not file.exists():
        return []
    run = load_run(run_dir, device="cpu")
    stored = json.loads(file.read_text())
    return [label for label, entry in stored.items()
            if entry.get("cache_key") == condition_key(
                probe_cfg, run.config, run.iteration,
                None if label == "trained" else ablations.get(label))]


def probe_runs(
    runs: Sequence[Any],
    probe_cfg: ProbeConfig = ProbeConfig(),  # noqa: B008 - frozen dataclass
    *,
    out: str | os.PathLike | None = None,
    ablations: Mapping[str, Mapping[str, float]] = DEFAULT_ABLATIONS,
    ablate_algos: Sequence[str] = ("meta-sgd",),
    data_root: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    reuse: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """The standard set of conditions for several runs, written as JSON.

    Each run is probed as trained (condition ``"trained"``); runs whose algorithm is in
    ``ablate_algos`` also with each of ``ablations`` (layer scales for `scale_rates`).
    Each run directory gets ``probe.json`` (all its conditions, per-iteration counts
    included); with ``out`` a combined summary (statistics only, per run and condition,
    comparisons with the MAML run of the same seed and summaries over training seeds)
    is written there. With ``reuse`` a condition already in ``probe.json`` under the same
    probe config, run hash and iteration is read instead of recomputed.
    """
    from .data import load_split
    from .train import load_run, resolve_device

    device = resolve_device(device)
    splits: dict[tuple, Any] = {}
    combined: dict[str, dict[str, Any]] = {}
    every: dict[str, dict[str, Any]] = {}
    for item in runs:
        run = item if hasattr(item, "params") else load_run(item, device=device)
        cfg = run.config
        key = (cfg.dataset, probe_cfg.split, cfg.image_size)
        if key not in splits:
            splits[key] = load_split(cfg.dataset, probe_cfg.split, data_root,
                                     image_size=cfg.image_size or None)
        conditions: dict[str, Mapping[str, float] | None] = {
            label: ablations.get(label) for label in condition_labels(cfg.algo, ablations,
                                                                      ablate_algos)}
        file = Path(run.path) / "probe.json"
        old = read_probe_json(file) if reuse and file.exists() else {}
        results: dict[str, dict[str, Any]] = {}
        for label, scales in conditions.items():
            cache_key = condition_key(probe_cfg, cfg, run.iteration, scales)
            prev = old.get(label)
            if prev is not None and prev.get("cache_key") == cache_key and "accuracies" in prev:
                results[label] = prev
                continue
            res = probe_run(run, probe_cfg, device=device, rate_transform=scales,
                            image_split=splits[key], progress=progress)
            res["cache_key"] = cache_key
            results[label] = res
        write_probe_json(results, file)
        name = f"{cfg.algo}-seed{cfg.seed}"
        for label, res in results.items():
            every[f"{name}/{label}"] = res
            combined[f"{name}/{label}"] = {k: v for k, v in res.items() if k != "accuracies"}
    summary = {"probe_config": asdict(probe_cfg), "runs": combined,
               "comparisons": _comparisons(every), "over_seeds": _over_seeds(every)}
    if out is not None:
        from .train import atomic_write_text
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(summary, indent=1), Path(out))
    return summary


def _comparisons(every: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every non-MAML condition against the trained MAML run of the same training seed."""
    out = {}
    for label, res in every.items():
        maml = every.get(f"maml-seed{res['train_seed']}/trained")
        if res["algo"] == "maml" or maml is None:
            continue
        out[f"{label} vs maml-seed{res['train_seed']}"] = analysis.compare_probes(
            res["accuracies"], maml["accuracies"])
    return out


def _over_seeds(every: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per (algorithm, condition): the seed means of each number, with a t CI over seeds."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for label, res in every.items():
        groups.setdefault(f"{res['algo']}/{label.split('/', 1)[1]}", []).append(res["stats"])
    out = {}
    for group, sts in groups.items():
        numbers = {c: [s["conditions"][c]["mean"] for s in sts] for c in CONDITIONS}
        numbers |= {f"change_{c}": [s["changes"][c]["mean"] for s in sts]
                    for c in ("on", "off_report", "off_paired")}
        out[group] = {k: analysis.seed_summary(v) for k, v in numbers.items()}
    return out
