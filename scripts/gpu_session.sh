#!/usr/bin/env bash
# One GPU session, run from the repository root of a copy of the working tree:
#
#   OUT=/some/folder bash scripts/gpu_session.sh [--quick] [--device cuda] [--skip-install]
#       [--skip-bench] [--profile paper] [--results results/paper] [--data-root DIR]
#
# Sections (each logs a time stamp; everything goes to $OUT/log.txt as well):
#   1. environment: nvidia-smi, python/torch/CUDA, what .carry/ holds
#   2. learn2learn, offline, from .carry/ (learn2learn-0.2.0.tar.gz + gym/gym_notices
#      wheels) into .carry/site-packages-pyX.Y, on PYTHONPATH. Never fatal:
#      the benchmark then loads learn2learn's MAML/MetaSGD sources straight from the
#      sdist (--l2l-sdist), and if even that fails, times ours alone and records why.
#   3. benchmark: benchmarks/bench_meta.py -> $OUT/bench-gpu.json (+ a cudnn.benchmark
#      pass for ours -> $OUT/bench-gpu-cudnn-benchmark.json), about 2 minutes in all.
#   4. paper-scale training within what is left of TIME_BUDGET_S: scripts/paper_chunk.py
#      trains every pending run of the profile's protocol in stacks from --results, then
#      probes finished runs, and packs what it touched into $OUT/paper_results.tar (unpack
#      it over results/paper/ and commit). On the CPU, --device cpu --profile smoke tries
#      the whole script in a few minutes (tests/test_paper_chunk.py does).
#
# Needs on the machine: python3 with torch (CUDA), gcc and cython for the learn2learn
# build. Nothing is downloaded. Exit status: that of the benchmark section (the install
# section cannot fail the script).
set -euo pipefail

: "${OUT:?set OUT to the output folder (e.g. OUT=/tmp/out bash scripts/gpu_session.sh)}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1

# --- settings -------------------------------------------------------------------------
PY=${PY:-python3}
DEVICE=cuda
QUICK=()
SKIP_INSTALL=0
SKIP_BENCH=0
PROFILE=paper
RESULTS=results/paper
DATA_ROOT=${NEGLR_DATA:-$PWD/.devdata}
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=(--quick) ;;
        --device) DEVICE=$2; shift ;;
        --skip-install) SKIP_INSTALL=1 ;;
        --skip-bench) SKIP_BENCH=1 ;;
        --profile) PROFILE=$2; shift ;;
        --results) RESULTS=$2; shift ;;
        --data-root) DATA_ROOT=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
TIME_BUDGET_S=${TIME_BUDGET_S:-540}   # the whole script: stay inside one 10-minute call
BENCH_BUDGET_S=${BENCH_BUDGET_S:-120} # section 3, both passes together
CARRY=${CARRY:-$PWD/.carry}
L2L_SDIST_PATH=$CARRY/learn2learn-0.2.0.tar.gz
PY_TAG=$("$PY" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')
L2L_TARGET=${L2L_TARGET:-$CARRY/site-packages-$PY_TAG}  # learn2learn + gym land here

export PYTHONPATH=$PWD:$L2L_TARGET${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
START=$SECONDS
elapsed() { echo $((SECONDS - START)); }
left() { echo $((TIME_BUDGET_S - (SECONDS - START))); }
section() { echo; echo "=== $(date -u +%H:%M:%S) +$(elapsed)s: $*"; }

# --- 1. environment -------------------------------------------------------------------
section "1. environment (OUT=$OUT, device=$DEVICE, budget ${TIME_BUDGET_S}s)"
nvidia-smi --query-gpu=name,memory.total,driver_version,utilization.gpu --format=csv ||
    echo "nvidia-smi not available"
"$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__,
    "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
ls -la "$CARRY" 2>/dev/null || echo "no $CARRY folder"

# --- 2. learn2learn (offline, never fatal) --------------------------------------------
section "2. learn2learn"
l2l_status=not-attempted
if "$PY" -c 'import learn2learn' >/dev/null 2>&1; then
    l2l_status=already-importable
elif [[ $SKIP_INSTALL == 1 ]]; then
    l2l_status=skipped
elif [[ ! -f $L2L_SDIST_PATH ]]; then
    l2l_status="missing $L2L_SDIST_PATH"
else
    mkdir -p "$L2L_TARGET"
    # Everything lands in $L2L_TARGET (on PYTHONPATH above); the system site-packages
    # stay untouched. `pip install --target` ignores what is already installed when it
    # resolves dependencies (gym would pull numpy from the absent index), so the carried
    # wheels (in .carry/ or .carry/wheels/: gym, gym_notices, and cloudpickle/requests
    # if the machine lacks them) go in first with --no-deps; install_learn2learn.sh then
    # finds gym importable and only builds learn2learn (itself --no-deps) with PIP_TARGET.
    shopt -s nullglob
    wheels=()
    declare -A seen=()
    for w in "$CARRY"/*.whl "$CARRY"/wheels/*.whl; do   # one copy of each file name
        [[ -n ${seen[${w##*/}]:-} ]] || wheels+=("$w")
        seen[${w##*/}]=1
    done
    shopt -u nullglob
    if (( ${#wheels[@]} )); then
        "$PY" -m pip install -q --no-index --no-deps --disable-pip-version-check \
            --target "$L2L_TARGET" "${wheels[@]}" || echo "carried wheels failed to install"
    fi
    install_rc=0
    PIP_NO_INDEX=1 PIP_FIND_LINKS="$CARRY $CARRY/wheels" PIP_TARGET="$L2L_TARGET" \
        PIP_DISABLE_PIP_VERSION_CHECK=1 L2L_SDIST="$L2L_SDIST_PATH" \
        timeout 180 bash scripts/install_learn2learn.sh "$PY" || install_rc=$?
    if (( install_rc == 0 )); then
        l2l_status=installed
    else
        l2l_status="install failed (exit $install_rc)"
    fi
fi
echo "learn2learn: $l2l_status"
echo "$l2l_status" > "$OUT/learn2learn-status.txt"
"$PY" -c 'import learn2learn; print("learn2learn", learn2learn.__version__)' 2>&1 | tail -n 3 ||
    echo "learn2learn does not import: bench_meta.py falls back to --l2l-sdist"

# --- 3. benchmark ---------------------------------------------------------------------
section "3. benchmark (budget ${BENCH_BUDGET_S}s)"
bench_rc=0
if [[ $SKIP_BENCH == 1 ]]; then
    echo "skipped (--skip-bench)"
else
    main_s=$((BENCH_BUDGET_S * 2 / 3))
    timeout $((main_s + 60)) "$PY" benchmarks/bench_meta.py --device "$DEVICE" "${QUICK[@]}" \
        --max-seconds $((main_s - 20)) --l2l-sdist "$L2L_SDIST_PATH" \
        --out "$OUT/bench-gpu.json" || bench_rc=$?
    echo "bench_meta.py exit status $bench_rc"
    section "3b. benchmark with torch.backends.cudnn.benchmark (ours, paper)"
    rest_s=$((BENCH_BUDGET_S - main_s))
    timeout $((rest_s + 30)) "$PY" benchmarks/bench_meta.py --device "$DEVICE" "${QUICK[@]}" \
        --configs paper --impls ours,ours_cudagraph --cudnn-benchmark --probe-iterations 0 \
        --max-seconds $((rest_s - 10)) \
        --out "$OUT/bench-gpu-cudnn-benchmark.json" ||
        echo "cudnn.benchmark pass failed (exit $?); the main result stands"
fi

# --- 4. training and probes (scripts/paper_chunk.py) ----------------------------------
section "4. $PROFILE training and probes ($(left)s of the budget left)"
TRAIN_BUDGET_S=$(( $(left) - 30 ))   # keep 30 s for copying results out
if (( TRAIN_BUDGET_S > 60 )); then
    "$PY" scripts/paper_chunk.py --profile "$PROFILE" --results "$RESULTS" --out "$OUT" \
        --work "$OUT/work" --budget "$TRAIN_BUDGET_S" --device "$DEVICE" \
        --data-root "$DATA_ROOT" || echo "paper_chunk.py failed (exit $?); see above"
    ls -la "$OUT/paper_results.tar" "$OUT/chunk_log.json" 2>/dev/null || true
    rm -rf "$OUT/work"   # the tar holds every run it touched
else
    echo "not enough time left for training (${TRAIN_BUDGET_S}s)"
fi

section "done in $(elapsed)s; files in $OUT:"
ls -la "$OUT"
exit "$bench_rc"
