"""The committed paper-scale artifacts (results/paper/) load and resume on the CPU."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from neglr_utils.profiles import profile_config
from neglr_utils.train import load_run, run_dir_for, train

RESULTS = Path(__file__).resolve().parents[1] / "results" / "paper"
RUNS = sorted(p.parent for p in RESULTS.glob("*/config.json"))


def test_committed_runs_match_the_paper_profile():
    assert RUNS, "results/paper/ holds no run"
    for path in RUNS:
        info = json.loads((path / "config.json").read_text())
        cfg = profile_config("paper", info["config"]["meta"]["algo"], info["config"]["seed"])
        assert run_dir_for(cfg, RESULTS) == path, f"{path.name} is not the paper profile's run"
        run = load_run(path)
        assert run.iteration > 0
        rows = [m["iteration"] for m in run.metrics]
        assert rows == sorted(rows) and rows[-1] == run.iteration


@pytest.mark.realdata
@pytest.mark.slow
def test_committed_checkpoint_resumes_on_cpu(tmp_path, real_data_root):
    """Two resumed meta-iterations on the CPU continue the committed run exactly where it
    stopped: the iteration count, the metrics log and the optimiser state carry on."""
    path = next(p for p in RUNS if (p / "checkpoint.pt").exists() and not (p / "final.pt").exists())
    before = load_run(path)
    work = tmp_path / path.name
    shutil.copytree(path, work)
    cfg = profile_config("paper", before.config.algo, before.config.seed)
    for step in (1, 2):
        train(cfg, out_root=tmp_path, data_root=real_data_root, device="cpu",
              max_seconds=0.0, progress=False)
        after = load_run(work)
        assert after.iteration == before.iteration + step
    assert after.metrics[: len(before.metrics)] == before.metrics
    assert after.metrics[-1]["iteration"] == before.iteration + 2
    state = torch.load(work / "checkpoint.pt", weights_only=False)
    adam_steps = {float(s["step"]) for s in state["optimizer"]["state"].values()}
    assert adam_steps == {float(before.iteration + 2)}
    moved = [k for k in before.params if not torch.equal(before.params[k], after.params[k])]
    assert moved, "resuming trained nothing"
