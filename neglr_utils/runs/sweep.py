"""Grids of runs (sweeps) executed through submitit: this machine, or a SLURM cluster.

A sweep file (TOML) names a results folder and one or more grids; each grid is a
product of lists of settings over a profile::

    name = "inner-steps"
    out = "results/cpu"            # run directories land in <out>/<dataset>/
    stack = 1                      # runs trained together in one process (stack.py)
    order = "seed"                 # or "grid": the grids one after another
    [[grid]]
    profile = ["cpu"]
    algo = ["meta-sgd"]
    n_inner_steps = [1, 3, 5, 10]  # any RunConfig or MetaConfig field
    seed = [0, 1]

Every point is a `RunSpec`, i.e. one `train.RunConfig` and so one hash-keyed run
directory: a finished run is never trained again, an unfinished one resumes from its
checkpoint, and the same sweep twice trains nothing new.

`execute` hands *lanes* to submitit: the pending runs are grouped into stacks (runs with
the same shapes, at most ``stack`` each), the stacks are split into as many lanes as
workers (longest first, balanced by estimated cost), and each job trains its lane's
stacks one after another with ``threads`` CPU threads. That keeps local parallelism at
the free cores although submitit's LocalExecutor starts every job at once; on SLURM the
lanes are one job array. Executors: ``debug`` (in this process), ``local`` (one
subprocess per lane on this machine), ``slurm`` (sbatch; needs a cluster).
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.stack import stack_key
from . import store
from .config import RunConfig, run_path
from .profiles import get_profile, profile_config
from .runtime import configure_threads, free_cores
from .training import evaluate_run, load_run, train_runs

EXECUTORS = ("debug", "local", "slurm")
SPEC_KEYS = ("profile", "algo", "seed")
SWEEP_KEYS = ("name", "out", "stack", "order", "grid")


@dataclass(frozen=True)
class RunSpec:
    """One point of a grid: a profile, an algorithm, a seed and any overrides."""

    profile: str
    algo: str
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()

    def config(self) -> RunConfig:
        return profile_config(self.profile, self.algo, self.seed, **dict(self.overrides))

    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.overrides)
        return f"{self.profile} {self.algo} seed {self.seed}{extra}"


@dataclass(frozen=True)
class Sweep:
    """A named set of grids and the folder their runs go to."""

    name: str
    out: str
    grids: tuple[dict[str, tuple[Any, ...]], ...]
    stack: int | dict[str, int] = 1  # runs trained together (same shapes), or per dataset
    source: str = ""
    order: str = "seed"  # "seed": seed 0 of every grid first; "grid": grid by grid

    def stack_size(self, dataset: str) -> int:
        if isinstance(self.stack, int):
            return max(1, self.stack)
        return max(1, self.stack.get(dataset, 1))

    def specs(self) -> list[RunSpec]:
        """Every point of every grid, once: seeds outermost (seed 0 of everything first),
        or with ``order = "grid"`` the grids in the file's order."""
        seen: dict[RunSpec, None] = {}
        for grid in self.grids:
            for spec in expand_grid(grid):
                seen.setdefault(spec, None)
        return sorted(seen, key=lambda s: s.seed) if self.order == "seed" else list(seen)

    @property
    def folder(self) -> Path:
        """Where the sweep's records and submitit logs go: ``<out>/sweeps/<name>``."""
        return Path(self.out) / "sweeps" / self.name


def expand_grid(grid: dict[str, Sequence[Any]]) -> list[RunSpec]:
    """The product of a grid's lists as `RunSpec`s, checked against the config fields."""
    for key in SPEC_KEYS:
        if key not in grid:
            raise ValueError(f"a grid needs a list for {key!r}; got keys {sorted(grid)}")
    names = list(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in names)):
        point = dict(zip(names, values, strict=True))
        spec = RunSpec(point.pop("profile"), point.pop("algo"), int(point.pop("seed")),
                       tuple(sorted(point.items())))
        spec.config()  # raises on an unknown profile, field or bad value
        out.append(spec)
    return out


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read a sweep file; every list is a grid axis (a scalar is a one-value axis)."""
    path = Path(path)
    try:
        body = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no sweep file {path}; see sweeps/ for examples") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from err
    unknown = set(body) - set(SWEEP_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; use {SWEEP_KEYS}")
    grids = body.get("grid")
    if not grids or not isinstance(grids, list):
        raise ValueError(f"{path}: needs at least one [[grid]] table")
    for key in ("name", "out"):
        if not isinstance(body.get(key), str):
            raise ValueError(f"{path}: needs a string {key!r}")
    axes = tuple({k: tuple(v) if isinstance(v, list) else (v,) for k, v in g.items()}
                 for g in grids)
    stack = body.get("stack", 1)
    if not (isinstance(stack, int) or (isinstance(stack, dict) and all(
            isinstance(v, int) for v in stack.values()))):
        raise ValueError(f"{path}: stack must be an integer or a table dataset = integer")
    order = body.get("order", "seed")
    if order not in ("seed", "grid"):
        raise ValueError(f"{path}: order must be 'seed' or 'grid', got {order!r}")
    return Sweep(body["name"], body["out"], axes, stack, str(path), order)


def run_dir(spec: RunSpec, out: str | os.PathLike) -> Path:
    """``<out>/<dataset>/<algo>-seed<seed>-<hash>``."""
    return run_path(spec.config(), out)


def is_finished(spec: RunSpec, out: str | os.PathLike) -> bool:
    return (run_dir(spec, out) / "final.pt").is_file()


# ----------------------------------------------------------------------------- lanes

SAME_COST = ("meta.query_bn",)  # settings that change no shape, so no cost per iteration


def _cost_key(cfg: Any) -> dict[str, Any]:
    return {k: v for k, v in stack_key(cfg).items() if k not in SAME_COST}


def measured_seconds_per_iteration(spec: RunSpec, out: str | os.PathLike) -> float | None:
    """The least cost per iteration logged by the finished runs in ``out`` that share this
    run's shapes and length (`stack_key`: other seeds and algorithms of its profile) and
    trained as the study trains (eagerly, on a CPU, alone), or None when there are none.
    The least, because a run that shared its core with other work logs more: the fastest
    log is the best measure of one quiet core. Where the query's BatchNorm statistics come
    from (`SAME_COST`) changes no shape, so the ablation counts its study siblings."""
    key = _cost_key(spec.config())
    rates = []
    for final in sorted(run_dir(spec, out).parent.glob("*/final.pt")):
        other, info = store.read_config(final.parent)
        rows = [r for r in store.read_metrics(final.parent) if "wall_time" in r]
        if (_cost_key(other) == key and rows and rows[-1]["iteration"] > 0
                and str(info.get("device", "")).startswith("CPU")
                and not info.get("torch_compile") and info.get("stacked_with", 1) == 1):
            rates.append(rows[-1]["wall_time"] / rows[-1]["iteration"])
    return min(rates) if rates else None


def estimated_seconds(spec: RunSpec, out: str | os.PathLike, whole: bool = False) -> float:
    """What is left of a run (``whole``: all of it), in seconds: the iterations times the
    measured cost per iteration — the run's own log when it has one, else the fastest of
    its finished siblings' logs (`measured_seconds_per_iteration`), else its profile's
    (scaled by inner steps, width and image size when a grid changes them)."""
    cfg, profile = spec.config(), get_profile(spec.profile)
    d = run_dir(spec, out)
    rows = store.read_metrics(d) if (d / "metrics.jsonl").exists() else []
    if rows and rows[-1]["iteration"] > 0 and "wall_time" in rows[-1]:
        per_it = rows[-1]["wall_time"] / rows[-1]["iteration"]
    elif (measured := measured_seconds_per_iteration(spec, out)) is not None:
        per_it = measured
    else:
        base = profile.run
        per_it = profile.seconds_per_iteration * (cfg.meta.n_inner_steps + 1) / (
            base.meta.n_inner_steps + 1)
        size = cfg.model_config().image_size / base.model_config().image_size
        per_it *= (cfg.hidden / base.hidden) ** 2 * size**2
    done = 0 if whole or not rows else rows[-1]["iteration"]
    return max(cfg.n_iterations - done, 0) * per_it


def stack_groups(specs: Sequence[RunSpec], out: str | os.PathLike,
                 size: Callable[[str], int]) -> list[tuple[RunSpec, ...]]:
    """Runs that can train together (same shapes, same iteration), at most ``size(dataset)``
    per group, in the order of ``specs``."""
    keyed: dict[str, list[RunSpec]] = {}
    for s in specs:
        key = repr((sorted(stack_key(s.config()).items()), store.last_iteration(run_dir(s, out))))
        keyed.setdefault(key, []).append(s)
    groups = []
    for g in keyed.values():
        n = size(g[0].config().dataset)
        groups += [tuple(g[i:i + n]) for i in range(0, len(g), n)]
    first = {s: i for i, s in enumerate(specs)}
    return sorted(groups, key=lambda g: first[g[0]])


def make_lanes(items: Sequence[Any], n_lanes: int, cost: Callable[[Any], float]
               ) -> list[list[Any]]:
    """Split ``items`` into at most ``n_lanes`` lists of about equal total cost.

    Longest first onto the least-loaded lane; within a lane items keep their order.
    """
    if n_lanes < 1:
        raise ValueError(f"need at least one lane, got {n_lanes}")
    lanes: list[list[Any]] = [[] for _ in range(min(n_lanes, max(len(items), 1)))]
    totals = [0.0] * len(lanes)
    order = {id(s): i for i, s in enumerate(items)}
    for item in sorted(items, key=cost, reverse=True):
        i = min(range(len(lanes)), key=totals.__getitem__)
        lanes[i].append(item)
        totals[i] += cost(item)
    return [sorted(lane, key=lambda s: order[id(s)]) for lane in lanes if lane]


@dataclass(frozen=True)
class Lane:
    """What one job does: train these stacks in order, then evaluate finished runs."""

    stacks: tuple[tuple[RunSpec, ...], ...]
    out: str
    data_root: str | None = None
    device: str = "auto"
    threads: int = 1
    deadline: float | None = None  # time.time() after which no new work starts
    evaluate: bool = True


def run_lane(lane: Lane) -> list[str]:
    """The job function: train each stack (resuming), evaluate what finished.

    Returns one status line per run. Runs in a submitit job (or in-process for debug).
    """
    configure_threads(lane.threads)
    lines = []
    for group in lane.stacks:
        left = None if lane.deadline is None else lane.deadline - time.time()
        if left is not None and left < 30:
            lines += [f"{s.label()}: not started (time budget spent)" for s in group]
            continue
        cfgs = [s.config() for s in group]
        paths = train_runs(cfgs, out_root=run_dir(group[0], lane.out).parent,
                           data_root=lane.data_root, device=lane.device, max_seconds=left,
                           progress=False)
        for spec, path in zip(group, paths, strict=True):
            lines.append(_finish(spec, path, lane))
    return lines


def _finish(spec: RunSpec, path: Path, lane: Lane) -> str:
    run = load_run(path)
    if not run.finished:
        return f"{spec.label()}: paused at iteration {run.iteration} ({path})"
    if lane.evaluate and not (path / "eval-test.json").exists():
        res = evaluate_run(run, data_root=lane.data_root, device=lane.device)
        return f"{spec.label()}: finished, test accuracy {res['acc']:.4f} ({path})"
    return f"{spec.label()}: finished ({path})"


# ----------------------------------------------------------------------------- executors


@dataclass(frozen=True)
class ExecutorOptions:
    """How lanes are run; written to ``<sweep folder>/executor.json`` with each call."""

    kind: str = "local"  # debug | local | slurm
    workers: int = 0  # lanes; 0: the free cores (local), 1 (debug), 8 (slurm)
    threads: int = 1  # CPU threads per lane
    timeout_min: int = 24 * 60  # per job (submitit's local default would be 2 minutes)
    gpus_per_node: int = 0  # GPUs per job (submitit hides GPUs unless asked)
    partition: str = ""  # SLURM partition
    array_parallelism: int = 8  # SLURM array tasks at once
    cpus_per_task: int = 1

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ValueError(f"executor {self.kind!r}; choose one of {EXECUTORS}")
        if self.threads < 1 or self.workers < 0 or self.timeout_min < 1:
            raise ValueError(f"need threads >= 1, workers >= 0, timeout_min >= 1: {self}")

    def n_lanes(self) -> int:
        if self.workers:
            return self.workers
        if self.kind == "local":
            return max(1, free_cores() // self.threads)
        return 1 if self.kind == "debug" else self.array_parallelism


def make_executor(opts: ExecutorOptions, folder: Path) -> Any:
    """A submitit executor with every default that matters set explicitly."""
    import submitit  # noqa: PLC0415  (optional dependency: only sweeps need it)

    logs = folder / "submitit"
    if opts.kind == "debug":
        return submitit.DebugExecutor(logs)
    if opts.kind == "local":
        ex = submitit.LocalExecutor(logs)
        ex.update_parameters(timeout_min=opts.timeout_min, gpus_per_node=opts.gpus_per_node)
        return ex
    if shutil.which("srun") is None or shutil.which("sbatch") is None:
        raise ValueError("--executor slurm needs a SLURM cluster (srun and sbatch were not "
                           "found); use --executor local on this machine")
    ex = submitit.AutoExecutor(logs, cluster="slurm")
    params: dict[str, Any] = {"timeout_min": opts.timeout_min, "gpus_per_node": opts.gpus_per_node,
                              "cpus_per_task": max(opts.cpus_per_task, opts.threads),
                              "slurm_array_parallelism": opts.array_parallelism}
    if opts.partition:
        params["slurm_partition"] = opts.partition
    ex.update_parameters(**params)
    return ex


@dataclass
class Plan:
    """The pending work of a sweep call: lanes of stacks, and what is already done."""

    sweep: Sweep
    lanes: list[Lane]
    done: list[RunSpec]
    pending: list[RunSpec] = field(default_factory=list)


def plan(sweep: Sweep, opts: ExecutorOptions, *, data_root: str | None = None,
         device: str = "auto", max_minutes: float | None = None,
         allow_long: bool = False) -> Plan:
    """Split the unfinished runs of ``sweep`` into lanes (nothing runs yet)."""
    specs = sweep.specs()
    done = [s for s in specs if is_finished(s, sweep.out)]
    pending = [s for s in specs if s not in done]
    if opts.kind != "slurm" and not allow_long:
        for s in pending:
            get_profile(s.profile).refuse_on_cpu(device, f"this sweep's {s.label()}")
    groups = stack_groups(pending, sweep.out, sweep.stack_size)
    cost = lambda g: sum(estimated_seconds(s, sweep.out) for s in g)  # noqa: E731
    deadline = None if max_minutes is None else time.time() + 60 * max_minutes
    lanes = [Lane(tuple(g), sweep.out, data_root, device, opts.threads, deadline)
             for g in make_lanes(groups, opts.n_lanes(), cost)] if groups else []
    return Plan(sweep, lanes, done, pending)


def record(p: Plan, opts: ExecutorOptions) -> Path:
    """``<sweep folder>/executor.json``: options, lanes and the runs of this call."""
    body = {"sweep": p.sweep.name, "source": p.sweep.source, "executor": asdict(opts),
            "lanes": [[[s.label() for s in g] for g in lane.stacks] for lane in p.lanes],
            "done": [s.label() for s in p.done], "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    return store.write_json(body, p.sweep.folder / "executor.json")


def progress_line(spec: RunSpec, out: str | os.PathLike) -> str:
    """``"cpu meta-sgd seed 1: 2,500/5,000 (0.21 s/it, ETA 9 min)"`` from its files."""
    d = run_dir(spec, out)
    n = spec.config().n_iterations
    if (d / "final.pt").exists():
        return f"{spec.label()}: finished"
    rows = store.read_metrics(d) if (d / "metrics.jsonl").exists() else []
    if not rows:
        return f"{spec.label()}: waiting"
    it, wall = rows[-1]["iteration"], rows[-1]["wall_time"]
    eta = (n - it) * wall / max(it, 1)
    return (f"{spec.label()}: {it:,}/{n:,} ({wall / max(it, 1):.2f} s/it, "
            f"ETA {eta / 60:.0f} min)")


def _monitor(specs: Sequence[RunSpec], out: str, stop: threading.Event, every: float,
             write: Callable[[str], None]) -> None:
    last: dict[RunSpec, str] = {}
    while not stop.wait(every):
        for s in specs:
            line = progress_line(s, out)
            if line != last.get(s):
                write(line)
                last[s] = line


def execute(sweep: Sweep, opts: ExecutorOptions, *, data_root: str | None = None,
            device: str = "auto", max_minutes: float | None = None, progress_every: float = 60,
            write: Callable[[str], None] = print, allow_long: bool = False) -> list[str]:
    """Train (and evaluate) every unfinished run of ``sweep``; returns status lines.

    Prints one progress line per run (iteration, seconds per iteration, ETA) whenever
    it changed, every ``progress_every`` seconds, while the jobs run.
    """
    p = plan(sweep, opts, data_root=data_root, device=device, max_minutes=max_minutes,
             allow_long=allow_long)
    record(p, opts)
    write(f"sweep {sweep.name}: {len(p.done)} runs finished, {len(p.pending)} to train in "
          f"{len(p.lanes)} lane(s) with the {opts.kind} executor")
    if not p.lanes:
        return [f"{s.label()}: finished" for s in p.done]
    ex = make_executor(opts, sweep.folder)
    if opts.kind == "slurm":  # a cluster runs for hours: submit, record, return
        jobs = ex.map_array(run_lane, p.lanes)
        ids = [j.job_id for j in jobs]
        store.write_json({"job_ids": ids}, sweep.folder / "slurm-jobs.json")
        write(f"submitted SLURM jobs {', '.join(ids)}; run the same command again to "
              "continue or to see what is finished")
        return [f"submitted {i}" for i in ids]
    stop = threading.Event()
    watcher = threading.Thread(target=_monitor, args=(p.pending, sweep.out, stop,
                                                      progress_every, write), daemon=True)
    watcher.start()
    try:
        jobs = [ex.submit(run_lane, lane) for lane in p.lanes]
        lines = [line for job in jobs for line in job.result()]
    finally:
        stop.set()
        watcher.join()
    for line in lines:
        write(line)
    return lines
