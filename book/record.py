"""The page *How this book was built*: ``executed/build_record.md``, written by
``book/build.py`` before each HTML build from the executed notebooks' papermill metadata,
the installed packages and the machine (``book/how_built.md`` includes it)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
TOC_PREFIX = "book/executed/"
RECORD_NAME = "build_record.md"  # in executed/; book/how_built.md includes it
# Versions the build page lists (distribution names), in this order.
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pandas", "matplotlib", "ipywidgets",
            "ipykernel", "papermill", "nbclient", "jupytext", "jupyter-book", "sphinx",
            "myst-nb", "sphinx-book-theme", "jupyterlab", "neglr-utils")


def _when(stamp: str | None) -> str:
    """papermill's ISO time as ``2026-12-01 09:04 UTC``."""
    if not stamp:
        return "?"
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _took(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, rest = divmod(round(seconds), 60)
    return f"{seconds:.1f} s" if seconds < 120 else f"{minutes} min {rest:02d} s"


def chapter_rows(chapters: list[str], executed_dir: Path, executed_now: set[str]) -> list[str]:
    """One table row per chapter from its executed copy's papermill metadata."""
    rows = []
    for stem in chapters:
        meta = nbformat.read(executed_dir / f"{stem}.ipynb", as_version=4).metadata
        run = meta.get("papermill", {})
        shown = ", ".join(f"{k}={v!r}" for k, v in run.get("parameters", {}).items()
                          if v is not None)
        when = "this build" if stem in executed_now else "an earlier build"
        rows.append(f"| {{doc}}`/{TOC_PREFIX}{stem}` | {_when(run.get('start_time'))} "
                    f"({when}) | {_took(run.get('duration'))} | `{shown or '(none)'}` |")
    return rows


def machine_rows() -> list[str]:
    """Operating system, CPU, memory, GPU and thread settings of this machine."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in _read("/proc/cpuinfo").splitlines()
                if ln.startswith("model name")), platform.processor() or "?")
    mem = next((int(ln.split()[1]) / 2**20 for ln in _read("/proc/meminfo").splitlines()
                if ln.startswith("MemTotal:")), None)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    gpus = "none found (no `nvidia-smi`)"
    if shutil.which("nvidia-smi"):
        proc = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              check=False)
        gpus = "; ".join(proc.stdout.split("\n")).strip("; ") or "none found by `nvidia-smi`"
    threads = ", ".join(f"`{k}={os.environ[k]}`" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
                        if k in os.environ) or "not set (torch's default)"
    return [
        f"| Operating system | {platform.platform()} |",
        f"| CPU | {cpu}; {os.cpu_count()} logical cores, {usable} usable |",
        f"| Memory | {mem:.0f} GiB |" if mem else "| Memory | ? |",
        f"| GPU | {gpus} |",
        f"| Thread settings | {threads} |",
        f"| Python | {platform.python_implementation()} {platform.python_version()} |",
    ]


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def package_rows() -> list[str]:
    """``| name | version |`` for `PACKAGES` as installed in this environment."""
    rows = []
    for name in PACKAGES:
        try:
            rows.append(f"| {name} | {metadata.version(name)} |")
        except metadata.PackageNotFoundError:
            rows.append(f"| {name} | not installed |")
    return rows


def git_state() -> str:
    """The commit the book was built from, and whether tracked files had changed."""
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if head.returncode != 0:
        return "not a git checkout"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True, check=False).stdout.strip()
    return f"`{head.stdout.strip()}`" + (" with uncommitted changes" if dirty else "")


def _table(caption: str, name: str, header: str, rows: list[str]) -> str:
    ncols = header.count("|") - 1
    return "\n".join([f":::{{table}} {caption}", f":name: {name}", "", header,
                      "|" + "---|" * ncols, *rows, ":::"])


def write_build_record(chapters: list[str], executed_dir: Path, *, command: str,
                       executed_now: set[str]) -> Path:
    """Write ``executed/build_record.md`` (the generated part of ``book/how_built.md``)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    total = sum(nbformat.read(executed_dir / f"{s}.ipynb", as_version=4)
                .metadata.get("papermill", {}).get("duration") or 0 for s in chapters)
    text = "\n\n".join([
        f"This record was written by `{command}` at {now}, just before the HTML build, "
        f"from the source commit {git_state()}. The chapters' execution took "
        f"{_took(total)} in all.",
        "## Each chapter's execution",
        _table("When each chapter was executed, how long it took and with which parameters "
               "(papermill's metadata in the executed notebook). Parameters left at `None` "
               "are not listed: they take their defaults (the data root from `NEGLR_DATA`, "
               "the profile's own results folder).", "tab-build-chapters",
               "| Chapter | Executed | Took | Parameters |",
               chapter_rows(chapters, executed_dir, executed_now)),
        "## Packages",
        _table("Versions installed in the environment that executed the notebooks "
               "(pinned in `constraints.txt`).", "tab-build-packages", "| Package | Version |",
               package_rows()),
        "## Machine",
        _table("The machine that built this book.", "tab-build-machine", "| | |",
               machine_rows()),
    ]) + "\n"
    path = executed_dir / RECORD_NAME
    path.write_text(text)
    return path
