"""A run's settings: one frozen `RunConfig`, saved as ``config.json``, hashed into the
name of its run directory (``<algo>-seed<seed>-<hash>``), so a changed setting can never
load a stale result and the same settings reuse a finished run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.data import DATASETS
from ..core.meta import MetaConfig, check_choice
from ..core.models import Conv4Config

DATASET_SHAPES = {"omniglot": (1, 28), "mini-imagenet": (3, 84)}
# (group, field) -> default of config fields added after runs were committed; "" is the
# top level of RunConfig, "meta" its MetaConfig.
LATER_FIELDS: dict[tuple[str, str], Any] = {("meta", "query_bn"): "transductive"}
VAL_SEED = 10_000  # one fixed validation list for every run of a dataset
TEST_SEED = 20_000
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run (and its directory hash)."""

    profile: str = "custom"  # the profile it came from, for labels
    dataset: str = "omniglot"  # "omniglot" | "mini-imagenet"
    image_size: int = 0  # 0: the dataset's standard size (28 / 84)
    n_way: int = 5
    k_shot: int = 1
    k_query: int = 10  # query images per class for the meta-loss and validation
    meta_batch_size: int = 3  # tasks per meta-iteration
    n_iterations: int = 60_000
    meta_lr: float = 1e-3  # Adam, for the initialisation and the rates
    hidden: int = 64  # filters per conv block
    meta: MetaConfig = field(default_factory=MetaConfig)
    val_every: int = 500  # validate every this many iterations (and at the end)
    n_val_episodes: int = 100
    log_every: int = 10  # metrics.jsonl gets the mean of this many iterations per line
    ckpt_every: int = 500
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("dtype", self.dtype, DTYPES)
        for name in ("n_way", "k_shot", "meta_batch_size", "n_iterations", "hidden",
                     "val_every", "n_val_episodes", "log_every", "ckpt_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        for name in ("k_query", "image_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name}={value!r} must be an integer")
        if self.k_query < 1 or self.image_size < 0:
            raise ValueError(f"k_query={self.k_query} must be >= 1 and image_size="
                             f"{self.image_size} >= 0")
        if not isinstance(self.meta_lr, numbers.Real) or isinstance(self.meta_lr, bool):
            raise ValueError(f"meta_lr={self.meta_lr!r} must be a number")
        if not (math.isfinite(self.meta_lr) and self.meta_lr > 0):
            raise ValueError(f"meta_lr={self.meta_lr} must be a positive finite number")
        self.model_config().feature_size  # noqa: B018  (raises for too small images)

    @property
    def algo(self) -> str:
        return self.meta.algo

    def model_config(self) -> Conv4Config:
        channels, size = DATASET_SHAPES[self.dataset]
        return Conv4Config(in_channels=channels, image_size=self.image_size or size,
                           hidden=self.hidden, n_way=self.n_way)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with top-level or ``meta`` fields changed (``algo=`` goes to ``meta``)."""
        meta_fields = {f.name for f in dataclasses.fields(MetaConfig)}
        top_fields = {f.name for f in dataclasses.fields(RunConfig)}
        unknown = sorted(set(changes) - meta_fields - top_fields)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; RunConfig has {sorted(top_fields)} "
                             f"and MetaConfig {sorted(meta_fields)}")
        meta_changes = {k: changes.pop(k) for k in list(changes) if k in meta_fields}
        cfg = dataclasses.replace(self, **changes)
        if meta_changes:
            cfg = dataclasses.replace(cfg, meta=dataclasses.replace(cfg.meta, **meta_changes))
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """The config of a ``config.json``; unknown fields are an error (another version)."""
        d = dict(d)
        m = dict(d.pop("meta"))
        m["rate_init_range"] = tuple(m["rate_init_range"])
        extra = sorted(set(d) - {f.name for f in dataclasses.fields(cls)}
                       | set(m) - {f.name for f in dataclasses.fields(MetaConfig)})
        if extra:
            raise ValueError(f"unknown config fields {extra}: written by another version of "
                             "neglr_utils")
        return cls(meta=MetaConfig(**m), **d)

    def digest(self) -> str:
        """Ten hex digits of the config: the run directory's key.

        Fields added after runs were committed (``LATER_FIELDS``) enter the hash only when
        they differ from their default, so those runs keep their directory names.
        """
        d = self.to_dict()
        for (group, name), default in LATER_FIELDS.items():
            part = d[group] if group else d
            if part.get(name) == default:
                part.pop(name)
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


def run_dir_for(cfg: RunConfig, out_root: str | os.PathLike) -> Path:
    """``<out_root>/<algo>-seed<seed>-<hash>``: one directory per distinct config."""
    return Path(out_root) / f"{cfg.algo}-seed{cfg.seed}-{cfg.digest()}"


def run_path(cfg: RunConfig, root: str | os.PathLike) -> Path:
    """``<root>/<dataset>/<algo>-seed<seed>-<hash>``: where results folders keep runs."""
    return run_dir_for(cfg, Path(root) / cfg.dataset)
