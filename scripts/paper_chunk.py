"""Continue the paper protocol from ``results/paper/`` for a fixed time budget (GPU chunks).

The protocol, in order: MAML seed 0 (60,000 meta-iterations) -> Meta-SGD seed 0 ->
the probe on both and the learned-rate analysis -> positive-rate Meta-SGD seed 0 ->
seeds 1 and 2 of each algorithm. Each call finds the first unfinished step, resumes it
from the committed checkpoint, stops cleanly with a checkpoint before the budget is
spent, and packs every run directory it touched into ``<out>/paper_results.tar`` (one
file, because only a few files come back from the GPU machine). Unpack it over
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
from pathlib import Path

import torch

from neglr_utils.data import load_split
from neglr_utils.profiles import profile_config
from neglr_utils.train import evaluate_run, load_run, run_dir_for, train

KEEP = ("config.json", "metrics.jsonl", "checkpoint.pt", "final.pt", "eval-test.json",
        "probe.json")


def protocol() -> list[tuple[str, str, int]]:
    """The steps in order: ("train", algo, seed) or ("probe", "", seed)."""
    steps = [("train", "maml", 0), ("train", "meta-sgd", 0), ("probe", "", 0),
             ("train", "meta-sgd-positive", 0)]
    for seed in (1, 2):
        steps += [("train", "maml", seed), ("train", "meta-sgd", seed)]
    return steps


def step_done(step: tuple[str, str, int], results: Path, profile: str) -> bool:
    kind, algo, seed = step
    if kind == "train":
        return (run_dir_for(profile_config(profile, algo, seed), results) / "final.pt").exists()
    return all((run_dir_for(profile_config(profile, a, seed), results) / "probe.json").exists()
               for a in ("maml", "meta-sgd"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/paper", help="committed paper artifacts")
    ap.add_argument("--out", required=True, help="folder for the tar of updated runs")
    ap.add_argument("--budget", type=float, required=True, help="seconds for this chunk")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--profile", default="paper", help="smoke: a CPU dry run in seconds")
    ap.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                    help="replay meta-iterations as CUDA graphs (experimental; default off)")
    ap.add_argument("--margin", type=float, default=45.0,
                    help="seconds kept for validation, checkpoint and packing at the end")
    args = ap.parse_args()
    start = time.perf_counter()
    results, out = Path(args.results), Path(args.out)
    work = Path("runs/paper-chunk")
    work.mkdir(parents=True, exist_ok=True)
    touched: list[Path] = []
    log: list[dict] = []
    splits = None
    for step in protocol():
        left = args.budget - args.margin - (time.perf_counter() - start)
        if step_done(step, results, args.profile):
            continue
        if left < 30:
            break
        kind, algo, seed = step
        if kind == "probe":
            log.append({"step": "probe", "seed": seed, "status": "not run: probe is a later "
                        "chunk's job (needs neglr_utils.probe)"})
            break
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
              max_seconds=left, progress=True, splits=splits, cuda_graph=args.cuda_graph)
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
        print(json.dumps(entry), flush=True)
        if not run.finished:
            break
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "paper_results.tar", "w") as tar:
        for d in touched:
            for name in KEEP:
                if (d / name).exists():
                    tar.add(d / name, arcname=f"{d.name}/{name}")
    (out / "chunk_log.json").write_text(json.dumps(
        {"steps": log, "seconds": time.perf_counter() - start,
         "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
