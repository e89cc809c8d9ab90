"""The explorer in a real JupyterLab, driven by headless Chromium (slow, needs real data).

``scripts/lab.py`` (what ``make lab`` runs) starts JupyterLab on a free local port with no
token; Playwright for Python drives Debian's ``chromium`` (``executable_path``: no
browser download). The test opens ``notebooks/08_explorer.py``, which must open as a
notebook by default (the settings override in the environment, not the user's settings),
adds a cell after the ``parameters`` cell with the smoke profile's values (as papermill
injects them; the notebook's default stays ``cpu``), runs all cells from the Run menu,
drags the ``conv1`` slider of the live explorer to its left end and reads the explorer's
table from the page: Meta-SGD's probe numbers must change, MAML's must not (only the
algorithm whose setting changed is recomputed).

Bounded in time (``NEGLR_LAB_TIMEOUT`` seconds, default 300, for server start, notebook
run and slider); it stops the server and its kernels itself, leaves the notebook file
untouched (autosave is off in the test's own settings folder), and on failure saves a
screenshot and the server log (to ``NEGLR_LAB_ARTIFACTS`` or the test's tmp folder; the
path is in the failure message). A screenshot of the moved slider is saved either way.

Chromium comes from ``scripts/install_system.sh``, Playwright from the ``dev`` extra;
without them the test skips, except when ``CI`` is set: then it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "scripts" / "lab.py"
NOTEBOOK = "notebooks/08_explorer.py"
SMOKE_PARAMETERS = 'profile = "smoke"\nseeds = [0]'
SMOKE_PAIRS = 10  # 08_explorer's EXPLORER_SIZES["smoke"]: the status line names them
SLIDER = "conv1"
MOVE_TIMEOUT_S = 30  # one recompute at smoke size takes well under a second here
TIMEOUT_S = float(os.environ.get("NEGLR_LAB_TIMEOUT", "300"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# The test's own user settings: no autosave (the notebook must stay as it is on disk), no
# news or update checks (offline).
USER_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}

pytestmark = pytest.mark.slow


class Deadline:
    """One time budget for the whole test; every wait gets what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the lab test ran past its {TIMEOUT_S:.0f} s budget "
                               "(NEGLR_LAB_TIMEOUT)")
        return left

    def ms(self) -> float:
        return 1000 * self.left()


def _require(what: str, ok: bool, hint: str) -> None:
    if ok:
        return
    reason = f"{what} missing ({hint})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser test")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's chromium (scripts/install_system.sh) and Playwright's Python package."""
    exe = shutil.which("chromium")
    _require("chromium", exe is not None, "run scripts/install_system.sh")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require("playwright", False, "pip install the dev extra: make install")
    return str(exe)


@pytest.fixture(scope="module")
def smoke_runs(real_data_root: Path) -> None:
    """The smoke runs the explorer loads (runs/smoke; about a minute when missing)."""
    from neglr_utils.runs.study import prepare

    prepare("smoke", [0], data_root=str(real_data_root), device="cpu", progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: its URL, its process and its log file."""

    url: str
    proc: subprocess.Popen
    log: Path

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def _wait_ready(lab: Lab, deadline: Deadline) -> None:
    while True:
        if lab.proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({lab.proc.returncode}):\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        deadline.left()
        time.sleep(0.5)


def _stop(lab: Lab) -> None:
    """Shut the server down through its API (it stops its kernels), then make sure."""
    import psutil

    try:
        family = psutil.Process(lab.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    try:
        req = urllib.request.Request(f"{lab.url}/api/shutdown", method="POST")
        urllib.request.urlopen(req, timeout=5).close()
        lab.proc.wait(timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        lab.proc.terminate()
        try:
            lab.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lab.proc.kill()
            lab.proc.wait(timeout=10)
    for child in family:  # kernels run in sessions of their own
        try:
            child.wait(timeout=5)
        except psutil.TimeoutExpired:
            child.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture
def lab(tmp_path: Path, smoke_runs: None, chromium_path: str) -> Iterator[Lab]:
    """JupyterLab through scripts/lab.py on a free port, no token, isolated user settings."""
    settings = tmp_path / "user-settings"
    for name, values in USER_SETTINGS.items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.setdefault("OMP_NUM_THREADS", "1")
    port = _free_port()
    log = tmp_path / "jupyterlab.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, str(LAB), "--port", str(port), "--no-browser", "--no-token",
             "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"],
            cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", proc, log)
    checkpoints = REPO / Path(NOTEBOOK).parent / ".ipynb_checkpoints"  # JupyterLab's
    had_checkpoints = checkpoints.exists()
    try:
        _wait_ready(server, Deadline(60))
        yield server
    finally:
        _stop(server)
        if not had_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)


# JavaScript run in the page (window.jupyterapp: --LabApp.expose_app_in_browser).
KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session
    && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
INJECT = """(source) => {
  const model = window.jupyterapp.shell.currentWidget.content.model.sharedModel;
  const i = model.cells.findIndex(c => (c.getMetadata('tags') || []).includes('parameters'));
  if (i < 0) { return 'no cell tagged parameters'; }
  model.insertCell(i + 1, {cell_type: 'code', source: source,
                           metadata: {tags: ['injected-parameters']}});
  return model.cells.length;
}"""
RUN_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.model.sharedModel.cells.filter(c => c.cell_type === 'code');
  const errors = cells.flatMap(c => c.getOutputs()).filter(o => o.output_type === 'error');
  if (errors.length) { return 'error: ' + errors[0].ename + ': ' + errors[0].evalue; }
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const done = cells.every(c => c.execution_count !== null);
  return done && k && k.status === 'idle' ? 'done' : null;
}"""
TABLE_CHANGED = """(before) => {
  const t = [...document.querySelectorAll('.widget-output table')].pop();
  return !!t && t.innerText !== before;
}"""


def read_table(text: str) -> dict[str, dict[str, str]]:
    """The explorer's table (``point_table``) as shown: row -> {algo: "mean ± ci"}."""
    lines = [ln.split("\t") for ln in text.strip().splitlines()]
    algos = [a.strip() for a in lines[0] if a.strip()]
    return {cells[0].strip(): dict(zip(algos, (c.strip() for c in cells[1:]), strict=True))
            for cells in lines[1:]}


def run_explorer(page, lab: Lab, deadline: Deadline, shots: Path) -> dict[str, object]:
    """Open, run and move one slider; return what the page showed (see the module doc)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}", timeout=deadline.ms())
    page.wait_for_selector(".jp-NotebookPanel, .jp-FileEditor", timeout=deadline.ms())
    assert page.locator(".jp-FileEditor").count() == 0, (
        f"{NOTEBOOK} opened in the text editor: the default-viewer override is missing")
    page.wait_for_function(KERNEL_IDLE, timeout=deadline.ms())
    n_cells = page.evaluate(INJECT, SMOKE_PARAMETERS)
    assert isinstance(n_cells, int), n_cells

    page.click("li.lm-MenuBar-item:has-text('Run')", timeout=deadline.ms())
    page.click("li.lm-Menu-item:has-text('Run All Cells')", timeout=deadline.ms())
    t0 = time.monotonic()
    state = page.wait_for_function(RUN_STATE, timeout=deadline.ms(), polling=500).json_value()
    run_seconds = time.monotonic() - t0
    assert state == "done", f"running all cells failed: {state}"

    slider = page.locator(".widget-slider",
                          has=page.locator(".widget-label", has_text=f"{SLIDER} ×")).first
    slider.scroll_into_view_if_needed(timeout=deadline.ms())
    status = page.locator(".widget-label", has_text="task pairs").last
    assert f"({SMOKE_PAIRS} task pairs" in status.inner_text(), status.inner_text()
    table = page.locator(".widget-output table").last
    before_text = table.inner_text(timeout=deadline.ms())
    readout = slider.locator(".widget-readout")
    before_value = readout.inner_text()

    handle = slider.locator(".noUi-handle").bounding_box()
    track = slider.locator(".noUi-target").bounding_box()
    assert handle and track, "the slider has no visible handle"
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] - 20, y, steps=10)  # past the left end: the minimum
    page.mouse.up()
    t1 = time.monotonic()
    moved = (before_value, readout.inner_text())
    try:
        page.wait_for_function(TABLE_CHANGED, arg=before_text,
                               timeout=min(deadline.ms(), 1000 * MOVE_TIMEOUT_S))
    except PlaywrightTimeout as err:
        raise AssertionError(
            f"the explorer's table did not change within {MOVE_TIMEOUT_S} s of moving the "
            f"{SLIDER} slider from {moved[0]} to {moved[1]}; it still shows:\n{before_text}"
        ) from err
    move_seconds = time.monotonic() - t1
    page.locator(".jp-OutputArea-output", has=slider).scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "lab-explorer.png"))
    return {"before": read_table(before_text), "after": read_table(table.inner_text()),
            "value": moved, "status": status.inner_text(),
            "run_seconds": run_seconds, "move_seconds": move_seconds, "n_cells": n_cells}


def test_lab_settings_open_py_as_notebooks(tmp_path: Path) -> None:
    """scripts/lab.py writes the default-viewer override into the given prefix (idempotent)
    and starts kernels in the repository root."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("neglr_lab", LAB)
    lab_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab_script)
    path = lab_script.install_settings(tmp_path)
    assert path == tmp_path / "share/jupyter/lab/settings/overrides.d/neglr.json"
    viewers = json.loads(path.read_text())["@jupyterlab/docmanager-extension:plugin"]
    assert viewers["defaultViewers"]["python"] == "Jupytext Notebook"
    mtime = path.stat().st_mtime_ns
    lab_script.install_settings(tmp_path)
    assert path.stat().st_mtime_ns == mtime
    manager = lab_script.RepoRootKernelManager(root_dir=str(REPO / "notebooks"))
    assert manager.cwd_for_path("notebooks/08_explorer.py") == str(REPO)


def test_explorer_slider_in_jupyterlab(lab: Lab, chromium_path: str, tmp_path: Path) -> None:
    """Open the .py as a notebook, run it at smoke, move a slider, see the numbers change."""
    from playwright.sync_api import sync_playwright

    deadline = Deadline(TIMEOUT_S)
    shots = Path(os.environ.get("NEGLR_LAB_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    source = (REPO / NOTEBOOK).read_bytes()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS,
                                     timeout=deadline.ms())
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            seen = run_explorer(page, lab, deadline, shots)
        except Exception as err:
            shot = shots / "lab-failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True, timeout=10_000)
            except Exception as shot_err:  # the page may be gone; keep the first error
                shot = f"(no screenshot: {shot_err})"
            (shots / "lab-failure.log").write_text(lab.log.read_text(errors="replace"))
            raise AssertionError(f"{err}\nscreenshot: {shot}\nserver log: "
                                 f"{shots / 'lab-failure.log'}") from err
        finally:
            browser.close()

    print(f"lab test: all cells ran in {seen['run_seconds']:.1f} s, the table changed "
          f"{seen['move_seconds']:.1f} s after the slider moved {seen['value']}; "
          f"screenshot {shots / 'lab-explorer.png'}")
    before, after = seen["before"], seen["after"]
    assert seen["value"][0] == "1.00" and seen["value"][1] != "1.00", seen["value"]
    assert seen["status"].startswith("recomputed"), seen["status"]
    assert set(before) == set(after) and "on-task (A)" in after, (before, after)
    assert all(re.fullmatch(r"[-−+]?\d\.\d{3} ± \d\.\d{3}", v)
               for row in after.values() for v in row.values()), after
    changed = [row for row in after if after[row]["meta-sgd"] != before[row]["meta-sgd"]]
    assert changed, f"moving {SLIDER} left Meta-SGD's numbers unchanged: {after}"
    assert all(after[row]["maml"] == before[row]["maml"] for row in after), (
        f"moving a Meta-SGD slider changed MAML's numbers: {before} -> {after}")
    assert (REPO / NOTEBOOK).read_bytes() == source, f"the test modified {NOTEBOOK}"
    assert not (REPO / NOTEBOOK).with_suffix(".ipynb").exists(), "an .ipynb was written"
