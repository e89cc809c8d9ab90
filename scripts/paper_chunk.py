"""Continue the paper protocol from ``results/paper/`` for a fixed time budget (GPU chunks).

The protocol, in order: MAML seed 0 (60,000 meta-iterations) -> Meta-SGD seed 0 ->
the probe on both and the learned-rate analysis -> positive-rate Meta-SGD seed 0 ->
seeds 1 and 2 of each algorithm. Each call finds the first unfinished step, resumes it
from the committed checkpoint, stops cleanly with a checkpoint before the budget is
spent, and packs every run directory it touched into ``<out>/paper_results.tar`` (one
file, because only a few files come back from the GPU machine; rewritten after each
finished step or probe condition, so a chunk killed later keeps them), with the probe's
summary over both runs as ``probe-seed<N>.json`` at its top level. Unpack it over
``results/paper/`` to commit the progress.

    python scripts/paper_chunk.py --results results/paper --out $OUT --budget 400 \\
        --data-root .devdata
"""

from __future__ import annotations

import argparse
import json
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from neglr_utils.data import load_split
from neglr_utils.probe import (
    DEFAULT_ABLATIONS,
    ProbeConfig,
    condition_labels,
    current_conditions,
    probe_runs,
)
from neglr_utils.profiles import PROBES, profile_config
from neglr_utils.train import evaluate_run, load_run, resolve_device, run_dir_for, train

KEEP = ("config.json", "metrics.jsonl", "checkpoint.pt", "final.pt", "eval-test.json",
        "probe.json")
PROBED_ALGOS = ("maml", "meta-sgd")
# Seconds per probe iteration assumed before one has been timed: paper shapes, with room
# (the H200 measured 4.7 s per 1,000 at batch 100 in benchmarks/results/h200.json; the
# paper probe uses batch 50, and an H100 is slower; the 2-core CPU took 2.3 s each).
PROBE_S_PER_ITERATION = {"cuda": 0.008, "cpu": 2.5}


def protocol() -> list[tuple[str, str, int]]:
    """The steps in order: ("train", algo, seed) or ("probe", "", seed)."""
    steps = [("train", "maml", 0), ("train", "meta-sgd", 0), ("probe", "", 0),
             ("train", "meta-sgd-positive", 0)]
    for seed in (1, 2):
        steps += [("train", "maml", seed), ("train", "meta-sgd", seed)]
    return steps


def missing_conditions(run_dir: Path, algo: str, probe_cfg: ProbeConfig) -> list[str]:
    """The conditions still missing (or stale) in the run's probe.json."""
    done = set(current_conditions(run_dir, probe_cfg)) if run_dir.exists() else set()
    return [label for label in condition_labels(algo) if label not in done]


def step_done(step: tuple[str, str, int], results: Path, profile: str) -> bool:
    kind, algo, seed = step
    if kind == "train":
        return (run_dir_for(profile_config(profile, algo, seed), results) / "final.pt").exists()
    return not any(missing_conditions(run_dir_for(profile_config(profile, a, seed), results),
                                      a, PROBES[profile]) for a in PROBED_ALGOS)


def probe_step(seed: int, profile: str, results: Path, work: Path, *, deadline: float,
               data_root: str | None, device: torch.device,
               on_progress: Callable[[list[Path]], None]) -> tuple[dict, list[Path], bool]:
    """Probe the finished MAML and Meta-SGD runs of ``seed``, one condition per call of
    ``probe_runs`` (it reuses the current conditions in probe.json) while the time left
    allows another, calling ``on_progress(run dirs)`` after each; then the summary over
    both runs (all conditions reused). Returns (log entry, run dirs, whether done).
    """
    probe_cfg = PROBES[profile]
    dirs = {}
    for algo in PROBED_ALGOS:  # trained in this chunk (work) or an earlier one (results)
        cfg = profile_config(profile, algo, seed)
        dirs[algo] = run_dir_for(cfg, work)
        if not (dirs[algo] / "final.pt").exists():
            shutil.copytree(run_dir_for(cfg, results), dirs[algo], dirs_exist_ok=True)
    guess = PROBE_S_PER_ITERATION.get(device.type, PROBE_S_PER_ITERATION["cpu"])
    per_condition = probe_cfg.n_iterations * guess
    entry: dict = {"step": "probe", "seed": seed, "conditions": [],
                   "n_iterations": probe_cfg.n_iterations}
    timed: list[float] = []
    for algo, d in dirs.items():
        labels = condition_labels(algo)
        missing = missing_conditions(d, algo, probe_cfg)
        for i, label in enumerate(labels):
            if label not in missing:
                continue
            if time.perf_counter() + per_condition > deadline:
                entry["stopped"] = f"not enough time left for {algo}/{label}"
                return entry, list(dirs.values()), False
            t0 = time.perf_counter()
            ablations = {k: DEFAULT_ABLATIONS[k] for k in labels[1:i + 1]}
            probe_runs([d], probe_cfg, ablations=ablations, data_root=data_root,
                       device=device, progress=True)
            timed.append(time.perf_counter() - t0)
            per_condition = max(timed)
            entry["conditions"].append({"run": f"{algo}-seed{seed}", "condition": label,
                                        "seconds": timed[-1]})
            on_progress(list(dirs.values()))
    summary = probe_runs(list(dirs.values()), probe_cfg, out=work / f"probe-seed{seed}.json",
                         data_root=data_root, device=device)
    entry["comparisons"] = summary["comparisons"]
    return entry, list(dirs.values()), True


def pack(out: Path, run_dirs: list[Path], extra: list[Path], log: list[dict],
         seconds: float) -> None:
    """Write the tar of every touched run's artifacts and the chunk log (atomically), so a
    chunk killed later still returns what it finished."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "paper_results.tar.tmp"
    with tarfile.open(tmp, "w") as tar:
        for d in dict.fromkeys(run_dirs):
            for name in KEEP:
                if (d / name).exists():
                    tar.add(d / name, arcname=f"{d.name}/{name}")
        for f in extra:
            if f.exists():
                tar.add(f, arcname=f.name)
    tmp.replace(out / "paper_results.tar")
    (out / "chunk_log.json").write_text(json.dumps(
        {"steps": log, "seconds": seconds,
         "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        indent=2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/paper", help="committed paper artifacts")
    ap.add_argument("--out", required=True, help="folder for the tar of updated runs")
    ap.add_argument("--budget", type=float, required=True, help="seconds for this chunk")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--profile", default="paper", help="smoke: a CPU dry run in seconds")
    ap.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                    help="replay meta-iterations as CUDA graphs (experimental; default off)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the meta-step (train --compile; not yet timed on CUDA)")
    ap.add_argument("--margin", type=float, default=45.0,
                    help="seconds kept for validation, checkpoint and packing at the end")
    ap.add_argument("--work", default="runs/paper-chunk", help="scratch folder for the runs")
    args = ap.parse_args(argv)
    if args.cuda_graph and args.compile:
        ap.error("choose one of --cuda-graph and --compile")
    start = time.perf_counter()
    results, out = Path(args.results), Path(args.out)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    touched: list[Path] = []
    summaries: list[Path] = []
    log: list[dict] = []
    splits = None

    def save(more: list[Path] | None = None) -> None:
        pack(out, touched + (more or []), summaries, log, time.perf_counter() - start)

    for step in protocol():
        left = args.budget - args.margin - (time.perf_counter() - start)
        if step_done(step, results, args.profile):
            continue
        if left < 30:
            break
        kind, algo, seed = step
        if kind == "probe":
            summaries.append(work / f"probe-seed{seed}.json")
            entry, dirs, done = probe_step(
                seed, args.profile, results, work, deadline=start + args.budget - args.margin,
                data_root=args.data_root, device=resolve_device(args.device),
                on_progress=save)
            log.append(entry)
            if entry["conditions"]:
                touched += dirs
            save()
            print(json.dumps(entry), flush=True)
            if not done:
                break
            continue
        cfg = profile_config(args.profile, algo, seed)
        src = run_dir_for(cfg, results)
        dst = run_dir_for(cfg, work)
        if src.exists():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        if splits is None:
            t0 = time.perf_counter()
            splits = {s: load_split(cfg.dataset, s, args.data_root) for s in ("train", "val")}
            log.append({"step": "load data", "seconds": time.perf_counter() - t0})
            left -= time.perf_counter() - t0
        t0 = time.perf_counter()
        before = load_run(dst).iteration if (dst / "checkpoint.pt").exists() else 0
        train(cfg, out_root=work, data_root=args.data_root, device=args.device, resume=True,
              max_seconds=left, progress=True, splits=splits, cuda_graph=args.cuda_graph,
              torch_compile=args.compile)
        run = load_run(dst)
        entry = {"step": "train", "algo": algo, "seed": seed, "from": before,
                 "to": run.iteration, "finished": run.finished,
                 "seconds": time.perf_counter() - t0, "device": run.info["device"]}
        last = next((m for m in reversed(run.metrics) if "val_acc" in m), None)
        if last:
            entry.update(val_acc=last["val_acc"], val_ci95=last["val_ci95"])
        if run.finished and time.perf_counter() - start < args.budget - 30:
            entry["test"] = evaluate_run(run, data_root=args.data_root, device=args.device)
        log.append(entry)
        touched.append(dst)
        save()
        print(json.dumps(entry), flush=True)
        if not run.finished:
            break
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
