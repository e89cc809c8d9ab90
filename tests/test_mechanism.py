"""The rate meta-gradient: closed form at alpha = 0, a sign known by construction."""

import torch
from conftest import synthetic_splits, tiny_config

from neglr_utils.core.episodes import Episode, EpisodeSet
from neglr_utils.core.mechanism import chunk_gradients, layer_pushes, rate_gradients
from neglr_utils.core.meta import task_losses
from neglr_utils.core.models import forward, init_params
from neglr_utils.runs.training import Run


def model(dtype=torch.float64):
    cfg = tiny_config("meta-sgd", dtype="float64")
    g = torch.Generator().manual_seed(0)
    params = init_params(cfg.model_config(), generator=g, dtype=dtype)
    params = {k: v + 0.05 * torch.randn(v.shape, generator=g, dtype=dtype)
              for k, v in params.items()}
    rates = {k: torch.full_like(v, 0.01) for k, v in params.items()}
    return Run(None, cfg, params, rates, [], {}, True, 8)


def episode(run, n=4, seed=0):
    split = synthetic_splits()["test"]
    c = run.config
    return EpisodeSet(split, c.n_way, c.k_shot, c.k_query, n, seed=seed,
                      dtype=torch.float64).get(0, n)


def test_gradient_at_zero_rates_is_minus_steps_times_query_times_support_gradient():
    run = model()
    ep = episode(run)
    zeros = {k: torch.zeros_like(v) for k, v in run.params.items()}
    g = chunk_gradients(run.params, zeros, ep, n_inner_steps=3, query_bn="transductive")
    for t in range(ep.n_tasks):
        p = {k: v.detach().requires_grad_(True) for k, v in run.params.items()}
        one = ep.task(t)
        g_s = torch.autograd.grad(task_losses(forward(p, one.x_support), one.y_support).sum(),
                                  list(p.values()))
        g_q = torch.autograd.grad(task_losses(forward(p, one.x_query), one.y_query).sum(),
                                  list(p.values()))
        for (k, gs), gq in zip(zip(p, g_s, strict=True), g_q, strict=True):
            torch.testing.assert_close(g[k][t], -3 * gq * gs, rtol=1e-9, atol=1e-15)


def test_query_equal_to_support_pushes_every_rate_up():
    """With the query set equal to the support set, dL/dalpha = -n g^2 <= 0 at alpha = 0:
    every layer's rates are pushed up (positive). A broken sign would show "down"."""
    run = model()
    ep = episode(run, n=6)
    same = Episode(ep.x_support, ep.y_support, ep.x_support, ep.y_support, ep.classes)
    args = (run.params, run.effective_rates(), run.config.meta.n_inner_steps)
    res = layer_pushes(rate_gradients(*args, [same.task(slice(0, 3)), same.task(slice(3, 6))]))
    assert {p.direction for p in res.values()} == {"up"}, res
    assert all(p.positive_entries == 0.0 for p in res.values())


def test_learned_rates_and_support_statistics_change_the_gradient():
    run = model()
    tasks = EpisodeSet(synthetic_splits()["test"], 5, 1, 3, 6, seed=1, dtype=torch.float64)
    args = (run.params, run.effective_rates(), run.config.meta.n_inner_steps)
    zero = rate_gradients(*args, tasks.batches(4), at="zero")
    learned = rate_gradients(*args, tasks.batches(4), at="learned")
    support = rate_gradients(*args, tasks.batches(4), at="zero", query_bn="support")
    assert zero.per_task["conv1"].shape == (6,)
    assert not (zero.per_task["conv2"] == learned.per_task["conv2"]).all()
    assert not (zero.per_task["conv2"] == support.per_task["conv2"]).all()
