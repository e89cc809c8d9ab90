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

from .meta import ALGOS
from .probe import TRAINED, Condition, ProbeConfig, default_conditions, ensure_probes
from .profiles import PROBES, RESULTS, SEEDS, STUDIES
from .runtime import configure_threads
from .sweep import ExecutorOptions, Sweep, execute, is_finished, make_executor, make_lanes, run_dir

STACK = {"mini-imagenet": 3, "omniglot": 1}


def study_sweep(name: str = "cpu") -> Sweep:
    """The study's runs as a sweep: each profile x ``ALGOS`` x seeds, plus the BatchNorm
    ablation (Meta-SGD with support-set statistics for the query) on the first profile."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; choose one of {sorted(STUDIES)}")
    profiles = STUDIES[name]
    seeds = SEEDS if name != "smoke" else (0,)
    grids = ({"profile": tuple(profiles), "algo": ALGOS, "seed": seeds},
             {"profile": (profiles[0],), "algo": ("meta-sgd",), "query_bn": ("support",),
              "seed": seeds})
    # Stacked where it is faster on this CPU (benchmarks/results/cpu2-stacked.json):
    # mini-ImageNet 32x32 three runs at a time; Omniglot one at a time.
    return Sweep(f"study-{name}", RESULTS[profiles[0]], grids, stack=STACK, source="study.py")


@dataclass(frozen=True)
class ProbeJob:
    """One run to probe with one probe config and its conditions."""

    run_dir: str
    config: ProbeConfig
    conditions: tuple[Condition, ...]


def probe_plan(sweep: Sweep) -> list[ProbeJob]:
    """The probes of every finished run of the study."""
    jobs = []
    for spec in sweep.specs():
        if not is_finished(spec, sweep.out):
            continue
        cfg = PROBES[spec.profile]
        d = str(run_dir(spec, sweep.out))
        main_run = not spec.overrides
        conds = default_conditions(spec.algo) if main_run and spec.algo == "meta-sgd" \
            else (TRAINED,)
        jobs.append(ProbeJob(d, cfg, conds))
        if cfg.disjoint and main_run and spec.algo in ("maml", "meta-sgd"):
            jobs.append(ProbeJob(d, dataclasses.replace(cfg, disjoint=False), (TRAINED,)))
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
        res = ensure_probes([job.run_dir], job.config, lambda algo, j=job: j.conditions,
                            data_root=lane.data_root, device=lane.device)
        lines.append(f"{job.run_dir}: {len(res)} probe condition(s) ready")
    return lines


def run_probes(jobs: Sequence[ProbeJob], opts: ExecutorOptions, folder: Path, *,
               data_root: str | None, device: str, deadline: float | None) -> list[str]:
    """Probe in lanes (one subprocess per lane with the local executor)."""
    if not jobs:
        return []
    lanes = make_lanes(list(jobs), opts.n_lanes(), lambda j: len(j.conditions))
    ex = make_executor(opts, folder / "probe")
    submitted = [ex.submit(run_probe_lane, ProbeLane(tuple(lane), data_root, device,
                                                     opts.threads, deadline))
                 for lane in lanes]
    return [line for job in submitted for line in job.result()]


def run_study(name: str = "cpu", opts: ExecutorOptions | None = None, *,
              max_minutes: float | None = None, data_root: str | None = None,
              device: str = "auto", write: Callable[[str], None] = print,
              progress_every: float = 60) -> list[str]:
    """Train, evaluate and probe the study ``name`` within ``max_minutes`` (None: all)."""
    opts = opts or ExecutorOptions()
    sweep = study_sweep(name)
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
