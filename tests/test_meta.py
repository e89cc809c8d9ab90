"""Meta-gradients of neglr_utils.core.meta equal a plain per-task autograd loop and learn2learn.

The reference loop and the fixed test case live in conftest.py (shared with the GPU and
probe tests).

All in float64 on a small Conv-4 with BatchNorm (batch statistics), 3 tasks, 2 inner
steps, for MAML and Meta-SGD, first and second order. Relative error per tensor must
be below 1e-10.
"""

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    CFG,
    N_TASKS,
    STEPS,
    assert_rel_close,
    make_episode,
    make_params,
    meta_grads,
    reference_meta_loss,
)

from neglr_utils.core.meta import (
    MetaConfig,
    adapt,
    adapted_names,
    effective_rates,
    init_rates,
    meta_loss,
)
from neglr_utils.core.models import Conv4


def learn2learn_meta_loss(params, rates, ep, cfg):
    """The same objective through learn2learn's MAML / MetaSGD wrappers on an nn.Module."""
    import learn2learn as l2l  # installed by `make`; a missing reference must fail
    model = Conv4(CFG).double().load_params(params)
    name_of = {id(p): k for k, p in model.params().items()}
    if cfg.algo == "maml":
        learner = l2l.algorithms.MAML(model, lr=cfg.inner_lr, first_order=cfg.first_order)
    else:
        learner = l2l.algorithms.MetaSGD(model, lr=1.0, first_order=cfg.first_order)
        with torch.no_grad():
            for p, lr in zip(model.parameters(), learner.lrs, strict=True):
                lr.copy_(rates[name_of[id(p)]])
    losses = []
    for t in range(ep.n_tasks):
        clone = learner.clone()
        for _ in range(cfg.n_inner_steps):
            clone.adapt(F.cross_entropy(clone(ep.x_support[t]), ep.y_support[t]))
        losses.append(F.cross_entropy(clone(ep.x_query[t]), ep.y_query[t]))
    loss = torch.stack(losses).mean()
    names = [name_of[id(p)] for p in model.parameters()]
    inputs = list(model.parameters()) + (list(learner.lrs) if cfg.algo != "maml" else [])
    grads = torch.autograd.grad(loss, inputs)
    out = {f"param:{n}": g for n, g in zip(names, grads[: len(names)], strict=True)}
    if cfg.algo != "maml":
        out.update({f"rate:{n}": g for n, g in zip(names, grads[len(names):], strict=True)})
    return loss, out


CASES = [(algo, fo) for algo in ("maml", "meta-sgd", "meta-sgd-positive") for fo in (False, True)]


@pytest.mark.parametrize(("algo", "first_order"), CASES)
def test_meta_gradient_equals_sequential_loop(algo, first_order):
    params, rates = make_params(algo)
    cfg = MetaConfig(algo=algo, inner_lr=0.1, n_inner_steps=STEPS, first_order=first_order)
    ep = make_episode()
    ours = meta_loss(params, rates, ep, cfg).loss
    ref = reference_meta_loss(params, rates, ep, cfg)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    g_ours = meta_grads(ours, params, rates)
    g_ref = meta_grads(ref, params, rates)
    assert_rel_close(g_ours, g_ref)
    if algo != "maml":  # the meta-gradient reaches the rates
        assert all(g_ours[f"rate:{k}"].abs().sum() > 0 for k in rates)


@pytest.mark.parametrize("algo", ["maml", "meta-sgd"])
def test_head_only_meta_gradient_equals_sequential_loop(algo):
    """With only the head adapted (ANIL), the body's meta-gradient flows through the
    support gradients' dependence on the frozen body: the inner loop must keep it."""
    params, _ = make_params(algo)
    cfg = MetaConfig(algo=algo, inner_lr=0.1, n_inner_steps=STEPS, adapt="head")
    rates = {k: v.requires_grad_() for k, v in init_rates(params, cfg).items()}
    ep = make_episode()
    ours = meta_grads(meta_loss(params, rates, ep, cfg).loss, params, rates)
    ref = meta_grads(reference_meta_loss(params, rates, ep, cfg), params, rates)
    assert ours["param:conv2.weight"].abs().sum() > 0
    assert_rel_close(ours, ref)


@pytest.mark.parametrize("algo", ["maml", "meta-sgd"])
def test_support_statistics_meta_gradient_equals_sequential_loop(algo):
    params, rates = make_params(algo, seed=2)
    cfg = MetaConfig(algo=algo, inner_lr=0.1, n_inner_steps=STEPS, query_bn="support")
    ep = make_episode(seed=3)
    ours = meta_loss(params, rates, ep, cfg).loss
    ref = reference_meta_loss(params, rates, ep, cfg)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    assert_rel_close(meta_grads(ours, params, rates), meta_grads(ref, params, rates))
    transductive = meta_loss(params, rates, ep, MetaConfig(algo=algo, inner_lr=0.1,
                                                           n_inner_steps=STEPS)).loss
    assert abs(transductive.item() - ours.item()) > 1e-6  # the option changes the objective


@pytest.mark.parametrize(("algo", "first_order"), [c for c in CASES if c[0] != "meta-sgd-positive"])
def test_meta_gradient_equals_learn2learn(algo, first_order):
    params, rates = make_params(algo, seed=5)
    cfg = MetaConfig(algo=algo, inner_lr=0.1, n_inner_steps=STEPS, first_order=first_order)
    ep = make_episode(seed=7)
    ref_loss, g_ref = learn2learn_meta_loss(params, rates, ep, cfg)
    ours = meta_loss(params, rates, ep, cfg).loss
    torch.testing.assert_close(ours, ref_loss, rtol=1e-12, atol=0)
    assert_rel_close(meta_grads(ours, params, rates), g_ref)


def test_second_order_differs_from_first_order():
    """The check can fail: first- and second-order meta-gradients are not the same."""
    params, rates = make_params("maml")
    ep = make_episode()
    g = [meta_grads(meta_loss(params, rates, ep, MetaConfig(
        inner_lr=0.1, n_inner_steps=STEPS, first_order=fo)).loss, params, rates)
        for fo in (False, True)]
    err = (g[0]["param:conv1.weight"] - g[1]["param:conv1.weight"]).norm()
    assert err / g[0]["param:conv1.weight"].norm() > 1e-4


def test_meta_sgd_with_constant_rates_is_maml():
    params, _ = make_params("maml")
    ep = make_episode()
    maml = MetaConfig(algo="maml", inner_lr=0.05, n_inner_steps=STEPS)
    meta_sgd = MetaConfig(algo="meta-sgd", inner_lr=0.05, n_inner_steps=STEPS)
    rates = init_rates(params, meta_sgd)
    torch.testing.assert_close(meta_loss(params, {}, ep, maml).loss,
                               meta_loss(params, rates, ep, meta_sgd).loss, rtol=1e-14, atol=0)


def test_zero_steps_return_the_parameters():
    params, _ = make_params("maml")
    ep = make_episode()
    fast = adapt(params, ep.x_support, ep.y_support, {k: 0.1 for k in params}, 0)
    for k in params:
        torch.testing.assert_close(fast[k], params[k].expand_as(fast[k]))


def test_positive_step_lowers_and_negative_step_raises_support_loss():
    from neglr_utils.core.meta import task_losses
    from neglr_utils.core.models import forward
    params, _ = make_params("maml")
    ep = make_episode()
    before = task_losses(forward(params, ep.x_support), ep.y_support)
    for sign in (1.0, -1.0):
        fast = adapt(params, ep.x_support, ep.y_support, {k: sign * 1e-3 for k in params}, 1,
                     first_order=True)
        after = task_losses(forward(fast, ep.x_support), ep.y_support)
        assert bool(((after - before) * sign < 0).all()), sign


def test_head_only_adaptation_keeps_the_body_shared():
    params, _ = make_params("maml")
    ep = make_episode()
    names = adapted_names(params, "head")
    assert names == ["head.weight", "head.bias"]
    fast = adapt(params, ep.x_support, ep.y_support, {k: 0.1 for k in names}, 2)
    assert fast["conv1.weight"] is params["conv1.weight"]
    assert fast["head.weight"].shape[0] == N_TASKS


def test_positive_rates_stay_positive():
    params, _ = make_params("maml")
    cfg = MetaConfig(algo="meta-sgd-positive", inner_lr=0.01)
    raw = init_rates(params, cfg)
    raw = {k: v - 50.0 for k, v in raw.items()}  # any raw value maps to a positive rate
    assert all((r > 0).all() for r in effective_rates(params, raw, cfg).values())


def test_bad_config_raises():
    with pytest.raises(ValueError, match="algo"):
        MetaConfig(algo="reptile")
    with pytest.raises(ValueError, match="positive"):
        MetaConfig(algo="meta-sgd-positive", inner_lr=-0.1)
