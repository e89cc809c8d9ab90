"""Run artifacts read into typed summaries: one `RunSummary` per run, one `Study` per set.

Nothing here trains or probes. A `Study` is the runs of one profile (dataset) for some
algorithms and seeds, read from their run directories (``config.json``,
``metrics.jsonl``, ``final.pt``/``checkpoint.pt``, ``eval-test.json``, ``probe.json``).
Tables (``report.py``), figures (``plots.py``) and verdicts (``endpoints.py``) take
these objects, so a quantity is computed in one place and indexed by attribute.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import io
from .analysis import RatePoint, RateStats, rate_evolution, rate_table
from .mechanism import StoredPush, read_mechanism
from .meta import ALGOS
from .models import param_shapes
from .probe import ProbeResult, load_results
from .profiles import PROFILES, locate_runs, study_profiles
from .stats import Interval, mean_ci
from .train import RunConfig, load_run, read_config

N_TEST_EPISODES = 600  # meta-test tasks of the head-after-adaptation accuracy


@dataclass(frozen=True)
class TestAccuracy:
    """``eval-test.json``: accuracy with the head after adaptation on fixed test tasks."""

    acc: float
    ci95: float  # half-width over test tasks
    n_episodes: int
    seconds: float


@dataclass(frozen=True)
class RunSummary:
    """What one run directory holds, as numbers."""

    path: Path
    config: RunConfig
    iteration: int
    finished: bool
    wall_time: float
    device: str
    versions: dict[str, str]
    test: TestAccuracy | None
    rates: dict[str, RateStats]  # final effective rates per layer ({} for MAML)
    evolution: tuple[RatePoint, ...]  # per-layer rate statistics over training
    probes: tuple[ProbeResult, ...]
    mechanism: dict[tuple[str, str], dict[str, StoredPush]] = field(default_factory=dict)
    metrics: tuple[dict, ...] = field(repr=False, default=())

    @property
    def algo(self) -> str:
        return self.config.algo

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def seconds_per_iteration(self) -> float:
        return self.wall_time / self.iteration if self.iteration else math.nan


def read_test(run_dir: Path, iteration: int, finished: bool,
              n_episodes: int = N_TEST_EPISODES) -> TestAccuracy | None:
    """``eval-test.json`` when it is current (same task count, made from this state)."""
    res = io.read_json(run_dir / "eval-test.json")
    if res is None or res.get("n_episodes") != n_episodes or res.get("finished") != finished:
        return None
    if not finished and res.get("iteration") != iteration:
        return None
    return TestAccuracy(res["acc"], res["ci95"], res["n_episodes"], res["seconds"])


def summarize(run_dir: str | os.PathLike) -> RunSummary:
    """Read one run directory (weights only for its final rates)."""
    path = Path(run_dir)
    cfg, info = read_config(path)
    run = load_run(path)
    metrics = tuple(run.metrics)
    last = metrics[-1] if metrics else {}
    sizes = {k: math.prod(s) for k, s in param_shapes(cfg.model_config()).items()}
    rates = rate_table(run.effective_rates()) if cfg.meta.learns_rates else {}
    return RunSummary(path, cfg, run.iteration, run.finished, float(last.get("wall_time", 0.0)),
                      info.get("device", "?"), info.get("versions", {}),
                      read_test(path, run.iteration, run.finished), rates,
                      tuple(rate_evolution(metrics, sizes)), tuple(load_results(path)),
                      read_mechanism(path), metrics)


@dataclass(frozen=True)
class Study:
    """The runs of one profile: (algo, seed) -> summary (absent runs are left out)."""

    profile: str
    seeds: tuple[int, ...]
    runs: dict[tuple[str, int], RunSummary]
    missing: dict[tuple[str, int], str]  # (algo, seed) -> why it is not here

    def of(self, algo: str, *, finished: bool = True) -> list[RunSummary]:
        """The runs of ``algo`` in seed order (only finished ones by default)."""
        return [self.runs[(algo, s)] for s in self.seeds if (algo, s) in self.runs
                and (self.runs[(algo, s)].finished or not finished)]

    @property
    def probes(self) -> list[ProbeResult]:
        return [p for r in self.runs.values() for p in r.probes]

    @property
    def dataset(self) -> str:
        return PROFILES[self.profile].dataset


def load_study(profile: str, seeds: Sequence[int] = (0,), algos: Sequence[str] = ALGOS, *,
               root: str | os.PathLike | None = None, **changes) -> Study:
    """Summaries of ``profile``'s runs for ``algos`` x ``seeds`` found under ``root``."""
    runs, missing = {}, {}
    for key, path in locate_runs(profile, algos, seeds, root=root, **changes).items():
        if (path / "config.json").is_file() and ((path / "final.pt").exists()
                                                 or (path / "checkpoint.pt").exists()):
            runs[key] = summarize(path)
        else:
            missing[key] = "not run yet"
    return Study(profile, tuple(seeds), runs, missing)


def accuracy_over_seeds(runs: Sequence[RunSummary]) -> Interval | None:
    """Test accuracy of a set of seeds: the seed means with a t-interval over seeds.

    With one seed the interval is over its test tasks (a normal-width interval recorded
    in ``eval-test.json``). None when a run has no current evaluation.
    """
    tests = [r.test for r in runs]
    if not tests or any(t is None for t in tests):
        return None
    if len(tests) == 1:
        t = tests[0]
        return Interval(t.acc, t.acc - t.ci95, t.acc + t.ci95, math.nan, t.n_episodes)
    return mean_ci([t.acc for t in tests])


def load_studies(profile: str, seeds: Sequence[int], *, root: str | os.PathLike | None = None
                 ) -> dict[str, Study]:
    """Dataset profile -> `Study` for a book profile (``cpu``: ``cpu`` and ``cpu-mini``)."""
    return {p: load_study(p, seeds, root=root) for p in study_profiles(profile)}


@dataclass(frozen=True)
class Curve:
    """A run's metrics log without its weights (e.g. the rate curve behind the profile)."""

    config: RunConfig
    evolution: tuple[RatePoint, ...]
    metrics: tuple[dict, ...]


def read_curve(folder: str | os.PathLike) -> Curve:
    """``config.json`` and ``metrics.jsonl`` of a folder, rates pooled per layer."""
    folder = Path(folder)
    info = io.read_json(folder / "config.json")
    if info is None:
        raise FileNotFoundError(f"{folder} has no config.json")
    cfg = RunConfig.from_dict(info["config"])
    metrics = tuple(io.read_metrics(folder))
    sizes = {k: math.prod(s) for k, s in param_shapes(cfg.model_config()).items()}
    return Curve(cfg, tuple(rate_evolution(metrics, sizes)), metrics)
