"""Command line: ``python -m neglr_utils {data,train,evaluate} ...`` (``--help`` on each)."""

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
                   help="paper: the report's protocol (GPU); cpu: ~4 min per model on "
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
    _common(t)

    e = sub.add_parser("evaluate", help="meta-test accuracy with the head after adaptation")
    e.add_argument("run_dir", help="a run directory written by train")
    e.add_argument("--split", choices=("val", "test"), default="test")
    e.add_argument("--episodes", type=_positive_int, default=600,
                   help="number of fixed test tasks (default 600)")
    _common(e)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .data import DataNotFoundError, UnknownLayoutError

    try:
        if args.command == "data":
            return _data(args)
        if args.command == "train":
            return _train(args)
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
                 resume=args.resume, max_seconds=args.max_seconds)
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
