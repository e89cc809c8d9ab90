"""Meta-training with run directories, atomic checkpoints and exact resume.

A run is one :class:`RunConfig` (saved as ``config.json``) in a directory named by the
algorithm, the seed and a hash of the config, so a changed setting never loads a stale
result and the same config reuses a finished run. The directory holds:

- ``config.json``: every setting, the seed, package versions, device;
- ``metrics.jsonl``: one line per logged iteration (losses, accuracies, wall time,
  validation accuracy with its 95 % CI, per-layer rate summaries for Meta-SGD);
- ``checkpoint.pt``: the latest state (weights, rates, Adam moments, episode generator),
  written atomically; training again continues from it bit for bit on the CPU;
- ``final.pt``: the trained initialisation and rates, written at the end.

`train_runs` trains several runs with the same shapes as one stack (``stack.py``);
`train` is a stack of one. Training holds a lock file in each run directory, saves a
checkpoint and stops cleanly on SIGINT/SIGTERM or when ``max_seconds`` is spent.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core.data import ImageSplit, load_split
from ..core.episodes import Episode, EpisodeSampler, EpisodeSet, check_episode_shape
from ..core.meta import MetaConfig, effective_rates, evaluate
from ..core.models import Params
from ..core.stack import Stack, check_stackable
from ..progress import tqdm
from ..stats import mean_ci
from . import store
from .config import TEST_SEED, VAL_SEED, RunConfig, run_dir_for
from .lock import RunLock, StopSignals
from .runtime import device_description, package_versions, resolve_device
from .store import read_config


def rate_summary(rates: dict[str, torch.Tensor | float]) -> dict[str, dict[str, float]]:
    """Per-tensor mean, std and fraction negative of effective inner-rate tensors."""
    out = {}
    for name, r in rates.items():
        r = torch.as_tensor(r).detach().double()
        out[name] = {"mean": r.mean().item(), "std": r.std().item() if r.numel() > 1 else 0.0,
                     "frac_neg": (r < 0).double().mean().item()}
    return out


# ----------------------------------------------------------------------------- a run


@dataclass
class Run:
    """A run directory, loaded: config, weights, rates and the metrics log."""

    path: Path
    config: RunConfig
    params: Params
    rates: Params
    metrics: list[dict[str, Any]]
    info: dict[str, Any]
    finished: bool
    iteration: int

    @property
    def meta(self) -> MetaConfig:
        return self.config.meta

    def effective_rates(self) -> dict[str, torch.Tensor | float]:
        return effective_rates(self.params, self.rates, self.config.meta)


def load_run(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> Run:
    """Load a run directory: final weights when finished, else the latest checkpoint."""
    path = Path(path)
    device = resolve_device(device)
    config, info = read_config(path)
    final, ckpt = path / "final.pt", path / "checkpoint.pt"
    source = final if final.exists() else ckpt
    if not source.exists():
        raise FileNotFoundError(f"{path} has neither final.pt nor checkpoint.pt yet")
    state = store.load_checkpoint(source, map_location=device)
    return Run(path=path, config=config, params=state["params"], rates=state["rates"],
               metrics=store.read_metrics(path), info=info, finished=final.exists(),
               iteration=int(state["iteration"]))


class NonFiniteLossError(FloatingPointError):
    """The meta-loss or its gradient became NaN/Inf."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped training after a checkpoint was saved."""


def load_train_val(cfg: RunConfig, data_root: str | os.PathLike | None) -> dict[str, ImageSplit]:
    return {s: load_split(cfg.dataset, s, data_root, image_size=cfg.image_size or None)
            for s in ("train", "val")}


# ----------------------------------------------------------------------------- checkpoints


def _adam_from_torch(state: dict[str, Any], params: Params, rates: Params) -> dict[str, Any]:
    """Checkpoint format 1 (a torch Adam state_dict over [params..., rates...]) -> ours."""
    names = [f"param:{k}" for k in params] + [f"rate:{k}" for k in rates]
    by_index = state["optimizer"]["state"]
    if not by_index:
        return {"step": 0, "exp_avg": {}, "exp_avg_sq": {}}
    return {"step": int(by_index[0]["step"]),
            "exp_avg": {n: by_index[i]["exp_avg"] for i, n in enumerate(names)},
            "exp_avg_sq": {n: by_index[i]["exp_avg_sq"] for i, n in enumerate(names)}}


def read_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """A checkpoint with its Adam state in our per-name form (formats 1 and 2)."""
    state = store.load_checkpoint(path, map_location=device, weights_only=False,
                               formats=(1, store.CHECKPOINT_FORMAT))
    if "adam" not in state:
        state["adam"] = _adam_from_torch(state, state["params"], state["rates"])
    return state


@dataclass
class _Member:
    """Book-keeping of one run of a stack: its directory, sampler, log window."""

    cfg: RunConfig
    run_dir: Path
    sampler: EpisodeSampler
    n_lines: int = 0
    elapsed: float = 0.0
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0])
    n_window: int = 0
    continued_from: str | None = None  # the shorter run this one continues (`extend`)


class _Session:
    """A stack of runs being trained: state, validation, logs and checkpoints."""

    def __init__(self, members: list[_Member], stack: Stack, val: EpisodeSet,
                 device: torch.device) -> None:
        self.members, self.stack, self.val, self.device = members, stack, val, device
        self.cfg = members[0].cfg
        self.iteration = 0
        self.sums = torch.zeros(len(members), 2, dtype=torch.float64, device=device)
        # a check synchronises with a GPU: there, once per log window
        self.check_every = self.cfg.log_every if device.type == "cuda" else 1
        self.logs = [open(m.run_dir / "metrics.jsonl", "a") for m in members]  # noqa: SIM115

    def close(self) -> None:
        for m, f in zip(self.members, self.logs, strict=True):
            try:
                f.close()
            except OSError as err:  # flushing what a failed write left behind
                raise _append_error(m.run_dir, err) from err

    def step(self) -> None:
        episodes = [m.sampler.sample(self.cfg.meta_batch_size) for m in self.members]
        ep = Episode(*(torch.cat([getattr(e, k) for e in episodes]) for k in
                       ("x_support", "y_support", "x_query", "y_query", "classes")))
        losses, acc = self.stack.step(ep)
        self.sums += torch.stack([losses, acc], dim=1).double()
        self.iteration += 1
        for m in self.members:
            m.n_window += 1

    def check_finite(self, ckpt_every_hit: bool) -> None:
        if self.iteration % self.check_every and not ckpt_every_hit:
            return
        bad = [i for i, ok in enumerate(torch.isfinite(self.sums).all(dim=1).tolist()) if not ok]
        if bad:
            m = self.members[bad[0]]
            raise NonFiniteLossError(_nan_message(m, self.iteration, self.check_every))

    def log(self, t0: float, force: bool) -> None:
        """Write one metrics line per run when due (and validate when due)."""
        it, cfg = self.iteration, self.cfg
        last = it == cfg.n_iterations
        if not (force or last or it % cfg.log_every == 0):
            return
        validate = last or it % cfg.val_every == 0
        sums = self.sums.tolist()
        self.sums.zero_()
        for i, (m, f) in enumerate(zip(self.members, self.logs, strict=True)):
            m.elapsed = time.perf_counter() - t0
            row = {"iteration": it, "train_loss": sums[i][0] / m.n_window,
                   "train_acc": sums[i][1] / m.n_window, "wall_time": m.elapsed}
            m.n_window = 0
            if validate:
                row |= self._validate(i)
            try:
                f.write(json.dumps(row) + "\n")
                f.flush()
            except OSError as err:
                raise _append_error(m.run_dir, err) from err
            m.n_lines += 1

    def _validate(self, i: int) -> dict[str, Any]:
        cfg = self.members[i].cfg
        params, rates = self.stack.model_params(i), self.stack.model_rates(i)
        ci = mean_ci(evaluate(params, rates, self.val, cfg.meta, batch_size=25))
        row: dict[str, Any] = {"val_acc": ci.mean, "val_ci95": ci.half}
        row["rates"] = (rate_summary(effective_rates(params, rates, cfg.meta))
                        if cfg.meta.learns_rates else {})
        return row

    def save_checkpoints(self) -> None:
        for i, m in enumerate(self.members):
            store.atomic_save({"format": store.CHECKPOINT_FORMAT,
                               "params": self.stack.model_params(i),
                               "rates": self.stack.model_rates(i),
                               "adam": self.stack.adam_state(i),
                               "sampler": m.sampler.state_dict(),
                               "iteration": self.iteration, "elapsed": m.elapsed,
                               "metrics_lines": m.n_lines, "config": m.cfg.to_dict(),
                               "continued_from": m.continued_from},
                              m.run_dir / "checkpoint.pt")

    def save_finals(self) -> None:
        for i, m in enumerate(self.members):
            store.atomic_save({"format": store.CHECKPOINT_FORMAT,
                               "params": self.stack.model_params(i),
                               "rates": self.stack.model_rates(i), "iteration": self.iteration,
                               "elapsed": m.elapsed}, m.run_dir / "final.pt")


def _append_error(run_dir: Path, err: OSError) -> OSError:
    """A failed write to ``metrics.jsonl``, named; the checkpoint is untouched."""
    return OSError(err.errno, f"could not append to {run_dir / 'metrics.jsonl'} "
                   f"({err.strerror or err}); the last checkpoint is unchanged and training "
                   "again resumes from it (a partial last line is dropped). Free disk space "
                   "and retry")


def _nan_message(m: _Member, iteration: int, check_every: int) -> str:
    ckpt = m.run_dir / "checkpoint.pt"
    where = "no checkpoint was written yet"
    if ckpt.exists():
        last = store.load_checkpoint(ckpt, weights_only=False)["iteration"]
        where = (f"the last good checkpoint is {ckpt} (iteration {last}); training again "
                 "continues from it")
    when = (f"at iteration {iteration}" if check_every == 1
            else f"within the {check_every} iterations up to iteration {iteration}")
    return (f"{m.cfg.algo} seed {m.cfg.seed}: the meta-loss became NaN or infinite {when}; "
            f"training stopped and {where}. Lower meta_lr or inner_lr, or check the data.")


def _start_member(cfg: RunConfig, run_dir: Path, stack: Stack, i: int, train_split: ImageSplit,
                  device: torch.device, resume: bool) -> tuple[_Member, int]:
    """Make a run's directory ready: restore its checkpoint or start it afresh."""
    run_dir.mkdir(parents=True, exist_ok=True)
    sampler = EpisodeSampler(train_split, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed,
                             device=device, dtype=stack.dtype)
    member = _Member(cfg, run_dir, sampler)
    ckpt = run_dir / "checkpoint.pt"
    start = 0
    if resume and ckpt.exists():
        state = read_checkpoint(ckpt, device)
        _check_belongs(cfg, run_dir, state)
        stack.load_model(i, state["params"], state["rates"], state["adam"])
        sampler.load_state_dict(state["sampler"])
        start, member.elapsed, member.n_lines = (state["iteration"], state["elapsed"],
                                                 state["metrics_lines"])
        member.continued_from = state.get("continued_from")
        store.write_metrics(store.read_metrics(run_dir)[: member.n_lines], run_dir)
    else:
        (run_dir / "metrics.jsonl").write_text("")
        ckpt.unlink(missing_ok=True)
    return member, start


def _check_belongs(cfg: RunConfig, run_dir: Path, state: dict[str, Any]) -> None:
    """A clear error before resuming when config.json or the checkpoint is of another run."""
    if (run_dir / "config.json").exists():
        read_config(run_dir)
    saved = state.get("config")
    if saved is None:
        return
    try:
        digest = RunConfig.from_dict(saved).digest()
    except (KeyError, TypeError, ValueError) as err:
        raise store.RunFileError(f"{run_dir / 'checkpoint.pt'} holds an invalid config: "
                              f"{err}") from err
    if digest != cfg.digest():
        raise store.RunFileError(
            f"{run_dir / 'checkpoint.pt'} belongs to another run: its settings hash to "
            f"{digest}, this directory's to {cfg.digest()}. It was copied from another run "
            "directory; delete it, or pass --restart (resume=False) to train afresh")


def _open_session(cfgs: Sequence[RunConfig], dirs: Sequence[Path], splits: dict,
                  device: torch.device, resume: bool, torch_compile: bool) -> _Session:
    stack = Stack(cfgs, device, torch_compile=torch_compile)
    started = [_start_member(c, d, stack, i, splits["train"], device, resume)
               for i, (c, d) in enumerate(zip(cfgs, dirs, strict=True))]
    starts = {s for _, s in started}
    if len(starts) > 1:
        raise ValueError(f"these runs stopped at different iterations {sorted(starts)}; "
                         "train each on its own (train) or bring them to one iteration first")
    cfg = cfgs[0]
    val = EpisodeSet(splits["val"], cfg.n_way, cfg.k_shot, cfg.k_query, cfg.n_val_episodes,
                     seed=VAL_SEED, device=device, dtype=stack.dtype)
    session = _Session([m for m, _ in started], stack, val, device)
    session.iteration = starts.pop()
    info = {"hash": "", "versions": package_versions(), "device": device_description(device),
            "stacked_with": len(cfgs), "torch_compile": torch_compile}
    for m in session.members:
        extra = {"continued_from": m.continued_from} if m.continued_from else {}
        store.write_json({"config": m.cfg.to_dict(), **info, "hash": m.cfg.digest(), **extra},
                         m.run_dir / "config.json")
    return session


def train_runs(
    cfgs: Sequence[RunConfig],
    *,
    out_root: str | os.PathLike = "runs",
    data_root: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    resume: bool = True,
    max_seconds: float | None = None,
    progress: bool = True,
    splits: dict | None = None,
    on_iteration: Callable[[int], None] | None = None,
    torch_compile: bool = False,
) -> list[Path]:
    """Train (or resume, or reuse) runs with the same shapes as one stack; their directories.

    Finished runs are reused as they are; the others must stand at the same iteration.
    With ``resume`` each checkpoint is continued exactly; without it (``--restart``) the
    runs start afresh. ``max_seconds`` stops cleanly with checkpoints once this call has
    trained that long (GPU time slices, budgets). ``splits`` may pass loaded
    ``ImageSplit``s. SIGINT/SIGTERM save checkpoints and raise `TrainingInterrupted`.
    ``torch_compile`` compiles the meta-loss (`stack.Stack`): the same algorithm, float
    rounding apart (not in the run hash; config.json records it), for long runs.
    """
    device = resolve_device(device)
    dirs = [run_dir_for(c, out_root) for c in cfgs]
    todo = [(c, d) for c, d in zip(cfgs, dirs, strict=True) if not (d / "final.pt").exists()]
    if not todo:
        return dirs
    check_stackable([c for c, _ in todo])
    splits = splits or load_train_val(todo[0][0], data_root)
    for c, _ in todo:  # before a lock or a file is made
        for name in ("train", "val"):
            check_episode_shape(splits[name], c.n_way, c.k_shot, c.k_query)
    with ExitStack() as stack:
        for _, d in todo:
            stack.enter_context(RunLock(d))
        stop = stack.enter_context(StopSignals())
        session = _open_session(*zip(*todo, strict=True), splits, device, resume,
                                torch_compile)
        stack.callback(session.close)
        _loop(session, stop, max_seconds, progress, on_iteration)
    return dirs


def _loop(session: _Session, stop: StopSignals, max_seconds: float | None, progress: bool,
          on_iteration: Callable[[int], None] | None) -> None:
    """The training loop: step, check, log, checkpoint; then the final weights."""
    cfg, n = session.cfg, session.cfg.n_iterations
    call_start = time.perf_counter()
    t0 = call_start - session.members[0].elapsed  # wall_time counts over resumed calls
    name = ", ".join(f"{m.cfg.algo} seed {m.cfg.seed}" for m in session.members)
    bar = tqdm(total=n, initial=session.iteration, disable=not progress, desc=name, unit="it")
    while session.iteration < n:
        session.step()
        if on_iteration is not None:
            on_iteration(session.iteration)
        out_of_time = (max_seconds is not None
                       and time.perf_counter() - call_start >= max_seconds)
        halt = out_of_time or stop.requested
        due = session.iteration % cfg.ckpt_every == 0 or session.iteration == n
        session.check_finite(due or halt)
        session.log(t0, force=halt)
        bar.update(1)
        if due or halt:
            session.save_checkpoints()
        if halt:
            break
    bar.close()
    if stop.requested:
        raise TrainingInterrupted(
            f"stopped by {stop.signal_name} at iteration {session.iteration}; checkpoints "
            f"saved in {', '.join(str(m.run_dir) for m in session.members)}. The same "
            "command again resumes exactly there.")
    if session.iteration == n:
        session.save_finals()


def train(cfg: RunConfig, **kwargs: Any) -> Path:
    """Train (or resume, or reuse) one run; returns its directory. See `train_runs`."""
    return train_runs([cfg], **kwargs)[0]


def extend(run_dir: str | os.PathLike, n_iterations: int, **kwargs: Any) -> Path:
    """Continue a finished run to ``n_iterations``: the run directory of the longer config,
    started from the finished run's last checkpoint, then trained (``kwargs`` as `train`).

    Exact: nothing in training depends on the total (a constant Adam rate; logs,
    validations and checkpoints at fixed multiples), so the result is the run that would
    have been trained to ``n_iterations`` from the start (bit for bit on the same machine;
    a test). The source must end on a multiple of ``log_every`` and ``val_every`` (else its
    last, partial log window differs) and still hold ``checkpoint.pt`` (committed runs
    keep only ``final.pt``). The source is not changed; the new run's ``config.json`` names
    it under ``continued_from``.
    """
    src = Path(run_dir)
    cfg, _ = read_config(src)
    if n_iterations <= cfg.n_iterations:
        raise ValueError(f"{src} already has {cfg.n_iterations:,} iterations; extend it to "
                         "more")
    if cfg.n_iterations % cfg.log_every or cfg.n_iterations % cfg.val_every:
        raise ValueError(f"{src} ends at {cfg.n_iterations:,}, not a multiple of log_every="
                         f"{cfg.log_every} and val_every={cfg.val_every}: its last log window "
                         "is partial, so a continuation would not equal a longer run")
    ckpt = src / "checkpoint.pt"
    if not (src / "final.pt").exists() or not ckpt.exists():
        raise FileNotFoundError(f"{src} is not a finished run with its checkpoint.pt (needed "
                                "for the optimiser state): finish it, or retrain it")
    new = cfg.replace(n_iterations=n_iterations)
    dst = run_dir_for(new, src.parent)
    if not (dst / "checkpoint.pt").exists() and not (dst / "final.pt").exists():
        state = read_checkpoint(ckpt, torch.device("cpu"))
        if state["iteration"] != cfg.n_iterations:
            raise store.RunFileError(f"{ckpt} is at iteration {state['iteration']}, not at "
                                     f"the end ({cfg.n_iterations}); it was replaced")
        dst.mkdir(parents=True, exist_ok=True)
        store.write_metrics(store.read_metrics(src)[: state["metrics_lines"]], dst)
        store.atomic_save(state | {"config": new.to_dict(), "continued_from": src.name},
                          dst / "checkpoint.pt")
    return train(new, out_root=src.parent, **kwargs)


# ----------------------------------------------------------------------------- evaluation


def evaluate_run(
    run: Run | str | os.PathLike,
    *,
    split: str = "test",
    n_episodes: int = 600,
    k_query: int | None = None,
    data_root: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    batch_size: int = 25,
    image_split: ImageSplit | None = None,
) -> dict[str, Any]:
    """Accuracy with the head after adaptation on ``n_episodes`` fixed tasks (mean, 95 % CI).

    The standard MAML protocol; the result is also written to ``eval-<split>.json``.
    """
    device = resolve_device(device)
    if not isinstance(run, Run):
        run = load_run(run, device=device)
    cfg = run.config
    k_query = k_query or cfg.k_query
    if image_split is None:
        image_split = load_split(cfg.dataset, split, data_root, image_size=cfg.image_size or None)
    episodes = EpisodeSet(image_split, cfg.n_way, cfg.k_shot, k_query, n_episodes,
                          seed=TEST_SEED if split == "test" else VAL_SEED, device=device,
                          dtype=getattr(torch, cfg.dtype))
    params = {k: v.to(device) for k, v in run.params.items()}
    rates = {k: v.to(device) for k, v in run.rates.items()}
    t0 = time.perf_counter()
    ci = mean_ci(evaluate(params, rates, episodes, cfg.meta, batch_size=batch_size))
    result = {"split": split, "n_episodes": n_episodes, "k_query": k_query, "acc": ci.mean,
              "ci95": ci.half, "iteration": run.iteration, "finished": run.finished,
              "seconds": time.perf_counter() - t0, "device": device_description(device)}
    store.write_json(result, run.path / f"eval-{split}.json")
    if not math.isfinite(ci.mean):
        raise NonFiniteLossError(f"evaluation of {run.path} gave {ci.mean}")
    return result
