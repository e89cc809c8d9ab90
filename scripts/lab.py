"""Start JupyterLab on this repository with the project's settings (``make lab``).

What it sets up, inside the virtual environment only (never the user's own settings):

- a JupyterLab settings override, ``{sys.prefix}/share/jupyter/lab/settings/overrides.d/
  neglr.json``, that makes the Jupytext notebook the default viewer of ``.py`` files, so
  ``notebooks/NN_name.py`` opens as a notebook (JupyterLab would open it in the text
  editor otherwise); ``jupytext.toml`` at the repository root keeps the ``.py`` the only
  file written when a notebook is saved;
- the ``python3`` kernel of this interpreter (``book/build.py``'s check: the kernel that
  executes the book);
- kernels that start in the repository root whatever folder the notebook is in, as
  ``make book`` runs them (the notebooks read ``results/`` and ``runs/`` relative to it).

Usage::

    python scripts/lab.py --install-settings     # write the override, install the kernel
    python scripts/lab.py [--port N] [--no-browser] [--no-token] [PATH ...]

``PATH`` (relative to the repository) is opened at start, e.g. ``notebooks/08_explorer.py``
(the first line printed is its URL, token included). Other ``--Name.trait=value`` options
go to JupyterLab unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

REPO = Path(__file__).resolve().parents[1]
# The factory name that jupytext's JupyterLab extension registers for text notebooks.
JUPYTEXT_FACTORY = "Jupytext Notebook"
SETTINGS = {
    "@jupyterlab/docmanager-extension:plugin": {
        "defaultViewers": {"python": JUPYTEXT_FACTORY},
    },
}


class RepoRootKernelManager(AsyncMappingKernelManager):
    """Start every kernel in the repository root, as ``book/build.py`` does (``cwd=REPO``).

    JupyterLab's default is the notebook's own folder (``notebooks/``), where the
    relative ``results/`` and ``runs/`` folders the chapters read do not exist.
    """

    def cwd_for_path(self, path: str, **kwargs: object) -> str:
        return str(REPO)


def settings_path(prefix: str | os.PathLike = sys.prefix) -> Path:
    """The project's override file inside the environment ``prefix``."""
    return Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "neglr.json"


def install_settings(prefix: str | os.PathLike = sys.prefix) -> Path:
    """Write the settings override (idempotent) and make sure the kernel is this python."""
    path = settings_path(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(SETTINGS, indent=2) + "\n"
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    sys.path.insert(0, str(REPO / "book"))
    from build import ensure_kernel  # book/build.py: one kernel check for book and lab

    ensure_kernel()
    return path


def lab_argv(port: int, *, browser: bool, token: bool, paths: list[str], extra: list[str]
             ) -> list[str]:
    """JupyterLab's command line: the repository as root, on 127.0.0.1, our kernels."""
    argv = [
        f"--ServerApp.root_dir={REPO}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.kernel_manager_class={__name__}.RepoRootKernelManager",
        f"--ServerApp.open_browser={browser}",
    ]
    if not token:
        argv += ["--IdentityProvider.token=", "--ServerApp.password="]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        argv.append("--ServerApp.allow_root=True")
    return argv + extra + paths


def main(argv: list[str] | None = None) -> int:
    """Install the settings, then (unless ``--install-settings``) run JupyterLab."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install-settings", action="store_true",
                        help="write the settings override and the kernel, then exit")
    parser.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--no-token", action="store_true",
                        help="no token (tests on a local port only)")
    parser.add_argument("paths", nargs="*", help="files to open, relative to the repository")
    args, extra = parser.parse_known_args(argv)
    path = install_settings()
    if args.install_settings:
        print(f"lab: {JUPYTEXT_FACTORY!r} is the default viewer of .py files ({path})")
        return 0
    missing = [p for p in args.paths if not (REPO / p).is_file()]
    if missing:
        parser.error(f"no such file in the repository: {', '.join(missing)}")
    if not args.no_token:  # our own token (through the environment, not argv) so that
        # the URL of the first file can be printed; JupyterLab prints only /lab
        token = os.environ.setdefault("JUPYTER_TOKEN", secrets.token_hex(24))
        target = f"lab/tree/{args.paths[0]}" if args.paths else "lab"
        print(f"lab: open http://127.0.0.1:{args.port}/{target}?token={token}", flush=True)
    from jupyterlab.labapp import LabApp

    LabApp.launch_instance(argv=lab_argv(args.port, browser=not args.no_browser,
                                         token=not args.no_token,
                                         paths=[str(REPO / p) for p in args.paths],
                                         extra=extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
