"""Does a committed run reproduce here? Retrain its first logged window and compare.

Float32 kernels differ between CPUs (AVX-512, AVX2 or none; oneDNN's instruction set)
and thread counts, and training amplifies the rounding: retraining the first 20
iterations of the committed Omniglot MAML seed-0 run on an AVX2 CPU differed from its
log (written on another CPU) by 0.065 % in the first logged window (iterations 1-10)
but by 0.73 % in the second, and by 1.58 % with ``ATEN_CPU_CAPABILITY=default``, as
much as a doubled meta learning rate moves it there. So the check compares the *first*
logged window only (``log_every`` iterations), where rounding has not grown yet.

Measured there (relative training-loss difference from the committed log; MAML / Meta-
SGD seed 0 of the ``cpu`` profile, torch 2.14.1, one AMD EPYC AVX2 core):

- other kernels, the same settings, one thread: native AVX2 0.065 % / 0.010 %,
  ``ATEN_CPU_CAPABILITY=default`` 0.057 % / 0.010 %, ``ONEDNN_MAX_CPU_ISA=SSE41``
  0.00001 % / 0.061 %, both 0.151 % / 0.061 %; two threads natively 0.065 %, but two
  threads with ``ATEN_CPU_CAPABILITY=default`` 0.57 % (MAML), so the check runs in a
  one-thread process, as the study trains (one thread per lane);
- changed settings: ``n_inner_steps`` 5 -> 4 0.70 % / 0.85 %, ``meta_lr`` 1e-3 -> 2e-3
  0.89 % / 3.8 %, ``image_size`` 28 -> 32 1.04 %, ``k_query`` 10 -> 15 1.07 % / 1.9 %,
  ``inner_lr`` 0.01 -> 0.012 3.9 % / 2.5 %, ``seed`` 0 -> 1 5.2 %.

``LOSS_RTOL`` = 0.4 % sits 2.6x above the largest spread across kernels and 1.75x below
the smallest changed setting. Not detected: a meta learning rate changed by less than
about 1.5x (1.5e-3 moved the first window by 0.13 %, inside the kernels' spread), since
the meta rate acts only from the second iteration on. The accuracy window is a looser
second check (kernels: at most 0.0073; it catches a broken accuracy, not a setting).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import store
from .store import read_config
from .training import train

LOSS_RTOL = 4e-3  # relative, on the first logged training-loss window
ACC_ATOL = 0.02  # absolute, on the first logged training-accuracy window


@dataclass(frozen=True)
class Provenance:
    """The first logged window of a run, retrained here, against its committed log."""

    run: Path
    n_iterations: int
    loss_rel_diff: float
    acc_diff: float

    @property
    def reproduces(self) -> bool:
        return self.loss_rel_diff <= LOSS_RTOL and self.acc_diff <= ACC_ATOL

    def describe(self) -> str:
        verdict = "reproduces" if self.reproduces else "does NOT reproduce"
        return (f"{self.run}: {verdict} over its first {self.n_iterations} iterations "
                f"(training loss {100 * self.loss_rel_diff:.3f} % off, tolerance "
                f"{100 * LOSS_RTOL:.1f} %; accuracy {self.acc_diff:.4f} off, tolerance "
                f"{ACC_ATOL})")


def check(run_dir: str | os.PathLike, *, data_root: str | os.PathLike | None = None,
          device: str = "cpu", **changes) -> Provenance:
    """Retrain the first logged window (settings ``changes`` applied) and compare it with
    the committed ``metrics.jsonl``. Run it in a process that has used one thread from
    its start, as the study trains (``python -m neglr_utils provenance`` does): setting
    the thread count later did not restore the one-thread rounding here."""
    cfg, _ = read_config(run_dir)
    n = cfg.log_every
    committed = next((r for r in store.read_metrics(run_dir) if r["iteration"] == n), None)
    if committed is None:
        raise ValueError(f"{run_dir}/metrics.jsonl has no line for iteration {n} (its first "
                         "logged window): nothing to compare with")
    # one validation episode at the end: validation draws from its own fixed list, so it
    # cannot change the trained trajectory; a hundred would only cost time
    short = cfg.replace(n_iterations=n, n_val_episodes=1, **changes)
    with tempfile.TemporaryDirectory() as tmp:
        path = train(short, out_root=tmp, data_root=data_root, device=device, progress=False)
        row = next(r for r in store.read_metrics(path) if r["iteration"] == n)
    loss = abs(row["train_loss"] - committed["train_loss"]) / abs(committed["train_loss"])
    return Provenance(Path(run_dir), n, loss, abs(row["train_acc"] - committed["train_acc"]))
