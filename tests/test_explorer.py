"""The explorer's numbers: exact no-op settings, agreement with the plain probe and with
the meta-test accuracy, the sweep; the static slider and the live widget's callbacks."""

import re

import pytest
import torch
from conftest import synthetic_splits

from neglr_utils.core.meta import evaluate
from neglr_utils.core.probe import probe_pairs
from neglr_utils.display import explorer, widgets
from neglr_utils.runs.profiles import profile_config
from neglr_utils.runs.training import load_run, train

N_PAIRS, K_QUERY = 6, 3
ZERO = dict.fromkeys(explorer.LAYERS, 0.0)
ONE = dict.fromkeys(explorer.LAYERS, 1.0)


def tiny_config(algo):
    # a large inner rate, so that adaptation visibly changes the tiny model's numbers
    return profile_config("smoke", algo=algo).replace(
        n_iterations=6, ckpt_every=3, val_every=3, log_every=1, hidden=4, n_val_episodes=4,
        k_query=3, inner_lr=0.5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    split = synthetic_splits()["test"]
    splits = {"train": split, "val": split}
    return {algo: load_run(train(tiny_config(algo), out_root=root, splits=splits, device="cpu",
                                 progress=False)) for algo in ("maml", "meta-sgd")}


@pytest.fixture(scope="module")
def tasks(runs):
    return explorer.explorer_tasks(runs["meta-sgd"], synthetic_splits()["test"], N_PAIRS,
                                   k_query=K_QUERY)


def at(runs, tasks, multipliers=ONE, maml_inner_lr=None, n_inner_steps=None):
    lr = runs["maml"].config.meta.inner_lr if maml_inner_lr is None else maml_inner_lr
    steps = runs["meta-sgd"].config.meta.n_inner_steps if n_inner_steps is None else n_inner_steps
    return explorer.explorer_point(runs, *tasks, multipliers=multipliers, maml_inner_lr=lr,
                                   n_inner_steps=steps)


def unchanged(p):
    return p.on_a == p.pre_a and p.off_b == p.pre_b


def test_all_multipliers_zero_is_no_adaptation(runs, tasks):
    p = at(runs, tasks, multipliers=ZERO)["meta-sgd"]
    assert unchanged(p) and p.on_change.mean == 0 and p.off_change.mean == 0


def test_frozen_body_leaves_the_probe_unchanged(runs, tasks):
    """conv and bn at 0, head at 1: the head adapts, the head-free probe cannot change."""
    p = at(runs, tasks, multipliers={**ZERO, "head": 1.0})["meta-sgd"]
    assert unchanged(p)


def test_zero_inner_steps_and_zero_maml_rate_are_no_adaptation(runs, tasks):
    assert all(unchanged(p) for p in at(runs, tasks, n_inner_steps=0).values())
    assert unchanged(at(runs, tasks, maml_inner_lr=0.0)["maml"])


@pytest.mark.parametrize("algo", ["maml", "meta-sgd"])
def test_trained_setting_equals_the_probe_and_the_meta_test_accuracy(runs, tasks, algo):
    run = runs[algo]
    expected = probe_pairs(run.params, run.effective_rates(), run.config.meta.n_inner_steps,
                           *tasks)
    p = at(runs, tasks)[algo]
    assert p.on_a.mean == pytest.approx(expected.on_a.mean(), abs=1e-12)
    assert p.off_b.mean == pytest.approx(expected.off_b.mean(), abs=1e-12)
    assert not unchanged(p), "the trained setting should adapt (else the no-op tests say little)"
    meta_test = evaluate(run.params, run.rates, tasks[0], run.config.meta).double().mean()
    assert p.adapt_acc.mean == pytest.approx(meta_test.item(), abs=1e-12)


def test_negative_multiplier_flips_the_learned_rates(runs):
    meta_sgd = runs["meta-sgd"]
    base = meta_sgd.effective_rates()
    flipped = explorer.rule(meta_sgd, {"conv2": -1.0, "head": 2.0})
    assert torch.equal(flipped["conv2.weight"], -base["conv2.weight"])
    assert torch.equal(flipped["head.bias"], 2 * base["head.bias"])
    assert torch.equal(flipped["conv1.weight"], base["conv1.weight"])
    assert set(explorer.rule(runs["maml"], inner_lr=-0.1).values()) == {-0.1}


def test_sweep_matches_single_points(runs, tasks):
    sweep = explorer.precompute_sweep(runs["maml"], runs["meta-sgd"], *tasks,
                                      grid=(-1.0, 0.0, 1.0))
    assert sweep.grid == (-1.0, 0.0, 1.0) and len(sweep.meta_sgd) == 3
    assert sweep.meta_sgd[2] == at(runs, tasks)["meta-sgd"]
    assert sweep.maml == at(runs, tasks)["maml"]
    assert sweep.meta_sgd[1] == at(runs, tasks, {"conv": 0.0})["meta-sgd"]
    assert [r["conv multiplier"] for r in explorer.sweep_table(sweep)] == [-1.0, 0.0, 1.0]


def test_static_slider_html_is_self_contained(runs, tasks):
    sweep = explorer.precompute_sweep(runs["maml"], runs["meta-sgd"], *tasks,
                                      grid=(-2.0, 0.0, 1.0, 2.0))
    page = widgets.static_slider_html(widgets.sweep_frames(sweep),
                                      [f"x {m:g}" for m in sweep.grid], initial=2)
    assert page.count('class="neglr-frame"') == 4 and page.count("data:image/png;base64,") == 4
    assert page.count('<input type="range"') == 1 and 'max="3"' in page
    assert not re.search(r"https?:", page), "the static slider must not load anything"
    shown = re.findall(r'class="neglr-frame" style="display:(\w+)"', page)
    assert shown == ["none", "none", "block", "none"]
    with pytest.raises(ValueError, match="labels"):
        widgets.static_slider_html(["<p>a</p>"], ["a", "b"])
    with pytest.raises(ValueError, match="initial"):
        widgets.static_slider_html(["<p>a</p>"], ["a"], initial=1)


def test_explorer_recomputes_on_slider_change(runs, tasks):
    ex = widgets.LearningRateExplorer(runs["maml"], runs["meta-sgd"], *tasks, plot=False)
    baseline = dict(ex.result)
    assert baseline["meta-sgd"] == at(runs, tasks)["meta-sgd"]
    for name in explorer.LAYERS:
        ex.sliders[name].value = 0.0
    assert unchanged(ex.result["meta-sgd"])
    assert ex.result["maml"] == baseline["maml"]  # untouched algorithm, from the cache
    assert len(ex.seconds_log) == 1 + len(explorer.LAYERS)
    ex.sliders["n_inner_steps"].value = 0
    assert unchanged(ex.result["maml"])
    ex.sliders["n_inner_steps"].value = runs["meta-sgd"].config.meta.n_inner_steps
    for name in explorer.LAYERS:
        ex.sliders[name].value = 1.0
    assert ex.result["meta-sgd"] == baseline["meta-sgd"]
    assert widgets.point_table(ex.result).shape == (7, 2)
