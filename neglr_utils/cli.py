"""Command line: ``python -m neglr_utils {data,train,evaluate,probe,sweep,study,provenance}``.

Each command has ``--help``. Errors a user can fix (missing data, a bad setting, a
damaged file, a run locked by another process) print one ``error:`` line and exit 1;
an interrupted training saves a checkpoint, says how to resume and exits 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import io
from .data import DataNotFoundError, UnknownLayoutError, load_split
from .endpoints import changes
from .lock import RunLockedError
from .meta import ALGOS
from .probe import ProbeConfig, default_conditions, ensure_probes
from .profiles import PROFILES, LongRunRefused, profile_config, results_root
from .provenance import check as check_provenance
from .runtime import configure_threads, resolve_device
from .study import run_study
from .sweep import EXECUTORS, ExecutorOptions, execute, load_sweep, write_collect
from .train import TrainingInterrupted, evaluate_run, load_run, train

USER_ERRORS = (DataNotFoundError, UnknownLayoutError, FileNotFoundError, ValueError,
               io.RunFileError, RunLockedError, LongRunRefused, OSError)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _threads(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None,
                   help="folder holding omniglot/ and mini-imagenet/ (default: $NEGLR_DATA, "
                        "else the cache folder ~/.cache/neglr/data)")
    p.add_argument("--device", default="auto",
                   help="'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'")
    p.add_argument("--threads", type=_threads, default="auto",
                   help="CPU threads for torch: a number, or 'auto' (the cores free right "
                        "now; $NEGLR_THREADS overrides)")


def _executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="debug: in this process; local: one subprocess per worker; "
                        "slurm: sbatch job array (needs a SLURM cluster)")
    p.add_argument("--workers", type=int, default=0,
                   help="parallel lanes (default: the free cores for local)")
    p.add_argument("--lane-threads", type=_positive_int, default=1,
                   help="CPU threads per lane (default 1)")
    p.add_argument("--timeout-min", type=_positive_int, default=24 * 60,
                   help="time limit of each job in minutes (submitit's local default is 2)")
    p.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per job")
    p.add_argument("--partition", default="", help="SLURM partition")
    p.add_argument("--array-parallelism", type=_positive_int, default=8,
                   help="SLURM array tasks running at once")
    p.add_argument("--max-minutes", type=_positive_float, default=None,
                   help="stop starting new work after this long (runs resume next time)")


def _train_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="meta-train one model (reuses a finished identical run)")
    t.add_argument("--profile", choices=sorted(PROFILES), default="cpu",
                   help="cpu: the study on Omniglot (about 20 min per model on one core); "
                        "cpu-mini: mini-ImageNet 32x32; paper: the report (GPU); smoke: CI")
    t.add_argument("--algo", choices=ALGOS, default="maml",
                   help="maml (fixed inner rate), meta-sgd (learned rates, any sign), "
                        "meta-sgd-positive (learned rates kept positive)")
    t.add_argument("--out", default=None,
                   help="results folder (run directories go to <out>/<dataset>/); default: "
                        "the profile's (results/cpu, results/paper, runs/smoke)")
    t.add_argument("--seed", type=int, default=0, help="seeds weights and training episodes")
    t.add_argument("--iterations", type=_positive_int, default=None,
                   help="override the profile's number of meta-iterations")
    t.add_argument("--restart", action="store_true",
                   help="start the run afresh even if a checkpoint exists")
    t.add_argument("--max-seconds", type=_positive_float, default=None,
                   help="stop cleanly with a checkpoint after this long (time slices)")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the meta-step: faster per iteration, but compiling "
                        "takes about a minute the first time, so only for long runs")
    t.add_argument("--allow-long-on-cpu", action="store_true",
                   help="permit a paper-scale run on a CPU (days)")
    _common(t)


def _probe_parser(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser("probe", help="head-free pre/on/off-task feature probe (Figure 7)")
    pr.add_argument("run_dirs", nargs="+", help="run directories written by train")
    pr.add_argument("--iterations", type=_positive_int, default=1000,
                    help="probe iterations, i.e. task pairs (the report: 40,000)")
    pr.add_argument("--split", choices=("train", "val", "test"), default="test",
                    help="split the probe tasks come from")
    pr.add_argument("--k-query", type=_positive_int, default=15, help="queries per class")
    pr.add_argument("--bn-mode", choices=("joint", "separate"), default="joint",
                    help="joint: support+query one BatchNorm batch; separate: two batches")
    pr.add_argument("--batch-size", type=_positive_int, default=50,
                    help="task pairs processed at once")
    pr.add_argument("--seed", type=int, default=0, help="selects the A and B task lists")
    pr.add_argument("--disjoint", action="store_true",
                    help="draw task B from classes task A does not use")
    pr.add_argument("--sign-sweep", action=argparse.BooleanOptionalAction, default=True,
                    help="also probe each run with its conv rates x -1, -0.5, 0, 0.5")
    _common(pr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neglr_utils",
        description="Train, evaluate and probe MAML / Meta-SGD on Conv-4 (neglr).")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("data", help="check the data of a profile and build its cache")
    d.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    d.add_argument("--data-root", default=None, help="as for train")
    _train_parser(sub)
    e = sub.add_parser("evaluate", help="meta-test accuracy with the head after adaptation")
    e.add_argument("run_dir", help="a run directory written by train")
    e.add_argument("--split", choices=("val", "test"), default="test")
    e.add_argument("--episodes", type=_positive_int, default=600,
                   help="number of fixed test tasks (default 600)")
    _common(e)
    _probe_parser(sub)
    sw = sub.add_parser("sweep", help="train a grid of runs from a sweep file (TOML)")
    sw.add_argument("file", help="sweep file, e.g. sweeps/inner-steps.toml")
    sw.add_argument("--collect", action="store_true",
                    help="only gather the finished runs into collect.json / collect.csv")
    sw.add_argument("--data-root", default=None, help="as for train")
    sw.add_argument("--device", default="auto", help="as for train")
    sw.add_argument("--allow-long-on-cpu", action="store_true",
                    help="permit paper-scale runs on a CPU (days)")
    _executor_args(sw)
    st = sub.add_parser("study", help="the CPU study: train, evaluate and probe every run")
    st.add_argument("--profile", choices=("cpu", "smoke"), default="cpu",
                    help="cpu: Omniglot and mini-ImageNet 32x32, 3 algorithms x 3 seeds")
    st.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="training seeds (default 0 1 2; smoke: 0)")
    st.add_argument("--data-root", default=None, help="as for train")
    st.add_argument("--device", default="auto", help="as for train")
    _executor_args(st)
    pv = sub.add_parser("provenance", help="retrain the first logged iterations of runs and "
                        "compare with their logs (exit status 1 when one does not reproduce)")
    pv.add_argument("run_dirs", nargs="+", help="run directories, e.g. committed ones")
    _common(pv)
    pv.set_defaults(device="cpu")  # the tolerance was measured on CPUs
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"data": _data, "train": _train, "evaluate": _evaluate, "probe": _probe,
                "sweep": _sweep, "study": _study, "provenance": _provenance}
    try:
        return commands[args.command](args)
    except TrainingInterrupted as err:
        print(f"interrupted: {err}", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _data(args: argparse.Namespace) -> int:
    cfg = PROFILES[args.profile]
    for split in ("train", "val", "test"):
        s = load_split(cfg.dataset, split, args.data_root, image_size=cfg.image_size or None)
        print(f"{cfg.dataset}/{split}: {s.n_classes} classes x {s.n_per_class} images "
              f"of {tuple(s.image_shape)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    configure_threads(args.threads)
    changes = {} if args.iterations is None else {"n_iterations": args.iterations}
    cfg = profile_config(args.profile, args.algo, args.seed, **changes)
    device = resolve_device(args.device)
    if args.profile == "paper" and device.type == "cpu" and not args.allow_long_on_cpu:
        raise LongRunRefused("the paper profile takes days on a CPU; use a GPU "
                             "(--device cuda) or pass --allow-long-on-cpu")
    out = results_root(args.profile, args.out) / cfg.dataset
    path = train(cfg, out_root=out, data_root=args.data_root, device=device,
                 resume=not args.restart, max_seconds=args.max_seconds,
                 torch_compile=args.compile)
    run = load_run(path)
    last = next((m for m in reversed(run.metrics) if "val_acc" in m), None)
    print(f"{path}: {'finished' if run.finished else f'paused at iteration {run.iteration}'}")
    if last is not None:
        print(f"validation accuracy {last['val_acc']:.4f} +- {last['val_ci95']:.4f} (95% CI) "
              f"at iteration {last['iteration']}")
    if run.finished and not (path / "eval-test.json").exists():
        res = evaluate_run(run, data_root=args.data_root, device=device)
        print(f"test accuracy {res['acc']:.4f} +- {res['ci95']:.4f} over "
              f"{res['n_episodes']} tasks")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    configure_threads(args.threads)
    res = evaluate_run(args.run_dir, split=args.split, n_episodes=args.episodes,
                       data_root=args.data_root, device=args.device)
    print(json.dumps(res, indent=2))
    return 0


def _probe(args: argparse.Namespace) -> int:
    configure_threads(args.threads)
    cfg = ProbeConfig(split=args.split, n_iterations=args.iterations, k_query=args.k_query,
                      bn_mode=args.bn_mode, batch_size=args.batch_size, seed=args.seed,
                      disjoint=args.disjoint)
    conds = default_conditions if args.sign_sweep else (lambda algo: (default_conditions(algo)[0],))
    for r in ensure_probes(args.run_dirs, cfg, conds, data_root=args.data_root,
                           device=args.device, progress=True):
        c = changes(r.acc)
        print(f"{r.run.algo} seed {r.run.seed} [{r.condition.name}]: n={r.acc.n} "
              f"pre_a {r.acc.pre_a.mean():.4f} on_a {r.acc.on_a.mean():.4f} off_b "
              f"{r.acc.off_b.mean():.4f} pre_b {r.acc.pre_b.mean():.4f}; off - pre_b "
              f"{c.off.diff.mean:+.4f} (p={c.off.p:.3g}); {r.seconds:.0f} s")
    return 0


def _options(args: argparse.Namespace) -> ExecutorOptions:
    return ExecutorOptions(kind=args.executor, workers=args.workers, threads=args.lane_threads,
                           timeout_min=args.timeout_min, gpus_per_node=args.gpus_per_node,
                           partition=args.partition, array_parallelism=args.array_parallelism)


def _sweep(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.file)
    if not args.collect:
        execute(sweep, _options(args), data_root=args.data_root, device=args.device,
                max_minutes=args.max_minutes, allow_long=args.allow_long_on_cpu)
    for path in write_collect(sweep):
        print(f"wrote {path}")
    return 0


def _study(args: argparse.Namespace) -> int:
    run_study(args.profile, _options(args), max_minutes=args.max_minutes, seeds=args.seeds,
              data_root=args.data_root, device=args.device)
    return 0


def _provenance(args: argparse.Namespace) -> int:
    configure_threads(args.threads)
    results = [check_provenance(d, data_root=args.data_root, device=args.device)
               for d in args.run_dirs]
    for p in results:
        print(p.describe())
    return 0 if all(p.reproduces for p in results) else 1
