"""The CPU study in one command: train every run, evaluate, probe; resumable in slices.

``python -m neglr_utils study --profile cpu [--max-minutes 60]`` (``make study``):

1. training and test evaluation of every run of the study's grids (`study_sweep`:
   MAML, Meta-SGD and positive-rate Meta-SGD x 3 seeds on each CPU dataset, and the
   support-set BatchNorm ablation of Meta-SGD), through the sweep machinery
   (``sweep.py``: lanes of runs on the free cores, one thread each);
2. the probe of every finished run (`probe_plan`): the run as trained, and for Meta-SGD
   the sign sweep of its conv rates; on mini-ImageNet also with independently drawn
   (not class-disjoint) off-task pairs, for the overlap comparison.

Work already done is skipped (hash-keyed run directories, cached probe results), work
cut by the time budget resumes on the next call, and one progress line per run (with an
ETA) is printed while it trains.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .io import last_iteration
from .mechanism import ensure_mechanism, has_mechanism
from .meta import ALGOS
from .probe import TRAINED, Condition, ProbeConfig, default_conditions, ensure_probes
from .profiles import PROBES, SEEDS, results_root, study_profiles
from .runtime import configure_threads
from .sweep import (
    ExecutorOptions,
    Sweep,
    estimated_seconds,
    execute,
    is_finished,
    make_executor,
    make_lanes,
    run_dir,
)
from .train import evaluate_run, train

STACK = {"mini-imagenet": 1, "omniglot": 1}


def study_sweep(name: str = "cpu", seeds: Sequence[int] | None = None,
                root: str | None = None) -> Sweep:
    """The study's runs as a sweep: each profile x ``ALGOS`` x seeds, plus the BatchNorm
    ablation (Meta-SGD with support-set statistics for the query) on the first profile and
    the first seed (one more run per seed did not fit the CPU budget)."""
    profiles = study_profiles(name)
    if seeds is None:
        seeds = (0,) if name == "smoke" else SEEDS
    grids: tuple[dict, ...] = ({"profile": tuple(profiles), "algo": ALGOS, "seed": seeds},)
    if name != "paper":
        grids += ({"profile": (profiles[0],), "algo": ("meta-sgd",), "query_bn": ("support",),
                   "seed": tuple(seeds)[:1]},)
    # Stacking is not faster on this 2-core CPU (benchmarks/results/cpu2-stacked.json: a
    # stack of 3 runs at 0.96x the speed of separate runs, of 9 at 0.80-0.85x), so the
    # CPU study trains one run per lane and two lanes at once; the GPU chunks stack.
    return Sweep(f"study-{name}", str(results_root(profiles[0], root)), grids, stack=STACK,
                 source="study.py")


@dataclass(frozen=True)
class ProbeJob:
    """One run to probe with one probe config and its conditions (and, for MAML and
    Meta-SGD, the rate meta-gradient diagnostic over ``mechanism_tasks`` tasks)."""

    run_dir: str
    config: ProbeConfig
    conditions: tuple[Condition, ...]
    mechanism_tasks: int = 0
    compiled: bool = False  # embed with torch.compile (worth its ~15 s beyond smoke)


MECHANISM_TASKS = {"cpu": 1000, "cpu-mini": 1000, "smoke": 20, "paper": 1000}


def probe_plan(sweep: Sweep) -> list[ProbeJob]:
    """The probes of every finished run of the study; the rate meta-gradient diagnostic
    (costly: second order through the inner loop for every task) for the first seed's MAML
    and Meta-SGD."""
    jobs = []
    first_seed = min((s.seed for s in sweep.specs()), default=0)
    for spec in sweep.specs():
        if not is_finished(spec, sweep.out):
            continue
        cfg = PROBES[spec.profile]
        d = str(run_dir(spec, sweep.out))
        main_run = not spec.overrides
        conds = default_conditions(spec.algo) if main_run and spec.algo == "meta-sgd" \
            else (TRAINED,)
        diagnose = main_run and spec.algo in ("maml", "meta-sgd") and spec.seed == first_seed
        compiled = spec.profile != "smoke"
        jobs.append(ProbeJob(d, cfg, conds, MECHANISM_TASKS[spec.profile] if diagnose else 0,
                             compiled))
        if cfg.disjoint and main_run and spec.algo in ("maml", "meta-sgd"):
            jobs.append(ProbeJob(d, dataclasses.replace(cfg, disjoint=False), (TRAINED,),
                                 compiled=compiled))
    return jobs


@dataclass(frozen=True)
class ProbeLane:
    jobs: tuple[ProbeJob, ...]
    data_root: str | None
    device: str
    threads: int
    deadline: float | None


def run_probe_lane(lane: ProbeLane) -> list[str]:
    """The job function of the probe phase: each run's missing conditions, in order."""
    configure_threads(lane.threads)
    lines = []
    for job in lane.jobs:
        if lane.deadline is not None and time.time() > lane.deadline:
            lines.append(f"{job.run_dir}: probe not started (time budget spent)")
            continue
        run_job(job, data_root=lane.data_root, device=lane.device)
        lines.append(f"{job.run_dir}: {len(job.conditions)} probe condition(s) ready"
                     + (", diagnostic ready" if job.mechanism_tasks else ""))
    return lines


def run_job(job: ProbeJob, *, data_root: str | None, device: str, progress: bool = False
            ) -> None:
    """The probe conditions of one run, then its rate meta-gradient diagnostic."""
    ensure_probes([job.run_dir], job.config, lambda algo: job.conditions, data_root=data_root,
                  device=device, progress=progress, compiled=job.compiled)
    if job.mechanism_tasks:
        ensure_mechanism(job.run_dir, n_tasks=job.mechanism_tasks, data_root=data_root,
                         device=device)


def run_probes(jobs: Sequence[ProbeJob], opts: ExecutorOptions, folder: Path, *,
               data_root: str | None, device: str, deadline: float | None) -> list[str]:
    """Probe in lanes (one subprocess per lane with the local executor)."""
    if not jobs:
        return []
    lanes = make_lanes(list(jobs), opts.n_lanes(),
                       lambda j: len(j.conditions) + j.mechanism_tasks / 250)
    ex = make_executor(opts, folder / "probe")
    submitted = [ex.submit(run_probe_lane, ProbeLane(tuple(lane), data_root, device,
                                                     opts.threads, deadline))
                 for lane in lanes]
    return [line for job in submitted for line in job.result()]


def run_study(name: str = "cpu", opts: ExecutorOptions | None = None, *,
              max_minutes: float | None = None, seeds: Sequence[int] | None = None,
              data_root: str | None = None, device: str = "auto",
              write: Callable[[str], None] = print, progress_every: float = 60) -> list[str]:
    """Train, evaluate and probe the study ``name`` within ``max_minutes`` (None: all)."""
    opts = opts or ExecutorOptions()
    sweep = study_sweep(name, seeds)
    start = time.time()
    lines = execute(sweep, opts, data_root=data_root, device=device, max_minutes=max_minutes,
                    progress_every=progress_every, write=write)
    deadline = None if max_minutes is None else start + 60 * max_minutes
    jobs = probe_plan(sweep)
    write(f"probe: {len(jobs)} run/config pairs (cached conditions are reused)")
    lines += run_probes(jobs, opts, sweep.folder, data_root=data_root, device=device,
                        deadline=deadline)
    pending = [s for s in sweep.specs() if not is_finished(s, sweep.out)]
    write(f"study {name}: {len(sweep.specs()) - len(pending)} of {len(sweep.specs())} runs "
          f"finished in {(time.time() - start) / 60:.1f} min"
          + (f"; {len(pending)} left: run the same command again" if pending else ""))
    return lines


# Seconds per paper-profile meta-iteration on one H200, eager (benchmarks/results/h200.json).
PAPER_GPU_SECONDS_PER_ITERATION = 0.064


def missing_note(spec, out: str, name: str, cpu_minutes: float) -> str:
    """What the book says about a run it does not train: how far it is, what it would
    cost, and the command that trains it."""
    done = last_iteration(run_dir(spec, out))
    n = spec.config().n_iterations
    where = f"at iteration {done:,} of {n:,}" if done else "not started"
    if spec.profile == "paper":
        gpu_min = (n - done) * PAPER_GPU_SECONDS_PER_ITERATION / 60
        return (f"{spec.label()}: {where} in {out}; about {gpu_min:,.0f} more minutes on an "
                f"H200 (days on a CPU): `python scripts/paper_chunk.py --budget SECONDS "
                f"--out OUT` on a GPU trains it")
    return (f"{spec.label()}: {where} (about {cpu_minutes:,.0f} more minutes on one core "
            f"here); `python -m neglr_utils study --profile {name}` trains it")


def prepare(name: str, seeds: Sequence[int], *, root: str | None = None,
            data_root: str | None = None, device: str = "auto", max_train_minutes: float = 10,
            progress: bool = True) -> list[str]:
    """What the book needs, in this process: runs, test evaluations, probes.

    A missing run is trained only when it would take at most ``max_train_minutes`` here
    (the smoke profile; a fresh clone of the cpu study has every run committed); for the
    others a line says what is missing and the command that trains it. Returns those
    lines ([] when everything is there).
    """
    sweep = study_sweep(name, seeds, root)
    notes = []
    for spec in sweep.specs():
        if is_finished(spec, sweep.out):
            continue
        minutes = estimated_seconds(spec, sweep.out) / 60
        if minutes > max_train_minutes or spec.profile == "paper":
            notes.append(missing_note(spec, sweep.out, name, minutes))
            continue
        path = train(spec.config(), out_root=run_dir(spec, sweep.out).parent,
                     data_root=data_root, device=device, progress=progress)
        if not (path / "eval-test.json").exists():
            evaluate_run(path, data_root=data_root, device=device)
    for spec in sweep.specs():
        path = run_dir(spec, sweep.out)
        if is_finished(spec, sweep.out) and not (path / "eval-test.json").exists():
            evaluate_run(path, data_root=data_root, device=device)
    if name == "paper":  # 40,000 task pairs per condition: the GPU chunks probe
        return notes
    for job in probe_plan(sweep):
        if job.mechanism_tasks and name != "smoke" and not has_mechanism(job.run_dir):
            notes.append(f"{job.run_dir}: the rate meta-gradient diagnostic is not computed "
                         f"here (it is costly); `python -m neglr_utils study --profile {name}` "
                         "computes it")
            job = dataclasses.replace(job, mechanism_tasks=0)
        run_job(job, data_root=data_root, device=device, progress=progress)
    return notes
