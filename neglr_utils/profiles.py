"""Named run settings and where their runs live.

- ``paper``: the report's protocol (mini-ImageNet 84x84, 64 filters, 60,000 iterations;
  a GPU). Committed runs in ``results/paper/`` (trained in GPU chunks).
- ``cpu``: the CPU study on Omniglot 28x28 at the report's rate settings (MAML inner
  rate 0.01; Meta-SGD's rates start at 0.01), 32 filters, 5,000 iterations.
- ``cpu-mini``: the same on mini-ImageNet at 32x32, the study's second dataset.
- ``smoke``: seconds, for CI.

A run of profile P, algorithm A and seed S lives in ``<RESULTS[P]>/<dataset>/<A>-seed<S>-
<hash>``. `locate_runs` finds them; `ensure_runs` trains what is missing, except at
paper scale on a CPU, which needs ``allow_long=True`` (the book never trains it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .meta import ALGOS, MetaConfig
from .probe import ProbeConfig
from .train import RunConfig, run_path, train

PAPER = RunConfig(
    profile="paper", dataset="mini-imagenet", n_way=5, k_shot=1, k_query=10,
    meta_batch_size=3, n_iterations=60_000, meta_lr=1e-3, hidden=64,
    meta=MetaConfig(inner_lr=0.01, n_inner_steps=5, first_order=False),
    val_every=1_000, n_val_episodes=300, log_every=100, ckpt_every=1_000,
)

# The CPU study: the report's rate settings (MAML inner rate 0.01; Meta-SGD's rates start
# at 0.01 as a constant, so Meta-SGD starts as MAML; `rate_init="uniform"` gives Li et
# al.'s [0.005, 0.1]) on a 2-core CPU. What shrinks: the dataset (Omniglot 28x28), the
# width (32 filters) and the length. 5,000 iterations: on the measured curve of the
# per-layer rate means (README, chapter 03) every layer's sign has held since about
# iteration 1,500. One iteration takes about 0.2 s on one core here.
CPU = RunConfig(
    profile="cpu", dataset="omniglot", n_way=5, k_shot=1, k_query=10,
    meta_batch_size=3, n_iterations=5_000, meta_lr=1e-3, hidden=32,
    meta=MetaConfig(inner_lr=0.01, n_inner_steps=5, first_order=False),
    val_every=250, n_val_episodes=100, log_every=10, ckpt_every=250,
)

# The study's second dataset, closer to the report's: mini-ImageNet at 32x32 (a 128-d
# embedding; about 0.33 s per iteration on one core, 42x42 took 0.64 s). 6,000 iterations:
# on the measured curve conv1-conv3 cross zero near 4,800-5,100 and stay within about
# 0.006 of it to 6,000, conv4 and the head are flat from about 3,000. 8,000 (as far past
# the crossings as on Omniglot) did not fit the study's CPU budget; the rate curve
# (chapter 03) shows what the shorter runs leave out.
CPU_MINI = CPU.replace(profile="cpu-mini", dataset="mini-imagenet", image_size=32,
                       n_iterations=6_000)

SMOKE = RunConfig(
    profile="smoke", dataset="omniglot", n_way=5, k_shot=1, k_query=5,
    meta_batch_size=2, n_iterations=6, meta_lr=1e-3, hidden=8,
    meta=MetaConfig(inner_lr=0.1, n_inner_steps=2, first_order=False),
    val_every=3, n_val_episodes=10, log_every=2, ckpt_every=3,
)

PROFILES: dict[str, RunConfig] = {"paper": PAPER, "cpu": CPU, "cpu-mini": CPU_MINI,
                                  "smoke": SMOKE}
# Where each profile's runs are kept: committed results, or scratch runs for CI.
RESULTS: dict[str, str] = {"paper": "results/paper", "cpu": "results/cpu",
                           "cpu-mini": "results/cpu", "smoke": "runs/smoke"}
# The probe of each profile: the report's 40,000 task pairs on the GPU; on the CPU what
# the study's time allows. On mini-ImageNet's 20 test classes independent 5-way tasks
# share a class 80 % of the time, so its off-task task B is drawn class-disjoint.
PROBES: dict[str, ProbeConfig] = {
    "paper": ProbeConfig(n_iterations=40_000, k_query=15, batch_size=50),
    "cpu": ProbeConfig(n_iterations=600, k_query=10, batch_size=50),
    "cpu-mini": ProbeConfig(n_iterations=600, k_query=10, batch_size=50, disjoint=True),
    "smoke": ProbeConfig(n_iterations=20, k_query=5, batch_size=20),
}
# Studies: the profiles (datasets) they cover and their seeds.
STUDIES: dict[str, tuple[str, ...]] = {"cpu": ("cpu", "cpu-mini"), "smoke": ("smoke",),
                                       "paper": ("paper",)}
SEEDS = (0, 1, 2)


def profile_config(profile: str, algo: str = "maml", seed: int = 0, **changes) -> RunConfig:
    """The config of ``algo`` under ``profile`` (``changes`` override any field)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {ALGOS}")
    return PROFILES[profile].replace(algo=algo, seed=seed, **changes)


# The checkout this package runs from (an editable install), when it is one: relative
# results folders are read there whatever the working directory (a notebook's kernel
# may start in notebooks/).
REPO = Path(__file__).resolve().parents[1]


def results_root(profile: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of ``profile``'s runs: ``root`` when given, else ``RESULTS[profile]``
    (relative to the working directory, or to the checkout when it is not there)."""
    if root is not None:
        return Path(root)
    if profile not in RESULTS:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(RESULTS)}")
    path = Path(RESULTS[profile])
    if not path.exists() and (REPO / "pyproject.toml").is_file() and (REPO / path).exists():
        return REPO / path
    return path


def locate_runs(profile: str, algos: Sequence[str] = ALGOS, seeds: Sequence[int] = (0,), *,
                root: str | os.PathLike | None = None, **changes) -> dict[tuple[str, int], Path]:
    """(algo, seed) -> the run directory of ``profile``'s config (which may not exist)."""
    base = results_root(profile, root)
    return {(a, s): run_path(profile_config(profile, a, s, **changes), base)
            for s in seeds for a in algos}


def study_profiles(profile: str) -> tuple[str, ...]:
    """The dataset profiles a book or study profile covers (``cpu``: Omniglot and
    mini-ImageNet 32x32)."""
    if profile not in STUDIES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(STUDIES)}")
    return STUDIES[profile]


class LongRunRefused(RuntimeError):
    """A paper-scale run would be started on a CPU without ``allow_long``."""


def ensure_runs(profile: str, algos: Sequence[str] = ALGOS, seeds: Sequence[int] = (0,), *,
                root: str | os.PathLike | None = None,
                data_root: str | os.PathLike | None = None, device: str = "auto",
                progress: bool = True, allow_long: bool = False, train_missing: bool = True,
                **changes) -> dict[tuple[str, int], Path]:
    """The run directories of ``profile``, training only what is missing.

    Notebooks call this with the same arguments, so a model is trained once and shared
    (``train`` reuses a finished run with the same config hash). Paper-scale runs are
    never started here unless ``allow_long`` (they take days on a CPU): an unfinished
    committed run is returned as it is. ``train_missing=False`` only locates.
    """
    paths = locate_runs(profile, algos, seeds, root=root, **changes)
    for (algo, seed), path in paths.items():
        if (path / "final.pt").exists() or not train_missing:
            continue
        if profile == "paper" and not allow_long:
            if (path / "checkpoint.pt").exists():
                continue
            raise LongRunRefused(
                f"{algo} seed {seed} at paper scale is not in {path.parent}: 60,000 "
                "iterations take about an hour on an H200 and days on a CPU. Train it with "
                "`python scripts/paper_chunk.py` on a GPU, or pass allow_long=True")
        train(profile_config(profile, algo, seed, **changes), out_root=path.parent,
              data_root=data_root, device=device, progress=progress)
    return paths
