"""Continue the paper protocol from ``results/paper/`` for a fixed time budget (GPU chunks).

The protocol is the study's grid at the paper profile: MAML, Meta-SGD and positive-rate
Meta-SGD x seeds 0, 1, 2, 60,000 meta-iterations each, then the probe (40,000 task pairs;
Meta-SGD also with its conv rates rescaled) and the rate meta-gradient diagnostic.
Each call copies the committed runs into a work folder, trains every unfinished run in
stacks (``core/stack.py``: runs at the same iteration train as one model, so idle GPU time
becomes progress on all of them), stops cleanly with checkpoints before the budget is
spent, then probes finished runs while time is left, and packs every run directory it
touched into ``<out>/paper_results.tar`` (rewritten after each step, so a chunk killed
later keeps what it finished). Unpack it over ``results/paper/`` to commit the progress.

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

from neglr_utils.runs.probes import ensure_probes, run_key
from neglr_utils.runs.runtime import resolve_device
from neglr_utils.runs.store import load_probe_results
from neglr_utils.runs.study import probe_plan, study_sweep
from neglr_utils.runs.sweep import RunSpec, is_finished, run_dir, stack_groups
from neglr_utils.runs.training import evaluate_run, load_run, load_train_val, train_runs

KEEP = ("config.json", "metrics.jsonl", "checkpoint.pt", "final.pt", "eval-test.json",
        "probe.json", "mechanism.json", "representation.json")
# Seconds per probe task pair assumed before one has been timed (the H200 measured 4.7 s
# per 1,000 in benchmarks/results/h200.json; the 2-core CPU about 2.5 s each).
PROBE_S_PER_PAIR = {"cuda": 0.008, "cpu": 2.5}


def pack(out: Path, run_dirs: list[Path], log: list[dict], seconds: float) -> None:
    """Write the tar of every touched run's artifacts and the chunk log (atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "paper_results.tar.tmp"
    with tarfile.open(tmp, "w") as tar:
        for d in dict.fromkeys(run_dirs):
            for name in KEEP:
                if (d / name).exists():
                    tar.add(d / name, arcname=f"{d.parent.name}/{d.name}/{name}")
    tmp.replace(out / "paper_results.tar")
    (out / "chunk_log.json").write_text(json.dumps(
        {"steps": log, "seconds": seconds,
         "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        indent=2))


def copy_in(specs: list[RunSpec], results: Path, work: Path) -> None:
    """Copy the committed state of every run into the work folder (once)."""
    for s in specs:
        src, dst = run_dir(s, results), run_dir(s, work)
        if src.exists() and not dst.exists():
            shutil.copytree(src, dst)


def train_step(group: tuple[RunSpec, ...], work: Path, seconds: float, args, splits) -> dict:
    """Train one stack for at most ``seconds``; a log entry."""
    t0 = time.perf_counter()
    cfgs = [s.config() for s in group]
    before = [load_run(run_dir(s, work)).iteration if (run_dir(s, work) / "checkpoint.pt")
              .exists() else 0 for s in group]
    paths = train_runs(cfgs, out_root=run_dir(group[0], work).parent, data_root=args.data_root,
                       device=args.device, max_seconds=seconds, progress=True, splits=splits,
                       torch_compile=args.compile)
    runs = [load_run(p) for p in paths]
    entry = {"step": "train", "runs": [s.label() for s in group], "from": before,
             "to": [r.iteration for r in runs], "finished": [r.finished for r in runs],
             "seconds": time.perf_counter() - t0, "device": runs[0].info["device"]}
    for r, p in zip(runs, paths, strict=True):
        if r.finished and not (p / "eval-test.json").exists():
            evaluate_run(r, data_root=args.data_root, device=args.device)
    return entry


def probe_steps(work: Path, deadline: float, args, save) -> list[dict]:
    """Probe finished runs, one condition at a time, while the time left allows one."""
    device = resolve_device(args.device)
    guess = PROBE_S_PER_PAIR.get(device.type, PROBE_S_PER_PAIR["cpu"])
    entries = []
    for job in probe_plan(study_sweep(args.profile, root=str(work))):
        key = run_key(load_run(job.run_dir))
        stored = load_probe_results(job.run_dir)
        for cond in job.conditions:
            if any(r.matches(key, cond, job.config) for r in stored):
                continue
            need = job.config.n_iterations * guess
            if time.perf_counter() + need > deadline:
                entries.append({"step": "probe", "stopped": f"no time for {job.run_dir}"})
                return entries
            t0 = time.perf_counter()
            ensure_probes([job.run_dir], job.config, lambda algo, c=cond: (c,),
                          data_root=args.data_root, device=device)
            seconds = time.perf_counter() - t0
            guess = max(guess, seconds / job.config.n_iterations)
            entries.append({"step": "probe", "run": Path(job.run_dir).name,
                            "condition": cond.name, "seconds": seconds})
            save()
    return entries


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/paper", help="committed paper artifacts")
    ap.add_argument("--out", required=True, help="folder for the tar of updated runs")
    ap.add_argument("--budget", type=float, required=True, help="seconds for this chunk")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--profile", default="paper", help="smoke: a CPU dry run in seconds")
    ap.add_argument("--compile", action="store_true", help="torch.compile the meta-step")
    ap.add_argument("--margin", type=float, default=45.0,
                    help="seconds kept for validation, checkpoints and packing at the end")
    ap.add_argument("--work", default="runs/paper-chunk", help="scratch folder for the runs")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    deadline = start + args.budget - args.margin
    results, out, work = Path(args.results), Path(args.out), Path(args.work)
    sweep = study_sweep(args.profile, root=str(results))
    specs = sweep.specs()
    copy_in(specs, results, work)
    pending = [s for s in specs if not is_finished(s, work)]
    groups = stack_groups(pending, work, lambda dataset: len(specs))
    log: list[dict] = []
    touched = [run_dir(s, work) for s in specs if run_dir(s, work).exists()]

    def save() -> None:
        pack(out, touched + [run_dir(s, work) for s in specs if run_dir(s, work).exists()],
             log, time.perf_counter() - start)

    splits = load_train_val(specs[0].config(), args.data_root) if groups else None
    for i, group in enumerate(groups):
        left = deadline - time.perf_counter()
        if left < 30:
            break
        entry = train_step(group, work, left / (len(groups) - i), args, splits)
        log.append(entry)
        save()
        print(json.dumps(entry), flush=True)
    log += probe_steps(work, deadline, args, save)
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
