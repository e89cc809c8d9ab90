"""Where the work runs: the device, its description, package versions, CPU threads.

Threads: on a small CPU machine torch's OpenMP threads busy-wait for a core another
process holds: torch's default two threads ran 3.4x slower per meta-iteration beside one
busy process, one thread 1.0x (``benchmarks/bench_threads.py``,
``benchmarks/results/cpu2-threads.json``). `configure_threads` sets torch's thread
count from the cores that are free when it is called (``/proc/stat`` sampled briefly)
unless told otherwise; the package sets ``GOMP_SPINCOUNT`` so idle OpenMP threads spin
only briefly (a ``PASSIVE`` wait policy made two threads as slow as one).
"""

from __future__ import annotations

import os
import platform
import time

import numpy
import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None picks CUDA when present, else the CPU; names are checked."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda' or "
                         "'cuda:N'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for CUDA, which this machine does not have; "
                         "use --device cpu (or auto)")
    return dev


def device_description(device: torch.device) -> str:
    """``"NVIDIA H200"`` or ``"CPU (x86_64, 2 cores)"``: the hardware a number came from."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def package_versions() -> dict[str, str]:
    """Versions that can change a number: Python, torch, numpy, this package."""
    from .. import __version__  # noqa: PLC0415  (the package imports this module: a cycle)

    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "neglr_utils": __version__}


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None where it does not exist."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def free_cores(sample_seconds: float = 0.3) -> int:
    """Cores not busy with other work right now (at least 1), from a short sample."""
    n = os.cpu_count() or 1
    first = _cpu_times()
    if first is None:
        return n
    time.sleep(sample_seconds)
    second = _cpu_times()
    busy = (second[0] - first[0]) / max(second[1] - first[1], 1)
    return max(1, min(n, round(n * (1 - busy))))


def configure_threads(threads: int | str | None = "auto") -> int:
    """Set torch's CPU threads: an int, or ``"auto"`` (the free cores); returns the count.

    None leaves torch's setting alone. ``NEGLR_THREADS`` in the environment overrides
    ``"auto"`` (the book build and the study pass it to their kernels and workers).
    """
    if threads is None:
        return torch.get_num_threads()
    if threads == "auto":
        env = os.environ.get("NEGLR_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else free_cores()
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r}; use a positive integer or 'auto'")
    torch.set_num_threads(threads)
    return threads
