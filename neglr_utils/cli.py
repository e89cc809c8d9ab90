"""Command line: ``python -m neglr_utils {data,train,evaluate,probe} ...`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .profiles import ALGOS, PROFILES, profile_config


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None,
                   help="folder holding omniglot/ and mini-imagenet/ (default: $NEGLR_DATA, "
                        "else the cache folder ~/.cache/neglr/data)")
    p.add_argument("--device", default="auto",
                   help="'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neglr_utils",
        description="Train and evaluate MAML / Meta-SGD on Conv-4 (neglr).")
    sub = parser.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="check the data of a profile and build its cache")
    d.add_argument("--profile", choices=sorted(PROFILES), default="cpu",
                   help="which profile's dataset to prepare")
    d.add_argument("--data-root", default=None, help="as for train")

    t = sub.add_parser("train", help="meta-train one model (reuses a finished identical run)")
    t.add_argument("--profile", choices=sorted(PROFILES), default="cpu",
                   help="paper: the report's protocol (GPU); cpu: ~2 min per model on "
                        "2 cores; smoke: seconds (CI)")
    t.add_argument("--algo", choices=ALGOS, default="maml",
                   help="maml (fixed inner rate), meta-sgd (learned rates, any sign), "
                        "meta-sgd-positive (learned rates kept positive)")
    t.add_argument("--out", default="runs", help="folder that receives the run directory")
    t.add_argument("--seed", type=int, default=0, help="seeds weights and training episodes")
    t.add_argument("--iterations", type=_positive_int, default=None,
                   help="override the profile's number of meta-iterations")
    t.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue from the run's latest checkpoint (default) or start afresh")
    t.add_argument("--max-seconds", type=float, default=None,
                   help="stop cleanly with a checkpoint after this long (GPU time slices)")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the meta-step: faster per iteration, but compiling "
                        "takes about a minute the first time, so only for long runs")
    _common(t)

    e = sub.add_parser("evaluate", help="meta-test accuracy with the head after adaptation")
    e.add_argument("run_dir", help="a run directory written by train")
    e.add_argument("--split", choices=("val", "test"), default="test")
    e.add_argument("--episodes", type=_positive_int, default=600,
                   help="number of fixed test tasks (default 600)")
    _common(e)

    pr = sub.add_parser("probe", help="head-free pre/on/off-task feature probe (Figure 7)")
    pr.add_argument("run_dirs", nargs="+", help="run directories written by train")
    pr.add_argument("--iterations", type=_positive_int, default=1000,
                    help="probe iterations, i.e. task pairs (the report: 40,000)")
    pr.add_argument("--split", choices=("train", "val", "test"), default="test",
                    help="split the probe tasks come from")
    pr.add_argument("--k-query", type=_positive_int, default=15, help="queries per class")
    pr.add_argument("--bn-mode", choices=("joint", "separate"), default="joint",
                    help="joint: support+query one BatchNorm batch; separate: two batches")
    pr.add_argument("--batch-size", type=_positive_int, default=100,
                    help="task pairs processed at once")
    pr.add_argument("--seed", type=int, default=0, help="selects the A and B task lists")
    pr.add_argument("--ablations", action=argparse.BooleanOptionalAction, default=True,
                    help="also probe Meta-SGD runs with conv rates sign-flipped and zeroed")
    pr.add_argument("--reuse", action=argparse.BooleanOptionalAction, default=True,
                    help="reuse conditions already in a run's probe.json with the same settings")
    pr.add_argument("--out", default=None,
                    help="combined summary JSON (statistics of every run and condition)")
    _common(pr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .data import DataNotFoundError, UnknownLayoutError

    try:
        if args.command == "data":
            return _data(args)
        if args.command == "train":
            return _train(args)
        if args.command == "probe":
            return _probe(args)
        return _evaluate(args)
    except (DataNotFoundError, UnknownLayoutError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _data(args: argparse.Namespace) -> int:
    from .data import load_split
    cfg = PROFILES[args.profile]
    for split in ("train", "val", "test"):
        s = load_split(cfg.dataset, split, args.data_root, image_size=cfg.image_size or None)
        print(f"{cfg.dataset}/{split}: {s.n_classes} classes x {s.n_per_class} images "
              f"of {tuple(s.image_shape)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .train import evaluate_run, load_run, train
    changes = {} if args.iterations is None else {"n_iterations": args.iterations}
    cfg = profile_config(args.profile, args.algo, args.seed, **changes)
    path = train(cfg, out_root=args.out, data_root=args.data_root, device=args.device,
                 resume=args.resume, max_seconds=args.max_seconds,
                 torch_compile=args.compile)
    run = load_run(path)
    last = next((m for m in reversed(run.metrics) if "val_acc" in m), None)
    status = "finished" if run.finished else f"paused at iteration {run.iteration}"
    print(f"{path}: {status}")
    if last is not None:
        print(f"validation accuracy {last['val_acc']:.4f} +- {last['val_ci95']:.4f} (95% CI) "
              f"at iteration {last['iteration']}")
    if run.finished and not (path / "eval-test.json").exists():
        res = evaluate_run(run, data_root=args.data_root, device=args.device)
        print(f"test accuracy {res['acc']:.4f} +- {res['ci95']:.4f} over "
              f"{res['n_episodes']} tasks")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .train import evaluate_run
    res = evaluate_run(args.run_dir, split=args.split, n_episodes=args.episodes,
                       data_root=args.data_root, device=args.device)
    print(json.dumps(res, indent=2))
    return 0


def _probe(args: argparse.Namespace) -> int:
    from .probe import DEFAULT_ABLATIONS, ProbeConfig, probe_runs
    cfg = ProbeConfig(split=args.split, n_iterations=args.iterations, k_query=args.k_query,
                      bn_mode=args.bn_mode, batch_size=args.batch_size, seed=args.seed)
    summary = probe_runs(args.run_dirs, cfg, out=args.out,
                         ablations=DEFAULT_ABLATIONS if args.ablations else {},
                         data_root=args.data_root, device=args.device, reuse=args.reuse,
                         progress=True)
    for label, res in summary["runs"].items():
        st = res["stats"]
        c = st["conditions"]
        nums = "  ".join(f"{k} {c[k]['mean']:.4f}+-{c[k]['ci95']:.4f}"
                         for k in ("pre_a", "on_a", "off_b", "pre_b"))
        print(f"{label}: n={st['n']}  {nums}  p(on vs off change)="
              f"{st['report_paired']['p']:.3g}  p(off_b vs pre_b)={st['off_vs_pre_b']['p']:.3g}"
              f"  {res['seconds_per_1000']:.1f} s/1000 it")
    if args.out:
        print(f"summary written to {args.out}")
    return 0
