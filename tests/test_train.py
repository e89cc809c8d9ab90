"""Training runs: artifacts, exact resume, NaN stop, reuse, time budget, compiled step."""

import json

import pytest
import torch
from conftest import synthetic_splits, tiny_config, train_tiny

from neglr_utils.core.episodes import EpisodeSampler
from neglr_utils.core.stack import Stack
from neglr_utils.runs import store
from neglr_utils.runs.config import run_dir_for
from neglr_utils.runs.training import NonFiniteLossError, extend, load_run


def test_run_directory_has_every_artifact(tmp_path):
    cfg = tiny_config()
    path = train_tiny(cfg, tmp_path)
    assert path == run_dir_for(cfg, tmp_path)
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "final.pt"):
        assert (path / name).exists(), name
    assert not (path / ".lock").exists()
    info = json.loads((path / "config.json").read_text())
    assert info["config"]["seed"] == 0 and "torch" in info["versions"] and info["device"]
    loaded = load_run(path)
    assert loaded.finished and loaded.iteration == 8
    assert loaded.config == cfg
    rows = loaded.metrics
    assert [r["iteration"] for r in rows] == list(range(1, 9))
    assert "val_acc" in rows[3] and "rates" in rows[3]
    assert set(loaded.rates) == set(loaded.params)


class Stop(Exception):
    pass


def stop_at(iteration):
    def hook(it):
        if it == iteration:
            raise Stop

    return hook


def assert_same_run(a, b):
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k]), k
    for k in a.rates:
        assert torch.equal(a.rates[k], b.rates[k]), k
    strip = [{k: v for k, v in r.items() if k != "wall_time"} for r in a.metrics]
    assert strip == [{k: v for k, v in r.items() if k != "wall_time"} for r in b.metrics]


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path):
    cfg = tiny_config()
    full = load_run(train_tiny(cfg, tmp_path / "a"))
    with pytest.raises(Stop):
        train_tiny(cfg, tmp_path / "b", on_iteration=stop_at(6))  # checkpoint at 4, log to 5
    partial = load_run(run_dir_for(cfg, tmp_path / "b"))
    assert not partial.finished and partial.iteration == 4
    assert len(partial.metrics) == 5  # the log ran past the checkpoint ...
    resumed = load_run(train_tiny(cfg, tmp_path / "b"))
    assert resumed.finished  # ... and the resume dropped the line after it
    assert_same_run(full, resumed)


def test_nan_stops_with_clear_error_and_keeps_checkpoint(tmp_path, monkeypatch):
    cfg = tiny_config()
    real = Stack.meta_loss
    calls = {"n": 0}

    def poisoned(self, episode):
        loss, losses, acc = real(self, episode)
        calls["n"] += 1
        if calls["n"] == 5:
            return loss * float("nan"), losses * float("nan"), acc
        return loss, losses, acc

    monkeypatch.setattr(Stack, "meta_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"iteration 5.*last good checkpoint.*iteration 4"):
        train_tiny(cfg, tmp_path)
    loaded = load_run(run_dir_for(cfg, tmp_path))
    assert loaded.iteration == 4 and not loaded.finished
    assert all(torch.isfinite(v).all() for v in loaded.params.values())


def test_finished_run_is_reused_and_changed_config_is_not(tmp_path):
    cfg = tiny_config(algo="maml")
    path = train_tiny(cfg, tmp_path)
    mtime = (path / "final.pt").stat().st_mtime_ns
    assert train_tiny(cfg, tmp_path) == path
    assert (path / "final.pt").stat().st_mtime_ns == mtime
    assert run_dir_for(cfg.replace(inner_lr=0.2), tmp_path) != path


def test_max_seconds_stops_with_checkpoint(tmp_path):
    path = train_tiny(tiny_config(), tmp_path, max_seconds=0.0)
    loaded = load_run(path)
    assert loaded.iteration == 1 and not loaded.finished


def test_restart_starts_afresh(tmp_path):
    cfg = tiny_config()
    with pytest.raises(Stop):
        train_tiny(cfg, tmp_path, on_iteration=stop_at(5))
    path = train_tiny(cfg, tmp_path, resume=False)
    assert [r["iteration"] for r in load_run(path).metrics] == list(range(1, 9))


def test_checkpoint_carries_its_format_and_adam_state(tmp_path):
    cfg = tiny_config()
    with pytest.raises(Stop):
        train_tiny(cfg, tmp_path, on_iteration=stop_at(3))
    state = torch.load(run_dir_for(cfg, tmp_path) / "checkpoint.pt", weights_only=True)
    assert state["format"] == store.CHECKPOINT_FORMAT and state["adam"]["step"] == 2
    assert set(state["adam"]["exp_avg"]) == ({f"param:{k}" for k in state["params"]}
                                             | {f"rate:{k}" for k in state["rates"]})


@pytest.mark.slow
def test_compiled_meta_loss_equals_eager_float64():
    """``Stack(torch_compile=True)`` (torch.compile of the meta-loss, inner loop included)
    computes the eager loss and meta-gradient."""
    cfg = tiny_config(dtype="float64")
    split = synthetic_splits()["train"]
    episode = EpisodeSampler(split, cfg.n_way, cfg.k_shot, cfg.k_query, seed=1,
                             dtype=torch.float64).sample(cfg.meta_batch_size)
    grads = {}
    for compiled in (False, True):
        stack = Stack([cfg], torch.device("cpu"), torch_compile=compiled)
        loss, _, _ = stack._loss(episode)
        leaves = [*stack.params.values(), *stack.rates.values()]
        grads[compiled] = (loss.detach(), torch.autograd.grad(loss, leaves))
    torch.testing.assert_close(grads[True][0], grads[False][0], rtol=1e-12, atol=0)
    for a, b in zip(grads[True][1], grads[False][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-14)


def test_extend_equals_training_longer_from_the_start(tmp_path):
    """Train 4 iterations and extend to 8 = train 8: same weights, rates and log."""
    long = train_tiny(tiny_config(n_iterations=8), tmp_path / "long")
    short = train_tiny(tiny_config(n_iterations=4), tmp_path / "short")
    extended = extend(short, 8, splits=synthetic_splits(), device="cpu", progress=False)
    a, b = load_run(long), load_run(extended)
    assert extended.name == long.name and a.iteration == b.iteration == 8
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k]), k
    for k in a.rates:
        assert torch.equal(a.rates[k], b.rates[k]), k
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]  # noqa: E731
    assert strip(a.metrics) == strip(b.metrics)
    assert store.read_json(extended / "config.json")["continued_from"] == short.name
    assert (short / "final.pt").exists()  # the source is unchanged


def test_extend_refuses_what_cannot_be_exact(tmp_path):
    short = train_tiny(tiny_config(n_iterations=4), tmp_path)
    with pytest.raises(ValueError, match="already has 4 iterations"):
        extend(short, 4)
    (short / "checkpoint.pt").unlink()
    with pytest.raises(FileNotFoundError, match="checkpoint.pt"):
        extend(short, 8)
    odd = train_tiny(tiny_config(n_iterations=3), tmp_path / "odd")
    with pytest.raises(ValueError, match="not a multiple of log_every=1 and val_every=4"):
        extend(odd, 8)
