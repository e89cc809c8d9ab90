"""Where a meta-iteration's time goes on the CPU, and what the proposed speed-ups cost.

Three measurements per configuration (``paper``, ``omniglot``; see ``bench_meta.py``):

1. **Operator profile.** ``torch.profiler`` over one meta-iteration of ours and of
   learn2learn, self CPU time grouped into convolution, batch norm, max-pool, ReLU and
   the rest. Convolutions do the same arithmetic in both implementations, so the faster
   of the two convolution times is a floor: ``l2l total / that floor`` bounds the
   speed-up of any rewrite that keeps the float32 convolutions.
2. **Accuracy of reduced precision.** Meta-gradients (weights and, for Meta-SGD, rates)
   in float32, under ``torch.autocast(bfloat16)`` and, with ``--compile``, from the
   ``torch.compile`` form, against float64 on the same episode: relative error
   ``||g - g64|| / ||g64||`` per parameter (conv biases excluded: their exact gradient
   is zero, as they sit before a BatchNorm).
3. **Timings** of the variants (``bench_meta.bench_pair``, interleaved rounds, ratios
   learn2learn / variant): ``ours``, ``l2l``, ``ours_per_task``, ``ours_bf16`` and,
   with ``--compile``, ``ours_compile``.

    .venv/bin/python benchmarks/profile_meta.py                    # ~3 min on 2 cores
    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) \\
        .venv/bin/python benchmarks/profile_meta.py --compile      # cold compiles: ~15 min
    .venv/bin/python benchmarks/profile_meta.py --quick            # smoke test
    .venv/bin/python benchmarks/profile_meta.py --markdown benchmarks/results/cpu2-profile.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_meta import (  # noqa: E402
    IMPLS,
    ROOT,
    BenchConfig,
    bench_configs,
    bench_pair,
    default_settings,
    machine_info,
    synthetic_episode,
    versions,
)

from neglr_utils.core.episodes import Episode  # noqa: E402
from neglr_utils.core.meta import init_rates, meta_loss  # noqa: E402
from neglr_utils.core.models import init_params  # noqa: E402

CATEGORIES = {  # first match wins; names are aten op names
    "convolution": ("convolution",),
    "batch norm": ("batch_norm",),
    "max-pool": ("max_pool",),
    "relu": ("relu", "clamp_min", "threshold"),
}


def cpu_has_flag(flag: str) -> bool | None:
    """Whether /proc/cpuinfo lists ``flag`` (None where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return any(flag in line.split() for line in text.splitlines() if line.startswith("flags"))


def category(op_name: str) -> str:
    for cat, keys in CATEGORIES.items():
        if any(k in op_name for k in keys):
            return cat
    return "other"


def op_profile(cfg: BenchConfig, algo: str, impl: str) -> dict:
    """Self CPU seconds of one meta-iteration (after one warm-up), by operator category."""
    gen = torch.Generator().manual_seed(0)
    params = init_params(cfg.model_config(), generator=gen)
    ep = synthetic_episode(cfg, torch.device("cpu"), torch.float32, gen)
    step = IMPLS[impl](cfg, algo, params, "cpu", torch.float32)
    step(ep)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(ep)
    wall = time.perf_counter() - t0
    by_cat: dict[str, float] = {}
    top = []
    for ev in prof.key_averages():
        if not ev.key.startswith("aten::"):
            continue
        s = ev.self_cpu_time_total / 1e6
        by_cat[category(ev.key)] = by_cat.get(category(ev.key), 0.0) + s
        top.append((s, ev.key, ev.count))
    top.sort(reverse=True)
    return {"wall_s_profiled": wall, "self_s_by_category": by_cat,
            "self_s_total": sum(by_cat.values()),
            "top_ops": [{"op": k, "self_s": s, "calls": n} for s, k, n in top[:12]]}


def meta_grads(cfg: BenchConfig, algo: str, dtype: torch.dtype, mode: str,
               params64: dict, ep: Episode) -> dict[str, torch.Tensor]:
    """Meta-gradients of one meta-batch; ``mode`` is "eager", "bf16" or "compile"."""
    meta_cfg = cfg.meta_config(algo)
    p = {k: v.detach().to(dtype).clone().requires_grad_() for k, v in params64.items()}
    r = {k: v.detach().to(dtype).clone().requires_grad_()
         for k, v in init_rates(p, meta_cfg).items()}
    e = Episode(ep.x_support.to(dtype), ep.y_support, ep.x_query.to(dtype), ep.y_query,
                ep.classes)
    ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if mode == "bf16"
           else contextlib.nullcontext())
    with ctx:
        if mode == "compile":
            compiled = torch.compile(lambda *a: meta_loss(*a, functional=True).loss,
                                     dynamic=False)
            loss = compiled(p, r, e, meta_cfg)
        else:
            loss = meta_loss(p, r, e, meta_cfg).loss
    loss.backward()
    out = {k: v.grad.double() for k, v in p.items()}
    out.update({f"rate:{k}": v.grad.double() for k, v in r.items()})
    return out


def precision(cfg: BenchConfig, algo: str, modes: list[str]) -> dict:
    """Relative error of each mode's meta-gradient against float64, per parameter."""
    gen = torch.Generator().manual_seed(0)
    params64 = init_params(cfg.model_config(), generator=gen, dtype=torch.float64)
    ep = synthetic_episode(cfg, torch.device("cpu"), torch.float64, gen)
    ref = meta_grads(cfg, algo, torch.float64, "eager", params64, ep)
    out = {}
    for mode in modes:
        g = meta_grads(cfg, algo, torch.float32, mode, params64, ep)
        rel = {k: ((g[k] - ref[k]).norm() / ref[k].norm()).item()
               for k in ref if not (k.split(":")[-1].startswith("conv")
                                    and k.endswith(".bias"))}
        worst = max(rel, key=rel.get)
        out[mode] = {"max_rel_error": rel[worst], "worst": worst,
                     "median_rel_error": statistics.median(rel.values()),
                     "rel_error": rel}
    return out


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"**{m['cpu']} ({m['cores']} cores, {m['torch_threads']} threads)**, torch "
             f"{res['versions']['torch']}, learn2learn {res['versions'].get('learn2learn')}, "
             f"{res['settings']['algo']}, load average at start {m['loadavg_start'][0]:.2f}, "
             f"AVX-512 BF16: {m.get('avx512_bf16', '?')}, inductor cache: "
             f"{m.get('inductor_cache', '?')}"]
    for name, c in res["configs"].items():
        lines += ["", f"*{name}: self CPU seconds of one meta-iteration by operator*", "",
                  "| impl | " + " | ".join(list(CATEGORIES) + ["other"]) + " | total |",
                  "|---" * (len(CATEGORIES) + 3) + "|"]
        for impl, p in c["profile"].items():
            cats = [p["self_s_by_category"].get(k, 0.0) for k in [*CATEGORIES, "other"]]
            lines.append(f"| {impl} | " + " | ".join(f"{v:.3f}" for v in cats)
                         + f" | {p['self_s_total']:.3f} |")
        lines.append(f"\nConvolution floor: learn2learn total / the faster convolution time = "
                     f"**{c['bound_if_only_convolutions']:.2f}x** (the speed-up if everything "
                     "but the float32 convolutions cost nothing).")
        lines += ["", "| meta-gradient | max relative error vs float64 | where | median |",
                  "|---|---|---|---|"]
        for mode, e in c["precision"].items():
            lines.append(f"| {mode} | {e['max_rel_error']:.2e} | {e['worst']} | "
                         f"{e['median_rel_error']:.2e} |")
        t = c["timing"]
        lines += ["", f"| impl | s/iteration | l2l / impl | first {t.get('warmup', '?')} "
                  "iteration(s), s |", "|---|---|---|---|"]
        for impl, s in t["median_s"].items():
            ratio = "1 (ref)" if impl == "l2l" else f"{t.get('median_ratio', {}).get(impl, 0):.2f}x"
            first = t.get("warmup_s", {}).get(impl)
            lines.append(f"| {impl} | {s:.4g} | {ratio} | "
                         f"{'-' if first is None else f'{first:.1f}'} |")
        for impl, err in t.get("errors", {}).items():
            lines.append(f"| {impl} | failed: {err.splitlines()[0][:80]} | |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="paper,omniglot")
    ap.add_argument("--algo", default="maml", choices=("maml", "meta-sgd"))
    ap.add_argument("--compile", action="store_true",
                    help="also time and check the torch.compile form (minutes to compile)")
    ap.add_argument("--repeats", type=int, help="timed rounds (default as bench_meta)")
    ap.add_argument("--quick", action="store_true", help="tiny shapes: a smoke test")
    ap.add_argument("--out", help="JSON (default benchmarks/results/cpu<cores>-profile.json)")
    ap.add_argument("--markdown", metavar="JSON", help="print the tables of a result file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    vers = versions(os.environ.get("L2L_SDIST"))
    if vers["learn2learn"] is None:
        raise SystemExit(f"learn2learn is needed ({vers['learn2learn_error']}); "
                         "run scripts/install_learn2learn.sh")
    configs = bench_configs(args.quick)
    names = [c for c in args.configs.split(",") if c]
    if set(names) - set(configs):
        raise SystemExit(f"unknown config(s) {sorted(set(names) - set(configs))}; "
                         f"choose from {sorted(configs)}")
    impls = ["ours", "l2l", "ours_per_task", "ours_bf16"] + (["ours_compile"] if args.compile
                                                             else [])
    modes = ["eager", "bf16"] + (["compile"] if args.compile else [])
    device = torch.device("cpu")
    machine = machine_info(device)
    machine["avx512_bf16"] = cpu_has_flag("avx512_bf16")
    machine["inductor_cache"] = ("fresh" if os.environ.get("TORCHINDUCTOR_CACHE_DIR")
                                 else "default (may be warm)")
    res = {"machine": machine, "versions": vers,
           "settings": {"algo": args.algo, "impls": impls, "precision_modes": modes,
                        "quick": args.quick, "dtype": "float32"}, "configs": {}}
    t_start = time.perf_counter()
    for name in names:
        cfg = configs[name]
        prof = {impl: op_profile(cfg, args.algo, impl) for impl in ("ours", "l2l")}
        conv = min(p["self_s_by_category"].get("convolution", float("nan"))
                   for p in prof.values())
        prec = precision(cfg, args.algo, modes)
        s = default_settings(device, args.quick)[name]
        if args.repeats:
            s["repeats"] = args.repeats
        timing = bench_pair(cfg, args.algo, impls, device=device, dtype=torch.float32,
                            warmup=s["warmup"], repeats=s["repeats"], iters=s["iters"],
                            deadline=None)
        res["configs"][name] = {"profile": prof, "precision": prec, "timing": timing,
                                "bound_if_only_convolutions":
                                    prof["l2l"]["self_s_total"] / conv,
                                "timing_settings": s}
        print(f"{name}: done [{time.perf_counter() - t_start:.0f} s]", flush=True)
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    res["wall_s"] = time.perf_counter() - t_start
    out = Path(args.out) if args.out else (
        ROOT / "benchmarks" / "results" / f"cpu{os.cpu_count()}-profile"
        f"{'-quick' if args.quick else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(markdown(res))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
