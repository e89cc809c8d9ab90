"""Execute the book's notebooks with papermill, then build the HTML with Jupyter Book.

The notebooks ``notebooks/NN_name.py`` (Jupytext percent format) are the source of
truth. Each is executed in order with papermill, with the parameters ``profile``,
``data_root``, ``device``, ``results_dir`` and ``seeds`` injected, into
``book/executed/NN_name.ipynb``
(never into ``notebooks/``, see ENVIRONMENT.md). The first failing cell stops the build:
one line names the notebook, the cell and the error, the partial copy is kept as
``book/executed/NN_name.failed.ipynb``, and nothing is published (``book/_build/html`` is
removed). Then the offline web assets are fetched if missing (``book/fetch_assets.py``)
and ``jupyter-book build`` runs with ``execute_notebooks: "off"`` into a staging folder,
which replaces ``book/_build/html`` only when the build succeeded, Sphinx raised no
warning, and every chapter page exists.

Usage::

    python book/build.py --profile smoke            # execute all notebooks, build HTML
    python book/build.py --only 02_maml             # re-execute one, reuse the others
    python book/build.py --skip-execute             # rebuild HTML from executed copies

While a notebook runs, its progress shows in the terminal (`Progress`): every tqdm bar
the notebook draws (which run, the iteration, elapsed time, ETA) every 10 s and when it
is full, and a line for any cell that runs 30 s without one.

Every executed copy gets a note after its first cell (`add_live_note`): download links
for the executed ``.ipynb`` and the ``.py`` source, and how to open the chapter live
(``make lab``); the theme's download menu of each chapter page also offers the ``.py``
(`add_py_downloads`). ``book/how_built.md`` includes ``book/executed/build_record.md``,
written before each HTML build (`write_build_record`): when each chapter was executed,
how long it took, with which parameters (papermill's metadata), the package versions and
the machine.

Per-notebook execution times go to ``book/executed/timings.json`` ({name: seconds}) for
the methods page, and a ``build_info.json`` lands beside the HTML.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args
from traitlets import Any

from neglr_utils.runs.runtime import free_cores

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
sys.path.insert(0, str(BOOK))
import fetch_assets  # noqa: E402  (sibling script, importable once book/ is on sys.path)

PROFILES = ("smoke", "cpu", "paper")
KERNEL_NAME = "python3"
NOTEBOOK_GLOB = "[0-9][0-9]_*.py"
TOC_PREFIX = "book/executed/"
CDN_PATTERN = re.compile(
    r"""(?:src|href)=["'](?:https?:)?//(?:cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com)"""
)
PREFIX = "make book:"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class BuildError(RuntimeError):
    """A build step failed; the message is the one line shown to the user."""


# ------------------------------------------------------------ progress while a notebook runs

# tqdm's meter text ("120/600 [00:30<02:00, 4.00it/s]") and its text bar on stderr
# ("desc:  20%|##        | 120/600 [...]"); tqdm.auto draws ipywidgets bars in a kernel.
TQDM_METER = re.compile(
    r"(?P<n>\d[\d.]*[kMG]?)/(?P<total>\d[\d.]*[kMG]?)\s*"
    r"\[(?P<elapsed>[^<\]]+)<(?P<eta>[^,\]]+),?\s*(?P<rate>[^\]]*)\]"
)
TQDM_TEXT_BAR = re.compile(r"^(?P<desc>.*?):?\s*\d+%\|[^|]*\|(?P<meter>.*)$")
BAR_EVERY_S = 10.0  # a running bar prints this often, and once when it is full
QUIET_CELL_S = 30.0  # a cell running this long with no line printed says so


def describe_bar(desc: str, meter: str) -> tuple[str, bool] | None:
    """``("run-name: 120/600, 00:30 elapsed, ETA 02:00, 4.00it/s", full)`` from a tqdm bar.

    ``desc`` and ``meter`` are the texts left and right of the bar (HTML-escaped, with
    figure spaces, as tqdm.notebook sends them); None when ``meter`` is no tqdm meter.
    """

    def clean(text: str) -> str:
        return html.unescape(text).replace("\u2007", " ").replace("\xa0", " ").strip()

    found = TQDM_METER.search(clean(meter))
    if found is None:
        return None
    name = re.sub(r":?\s*\d+%$", "", clean(desc)).strip() or "progress"
    rate = f", {found['rate'].strip()}" if found["rate"].strip() else ""
    line = (f"{name}: {found['n']}/{found['total']}, {found['elapsed'].strip()} elapsed, "
            f"ETA {found['eta'].strip()}{rate}")
    return line, found["n"] == found["total"]


class Progress:
    """Terminal lines about one running notebook: its tqdm bars and its long cells.

    ``label`` names the notebook (``[2/9] 02_maml``); ``cell_numbers`` maps the executed
    copy's cell index to the source's cell number (0: papermill's injected cell). A bar
    prints ``every`` seconds after it appeared or last printed, and once when it is full
    (so a quick bar prints one line); a code cell that runs ``quiet`` seconds with nothing
    printed gets a line from a daemon thread.
    """

    def __init__(self, label: str, cell_numbers: list[int], *, every: float | None = None,
                 quiet: float | None = None, write: Callable[[str], None] | None = None
                 ) -> None:
        self.label, self.cell_numbers = label, cell_numbers
        self.n_cells = max(cell_numbers, default=0)
        self.every = BAR_EVERY_S if every is None else every
        self.quiet = QUIET_CELL_S if quiet is None else quiet
        self.write = write or (lambda line: print(line, flush=True))
        self.lock = threading.Lock()
        self.cell: tuple[int, str, float] | None = None  # (number, first line, start)
        self.last_line = time.monotonic()
        self.bars: dict[str, tuple[float, bool]] = {}  # key -> (last printed, full)
        self.bar_of: dict[str, str] = {}  # a tqdm HBox's right-hand text model -> the HBox
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def emit(self, text: str) -> None:
        """Print one line, prefixed by the notebook and the running cell."""
        with self.lock:
            cell = f", cell {self.cell[0]}/{self.n_cells}" if self.cell else ""
            self.write(f"      {self.label}{cell}: {text}")
            self.last_line = time.monotonic()

    def cell_started(self, cell: nbformat.NotebookNode, cell_index: int, **_: object) -> None:
        """nbclient's ``on_cell_execute`` hook."""
        number = self.cell_numbers[cell_index] if cell_index < len(self.cell_numbers) else 0
        with self.lock:
            self.cell = (number, _first_line(cell.source, 60), time.monotonic())

    def cell_finished(self, **_: object) -> None:
        """nbclient's ``on_cell_executed`` hook."""
        with self.lock:
            self.cell = None

    def bar(self, key: str, line: str, full: bool) -> None:
        """A bar's state changed: print it when full, or ``every`` s after its last line."""
        now = time.monotonic()
        last, done = self.bars.setdefault(key, (now, False))
        if done or not (full or now - last >= self.every):
            return
        self.bars[key] = (now, full)
        self.emit(line)

    def widget(self, comm_id: str, states: dict[str, dict]) -> None:
        """A widget comm message arrived (``states``: nbclient's widget state by comm id)."""
        state = states.get(comm_id, {})
        if state.get("_model_name") == "HBoxModel" and len(state.get("children", [])) == 3:
            self.bar_of[state["children"][2].removeprefix("IPY_MODEL_")] = comm_id
        box = self.bar_of.get(comm_id)  # tqdm sets the right-hand text last
        if box is None:
            return
        left, bar, right = (states.get(c.removeprefix("IPY_MODEL_"), {})
                            for c in states[box]["children"])
        if bar.get("_model_name") != "FloatProgressModel":
            return
        seen = describe_bar(left.get("value", ""), right.get("value", ""))
        if seen:
            self.bar(box, *seen)

    def text(self, stream: str) -> None:
        """Text written to stderr: a tqdm text bar (the last ``\\r``-separated state)."""
        parts = [p for p in re.split(r"[\r\n]", stream) if p.strip()]
        found = TQDM_TEXT_BAR.match(parts[-1].strip()) if parts else None
        seen = found and describe_bar(found["desc"], found["meter"])
        if seen:
            self.bar(f"text:{found['desc'].strip()}", *seen)

    def _heartbeat(self) -> None:
        while not self._stop.wait(1.0):
            with self.lock:
                cell, last = self.cell, self.last_line
            if cell and time.monotonic() - max(cell[2], last) >= self.quiet:
                minutes, seconds = divmod(int(time.monotonic() - cell[2]), 60)
                self.emit(f"running for {minutes}:{seconds:02d} ({cell[1]})")


class ProgressClient(PapermillNotebookClient):
    """papermill's notebook client that also hands widget and stderr messages to `Progress`."""

    progress = Any(None)

    def process_message(self, msg: dict, cell: nbformat.NotebookNode, cell_index: int
                        ) -> nbformat.NotebookNode | None:
        out = super().process_message(msg, cell, cell_index)
        kind, content = msg.get("msg_type"), msg.get("content", {})
        if self.progress is not None and kind in ("comm_open", "comm_msg"):
            self.progress.widget(content.get("comm_id", ""), self.widget_state)
        elif self.progress is not None and kind == "stream" and content.get("name") == "stderr":
            self.progress.text(content.get("text", ""))
        return out


class ProgressEngine(NBClientEngine):
    """papermill's nbclient engine with `ProgressClient` (``engine_name="neglr-progress"``)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None,
                                 progress=None, **kwargs):
        """As ``NBClientEngine.execute_managed_notebook`` (papermill 2.x), plus ``progress``."""
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        hooks = {} if progress is None else {"on_cell_execute": progress.cell_started,
                                             "on_cell_executed": progress.cell_finished}
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=papermill.engines.logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            progress=progress,
            **hooks,
        )
        return ProgressClient(nb_man, **final_kwargs).execute()


ENGINE_NAME = "neglr-progress"
papermill_engines.register(ENGINE_NAME, ProgressEngine)


@dataclass(frozen=True)
class Layout:
    """Where the build reads and writes.

    notebooks_dir: the ``NN_name.py`` sources; output_dir: holds ``executed/`` (papermill
    copies and timings.json) and ``_build/html`` (the published book).
    """

    notebooks_dir: Path
    output_dir: Path

    @property
    def executed_dir(self) -> Path:
        return self.output_dir / "executed"

    @property
    def build_dir(self) -> Path:
        return self.output_dir / "_build"

    @property
    def html_dir(self) -> Path:
        return self.build_dir / "html"

    @property
    def staging_dir(self) -> Path:
        """``--path-output`` for jupyter-book: it writes ``<staging>/_build/html``."""
        return self.build_dir / ".staging"


def rel(path: Path) -> str:
    """Show ``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def discover(notebooks_dir: Path, only: list[str] | None) -> list[Path]:
    """Return the ``NN_name.py`` notebooks in order, or just those named by ``only``.

    ``only`` entries may be ``02_maml``, ``02_maml.py`` or a path; unknown names raise.
    """
    found = sorted(notebooks_dir.glob(NOTEBOOK_GLOB))
    if not found:
        raise BuildError(f"no notebooks matching {NOTEBOOK_GLOB} in {rel(notebooks_dir)}")
    if not only:
        return found
    by_stem = {p.stem: p for p in found}
    chosen = []
    for name in only:
        stem = Path(name).name.removesuffix(".py")
        if stem not in by_stem:
            raise BuildError(f"--only {name}: no such notebook; known: {', '.join(by_stem)}")
        chosen.append(by_stem[stem])
    return sorted(set(chosen))


def _runs_this_python(argv0: str) -> bool:
    """True when a kernelspec's ``argv[0]`` launches this interpreter (the venv's).

    jupyter_client replaces a bare ``python``/``python3``/``python3.X`` by
    ``sys.executable``; absolute paths are compared without resolving symlinks (a venv's
    python is a symlink to the system one).
    """
    major, minor = sys.version_info[:2]
    if argv0 in {"python", f"python{major}", f"python{major}.{minor}"}:
        return True
    return Path(argv0).absolute().parent == Path(sys.executable).absolute().parent


def ensure_kernel() -> None:
    """Make the ``python3`` kernel run this interpreter; install it (--sys-prefix) if not."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def current() -> tuple[bool, str]:
        try:
            spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        except NoSuchKernel:
            return False, "(none)"
        return _runs_this_python(spec.argv[0]), f"{spec.resource_dir} runs {spec.argv[0]}"

    ok, where = current()
    if ok:
        return
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME],
        check=True,
        capture_output=True,
    )
    ok, where = current()
    if not ok:
        raise BuildError(
            f"kernel {KERNEL_NAME!r} resolves to {where}, not {sys.executable}; "
            "remove that kernelspec (jupyter kernelspec remove python3) or fix JUPYTER_PATH"
        )


def _first_line(text: str, width: int = 80) -> str:
    """First non-blank line of ``text``, shortened to ``width`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 3] + "..."


def describe_failure(err: papermill.PapermillExecutionError, partial: Path) -> tuple[int, int]:
    """Map papermill's cell index to the source notebook's 1-based cell number.

    papermill counts cells of the executed notebook, which has an extra
    ``injected-parameters`` cell (and, once written, error-banner cells). Returns
    ``(cell_number, n_cells)`` in the source's numbering; 0 means the injected cell.
    """
    nb = nbformat.read(partial, as_version=4)
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    injected = [
        i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", [])
    ]
    if err.cell_index in injected:
        return 0, len(cells) - len(injected)
    before = sum(1 for i in injected if i < err.cell_index)
    return err.cell_index - before + 1, len(cells) - len(injected)


def injected_cell_numbers(nb: nbformat.NotebookNode) -> list[int]:
    """Source cell number (1-based) of each cell of the executed copy; 0: the injected cell.

    papermill inserts its ``injected-parameters`` cell after the cell tagged
    ``parameters``, or first when there is none.
    """
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    at = tagged[0] + 1 if tagged else 0
    numbers = list(range(1, len(nb.cells) + 1))
    return numbers[:at] + [0] + numbers[at:]


def kernel_threads() -> None:
    """Give the next kernel the cores free now (``OMP_NUM_THREADS``; ``NEGLR_THREADS``
    overrides): on a 2-core machine beside a busy process torch's default two spinning
    threads ran 3.4x slower, one thread as fast as idle (benchmarks/results/
    cpu2-threads.json). Each chapter's kernel starts fresh, so each gets its own count."""
    chosen = os.environ.get("NEGLR_THREADS", "")
    os.environ["OMP_NUM_THREADS"] = chosen if chosen.isdigit() else str(free_cores())
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")


def execute(notebook: Path, layout: Layout, parameters: dict[str, object], label: str = ""
            ) -> float:
    """Execute one notebook with papermill into ``executed/NN_name.ipynb``; return seconds.

    Progress (tqdm bars, long cells) is printed while it runs, prefixed by ``label``. On
    failure the partial copy is renamed ``NN_name.failed.ipynb``, any older good copy
    is removed (so ``--skip-execute`` cannot republish it) and ``BuildError`` is raised.
    """
    layout.executed_dir.mkdir(parents=True, exist_ok=True)
    final = layout.executed_dir / f"{notebook.stem}.ipynb"
    running = layout.executed_dir / f"{notebook.stem}.running.ipynb"
    failed = layout.executed_dir / f"{notebook.stem}.failed.ipynb"
    nb = jupytext.read(notebook)
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    kernel_threads()
    start = time.perf_counter()
    try:
        with Progress(label or notebook.stem, injected_cell_numbers(nb)) as progress:
            papermill.execute_notebook(
                nb,
                str(running),
                parameters=parameters,
                engine_name=ENGINE_NAME,
                kernel_name=KERNEL_NAME,
                cwd=str(REPO),
                progress_bar=False,
                log_output=False,
                progress=progress,
            )
    except papermill.PapermillExecutionError as err:
        final.unlink(missing_ok=True)
        running.replace(failed)
        cell, n_cells = describe_failure(err, failed)
        where = "the injected parameters" if cell == 0 else f"cell {cell}"
        raise BuildError(
            f"notebook {rel(notebook)} failed at {where} of {n_cells} "
            f"({_first_line(err.source)}): {err.ename}: {_first_line(str(err.evalue), 200)}\n"
            f"{PREFIX} partial executed copy: {rel(failed)}"
        ) from err
    except Exception as err:  # kernel died, could not start, ...: same contract
        final.unlink(missing_ok=True)
        if running.exists():
            running.replace(failed)
        raise BuildError(
            f"notebook {rel(notebook)} failed: {type(err).__name__}: {_first_line(str(err), 200)}"
            + (f"\n{PREFIX} partial executed copy: {rel(failed)}" if failed.exists() else "")
        ) from err
    seconds = time.perf_counter() - start
    hide_default_parameters(running)
    relative_paths(running, notebook, final)
    running.replace(final)
    failed.unlink(missing_ok=True)
    return seconds


def hide_default_parameters(path: Path) -> None:
    """Tag the notebook's own ``parameters`` cell ``remove-cell`` in the executed copy.

    The page then shows only papermill's injected cell, i.e. the values that actually ran,
    not the defaults they overrode.
    """
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, path)


def relative_paths(path: Path, source: Path, final: Path) -> None:
    """Replace papermill's ``input_path`` (the whole source notebook, since it is passed as
    an object) and ``output_path`` (an absolute path of this machine) by repository paths.
    """
    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("papermill", {})
    meta["input_path"], meta["output_path"] = rel(source), rel(final)
    nbformat.write(nb, path)


def check_executed(stem: str, layout: Layout, source: Path | None, profile: str) -> Path:
    """Return the executed copy of ``stem``.

    Raises if it is missing, recorded a failure, or ran with another profile (a book must
    not mix smoke and full-size chapters); warns when the source is newer (stale copy).
    """
    path = layout.executed_dir / f"{stem}.ipynb"
    if not path.is_file():
        raise BuildError(f"no executed copy {rel(path)}; run without --skip-execute")
    meta = nbformat.read(path, as_version=4).metadata.get("papermill", {})
    if meta.get("exception"):
        raise BuildError(f"{rel(path)} recorded a failed execution; re-execute it")
    ran = meta.get("parameters", {}).get("profile")
    if ran != profile:
        raise BuildError(
            f"{rel(path)} was executed with profile={ran}, this build is profile={profile}; "
            f"re-execute it (--only {stem}) or pass --profile {ran}"
        )
    if source is not None and source.stat().st_mtime > path.stat().st_mtime:
        print(f"{PREFIX} warning: {rel(path)} is older than {rel(source)} (stale)")
    return path


# ------------------------------------------------ what the pages say about their own build

LIVE_NOTE_TAG = "neglr-live-note"
RECORD_NAME = "build_record.md"  # in executed/; book/how_built.md includes it
# Versions the build page lists (distribution names), in this order.
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pandas", "matplotlib", "ipywidgets",
            "ipykernel", "papermill", "nbclient", "jupytext", "jupyter-book", "sphinx",
            "myst-nb", "sphinx-book-theme", "jupyterlab", "neglr-utils")


def live_note(stem: str, profile: str) -> str:
    """The note every chapter shows after its first cell: downloads, and how to run it."""
    return f"""\
:::{{admonition}} This chapter as files, and live
:class: tip

Download the {{download}}`executed notebook <{stem}.ipynb>` (this page, with its outputs)
or its {{download}}`source <../../notebooks/{stem}.py>` (a Jupytext notebook, the file to
edit); the download menu at the top of the page has both. To run it live, with working
widgets, in a clone of the repository: `make lab` starts JupyterLab with the project's
kernel; open `notebooks/{stem}.py` (it opens as a notebook), set its `parameters` cell
(this page ran with `profile = "{profile}"`) and choose *Run > Run All Cells*.
{{doc}}`/book/how_built` says when and how every chapter was executed.
:::"""


def add_live_note(path: Path) -> None:
    """Put `live_note` after the first cell of an executed copy (replacing an older one).

    The file's modification time is kept, so the stale-copy check still compares the
    source with the time the copy was executed.
    """
    nb = nbformat.read(path, as_version=4)
    profile = nb.metadata.get("papermill", {}).get("parameters", {}).get("profile", "?")
    note = nbformat.v4.new_markdown_cell(live_note(path.stem, profile))
    note.metadata["tags"] = [LIVE_NOTE_TAG]
    cells = [c for c in nb.cells if LIVE_NOTE_TAG not in c.metadata.get("tags", [])]
    old = [c for c in nb.cells if LIVE_NOTE_TAG in c.metadata.get("tags", [])]
    if len(old) == 1 and old[0].source == note.source and nb.cells.index(old[0]) == 1:
        return
    note.id = old[0].get("id", note.id) if old else note.id
    nb.cells = cells[:1] + [note] + cells[1:]
    stat = path.stat()
    nbformat.write(nb, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


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


def chapter_rows(chapters: list[str], layout: Layout, executed_now: set[str]) -> list[str]:
    """One table row per chapter from its executed copy's papermill metadata."""
    rows = []
    for stem in chapters:
        meta = nbformat.read(layout.executed_dir / f"{stem}.ipynb", as_version=4).metadata
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


def write_build_record(chapters: list[str], layout: Layout, *, command: str,
                       executed_now: set[str]) -> Path:
    """Write ``executed/build_record.md`` (the generated part of ``book/how_built.md``)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    total = sum(nbformat.read(layout.executed_dir / f"{s}.ipynb", as_version=4)
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
               chapter_rows(chapters, layout, executed_now)),
        "## Packages",
        _table("Versions installed in the environment that executed the notebooks "
               "(pinned in `constraints.txt`).", "tab-build-packages", "| Package | Version |",
               package_rows()),
        "## Machine",
        _table("The machine that built this book.", "tab-build-machine", "| | |",
               machine_rows()),
    ]) + "\n"
    path = layout.executed_dir / RECORD_NAME
    path.write_text(text)
    return path


# The theme's download menu: the executed .ipynb item (sphinx-book-theme 1.x markup), and
# the .py that the `live_note`'s {download} link made Sphinx copy into _downloads/.
IPYNB_ITEM = re.compile(r'<li><a href="[^"]+\.ipynb"[^>]*?btn-download-source-button.*?</li>',
                        re.S)
PY_ITEM = """
      <li><a href="{href}" download
   class="btn btn-sm btn-download-py-button dropdown-item"
   title="Download the source: a Jupytext notebook (.py)"
   data-bs-placement="left" data-bs-toggle="tooltip"
>
<span class="btn__icon-container"><i class="fas fa-code"></i></span>
<span class="btn__text-container">.py</span>
</a>
</li>"""


def add_py_downloads(html_dir: Path, chapters: list[str]) -> None:
    """Add the chapter's ``.py`` source to the download menu of its page (after .ipynb)."""
    for stem in chapters:
        page = html_dir / TOC_PREFIX / f"{stem}.html"
        text = page.read_text()
        link = re.search(rf'href="([^"]*_downloads/[^"]*/{re.escape(stem)}\.py)"', text)
        item = IPYNB_ITEM.search(text)
        if link is None or item is None:
            what = "the .py download link" if link is None else "the theme's .ipynb menu item"
            raise BuildError(f"{rel(page)} lacks {what}; cannot add the .py to its menu")
        ipynb = item.group(0).replace('title="Download source file"',
                                      'title="Download the executed notebook (.ipynb)"')
        page.write_text(text[: item.start()] + ipynb + PY_ITEM.format(href=link.group(1))
                        + text[item.end():])


def toc_chapters() -> list[str]:
    """The executed-notebook stems that ``_toc.yml`` lists, in order."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files: list[str] = [toc["root"]] if isinstance(toc.get("root"), str) else []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return [
        f.removeprefix(TOC_PREFIX).removesuffix(".ipynb") for f in files if f.startswith(TOC_PREFIX)
    ]


def check_toc(notebooks: list[Path], layout: Layout, profile: str) -> list[str]:
    """Check ``_toc.yml`` against the notebooks and executed copies; return chapter stems.

    A notebook missing from the toc would be silently left out of the book
    (``only_build_toc_files``); a toc entry without an executed copy would be a broken page.
    """
    chapters = toc_chapters()
    missing = [p.stem for p in notebooks if p.stem not in chapters]
    if missing:
        raise BuildError(f"_toc.yml does not list {', '.join(TOC_PREFIX + m for m in missing)}")
    sources = {p.stem: p for p in notebooks}
    for stem in chapters:
        check_executed(stem, layout, sources.get(stem), profile)
    return chapters


def run_jupyter_book(layout: Layout, strict: bool) -> Path:
    """Build the HTML into the staging folder; return its ``html`` directory."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(REPO)]
    cmd += ["--path-output", str(layout.staging_dir), "--builder", "html"]
    if strict:
        cmd += ["--warningiserror", "--keep-going"]
    log = layout.build_dir / "jupyter-book.log"
    layout.build_dir.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        proc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        warnings = [
            ln.strip()
            for ln in ANSI.sub("", log.read_text(errors="replace")).splitlines()
            if "WARNING" in ln or "ERROR" in ln
        ]
        detail = f"; first problem: {warnings[0]}" if warnings else ""
        raise BuildError(
            f"jupyter-book build failed (exit {proc.returncode}){detail}\n"
            f"{PREFIX} full log: {rel(log)}"
        )
    return layout.staging_dir / "_build" / "html"


def check_html(html: Path, chapters: list[str]) -> None:
    """Every chapter page exists and no page loads a script or style from a CDN."""
    missing = [c for c in chapters if not (html / TOC_PREFIX / f"{c}.html").is_file()]
    if not (html / "index.html").is_file():
        missing.insert(0, "index")
    if missing:
        raise BuildError(f"built HTML lacks pages for {', '.join(missing)} in {rel(html)}")
    for page in html.rglob("*.html"):
        if "_static" in page.parts:
            continue
        match = CDN_PATTERN.search(page.read_text(errors="replace"))
        if match:
            raise BuildError(f"{rel(page)} loads from a CDN ({match.group(0)}...): not offline")


def publish(staged_html: Path, layout: Layout, info: dict[str, object]) -> None:
    """Replace ``_build/html`` by the staged build and write ``build_info.json`` in it."""
    (staged_html / "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    old = layout.build_dir / "html.old"
    shutil.rmtree(old, ignore_errors=True)
    if layout.html_dir.exists():
        layout.html_dir.rename(old)
    staged_html.rename(layout.html_dir)
    shutil.rmtree(old, ignore_errors=True)


def unpublish(layout: Layout) -> None:
    """Remove the published HTML so that a failed build never looks like a fresh one."""
    shutil.rmtree(layout.html_dir, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description="Execute the notebooks with papermill and build the Jupyter Book."
    )
    parser.add_argument("--profile", choices=PROFILES, default="cpu", help="run size")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="execute only these")
    parser.add_argument(
        "--skip-execute", action="store_true", help="reuse the executed copies as they are"
    )
    parser.add_argument(
        "--execute-only", action="store_true", help="execute the notebooks, build no HTML"
    )
    parser.add_argument(
        "--notebooks-dir", type=Path, default=REPO / "notebooks", help="notebook sources"
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=BOOK,
        help="holds executed/ and _build/html (HTML needs the default, which _toc.yml lists)",
    )
    parser.add_argument(
        "--allow-warnings", action="store_true", help="do not fail on Sphinx warnings"
    )
    return parser.parse_args(argv)


def command_line(args: argparse.Namespace) -> str:
    """The build command as the build page shows it (no paths of this machine)."""
    parts = ["python book/build.py", f"--profile {args.profile}"]
    if args.skip_execute:
        parts.append("--skip-execute")
    elif args.only:
        parts.append("--only " + " ".join(Path(n).name.removesuffix(".py") for n in args.only))
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run the build; return the process exit status (0 on success)."""
    args = parse_args(argv)
    layout = Layout(args.notebooks_dir.resolve(), args.output_dir.resolve())
    logging.getLogger("papermill").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    try:  # usage errors: report them, but leave the published book alone
        notebooks = discover(layout.notebooks_dir, None)
        to_run = [] if args.skip_execute else discover(layout.notebooks_dir, args.only)
    except BuildError as err:
        print(f"{PREFIX} {err}", file=sys.stderr)
        return 2
    try:
        timings_path = layout.executed_dir / "timings.json"
        timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
        if to_run:
            ensure_kernel()
            parameters = {
                "profile": args.profile,
                # None: the kernel inherits NEGLR_DATA and the data layer reads it, so the
                # published parameters cell shows no path of the machine that built them.
                "data_root": None,
                "device": "auto",
                # None: the profile's own results folder (results/cpu, results/paper,
                # runs/smoke), relative to the repository root.
                "results_dir": None,
                "seeds": None,  # each dataset profile's own seeds
            }
            print(f"{PREFIX} executing {len(to_run)} notebook(s), profile={args.profile}")
            for i, nb in enumerate(to_run, 1):
                print(f"  [{i}/{len(to_run)}] {rel(nb)} running", flush=True)
                seconds = execute(nb, layout, parameters, f"[{i}/{len(to_run)}] {nb.stem}")
                timings[nb.stem] = round(seconds, 2)
                timings_path.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")
                print(f"  [{i}/{len(to_run)}] {rel(nb)} done in {seconds:.1f} s", flush=True)
        t_exec = time.perf_counter() - t0
        if args.execute_only:
            print(f"{PREFIX} executed in {t_exec:.1f} s (no HTML: --execute-only)")
            return 0
        if layout.executed_dir != BOOK / "executed":
            raise BuildError(
                f"HTML needs --output-dir {rel(BOOK)} (_toc.yml lists {TOC_PREFIX}); "
                "use --execute-only with another output dir"
            )
        chapters = check_toc(notebooks, layout, args.profile)
        for stem in chapters:
            add_live_note(layout.executed_dir / f"{stem}.ipynb")
        write_build_record(chapters, layout, command=command_line(args),
                           executed_now={nb.stem for nb in to_run})
        fetch_assets.fetch()
        t1 = time.perf_counter()
        print(f"{PREFIX} building the HTML (jupyter-book)", flush=True)
        staged = run_jupyter_book(layout, strict=not args.allow_warnings)
        add_py_downloads(staged, chapters)
        check_html(staged, chapters)
        t_book = time.perf_counter() - t1
        publish(
            staged,
            layout,
            {
                "profile": args.profile,
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "execution_seconds": timings,
                "jupyter_book_seconds": round(t_book, 2),
            },
        )
    except (BuildError, fetch_assets.AssetError) as err:
        print(f"{PREFIX} {err}", file=sys.stderr, flush=True)
        unpublish(layout)
        print(f"{PREFIX} nothing published ({rel(layout.html_dir)} removed)", file=sys.stderr)
        return 1
    total = time.perf_counter() - t0
    print(f"{PREFIX} execution {t_exec:.1f} s, jupyter-book {t_book:.1f} s, total {total:.1f} s")
    print(f"{PREFIX} open {rel(layout.html_dir / 'index.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
