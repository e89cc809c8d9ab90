"""Command line: ``python -m neglr_utils {data,train,evaluate,probe,sweep,study,provenance}``.

Each command has ``--help``. Errors a user can fix (missing data, a bad setting, a
damaged file, a run locked by another process) print one ``error:`` line and exit 1;
an interrupted training saves a checkpoint, says how to resume and exits 130.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from io import StringIO
from pathlib import Path

from .analysis.endpoints import changes
from .analysis.sweeps import collect, collect_table
from .core.data import DataNotFoundError, UnknownLayoutError, load_split
from .core.meta import ALGOS
from .core.probe import ProbeConfig, default_conditions
from .runs import store
from .runs.lock import RunLockedError
from .runs.probes import ensure_probes
from .runs.profiles import PROFILES, STUDIES, LongRunRefused, get_profile, get_study
from .runs.provenance import check as check_provenance
from .runs.runtime import configure_threads, resolve_device
from .runs.study import run_study
from .runs.sweep import EXECUTORS, ExecutorOptions, Sweep, execute, load_sweep
from .runs.training import TrainingInterrupted, evaluate_run, extend, load_run, train

USER_ERRORS = (DataNotFoundError, UnknownLayoutError, FileNotFoundError, ValueError,
               store.RunFileError, RunLockedError, LongRunRefused, OSError)


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
                   help="cpu: Omniglot 28x28 (about 25 min per model on one core); cpu-mini: "
                        "mini-ImageNet 32x32 (about 80 min); paper: the report (GPU); smoke: CI")
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
                   help="torch.compile the meta-step: about 1.25x faster per iteration on a "
                        "CPU, but the first compile takes minutes (cached for later "
                        "processes), so only for long runs; float rounding differs from eager")
    t.add_argument("--query-bn", choices=("transductive", "support"), default=None,
                   help="BatchNorm of the query after adaptation (default: the profile's, "
                        "transductive; support: the ablation of chapter 05)")
    t.add_argument("--allow-long-on-cpu", action="store_true",
                   help="permit a paper-scale run on a CPU (days)")
    _common(t)
    x = sub.add_parser("extend", help="continue a finished run to more iterations, exactly as "
                       "if it had been trained that long (a new run directory)")
    x.add_argument("run_dir", help="a finished run that still has its checkpoint.pt")
    x.add_argument("--iterations", type=_positive_int, required=True,
                   help="the new total number of meta-iterations")
    x.add_argument("--max-seconds", type=_positive_float, default=None,
                   help="stop cleanly with a checkpoint after this long (run again to go on)")
    x.add_argument("--compile", action="store_true",
                   help="torch.compile the meta-step (as for train); the continuation is then "
                        "exact up to float rounding, not bit for bit")
    _common(x)


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
    d.add_argument("--profile", choices=sorted(set(PROFILES) | set(STUDIES)), default="cpu",
                   help="a book profile (its datasets) or a dataset profile")
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
    st.add_argument("--profile", choices=sorted(STUDIES), default="cpu",
                    help="cpu: mini-ImageNet 32x32 (seeds 0-4) and Omniglot (seeds 0-2), "
                         "3 algorithms each")
    st.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="training seeds (default: each profile's)")
    st.add_argument("--data-root", default=None, help="as for train")
    st.add_argument("--device", default="auto", help="as for train")
    _executor_args(st)
    pv = sub.add_parser("provenance", help="retrain the first logged iterations of runs and "
                        "compare with their logs (exit status 1 when one does not reproduce)")
    pv.add_argument("run_dirs", nargs="+", help="run directories, e.g. committed ones")
    _common(pv)
    pv.set_defaults(device="cpu", threads=1)  # the tolerance: one CPU thread
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"data": _data, "train": _train, "extend": _extend, "evaluate": _evaluate,
                "probe": _probe, "sweep": _sweep, "study": _study, "provenance": _provenance}
    try:
        return commands[args.command](args)
    except TrainingInterrupted as err:
        print(f"interrupted: {err}", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _data(args: argparse.Namespace) -> int:
    profiles = (get_study(args.profile).profiles if args.profile in STUDIES
                else (get_profile(args.profile),))
    for p in profiles:
        cfg = p.run
        for split in ("train", "val", "test"):
            s = load_split(cfg.dataset, split, args.data_root, image_size=cfg.image_size or None)
            print(f"{cfg.dataset}/{split}: {s.n_classes} classes x {s.n_per_class} images "
                  f"of {tuple(s.image_shape)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    configure_threads(args.threads)
    changes = {} if args.iterations is None else {"n_iterations": args.iterations}
    if args.query_bn is not None:
        changes["query_bn"] = args.query_bn
    profile = get_profile(args.profile)
    cfg = profile.config(args.algo, args.seed, **changes)
    device = resolve_device(args.device)
    if not args.allow_long_on_cpu:
        profile.refuse_on_cpu(device, f"{args.algo} seed {args.seed}")
    out = profile.root(args.out) / cfg.dataset
    path = train(cfg, out_root=out, data_root=args.data_root, device=device,
                 resume=not args.restart, max_seconds=args.max_seconds,
                 torch_compile=args.compile)
    return _report_run(path, args.data_root, device)


def _report_run(path: Path, data_root: str | None, device) -> int:
    """Print where a run stands; evaluate it on the test tasks once it is finished."""
    run = load_run(path)
    last = next((m for m in reversed(run.metrics) if "val_acc" in m), None)
    print(f"{path}: {'finished' if run.finished else f'paused at iteration {run.iteration}'}")
    if last is not None:
        print(f"validation accuracy {last['val_acc']:.4f} +- {last['val_ci95']:.4f} (95% CI) "
              f"at iteration {last['iteration']}")
    if run.finished and not (path / "eval-test.json").exists():
        res = evaluate_run(run, data_root=data_root, device=device)
        print(f"test accuracy {res['acc']:.4f} +- {res['ci95']:.4f} over "
              f"{res['n_episodes']} tasks")
    return 0


def _extend(args: argparse.Namespace) -> int:
    configure_threads(args.threads)
    device = resolve_device(args.device)
    path = extend(args.run_dir, args.iterations, data_root=args.data_root, device=device,
                  max_seconds=args.max_seconds, torch_compile=args.compile)
    return _report_run(path, args.data_root, device)


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


def write_collect(sweep: Sweep) -> tuple[Path, Path]:
    """``collect.json`` and ``collect.csv`` in the sweep's folder."""
    table = collect_table(collect(sweep))
    js = store.write_json(table, sweep.folder / "collect.json")
    cols = list(dict.fromkeys(k for row in table for k in row))
    buf = StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols)
    writer.writeheader()
    writer.writerows(table)
    path = sweep.folder / "collect.csv"
    store.atomic_write_text(buf.getvalue(), path)
    return js, path
