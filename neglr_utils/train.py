"""Meta-training with run directories, atomic checkpoints and exact resume.

A run is one :class:`RunConfig` (saved as ``config.json``) in a directory named by the
algorithm, the seed and a hash of the config, so a changed setting never loads a stale
result and the same config reuses a finished run. The directory holds:

- ``config.json``: every setting, the seed, package versions, device;
- ``metrics.jsonl``: one line per logged iteration (losses, accuracies, wall time,
  validation accuracy with its 95 % CI, per-layer rate summaries for Meta-SGD);
- ``checkpoint.pt``: the latest state (weights, rates, Adam, episode generator),
  written atomically; ``--resume`` continues from it bit for bit on the CPU;
- ``final.pt``: the trained initialisation and rates, written at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import meta as meta_mod
from .episodes import Episode, EpisodeSampler, EpisodeSet
from .meta import MetaConfig, evaluate, init_rates, mean_ci95
from .models import Conv4Config, Params, init_params

DATASET_SHAPES = {"omniglot": (1, 28), "mini-imagenet": (3, 84)}
# (group, field) -> default of config fields added after runs were committed; "" is the
# top level of RunConfig, "meta" its MetaConfig.
LATER_FIELDS: dict[tuple[str, str], Any] = {("meta", "query_bn"): "transductive"}
VAL_SEED = 10_000  # one fixed validation list for every run of a dataset
TEST_SEED = 20_000


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run (and its directory hash)."""

    profile: str = "custom"  # the profile it came from, for labels
    dataset: str = "omniglot"  # "omniglot" | "mini-imagenet"
    image_size: int = 0  # 0: the dataset's standard size (28 / 84)
    n_way: int = 5
    k_shot: int = 1
    k_query: int = 10  # query images per class for the meta-loss and validation
    meta_batch_size: int = 3  # tasks per meta-iteration
    n_iterations: int = 60_000
    meta_lr: float = 1e-3  # Adam, for the initialisation and the rates
    hidden: int = 64  # filters per conv block
    meta: MetaConfig = field(default_factory=MetaConfig)
    val_every: int = 500  # validate every this many iterations (and at the end)
    n_val_episodes: int = 100
    log_every: int = 10  # metrics.jsonl gets the mean of this many iterations per line
    ckpt_every: int = 500
    seed: int = 0
    dtype: str = "float32"

    @property
    def algo(self) -> str:
        return self.meta.algo

    def model_config(self) -> Conv4Config:
        channels, size = DATASET_SHAPES[self.dataset]
        return Conv4Config(in_channels=channels, image_size=self.image_size or size,
                           hidden=self.hidden, n_way=self.n_way)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with top-level or ``meta`` fields changed (``algo=`` goes to ``meta``)."""
        meta_fields = {f.name for f in dataclasses.fields(MetaConfig)}
        meta_changes = {k: changes.pop(k) for k in list(changes) if k in meta_fields}
        cfg = dataclasses.replace(self, **changes)
        if meta_changes:
            cfg = dataclasses.replace(cfg, meta=dataclasses.replace(cfg.meta, **meta_changes))
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        d = dict(d)
        m = dict(d.pop("meta"))
        m["rate_init_range"] = tuple(m["rate_init_range"])
        return cls(meta=MetaConfig(**m), **d)

    def digest(self) -> str:
        """Ten hex digits of the config: the run directory's key.

        Fields added after runs were committed (``LATER_FIELDS``) enter the hash only when
        they differ from their default, so those runs keep their directory names.
        """
        d = self.to_dict()
        for (group, name), default in LATER_FIELDS.items():
            part = d[group] if group else d
            if part.get(name) == default:
                part.pop(name)
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


def run_dir_for(cfg: RunConfig, out_root: str | os.PathLike) -> Path:
    """``<out_root>/<algo>-seed<seed>-<hash>``: one directory per distinct config."""
    return Path(out_root) / f"{cfg.algo}-seed{cfg.seed}-{cfg.digest()}"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None picks CUDA when present, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def package_versions() -> dict[str, str]:
    import numpy

    from . import __version__
    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "neglr_utils": __version__}


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file, fsync, then rename: a crash leaves the old file intact."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(text: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def rate_summary(rates: Mapping[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per-parameter mean, std and fraction negative of effective inner-rate tensors."""
    out = {}
    for name, r in rates.items():
        r = r.detach().double()
        out[name] = {"mean": r.mean().item(), "std": r.std().item() if r.numel() > 1 else 0.0,
                     "frac_neg": (r < 0).double().mean().item()}
    return out


@dataclass
class Run:
    """A run directory, loaded: config, weights, rates and the metrics log."""

    path: Path
    config: RunConfig
    params: Params
    rates: Params
    metrics: list[dict[str, Any]]
    info: dict[str, Any]
    finished: bool
    iteration: int

    @property
    def meta(self) -> MetaConfig:
        return self.config.meta


def read_metrics(path: Path) -> list[dict[str, Any]]:
    f = path / "metrics.jsonl"
    if not f.exists():
        return []
    return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]


def load_run(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> Run:
    """Load a run directory: final weights when finished, else the latest checkpoint."""
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"{path} is not a run directory (no config.json); "
                                "train one with `python -m neglr_utils train`")
    info = json.loads(cfg_file.read_text())
    config = RunConfig.from_dict(info["config"])
    final, ckpt = path / "final.pt", path / "checkpoint.pt"
    source = final if final.exists() else ckpt
    if not source.exists():
        raise FileNotFoundError(f"{path} has neither final.pt nor checkpoint.pt yet")
    state = torch.load(source, map_location=device, weights_only=True)
    return Run(path=path, config=config, params=state["params"], rates=state["rates"],
               metrics=read_metrics(path), info=info, finished=final.exists(),
               iteration=int(state["iteration"]))


class NonFiniteLossError(FloatingPointError):
    """The meta-loss or its gradient became NaN/Inf."""


def _nan_message(iteration: int, check_every: int, ckpt_path: Path) -> str:
    last = (torch.load(ckpt_path, weights_only=False)["iteration"]
            if ckpt_path.exists() else None)
    where = "no checkpoint was written yet"
    if last is not None:
        where = f"the last good checkpoint is {ckpt_path} (iteration {last}); --resume continues"
    when = (f"at iteration {iteration}" if check_every == 1
            else f"within the {check_every} iterations up to iteration {iteration}")
    return (f"the meta-loss became NaN or infinite {when}; training stopped and {where}. "
            "Lower meta_lr or inner_lr, or check the data.")


def _validate(params: Params, rates: Params, val: EpisodeSet, cfg: RunConfig) -> dict[str, float]:
    acc = evaluate(params, rates, val, cfg.meta, batch_size=25)
    mean, ci = mean_ci95(acc)
    return {"val_acc": mean, "val_ci95": ci}


def _functional_meta_loss(params: Params, rates: Params, ep: Episode,
                          cfg: MetaConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Meta-loss and per-task query accuracy through ``adapt_functional`` (compilable)."""
    out = meta_mod.meta_loss(params, rates, ep, cfg, functional=True)
    return out.loss, out.query_acc


class MetaStep:
    """One meta-iteration (meta-loss, backward, Adam step): eager, compiled, or a CUDA graph.

    ``torch_compile=True`` runs the meta-loss through ``torch.compile`` in its functional
    form (``meta.adapt_functional``); the first call compiles (about a minute on a 2-core
    CPU, then cached on disk by inductor), so it pays off for long runs only. With
    ``cuda_graph=True`` (CUDA) the whole step is captured once into a CUDA graph and
    replayed, which removes the launch overhead of the ~2,000 small kernels of a
    second-order iteration. Capture needs a few warm-up steps; the weights, rates and
    Adam state are restored in place afterwards, so the run still starts from its own
    state. Returns device tensors (loss, mean query accuracy) without synchronising.
    """

    def __init__(self, params: Params, rates: Params, opt: torch.optim.Optimizer,
                 cfg: MetaConfig, *, cuda_graph: bool = False,
                 torch_compile: bool = False) -> None:
        if cuda_graph and torch_compile:
            raise ValueError("choose one of cuda_graph and torch_compile")
        self.params, self.rates, self.opt, self.cfg = params, rates, opt, cfg
        self.cuda_graph = cuda_graph
        self.graph: torch.cuda.CUDAGraph | None = None
        self.compiled_loss = (torch.compile(_functional_meta_loss, dynamic=False)
                              if torch_compile else None)

    def _compiled_step(self, ep: Episode) -> tuple[torch.Tensor, torch.Tensor]:
        loss, acc = self.compiled_loss(self.params, self.rates, ep, self.cfg)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), acc.detach().mean()

    def _step(self, ep: Episode, zero_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        out = meta_mod.meta_loss(self.params, self.rates, ep, self.cfg)
        if zero_grad:
            self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()
        return out.loss.detach(), out.query_acc.mean()

    def __call__(self, ep: Episode) -> tuple[torch.Tensor, torch.Tensor]:
        if self.compiled_loss is not None:
            return self._compiled_step(ep)
        if not self.cuda_graph:
            return self._step(ep)
        if self.graph is None:
            self._capture(ep)
        for name in ("x_support", "y_support", "x_query", "y_query"):
            getattr(self.static, name).copy_(getattr(ep, name))
        self.graph.replay()
        return self.static_out

    def _capture(self, ep: Episode) -> None:
        tensors = [*self.params.values(), *self.rates.values()]
        saved = [t.detach().clone() for t in tensors]
        saved_state = {id(p): {k: v.clone() if torch.is_tensor(v) else v for k, v in st.items()}
                       for p, st in self.opt.state.items()}
        self.static = Episode(*(t.clone() for t in (ep.x_support, ep.y_support, ep.x_query,
                                                    ep.y_query)), ep.classes)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._step(self.static)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self.static_out = self._step(self.static, zero_grad=False)
        with torch.no_grad():
            for t, v in zip(tensors, saved, strict=True):
                t.copy_(v)
            for p, st in self.opt.state.items():
                old = saved_state.get(id(p), {})
                for k, v in st.items():
                    if torch.is_tensor(v):
                        v.copy_(old[k] if k in old else torch.zeros_like(v))


def train(
    cfg: RunConfig,
    *,
    out_root: str | os.PathLike = "runs",
    data_root: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    resume: bool = True,
    max_seconds: float | None = None,
    progress: bool = True,
    splits: dict | None = None,
    on_iteration: Callable[[int], None] | None = None,
    cuda_graph: bool | None = None,
    torch_compile: bool = False,
) -> Path:
    """Train (or resume, or reuse) the run for ``cfg``; returns its directory.

    A finished run with the same config is reused as is. With ``resume`` a checkpoint
    is continued exactly; without it an existing directory is started afresh.
    ``max_seconds`` stops cleanly with a checkpoint once this call has trained that
    long (for GPU time slices). ``splits`` may pass already loaded ``ImageSplit``s.
    ``cuda_graph=True`` replays each meta-iteration as a CUDA graph (experimental, CUDA only);
    ``torch_compile=True`` runs the meta-loss through ``torch.compile`` (``MetaStep``): the
    same algorithm and config, float rounding apart (the run hash does not include it;
    config.json records the setting of the latest call), faster once compiled, for long
    runs (the first iteration's wall time includes the compilation).
    """
    from .data import load_split

    device = resolve_device(device)
    dtype = getattr(torch, cfg.dtype)
    run_dir = run_dir_for(cfg, out_root)
    if (run_dir / "final.pt").exists():
        return run_dir
    if splits is None:
        splits = {s: load_split(cfg.dataset, s, data_root, image_size=cfg.image_size or None)
                  for s in ("train", "val")}
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    sampler = EpisodeSampler(splits["train"], cfg.n_way, cfg.k_shot, cfg.k_query,
                             seed=cfg.seed, device=device, dtype=dtype)
    val = EpisodeSet(splits["val"], cfg.n_way, cfg.k_shot, cfg.k_query, cfg.n_val_episodes,
                     seed=VAL_SEED, device=device, dtype=dtype)

    gen = torch.Generator().manual_seed(cfg.seed)
    params = init_params(cfg.model_config(), generator=gen, dtype=dtype, device=device)
    rates = init_rates(params, cfg.meta, generator=gen)
    for t in [*params.values(), *rates.values()]:
        t.requires_grad_(True)
    if cuda_graph is None:
        # Off by default: on an H200 the graphed step trained visibly different weights
        # from the eager step in tests/test_gpu.py (benchmarks/results/h200-gpu-tests.txt),
        # so it stays opt-in until that test passes.
        cuda_graph = False
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    opt = torch.optim.Adam([*params.values(), *rates.values()], lr=cfg.meta_lr,
                           capturable=cuda_graph)
    start, elapsed, n_lines = 0, 0.0, 0

    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        with torch.no_grad():
            for k in params:
                params[k].copy_(state["params"][k])
            for k in rates:
                rates[k].copy_(state["rates"][k])
        opt.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        start, elapsed, n_lines = state["iteration"], state["elapsed"], state["metrics_lines"]
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()[:n_lines]
        atomic_write_text("".join(line + "\n" for line in lines), run_dir / "metrics.jsonl")
    else:
        (run_dir / "metrics.jsonl").write_text("")
        ckpt_path.unlink(missing_ok=True)

    info = {"config": cfg.to_dict(), "hash": cfg.digest(), "versions": package_versions(),
            "device": device_description(device), "cuda_graph": cuda_graph,
            "torch_compile": torch_compile}
    atomic_write_text(json.dumps(info, indent=2), run_dir / "config.json")

    def save_checkpoint(iteration: int) -> None:
        atomic_save({"params": {k: v.detach() for k, v in params.items()},
                     "rates": {k: v.detach() for k, v in rates.items()},
                     "optimizer": opt.state_dict(), "sampler": sampler.state_dict(),
                     "iteration": iteration, "elapsed": elapsed, "metrics_lines": n_lines,
                     "config": cfg.to_dict()}, ckpt_path)

    step = MetaStep(params, rates, opt, cfg.meta, cuda_graph=cuda_graph,
                    torch_compile=torch_compile)
    check_every = 1 if device.type == "cpu" else cfg.log_every  # each check syncs a GPU
    call_start = time.perf_counter()
    t0 = call_start - elapsed  # wall_time counts over resumed chunks
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss, acc since last log
    n_window = 0
    bar = tqdm(total=cfg.n_iterations, initial=start, disable=not progress,
               desc=f"{cfg.algo} seed {cfg.seed}", unit="it")
    if torch_compile and progress and start < cfg.n_iterations:
        bar.write("torch.compile: the first meta-iteration compiles the step (about a "
                  "minute on 2 CPU cores the first time, then cached on disk)")
    it = start
    with open(run_dir / "metrics.jsonl", "a") as log:
        while it < cfg.n_iterations:
            loss, acc = step(sampler.sample(cfg.meta_batch_size))
            sums += torch.stack([loss, acc]).double()
            n_window += 1
            it += 1
            if on_iteration is not None:
                on_iteration(it)
            is_last = it == cfg.n_iterations
            out_of_time = (max_seconds is not None
                           and time.perf_counter() - call_start >= max_seconds)
            log_now = it % cfg.log_every == 0 or is_last or out_of_time
            if log_now or it % check_every == 0 or it % cfg.ckpt_every == 0:
                if not torch.isfinite(sums).all():
                    bar.close()
                    raise NonFiniteLossError(_nan_message(it, check_every, ckpt_path))
            elapsed = time.perf_counter() - t0
            if log_now:
                loss_sum, acc_sum = sums.tolist()
                row: dict[str, Any] = {"iteration": it, "train_loss": loss_sum / n_window,
                                       "train_acc": acc_sum / n_window, "wall_time": elapsed}
                sums.zero_()
                n_window = 0
                if it % cfg.val_every == 0 or is_last:
                    row.update(_validate(params, rates, val, cfg))
                    row["rates"] = (rate_summary(meta_mod.effective_rates(params, rates,
                                                                           cfg.meta))
                                    if cfg.meta.learns_rates else {})
                    bar.set_postfix(val_acc=f"{row['val_acc']:.3f}")
                log.write(json.dumps(row) + "\n")
                log.flush()
                n_lines += 1
            bar.update(1)
            if it % cfg.ckpt_every == 0 or is_last or out_of_time:
                save_checkpoint(it)
            if out_of_time:
                break
    bar.close()
    if it == cfg.n_iterations:
        atomic_save({"params": {k: v.detach() for k, v in params.items()},
                     "rates": {k: v.detach() for k, v in rates.items()},
                     "iteration": it, "elapsed": elapsed}, run_dir / "final.pt")
    return run_dir


def evaluate_run(
    run: Run | str | os.PathLike,
    *,
    split: str = "test",
    n_episodes: int = 600,
    k_query: int | None = None,
    data_root: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    batch_size: int = 25,
    image_split=None,
) -> dict[str, Any]:
    """Accuracy with the head after adaptation on ``n_episodes`` fixed tasks (mean, 95 % CI).

    The standard MAML protocol; the result is also written to ``eval-<split>.json``.
    """
    from .data import load_split

    device = resolve_device(device)
    if not isinstance(run, Run):
        run = load_run(run, device=device)
    cfg = run.config
    k_query = k_query or cfg.k_query
    if image_split is None:
        image_split = load_split(cfg.dataset, split, data_root, image_size=cfg.image_size or None)
    episodes = EpisodeSet(image_split, cfg.n_way, cfg.k_shot, k_query, n_episodes,
                          seed=TEST_SEED if split == "test" else VAL_SEED, device=device,
                          dtype=getattr(torch, cfg.dtype))
    params = {k: v.to(device) for k, v in run.params.items()}
    rates = {k: v.to(device) for k, v in run.rates.items()}
    t0 = time.perf_counter()
    acc = evaluate(params, rates, episodes, cfg.meta, batch_size=batch_size)
    mean, ci = mean_ci95(acc)
    result = {"split": split, "n_episodes": n_episodes, "k_query": k_query, "acc": mean,
              "ci95": ci, "iteration": run.iteration, "finished": run.finished,
              "seconds": time.perf_counter() - t0, "device": device_description(device)}
    atomic_write_text(json.dumps(result, indent=2), run.path / f"eval-{split}.json")
    if not math.isfinite(mean):
        raise NonFiniteLossError(f"evaluation of {run.path} gave {mean}")
    return result
