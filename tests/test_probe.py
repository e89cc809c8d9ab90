"""The feature probe: known nearest centroids, no-op adaptation, and agreement of the
batched probe with a plain one-task-at-a-time implementation (float64)."""


import pytest
import torch
import torch.nn.functional as F
from conftest import reference_features

from neglr_utils.cli import build_parser
from neglr_utils.core.data import ImageSplit
from neglr_utils.core.episodes import EpisodeSet
from neglr_utils.core.meta import MetaConfig, adapt, effective_rates, init_rates
from neglr_utils.core.models import Conv4Config, init_params
from neglr_utils.core.probe import (
    CONV_FLIPPED,
    TRAINED,
    ProbeConfig,
    conv_scaled,
    default_conditions,
    feature_fn,
    probe_pairs,
    prototype_accuracy,
    scale_rates,
)
from neglr_utils.runs.probes import ensure_probes, probe_run
from neglr_utils.runs.store import load_probe_results

CFG = Conv4Config(in_channels=1, image_size=16, hidden=4, n_way=3)
N_TASKS, K_SHOT, K_QUERY, STEPS = 5, 1, 3, 2


def make_split(n_classes: int = 8, n_per_class: int = 6, size: int = 16) -> ImageSplit:
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (n_classes, n_per_class, 1, size, size), generator=g,
                         dtype=torch.uint8)
    return ImageSplit("omniglot", "test", imgs, tuple(f"c{i}" for i in range(n_classes)))


def make_tasks(k_shot: int = K_SHOT, n: int = N_TASKS):
    split = make_split()
    return [EpisodeSet(split, CFG.n_way, k_shot, K_QUERY, n, seed=s, dtype=torch.float64)
            for s in (1, 2)]


def make_model(algo: str = "meta-sgd"):
    params = init_params(CFG, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    params = {k: v + 0.1 * torch.randn(v.shape, generator=g, dtype=v.dtype)
              for k, v in params.items()}
    cfg = MetaConfig(algo=algo, inner_lr=0.5, n_inner_steps=STEPS, rate_init="uniform",
                     rate_init_range=(0.2, 1.0))
    rates = init_rates(params, cfg, generator=g)
    if algo == "meta-sgd":  # mixed signs, as Meta-SGD learns them
        rates = {k: v * torch.where(torch.rand(v.shape, generator=g, dtype=v.dtype) < 0.4,
                                    -1.0, 1.0) for k, v in rates.items()}
    return params, effective_rates(params, rates, cfg)


# ------------------------------------------------------------------ prototype accuracy


def test_prototype_accuracy_known_nearest_centroid():
    f_s = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # class 0 along x, class 1 along y
    y_s = torch.tensor([[0, 1]])
    f_q = torch.tensor([[[2.0, 0.1], [0.1, 3.0], [1.0, 0.5]]])  # -> 0, 1, 0
    assert prototype_accuracy(f_s, y_s, f_q, torch.tensor([[0, 1, 0]])).item() == 1.0
    assert prototype_accuracy(f_s, y_s, f_q, torch.tensor([[0, 1, 1]])).item() == pytest.approx(
        2 / 3)


def test_prototype_accuracy_is_cosine_not_euclidean():
    f_s = torch.tensor([[[10.0, 0.0], [1.0, 1.0]]])
    y_s = torch.tensor([[0, 1]])
    f_q = torch.tensor([[[2.0, 0.0]]])
    nearest_euclid = torch.cdist(f_q, f_s).argmin(dim=-1)
    assert nearest_euclid.item() == 1  # Euclidean picks class 1 ...
    assert prototype_accuracy(f_s, y_s, f_q, torch.tensor([[0]])).item() == 1.0  # cosine: 0


def test_centroid_of_several_shots_is_their_mean():
    # class 0 shots (10, 0) and (0, 1): mean (5, 0.5), about 6 degrees; the normalised
    # shots would average to 45 degrees, exactly class 1's direction.
    f_s = torch.tensor([[[10.0, 0.0], [1.0, 1.0], [0.0, 1.0], [2.0, 2.0]]])
    y_s = torch.tensor([[0, 1, 0, 1]])
    f_q = torch.tensor([[[1.0, 0.3], [1.0, 1.2]]])  # 17 deg -> class 0; 50 deg -> class 1
    assert prototype_accuracy(f_s, y_s, f_q, torch.tensor([[0, 1]])).item() == 1.0
    # and a random case against an explicit per-class mean
    g = torch.Generator().manual_seed(0)
    f_s, f_q = torch.rand(4, 6, 5, generator=g), torch.rand(4, 7, 5, generator=g)
    y_s = torch.tensor([0, 1, 2, 0, 1, 2]).repeat(4, 1)
    y_q = torch.randint(0, 3, (4, 7), generator=g)
    cent = torch.stack([f_s[:, y_s[0] == c].mean(dim=1) for c in range(3)], dim=1)
    pred = F.cosine_similarity(f_q[:, :, None], cent[:, None], dim=-1).argmax(-1)
    expected = (pred == y_q).double().mean(dim=1)
    assert torch.equal(prototype_accuracy(f_s, y_s, f_q, y_q), expected)


# ------------------------------------------------------------------ probe behaviour


@pytest.mark.parametrize("how", ["zero_rates", "zero_steps"])
def test_no_adaptation_gives_on_equal_pre_exactly(how):
    params, rates = make_model()
    steps = STEPS
    if how == "zero_rates":
        rates = scale_rates(rates, {"conv": 0.0, "bn": 0.0, "head": 0.0})
    else:
        steps = 0
    a, b = make_tasks()
    out = probe_pairs(params, rates, steps, a, b, batch_size=2)
    assert (out.on_a == out.pre_a).all()
    assert (out.off_b == out.pre_b).all()


def reference_accuracy(p, ep, bn_mode):
    """Cosine nearest centroid for one task, a loop over classes and queries."""
    xs, xq = ep.x_support[0], ep.x_query[0]
    if bn_mode == "joint":
        f = reference_features(p, torch.cat([xs, xq]))
        fs, fq = f[: len(xs)], f[len(xs):]
    else:
        fs, fq = reference_features(p, xs), reference_features(p, xq)
    cents = [fs[ep.y_support[0] == c].mean(dim=0) for c in range(CFG.n_way)]
    correct = 0
    for q, y in zip(fq, ep.y_query[0], strict=True):
        sims = torch.stack([F.cosine_similarity(q, c, dim=0) for c in cents])
        correct += int(sims.argmax().item() == y.item())
    return correct / len(fq)


@pytest.mark.parametrize("bn_mode", ["joint", "separate"])
@pytest.mark.parametrize("k_shot", [1, 2])
def test_batched_probe_equals_one_task_at_a_time(bn_mode, k_shot):
    params, rates = make_model()
    a, b = make_tasks(k_shot)
    out = probe_pairs(params, rates, STEPS, a, b, bn_mode=bn_mode, batch_size=3).as_dict()
    ref = {k: [] for k in out}
    for i in range(N_TASKS):
        ep_a, ep_b = a.get(i, i + 1), b.get(i, i + 1)
        with torch.enable_grad():
            fast = adapt(params, ep_a.x_support, ep_a.y_support, rates, STEPS, first_order=True)
        fast = {k: v[0].detach() if v.dim() > params[k].dim() else v for k, v in fast.items()}
        ref["pre_a"].append(reference_accuracy(params, ep_a, bn_mode))
        ref["on_a"].append(reference_accuracy(fast, ep_a, bn_mode))
        ref["off_b"].append(reference_accuracy(fast, ep_b, bn_mode))
        ref["pre_b"].append(reference_accuracy(params, ep_b, bn_mode))
    for k in out:
        assert out[k].tolist() == ref[k], k
    assert (out["on_a"] != out["pre_a"]).any(), "adaptation should change something"


def test_batch_size_does_not_change_results():
    params, rates = make_model("maml")
    a, b = make_tasks()
    one = probe_pairs(params, rates, STEPS, a, b, batch_size=1).as_dict()
    all_ = probe_pairs(params, rates, STEPS, a, b, batch_size=100).as_dict()
    for k in one:
        assert (one[k] == all_[k]).all(), k


# ------------------------------------------------------------------ scale_rates


def test_scale_rates_zero_and_flip():
    params, rates = make_model()
    zeroed = scale_rates(rates, {"conv": 0.0})
    for k, v in zeroed.items():
        if k.startswith("conv"):
            assert torch.all(v == 0), k
        else:
            assert torch.equal(v, rates[k]), k
    twice = scale_rates(scale_rates(rates, {"conv": -1.0}), {"conv": -1.0})
    assert all(torch.equal(twice[k], rates[k]) for k in rates)
    most_specific = scale_rates(rates, {"conv": 0.0, "conv4": -1.0})
    assert torch.equal(most_specific["conv4.bias"], -rates["conv4.bias"])
    assert torch.all(most_specific["conv3.bias"] == 0)
    assert scale_rates({"head.bias": 0.1, "conv1.weight": 0.1}, {"head": -1.0}) == {
        "head.bias": -0.1, "conv1.weight": 0.1}
    with pytest.raises(ValueError, match="match none"):
        scale_rates(rates, {"cnv": 0.0})


def test_probe_config_validates():
    with pytest.raises(ValueError, match="bn_mode"):
        ProbeConfig(bn_mode="running")
    assert ProbeConfig(seed=3).seeds[0] != ProbeConfig(seed=3).seeds[1]
    assert ProbeConfig(batch_size=7).key() == ProbeConfig(batch_size=9).key()
    assert ProbeConfig(disjoint=True).key() != ProbeConfig().key()


def test_conditions_name_themselves_and_the_sweep_starts_as_trained():
    assert TRAINED.name == "trained" and TRAINED.conv_factor == 1.0
    assert conv_scaled(1.0) == TRAINED and conv_scaled(-1.0) == CONV_FLIPPED
    assert CONV_FLIPPED.name == "conv rates x-1" and CONV_FLIPPED.conv_factor == -1.0
    sweep = default_conditions("meta-sgd")
    assert sweep[0] == TRAINED and len(set(sweep)) == 5


# ------------------------------------------------------------------ runs and JSON


@pytest.fixture()
def tiny_runs(tmp_path):
    """Two untrained run directories (MAML, Meta-SGD) on 16x16 images."""
    from neglr_utils.runs import store
    from neglr_utils.runs.config import run_dir_for
    from neglr_utils.runs.profiles import profile_config

    dirs = []
    for algo in ("maml", "meta-sgd"):
        cfg = profile_config("smoke", algo=algo).replace(hidden=4, image_size=16, n_way=3)
        params, rates = make_model(algo)
        raw = {} if algo == "maml" else {k: v.float() for k, v in rates.items()}
        d = run_dir_for(cfg, tmp_path)
        d.mkdir()
        store.write_json({"config": cfg.to_dict()}, d / "config.json")
        store.atomic_save({"format": store.CHECKPOINT_FORMAT, "iteration": 6,
                        "params": {k: v.float() for k, v in params.items()}, "rates": raw},
                       d / "final.pt")
        dirs.append(d)
    return dirs, make_split()


def test_probe_results_roundtrip_and_are_reused(tiny_runs, monkeypatch):
    from neglr_utils.runs import probes as probe_mod

    dirs, split = tiny_runs
    monkeypatch.setattr(probe_mod, "load_split", lambda *a, **k: split)
    cfg = ProbeConfig(n_iterations=4, k_query=2, batch_size=4)
    first = ensure_probes(dirs, cfg, default_conditions, device="cpu")
    assert len(first) == 10 and {r.run.algo for r in first} == {"maml", "meta-sgd"}
    stored = load_probe_results(dirs[1])
    assert {r.condition for r in stored} == set(default_conditions("meta-sgd"))
    for a, b in zip(first[5:], stored, strict=True):
        assert (a.acc.off_b == b.acc.off_b).all() and a.condition == b.condition

    def fail(*a, **k):
        raise AssertionError("a stored condition was recomputed")

    monkeypatch.setattr(probe_mod, "probe_run", fail)
    again = ensure_probes(dirs, cfg, default_conditions, device="cpu")
    assert [r.condition for r in again] == [r.condition for r in first]
    monkeypatch.undo()
    monkeypatch.setattr(probe_mod, "load_split", lambda *a, **k: split)
    other = ensure_probes(dirs[:1], ProbeConfig(n_iterations=4, k_query=2, disjoint=True),
                          lambda algo: (TRAINED,), device="cpu")  # another config: computed
    assert other[0].config.disjoint and len(load_probe_results(dirs[0])) == 6


def test_probe_run_records_the_class_overlap(tiny_runs):
    from neglr_utils.runs.training import load_run

    dirs, split = tiny_runs
    run = load_run(dirs[1])
    cpu = torch.device("cpu")
    shared = probe_run(run, ProbeConfig(n_iterations=30, k_query=2), image_split=split, device=cpu)
    disjoint = probe_run(run, ProbeConfig(n_iterations=30, k_query=2, disjoint=True),
                         image_split=split, device=cpu)
    assert shared.frac_shared > 0.5 and disjoint.frac_shared == 0.0
    assert (shared.acc.pre_a == disjoint.acc.pre_a).all()  # task A is the same list


def test_cli_has_probe_command():
    args = build_parser().parse_args(["probe", "a", "b", "--iterations", "10", "--bn-mode",
                                      "separate", "--no-sign-sweep", "--disjoint"])
    assert args.run_dirs == ["a", "b"] and args.iterations == 10
    assert args.bn_mode == "separate" and not args.sign_sweep and args.disjoint


@pytest.mark.slow
def test_compiled_embedding_gives_the_probe_s_numbers_float64():
    """The torch.compile fast path of the probe equals the eager probe (float64)."""
    params, rates = make_model()
    a, b = make_tasks()
    eager = probe_pairs(params, rates, STEPS, a, b, batch_size=5).as_dict()
    fast = probe_pairs(params, rates, STEPS, a, b, batch_size=5, compiled=True).as_dict()
    for k in eager:
        assert (eager[k] == fast[k]).all(), k
    ep = a.get(0, 5)
    x = torch.cat([ep.x_support, ep.x_query], 1)
    torch.testing.assert_close(feature_fn(True)(params, x), feature_fn(False)(params, x),
                               rtol=1e-12, atol=1e-12)
