"""Named settings: one frozen `Profile` per dataset setting, one `StudyProfile` per book.

A `Profile` carries everything that depends on the setting, read by attribute: the config
of every run, where its runs live, its probe, its seeds, its cost and whether it needs a
GPU. A `StudyProfile` (what ``make book PROFILE=...`` and ``study --profile`` name) is the
profiles a book covers. Nothing outside this module branches on a profile's name.

- ``paper``: the report's protocol (mini-ImageNet 84x84, 64 filters, 60,000 iterations;
  a GPU). Committed runs in ``results/paper/`` (trained in GPU chunks).
- ``cpu``: the CPU study on Omniglot 28x28 at the report's rate settings (MAML inner
  rate 0.01; Meta-SGD's rates start at 0.01), 32 filters, 5,000 iterations, seeds 0-2.
- ``cpu-mini``: the same on mini-ImageNet at 32x32, 10,000 iterations, seeds 0-4: the
  regime of the report's claim (features barely move in adaptation), the primary test.
- ``cpu-mini-6k``: the first mini-ImageNet runs, 6,000 iterations (seed 0): a labelled
  shorter-training contrast, never trained again.
- ``smoke``: seconds, for CI.

A run of profile P, algorithm A and seed S lives in ``<P.results>/<dataset>/<A>-seed<S>-
<hash>``. `Profile.locate` finds them; `Profile.ensure` trains what is missing, except at
paper scale on a CPU (`Profile.refuse_on_cpu`, the one place of that rule).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.meta import ALGOS, MetaConfig
from ..core.probe import ProbeConfig
from .config import RunConfig, run_path
from .runtime import resolve_device

# The checkout this package runs from (an editable install), when it is one: relative
# results folders are read there whatever the working directory (a notebook's kernel
# may start in notebooks/).
REPO = Path(__file__).resolve().parents[2]


class LongRunRefused(RuntimeError):
    """A paper-scale run would be started on a CPU without ``allow_long``."""


@dataclass(frozen=True)
class Profile:
    """One dataset setting: its runs' config, results folder, probe, seeds and cost."""

    name: str
    label: str  # what figures and tables call it, e.g. "mini-ImageNet 32×32"
    run: RunConfig  # every run's settings (algo and seed are set per run)
    results: str  # results folder, relative to the checkout
    probe: ProbeConfig
    seeds: tuple[int, ...]  # the training seeds of the study
    seconds_per_iteration: float  # measured, one CPU core (paper: one H200), for ETAs
    mechanism_tasks: int = 1000  # tasks of the rate meta-gradient diagnostic
    mechanism_seeds: tuple[int, ...] = (0,)  # seeds whose MAML and Meta-SGD get it
    ablation_seeds: tuple[int, ...] = ()  # seeds of Meta-SGD with support-set BatchNorm
    stack: int = 1  # runs trained together in one process (stack.py)
    compiled_probe: bool = True  # embed with torch.compile (worth its ~15 s beyond smoke)
    paper_scale: bool = False  # days on a CPU: refused there unless allow_long
    trainable: bool = True  # False: a committed contrast, shown but never trained again

    @property
    def dataset(self) -> str:
        return self.run.dataset

    def config(self, algo: str = "maml", seed: int = 0, **changes) -> RunConfig:
        """The config of ``algo`` and ``seed`` (``changes`` override any field)."""
        if algo not in ALGOS:
            raise ValueError(f"unknown algorithm {algo!r}; choose one of {ALGOS}")
        return self.run.replace(algo=algo, seed=seed, **changes)

    def root(self, root: str | os.PathLike | None = None) -> Path:
        """The results folder: ``root`` when given, else ``results`` (relative to the
        working directory, or to the checkout when it is not there)."""
        if root is not None:
            return Path(root)
        path = Path(self.results)
        if not path.exists() and (REPO / "pyproject.toml").is_file() and (REPO / path).exists():
            return REPO / path
        return path

    def locate(self, algos: Sequence[str] = ALGOS, seeds: Sequence[int] | None = None, *,
               root: str | os.PathLike | None = None, **changes
               ) -> dict[tuple[str, int], Path]:
        """(algo, seed) -> the run directory (which may not exist); seeds default to the
        profile's."""
        base = self.root(root)
        seeds = self.seeds if seeds is None else seeds
        return {(a, s): run_path(self.config(a, s, **changes), base)
                for s in seeds for a in algos}

    def refuse_on_cpu(self, device: str | torch.device | None, what: str) -> None:
        """Raise `LongRunRefused` for a paper-scale ``what`` on a CPU."""
        if self.paper_scale and resolve_device(device).type == "cpu":
            raise LongRunRefused(
                f"{what} at {self.name} scale takes about an hour on an H200 and days on a "
                "CPU: train it with `python scripts/paper_chunk.py` on a GPU, or pass "
                "allow_long=True (--allow-long-on-cpu)")

    def ensure(self, algos: Sequence[str] = ALGOS, seeds: Sequence[int] | None = None, *,
               root: str | os.PathLike | None = None,
               data_root: str | os.PathLike | None = None, device: str = "auto",
               progress: bool = True, allow_long: bool = False, **changes
               ) -> dict[tuple[str, int], Path]:
        """The run directories, training what is missing (a model is trained once and
        shared: `train` reuses a finished run with the same config hash). An unfinished
        paper-scale run is returned as it is; a missing one on a CPU is refused unless
        ``allow_long``."""
        from .training import train  # training imports this module (a cycle)

        paths = self.locate(algos, seeds, root=root, **changes)
        for (algo, seed), path in paths.items():
            if (path / "final.pt").exists():
                continue
            if not allow_long:
                if self.paper_scale and (path / "checkpoint.pt").exists():
                    continue
                self.refuse_on_cpu(device, f"{algo} seed {seed}")
            train(self.config(algo, seed, **changes), out_root=path.parent,
                  data_root=data_root, device=device, progress=progress)
        return paths


@dataclass(frozen=True)
class ExplorerSize:
    """The explorer chapter's task pairs, query images per class and sweep grid step,
    sized so that a slider move takes a second or two on 2 CPU cores."""

    n_pairs: int = 40
    k_query: int = 5
    grid_step: float = 0.5


@dataclass(frozen=True)
class StudyProfile:
    """What one book (and one ``study`` command) covers: its dataset profiles."""

    name: str
    profiles: tuple[Profile, ...]  # the first is the primary test of the report's claim
    contrasts: tuple[Profile, ...] = ()  # committed contrasts shown beside them
    prose: bool = False  # the chapters' text describes this book's committed results
    explorer: ExplorerSize = ExplorerSize()
    cell_timeout_s: int = 1800  # a book cell with no reply for this long is retried once
    quick: bool = False  # CI-sized: chapters use their smallest grids


PAPER = Profile(
    name="paper", label="mini-ImageNet 84×84 (the report's setting)",
    run=RunConfig(
        profile="paper", dataset="mini-imagenet", n_way=5, k_shot=1, k_query=10,
        meta_batch_size=3, n_iterations=60_000, meta_lr=1e-3, hidden=64,
        meta=MetaConfig(inner_lr=0.01, n_inner_steps=5, first_order=False),
        val_every=1_000, n_val_episodes=300, log_every=100, ckpt_every=1_000),
    results="results/paper",
    # the report's 40,000 task pairs
    probe=ProbeConfig(n_iterations=40_000, k_query=15, batch_size=50),
    seeds=(0,), seconds_per_iteration=0.064,  # one H200, eager (benchmarks/results/h200.json)
    paper_scale=True)

# The CPU study: the report's rate settings (MAML inner rate 0.01; Meta-SGD's rates start
# at 0.01 as a constant, so Meta-SGD starts as MAML; `rate_init="uniform"` gives Li et
# al.'s [0.005, 0.1]) on a 2-core CPU. What shrinks: the dataset (Omniglot 28x28), the
# width (32 filters) and the length. 5,000 iterations: on the measured curve of the
# per-layer rate means (README, chapter 03) every layer's sign has held since about
# iteration 1,500.
CPU = Profile(
    name="cpu", label="Omniglot 28×28",
    run=RunConfig(
        profile="cpu", dataset="omniglot", n_way=5, k_shot=1, k_query=10,
        meta_batch_size=3, n_iterations=5_000, meta_lr=1e-3, hidden=32,
        meta=MetaConfig(inner_lr=0.01, n_inner_steps=5, first_order=False),
        val_every=250, n_val_episodes=100, log_every=10, ckpt_every=250),
    results="results/cpu",
    probe=ProbeConfig(n_iterations=600, k_query=10, batch_size=50),
    seeds=(0, 1, 2), seconds_per_iteration=0.25, ablation_seeds=(0,))

# The study's second dataset, the regime of the report's claim: mini-ImageNet at 32x32 (a
# 128-d embedding; 42x42 took twice as long per iteration). 10,000 iterations: on a
# 12,000-iteration Meta-SGD run conv3's mean rate reached its level (about -0.012) only by
# 8,000 and held it to 12,000, while at 6,000 the conv rates were still moving. On its 20
# test classes independent 5-way tasks share a class 80 % of the time, so the probe's
# off-task task B is drawn class-disjoint.
CPU_MINI = Profile(
    name="cpu-mini", label="mini-ImageNet 32×32",
    run=CPU.run.replace(profile="cpu-mini", dataset="mini-imagenet", image_size=32,
                        n_iterations=10_000),
    results="results/cpu",
    probe=ProbeConfig(n_iterations=600, k_query=10, batch_size=50, disjoint=True),
    seeds=(0, 1, 2, 3, 4), seconds_per_iteration=0.47, mechanism_seeds=(0, 1),
    ablation_seeds=(0, 1))

# The long rate curve (chapter 3): cpu-mini's Meta-SGD seed 0 continued to this length
# (`extend`), to show where the conv rates settle.
LONG_CURVE_ITERATIONS = 20_000

# The first mini-ImageNet runs (seed 0, 6,000 iterations): kept as a shorter-training
# contrast. Their configs say profile "cpu-mini", so they keep their directories.
CPU_MINI_6K = dataclasses.replace(
    CPU_MINI, name="cpu-mini-6k", label="mini-ImageNet 32×32, 6,000 iterations",
    run=CPU_MINI.run.replace(n_iterations=6_000), seeds=(0,), mechanism_seeds=(),
    ablation_seeds=(), trainable=False)

SMOKE = Profile(
    name="smoke", label="smoke (Omniglot, tiny)",
    run=RunConfig(
        profile="smoke", dataset="omniglot", n_way=5, k_shot=1, k_query=5,
        meta_batch_size=2, n_iterations=6, meta_lr=1e-3, hidden=8,
        meta=MetaConfig(inner_lr=0.1, n_inner_steps=2, first_order=False),
        val_every=3, n_val_episodes=10, log_every=2, ckpt_every=3),
    results="runs/smoke",
    probe=ProbeConfig(n_iterations=20, k_query=5, batch_size=20),
    seeds=(0,), seconds_per_iteration=0.02, mechanism_tasks=20, compiled_probe=False,
    ablation_seeds=(0,))

PROFILES: dict[str, Profile] = {p.name: p for p in (PAPER, CPU, CPU_MINI, CPU_MINI_6K, SMOKE)}

STUDIES: dict[str, StudyProfile] = {
    "cpu": StudyProfile("cpu", (CPU_MINI, CPU), contrasts=(CPU_MINI_6K,), prose=True),
    "smoke": StudyProfile("smoke", (SMOKE,), explorer=ExplorerSize(10, 5, 0.5),
                          cell_timeout_s=300, quick=True),
    "paper": StudyProfile("paper", (PAPER,), explorer=ExplorerSize(50, 10, 0.25)),
}


def get_profile(name: str | Profile) -> Profile:
    """The profile named ``name`` (a `Profile` is returned as it is)."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


def get_study(name: str | StudyProfile) -> StudyProfile:
    """The study (book) profile named ``name``."""
    if isinstance(name, StudyProfile):
        return name
    if name not in STUDIES:
        raise ValueError(f"unknown book profile {name!r}; choose one of {sorted(STUDIES)}")
    return STUDIES[name]


def profile_config(profile: str | Profile, algo: str = "maml", seed: int = 0,
                   **changes) -> RunConfig:
    """The config of ``algo`` under ``profile`` (``changes`` override any field)."""
    return get_profile(profile).config(algo, seed, **changes)
