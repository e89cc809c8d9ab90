"""Stacked training: seconds per *model*-iteration for M runs in one stack (``stack.Stack``)
against the same runs stepped one after another, and against learn2learn.

For each shape (the CPU study's Omniglot 28x28 and mini-ImageNet 32x32 with 32
filters, and the paper's 84x84 with 64) and each M in ``--models``: a stack of M runs
(algorithms cycling MAML, Meta-SGD, positive Meta-SGD; seeds 0..M-1) takes one stacked
meta-step on M x 3 synthetic tasks; "separate" steps M single-run stacks one after
another; learn2learn steps one MAML/MetaSGD learner (clone/adapt loop) per model. All
three are interleaved in every round so machine noise hits them alike. Reported: median
seconds per model-iteration, and the speed-up of stacking over separate runs and over
learn2learn (> 1: stacking is faster).

    .venv/bin/python benchmarks/bench_stack.py --out benchmarks/results/cpu2-stacked.json
    .venv/bin/python benchmarks/bench_stack.py --quick       # seconds, for the tests
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_meta import BenchConfig, L2LStep, machine_info, synthetic_episode  # noqa: E402

from neglr_utils.core.episodes import Episode  # noqa: E402
from neglr_utils.core.stack import Stack  # noqa: E402
from neglr_utils.runs.profiles import PROFILES  # noqa: E402

CYCLE = ("maml", "meta-sgd", "meta-sgd-positive")


def shapes(quick: bool) -> dict[str, tuple[str, int, int]]:
    """name -> (profile whose settings are used, image size, filters)."""
    if quick:
        return {"omniglot": ("cpu", 28, 4)}
    return {"omniglot": ("cpu", 28, 32), "mini-imagenet-32": ("cpu-mini", 32, 32),
            "paper": ("paper", 84, 64)}


def configs(profile: str, size: int, hidden: int, m: int, dtype: str) -> list:
    base = PROFILES[profile].run.replace(image_size=size, hidden=hidden, dtype=dtype)
    return [base.replace(algo=CYCLE[i % 3], seed=i) for i in range(m)]


def bench_config(cfg) -> BenchConfig:
    mc = cfg.model_config()
    return BenchConfig(cfg.dataset, mc.in_channels, mc.image_size, cfg.hidden, cfg.n_way,
                       cfg.k_shot, cfg.k_query, cfg.meta_batch_size, cfg.meta.n_inner_steps,
                       cfg.meta.inner_lr, cfg.meta_lr)


def cat(eps: list[Episode]) -> Episode:
    return Episode(*(torch.cat([getattr(e, k) for e in eps]) for k in
                     ("x_support", "y_support", "x_query", "y_query", "classes")))


def timed(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def bench_m(profile: str, size: int, hidden: int, m: int, *, repeats: int, iters: int,
            device: torch.device, with_l2l: bool) -> dict:
    cfgs = configs(profile, size, hidden, m, "float32")
    gen = torch.Generator().manual_seed(0)
    bc = bench_config(cfgs[0])
    eps = [synthetic_episode(bc, device, torch.float32, gen) for _ in cfgs]
    stacked = Stack(cfgs, device)
    singles = [Stack([c], device) for c in cfgs]
    variants = {"stacked": lambda: stacked.step(cat(eps)),
                "separate": lambda: [s.step(e) for s, e in zip(singles, eps, strict=True)]}
    if with_l2l:
        l2l = [L2LStep(bc, "maml" if c.algo == "maml" else "meta-sgd",
                       stacked.model_params(i), device, torch.float32)
               for i, c in enumerate(cfgs)]
        variants["learn2learn"] = lambda: [s(e) for s, e in zip(l2l, eps, strict=True)]
    for fn in variants.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in variants}
    order = list(variants)
    for r in range(repeats):
        for name in (order if r % 2 == 0 else order[::-1]):
            times[name].append(timed(variants[name], iters) / m)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"models": m, "seconds_per_model_iteration": times, "median": med,
            "speedup_over_separate": med["separate"] / med["stacked"],
            **({"speedup_over_learn2learn": med["learn2learn"] / med["stacked"]}
               if "learn2learn" in med else {})}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="1,2,3,6,9", help="stack sizes M")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-l2l", action="store_true")
    ap.add_argument("--shapes", default="omniglot,mini-imagenet-32,paper",
                    help="which shapes to run (comma-separated)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ms = [int(x) for x in args.models.split(",")] if not args.quick else [1, 2]
    result = {"machine": machine_info(device), "threads": args.threads, "device": str(device),
              "repeats": args.repeats if not args.quick else 1, "shapes": {}}
    chosen = set(args.shapes.split(","))
    for name, (profile, size, hidden) in shapes(args.quick).items():
        if name not in chosen and not args.quick:
            continue
        result["shapes"][name] = []
        for m in ms:
            if PROFILES[name].paper_scale and m > 3 and device.type != "cuda":
                continue  # minutes per round on 2 cores; M <= 3 gives the trend
            row = bench_m(profile, size, hidden, m, repeats=result["repeats"],
                          iters=args.iters if not args.quick else 1, device=device,
                          with_l2l=not args.no_l2l)
            result["shapes"][name].append(row)
            if args.out:  # after every row, so an interrupted run keeps what it measured
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(json.dumps(result, indent=1))
            print(f"{name} M={m}: stacked {row['median']['stacked']:.3f} s/model-it, "
                  f"x{row['speedup_over_separate']:.2f} vs separate"
                  + (f", x{row['speedup_over_learn2learn']:.2f} vs learn2learn"
                     if "speedup_over_learn2learn" in row else ""), flush=True)
    if hasattr(os, "getloadavg"):
        result["machine"]["loadavg_end"] = list(os.getloadavg())
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


