"""A committed CPU-study run reproduces here within the stated tolerance; a changed
setting does not (the check can fail)."""

from pathlib import Path

import pytest

from neglr_utils.profiles import locate_runs
from neglr_utils.provenance import ACC_ATOL, LOSS_RTOL, check

RESULTS = Path(__file__).resolve().parents[1] / "results" / "cpu"


def committed_run() -> Path:
    path = locate_runs("cpu", ("maml",), (0,), root=RESULTS)[("maml", 0)]
    if not (path / "final.pt").exists():
        pytest.fail(f"the committed run {path} is missing")
    return path


@pytest.mark.realdata
def test_first_iterations_of_a_committed_run_reproduce(real_data_root):
    p = check(committed_run(), 20, data_root=real_data_root)
    assert p.reproduces, (p.max_loss_rel_diff, LOSS_RTOL, p.max_acc_diff, ACC_ATOL)


@pytest.mark.realdata
@pytest.mark.parametrize("change", [{"meta_lr": 2e-3}, {"inner_lr": 0.02}, {"seed": 1}])
def test_a_changed_setting_does_not_reproduce(real_data_root, change):
    p = check(committed_run(), 20, data_root=real_data_root, **change)
    assert not p.reproduces, p
