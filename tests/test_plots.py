"""Every plot function draws labelled axes with the expected number of artists."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from neglr_utils import plots  # noqa: E402

SUMMARY = {
    "maml": {"pre": {"mean": 0.90, "ci95": 0.01}, "on": {"mean": 0.89, "ci95": 0.01},
             "off": {"mean": 0.88, "ci95": 0.01}, "n": 1000},
    "meta-sgd": {"pre": {"mean": 0.91, "ci95": 0.01}, "on": {"mean": 0.90, "ci95": 0.01},
                 "off": {"mean": 0.92, "ci95": 0.01}, "n": 1000},
}


@pytest.fixture(autouse=True)
def _close():
    plots.style()
    yield
    plt.close("all")


def labelled(ax) -> bool:
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def errorbars(ax) -> int:
    return sum(isinstance(c, ErrorbarContainer) for c in ax.containers)


def test_figure7_with_and_without_report():
    ax = plots.plot_figure7(SUMMARY, report=False)
    assert labelled(ax) and errorbars(ax) == 2
    assert "n=1000" in ax.get_legend().get_texts()[0].get_text()
    ax = plots.plot_figure7(SUMMARY)
    twin = [a for a in ax.figure.axes if a is not ax]
    assert len(twin) == 1 and len(twin[0].lines) == 2 and twin[0].get_ylabel()
    assert len(ax.get_legend().get_texts()) == 4
    fig, axes = plots.figure7_comparison(SUMMARY)
    assert len(axes) == 2 and errorbars(axes[0]) == 2 and len(axes[1].lines) == 2
    assert all(labelled(a) for a in axes)


def test_probe_changes():
    ch = {"on": {"mean": -0.01, "ci95": 0.002, "n": 50},
          "off_report": {"mean": 0.0, "ci95": 0.002, "n": 50},
          "off_paired": {"mean": 0.01, "ci95": 0.002, "n": 50}}
    ax = plots.plot_probe_changes({"maml": ch, "meta-sgd": ch})
    assert labelled(ax) and errorbars(ax) == 2


def test_rate_densities():
    rng = np.random.default_rng(0)
    data = {f"conv{i}": rng.normal(-0.01, 0.03, 500) for i in range(1, 5)}
    data["logits"] = rng.normal(0.04, 0.07, 100)
    ax = plots.plot_rate_densities(data)
    assert labelled(ax) and len(ax.lines) == 5 + 1  # one per layer and the zero line
    assert "n=100" in ax.get_legend().get_texts()[-1].get_text()


def test_rate_evolution():
    rows = [{"iteration": it, "layer": layer, "kind": "layer", "n": 10, "mean": m * it,
             "std": 0.01, "frac_neg": 0.5}
            for it in (100, 200, 300) for layer, m in (("conv1", -1e-4), ("logits", 1e-4))]
    ax = plots.plot_rate_evolution(rows)
    assert labelled(ax) and len(ax.lines) == 2 + 1 and len(ax.collections) == 2


def test_training_curves():
    m = {"iteration": [10, 20, 30], "train_acc": [0.3, 0.4, 0.5], "val_iteration": [20, 30],
         "val_acc": [0.35, 0.45], "val_ci95": [0.05, 0.04]}
    ax = plots.plot_training_curves({"maml": m, "meta-sgd": m}, n_val_episodes=100)
    assert labelled(ax) and len(ax.lines) == 4 and len(ax.collections) == 2
    assert "n=100" in ax.get_legend().get_texts()[0].get_text()


def test_plot_episode_draws_every_support_and_query_image():
    import torch

    from neglr_utils.episodes import Episode
    from neglr_utils.plots import plot_episode

    n_way, k_shot, k_query = 3, 1, 2
    y_s = torch.arange(n_way).repeat_interleave(k_shot)[None]
    y_q = torch.arange(n_way).repeat_interleave(k_query)[None]
    x_s, x_q = torch.rand(1, n_way * k_shot, 1, 8, 8), torch.rand(1, n_way * k_query, 1, 8, 8)
    ep = Episode(x_s, y_s, x_q, y_q, torch.zeros(1, n_way, dtype=torch.long))
    fig = plot_episode(ep, title="t")
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == n_way * (k_shot + k_query)
    assert fig.axes[0].get_ylabel() == "label 0" and fig.axes[0].get_title() == "support"
