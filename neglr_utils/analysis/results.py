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

from ..core.mechanism import StoredPush
from ..core.meta import ALGOS
from ..core.models import param_shapes
from ..core.probe import ProbeResult
from ..runs import store
from ..runs.config import RunConfig
from ..runs.profiles import Profile, get_profile, get_study
from ..runs.store import (
    StoredRepresentation,
    TestAccuracy,
    load_probe_results,
    read_config,
    read_mechanism,
    read_representations,
    read_test,
)
from ..runs.training import load_run
from ..stats import Interval, mean_ci
from .rates import (
    LayerOverSeeds,
    RatePoint,
    RateStats,
    inert_table,
    rate_evolution,
    rate_table,
    table1_over_seeds,
)

N_TEST_EPISODES = 600  # meta-test tasks of the head-after-adaptation accuracy


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
    inert: dict[str, RateStats]  # the conv biases' rates, which cannot move ({} for MAML)
    evolution: tuple[RatePoint, ...]  # per-layer rate statistics over training
    probes: tuple[ProbeResult, ...]
    mechanism: dict[tuple[str, str], dict[str, StoredPush]] = field(default_factory=dict)
    representations: tuple[StoredRepresentation, ...] = ()  # of the run as it is now
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


def summarize(run_dir: str | os.PathLike) -> RunSummary:
    """Read one run directory (weights only for its final rates)."""
    path = Path(run_dir)
    cfg, info = read_config(path)
    run = load_run(path)
    metrics = tuple(run.metrics)
    last = metrics[-1] if metrics else {}
    sizes = {k: math.prod(s) for k, s in param_shapes(cfg.model_config()).items()}
    eff = run.effective_rates() if cfg.meta.learns_rates else {}
    rates, inert = rate_table(eff), inert_table(eff)
    return RunSummary(path, cfg, run.iteration, run.finished, float(last.get("wall_time", 0.0)),
                      info.get("device", "?"), info.get("versions", {}),
                      read_test(path, run.iteration, run.finished, N_TEST_EPISODES), rates,
                      inert,
                      tuple(rate_evolution(metrics, sizes)), tuple(load_probe_results(path)),
                      read_mechanism(path),
                      tuple(e for e in read_representations(path)
                            if (e.key["run_hash"], e.key["iteration"])
                            == (cfg.digest(), run.iteration)), metrics)


@dataclass(frozen=True)
class Study:
    """The runs of one profile: (algo, seed) -> summary (absent runs are left out)."""

    profile: Profile
    seeds: tuple[int, ...]
    runs: dict[tuple[str, int], RunSummary]
    missing: dict[tuple[str, int], str]  # (algo, seed) -> why it is not here

    def of(self, algo: str, *, finished: bool = True) -> list[RunSummary]:
        """The runs of ``algo`` in seed order (only finished ones by default)."""
        return [self.runs[(algo, s)] for s in self.seeds if (algo, s) in self.runs
                and (self.runs[(algo, s)].finished or not finished)]

    @property
    def finished(self) -> bool:
        """Whether at least one run has finished."""
        return any(r.finished for r in self.runs.values())

    @property
    def probes(self) -> list[ProbeResult]:
        return [p for r in self.runs.values() for p in r.probes]

    @property
    def dataset(self) -> str:
        return self.profile.dataset

    @property
    def name(self) -> str:
        return self.profile.name


def load_study(profile: str | Profile, seeds: Sequence[int] | None = None,
               algos: Sequence[str] = ALGOS, *, root: str | os.PathLike | None = None,
               **changes) -> Study:
    """Summaries of ``profile``'s runs for ``algos`` x ``seeds`` (default: the profile's)
    found under ``root``."""
    profile = get_profile(profile)
    seeds = profile.seeds if seeds is None else tuple(seeds)
    runs, missing = {}, {}
    for key, path in profile.locate(algos, seeds, root=root, **changes).items():
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


def table1(study: Study, algo: str = "meta-sgd") -> dict[str, LayerOverSeeds]:
    """Layer -> the learned rates of ``algo`` over the study's finished seeds ({} when none)."""
    runs = study.of(algo)
    return table1_over_seeds({r.seed: r.rates for r in runs}) if runs else {}


def load_studies(book: str, seeds: Sequence[int] | None = None, *,
                 root: str | os.PathLike | None = None) -> dict[str, Study]:
    """Profile name -> `Study` for a book profile: the primary profile, its contrasts, then
    the other profiles (``cpu``: ``cpu-mini``, ``cpu-mini-6k``, ``cpu``); seeds default to
    each profile's (a contrast always has its own)."""
    b = get_study(book)
    order = (b.profiles[0], *b.contrasts, *b.profiles[1:])
    return {p.name: load_study(p, seeds if p.trainable else None, root=root) for p in order}


@dataclass(frozen=True)
class Curve:
    """A run's metrics log without its weights (e.g. the rate curve behind the profile)."""

    config: RunConfig
    evolution: tuple[RatePoint, ...]
    metrics: tuple[dict, ...]


def read_curve(folder: str | os.PathLike) -> Curve:
    """``config.json`` and ``metrics.jsonl`` of a folder, rates pooled per layer."""
    folder = Path(folder)
    info = store.read_json(folder / "config.json")
    if info is None:
        raise FileNotFoundError(f"{folder} has no config.json")
    cfg = RunConfig.from_dict(info["config"])
    metrics = tuple(store.read_metrics(folder))
    sizes = {k: math.prod(s) for k, s in param_shapes(cfg.model_config()).items()}
    return Curve(cfg, tuple(rate_evolution(metrics, sizes)), metrics)
