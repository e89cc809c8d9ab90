"""Does a committed run reproduce here? Retrain its first iterations and compare the log.

Float32 kernels differ between CPUs (AVX-512 or not) and thread counts, so a rerun is
not bit-identical on another machine; over the first few dozen iterations the
differences stay at the level of rounding, far below what a changed setting does. The
tolerances below were set from that gap: a changed meta learning rate, inner rate or
seed moves the logged training loss by percents within 20 iterations.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import io
from .train import read_config, train

LOSS_RTOL = 2e-3  # relative, on each logged training-loss window
ACC_ATOL = 0.01  # absolute, on each logged training-accuracy window


@dataclass(frozen=True)
class Provenance:
    """The first ``n_iterations`` of a run retrained here against its committed log."""

    run: Path
    n_iterations: int
    max_loss_rel_diff: float
    max_acc_diff: float

    @property
    def reproduces(self) -> bool:
        return self.max_loss_rel_diff <= LOSS_RTOL and self.max_acc_diff <= ACC_ATOL


def check(run_dir: str | os.PathLike, n_iterations: int = 20, *,
          data_root: str | os.PathLike | None = None, device: str = "cpu",
          **changes) -> Provenance:
    """Retrain the first ``n_iterations`` (settings ``changes`` applied) and compare."""
    cfg, _ = read_config(run_dir)
    committed = {r["iteration"]: r for r in io.read_metrics(run_dir)}
    short = cfg.replace(n_iterations=n_iterations, **changes)
    with tempfile.TemporaryDirectory() as tmp:
        path = train(short, out_root=tmp, data_root=data_root, device=device, progress=False)
        rows = [r for r in io.read_metrics(path) if r["iteration"] in committed]
    if not rows:
        raise ValueError(f"no logged iteration of {run_dir} within the first {n_iterations}")
    loss = max(abs(r["train_loss"] - committed[r["iteration"]]["train_loss"])
               / abs(committed[r["iteration"]]["train_loss"]) for r in rows)
    acc = max(abs(r["train_acc"] - committed[r["iteration"]]["train_acc"]) for r in rows)
    return Provenance(Path(run_dir), n_iterations, loss, acc)
