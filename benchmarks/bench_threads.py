"""Thread policy on a small CPU machine: meta-iteration time idle and beside a busy process.

Each measurement runs in a fresh subprocess (threads are fixed when OpenMP starts) and
times ``--iterations`` meta-iterations of the ``cpu`` profile (Omniglot, 32 filters) on
synthetic episodes, after two warm-up iterations. "Busy" starts one other process that
keeps one core busy with a one-thread training of its own, as a second study lane or a
user's job would. Settings compared:

- ``default``: torch's default thread count (the cores), OpenMP's default wait policy;
- ``passive``: the same with ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep);
- ``short-spin``: the default thread count, idle threads spin briefly, then sleep
  (``GOMP_SPINCOUNT=10000``: torch's wheels use GNU OpenMP);
- ``auto``: ``runtime.configure_threads("auto")`` (the cores free at start) and passive;
- ``auto-short-spin``: the same with the short spin instead of passive;
- ``one``: one thread, as the study's lanes.

Reported: seconds per iteration for each, idle and busy, and busy / idle, which the
study and ``make book`` must keep within 1.5 (README).

    .venv/bin/python benchmarks/bench_threads.py --out benchmarks/results/cpu2-threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = """
import sys, time, torch
sys.path.insert(0, {root!r})
from neglr_utils.runs.runtime import configure_threads
if {auto}:
    configure_threads("auto")
from neglr_utils.runs.profiles import profile_config
from neglr_utils.core.stack import Stack
sys.path.insert(0, {bench!r})
from bench_stack import bench_config
from bench_meta import synthetic_episode
cfg = profile_config("cpu", "meta-sgd", 0)
stack = Stack([cfg], torch.device("cpu"))
ep = synthetic_episode(bench_config(cfg), torch.device("cpu"), torch.float32,
                       torch.Generator().manual_seed(0))
for _ in range(2):
    stack.step(ep)
t0 = time.perf_counter()
for _ in range({n}):
    stack.step(ep)
print(torch.get_num_threads(), (time.perf_counter() - t0) / {n}, flush=True)
"""
SETTINGS = {"default": ({}, False), "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, False),
            "short-spin": ({"GOMP_SPINCOUNT": "10000"}, False),
            "auto": ({"OMP_WAIT_POLICY": "PASSIVE"}, True),
            "auto-short-spin": ({"GOMP_SPINCOUNT": "10000"}, True),
            "one": ({"OMP_NUM_THREADS": "1"}, False)}


def measure(setting: str, n: int) -> tuple[int, float]:
    extra, auto = SETTINGS[setting]
    env = {k: v for k, v in os.environ.items() if k not in (
        "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NEGLR_THREADS", "GOMP_SPINCOUNT")}
    env.update(extra)
    code = WORK.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), auto=auto, n=n)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), float(out[1])


def busy_process() -> subprocess.Popen:
    """One core kept busy by a one-thread training loop until killed."""
    code = WORK.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), auto=False, n=10**6)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    result: dict = {"cores": os.cpu_count(), "iterations": args.iterations,
                    "loadavg_start": list(os.getloadavg()), "settings": {}}
    for setting in SETTINGS:
        threads, idle = measure(setting, args.iterations)
        other = busy_process()
        time.sleep(3)  # let it start training
        try:
            _, busy = measure(setting, args.iterations)
        finally:
            other.kill()
            other.wait()
        result["settings"][setting] = {"threads": threads, "idle_s": idle, "busy_s": busy,
                                       "busy_over_idle": busy / idle}
        print(f"{setting:8s} threads={threads} idle {idle:.3f} s/it, beside a busy process "
              f"{busy:.3f} s/it: x{busy / idle:.2f}", flush=True)
    result["loadavg_end"] = list(os.getloadavg())
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
