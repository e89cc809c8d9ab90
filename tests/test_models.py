"""Conv-4: sizes, parameter count, batched form equals the module, clean body/head split."""

import pytest
import torch

from neglr_utils.core.models import (
    Conv4,
    Conv4Config,
    batch_norm,
    count_params,
    features,
    forward,
    head,
    init_params,
)


def test_feature_dim_paper_setting():
    cfg = Conv4Config(in_channels=3, image_size=84, hidden=64, n_way=5)
    params = init_params(cfg, generator=torch.Generator().manual_seed(0))
    x = torch.rand(1, 2, 3, 84, 84)
    assert features(params, x).shape == (1, 2, 1600)
    assert cfg.feature_dim == 1600


def test_parameter_count_equals_arithmetic():
    cfg = Conv4Config(in_channels=3, image_size=84, hidden=64, n_way=5)
    conv1 = 3 * 64 * 9 + 64
    conv_rest = 3 * (64 * 64 * 9 + 64)
    bn = 4 * 2 * 64
    head_ = 1600 * 5 + 5
    assert count_params(cfg) == conv1 + conv_rest + bn + head_ == 121_093
    assert sum(p.numel() for p in Conv4(cfg).parameters()) == 121_093


def test_omniglot_shape():
    cfg = Conv4Config(in_channels=1, image_size=28, hidden=64, n_way=5)
    assert cfg.feature_dim == 64
    params = init_params(cfg)
    assert forward(params, torch.rand(2, 5, 1, 28, 28)).shape == (2, 5, 5)


def test_functional_equals_module_per_task():
    """Grouped (batched) tasks give the same logits as the nn.Module run task by task."""
    torch.manual_seed(0)
    cfg = Conv4Config(in_channels=1, image_size=16, hidden=4, n_way=3)
    shared = init_params(cfg, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    n_tasks = 3
    per_task = {k: v.unsqueeze(0).repeat(n_tasks, *[1] * v.dim()) + 0.1 * torch.randn(
        n_tasks, *v.shape, dtype=torch.float64) for k, v in shared.items()}
    x = torch.rand(n_tasks, 6, 1, 16, 16, dtype=torch.float64)
    batched = forward(per_task, x)
    for t in range(n_tasks):
        module = Conv4(cfg).double().load_params({k: v[t] for k, v in per_task.items()})
        torch.testing.assert_close(batched[t], module(x[t]), rtol=1e-12, atol=1e-12)


def test_body_and_head_compose():
    cfg = Conv4Config(in_channels=1, image_size=28, hidden=8, n_way=4)
    params = init_params(cfg)
    x = torch.rand(1, 3, 1, 28, 28)
    torch.testing.assert_close(head(params, features(params, x)), forward(params, x))


def test_bad_input_shapes_raise():
    cfg = Conv4Config(in_channels=3, image_size=84)
    params = init_params(cfg)
    with pytest.raises(ValueError, match="input channels"):
        features(params, torch.rand(1, 2, 1, 84, 84))
    with pytest.raises(ValueError, match=r"\[tasks, batch"):
        features(params, torch.rand(2, 3, 84, 84))
    with pytest.raises(ValueError, match="too small"):
        _ = Conv4Config(image_size=8).feature_dim


def test_same_seed_same_weights():
    cfg = Conv4Config(in_channels=1, image_size=28, hidden=8)
    a = init_params(cfg, generator=torch.Generator().manual_seed(3))
    b = init_params(cfg, generator=torch.Generator().manual_seed(3))
    c = init_params(cfg, generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


def test_batch_norm_with_all_images_as_statistics_equals_torch():
    g = torch.Generator().manual_seed(3)
    h = torch.randn(7, 6, 5, 5, generator=g, dtype=torch.float64)
    gamma = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    beta = torch.randn(6, generator=g, dtype=torch.float64)
    ours = batch_norm(h, gamma, beta, n_stats=7)
    torch.testing.assert_close(ours, batch_norm(h, gamma, beta), rtol=1e-12, atol=1e-12)


def test_support_statistics_make_each_query_image_independent():
    cfg = Conv4Config(in_channels=1, image_size=16, hidden=4, n_way=3)
    params = init_params(cfg, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    support = torch.rand(1, 3, 1, 16, 16, generator=g, dtype=torch.float64)
    queries = torch.rand(1, 4, 1, 16, 16, generator=g, dtype=torch.float64)
    both = forward(params, torch.cat([support, queries], 1), n_stats=3)[:, 3:]
    first_only = forward(params, torch.cat([support, queries[:, :1]], 1), n_stats=3)[:, 3:]
    torch.testing.assert_close(both[:, :1], first_only, rtol=1e-12, atol=1e-12)
    # transductive statistics: the same query image gets other logits in another batch
    trans = forward(params, torch.cat([support, queries], 1))[:, 3:4]
    assert not torch.allclose(trans, first_only)
