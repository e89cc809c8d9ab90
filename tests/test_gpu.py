"""GPU-only checks (skipped without CUDA): the CUDA paths compute what the CPU tests prove.

Run on the GPU machine with `python -m pytest -m gpu tests/test_gpu.py`.
"""

import importlib

import pytest
import torch

from neglr_utils.meta import MetaConfig, meta_loss
from neglr_utils.train import MetaStep, load_run, train

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

test_meta = importlib.import_module("test_meta")
test_train = importlib.import_module("test_train")


@pytest.mark.parametrize("algo", ["maml", "meta-sgd"])
def test_cuda_meta_gradient_equals_cpu_loop_float64(algo):
    """Grouped-convolution batching on CUDA (cuDNN) equals the CPU loop in float64."""
    params, rates = test_meta.make_params(algo)
    cfg = MetaConfig(algo=algo, inner_lr=0.1, n_inner_steps=test_meta.STEPS)
    ep = test_meta.make_episode()
    ref = test_meta.meta_grads(test_meta.reference_meta_loss(params, rates, ep, cfg), params,
                               rates)
    dev = torch.device("cuda")
    p_cuda = {k: v.detach().to(dev).requires_grad_() for k, v in params.items()}
    r_cuda = {k: v.detach().to(dev).requires_grad_() for k, v in rates.items()}
    ep_cuda = type(ep)(*(t.to(dev) for t in (ep.x_support, ep.y_support, ep.x_query,
                                             ep.y_query)), ep.classes)
    ours = test_meta.meta_grads(meta_loss(p_cuda, r_cuda, ep_cuda, cfg).loss, p_cuda, r_cuda)
    test_meta.assert_rel_close({k: v.cpu() for k, v in ours.items()}, ref)


@pytest.mark.parametrize("n_iterations", [1, 12])
@pytest.mark.parametrize("algo", ["maml", "meta-sgd"])
def test_cuda_graph_training_matches_eager(tmp_path, algo, n_iterations):
    """The CUDA-graph step trains the same weights as the eager step.

    After one iteration the two must agree to float32 rounding (a wrong capture shows up
    here); after 12 a looser bound allows Adam to amplify rounding on random images.
    On an H200 (torch 2.11) the 12-iteration MAML case differed by up to 4e-3 in conv1
    (benchmarks/results/h200-gpu-tests.txt), which is why the graph is opt-in.
    """
    cfg = test_train.tiny_config(algo=algo, n_iterations=n_iterations, hidden=8)
    runs = {}
    for graph in (False, True):
        path = train(cfg, out_root=tmp_path / str(graph), splits=test_train.synthetic_splits(),
                     device="cuda", progress=False, cuda_graph=graph)
        runs[graph] = load_run(path)
    tol = {"rtol": 1e-4, "atol": 1e-6} if n_iterations == 1 else {"rtol": 1e-3, "atol": 1e-4}
    for k in runs[False].params:
        torch.testing.assert_close(runs[True].params[k], runs[False].params[k], **tol)
    for k in runs[False].rates:
        torch.testing.assert_close(runs[True].rates[k], runs[False].rates[k], **tol)
    assert runs[True].info["cuda_graph"] is True


@pytest.mark.parametrize("algo", ["maml", "meta-sgd"])
def test_cuda_graph_meta_step_update_equals_eager_float64(algo):
    """The graphed step's update equals the eager step's, in float64 with plain SGD
    (rate 1: the update is the meta-gradient). Adam, as in the training test above,
    turns rounding noise in near-zero gradient elements into +-lr steps, so a difference
    there after several iterations need not mean a wrong capture; this test tells."""
    test_meta = importlib.import_module("test_meta")
    cfg = MetaConfig(algo=algo, inner_lr=0.1, n_inner_steps=test_meta.STEPS)
    dev = torch.device("cuda")
    episodes = [test_meta.make_episode(seed=s) for s in (0, 1)]
    episodes = [type(e)(*(t.to(dev) for t in (e.x_support, e.y_support, e.x_query,
                                                e.y_query)), e.classes) for e in episodes]
    updates = {}
    for graph in (False, True):
        params, rates = test_meta.make_params(algo)
        params = {k: v.detach().to(dev).requires_grad_() for k, v in params.items()}
        rates = {k: v.detach().to(dev).requires_grad_() for k, v in rates.items()}
        leaves = {**{f"param:{k}": v for k, v in params.items()},
                  **{f"rate:{k}": v for k, v in rates.items()}}
        step = MetaStep(params, rates, torch.optim.SGD(list(leaves.values()), lr=1.0), cfg,
                        cuda_graph=graph)
        step(episodes[0])  # the graphed step captures here; the update is discarded below
        before = {k: v.detach().clone() for k, v in leaves.items()}
        step(episodes[1])  # a replay with new inputs
        updates[graph] = {k: (before[k] - v.detach()).cpu() for k, v in leaves.items()}
    test_meta.assert_rel_close(updates[True], updates[False])
