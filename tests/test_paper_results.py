"""The committed paper-scale artifacts (results/paper/) load and resume on the CPU."""

import shutil
from pathlib import Path

import pytest
import torch

from neglr_utils.runs import store
from neglr_utils.runs.config import run_path
from neglr_utils.runs.profiles import profile_config
from neglr_utils.runs.store import read_config
from neglr_utils.runs.training import load_run, train

RESULTS = Path(__file__).resolve().parents[1] / "results" / "paper"
RUNS = sorted(p.parent for p in RESULTS.glob("*/*/config.json"))


def test_committed_runs_match_the_paper_profile():
    assert RUNS, "results/paper/ holds no run"
    for path in RUNS:
        cfg, _ = read_config(path)
        assert run_path(profile_config("paper", cfg.algo, cfg.seed), RESULTS) == path, (
            f"{path.name} is not the paper profile's run")
        run = load_run(path)
        assert run.iteration > 0
        rows = [m["iteration"] for m in run.metrics]
        assert rows == sorted(rows) and rows[-1] == run.iteration


@pytest.mark.realdata
@pytest.mark.slow
def test_committed_checkpoint_resumes_on_cpu(tmp_path, real_data_root):
    """Two resumed meta-iterations on the CPU continue the committed run exactly where it
    stopped: the iteration count, the metrics log and the optimiser state carry on (a
    format-1 checkpoint, with torch's Adam state, converted on load)."""
    path = next(p for p in RUNS if (p / "checkpoint.pt").exists() and not (p / "final.pt").exists())
    before = load_run(path)
    work = tmp_path / "mini-imagenet" / path.name
    shutil.copytree(path, work)
    cfg = profile_config("paper", before.config.algo, before.config.seed)
    for step in (1, 2):
        train(cfg, out_root=work.parent, data_root=real_data_root, device="cpu",
              max_seconds=0.0, progress=False)
        after = load_run(work)
        assert after.iteration == before.iteration + step
    assert after.metrics[: len(before.metrics)] == before.metrics
    assert after.metrics[-1]["iteration"] == before.iteration + 2
    state = store.load_checkpoint(work / "checkpoint.pt")
    assert state["format"] == store.CHECKPOINT_FORMAT
    assert state["adam"]["step"] == before.iteration + 2
    moved = [k for k in before.params if not torch.equal(before.params[k], after.params[k])]
    assert moved, "resuming trained nothing"
