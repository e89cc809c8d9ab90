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

from ..core.meta import ALGOS
from ..core.probe import TRAINED, Condition, ProbeConfig, default_conditions
from .mechanisms import ensure_mechanism, has_mechanism
from .probes import ensure_probes
from .profiles import StudyProfile, get_profile, get_study
from .representations import ensure_representation, representation_conditions
from .runtime import configure_threads
from .store import last_iteration
from .sweep import (
    ExecutorOptions,
    RunSpec,
    Sweep,
    estimated_seconds,
    execute,
    is_finished,
    make_executor,
    make_lanes,
    run_dir,
)
from .training import evaluate_run, train


def study_sweep(name: str | StudyProfile = "cpu", seeds: Sequence[int] | None = None,
                root: str | None = None) -> Sweep:
    """The study's runs as a sweep: for each of its profiles, ``ALGOS`` x the profile's
    seeds (``seeds`` overrides them), plus the BatchNorm ablation (Meta-SGD with
    support-set statistics for the query) for the profile's ``ablation_seeds``. Its
    contrasts are not trained (`contrast_specs`)."""
    study = get_study(name)
    grids: tuple[dict, ...] = ()
    for p in study.profiles:
        grids += ({"profile": (p.name,), "algo": ALGOS,
                   "seed": tuple(p.seeds if seeds is None else seeds)},)
        ablation = tuple(s for s in p.ablation_seeds if seeds is None or s in seeds)
        if ablation:
            grids += ({"profile": (p.name,), "algo": ("meta-sgd",), "query_bn": ("support",),
                       "seed": ablation},)
    # Stacking is not faster on this 2-core CPU (benchmarks/results/cpu2-stacked.json: a
    # stack of 3 runs at 0.96x the speed of separate runs, of 9 at 0.80-0.85x), so the
    # CPU study trains one run per lane and two lanes at once; the GPU chunks stack.
    return Sweep(f"study-{study.name}", str(study.profiles[0].root(root)), grids,
                 stack={p.dataset: p.stack for p in study.profiles}, source="study.py")


@dataclass(frozen=True)
class ProbeJob:
    """One run to probe with one probe config and its conditions (and, for MAML and
    Meta-SGD, the rate meta-gradient diagnostic over ``mechanism_tasks`` tasks)."""

    run_dir: str
    profile: str
    config: ProbeConfig
    conditions: tuple[Condition, ...]
    mechanism_tasks: int = 0
    compiled: bool = False  # embed with torch.compile (worth its ~15 s beyond smoke)
    representation: tuple[Condition, ...] = ()  # conditions of the layer-similarity measure


def contrast_specs(name: str | StudyProfile) -> list[RunSpec]:
    """The runs of the study's contrasts (committed, finished: probed, never trained)."""
    return [RunSpec(p.name, algo, seed) for p in get_study(name).contrasts
            for seed in p.seeds for algo in ALGOS]


def probe_plan(sweep: Sweep, extra: Sequence[RunSpec] = ()) -> list[ProbeJob]:
    """The probes of every finished run of the study (and of ``extra`` runs, e.g. its
    contrasts); the rate meta-gradient diagnostic (costly: second order through the
    inner loop for every task) for MAML and Meta-SGD of the profile's
    ``mechanism_seeds``."""
    jobs = []
    for spec in (*sweep.specs(), *extra):
        if not is_finished(spec, sweep.out):
            continue
        profile = get_profile(spec.profile)
        cfg = profile.probe
        d = str(run_dir(spec, sweep.out))
        main_run = not spec.overrides
        conds = default_conditions(spec.algo) if main_run and spec.algo == "meta-sgd" \
            else (TRAINED,)
        diagnose = (main_run and spec.algo in ("maml", "meta-sgd")
                    and spec.seed in profile.mechanism_seeds)
        compiled = profile.compiled_probe
        jobs.append(ProbeJob(d, spec.profile, cfg, conds,
                             profile.mechanism_tasks if diagnose else 0, compiled,
                             representation_conditions(spec.algo) if main_run else ()))
        if cfg.disjoint and main_run and spec.algo in ("maml", "meta-sgd"):
            jobs.append(ProbeJob(d, spec.profile, dataclasses.replace(cfg, disjoint=False),
                                 (TRAINED,), compiled=compiled))
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
    """The probe conditions of one run, its representation change (layer similarity),
    then its rate meta-gradient diagnostic."""
    ensure_probes([job.run_dir], job.config, lambda algo: job.conditions, data_root=data_root,
                  device=device, progress=progress, compiled=job.compiled)
    if job.representation:
        ensure_representation(job.run_dir, job.config, job.representation,
                              data_root=data_root, device=device)
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


def run_study(name: str | StudyProfile = "cpu", opts: ExecutorOptions | None = None, *,
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
    jobs = probe_plan(sweep, contrast_specs(name))
    write(f"probe: {len(jobs)} run/config pairs (cached conditions are reused)")
    lines += run_probes(jobs, opts, sweep.folder, data_root=data_root, device=device,
                        deadline=deadline)
    pending = [s for s in sweep.specs() if not is_finished(s, sweep.out)]
    write(f"study {sweep.name}: {len(sweep.specs()) - len(pending)} of {len(sweep.specs())} runs "
          f"finished in {(time.time() - start) / 60:.1f} min"
          + (f"; {len(pending)} left: run the same command again" if pending else ""))
    return lines


@dataclass(frozen=True)
class MissingRun:
    """A run the book needs but does not train: how far it is and what it would cost."""

    label: str  # e.g. "cpu-mini meta-sgd seed 3"
    done: int  # iterations trained so far
    total: int
    minutes: float  # from the run's own log, else its finished siblings', else the profile's
    where: str  # "one quiet CPU core here" or "an H200"
    command: str  # the command that trains it


def missing_run(spec: RunSpec, out: str, study: StudyProfile) -> MissingRun:
    """The typed note for a run that is not finished."""
    profile = get_profile(spec.profile)
    if profile.paper_scale:
        return MissingRun(spec.label(), last_iteration(run_dir(spec, out)),
                          spec.config().n_iterations, estimated_seconds(spec, out) / 60,
                          "an H200", "python scripts/paper_chunk.py --budget SECONDS --out OUT")
    return MissingRun(spec.label(), last_iteration(run_dir(spec, out)),
                      spec.config().n_iterations, estimated_seconds(spec, out) / 60,
                      "one quiet CPU core here",
                      f"python -m neglr_utils study --profile {study.name}")


def prepare(name: str | StudyProfile, seeds: Sequence[int] | None = None, *,
            root: str | None = None, data_root: str | None = None, device: str = "auto",
            max_train_minutes: float = 10, progress: bool = True
            ) -> tuple[list[MissingRun], list[str]]:
    """What the book needs, in this process: runs, test evaluations, probes.

    A missing run is trained only when the whole run would take at most
    ``max_train_minutes`` here (the smoke profile; the cpu study's runs train in lanes or
    with ``neglr_utils study``, even when one is left nearly done); the
    others are returned as `MissingRun`s, with the command that trains them. Also returns
    the runs whose (costly) rate meta-gradient diagnostic was not computed here.
    """
    study = get_study(name)
    sweep = study_sweep(study, seeds, root)
    missing, undiagnosed = [], []
    for spec in sweep.specs():
        if is_finished(spec, sweep.out):
            continue
        # the whole run's cost decides: the book never finishes a long run that a lane
        # left nearly done (its last iterations plus its probes would slow `make book`)
        if (estimated_seconds(spec, sweep.out, whole=True) / 60 > max_train_minutes
                or get_profile(spec.profile).paper_scale):
            missing.append(missing_run(spec, sweep.out, study))
            continue
        path = train(spec.config(), out_root=run_dir(spec, sweep.out).parent,
                     data_root=data_root, device=device, progress=progress)
        if not (path / "eval-test.json").exists():
            evaluate_run(path, data_root=data_root, device=device)
    for spec in sweep.specs():
        path = run_dir(spec, sweep.out)
        if is_finished(spec, sweep.out) and not (path / "eval-test.json").exists():
            evaluate_run(path, data_root=data_root, device=device)
    for job in probe_plan(sweep, contrast_specs(study)):
        if get_profile(job.profile).paper_scale:  # 40,000 task pairs: the GPU chunks probe
            continue
        if (job.mechanism_tasks and not has_mechanism(job.run_dir)
                and mechanism_minutes(job) > max_train_minutes):
            undiagnosed.append(job.run_dir)
            job = dataclasses.replace(job, mechanism_tasks=0)
        run_job(job, data_root=data_root, device=device, progress=progress)
    return missing, undiagnosed


def mechanism_minutes(job: ProbeJob) -> float:
    """Estimated minutes of a run's rate meta-gradient diagnostic: its tasks in the four
    settings, each task about a third of a training iteration (3 tasks per meta-batch)."""
    profile = get_profile(job.profile)
    return (job.mechanism_tasks * 4 * profile.seconds_per_iteration
            / profile.run.meta_batch_size / 60)
