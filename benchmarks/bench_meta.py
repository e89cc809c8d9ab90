"""Meta-training throughput: neglr_utils against learn2learn's MAML and MetaSGD.

One meta-iteration = a meta-batch of tasks, ``n_inner_steps`` second-order inner SGD
steps per task on its support set, the mean query loss, its backward pass and an Adam
step on the initialisation (and, for Meta-SGD, the per-parameter rates). Both
implementations train the same Conv-4 (``neglr_utils.core.models.Conv4`` for learn2learn,
loaded from the same functional weights) on the same episodes, on the same device and
dtype. Episodes are synthetic random tensors of the real shapes: throughput does not
depend on pixel values.

Timing: warm-up iterations first, then ``repeats`` rounds; in each round every
implementation runs ``iters_per_repeat`` iterations, ours and learn2learn's interleaved
(the order alternates between rounds), so machine noise hits both alike. Reported: the
median seconds per iteration, and the median over rounds of the per-round ratio
learn2learn / ours (> 1: ours is faster). On CUDA the device is synchronised before and
after every timed block.

    .venv/bin/python benchmarks/bench_meta.py                    # CPU defaults, ~5 min
    .venv/bin/python benchmarks/bench_meta.py --quick            # smoke test, seconds
    python3 benchmarks/bench_meta.py --device cuda --out benchmarks/results/h100.json
    .venv/bin/python benchmarks/bench_meta.py --markdown benchmarks/results/*.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from neglr_utils.core.episodes import Episode, EpisodeSet  # noqa: E402
from neglr_utils.core.meta import MetaConfig, init_rates, meta_loss  # noqa: E402
from neglr_utils.core.models import Conv4, Conv4Config, init_params  # noqa: E402
from neglr_utils.runs.profiles import PROFILES  # noqa: E402

ALGOS = ("maml", "meta-sgd")
PROTOCOL_META_ITERATIONS = 60_000  # per algorithm; MAML + Meta-SGD in the paper protocol
PROTOCOL_PROBE_ITERATIONS = 40_000


@dataclass(frozen=True)
class BenchConfig:
    """One benchmarked setting: the Conv-4, the episode shape and the inner loop."""

    name: str
    in_channels: int
    image_size: int
    hidden: int
    n_way: int
    k_shot: int
    k_query: int
    meta_batch_size: int
    n_inner_steps: int
    inner_lr: float
    meta_lr: float

    def model_config(self) -> Conv4Config:
        return Conv4Config(in_channels=self.in_channels, image_size=self.image_size,
                           hidden=self.hidden, n_way=self.n_way)

    def meta_config(self, algo: str) -> MetaConfig:
        return MetaConfig(algo=algo, inner_lr=self.inner_lr, n_inner_steps=self.n_inner_steps,
                          first_order=False)


def bench_configs(quick: bool = False) -> dict[str, BenchConfig]:
    """The paper's mini-ImageNet setting, the ``cpu`` profile's Omniglot setting and the
    ``cpu-mini`` profile's mini-ImageNet 32×32 (the CPU study's primary runs)."""
    paper = PROFILES["paper"].run
    cpu = PROFILES["cpu"].run
    mini = PROFILES["cpu-mini"].run
    configs = {
        "paper": BenchConfig("paper", 3, 84, paper.hidden, paper.n_way, paper.k_shot,
                             paper.k_query, paper.meta_batch_size, paper.meta.n_inner_steps,
                             paper.meta.inner_lr, paper.meta_lr),
        "omniglot": BenchConfig("omniglot", 1, 28, cpu.hidden, cpu.n_way, cpu.k_shot,
                                cpu.k_query, cpu.meta_batch_size, cpu.meta.n_inner_steps,
                                cpu.meta.inner_lr, cpu.meta_lr),
        "mini": BenchConfig("mini", 3, mini.image_size, mini.hidden, mini.n_way, mini.k_shot,
                            mini.k_query, mini.meta_batch_size, mini.meta.n_inner_steps,
                            mini.meta.inner_lr, mini.meta_lr),
    }
    if quick:  # same code paths, tiny shapes
        configs = {
            "paper": BenchConfig("paper", 3, 32, 8, 5, 1, 2, 2, 2, 0.01, 1e-3),
            "omniglot": BenchConfig("omniglot", 1, 28, 8, 5, 1, 2, 2, 2, 0.1, 1e-3),
            "mini": BenchConfig("mini", 3, 32, 8, 5, 1, 2, 2, 2, 0.01, 1e-3),
        }
    return configs


def synthetic_episode(cfg: BenchConfig, device: torch.device, dtype: torch.dtype,
                      generator: torch.Generator) -> Episode:
    """Random images and labels with the shapes of a real meta-batch."""
    t, n = cfg.meta_batch_size, cfg.n_way
    shape = (cfg.in_channels, cfg.image_size, cfg.image_size)

    def labels(k: int) -> torch.Tensor:
        return torch.stack([torch.randperm(n * k, generator=generator) % n for _ in range(t)])

    ep = Episode(
        x_support=torch.rand(t, n * cfg.k_shot, *shape, generator=generator),
        y_support=labels(cfg.k_shot),
        x_query=torch.rand(t, n * cfg.k_query, *shape, generator=generator),
        y_query=labels(cfg.k_query),
        classes=torch.zeros(t, n, dtype=torch.long),
    )
    return Episode(ep.x_support.to(device, dtype), ep.y_support.to(device),
                   ep.x_query.to(device, dtype), ep.y_query.to(device), ep.classes)


class OursStep:
    """One meta-iteration of neglr_utils: ``meta.meta_loss`` + backward + Adam."""

    task_multiplier = 1

    def __init__(self, cfg: BenchConfig, algo: str, params: dict, device, dtype) -> None:
        self.meta_cfg = cfg.meta_config(algo)
        self.device_type = torch.device(device).type
        self.params = {k: v.detach().clone().to(device, dtype).requires_grad_(True)
                       for k, v in params.items()}
        self.rates = {k: v.to(device, dtype).requires_grad_(True)
                      for k, v in init_rates(self.params, self.meta_cfg).items()}
        self.opt = torch.optim.Adam([*self.params.values(), *self.rates.values()],
                                    lr=cfg.meta_lr)

    def __call__(self, episode: Episode) -> None:
        out = meta_loss(self.params, self.rates, episode, self.meta_cfg)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()


class L2LStep:
    """One meta-iteration of learn2learn: clone/adapt per task, mean query loss, Adam."""

    task_multiplier = 1

    def __init__(self, cfg: BenchConfig, algo: str, params: dict, device, dtype) -> None:
        import learn2learn as l2l

        model = Conv4(cfg.model_config()).to(device, dtype).load_params(params)
        if algo == "maml":
            self.learner = l2l.algorithms.MAML(model, lr=cfg.inner_lr, first_order=False)
        else:
            self.learner = l2l.algorithms.MetaSGD(model, lr=cfg.inner_lr, first_order=False)
        self.n_inner_steps = cfg.n_inner_steps
        self.opt = torch.optim.Adam(self.learner.parameters(), lr=cfg.meta_lr)

    def __call__(self, episode: Episode) -> None:
        losses = []
        for t in range(episode.n_tasks):
            clone = self.learner.clone()
            for _ in range(self.n_inner_steps):
                clone.adapt(F.cross_entropy(clone(episode.x_support[t]), episode.y_support[t]))
            losses.append(F.cross_entropy(clone(episode.x_query[t]), episode.y_query[t]))
        loss = torch.stack(losses).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


class OursTrainSyncsStep(OursStep):
    """Ours with the host synchronisations ``train.train`` does every iteration: a
    finiteness check of the loss and of every gradient tensor (one ``bool()`` each) and
    two ``.item()`` for the metrics window. Free on the CPU; on CUDA each one waits for
    the GPU, so the CPU cannot queue the next iteration's kernels meanwhile."""

    def __call__(self, episode: Episode) -> None:
        out = meta_loss(self.params, self.rates, episode, self.meta_cfg)
        self.opt.zero_grad(set_to_none=True)
        if torch.isfinite(out.loss):
            out.loss.backward()
        if not torch.isfinite(out.loss) or not all(
                torch.isfinite(t.grad).all() for t in self.opt.param_groups[0]["params"]):
            raise FloatingPointError("non-finite meta-loss or gradient")
        self.opt.step()
        self.window = (out.loss.item(), out.query_acc.mean().item())


class OursTwiceStep(OursStep):
    """Ours on twice the tasks per meta-batch: the cost of two models (MAML + Meta-SGD,
    or two seeds) trained in one grouped run, T = 2 x meta_batch_size."""

    task_multiplier = 2


class OursBf16Step(OursStep):
    """Ours under ``torch.autocast(bfloat16)``: convolutions and matmuls in bfloat16, the
    weights, rates and Adam in float32. A speed probe only: ``profile_meta.py`` measures
    how far its meta-gradients are from float64's."""

    def __call__(self, episode: Episode) -> None:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            out = meta_loss(self.params, self.rates, episode, self.meta_cfg)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()


class OursPerTaskStep(OursStep):
    """Ours one task per call (T = 1: plain convolutions, like learn2learn's loop), the
    task losses' gradients accumulated: sizes the cost of the grouped convolution."""

    def __call__(self, episode: Episode) -> None:
        self.opt.zero_grad(set_to_none=True)
        for t in range(episode.n_tasks):
            out = meta_loss(self.params, self.rates, episode.task(t), self.meta_cfg)
            (out.loss / episode.n_tasks).backward()
        self.opt.step()


class OursCompiledStep(OursStep):
    """Ours with the meta-loss under ``torch.compile``: ``Stack(torch_compile=True)``, the
    opt-in path of ``train.train`` (``--compile``). The first call compiles (about a
    minute on 2 CPU cores): warm-up keeps it out of the timings.
    """

    def __init__(self, cfg: BenchConfig, algo: str, params: dict, device, dtype) -> None:
        super().__init__(cfg, algo, params, device, dtype)
        self.meta_loss = torch.compile(lambda p, r, ep: meta_loss(p, r, ep, self.meta_cfg).loss,
                                       dynamic=False)

    def __call__(self, episode: Episode) -> None:
        loss = self.meta_loss(self.params, self.rates, episode)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


IMPLS = {"ours": OursStep, "l2l": L2LStep, "ours_syncs": OursTrainSyncsStep,
         "ours_t2x": OursTwiceStep,
         "ours_bf16": OursBf16Step, "ours_per_task": OursPerTaskStep,
         "ours_compile": OursCompiledStep}
DEFAULT_CUDA_IMPLS = ("ours", "l2l", "ours_syncs", "ours_t2x")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, n: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``n`` calls (device synchronised around)."""
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    synchronize(device)
    return (time.perf_counter() - t0) / n


def bench_pair(cfg: BenchConfig, algo: str, impls: list[str], *, device: torch.device,
               dtype: torch.dtype, warmup: int, repeats: int, iters: int,
               deadline: float | None) -> dict:
    """Interleaved timings of every implementation in ``impls`` on one config and algo."""
    gen = torch.Generator().manual_seed(0)
    params = init_params(cfg.model_config(), generator=gen, dtype=dtype, device=device)
    episodes = {m: synthetic_episode(replace(cfg, meta_batch_size=m * cfg.meta_batch_size),
                                     device, dtype, gen) for m in (1, 2)}
    steps, errors = {}, {}
    peak_mem: dict[str, int] = {}
    warmup_s: dict[str, float] = {}  # includes compilation for ours_compile
    for name in impls:
        try:
            step = IMPLS[name](cfg, algo, params, device, dtype)
            ep = episodes[step.task_multiplier]
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            warmup_s[name] = warmup * timed(lambda step=step, ep=ep: step(ep), warmup, device)
            if device.type == "cuda":
                peak_mem[name] = torch.cuda.max_memory_allocated(device)
            steps[name] = (step, ep)
        except Exception as exc:  # noqa: BLE001  (recorded; the other impls still run)
            errors[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
    per_repeat: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for r in range(repeats):
        if deadline is not None and r > 0 and time.perf_counter() > deadline:
            break
        for name in (order if r % 2 == 0 else order[::-1]):
            step, ep = steps[name]
            per_repeat[name].append(timed(lambda s=step, e=ep: s(e), iters, device))
    result = {"config": cfg.name, "algo": algo, "seconds_per_iteration": per_repeat,
              "median_s": {k: statistics.median(v) for k, v in per_repeat.items() if v},
              "tasks_per_iteration": {k: IMPLS[k].task_multiplier * cfg.meta_batch_size
                                      for k in per_repeat},
              "warmup": warmup, "warmup_s": warmup_s, "errors": errors}
    if peak_mem:
        result["peak_memory_bytes"] = peak_mem
    if "l2l" in per_repeat:
        result["ratio_l2l_over"] = {
            k: [lt / t for lt, t in zip(per_repeat["l2l"], v, strict=True)]
            for k, v in per_repeat.items() if k != "l2l"}
        result["median_ratio"] = {k: statistics.median(v)
                                  for k, v in result["ratio_l2l_over"].items() if v}
    result["tasks_per_s"] = {k: result["tasks_per_iteration"][k] / v
                             for k, v in result["median_s"].items()}
    return result


def bench_probe(cfg: BenchConfig, device: torch.device, dtype: torch.dtype,
                n_iterations: int, batch_size: int) -> dict:
    """Seconds per 1,000 iterations of ``neglr_utils.core.probe.probe_pairs`` (paper shapes).

    Synthetic uint8 split (20 classes x 32 images of the config's size), the probe's
    default k_query and bn_mode, Meta-SGD rates; ``n_iterations`` task pairs in chunks
    of ``batch_size``, after one untimed chunk. Task-list construction is not timed.
    """
    try:
        from neglr_utils.core.data import ImageSplit  # noqa: PLC0415
        from neglr_utils.core.probe import ProbeConfig, probe_pairs  # noqa: PLC0415
    except ImportError as exc:
        return {"skipped": f"neglr_utils.core.probe not importable ({exc})"}
    try:
        probe_cfg = ProbeConfig()
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (20, 32, cfg.in_channels, cfg.image_size,
                                        cfg.image_size), generator=gen, dtype=torch.uint8)
        split = ImageSplit("synthetic", "test", images, tuple(f"c{i}" for i in range(20)))
        params = init_params(cfg.model_config(), generator=gen, dtype=dtype, device=device)
        meta_cfg = cfg.meta_config("meta-sgd")
        rates = {k: v.to(device, dtype) for k, v in init_rates(params, meta_cfg).items()}

        def tasks(n: int, seed: int) -> EpisodeSet:
            return EpisodeSet(split, cfg.n_way, cfg.k_shot, probe_cfg.k_query, n, seed=seed,
                              device=device, dtype=dtype)

        def probe(n: int) -> None:
            probe_pairs(params, rates, cfg.n_inner_steps, tasks(n, 1), tasks(n, 2),
                      bn_mode=probe_cfg.bn_mode, batch_size=batch_size)

        probe(batch_size)
        a, b = tasks(n_iterations, 1), tasks(n_iterations, 2)
        synchronize(device)
        t0 = time.perf_counter()
        probe_pairs(params, rates, cfg.n_inner_steps, a, b, bn_mode=probe_cfg.bn_mode,
                  batch_size=batch_size)
        synchronize(device)
        seconds = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    return {"config": cfg.name, "n_iterations": n_iterations, "batch_size": batch_size,
            "k_query": probe_cfg.k_query, "bn_mode": probe_cfg.bn_mode, "seconds": seconds,
            "seconds_per_1000": 1000 * seconds / n_iterations}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "hostname": platform.node()}
    if hasattr(os, "getloadavg"):
        info["loadavg_start"] = list(os.getloadavg())
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def load_l2l_algorithms_from_sdist(sdist: Path) -> None:
    """Make ``learn2learn.algorithms.{MAML,MetaSGD}`` importable from the sdist's sources.

    A fallback for machines where the package does not install or import (e.g. no
    torchvision or gym): only ``utils/__init__.py`` and ``algorithms/{base_learner,maml,
    meta_sgd}.py`` are loaded, under stub parent packages; they import torch and the
    standard library alone, so the algorithms' code is exactly the released one.
    """
    import importlib.util
    import tarfile
    import tempfile
    import types

    for name in [m for m in sys.modules if m == "learn2learn" or m.startswith("learn2learn.")]:
        del sys.modules[name]
    root = Path(tempfile.mkdtemp(prefix="l2l-src-"))
    wanted = ("learn2learn/utils/__init__.py", "learn2learn/algorithms/base_learner.py",
              "learn2learn/algorithms/maml.py", "learn2learn/algorithms/meta_sgd.py")
    with tarfile.open(sdist) as tf:
        members = [m for m in tf.getmembers() if m.name.endswith(wanted)]
        tf.extractall(root, members=members, filter="data")
    found = {w: next(root.rglob(w), None) for w in wanted}
    missing = [w for w, f in found.items() if f is None]
    if missing:
        raise FileNotFoundError(f"{sdist} lacks {missing}")
    pkg_dir = found[wanted[0]].parent.parent

    def stub(name: str, path: Path) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__path__ = [str(path)]
        sys.modules[name] = mod
        return mod

    def load(name: str, path: Path) -> types.ModuleType:
        is_pkg = path.name == "__init__.py"
        spec = importlib.util.spec_from_file_location(
            name, path, submodule_search_locations=[str(path.parent)] if is_pkg else None)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    l2l = stub("learn2learn", pkg_dir)
    l2l.__version__ = "0.2.0 (algorithms only, loaded from the sdist)"
    algorithms = stub("learn2learn.algorithms", pkg_dir / "algorithms")
    l2l.algorithms = algorithms
    l2l.utils = load("learn2learn.utils", found[wanted[0]])
    load("learn2learn.algorithms.base_learner", found[wanted[1]])
    algorithms.MAML = load("learn2learn.algorithms.maml", found[wanted[2]]).MAML
    algorithms.MetaSGD = load("learn2learn.algorithms.meta_sgd", found[wanted[3]]).MetaSGD


def versions(l2l_sdist: str | None = None) -> dict:
    """Package versions; imports learn2learn, or falls back to ``l2l_sdist`` if given."""
    out = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import learn2learn  # noqa: PLC0415

        out["learn2learn"] = learn2learn.__version__
        return out
    except Exception as exc:  # noqa: BLE001
        out["learn2learn"] = None
        out["learn2learn_error"] = f"{type(exc).__name__}: {exc}"
    if l2l_sdist and Path(l2l_sdist).is_file():
        try:
            load_l2l_algorithms_from_sdist(Path(l2l_sdist))
            out["learn2learn"] = sys.modules["learn2learn"].__version__
        except Exception as exc:  # noqa: BLE001
            out["learn2learn_sdist_error"] = f"{type(exc).__name__}: {exc}"
    return out


def default_settings(device: torch.device, quick: bool) -> dict[str, dict[str, int]]:
    """Warm-up, repeats and iterations per repeat, per config (overridable on the CLI)."""
    if quick:
        return {c: {"warmup": 1, "repeats": 2, "iters": 1} for c in ("paper", "omniglot", "mini")}
    if device.type == "cuda":
        return {c: {"warmup": 5, "repeats": 5, "iters": 10} for c in ("paper", "omniglot", "mini")}
    # CPU: ~8-18 s per paper iteration, ~0.2-0.5 s per Omniglot or mini iteration (2 cores).
    return {"paper": {"warmup": 1, "repeats": 3, "iters": 1},
            "omniglot": {"warmup": 1, "repeats": 5, "iters": 2},
            "mini": {"warmup": 1, "repeats": 5, "iters": 4}}


def projection(results: list[dict], probe: dict) -> dict | None:
    """Seconds for the whole paper protocol at the measured speeds, per implementation.

    Single-model impls: 60,000 MAML + 60,000 Meta-SGD meta-iterations. ``ours_t2x``
    (two models per grouped run): 60,000 iterations of its slower algo, since one such
    run trains MAML and Meta-SGD together. Plus 40,000 probe iterations when timed.
    """
    paper = {r["algo"]: r["median_s"] for r in results if r["config"] == PROFILES["paper"].name}
    if set(paper) != set(ALGOS):
        return None
    out: dict = {"meta_iterations_per_algo": PROTOCOL_META_ITERATIONS,
                 "probe_iterations": PROTOCOL_PROBE_ITERATIONS}
    probe_s = (probe["seconds_per_1000"] * PROTOCOL_PROBE_ITERATIONS / 1000
               if "seconds_per_1000" in probe else None)
    for impl in IMPLS:
        if not all(impl in paper[a] for a in ALGOS):
            continue
        per_algo = [paper[a][impl] for a in ALGOS]
        train_s = (max(per_algo) if IMPLS[impl].task_multiplier == 2
                   else sum(per_algo)) * PROTOCOL_META_ITERATIONS
        out[impl] = {"meta_training_s": train_s, "probe_s": probe_s,
                     "total_s": train_s + (probe_s or 0.0), "includes_probe": probe_s is not None}
    return out


def markdown(results: dict) -> str:
    """The results of one JSON file as a Markdown table."""
    m, v = results["machine"], results["versions"]
    where = m.get("gpu") or f"{m['cpu']} ({m['cores']} cores, {m['torch_threads']} threads)"
    lines = [f"**{where}**, {results['settings']['device']}, {results['settings']['dtype']}, "
             f"torch {v['torch']}, learn2learn {v.get('learn2learn')}, "
             f"load average at start {m.get('loadavg_start', ['?'])[0]}",
             "",
             "| config | algo | impl | s/iteration | tasks/iteration | tasks/s "
             "| l2l / impl | rounds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results["results"]:
        for impl, med in r["median_s"].items():
            ratio = r.get("median_ratio", {}).get(impl)
            ratio = "1 (ref)" if impl == "l2l" else (f"{ratio:.2f}x" if ratio else "-")
            lines.append(f"| {r['config']} | {r['algo']} | {impl} | {med:.4g} | "
                         f"{r['tasks_per_iteration'][impl]} | {r['tasks_per_s'][impl]:.3g} | "
                         f"{ratio} | {len(r['seconds_per_iteration'][impl])} |")
        for impl, err in r.get("errors", {}).items():
            lines.append(f"| {r['config']} | {r['algo']} | {impl} | failed: "
                         f"{err.splitlines()[0][:80]} | | | | |")
    proj = results.get("projection")
    if proj:
        lines.append("")
        for impl in IMPLS:
            if impl in proj:
                p = proj[impl]
                probe = "incl." if p["includes_probe"] else "excl."
                lines.append(f"Projected paper protocol ({impl}): {p['total_s'] / 60:.1f} min "
                             f"(2 x 60,000 meta-iterations, {probe} 40,000 probe iterations)")
    probe = results.get("probe", {})
    if "seconds_per_1000" in probe:
        lines.append(f"\nProbe: {probe['seconds_per_1000']:.2f} s per 1,000 iterations")
    elif probe:
        lines.append(f"\nProbe: {probe.get('skipped') or probe.get('error')}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--configs", default="paper,omniglot",
                    help="comma list of paper,omniglot,mini (mini: the cpu-mini profile)")
    ap.add_argument("--algos", default=",".join(ALGOS), help="comma list of maml,meta-sgd")
    ap.add_argument("--impls", help=f"comma list of {','.join(IMPLS)} (default: ours,l2l on "
                    f"CPU; {','.join(DEFAULT_CUDA_IMPLS)} on CUDA)")
    ap.add_argument("--repeats", type=int, help="timed rounds per config (default per device)")
    ap.add_argument("--iters-per-repeat", type=int, help="meta-iterations per round and impl")
    ap.add_argument("--warmup", type=int, help="untimed meta-iterations per impl first")
    ap.add_argument("--max-seconds", type=float,
                    help="stop starting new rounds after this long (each pair keeps >= 1)")
    ap.add_argument("--probe-iterations", type=int, default=None,
                    help="probe iterations to time, paper shapes (default 1000 on CUDA, 10 "
                    "on CPU; 0 skips)")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="torch.backends.cudnn.benchmark = True (both impls)")
    ap.add_argument("--l2l-sdist", default=os.environ.get("L2L_SDIST"),
                    help="learn2learn-0.2.0.tar.gz to load MAML/MetaSGD from when the package "
                    "does not import (default $L2L_SDIST)")
    ap.add_argument("--quick", action="store_true", help="tiny shapes: a smoke test in seconds")
    ap.add_argument("--out", help="JSON output (default benchmarks/results/<machine>.json)")
    ap.add_argument("--markdown", nargs="+", metavar="JSON",
                    help="print the tables of these result files and exit")
    return ap.parse_args(argv)


def default_out(device: torch.device, quick: bool) -> Path:
    if device.type == "cuda":
        tag = torch.cuda.get_device_name(device).split()[-1].lower()
    else:
        tag = f"cpu{os.cpu_count()}"
    return ROOT / "benchmarks" / "results" / f"{tag}{'-quick' if quick else ''}.json"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown:
        for path in args.markdown:
            print(markdown(json.loads(Path(path).read_text())))
            print()
        return 0
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda given but torch.cuda.is_available() is False")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    dtype = getattr(torch, args.dtype)
    configs = bench_configs(args.quick)
    names = [c for c in args.configs.split(",") if c]
    unknown = set(names) - set(configs)
    if unknown:
        raise SystemExit(f"unknown config(s) {sorted(unknown)}; choose from {sorted(configs)}")
    algos = [a for a in args.algos.split(",") if a]
    default_impls = ",".join(DEFAULT_CUDA_IMPLS) if device.type == "cuda" else "ours,l2l"
    impls = [i for i in (args.impls or default_impls).split(",") if i]
    if set(impls) - set(IMPLS):
        raise SystemExit(f"unknown impl(s) {sorted(set(impls) - set(IMPLS))}; "
                         f"choose from {sorted(IMPLS)}")
    vers = versions(args.l2l_sdist)
    if "l2l" in impls and vers["learn2learn"] is None:
        print(f"learn2learn not importable ({vers['learn2learn_error']}; sdist fallback: "
              f"{vers.get('learn2learn_sdist_error', 'no --l2l-sdist')}): timing ours alone")
        impls = [i for i in impls if i != "l2l"]
    defaults = default_settings(device, args.quick)
    settings = {"device": str(device), "dtype": args.dtype, "second_order": True,
                "cudnn_benchmark": args.cudnn_benchmark, "quick": args.quick,
                "impls": impls, "algos": algos, "max_seconds": args.max_seconds,
                "configs": {}}
    machine = machine_info(device)
    t_start = time.perf_counter()
    deadline = t_start + args.max_seconds if args.max_seconds else None
    results = []
    for name in names:
        cfg = configs[name]
        s = dict(defaults[name])
        for key, val in (("warmup", args.warmup), ("repeats", args.repeats),
                         ("iters", args.iters_per_repeat)):
            if val is not None:
                s[key] = val
        settings["configs"][name] = {**asdict(cfg), **s}
        for algo in algos:
            r = bench_pair(cfg, algo, impls, device=device, dtype=dtype, warmup=s["warmup"],
                           repeats=s["repeats"], iters=s["iters"], deadline=deadline)
            results.append(r)
            med = "  ".join(f"{k} {v:.4g} s/it" for k, v in r["median_s"].items())
            ratio = "".join(f"  l2l/{k} {v:.2f}x" for k, v in r.get("median_ratio", {}).items())
            print(f"{name:9s} {algo:9s} {med}{ratio}  "
                  f"[{time.perf_counter() - t_start:.0f} s]", flush=True)
            for impl, err in r["errors"].items():
                print(f"  {impl} failed: {err}")
    n_probe = args.probe_iterations
    if n_probe is None:
        n_probe = 4 if args.quick else (1000 if device.type == "cuda" else 10)
    if n_probe > 0:
        probe = bench_probe(configs["paper"], device, dtype, n_probe,
                            batch_size=min(n_probe, 100 if device.type == "cuda" else 5))
    else:
        probe = {"skipped": "--probe-iterations 0"}
    print(f"probe: {probe.get('seconds_per_1000', probe.get('skipped') or probe.get('error'))}"
          f"{' s per 1,000 iterations' if 'seconds_per_1000' in probe else ''}", flush=True)
    if hasattr(os, "getloadavg"):
        machine["loadavg_end"] = list(os.getloadavg())
    out = {"machine": machine, "versions": vers, "settings": settings, "results": results,
           "probe": probe, "projection": projection(results, probe) if device.type == "cuda"
           else None, "wall_s": time.perf_counter() - t_start}
    out_path = Path(args.out) if args.out else default_out(device, args.quick)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=2))
    print()
    print(markdown(out))
    print(f"\nwritten {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
