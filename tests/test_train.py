"""Training runs: artifacts, exact resume, NaN stop, reuse of finished runs."""

import importlib
import json

import pytest
import torch

from neglr_utils.data import ImageSplit
from neglr_utils.meta import MetaConfig
from neglr_utils.profiles import profile_config
from neglr_utils.train import (
    MetaStep,
    NonFiniteLossError,
    RunConfig,
    load_run,
    run_dir_for,
    train,
)

train_mod = importlib.import_module("neglr_utils.train")


def synthetic_splits(n_classes: int = 12, n_per_class: int = 8, size: int = 28):
    g = torch.Generator().manual_seed(0)
    out = {}
    for split in ("train", "val", "test"):
        imgs = torch.randint(0, 256, (n_classes, n_per_class, 1, size, size), generator=g,
                             dtype=torch.uint8)
        out[split] = ImageSplit("omniglot", split, imgs, tuple(f"c{i}" for i in range(n_classes)))
    return out


def tiny_config(algo: str = "meta-sgd", **changes) -> RunConfig:
    base = profile_config("smoke", algo=algo).replace(
        n_iterations=8, ckpt_every=2, val_every=4, log_every=1, hidden=4, n_val_episodes=4,
        k_query=3)
    return base.replace(**changes)


def run(cfg, tmp_path, **kw):
    return train(cfg, out_root=tmp_path, splits=synthetic_splits(), device="cpu",
                 progress=False, **kw)


def test_run_directory_has_every_artifact(tmp_path):
    cfg = tiny_config()
    path = run(cfg, tmp_path)
    assert path == run_dir_for(cfg, tmp_path)
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "final.pt"):
        assert (path / name).exists(), name
    info = json.loads((path / "config.json").read_text())
    assert info["config"]["seed"] == 0 and "torch" in info["versions"] and info["device"]
    loaded = load_run(path)
    assert loaded.finished and loaded.iteration == 8
    assert loaded.config == cfg
    rows = loaded.metrics
    assert [r["iteration"] for r in rows] == list(range(1, 9))
    assert "val_acc" in rows[3] and "rates" in rows[3]
    assert set(loaded.rates) == set(loaded.params)


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path):
    cfg = tiny_config()
    full = load_run(run(cfg, tmp_path / "a"))

    class Stop(Exception):
        pass

    def interrupt(it):
        if it == 5:  # after the checkpoint at 4, before the one at 6
            raise Stop

    with pytest.raises(Stop):
        run(cfg, tmp_path / "b", on_iteration=interrupt)
    partial = load_run(run_dir_for(cfg, tmp_path / "b"))
    assert not partial.finished and partial.iteration == 4
    resumed = load_run(run(cfg, tmp_path / "b", resume=True))
    assert resumed.finished
    for k in full.params:
        assert torch.equal(full.params[k], resumed.params[k]), k
    for k in full.rates:
        assert torch.equal(full.rates[k], resumed.rates[k]), k
    strip = [{k: v for k, v in r.items() if k != "wall_time"} for r in full.metrics]
    assert strip == [{k: v for k, v in r.items() if k != "wall_time"} for r in resumed.metrics]


def test_nan_stops_with_clear_error_and_keeps_checkpoint(tmp_path, monkeypatch):
    cfg = tiny_config()
    real = train_mod.meta_mod.meta_loss
    calls = {"n": 0}

    def poisoned(*a, **kw):
        out = real(*a, **kw)
        if "create_graph" in kw:  # validation, not a training step
            return out
        calls["n"] += 1
        if calls["n"] == 5:
            return type(out)(out.loss * float("nan"), out.query_loss, out.query_acc)
        return out

    monkeypatch.setattr(train_mod.meta_mod, "meta_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"iteration 5.*last good checkpoint.*iteration 4"):
        run(cfg, tmp_path)
    loaded = load_run(run_dir_for(cfg, tmp_path))
    assert loaded.iteration == 4 and not loaded.finished
    assert all(torch.isfinite(v).all() for v in loaded.params.values())


def test_finished_run_is_reused_and_changed_config_is_not(tmp_path, monkeypatch):
    cfg = tiny_config(algo="maml")
    path = run(cfg, tmp_path)
    mtime = (path / "final.pt").stat().st_mtime_ns
    assert run(cfg, tmp_path) == path
    assert (path / "final.pt").stat().st_mtime_ns == mtime
    other = run_dir_for(cfg.replace(inner_lr=0.2), tmp_path)
    assert other != path


def test_max_seconds_stops_with_checkpoint(tmp_path):
    cfg = tiny_config()
    path = run(cfg, tmp_path, max_seconds=0.0)
    loaded = load_run(path)
    assert loaded.iteration == 1 and not loaded.finished


def test_compiled_meta_step_equals_eager_float64():
    """``MetaStep(torch_compile=True)`` (torch.compile of the functional meta-loss) makes the
    eager step's update. Plain SGD with rate 1 makes the update the meta-gradient itself;
    Adam would turn rounding noise in near-zero gradients into +-lr steps."""
    test_meta = importlib.import_module("test_meta")
    cfg = MetaConfig(algo="meta-sgd", inner_lr=0.1, n_inner_steps=test_meta.STEPS)
    ep = test_meta.make_episode()
    updates, outs = {}, {}
    for compiled in (False, True):
        params, rates = test_meta.make_params("meta-sgd")
        leaves = {**params, **{f"rate:{k}": v for k, v in rates.items()}}
        before = {k: v.detach().clone() for k, v in leaves.items()}
        step = MetaStep(params, rates, torch.optim.SGD(list(leaves.values()), lr=1.0), cfg,
                        torch_compile=compiled)
        outs[compiled] = step(ep)
        updates[compiled] = {f"param:{k}" if ":" not in k else k: before[k] - v.detach()
                             for k, v in leaves.items()}
    torch.testing.assert_close(outs[True][0], outs[False][0], rtol=1e-12, atol=0)
    test_meta.assert_rel_close(updates[True], updates[False])
