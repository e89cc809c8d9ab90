"""scripts/paper_chunk.py at the smoke profile: the protocol in order, and resumable."""

import importlib.util
import json
import tarfile
import time
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


class FakeClock:
    """``time`` for the script: real time plus 100 s per probe condition."""

    def __init__(self) -> None:
        self.offset = 0.0

    def perf_counter(self) -> float:
        return time.perf_counter() + self.offset


def test_chunks_follow_the_protocol_and_resume(tmp_path, real_data_root, monkeypatch):
    mod = load_script()
    (tmp_path / "results").mkdir()
    clock = FakeClock()
    real_probe_runs = mod.probe_runs

    def slow_probe_runs(*args, **kwargs):
        out = real_probe_runs(*args, **kwargs)
        clock.offset += 100.0
        return out

    monkeypatch.setattr(mod, "time", clock)
    monkeypatch.setattr(mod, "probe_runs", slow_probe_runs)
    monkeypatch.setitem(mod.PROBE_S_PER_ITERATION, "cpu", 0.01)
    # Chunk one trains MAML and Meta-SGD, then has time for two probe conditions only.
    log = chunk(mod, tmp_path, "one", 250, real_data_root)
    trained = [(s["algo"], s["seed"]) for s in log["steps"] if s["step"] == "train"]
    assert trained == [("maml", 0), ("meta-sgd", 0)]
    assert all(s["finished"] for s in log["steps"] if s["step"] == "train")
    probe = log["steps"][-1]
    assert probe["step"] == "probe" and "stopped" in probe
    assert [(c["run"], c["condition"]) for c in probe["conditions"]] == [
        ("maml-seed0", "trained"), ("meta-sgd-seed0", "trained")]
    assert not (tmp_path / "results" / "probe-seed0.json").exists()
    # Chunk two resumes the probe from the committed (unpacked) probe.json files.
    log = chunk(mod, tmp_path, "two", 600, real_data_root)
    probe = next(s for s in log["steps"] if s["step"] == "probe")
    assert [(c["run"], c["condition"]) for c in probe["conditions"]] == [
        ("meta-sgd-seed0", "conv_flipped"), ("meta-sgd-seed0", "conv_zeroed")]
    assert (tmp_path / "results" / "probe-seed0.json").exists()
    trained = [(s["algo"], s["seed"]) for s in log["steps"] if s["step"] == "train"]
    assert trained[0] == ("meta-sgd-positive", 0)
    assert trained[-1] == ("meta-sgd", 2)  # the rest of the smoke protocol fits
    # Nothing is left: a third chunk finds every step done.
    assert chunk(mod, tmp_path, "three", 600, real_data_root)["steps"] == []


def test_a_missing_run_has_every_probe_condition_missing():
    mod = load_script()
    cfg = mod.PROBES["smoke"]
    assert mod.missing_conditions(Path("/nonexistent"), "maml", cfg) == ["trained"]
    assert mod.missing_conditions(Path("/nonexistent"), "meta-sgd", cfg) == [
        "trained", "conv_flipped", "conv_zeroed"]


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the script's defaults write under runs/
