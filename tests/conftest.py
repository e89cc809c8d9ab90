"""Shared fixtures and helpers: the real data root, synthetic splits, a tiny run config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from neglr_utils.data import ImageSplit
from neglr_utils.profiles import profile_config
from neglr_utils.train import RunConfig, train


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The real data root from NEGLR_DATA; skips without it, fails if NEGLR_REQUIRE_DATA=1."""
    value = os.environ.get("NEGLR_DATA", "")
    if value and Path(value).is_dir():
        return Path(value)
    reason = (f"real data root missing: NEGLR_DATA={value!r} is not a folder" if value
              else "real data root missing: NEGLR_DATA is not set")
    if os.environ.get("NEGLR_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (and NEGLR_REQUIRE_DATA=1)")
    pytest.skip(reason)


def synthetic_splits(n_classes: int = 12, n_per_class: int = 8, size: int = 28,
                     dataset: str = "omniglot") -> dict[str, ImageSplit]:
    """Random uint8 images in the shape of ``dataset``, three splits, seeded."""
    g = torch.Generator().manual_seed(0)
    channels = 1 if dataset == "omniglot" else 3
    out = {}
    for split in ("train", "val", "test"):
        imgs = torch.randint(0, 256, (n_classes, n_per_class, channels, size, size), generator=g,
                             dtype=torch.uint8)
        out[split] = ImageSplit(dataset, split, imgs, tuple(f"c{i}" for i in range(n_classes)))
    return out


def tiny_config(algo: str = "meta-sgd", **changes) -> RunConfig:
    """A run that trains in a second: 4 filters, 8 iterations, checkpoints every 2."""
    base = profile_config("smoke", algo=algo).replace(
        n_iterations=8, ckpt_every=2, val_every=4, log_every=1, hidden=4, n_val_episodes=4,
        k_query=3)
    return base.replace(**changes)


def train_tiny(cfg: RunConfig, out_root: Path, **kw) -> Path:
    """`train` on the synthetic splits, on the CPU, quietly."""
    return train(cfg, out_root=out_root, splits=synthetic_splits(), device="cpu",
                 progress=False, **kw)
