"""GPU-only checks (skipped without CUDA): the CUDA paths compute what the CPU tests prove.

Run on the GPU machine with `python -m pytest -m gpu tests/test_gpu.py`.
"""

import pytest
import torch
from conftest import (
    STEPS,
    assert_rel_close,
    make_episode,
    make_params,
    meta_grads,
    reference_meta_loss,
    tiny_config,
)

from neglr_utils.core.episodes import Episode
from neglr_utils.core.meta import MetaConfig, meta_loss
from neglr_utils.core.stack import Stack

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
CUDA = torch.device("cuda")


def to_cuda(ep: Episode) -> Episode:
    return Episode(*(t.to(CUDA) for t in (ep.x_support, ep.y_support, ep.x_query, ep.y_query)),
                   ep.classes)


@pytest.mark.parametrize("algo", ["maml", "meta-sgd"])
def test_cuda_meta_gradient_equals_cpu_loop_float64(algo):
    """Grouped-convolution batching on CUDA (cuDNN) equals the CPU loop in float64."""
    params, rates = make_params(algo)
    cfg = MetaConfig(algo=algo, inner_lr=0.1, n_inner_steps=STEPS)
    ep = make_episode()
    ref = meta_grads(reference_meta_loss(params, rates, ep, cfg), params, rates)
    p_cuda = {k: v.detach().to(CUDA).requires_grad_() for k, v in params.items()}
    r_cuda = {k: v.detach().to(CUDA).requires_grad_() for k, v in rates.items()}
    ours = meta_grads(meta_loss(p_cuda, r_cuda, to_cuda(ep), cfg).loss, p_cuda, r_cuda)
    assert_rel_close({k: v.cpu() for k, v in ours.items()}, ref)


def test_cuda_stacked_meta_gradient_equals_cpu_stack_float64():
    """A mixed stack on CUDA gives every model the CPU stack's meta-gradient (float64)."""
    cfgs = [tiny_config(a, seed=s, dtype="float64") for s, a in
            enumerate(("maml", "meta-sgd", "meta-sgd-positive"))]
    g = torch.Generator().manual_seed(0)
    n = cfgs[0].n_way
    t = len(cfgs) * cfgs[0].meta_batch_size

    def labels(k):
        return torch.stack([torch.randperm(n * k, generator=g) % n for _ in range(t)])

    ep = Episode(torch.rand(t, n, 1, 28, 28, generator=g, dtype=torch.float64), labels(1),
                 torch.rand(t, n * 3, 1, 28, 28, generator=g, dtype=torch.float64), labels(3),
                 torch.zeros(t, n, dtype=torch.long))
    grads = {}
    for device, episode in ((torch.device("cpu"), ep), (CUDA, to_cuda(ep))):
        stack = Stack(cfgs, device)
        loss, _, _ = stack.meta_loss(episode)
        leaves = {**{f"param:{k}": v for k, v in stack.params.items()},
                  **{f"rate:{k}": v for k, v in stack.rates.items()}}
        grads[device.type] = dict(zip(leaves, (x.cpu() for x in torch.autograd.grad(
            loss, list(leaves.values()))), strict=True))
    assert_rel_close(grads["cuda"], grads["cpu"])
