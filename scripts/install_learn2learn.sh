#!/usr/bin/env bash
# Install learn2learn 0.2.0 into the given Python interpreter.
#
#   usage: bash scripts/install_learn2learn.sh PYTHON
#          (e.g. bash scripts/install_learn2learn.sh .venv/bin/python)
#
# Why not `pip install learn2learn`: its sdist (the only distribution of 0.2.0) ships
# Cython-generated C files that include `longintrepr.h`, which is gone from Python
# 3.11+ (learn2learn issue #413). So: download the sdist, regenerate the three C files
# with the interpreter's own Cython 3, and build it with `--no-deps --no-build-isolation`.
# Its declared dependencies are not installed (qpth pulls cvxpy, which downgrades numpy;
# gsutil is not needed); what it needs at import time (gym 0.26.2, requests, scipy, tqdm,
# plus torch, torchvision and numpy) is checked, and the first four are installed if
# missing. torch/torchvision/numpy are never installed or changed by this script.
#
# Needs: pip and a C compiler with the Python headers; Cython >= 3 and setuptools are
# installed into PYTHON with pip when missing.
# Optional: L2L_SDIST=/path/to/learn2learn-0.2.0.tar.gz uses that file instead of
# downloading it (offline machines). Its sha256 is checked either way.
# Idempotent: exits at once when learn2learn 0.2.0 already imports in PYTHON.
set -euo pipefail

L2L_VERSION=0.2.0
L2L_SHA256=69f1d7cb0d0a6be7a2c6ad8e83e2ebbe70fb05e51d61e45e63078b40c75ea419
PYX_MODULES=(meta_dataset task_dataset transforms)

log() { echo "install_learn2learn: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 PYTHON   (path to the python executable, e.g. .venv/bin/python)"
PY=$1
# Resolve a bare name (python3) through PATH and make the path absolute (the build
# runs in another directory), without resolving symlinks: a venv's python is a symlink
# to the base interpreter and must stay the venv's.
if [[ $PY != */* ]]; then
    PY=$(command -v "$PY") || die "'$1' not found on PATH"
fi
[[ -f $PY && -x $PY ]] || die "'$PY' is not an executable file"
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
"$PY" -c 'import sys' 2>/dev/null || die "'$PY' does not run as a Python interpreter"

check_installed() {
    "$PY" - "$L2L_VERSION" >/dev/null 2>&1 <<'EOF'
import sys
import learn2learn
assert learn2learn.__version__ == sys.argv[1], learn2learn.__version__
EOF
}

if check_installed; then
    log "learn2learn $L2L_VERSION already installed in $PY; nothing to do."
    exit 0
fi

PY_VERSION=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
log "installing learn2learn $L2L_VERSION into $PY (Python $PY_VERSION)"

pip_install() {
    "$PY" -m pip install --disable-pip-version-check -q "$@" ||
        die "pip install $* failed"
}

# --- prerequisites --------------------------------------------------------------------
"$PY" -m pip --version >/dev/null 2>&1 ||
    die "pip is not available in $PY (try: $PY -m ensurepip --upgrade)"

# torch/torchvision/numpy are the project's business (pinned elsewhere): only check them.
missing_core=$("$PY" - <<'EOF'
import importlib.util
print(" ".join(m for m in ("torch", "torchvision", "numpy") if importlib.util.find_spec(m) is None))
EOF
)
[[ -z $missing_core ]] ||
    die "missing in $PY: $missing_core (install the project first, e.g. pip install -e '.[dev]')"

# Runtime imports of learn2learn: install only what is missing (pip leaves what is
# already installed alone), never its declared qpth/cvxpy/gsutil.
missing_rt=$("$PY" - <<'EOF'
import importlib.util
reqs = {"gym": "gym==0.26.2", "requests": "requests", "scipy": "scipy", "tqdm": "tqdm"}
print(" ".join(spec for mod, spec in reqs.items() if importlib.util.find_spec(mod) is None))
EOF
)
if [[ -n $missing_rt ]]; then
    log "installing missing runtime dependencies: $missing_rt"
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    pip_install $missing_rt
fi

# Build tools: Cython >= 3 (the interpreter's own) and setuptools (not in 3.12+ venvs).
if ! "$PY" -c 'import Cython, sys; sys.exit(int(Cython.__version__.split(".")[0]) < 3)' 2>/dev/null; then
    log "installing Cython >= 3 into $PY"
    pip_install "cython>=3"
fi
if ! "$PY" -c 'import setuptools' 2>/dev/null; then
    log "installing setuptools into $PY"
    pip_install "setuptools>=68"
fi
py_include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[[ -f $py_include/Python.h ]] ||
    die "Python headers not found ($py_include/Python.h): install python$PY_VERSION-dev"
cc=$("$PY" -c 'import sysconfig; print((sysconfig.get_config_var("CC") or "cc").split()[0])')
command -v "$cc" >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 ||
    die "no C compiler found ($cc, cc, gcc): install gcc (build-essential)"

# --- fetch and unpack the sdist -------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/learn2learn-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

sdist=$tmp/learn2learn-$L2L_VERSION.tar.gz
if [[ -n ${L2L_SDIST:-} ]]; then
    [[ -f $L2L_SDIST ]] || die "L2L_SDIST=$L2L_SDIST is not a file"
    cp "$L2L_SDIST" "$sdist"
else
    log "downloading the learn2learn $L2L_VERSION sdist"
    # --no-build-isolation: pip prepares the sdist's metadata with the setuptools
    # already installed; with isolation and --no-binary :all: it would build
    # setuptools itself from source (minutes).
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
        --no-build-isolation "learn2learn==$L2L_VERSION" -d "$tmp/dl" ||
        die "pip download learn2learn==$L2L_VERSION failed (network or index problem?)"
    mv "$tmp/dl/learn2learn-$L2L_VERSION.tar.gz" "$sdist" ||
        die "the download did not produce learn2learn-$L2L_VERSION.tar.gz"
fi
"$PY" - "$sdist" "$L2L_SHA256" <<'EOF' || die "sha256 of ${L2L_SDIST:-the downloaded sdist} is not $L2L_SHA256"
import hashlib, sys
with open(sys.argv[1], "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
sys.exit(digest != sys.argv[2])
EOF
tar -xzf "$sdist" -C "$tmp" || die "could not unpack $sdist"
src=$tmp/learn2learn-$L2L_VERSION
[[ -f $src/setup.py ]] || die "unexpected sdist layout: no $src/setup.py"

# --- regenerate the C files with Cython 3, build, install ----------------------------
log "regenerating learn2learn/data/*.c with Cython $("$PY" -c 'import Cython; print(Cython.__version__)')"
pyx=()
for m in "${PYX_MODULES[@]}"; do
    rm -f "$src/learn2learn/data/$m.c"
    pyx+=("learn2learn/data/$m.pyx")
done
(cd "$src" && "$PY" -m cython -3 -X embedsignature=True "${pyx[@]}") ||
    die "cython failed on ${pyx[*]}"

log "building and installing (pip install --no-deps --no-build-isolation)"
(cd "$src" && "$PY" -m pip install --disable-pip-version-check -q --no-deps \
    --no-build-isolation --no-cache-dir .) ||
    die "building/installing learn2learn failed (C compiler and Python headers present?)"

if ! check_installed; then
    "$PY" -c 'import learn2learn' || true   # show the import error
    die "learn2learn $L2L_VERSION was installed but does not import in $PY"
fi
log "learn2learn $L2L_VERSION installed into $PY."
