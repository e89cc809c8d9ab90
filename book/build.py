"""Execute the book's notebooks with papermill, then build the HTML with Jupyter Book.

The notebooks ``notebooks/NN_name.py`` (Jupytext percent format) are the source of
truth. Each is executed in order with papermill, with the parameters ``profile``,
``data_root``, ``device``, ``results_dir`` and ``seeds`` injected, into
``book/executed/NN_name.ipynb`` (never into ``notebooks/``: a later ``jupytext --sync``
would copy the injected parameters back into the source). The first failing cell stops
the build: one line names the notebook, the cell and the error, the partial copy is kept
as ``book/executed/NN_name.failed.ipynb``, and nothing is published (``book/_build/html``
is removed). Then the offline web assets are fetched if missing (``book/fetch_assets.py``)
and ``jupyter-book build`` runs with ``execute_notebooks: "off"`` into a staging folder,
which replaces ``book/_build/html`` only when the build succeeded, Sphinx raised no
warning, and every chapter page exists.

Usage::

    python book/build.py --profile smoke            # execute all notebooks, build HTML
    python book/build.py --only 02_maml             # re-execute one, reuse the others
    python book/build.py --skip-execute             # rebuild HTML from executed copies

While a notebook runs, the terminal shows its progress bars (which run or probe, the
iteration, elapsed time, ETA): the package draws text bars in a kernel that has
``NEGLR_PROGRESS=text`` (set here), and papermill hands the kernel's stderr to
`KernelLines`, which prints each bar's state at most every ``TQDM_MININTERVAL`` seconds.
A cell that gives no reply for the book profile's ``cell_timeout_s`` (a kernel that
stopped answering under heavy load, seen here once in a while) is executed once more.

Every executed copy gets a note after its first cell (`add_live_note`): download links
for the executed ``.ipynb`` and the ``.py`` source, and how to open the chapter live
(``make lab``). ``book/how_built.md`` includes ``book/executed/build_record.md``, written
before each HTML build (``book/record.py``). Per-notebook execution times go to
``book/executed/timings.json`` ({name: seconds}) for the methods page, and a
``build_info.json`` lands beside the HTML.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml
from nbclient.exceptions import CellTimeoutError

from neglr_utils.progress import TEXT_ENV
from neglr_utils.runs.profiles import STUDIES, get_study
from neglr_utils.runs.runtime import free_cores

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
sys.path.insert(0, str(BOOK))
import fetch_assets  # noqa: E402  (sibling scripts, importable once book/ is on sys.path)
from record import write_build_record  # noqa: E402

KERNEL_NAME = "python3"
NOTEBOOK_GLOB = "[0-9][0-9]_*.py"
TOC_PREFIX = "book/executed/"
CDN_PATTERN = re.compile(
    r"""(?:src|href)=["'](?:https?:)?//(?:cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com)"""
)
PREFIX = "make book:"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BAR_EVERY_S = 10  # the kernel's tqdm bars print at most this often (TQDM_MININTERVAL)


class BuildError(RuntimeError):
    """A build step failed; the message is the one line shown to the user."""


class KernelLines:
    """papermill's ``stdout_file`` / ``stderr_file``: the kernel's output, one state per
    line (a tqdm bar rewrites its line with ``\\r``; only the latest state is printed)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def write(self, text: str) -> None:
        for line in text.split("\n"):
            state = line.rsplit("\r", 1)[-1].strip()
            if state:
                print(f"      {self.label}: {state}", flush=True)

    def flush(self) -> None:
        """Nothing is buffered."""


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


def kernel_env() -> None:
    """The next kernel's environment: the cores free now as its threads
    (``OMP_NUM_THREADS``; ``NEGLR_THREADS`` overrides: on a 2-core machine beside a busy
    process torch's default two spinning threads ran 3.4x slower, one thread as fast as
    idle, benchmarks/results/cpu2-threads.json), and text progress bars."""
    chosen = os.environ.get("NEGLR_THREADS", "")
    os.environ["OMP_NUM_THREADS"] = chosen if chosen.isdigit() else str(free_cores())
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    os.environ[TEXT_ENV] = "text"
    os.environ["TQDM_MININTERVAL"] = str(BAR_EVERY_S)


def execute(notebook: Path, layout: Layout, parameters: dict[str, object], timeout: int,
            label: str = "") -> float:
    """Execute one notebook with papermill into ``executed/NN_name.ipynb``; return seconds.

    Its progress bars print while it runs, prefixed by ``label``. A cell with no reply for
    ``timeout`` seconds makes one more attempt at the whole notebook. On failure the
    partial copy is renamed ``NN_name.failed.ipynb``, any older good copy is removed (so
    ``--skip-execute`` cannot republish it) and `BuildError` is raised.
    """
    layout.executed_dir.mkdir(parents=True, exist_ok=True)
    final = layout.executed_dir / f"{notebook.stem}.ipynb"
    running = layout.executed_dir / f"{notebook.stem}.running.ipynb"
    failed = layout.executed_dir / f"{notebook.stem}.failed.ipynb"
    nb = jupytext.read(notebook)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    kernel_env()
    lines = KernelLines(label or notebook.stem)
    start = time.perf_counter()
    for attempt in (1, 2):
        try:
            papermill.execute_notebook(nb, str(running), parameters=parameters,
                                       kernel_name=KERNEL_NAME, cwd=str(REPO),
                                       progress_bar=False, execution_timeout=timeout,
                                       stdout_file=lines, stderr_file=lines)
            break
        except CellTimeoutError as err:
            if attempt == 2:
                raise _failure(notebook, final, running, failed, err) from err
            print(f"{PREFIX} {rel(notebook)}: a cell gave no reply for {timeout} s; "
                  "executing the notebook once more", flush=True)
        except papermill.PapermillExecutionError as err:
            final.unlink(missing_ok=True)
            running.replace(failed)
            cell, n_cells = describe_failure(err, failed)
            where = "the injected parameters" if cell == 0 else f"cell {cell}"
            raise BuildError(
                f"notebook {rel(notebook)} failed at {where} of {n_cells} "
                f"({_first_line(err.source)}): {err.ename}: "
                f"{_first_line(str(err.evalue), 200)}\n"
                f"{PREFIX} partial executed copy: {rel(failed)}") from err
        except Exception as err:  # kernel died, could not start, ...: same contract
            raise _failure(notebook, final, running, failed, err) from err
    seconds = time.perf_counter() - start
    hide_default_parameters(running)
    figure_alt_text(running)
    relative_paths(running, notebook, final)
    running.replace(final)
    failed.unlink(missing_ok=True)
    return seconds


def _failure(notebook: Path, final: Path, running: Path, failed: Path, err: Exception
             ) -> BuildError:
    """Keep the partial copy as ``.failed.ipynb`` and say what happened, in one line."""
    final.unlink(missing_ok=True)
    if running.exists():
        running.replace(failed)
    return BuildError(
        f"notebook {rel(notebook)} failed: {type(err).__name__}: {_first_line(str(err), 200)}"
        + (f"\n{PREFIX} partial executed copy: {rel(failed)}" if failed.exists() else ""))


def hide_default_parameters(path: Path) -> None:
    """Tag the notebook's own ``parameters`` cell ``remove-cell`` in the executed copy and
    fold papermill's injected cell (``hide-cell``).

    The page then shows only the values that actually ran, folded, not the defaults they
    overrode.
    """
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if "injected-parameters" in tags and "hide-cell" not in tags:
            tags.append("hide-cell")
    nbformat.write(nb, path)


def figure_alt_text(path: Path) -> None:
    """Give each figure's image its caption as alt text (``mystnb.image.alt``), unless the
    cell sets one: myst-nb's default alt text is the image's file path."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        mystnb = cell.metadata.get("mystnb", {})
        caption = mystnb.get("figure", {}).get("caption")
        if caption and "alt" not in mystnb.get("image", {}):  # math read as plain text
            mystnb.setdefault("image", {})["alt"] = re.sub(r"[$\\]", "", caption)
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


def live_note(stem: str, profile: str) -> str:
    """The note every chapter shows after its first cell: downloads, and how to run it."""
    return f"""\
:::{{admonition}} This chapter as files, and live
:class: tip

Download the {{download}}`executed notebook <{stem}.ipynb>` (this page, with its outputs)
or its {{download}}`source <../../notebooks/{stem}.py>` (a Jupytext notebook, the file to
edit). To run it live, with working
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
    parser.add_argument("--profile", choices=sorted(STUDIES), default="cpu",
                        help="the book profile (its datasets and runs)")
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
                seconds = execute(nb, layout, parameters, get_study(args.profile).cell_timeout_s,
                                  f"[{i}/{len(to_run)}] {nb.stem}")
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
        write_build_record(chapters, layout.executed_dir, command=command_line(args),
                           executed_now={nb.stem for nb in to_run})
        fetch_assets.fetch()
        t1 = time.perf_counter()
        print(f"{PREFIX} building the HTML (jupyter-book)", flush=True)
        staged = run_jupyter_book(layout, strict=not args.allow_warnings)
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
