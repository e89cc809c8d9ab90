"""How close the study's meta-iteration comes to this machine's limit, on one CPU thread.

For the two study shapes (``cpu``: Omniglot 28x28, ``cpu-mini``: mini-ImageNet 32x32;
Meta-SGD, 32 filters, 3 tasks of 5-way 1-shot with 10 queries per class, 5 second-order
inner steps), all measured in one run:

- **the limit**: this core's float32 matrix-multiply rate (1024 x 1024, GFLOP/s);
- **FLOPs** of one meta-iteration (``torch.utils.flop_counter.FlopCounterMode``);
- **timings**, medians of interleaved rounds (the order alternates): ``ours`` (the
  study's step), ``ours_before`` (the step before ReLU moved after the pooling: the
  eager baseline of issue 26) and learn2learn's ``MetaSGD`` (``l2l``); for each the
  milliseconds per meta-iteration, GFLOP/s, the fraction of the measured peak, and the
  ratios to learn2learn and to the baseline (> 1: faster);
- **where the time goes** in ``ours``: ``torch.profiler`` self time per op kind
  (convolution forward, its backward, BatchNorm forward / backward / double backward,
  ReLU, pooling, cross-entropy, elementwise arithmetic, allocation and copies, the
  rest), and what is left of the wall time as dispatch/autograd overhead.

    .venv/bin/python benchmarks/bench_limit.py                  # ~2 min on a quiet core
    .venv/bin/python benchmarks/bench_limit.py --quick          # seconds
    .venv/bin/python benchmarks/bench_limit.py --out benchmarks/results/cpu2-limit.json
    .venv/bin/python benchmarks/bench_limit.py --markdown benchmarks/results/cpu2-limit.json

Run it on a quiet machine: stop other work first (e.g. pause training with SIGSTOP).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_meta import (  # noqa: E402
    ROOT,
    BenchConfig,
    L2LStep,
    OursStep,
    machine_info,
    synthetic_episode,
    versions,
)

from neglr_utils.core import models  # noqa: E402
from neglr_utils.core.models import init_params  # noqa: E402
from neglr_utils.runs.profiles import CPU, CPU_MINI  # noqa: E402

# Op kinds of the profile, first match wins (aten op names).
KINDS = (
    ("convolution backward", ("convolution_backward",)),
    ("convolution forward", ("convolution", "conv2d")),
    ("BatchNorm double backward", ("BatchNormBackwardBackward",)),
    ("BatchNorm backward", ("batch_norm_backward",)),
    ("BatchNorm forward", ("batch_norm",)),
    ("ReLU", ("relu", "clamp_min", "threshold")),
    ("max-pool", ("max_pool",)),
    ("cross-entropy", ("log_softmax", "nll_loss", "cross_entropy")),
    ("elementwise", ("mul", "add", "sub", "div", "sum", "neg", "where", "mean", "rsqrt",
                     "pow", "exp", "sqrt", "addcmul", "addcdiv", "lerp")),
    ("allocation and copies", ("empty", "fill", "zero", "copy", "clone", "to", "cat",
                               "stack", "expand", "reshape", "view", "permute")),
)


def study_configs(quick: bool) -> dict[str, BenchConfig]:
    """The Meta-SGD shapes of the ``cpu`` and ``cpu-mini`` profiles."""
    out = {}
    for p in (CPU, CPU_MINI):
        c, m = p.run, p.run.model_config()
        out[p.name] = BenchConfig(p.name, m.in_channels, m.image_size, c.hidden, c.n_way,
                                  c.k_shot, 2 if quick else c.k_query, c.meta_batch_size,
                                  2 if quick else c.meta.n_inner_steps, c.meta.inner_lr,
                                  c.meta_lr)
    return out


def features_before(params, x, n_blocks=None, n_stats=None):
    """`models.features` as it was before ReLU moved after the pooling (the baseline)."""
    n_blocks = models.n_conv_blocks(params) if n_blocks is None else n_blocks
    n_tasks, batch = x.shape[:2]
    h = x.permute(1, 0, 2, 3, 4).reshape(batch, n_tasks * x.shape[2], *x.shape[3:])
    for i in range(1, n_blocks + 1):
        w = models._per_task(params[f"conv{i}.weight"], 4, n_tasks)
        b = models._per_task(params[f"conv{i}.bias"], 1, n_tasks)
        h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), b.reshape(-1), padding=1, groups=n_tasks)
        gamma = models._per_task(params[f"bn{i}.weight"], 1, n_tasks).reshape(-1)
        beta = models._per_task(params[f"bn{i}.bias"], 1, n_tasks).reshape(-1)
        h = F.max_pool2d(F.relu(models.batch_norm(h, gamma, beta, n_stats)), 2)
    return h.reshape(batch, n_tasks, -1).transpose(0, 1)


class OursBeforeStep(OursStep):
    """`OursStep` with the baseline `features_before` (patched in for its own calls)."""

    def __call__(self, episode) -> None:
        current, models.features = models.features, features_before
        try:
            super().__call__(episode)
        finally:
            models.features = current


IMPLS = {"ours": OursStep, "ours_before": OursBeforeStep, "l2l": L2LStep}


def matmul_peak(n: int = 1024, repeats: int = 20) -> float:
    """This thread's float32 matrix-multiply rate in GFLOP/s (best of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def flops(step, episode) -> int:
    """Floating-point operations of one call of ``step`` (forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step(episode)
    return int(counter.get_total_flops())


def kind_of(name: str) -> str:
    low = name.lower()
    return next((kind for kind, keys in KINDS if any(k.lower() in low for k in keys)),
                "other")


def op_profile(step, episode, n: int) -> dict:
    """Self CPU seconds per op kind over ``n`` steps, per step, and the wall time."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(n):
            step(episode)
        wall = (time.perf_counter() - t0) / n
    kinds: dict[str, float] = {}
    for ev in prof.key_averages():
        kinds[kind_of(ev.key)] = kinds.get(kind_of(ev.key), 0.0) + ev.self_cpu_time_total / 1e6
    per_step = {k: v / n for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}
    return {"wall_s_profiled": wall, "self_s": per_step,
            "dispatch_and_autograd_s": max(0.0, wall - sum(per_step.values()))}


def measure(cfg: BenchConfig, repeats: int, iters: int, warmup: int, peak: float) -> dict:
    gen = torch.Generator().manual_seed(0)
    params = init_params(cfg.model_config(), generator=gen)
    episode = synthetic_episode(cfg, torch.device("cpu"), torch.float32, gen)
    steps = {name: cls(cfg, "meta-sgd", params, "cpu", torch.float32)
             for name, cls in IMPLS.items()}
    for step in steps.values():
        for _ in range(warmup):
            step(episode)
    n_flops = flops(steps["ours"], episode)
    times: dict[str, list[float]] = {k: [] for k in steps}
    order = list(steps)
    for r in range(repeats):
        for name in order if r % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            for _ in range(iters):
                steps[name](episode)
            times[name].append((time.perf_counter() - t0) / iters)
    med = {k: statistics.median(v) for k, v in times.items()}

    def ratio(over: str) -> dict[str, float]:
        return {k: statistics.median(a / b for a, b in zip(times[over], v, strict=True))
                for k, v in times.items()}

    return {"config": cfg.name, "gflop_per_iteration": n_flops / 1e9, "seconds": times,
            "ms_per_iteration": {k: 1e3 * v for k, v in med.items()},
            "gflops": {k: n_flops / v / 1e9 for k, v in med.items()},
            "fraction_of_peak": {k: n_flops / v / 1e9 / peak for k, v in med.items()},
            "ratio_to_l2l": ratio("l2l"), "ratio_to_before": ratio("ours_before"),
            "profile_ours": op_profile(steps["ours"], episode, max(2, iters))}


def markdown(result: dict) -> str:
    """The summary table (and the profile of ours) as Markdown."""
    peak = result["matmul_peak_gflops"]
    lines = [f"Single-core float32 matmul peak, measured in this run: {peak:.1f} GFLOP/s.", "",
             "| shape | impl | ms / iteration | GFLOP / iteration | GFLOP/s | of peak | "
             "vs learn2learn | vs before |", "|---|---|---|---|---|---|---|---|"]
    for r in result["configs"]:
        for k in r["ms_per_iteration"]:
            lines.append(f"| {r['config']} | {k} | {r['ms_per_iteration'][k]:.0f} | "
                         f"{r['gflop_per_iteration']:.2f} | {r['gflops'][k]:.1f} | "
                         f"{100 * r['fraction_of_peak'][k]:.0f} % | "
                         f"{r['ratio_to_l2l'][k]:.2f}x | {r['ratio_to_before'][k]:.2f}x |")
    for r in result["configs"]:
        prof = r["profile_ours"]
        lines += ["", f"Where the time of `ours` goes, {r['config']} (ms per meta-iteration, "
                  f"profiled wall {1e3 * prof['wall_s_profiled']:.0f} ms):", "",
                  "| op kind | ms | share |", "|---|---|---|"]
        total = prof["wall_s_profiled"]
        for kind, s in [*prof["self_s"].items(),
                        ("dispatch and autograd (wall − self)", prof["dispatch_and_autograd_s"])]:
            lines.append(f"| {kind} | {1e3 * s:.1f} | {100 * s / total:.0f} % |")
        best = conv_ceiling(r, peak)
        lines += ["", f"Ceiling in eager mode, {r['config']}: with every FLOP in convolutions run "
                  f"at the measured peak and every other op as profiled, a meta-iteration would "
                  f"take {1e3 * best:.0f} ms, {100 * r['gflop_per_iteration'] / best / peak:.0f} % "
                  "of the peak."]
    return "\n".join(lines)


def conv_ceiling(config_result: dict, peak: float) -> float:
    """Seconds per meta-iteration if the convolutions (forward and backward, all the
    FLOPs counted) ran at ``peak`` GFLOP/s and everything else took its profiled time."""
    prof = config_result["profile_ours"]
    conv = sum(s for kind, s in prof["self_s"].items() if kind.startswith("convolution"))
    return config_result["gflop_per_iteration"] / peak + prof["wall_s_profiled"] - conv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny settings: seconds")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 7)")
    ap.add_argument("--out", default=None, help="JSON path (default: print only)")
    ap.add_argument("--markdown", default=None, metavar="JSON",
                    help="print the tables of a result file written by --out, measure nothing")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    torch.set_num_threads(1)
    repeats = args.repeats or (2 if args.quick else 7)
    iters, warmup = (1, 1) if args.quick else (3, 2)
    peak = matmul_peak(256 if args.quick else 1024)
    configs = [measure(cfg, repeats, iters, warmup, peak)
               for cfg in study_configs(args.quick).values()]
    result = {"machine": machine_info(torch.device("cpu")), "versions": versions(),
              "threads": 1, "matmul_peak_gflops": peak, "repeats": repeats,
              "iters_per_repeat": iters, "configs": configs}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {Path(args.out).resolve().relative_to(ROOT)}")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
