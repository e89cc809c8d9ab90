"""Committed CPU-study runs reproduce here, and under other instruction sets, within the
stated tolerance; a changed setting does not (the check can fail). The measured spreads
and margins are in the docstring of `neglr_utils.runs.provenance`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neglr_utils.runs.profiles import CPU
from neglr_utils.runs.provenance import check

RESULTS = Path(__file__).resolve().parents[1] / "results" / "cpu"
# Kernels another user's CPU may pick, emulated on this one (set per process).
OTHER_CPUS = {
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "both": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def committed_run(algo: str = "maml") -> Path:
    path = CPU.locate((algo,), (0,), root=RESULTS)[(algo, 0)]
    if not (path / "final.pt").exists():
        pytest.fail(f"the committed run {path} is missing")
    return path


def provenance(env: dict[str, str], real_data_root) -> subprocess.CompletedProcess:
    """``python -m neglr_utils provenance`` on the committed MAML and Meta-SGD runs, in a
    fresh one-thread process (the check's condition) with ``env`` added."""
    runs = [str(committed_run(a)) for a in ("maml", "meta-sgd")]
    return subprocess.run([sys.executable, "-m", "neglr_utils", "provenance", *runs],
                          env=os.environ | env | {"NEGLR_DATA": str(real_data_root)},
                          capture_output=True, text=True, timeout=600)


@pytest.mark.realdata
def test_committed_runs_reproduce_on_this_cpu(real_data_root):
    out = provenance({}, real_data_root)
    assert out.returncode == 0 and out.stdout.count(" reproduces over") == 2, out.stdout


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("cpu", sorted(OTHER_CPUS))
def test_committed_runs_reproduce_under_other_instruction_sets(real_data_root, cpu):
    """The command line in a subprocess whose kernels use another instruction set."""
    out = provenance(OTHER_CPUS[cpu], real_data_root)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(" reproduces over") == 2, out.stdout


@pytest.mark.realdata
@pytest.mark.parametrize("change", [{"meta_lr": 2e-3}, {"inner_lr": 0.012}, {"seed": 1},
                                    {"n_inner_steps": 4}, {"k_query": 15}, {"image_size": 32}])
def test_a_changed_setting_does_not_reproduce(real_data_root, change):
    p = check(committed_run("maml"), data_root=real_data_root, **change)
    assert not p.reproduces, p.describe()
