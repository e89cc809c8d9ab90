"""Shared fixtures and helpers: the real data root, synthetic splits, a tiny run config, and
the float64 reference implementation (a plain per-task loop) the fast paths are tested
against."""

from __future__ import annotations

import getpass
import os
import tempfile
from pathlib import Path

# Inductor's on-disk cache (its precompiled C++ headers) is not keyed on the emulated CPU: a
# header built natively fails to compile under ATEN_CPU_CAPABILITY=default ("'at::vec' has not
# been declared"). One cache per emulated capability keeps the compiled tests honest on each.
_ISA = "-".join(os.environ.get(name, "native")
                for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"))
_CACHE = Path(tempfile.gettempdir()) / f"neglr-inductor-{getpass.getuser()}-{_ISA}"
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_CACHE))

import pytest
import torch
import torch.nn.functional as F

from neglr_utils.core.data import ImageSplit
from neglr_utils.core.episodes import Episode
from neglr_utils.core.meta import MetaConfig, effective_rates, init_rates
from neglr_utils.core.models import BN_EPS, Conv4Config, init_params
from neglr_utils.runs.config import RunConfig
from neglr_utils.runs.profiles import profile_config
from neglr_utils.runs.training import train


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The real data root from NEGLR_DATA; skips without it, fails if NEGLR_REQUIRE_DATA=1."""
    value = os.environ.get("NEGLR_DATA", "")
    if value and Path(value).is_dir():
        return Path(value)
    reason = (f"real data root missing: NEGLR_DATA={value!r} is not a folder" if value
              else "real data root missing: NEGLR_DATA is not set")
    if os.environ.get("NEGLR_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (and NEGLR_REQUIRE_DATA=1)")
    pytest.skip(reason)


def synthetic_splits(n_classes: int = 12, n_per_class: int = 8, size: int = 28,
                     dataset: str = "omniglot") -> dict[str, ImageSplit]:
    """Random uint8 images in the shape of ``dataset``, three splits, seeded."""
    g = torch.Generator().manual_seed(0)
    channels = 1 if dataset == "omniglot" else 3
    out = {}
    for split in ("train", "val", "test"):
        imgs = torch.randint(0, 256, (n_classes, n_per_class, channels, size, size), generator=g,
                             dtype=torch.uint8)
        out[split] = ImageSplit(dataset, split, imgs, tuple(f"c{i}" for i in range(n_classes)))
    return out


def tiny_config(algo: str = "meta-sgd", **changes) -> RunConfig:
    """A run that trains in a second: 4 filters, 8 iterations, checkpoints every 2."""
    base = profile_config("smoke", algo=algo).replace(
        n_iterations=8, ckpt_every=2, val_every=4, log_every=1, hidden=4, n_val_episodes=4,
        k_query=3)
    return base.replace(**changes)


def train_tiny(cfg: RunConfig, out_root: Path, **kw) -> Path:
    """`train` on the synthetic splits, on the CPU, quietly."""
    return train(cfg, out_root=out_root, splits=synthetic_splits(), device="cpu",
                 progress=False, **kw)


# ----------------------------------------------------------------------------- reference

CFG = Conv4Config(in_channels=1, image_size=16, hidden=4, n_way=3)
N_TASKS, K_SHOT, K_QUERY, STEPS = 3, 2, 3, 2
RTOL = 1e-10


def make_episode(seed: int = 0) -> Episode:
    g = torch.Generator().manual_seed(seed)
    n = CFG.n_way

    def labels(k):
        return torch.stack([torch.randperm(n * k, generator=g) % n for _ in range(N_TASKS)])

    return Episode(
        x_support=torch.rand(N_TASKS, n * K_SHOT, 1, 16, 16, generator=g, dtype=torch.float64),
        y_support=labels(K_SHOT),
        x_query=torch.rand(N_TASKS, n * K_QUERY, 1, 16, 16, generator=g, dtype=torch.float64),
        y_query=labels(K_QUERY),
        classes=torch.zeros(N_TASKS, n, dtype=torch.long),
    )


def make_params(algo: str, seed: int = 0):
    params = init_params(CFG, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    # Non-trivial BN affine parameters, so their gradients are exercised too.
    g = torch.Generator().manual_seed(seed + 100)
    for k in params:
        if k.startswith("bn") or k.endswith("bias"):
            params[k] = params[k] + 0.1 * torch.randn(params[k].shape, generator=g,
                                                       dtype=torch.float64)
    cfg = MetaConfig(algo=algo, inner_lr=0.1, n_inner_steps=STEPS, rate_init="uniform",
                     rate_init_range=(0.02, 0.2))
    rates = init_rates(params, cfg, generator=torch.Generator().manual_seed(seed + 1))
    if algo == "meta-sgd":  # some negative rates, as Meta-SGD learns them
        rates = {k: v * torch.where(torch.rand(v.shape, generator=g, dtype=v.dtype) < 0.3,
                                    -1.0, 1.0) for k, v in rates.items()}
    params = {k: v.requires_grad_() for k, v in params.items()}
    rates = {k: v.requires_grad_() for k, v in rates.items()}
    return params, rates


def reference_features(p, x, support=None):
    """Plain single-task Conv-4 body written with torch.nn.functional: x [B, C, H, W] -> [B, D].

    The independent reference for these tests and tests/test_probe.py. With ``support``
    (images [S, C, H, W]), each BatchNorm normalises x with the support images' batch
    statistics (running them through the same layers alongside).
    """
    h, s = x, support
    for i in range(1, 5):
        w, b = p[f"conv{i}.weight"], p[f"conv{i}.bias"]
        h = F.conv2d(h, w, b, padding=1)
        gamma, beta = p[f"bn{i}.weight"], p[f"bn{i}.bias"]
        if s is None:
            h = F.batch_norm(h, None, None, gamma, beta, training=True, eps=BN_EPS)
        else:
            s = F.conv2d(s, w, b, padding=1)
            mean, var = s.mean(dim=(0, 2, 3)), s.var(dim=(0, 2, 3), unbiased=False)
            h = (h - mean[:, None, None]) / torch.sqrt(var[:, None, None] + BN_EPS)
            h = h * gamma[:, None, None] + beta[:, None, None]
            s = F.max_pool2d(F.relu(F.batch_norm(s, None, None, gamma, beta, training=True,
                                                 eps=BN_EPS)), 2)
        h = F.max_pool2d(F.relu(h), 2)
    return h.flatten(1)


def reference_forward(p, x, support=None):
    """The reference body plus the linear head: logits [B, n_way]."""
    return F.linear(reference_features(p, x, support), p["head.weight"], p["head.bias"])


def reference_meta_loss(params, rates, ep, cfg):
    """A sequential loop over tasks: the textbook MAML / Meta-SGD objective."""
    lrs = effective_rates(params, rates, cfg)
    losses = []
    for t in range(ep.n_tasks):
        fast = dict(params)
        for _ in range(cfg.n_inner_steps):
            loss = F.cross_entropy(reference_forward(fast, ep.x_support[t]), ep.y_support[t])
            names = list(lrs)
            grads = torch.autograd.grad(loss, [fast[k] for k in names],
                                        create_graph=not cfg.first_order)
            fast = {**fast, **{k: fast[k] - lrs[k] * g for k, g in zip(names, grads, strict=False)}}
        support = ep.x_support[t] if cfg.query_bn == "support" else None
        logits = reference_forward(fast, ep.x_query[t], support)
        losses.append(F.cross_entropy(logits, ep.y_query[t]))
    return torch.stack(losses).mean()


def meta_grads(loss, params, rates):
    keys = [f"param:{k}" for k in params] + [f"rate:{k}" for k in rates]
    grads = torch.autograd.grad(loss, list(params.values()) + list(rates.values()))
    return dict(zip(keys, grads, strict=False))


def assert_rel_close(a: dict, b: dict):
    """Relative error per tensor below RTOL.

    Conv biases feed straight into BatchNorm, which removes any constant shift, so their
    exact gradient is zero and what autograd returns is rounding noise (~1e-17). For
    such tensors (norm below 1e-8 of the whole gradient's) the error is measured
    relative to the whole gradient instead.
    """
    assert a.keys() == b.keys()
    total = torch.sqrt(sum(v.norm() ** 2 for v in b.values()))
    for k in a:
        scale = b[k].norm() if b[k].norm() > 1e-8 * total else total
        err = (a[k] - b[k]).norm() / scale
        assert err < RTOL, f"{k}: relative error {err:.3e}"


