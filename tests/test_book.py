"""End-to-end tests of the book build (``book/build.py``): slow, they execute notebooks.

One session fixture copies the checkout into a temporary folder and runs
``book/build.py --profile smoke`` there (the user's ``book/`` is never touched), then the
tests check that every chapter page exists, that no
page shows a traceback, and, in headless Chromium from ``file://`` with no network, that
each page paints, that MathJax typesets math and that saved ipywidgets render (the
assets come from ``book/_offline``, not from CDNs).

The build's own additions are checked too: each chapter links its executed ``.ipynb``
and its ``.py`` source and says how to open it live (``make lab``); the page
``book/how_built`` records every chapter's execution (papermill's metadata), the package
versions and the machine; and, with a notebook of its own, the terminal shows the
kernel's progress bars while the build executes it.

What the math/widget test relies on: at least one chapter has display math and one shows
an ipywidgets widget (today ``notebooks/05_explorer.py``: an equation and an
``IntSlider``). The test finds such pages itself and fails if there are none.

Chromium comes from ``scripts/install_system.sh``. Without it the browser tests skip,
except when the environment variable ``CI`` is set: then they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from neglr_utils.runs.profiles import STUDIES

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "book" / "build.py"
HTML = REPO / "book" / "_build" / "html"
# The copy the book is built in: the checkout without its environment, git and outputs.
SKIP_TOP = {".venv", ".git", "runs", ".cache", ".pytest_cache", ".ruff_cache"}
SKIP_BOOK = {"_build", "executed"}
BUILD_TIMEOUT_S = int(os.environ.get("NEGLR_BOOK_TIMEOUT", "3600"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
    "--window-size=1280,2000",
]

pytestmark = pytest.mark.slow


def toc_pages() -> list[str]:
    """Every page ``_toc.yml`` lists (root first), as paths without suffix."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                pages.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return pages


PAGES = toc_pages()
CHAPTERS = [p for p in PAGES if p.startswith("book/executed/")]


_BUILD_RESULT: dict[str, subprocess.CompletedProcess[str]] = {}


def _skip(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out: the environment, git, scratch runs, the book's outputs
    (the offline web assets in book/_offline are kept: no second download)."""
    here = Path(folder).resolve()
    if here == REPO:
        return SKIP_TOP & set(names)
    if here == REPO / "book":
        return SKIP_BOOK & set(names)
    return {n for n in names if n == "__pycache__"}


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout to build the book in."""
    copy = tmp_path_factory.mktemp("book") / "repo"
    shutil.copytree(REPO, copy, ignore=_skip, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def built_book(real_data_root: Path, checkout: Path) -> Path:
    """Run the smoke build once in the copy; return its HTML folder. Fails with the
    build's output.

    The chapters train and probe on real Omniglot, so without a data root this skips (and
    fails under NEGLR_REQUIRE_DATA=1, as in CI) like every other real-data test.

    A failed build is remembered, so the tests that need the book fail at once instead
    of each running the whole build again.
    """
    html = checkout / "book" / "_build" / "html"
    if "proc" in _BUILD_RESULT:
        proc = _BUILD_RESULT["proc"]
        assert proc.returncode == 0, f"book build failed (see the first failure):\n{proc.stderr}"
        return html
    _BUILD_RESULT["proc"] = proc = subprocess.run(
        [sys.executable, str(checkout / "book" / "build.py"), "--profile", "smoke"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout}\n{proc.stderr}"
    return html


def executed(html: Path) -> Path:
    """The executed notebooks of a built book (``book/executed`` beside ``_build/html``)."""
    return html.parents[1] / "executed"


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory):
    """A function ``(url, *flags) -> CompletedProcess`` running headless Chromium."""
    exe = shutil.which("chromium")
    if exe is None:
        reason = "chromium not on PATH (run scripts/install_system.sh)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the browser checks")
        pytest.skip(reason)

    def run(url: str, *flags: str) -> subprocess.CompletedProcess[str]:
        profile = tmp_path_factory.mktemp("chromium-profile")
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    return run


def page_url(html: Path, page: str) -> str:
    return (html / f"{page}.html").as_uri()


def test_pages_exist(built_book: Path) -> None:
    assert (built_book / "index.html").is_file()
    for page in PAGES:
        assert (built_book / f"{page}.html").is_file(), f"missing page {page}.html"
    for chapter in CHAPTERS:
        assert (executed(built_book) / f"{Path(chapter).name}.ipynb").is_file()
    assert (executed(built_book) / "timings.json").is_file()
    assert not (REPO / "book" / "executed" / "timings.json").exists() or (
        (REPO / "book" / "executed" / "timings.json").stat().st_mtime
        < (executed(built_book) / "timings.json").stat().st_mtime), "built into the checkout"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_errors_in_chapter(built_book: Path, chapter: str) -> None:
    """No error output in the executed notebook, no traceback on its page."""
    nb = nbformat.read(executed(built_book) / f"{Path(chapter).name}.ipynb", as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"cell {i}: {out.get('ename')}"
            if out.output_type == "stream" and out.name == "stderr":
                assert "Traceback" not in out.text, f"cell {i} stderr:\n{out.text}"
    html = (built_book / f"{chapter}.html").read_text()
    assert "Traceback (most recent call last)" not in html
    assert not re.search(r'class="[^"]*\b(output_error|traceback)\b', html)


@pytest.mark.parametrize("page", PAGES)
def test_screenshot_not_blank(built_book: Path, chromium, tmp_path: Path, page: str) -> None:
    """The page paints: >1% non-white pixels overall and in the content column."""
    from PIL import Image

    png = tmp_path / "page.png"
    proc = chromium(page_url(built_book, page), f"--screenshot={png}")
    assert png.is_file(), f"no screenshot of {page}: {proc.stderr[-2000:]}"
    gray = Image.open(png).convert("L")

    def ink(box: tuple[int, int, int, int]) -> float:
        hist = gray.crop(box).histogram()
        return sum(hist[:245]) / sum(hist)

    width, height = gray.size
    assert ink((0, 0, width, height)) > 0.01, f"{page} looks blank"
    assert ink((260, 130, min(width, 1000), height)) > 0.01, f"{page}: empty content column"


def _pages_with(built_book: Path, marker: str) -> list[str]:
    return [c for c in CHAPTERS if marker in (built_book / f"{c}.html").read_text()]


def test_math_renders_offline(built_book: Path, chromium) -> None:
    """MathJax (from _static/mathjax) replaces the TeX source by mjx-container elements."""
    pages = _pages_with(built_book, 'class="math')
    assert pages, "no chapter has math; 08_explorer is expected to show an equation"
    for page in pages:
        html = (built_book / f"{page}.html").read_text()
        assert "<mjx-container" not in html  # so that the DOM check below proves JS ran
        dom = chromium(page_url(built_book, page), "--dump-dom").stdout
        assert "<mjx-container" in dom, f"MathJax did not typeset {page}"


def test_widgets_render_offline(built_book: Path, chromium) -> None:
    """The html-manager (from _static/html-manager) renders saved widget state."""
    pages = _pages_with(built_book, "application/vnd.jupyter.widget-state+json")
    assert pages, "no chapter has a widget; 08_explorer is expected to show a slider"
    widget = re.compile(r'class="[^"]*\bjupyter-widgets\b[^"]*"')
    for page in pages:
        assert not widget.search((built_book / f"{page}.html").read_text())
        dom = chromium(page_url(built_book, page), "--dump-dom").stdout
        assert widget.search(dom), f"no rendered widget in {page}"
    explorer = "book/executed/08_explorer"
    if explorer in pages:
        dom = chromium(page_url(built_book, explorer), "--dump-dom").stdout
        assert re.search(r'class="[^"]*\bwidget-slider\b', dom), "08_explorer: no slider"


def test_pages_show_no_machine_path(built_book: Path) -> None:
    """Published pages name neither the repository's folder nor the data root."""
    paths = [str(REPO.resolve()), str(built_book.parents[2].resolve())]
    if os.environ.get("NEGLR_DATA"):
        paths.append(str(Path(os.environ["NEGLR_DATA"]).resolve()))
    for page in CHAPTERS:
        html = (built_book / f"{page}.html").read_text()
        for path in paths:
            assert path not in html, f"{page}.html shows {path}"


def test_no_cdn_in_pages(built_book: Path) -> None:
    """No page loads a script or stylesheet from a CDN (the book must work offline)."""
    cdn = re.compile(r"""(src|href)=["'](https?:)?//(cdn\.jsdelivr|unpkg\.com|cdnjs)""")
    for page in PAGES:
        assert not cdn.search((built_book / f"{page}.html").read_text()), page


FAILING_NOTEBOOK = textwrap.dedent(
    """\
    # %% tags=["parameters"]
    profile = "cpu"

    # %%
    x = 1
    raise ValueError("boom from cell two")

    # %%
    print("never reached")
    """
)


def test_failing_notebook_stops_build(tmp_path: Path) -> None:
    """A notebook raising in cell 2: non-zero exit, one line naming it, nothing published."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01_ok.py").write_text('# %% tags=["parameters"]\nprofile = "cpu"\n')
    (notebooks / "02_fails.py").write_text(FAILING_NOTEBOOK)
    out = tmp_path / "out"
    stale = out / "_build" / "html" / "index.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("an older build")
    real_index = HTML / "index.html"
    real_mtime = real_index.stat().st_mtime if real_index.exists() else None

    proc = subprocess.run(
        [sys.executable, str(BUILD), "--profile", "smoke", "--notebooks-dir", str(notebooks)]
        + ["--output-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode != 0
    line = next((ln for ln in proc.stderr.splitlines() if "02_fails.py failed" in ln), proc.stderr)
    assert line.startswith("make book: notebook "), line
    assert "failed at cell 2 " in line, line
    assert 'raise ValueError("boom from cell two")' not in line  # first line only
    assert "(x = 1)" in line, line
    assert "ValueError: boom from cell two" in line, line
    assert (out / "executed" / "02_fails.failed.ipynb").is_file()
    assert "02_fails.failed.ipynb" in proc.stderr
    assert not (out / "executed" / "02_fails.ipynb").exists()
    assert (out / "executed" / "01_ok.ipynb").is_file()
    assert not (out / "_build" / "html").exists(), "a failed build left HTML published"
    if real_mtime is not None:
        assert real_index.stat().st_mtime == real_mtime, "the test touched the real book"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_offers_ipynb_and_py(built_book: Path, chapter: str) -> None:
    """The page links its executed notebook and its source and says how to open it live
    (make lab)."""
    page = built_book / f"{chapter}.html"
    html = page.read_text()
    stem = Path(chapter).name
    links = {Path(h).name: h for h in re.findall(r'href="([^"]*_downloads/[^"]+)"', html)}
    assert {f"{stem}.ipynb", f"{stem}.py"} <= set(links), links
    ipynb = (page.parent / links[f"{stem}.ipynb"]).resolve()
    source = (page.parent / links[f"{stem}.py"]).resolve()
    notebook = nbformat.read(ipynb, as_version=4)
    assert notebook.metadata["papermill"]["parameters"]["profile"] == STUDIES["smoke"].name
    assert source.read_bytes() == (REPO / "notebooks" / f"{stem}.py").read_bytes()
    text = re.sub(r"<[^>]+>", "", html)
    assert "make lab" in text and f"notebooks/{stem}.py" in text


def test_build_page_records_each_chapter(built_book: Path) -> None:
    """book/how_built lists every chapter with its execution time and parameters, the
    package versions and the machine."""
    import html as html_module
    from importlib import metadata

    html = (built_book / "book" / "how_built.html").read_text()
    table = re.search(r'id="tab-build-chapters".*?</table>', html, re.S)
    assert table, "the build page has no table of chapters"
    for chapter in CHAPTERS:
        stem = Path(chapter).name
        row = re.search(rf'href="executed/{stem}.html.*?</tr>', table.group(0), re.S)
        assert row, f"the build page has no row for {stem}"
        meta = nbformat.read(executed(built_book) / f"{stem}.ipynb",
                             as_version=4).metadata["papermill"]
        text = html_module.unescape(re.sub(r"<[^>]+>", "", row.group(0)))
        assert "profile='smoke'" in text, text
        assert meta["start_time"][:10] in text, text
        assert f"{meta['duration']:.1f} s" in text or " min " in text, text
    assert f"<td><p>{metadata.version('torch')}</p></td>" in html
    assert "Operating system" in html and "CPU" in html and "GPU" in html
    assert str(REPO.resolve()) not in html and str(built_book.parents[2]) not in html


PROGRESS_NOTEBOOK = textwrap.dedent(
    """\
    # %% tags=["parameters"]
    profile = "cpu"

    # %%
    import time
    from neglr_utils.progress import tqdm
    for _ in tqdm(range(8), desc="demo run"):
        time.sleep(0.2)
    """
)


def test_progress_shows_while_a_notebook_runs(tmp_path: Path, capsys, monkeypatch) -> None:
    """The package's progress bar in the kernel (text, as the build asks) reaches the
    terminal through papermill, labelled with the notebook."""
    monkeypatch.syspath_prepend(str(REPO / "book"))
    import build

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01_progress.py").write_text(PROGRESS_NOTEBOOK)
    status = build.main(["--profile", "smoke", "--notebooks-dir", str(notebooks),
                         "--output-dir", str(tmp_path / "out"), "--execute-only"])
    out = capsys.readouterr().out
    assert status == 0, out
    bar = [ln for ln in out.splitlines() if "[1/1] 01_progress: demo run:" in ln]
    assert bar and re.search(r"demo run: 100%.* 8/8 \[", bar[-1]), out


def test_kernel_lines_print_the_last_state_of_each_line(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "book"))
    import build

    lines = build.KernelLines("[1/1] x")
    monkeypatch.setattr("builtins.print", lambda text, **_: printed.append(text))
    printed: list[str] = []
    lines.write("\rrun:  50%|#####     | 5/10\rrun: 100%|##########| 10/10\nwarning\n")
    assert printed == ["      [1/1] x: run: 100%|##########| 10/10", "      [1/1] x: warning"]


def figure_alts(html: str) -> list[str]:
    """The alt text of every image inside a numbered figure of a page."""
    return [alt for block in re.findall(r"<figure\b.*?</figure>", html, flags=re.S)
            for alt in re.findall(r'<img\b[^>]*\balt="([^"]*)"', block)]


def test_figures_have_alt_text_not_a_path(built_book: Path) -> None:
    """A figure's image has a description (the build copies its caption), not its path."""
    alts = [a for chapter in CHAPTERS
            for a in figure_alts((built_book / f"{chapter}.html").read_text())]
    assert alts, "no figure found in any chapter"
    bad = [a for a in alts if not a.strip() or a.endswith((".png", ".svg", ".jpg"))]
    assert not bad, f"{len(bad)} of {len(alts)} figures have a path as alt text: {bad[:2]}"


def test_figure_alt_text_keeps_a_cell_own(tmp_path: Path, monkeypatch) -> None:
    """The build copies a figure's caption to its alt text, unless the cell sets one."""
    monkeypatch.syspath_prepend(str(REPO / "book"))
    import build

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("1", metadata={"mystnb": {"figure": {"caption": "A plot."}}}),
        nbformat.v4.new_code_cell("2", metadata={"mystnb": {
            "figure": {"caption": "Long."}, "image": {"alt": "Own."}}}),
        nbformat.v4.new_code_cell("3"),
        nbformat.v4.new_code_cell("4", metadata={"mystnb": {"figure": {
            "caption": r"Loss against $\alpha_t$."}}})])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    build.figure_alt_text(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].metadata["mystnb"]["image"]["alt"] == "A plot."
    assert cells[1].metadata["mystnb"]["image"]["alt"] == "Own."
    assert "mystnb" not in cells[2].metadata
    assert cells[3].metadata["mystnb"]["image"]["alt"] == "Loss against alpha_t."
