"""Fetch the web assets the book needs so that its HTML works offline.

A Jupyter Book page loads require.js and ``@jupyter-widgets/html-manager`` (to render
saved ipywidgets state) and MathJax (to typeset math) from CDNs by default; offline,
widgets are blank and math stays raw. This script ``npm pack``s pinned versions of the
three packages into a temporary folder and extracts only the files the pages load into
``book/_offline/`` (git-ignored), which ``_config.yml`` serves through Sphinx's
``html_static_path`` (so they land in ``_static/``) and points myst-nb's
``nb_ipywidgets_js`` and Sphinx's ``mathjax_path`` at.

Layout of ``book/_offline/`` (paths relative to the built site's ``_static/``)::

    requirejs/require.js
    html-manager/embed-amd.js      (+ the font files it references, + LICENSE)
    mathjax/es5/...                (whole es5 folder: fonts and lazily loaded extensions)
    VERSIONS.json                  (marker: what was fetched; refetch when pins change)

Usage: ``python book/fetch_assets.py [--dest DIR] [--force]``. Needs ``npm`` (the npm
registry or a warm npm cache); quick no-op when the pinned versions are already there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BOOK_DIR = Path(__file__).resolve().parent
DEFAULT_DEST = BOOK_DIR / "_offline"

# Pinned versions. html-manager 1.x is the line for ipywidgets 8 (controls 2.0.0 models).
HTML_MANAGER_VERSION = "1.0.15"
REQUIREJS_VERSION = "2.3.8"
MATHJAX_VERSION = "3.2.2"
PINS = {
    "@jupyter-widgets/html-manager": HTML_MANAGER_VERSION,
    "requirejs": REQUIREJS_VERSION,
    "mathjax": MATHJAX_VERSION,
}

# Files the built pages load, relative to the site's `_static/` (used by _config.yml).
REQUIRE_JS = "requirejs/require.js"
EMBED_AMD_JS = "html-manager/embed-amd.js"
MATHJAX_JS = "mathjax/es5/tex-chtml.js"
REQUIRED_FILES = (REQUIRE_JS, EMBED_AMD_JS, MATHJAX_JS)
MARKER = "VERSIONS.json"
FONT_SUFFIXES = (".woff2", ".woff", ".ttf", ".eot", ".svg")


class AssetError(RuntimeError):
    """Raised when the assets cannot be fetched (no npm, registry unreachable, ...)."""


def assets_present(dest: Path = DEFAULT_DEST) -> bool:
    """Return True when ``dest`` holds every required file at the pinned versions."""
    marker = dest / MARKER
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except json.JSONDecodeError:
        return False
    return recorded == PINS and all((dest / rel).is_file() for rel in REQUIRED_FILES)


def _npm_pack(spec: str, workdir: Path) -> Path:
    """Run ``npm pack spec`` in ``workdir`` and return the tarball's path."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            "npm not found: it is needed once to fetch require.js, the ipywidgets HTML "
            "manager and MathJax (run scripts/install_system.sh, or apt-get install npm)"
        )
    proc = subprocess.run(
        [npm, "pack", "--silent", spec],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssetError(f"npm pack {spec} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    name = proc.stdout.strip().splitlines()[-1]
    tarball = workdir / name
    if not tarball.is_file():
        raise AssetError(f"npm pack {spec} reported {name!r} but wrote no such file in {workdir}")
    return tarball


def _extract(tarball: Path, workdir: Path) -> Path:
    """Extract an npm tarball into a fresh folder and return its ``package/`` root."""
    target = workdir / tarball.name.removesuffix(".tgz")
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def fetch(dest: Path = DEFAULT_DEST, force: bool = False) -> Path:
    """Fetch the pinned assets into ``dest`` (atomically) unless they are already there.

    Returns ``dest``. Raises ``AssetError`` with the npm message when a fetch fails.
    """
    if not force and assets_present(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="neglr-assets-") as tmp:
        work = Path(tmp)
        staged = work / "staged"
        pkgs = {
            name: _extract(_npm_pack(f"{name}@{ver}", work), work) for name, ver in PINS.items()
        }

        req = pkgs["requirejs"]
        (staged / "requirejs").mkdir(parents=True)
        shutil.copy2(req / "require.js", staged / REQUIRE_JS)
        _copy_license(req, staged / "requirejs")

        hm = pkgs["@jupyter-widgets/html-manager"] / "dist"
        (staged / "html-manager").mkdir(parents=True)
        shutil.copy2(hm / "embed-amd.js", staged / EMBED_AMD_JS)
        for font in hm.iterdir():
            if font.suffix in FONT_SUFFIXES:
                shutil.copy2(font, staged / "html-manager" / font.name)
        _copy_license(hm.parent, staged / "html-manager")

        mj = pkgs["mathjax"]
        shutil.copytree(mj / "es5", staged / "mathjax" / "es5")
        _copy_license(mj, staged / "mathjax")

        (staged / MARKER).write_text(json.dumps(PINS, indent=2) + "\n")
        missing = [rel for rel in REQUIRED_FILES if not (staged / rel).is_file()]
        if missing:
            raise AssetError(f"npm packages lack expected files {missing}; check the pins")

        old = dest.with_name(dest.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        shutil.move(str(staged), dest)
        shutil.rmtree(old, ignore_errors=True)
    return dest


def _copy_license(pkg_root: Path, target: Path) -> None:
    """Copy a package's LICENSE file (any spelling) next to the files we ship."""
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "license"):
        if (pkg_root / name).is_file():
            shutil.copy2(pkg_root / name, target / "LICENSE")
            return


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: fetch the assets, print where they are, return an exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="target folder")
    parser.add_argument("--force", action="store_true", help="refetch even if present")
    args = parser.parse_args(argv)
    try:
        was_present = not args.force and assets_present(args.dest)
        fetch(args.dest, force=args.force)
    except AssetError as err:
        print(f"fetch_assets: {err}", file=sys.stderr)
        return 1
    state = "already present" if was_present else "fetched"
    print(f"fetch_assets: {state}: {args.dest} ({', '.join(f'{k}@{v}' for k, v in PINS.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
