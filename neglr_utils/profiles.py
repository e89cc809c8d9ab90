"""Named run settings: ``paper`` (the report's protocol), ``cpu`` (the book's default on a
2-core machine), ``smoke`` (CI, seconds)."""

from __future__ import annotations

from pathlib import Path

from .meta import MetaConfig
from .probe import ProbeConfig
from .train import RunConfig, run_dir_for, train

PAPER = RunConfig(
    profile="paper", dataset="mini-imagenet", n_way=5, k_shot=1, k_query=10,
    meta_batch_size=3, n_iterations=60_000, meta_lr=1e-3, hidden=64,
    meta=MetaConfig(inner_lr=0.01, n_inner_steps=5, first_order=False),
    val_every=1_000, n_val_episodes=300, log_every=100, ckpt_every=1_000,
)

# The CPU study (issue 12): the report's rate settings (MAML inner rate 0.01; Meta-SGD
# rates start at 0.01, so Meta-SGD starts as MAML) on a 2-core CPU. What shrinks: the
# dataset (Omniglot 28x28), the width (32 filters) and the number of iterations.
CPU = RunConfig(
    profile="cpu", dataset="omniglot", n_way=5, k_shot=1, k_query=10,
    meta_batch_size=3, n_iterations=5_000, meta_lr=1e-3, hidden=32,
    meta=MetaConfig(inner_lr=0.01, n_inner_steps=5, first_order=False),
    val_every=250, n_val_episodes=100, log_every=10, ckpt_every=250,
)

# The study's second dataset, closer to the report's: mini-ImageNet at 32x32.
CPU_MINI = CPU.replace(profile="cpu-mini", dataset="mini-imagenet", image_size=32)

SMOKE = RunConfig(
    profile="smoke", dataset="omniglot", n_way=5, k_shot=1, k_query=5,
    meta_batch_size=2, n_iterations=6, meta_lr=1e-3, hidden=8,
    meta=MetaConfig(inner_lr=0.1, n_inner_steps=2, first_order=False),
    val_every=3, n_val_episodes=10, log_every=2, ckpt_every=3,
)

PROFILES: dict[str, RunConfig] = {"paper": PAPER, "cpu": CPU, "cpu-mini": CPU_MINI,
                                  "smoke": SMOKE}

# The probe of each profile: the report's 40,000 task pairs on the GPU; on the CPU as many
# as the book's time budget allows (the CI half-width is printed beside every number).
PROBES: dict[str, ProbeConfig] = {
    "paper": ProbeConfig(n_iterations=40_000, k_query=15, batch_size=50),
    "cpu": ProbeConfig(n_iterations=300, k_query=10, batch_size=100),
    "smoke": ProbeConfig(n_iterations=20, k_query=5, batch_size=20),
}
ALGOS = ("maml", "meta-sgd", "meta-sgd-positive")


def profile_config(profile: str, algo: str = "maml", seed: int = 0, **changes) -> RunConfig:
    """The config of ``algo`` under ``profile`` (``changes`` override any field)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[profile].replace(algo=algo, seed=seed, **changes)


def ensure_runs(
    profile: str,
    algos: tuple[str, ...] = ALGOS,
    seeds: tuple[int, ...] | list[int] = (0,),
    *,
    runs_dir: str | Path = "runs",
    data_root: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[tuple[str, int], Path]:
    """The run directory of every (algo, seed) of ``profile``, training only what is missing.

    Notebooks call this with the same arguments, so a model is trained once and shared:
    a finished run with the same config is reused as is (``train`` checks the config hash).
    For the ``paper`` profile a committed ``results/paper/`` directory is used when it holds
    the run (finished or not), so the book never starts a 60,000-iteration run by itself.
    """
    out: dict[tuple[str, int], Path] = {}
    for seed in seeds:
        for algo in algos:
            cfg = profile_config(profile, algo, seed)
            path = run_dir_for(cfg, runs_dir)
            if profile != "paper" or not (path / "checkpoint.pt").exists():
                path = train(cfg, out_root=runs_dir, data_root=data_root, device=device,
                             progress=progress)
            out[(algo, seed)] = path
    return out
