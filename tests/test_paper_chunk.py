"""scripts/paper_chunk.py at the smoke profile: stacked training, probing, resumable."""

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "paper_chunk.py"


def load_script():
    spec = importlib.util.spec_from_file_location("paper_chunk", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def chunk(mod, tmp_path: Path, name: str, budget: float, data_root: Path) -> dict:
    out = tmp_path / name
    assert mod.main(["--profile", "smoke", "--results", str(tmp_path / "results"),
                     "--out", str(out), "--work", str(tmp_path / f"work-{name}"),
                     "--budget", str(budget), "--margin", "0", "--data-root",
                     str(data_root), "--device", "cpu"]) == 0
    with tarfile.open(out / "paper_results.tar") as tar:
        names = tar.getnames()
        assert len(names) == len(set(names)), "a file packed twice"
        tar.extractall(tmp_path / "results", filter="data")
    return json.loads((out / "chunk_log.json").read_text())


@pytest.mark.realdata
@pytest.mark.slow
def test_chunks_train_in_stacks_then_probe_and_resume(tmp_path, real_data_root, monkeypatch):
    mod = load_script()
    monkeypatch.setitem(mod.PROBE_S_PER_PAIR, "cpu", 0.01)
    (tmp_path / "results").mkdir()
    log = chunk(mod, tmp_path, "one", 600, real_data_root)
    trains = [s for s in log["steps"] if s["step"] == "train"]
    # the smoke grid: three algorithms stack together; the BatchNorm ablation alone
    assert sorted(len(s["runs"]) for s in trains) == [1, 3]
    assert all(all(s["finished"]) for s in trains)
    probes = [s for s in log["steps"] if s["step"] == "probe"]
    assert probes and all("stopped" not in s for s in probes)
    unpacked = sorted(p.parent.name for p in (tmp_path / "results").glob("*/*/final.pt"))
    assert len(unpacked) == 4
    assert all((tmp_path / "results").glob("*/*/probe.json"))
    # A second chunk from the unpacked results finds nothing to train or probe.
    again = chunk(mod, tmp_path, "two", 600, real_data_root)
    assert again["steps"] == []


@pytest.mark.realdata
def test_a_spent_budget_trains_nothing_but_still_packs(tmp_path, real_data_root):
    mod = load_script()
    (tmp_path / "results").mkdir()
    log = chunk(mod, tmp_path, "short", 10, real_data_root)
    assert [s for s in log["steps"] if s["step"] == "train"] == []


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the script's defaults write under runs/


@pytest.mark.realdata
@pytest.mark.slow
def test_gpu_session_script_trains_probes_and_copies_out_on_the_cpu(tmp_path, real_data_root):
    """scripts/gpu_session.sh end to end on the CPU with the smoke profile: environment,
    (no benchmark), training in stacks, probes, and the tar of the results in $OUT."""
    repo = SCRIPT.parents[1]
    out = tmp_path / "out"
    (tmp_path / "results").mkdir()
    env = {**os.environ, "OUT": str(out), "TIME_BUDGET_S": "400", "PY": sys.executable}
    proc = subprocess.run(
        ["bash", str(repo / "scripts" / "gpu_session.sh"), "--device", "cpu", "--skip-install",
         "--skip-bench", "--profile", "smoke", "--results", str(tmp_path / "results"),
         "--data-root", str(real_data_root)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = json.loads((out / "chunk_log.json").read_text())
    assert [s for s in log["steps"] if s["step"] == "train"] and all(
        all(s["finished"]) for s in log["steps"] if s["step"] == "train")
    with tarfile.open(out / "paper_results.tar") as tar:
        names = tar.getnames()
    assert sum(n.endswith("/final.pt") for n in names) == 4  # 3 algorithms + the ablation
    assert any(n.endswith("/probe.json") for n in names)
    assert not (out / "work").exists()
