"""The learning-rate explorer: exact no-op settings, agreement with the plain probe, the
static slider HTML, and the live widget in a real Jupyter kernel (slow)."""

import inspect
import json
import re
import sys
import textwrap

import pytest
import torch

from neglr_utils import widgets
from neglr_utils.analysis import mean_ci
from neglr_utils.data import ImageSplit
from neglr_utils.meta import accuracy, effective_rates, evaluate
from neglr_utils.models import forward
from neglr_utils.probe import run_probe
from neglr_utils.profiles import profile_config
from neglr_utils.train import load_run, train

N_PAIRS, K_QUERY = 6, 3
ZERO = dict.fromkeys(widgets.LAYERS, 0.0)
ONE = dict.fromkeys(widgets.LAYERS, 1.0)


def synthetic_split(n_classes=12, n_per_class=8, size=28):
    """Random 28x28 "characters"; the kernel test runs this function's source too."""
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (n_classes, n_per_class, 1, size, size), generator=g,
                         dtype=torch.uint8)
    return ImageSplit("omniglot", "test", imgs, tuple(f"c{i}" for i in range(n_classes)))


def tiny_config(algo):
    # a large inner rate, so that adaptation visibly changes the tiny model's numbers
    return profile_config("smoke", algo=algo).replace(
        n_iterations=6, ckpt_every=3, val_every=3, log_every=1, hidden=4, n_val_episodes=4,
        k_query=3, inner_lr=0.5)


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    split = synthetic_split()
    splits = {"train": split, "val": split, "test": split}
    return {algo: train(tiny_config(algo), out_root=root, splits=splits, device="cpu",
                        progress=False)
            for algo in ("maml", "meta-sgd")}


@pytest.fixture(scope="module")
def runs(run_dirs):
    return load_run(run_dirs["maml"]), load_run(run_dirs["meta-sgd"])


@pytest.fixture(scope="module")
def tasks(runs):
    return widgets.task_pairs(runs[1], synthetic_split(), N_PAIRS, k_query=K_QUERY)


def point(runs, tasks, multipliers=ONE, maml_inner_lr=None, n_inner_steps=None):
    maml, msgd = runs
    return widgets.explorer_point(
        maml, msgd, *tasks, multipliers=multipliers,
        maml_inner_lr=maml.config.meta.inner_lr if maml_inner_lr is None else maml_inner_lr,
        n_inner_steps=msgd.config.meta.n_inner_steps if n_inner_steps is None else n_inner_steps)


def per_task(run, rates, tasks, steps=None):
    steps = run.config.meta.n_inner_steps if steps is None else steps
    return widgets.algo_point(run.params, rates, steps, *tasks)


def assert_no_change(acc):
    assert torch.equal(acc["on_a"], acc["pre_a"])
    assert torch.equal(acc["off_b"], acc["pre_b"])


def head_accuracy(run, tasks):
    ep = tasks[0].get(0, len(tasks[0]))
    with torch.no_grad():
        return accuracy(forward(run.params, ep.x_query), ep.y_query).double()


# ------------------------------------------------------------------ pure functions


def test_all_multipliers_zero_is_no_adaptation(runs, tasks):
    msgd = runs[1]
    acc = per_task(msgd, widgets.msgd_rates(msgd, ZERO), tasks)
    assert_no_change(acc)
    assert torch.equal(acc["adapt_acc"], head_accuracy(msgd, tasks))  # nothing adapted
    p = point(runs, tasks, multipliers=ZERO)["meta-sgd"]
    assert p["on_a"] == p["pre_a"] and p["off_b"] == p["pre_b"]
    assert p["on_change"] == 0 and p["off_change"] == 0


def test_frozen_body_leaves_the_probe_unchanged(runs, tasks):
    """conv and bn at 0, head at 1: the head adapts, the head-free probe cannot change."""
    msgd = runs[1]
    rates = widgets.msgd_rates(msgd, {**ZERO, "head": 1.0})
    assert_no_change(per_task(msgd, rates, tasks))


def test_zero_inner_steps_is_no_adaptation(runs, tasks):
    p = point(runs, tasks, n_inner_steps=0)
    for algo in ("maml", "meta-sgd"):
        assert p[algo]["on_a"] == p[algo]["pre_a"] and p[algo]["off_b"] == p[algo]["pre_b"]
        assert p[algo]["adapt_acc"] == mean_ci(head_accuracy(runs[algo == "meta-sgd"], tasks))[
            "mean"]


def test_maml_zero_rate_is_no_adaptation(runs, tasks):
    maml = runs[0]
    assert_no_change(per_task(maml, widgets.maml_rates(maml, 0.0), tasks))
    p = point(runs, tasks, maml_inner_lr=0.0)["maml"]
    assert p["on_a"] == p["pre_a"] and p["off_b"] == p["pre_b"]


@pytest.mark.parametrize("index", [0, 1], ids=["maml", "meta-sgd"])
def test_trained_setting_equals_the_plain_probe(runs, tasks, index):
    run = runs[index]
    rates = effective_rates(run.params, run.rates, run.config.meta)
    expected = run_probe(run.params, rates, run.config.meta.n_inner_steps, *tasks)
    ours = per_task(run, widgets.msgd_rates(run, ONE) if index else
                    widgets.maml_rates(run, run.config.meta.inner_lr), tasks)
    for cond, v in expected.items():
        assert torch.equal(ours[cond], v), cond
    # the trained setting actually adapts here (else the no-op tests above prove nothing)
    assert not torch.equal(ours["on_a"], ours["pre_a"])
    summary = point(runs, tasks)[run.config.algo]
    assert summary["on_a"] == mean_ci(expected["on_a"])["mean"]


def test_adapted_accuracy_is_the_meta_test_accuracy(runs, tasks):
    for run in runs:
        expected = evaluate(run.params, run.rates, tasks[0], run.config.meta)
        rates = effective_rates(run.params, run.rates, run.config.meta)
        torch.testing.assert_close(per_task(run, rates, tasks)["adapt_acc"], expected.double(),
                                   rtol=0, atol=1e-12)


def test_negative_multiplier_flips_the_learned_rates(runs):
    msgd = runs[1]
    base = effective_rates(msgd.params, msgd.rates, msgd.config.meta)
    flipped = widgets.msgd_rates(msgd, {"conv2": -1.0, "head": 2.0})
    assert torch.equal(flipped["conv2.weight"], -base["conv2.weight"])
    assert torch.equal(flipped["head.bias"], 2 * base["head.bias"])
    assert torch.equal(flipped["conv1.weight"], base["conv1.weight"])


def test_sweep_matches_single_points(runs, tasks):
    sweep = widgets.precompute_sweep(*runs, *tasks, grid=(-1.0, 0.0, 1.0))
    assert sweep["grid"] == [-1.0, 0.0, 1.0] and len(sweep["meta-sgd"]) == 3
    assert sweep["meta-sgd"][2] == point(runs, tasks)["meta-sgd"]
    assert sweep["maml"] == point(runs, tasks)["maml"]
    assert sweep["meta-sgd"][1] == point(runs, tasks, {"conv": 0.0})["meta-sgd"]


# ------------------------------------------------------------------ static slider


def test_static_slider_html_is_self_contained(runs, tasks):
    sweep = widgets.precompute_sweep(*runs, *tasks, grid=(-2.0, 0.0, 1.0, 2.0))
    frames = widgets.sweep_frames(sweep)
    page = widgets.static_slider_html(frames, [f"x {m:g}" for m in sweep["grid"]], initial=2)
    assert page.count('class="neglr-frame"') == len(sweep["grid"]) == 4
    assert page.count("data:image/png;base64,") == 4
    assert page.count('<input type="range"') == 1
    assert 'max="3"' in page and 'value="2"' in page
    assert not re.search(r"https?:", page), "the static slider must not load anything"
    assert "<script src" not in page
    shown = re.findall(r'class="neglr-frame" style="display:(\w+)"', page)
    assert shown == ["none", "none", "block", "none"]


def test_static_slider_html_checks_its_input():
    with pytest.raises(ValueError, match="labels"):
        widgets.static_slider_html(["<p>a</p>"], ["a", "b"])
    with pytest.raises(ValueError, match="initial"):
        widgets.static_slider_html(["<p>a</p>"], ["a"], initial=1)


# ------------------------------------------------------------------ the widget


def test_explorer_recomputes_on_slider_change(runs, tasks):
    ex = widgets.LearningRateExplorer(*runs, *tasks, plot=False)
    baseline = ex.result
    assert baseline["meta-sgd"] == point(runs, tasks)["meta-sgd"]
    for name in widgets.LAYERS:
        ex.sliders[name].value = 0.0
    assert_equal_pre(ex.result["meta-sgd"])
    assert ex.result["maml"] == baseline["maml"]  # untouched algorithm
    assert len(ex.seconds_log) == 1 + len(widgets.LAYERS)
    ex.sliders["n_inner_steps"].value = 0
    assert_equal_pre(ex.result["maml"])
    ex.sliders["n_inner_steps"].value = runs[1].config.meta.n_inner_steps
    for name in widgets.LAYERS:
        ex.sliders[name].value = 1.0
    assert ex.result["meta-sgd"] == baseline["meta-sgd"]
    assert widgets.point_table(ex.result).shape == (7, 2)


def assert_equal_pre(p):
    assert p["on_a"] == p["pre_a"] and p["off_b"] == p["pre_b"], p


KERNEL_CODE = """
import json, torch
from neglr_utils.data import ImageSplit
from neglr_utils.train import load_run
from neglr_utils.widgets import LAYERS, LearningRateExplorer, task_pairs
{split_code}
maml, msgd = load_run({maml!r}), load_run({msgd!r})
tasks = task_pairs(msgd, synthetic_split(), {n_pairs}, k_query={k_query})
explorer = LearningRateExplorer(maml, msgd, *tasks)
display(explorer.widget)
report = {{"baseline": explorer.result}}
for name in LAYERS:
    explorer.sliders[name].value = 0
explorer.sliders["maml_inner_lr"].value = 0
report["zero"] = explorer.result
for name in LAYERS:
    explorer.sliders[name].value = 1
explorer.sliders["maml_inner_lr"].value = maml.config.meta.inner_lr
report["restored"] = explorer.result
report["n_recomputes"] = len(explorer.seconds_log)
print("RESULT" + json.dumps(report))
"""


@pytest.mark.slow
def test_explorer_in_a_live_kernel(run_dirs):
    """A real ipykernel builds the explorer, moves its sliders, and reports ``result``."""
    jupyter_client = pytest.importorskip("jupyter_client")
    code = KERNEL_CODE.format(
        split_code=inspect.getsource(synthetic_split), maml=str(run_dirs["maml"]),
        msgd=str(run_dirs["meta-sgd"]), n_pairs=N_PAIRS, k_query=K_QUERY)
    km = jupyter_client.KernelManager(kernel_name="python3")
    km.start_kernel(extra_arguments=[], cwd=str(run_dirs["maml"].parent))
    kc = km.client()
    kc.start_channels()
    stdout, errors = [], []

    def hook(msg):
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            stdout.append(content["text"])
        elif kind == "error":
            errors.append("\n".join(content["traceback"]))

    try:
        kc.wait_for_ready(timeout=60)
        kc.execute_interactive(f"import sys; print(sys.prefix == {sys.prefix!r})", timeout=30,
                               output_hook=hook)
        assert stdout and stdout.pop().strip() == "True", "the kernel runs another Python"
        reply = kc.execute_interactive(textwrap.dedent(code), timeout=120, output_hook=hook)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", "\n".join(errors)
    line = next(ln for ln in "".join(stdout).splitlines() if ln.startswith("RESULT"))
    report = json.loads(line.removeprefix("RESULT"))
    base, zero, restored = report["baseline"], report["zero"], report["restored"]
    for algo in ("maml", "meta-sgd"):
        assert_equal_pre(zero[algo])
        assert base[algo]["on_a"] != base[algo]["pre_a"], "trained setting should adapt"
        assert restored[algo] == base[algo]
    assert zero["settings"]["multipliers"] == dict.fromkeys(widgets.LAYERS, 0)
    assert zero["settings"]["maml_inner_lr"] == 0
    assert report["n_recomputes"] == 1 + 2 * (len(widgets.LAYERS) + 1)
