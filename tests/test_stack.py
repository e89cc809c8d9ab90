"""Stacked training equals separate training (float64, CPU), resumes exactly, splits out."""

import pytest
import torch
from conftest import synthetic_splits, tiny_config

from neglr_utils.core.episodes import Episode, EpisodeSampler
from neglr_utils.core.stack import Stack, check_stackable
from neglr_utils.runs.config import run_dir_for
from neglr_utils.runs.training import load_run, train, train_runs

CPU = torch.device("cpu")
RTOL = 1e-10
MIX = [tiny_config("maml", seed=3, dtype="float64"),
       tiny_config("meta-sgd", seed=0, dtype="float64"),
       tiny_config("meta-sgd-positive", seed=1, dtype="float64", inner_lr=0.05),
       tiny_config("meta-sgd", seed=2, dtype="float64", rate_init="uniform")]


def episodes_for(cfgs):
    split = synthetic_splits()["train"]
    return [EpisodeSampler(split, c.n_way, c.k_shot, c.k_query, seed=c.seed + 7,
                           dtype=torch.float64).sample(c.meta_batch_size) for c in cfgs]


def cat(eps):
    return Episode(*(torch.cat([getattr(e, k) for e in eps]) for k in
                     ("x_support", "y_support", "x_query", "y_query", "classes")))


def grads(stack, episode):
    loss, losses, _ = stack.meta_loss(episode)
    leaves = [*stack.params.values(), *stack.rates.values()]
    return losses, dict(zip([*(f"p:{k}" for k in stack.params), *(f"r:{k}" for k in stack.rates)],
                            torch.autograd.grad(loss, leaves), strict=True))


def rel_err(a, b, total):
    """Relative error; tensors whose exact gradient is zero (conv biases before BatchNorm)
    are measured against the whole gradient's norm."""
    scale = b.norm() if b.norm() > 1e-8 * total else total
    return ((a - b).norm() / scale).item()


def test_stacked_meta_gradient_equals_separate_runs():
    eps = episodes_for(MIX)
    stacked = Stack(MIX, CPU)
    s_losses, s_grads = grads(stacked, cat(eps))
    rate_row = 0
    for m, (cfg, ep) in enumerate(zip(MIX, eps, strict=True)):
        alone = Stack([cfg], CPU)
        losses, g = grads(alone, ep)
        torch.testing.assert_close(s_losses[m], losses[0], rtol=1e-12, atol=0)
        total = torch.sqrt(sum(v.norm() ** 2 for v in g.values()))
        for k, v in g.items():
            row = rate_row if k.startswith("r:") else m
            assert rel_err(s_grads[k][row], v[0], total) < RTOL, (cfg.algo, k)
        rate_row += cfg.meta.learns_rates


def test_stacked_adam_update_equals_separate_runs():
    """One Adam step of the stack moves every model as its own Adam would. Conv biases
    are left out of the comparison: their exact gradient is zero (BatchNorm follows), so
    Adam's normalised step turns rounding noise into +-lr in both."""
    eps = episodes_for(MIX)
    stacked = Stack(MIX, CPU)
    stacked.step(cat(eps))
    for m, (cfg, ep) in enumerate(zip(MIX, eps, strict=True)):
        alone = Stack([cfg], CPU)
        alone.step(ep)
        for k, v in alone.model_params(0).items():
            if k.startswith("conv") and k.endswith("bias"):
                continue
            torch.testing.assert_close(stacked.model_params(m)[k], v, rtol=RTOL, atol=1e-13)
        for k, v in alone.model_rates(0).items():
            torch.testing.assert_close(stacked.model_rates(m)[k], v, rtol=RTOL, atol=1e-13)


def test_stacked_training_gives_each_model_its_separate_metrics(tmp_path):
    """K = 8 iterations, validation included: per-model losses and accuracies within 1e-9
    (float64; only rounding in the grouped convolutions differs)."""
    splits = synthetic_splits()
    stacked = train_runs(MIX, out_root=tmp_path / "s", splits=splits, device="cpu",
                         progress=False)
    for cfg, path in zip(MIX, stacked, strict=True):
        alone = load_run(train(cfg, out_root=tmp_path / "a", splits=splits, device="cpu",
                               progress=False))
        together = load_run(path)
        assert together.finished and together.info["stacked_with"] == len(MIX)
        for a, b in zip(together.metrics, alone.metrics, strict=True):
            for key in ("train_loss", "train_acc", "val_acc"):
                if key in b:
                    assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), (cfg.algo, key)


class Stop(Exception):
    pass


def test_stacked_resume_is_bit_exact_and_a_model_continues_alone(tmp_path):
    splits = synthetic_splits()
    kw = {"splits": splits, "device": "cpu", "progress": False}
    full = [load_run(p) for p in train_runs(MIX, out_root=tmp_path / "full", **kw)]

    def stop(it):
        if it == 6:  # checkpoint at 4, log up to 5
            raise Stop

    with pytest.raises(Stop):
        train_runs(MIX, out_root=tmp_path / "cut", on_iteration=stop, **kw)
    resumed = [load_run(p) for p in train_runs(MIX, out_root=tmp_path / "cut", **kw)]
    for a, b in zip(full, resumed, strict=True):
        for k in a.params:
            assert torch.equal(a.params[k], b.params[k]), k
        for k in a.rates:
            assert torch.equal(a.rates[k], b.rates[k]), k
        drop = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]  # noqa: E731
        assert drop(a.metrics) == drop(b.metrics)

    with pytest.raises(Stop):
        train_runs(MIX, out_root=tmp_path / "split", on_iteration=stop, **kw)
    alone = load_run(train(MIX[1], out_root=tmp_path / "split", **kw))
    assert alone.finished
    for a, b in zip(full[1].metrics, alone.metrics, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-9)


def test_only_per_model_settings_may_differ():
    check_stackable(MIX)
    with pytest.raises(ValueError, match="n_inner_steps"):
        check_stackable([MIX[0], MIX[1].replace(n_inner_steps=1)])
    with pytest.raises(ValueError, match="twice"):
        check_stackable([MIX[0], MIX[0]])


def test_runs_at_different_iterations_do_not_stack(tmp_path):
    kw = {"splits": synthetic_splits(), "device": "cpu", "progress": False}
    train(MIX[0], out_root=tmp_path, max_seconds=0.0, **kw)
    assert load_run(run_dir_for(MIX[0], tmp_path)).iteration == 1
    with pytest.raises(ValueError, match="different iterations"):
        train_runs(MIX[:2], out_root=tmp_path, **kw)


@pytest.mark.parametrize("cfgs", [MIX[:1], MIX[1:2], MIX], ids=["maml", "meta-sgd", "mixed"])
def test_the_loss_training_differentiates_equals_the_reference_loop(cfgs):
    """`Stack.meta_loss` (what training differentiates) and its gradients equal the float64
    reference loop over tasks (tests/conftest.py) for each model of the stack."""
    from conftest import meta_grads, reference_meta_loss

    eps = episodes_for(cfgs)
    stack = Stack(cfgs, CPU)
    _, losses, _ = stack.meta_loss(cat(eps))
    _, g = grads(stack, cat(eps))
    rate_row = 0
    for m, (cfg, ep) in enumerate(zip(cfgs, eps, strict=True)):
        params = {k: v.detach().clone().requires_grad_() for k, v in
                  stack.model_params(m).items()}
        rates = {k: v.detach().clone().requires_grad_() for k, v in
                 stack.model_rates(m).items()}
        loss = reference_meta_loss(params, rates, ep, cfg.meta)
        torch.testing.assert_close(losses[m], loss.detach(), rtol=1e-12, atol=0)
        ref = meta_grads(loss, params, rates)
        total = torch.sqrt(sum(v.norm() ** 2 for v in ref.values()))
        for k, v in ref.items():
            kind, name = k.split(":", 1)
            mine = g[f"{'p' if kind == 'param' else 'r'}:{name}"]
            row = rate_row if kind == "rate" else m
            assert rel_err(mine[row], v, total) < RTOL, (cfg.algo, k)
        rate_row += cfg.meta.learns_rates
