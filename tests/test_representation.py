"""Representation change: linear CKA against a plain HSIC reference and its invariances,
block activations against the model's own forward pass, no-op adaptation, head-only
adaptation, and the cache of run directories (float64, synthetic data)."""

import math

import pytest
import torch
from conftest import synthetic_splits, tiny_config, train_tiny

from neglr_utils.core.data import ImageSplit
from neglr_utils.core.episodes import EpisodeSet
from neglr_utils.core.meta import (
    MetaConfig,
    accuracy,
    adapt,
    effective_rates,
    init_rates,
    query_logits,
)
from neglr_utils.core.models import Conv4Config, features, forward, init_params
from neglr_utils.core.probe import TRAINED, ProbeConfig, conv_scaled, scale_rates
from neglr_utils.core.representation import (
    HEAD_ONLY,
    block_activations,
    linear_cka,
    pair_changes,
    representation_pairs,
)
from neglr_utils.runs import representations as reps
from neglr_utils.runs.store import read_representations

CFG = Conv4Config(in_channels=1, image_size=16, hidden=4, n_way=3)
N_TASKS, K_SHOT, K_QUERY, STEPS = 4, 1, 3, 2
CONVS = ("conv1", "conv2", "conv3", "conv4")
DTYPE = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def orthogonal(p, seed=1):
    return torch.linalg.qr(rand(p, p, seed=seed))[0]


def reference_cka(x, y):
    """HSIC form (Kornblith et al. 2019) with linear kernels and a centring matrix H."""
    n = x.shape[0]
    h = torch.eye(n, dtype=DTYPE) - torch.full((n, n), 1.0 / n, dtype=DTYPE)
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return torch.trace(a @ h @ b @ h)

    return (hsic(k, l_) / torch.sqrt(hsic(k, k) * hsic(l_, l_))).item()


# ------------------------------------------------------------------ linear CKA


def x_part(n, p):
    """Shared signal so the invariance tests look at a CKA well inside (0, 1)."""
    return 0.7 * rand(n, p, seed=0)


@pytest.mark.parametrize(("n", "p"), [(10, 30), (40, 6)])  # Gram form, feature form
def test_cka_of_a_representation_with_itself_is_one(n, p):
    x = rand(n, p)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("n", "p", "q"), [(10, 30, 20), (40, 6, 3), (12, 12, 50)])
def test_cka_equals_the_hsic_reference(n, p, q):
    x, y = rand(n, p, seed=0), rand(n, q, seed=1) + 0.5 * rand(n, p, seed=0)[:, :1]
    value = linear_cka(x, y)
    assert abs(value - reference_cka(x, y)) < 1e-10
    assert 0.05 < value < 0.95  # a fixed case away from the bounds


@pytest.mark.parametrize(("n", "p"), [(10, 30), (40, 6)])
def test_cka_is_invariant_to_orthogonal_maps_scaling_and_translation(n, p):
    x, y = rand(n, p, seed=0), rand(n, p, seed=2) + x_part(n, p)
    base = linear_cka(x, y)
    q = orthogonal(p)
    for a, b in ((x @ q, y), (x, y @ q), (3.7 * x, y), (x, 0.01 * y), (x + 5.0, y - rand(p))):
        assert abs(linear_cka(a, b) - base) < 1e-10


@pytest.mark.parametrize(("n", "p"), [(10, 30), (40, 6)])
def test_cka_is_not_invariant_to_anisotropic_scaling(n, p):
    """A general invertible linear map (here per-feature scales) changes CKA."""
    x, y = rand(n, p, seed=0), rand(n, p, seed=2) + x_part(n, p)
    scales = torch.logspace(-1.5, 1.5, p, dtype=DTYPE)
    assert abs(linear_cka(x * scales, y) - linear_cka(x, y)) > 0.05
    assert abs(linear_cka(x, x * scales) - 1.0) > 0.05


def test_cka_rejects_bad_shapes_and_is_nan_for_a_constant_representation():
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(rand(5, 3), rand(6, 3))
    with pytest.raises(ValueError, match="at least 2"):
        linear_cka(rand(1, 3), rand(1, 3))
    with pytest.raises(ValueError, match="flatten"):
        linear_cka(rand(5, 3, 2), rand(5, 3))
    assert math.isnan(linear_cka(torch.ones(5, 3, dtype=DTYPE), rand(5, 3)))
    # 0.1 three times: the column mean is off by one ulp, so only the explicit constant
    # check (not the zero centred norm) sees it
    assert math.isnan(linear_cka(rand(3, 3), torch.full((3, 4), 0.1, dtype=DTYPE)))


# ------------------------------------------------------------------ activations


def make_model(algo="meta-sgd"):
    params = init_params(CFG, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    g = torch.Generator().manual_seed(1)
    params = {k: v + 0.1 * torch.randn(v.shape, generator=g, dtype=v.dtype)
              for k, v in params.items()}
    cfg = MetaConfig(algo=algo, inner_lr=0.5, n_inner_steps=STEPS, rate_init="uniform",
                     rate_init_range=(0.2, 1.0))
    return params, effective_rates(params, init_rates(params, cfg, generator=g), cfg)


def make_tasks(n=N_TASKS):
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (8, 6, 1, 16, 16), generator=g, dtype=torch.uint8)
    split = ImageSplit("omniglot", "test", imgs, tuple(f"c{i}" for i in range(8)))
    return [EpisodeSet(split, CFG.n_way, K_SHOT, K_QUERY, n, seed=s, dtype=DTYPE)
            for s in (1, 2)]


@pytest.mark.parametrize("n_stats", [None, 3])
def test_block_activations_are_the_model_s_own(n_stats):
    params, rates = make_model()
    ep = make_tasks()[0].get(0, N_TASKS)
    x = torch.cat([ep.x_support, ep.x_query], dim=1)
    fast = adapt(params, ep.x_support, ep.y_support, rates, STEPS, first_order=True)
    for p in (params, fast):  # shared and per-task weights
        acts = block_activations(p, x, n_stats)
        assert list(acts) == [*CONVS, "head"]
        assert acts["conv1"].shape == (N_TASKS, x.shape[1], 4 * 8 * 8)
        for k in range(1, 5):
            assert torch.equal(acts[f"conv{k}"], features(p, x, n_blocks=k, n_stats=n_stats))
        assert torch.equal(acts["conv4"], features(p, x, n_stats=n_stats))
        assert torch.equal(acts["head"], forward(p, x, n_stats=n_stats))


# ------------------------------------------------------------------ representation change


@pytest.mark.parametrize("how", ["zero_steps", "zero_rates"])
def test_no_adaptation_leaves_every_layer_as_it_was(how):
    params, rates = make_model()
    steps = STEPS
    if how == "zero_steps":
        steps = 0
    else:
        rates = scale_rates(rates, {"conv": 0.0, "bn": 0.0, "head": 0.0})
    out = representation_pairs(params, [rates], steps, *make_tasks(), batch_size=3)[0]
    assert out.layers == (*CONVS, "head") and out.n == N_TASKS
    for layer in out.layers:
        assert (out.cka_on[layer] == 1.0).all(), layer
        assert (out.cka_off[layer] == 1.0).all(), layer
        assert (out.weight_change[layer] == 0.0).all(), layer


def test_head_only_adaptation_keeps_the_body():
    params, rates = make_model()
    head_only = scale_rates(rates, dict(HEAD_ONLY.scales))
    out = representation_pairs(params, [head_only], STEPS, *make_tasks())[0]
    for layer in CONVS:
        assert (out.cka_on[layer] == 1.0).all() and (out.cka_off[layer] == 1.0).all(), layer
        assert (out.weight_change[layer] == 0.0).all(), layer
    assert (out.weight_change["head"] > 0.01).all()
    assert (out.cka_on["head"] < 1.0).all()


def test_full_adaptation_changes_the_body():
    params, rates = make_model()
    out = representation_pairs(params, [rates], STEPS, *make_tasks())[0]
    for layer in (*CONVS, "head"):
        assert (out.weight_change[layer] > 0).all(), layer
        assert (out.cka_on[layer] < 1.0).all(), layer


@pytest.mark.parametrize("query_bn", ["transductive", "support"])
def test_head_accuracy_is_the_model_s_query_accuracy(query_bn):
    params, rates = make_model("maml")
    a, b = make_tasks()
    ep_a = a.get(0, N_TASKS)
    with torch.no_grad():
        out, = pair_changes(params, [rates], STEPS, ep_a, b.get(0, N_TASKS), query_bn=query_bn)
        fast = adapt(params, ep_a.x_support, ep_a.y_support, rates, STEPS, first_order=True)
        expected = accuracy(query_logits(fast, ep_a, query_bn), ep_a.y_query)
    assert out.head_acc.tolist() == expected.tolist()


def test_weight_change_is_the_relative_norm_of_the_step():
    params, rates = make_model()
    a, b = make_tasks()
    ep_a = a.get(0, N_TASKS)
    with torch.no_grad():
        out, = pair_changes(params, [rates], STEPS, ep_a, b.get(0, N_TASKS))
        fast = adapt(params, ep_a.x_support, ep_a.y_support, rates, STEPS, first_order=True)
    names = ["conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias"]
    diff = torch.cat([(fast[k] - params[k]).flatten(1) for k in names], dim=1).norm(dim=1)
    ref = diff / torch.cat([params[k].flatten() for k in names]).norm()
    torch.testing.assert_close(torch.from_numpy(out.weight_change["conv2"]), ref)


def test_chunks_and_other_conditions_change_no_number():
    params, rates = make_model()
    tasks = make_tasks()
    flipped = scale_rates(rates, {"conv": -1.0})
    one = representation_pairs(params, [rates], STEPS, *tasks, batch_size=1)[0].as_dict()
    both = representation_pairs(params, [flipped, rates], STEPS, *tasks, batch_size=100)
    first = representation_pairs(params, [rates], STEPS, *tasks, n_pairs=2)[0].as_dict()
    all_ = both[1].as_dict()
    for field in ("cka_on", "cka_off", "weight_change"):
        for layer in one[field]:
            assert (one[field][layer] == all_[field][layer]).all(), (field, layer)
            assert (first[field][layer] == all_[field][layer][:2]).all(), (field, layer)
    assert (both[0].cka_on["conv4"] != both[1].cka_on["conv4"]).all()
    with pytest.raises(ValueError, match="n_pairs"):
        representation_pairs(params, [rates], STEPS, *tasks, n_pairs=N_TASKS + 1)
    with pytest.raises(TypeError, match=r"\[rates\]"):
        representation_pairs(params, rates, STEPS, *tasks)


# ------------------------------------------------------------------ run directories


def test_representation_json_is_reused_and_extended(tmp_path, monkeypatch):
    run_dir = train_tiny(tiny_config("meta-sgd"), tmp_path)
    split = synthetic_splits()["test"]
    monkeypatch.setattr(reps, "load_split", lambda *a, **k: split)
    cfg = ProbeConfig(n_iterations=6, k_query=2, batch_size=4)
    conds = (TRAINED, HEAD_ONLY)
    first = reps.ensure_representation(run_dir, cfg, conds, n_pairs=5)
    assert list(first) == list(conds) and first[TRAINED].n == 5
    assert len(read_representations(run_dir)) == 2
    computed = []
    real = reps.compute_representation

    def counting(run, cfg, conditions, *a, **k):
        computed.extend(conditions)
        return real(run, cfg, conditions, *a, **k)

    monkeypatch.setattr(reps, "compute_representation", counting)
    again = reps.ensure_representation(run_dir, cfg, conds, n_pairs=5)
    assert computed == []
    for c in conds:
        for layer, v in first[c].cka_on.items():
            assert (again[c].cka_on[layer] == v).all()
    flipped = conv_scaled(-1.0)
    reps.ensure_representation(run_dir, cfg, (TRAINED, flipped), n_pairs=5)
    assert computed == [flipped]
    reps.ensure_representation(run_dir, cfg, (TRAINED,), n_pairs=4)  # other n_pairs
    assert computed == [flipped, TRAINED] and len(read_representations(run_dir)) == 4
    assert (first[HEAD_ONLY].weight_change["conv1"] == 0).all()
