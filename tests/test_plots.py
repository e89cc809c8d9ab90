"""Every plot function draws labelled axes with the expected number of artists."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from neglr_utils.analysis import published  # noqa: E402
from neglr_utils.analysis.rates import Curves, RatePoint  # noqa: E402
from neglr_utils.core.episodes import Episode  # noqa: E402
from neglr_utils.display import plots  # noqa: E402
from neglr_utils.stats import mean_ci  # noqa: E402


def iv(mean, half=0.01, n=3):
    return mean_ci([mean - half, mean, mean + half][:n])


FIG7 = {"maml": {"pre": iv(0.90), "on": iv(0.89), "off": iv(0.88)},
        "meta-sgd": {"pre": iv(0.91), "on": iv(0.90), "off": iv(0.92)}}


@pytest.fixture(autouse=True)
def _close():
    plots.style()
    yield
    plt.close("all")


def labelled(ax) -> bool:
    return bool(ax.get_xlabel() or ax.get_xticklabels()) and bool(ax.get_ylabel())


def errorbars(ax) -> int:
    return sum(isinstance(c, ErrorbarContainer) for c in ax.containers)


def test_figure7_panels_and_report():
    ax = plots.plot_figure7(FIG7, unit="seeds")
    assert labelled(ax) and errorbars(ax) == 2
    assert "n=3 seeds" in ax.get_legend().get_texts()[0].get_text()
    fig, axes = plots.figure7_panels({"omniglot": FIG7, "mini": FIG7}, ncols=2)
    flat = list(axes.flat)
    assert axes.shape == (2, 2) and errorbars(flat[0]) == 2 and errorbars(flat[1]) == 2
    assert len(flat[2].lines) == 2 and not flat[3].get_visible()  # the report; unused


def test_regime_panels_keep_legends_off_the_error_bars():
    changes = {a: {"on": iv(0.1), "off": iv(0.03)} for a in ("maml", "meta-sgd")}
    fig, axes = plots.regime_panels({"omniglot": changes, "mini": changes}, ncols=2)
    flat = list(axes.flat)
    assert errorbars(flat[0]) == 2 and errorbars(flat[1]) == 2  # on- and off-task
    assert len(flat[2].lines) == 3 and not flat[3].get_visible()  # report: on, off, zero line
    renderer = fig.canvas.get_renderer()
    for ax in flat[:3]:  # every legend lies wholly below its panel's axes
        legend, box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
        assert legend.y1 < box.y0


def test_endpoint_shows_seeds_the_mean_and_the_margin():
    ax = plots.plot_endpoint((0, 1, 2), [iv(0.01), iv(-0.01), iv(0.0)], iv(0.0), 0.0024,
                             report_effect=0.0024)
    assert errorbars(ax) == 4 and ax.get_xlabel().startswith("Δ")
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "over seeds"


def test_endpoint_ticks_stay_few_on_a_narrow_range():
    """A one-seed panel spans a few thousandths: the default locator put 11 crowded ticks."""
    _, ax = plt.subplots(figsize=(10, 2.2))
    plots.plot_endpoint((0,), [iv(0.0016, 0.0032, 600)], mean_ci([0.0016]), 0.0024, ax,
                        report_effect=0.0024)
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    assert sum(low <= t <= high for t in ax.get_xticks()) <= 7
    assert [t.get_text() for t in ax.get_yticklabels()] == ["seed 0", "mean (no interval)"]


def test_sign_sweep_draws_on_and_off_task():
    sweep = {f: {"on": iv(0.1 * f), "off": iv(-0.01 * f)} for f in (-1.0, 0.0, 1.0)}
    ax = plots.plot_sign_sweep(sweep)
    assert labelled(ax) and errorbars(ax) == 2


def test_rate_densities():
    rng = np.random.default_rng(0)
    data = {f"conv{i}": rng.normal(-0.01, 0.03, 500) for i in range(1, 5)}
    data["logits"] = rng.normal(0.04, 0.07, 100)
    ax = plots.plot_rate_densities(data)
    assert labelled(ax) and len(ax.lines) == 5 + 1  # one per layer and the zero line
    assert "n=100" in ax.get_legend().get_texts()[-1].get_text()


def test_rate_evolution_one_line_per_seed_and_layer_and_their_mean():
    series = {s: [RatePoint(it, layer, 10, m * it + s, 0.01, 0.5) for it in (100, 200, 300)
                  for layer, m in (("conv1", -1e-4), ("logits", 1e-4))] for s in (0, 1)}
    ax = plots.plot_rate_evolution(series, layers=("conv1", "logits"))
    assert len(ax.lines) == 2 * (2 + 1) + 1  # per layer: each seed and the mean; zero line
    mean_conv1 = next(ln for ln in ax.lines if ln.get_label().startswith("conv1"))
    assert list(mean_conv1.get_ydata()) == pytest.approx([-0.01 + 0.5, -0.02 + 0.5, -0.03 + 0.5])
    assert "mean of 2 seeds" in mean_conv1.get_label()  # one seed: the layer alone


def test_rate_evolution_panels_give_the_conv_layers_their_own_scale():
    layers = (("conv1", -1e-5), ("conv2", 1e-5), ("conv3", 0.0), ("conv4", 2e-5),
              ("logits", 1e-3))
    series = {s: [RatePoint(it, layer, 10, 0.01 + m * it, 0.01, 0.5) for it in (100, 200, 300)
                  for layer, m in layers] for s in (0, 1)}
    fig, axes = plots.rate_evolution_panels({"a": series, "b": {0: series[0]}}, marks={"a": 200})
    (conv, head), (conv_b, _) = axes
    assert conv.get_ylim()[1] < 0.02 < head.get_ylim()[1]  # logits reach 0.31: right panel
    assert {ln.get_color() for ln in head.lines if ln.get_label() and
            not ln.get_label().startswith("_")} == {plots.LAYER_COLORS["logits"]}
    assert "mean of 2 seeds" in conv.get_title() and "mean of" not in conv_b.get_title()
    assert any(list(ln.get_xdata()) == [200, 200] for ln in conv.lines)  # the mark
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(published.TABLE1_LAYERS)


def test_training_curves():
    m = Curves((10, 20, 30), (0.3, 0.4, 0.5), (20, 30), (0.35, 0.45), (0.05, 0.04))
    ax = plots.plot_training_curves({"maml": m, "meta-sgd": m}, n_val_episodes=100)
    assert labelled(ax) and len(ax.lines) == 4 and len(ax.collections) == 2
    assert "n=100" in ax.get_legend().get_texts()[0].get_text()
    assert [ln.get_color() for ln in ax.lines[::2]] == [plots.COLORS["maml"],
                                                         plots.COLORS["meta-sgd"]]


def test_training_curves_give_each_seed_of_one_algorithm_its_colour():
    """Figure 2.1's caption says one colour per seed: three MAML seeds, three colours."""
    m = Curves((10, 20, 30), (0.3, 0.4, 0.5), (20, 30), (0.35, 0.45), (0.05, 0.04))
    ax = plots.plot_training_curves({f"maml seed {s}": m for s in range(3)})
    validation = [ln.get_color() for ln in ax.lines[::2]]
    assert len(set(validation)) == 3
    assert [ln.get_color() for ln in ax.lines[1::2]] == validation  # training: same colour


def test_adaptation_band_is_the_t_interval():
    acc = np.array([[0.2, 0.4, 0.3], [0.8, 0.9, 0.7]])
    ax = plots.plot_adaptation({"query": acc}, n_inner_steps=1)
    band = ax.collections[0].get_paths()[0].vertices
    ci = mean_ci(acc[0])
    assert np.isclose(band[:, 1].min(), ci.low) or np.isclose(band[:, 1].max(), ci.high)


def test_plot_episode_draws_every_support_and_query_image():
    n_way, k_shot, k_query = 3, 1, 2
    y_s = torch.arange(n_way).repeat_interleave(k_shot)[None]
    y_q = torch.arange(n_way).repeat_interleave(k_query)[None]
    x_s, x_q = torch.rand(1, n_way * k_shot, 1, 8, 8), torch.rand(1, n_way * k_query, 1, 8, 8)
    ep = Episode(x_s, y_s, x_q, y_q, torch.zeros(1, n_way, dtype=torch.long))
    fig = plots.plot_episode(ep, title="t")
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == n_way * (k_shot + k_query)
    assert fig.axes[0].get_ylabel() == "label 0" and fig.axes[0].get_title() == "support"


def test_layer_similarity_axis_stops_near_the_lowest_mean_and_at_one():
    """Two seeds that disagree give a t-interval far past [0, 1]; the axis keeps to the
    means (a little below the lowest, up to 1) so the other series stay readable."""
    wide = mean_ci([0.1, 0.9])  # t-factor 12.7: the interval runs to about -4.6 and 5.6
    tight = {k: mean_ci([0.99, 0.995]) for k in ("conv1", "head")}
    ax = plots.plot_layer_similarity({"a": {"conv1": wide, "head": wide}, "b": tight})
    low, high = ax.get_ylim()
    assert low == pytest.approx(wide.mean - 0.1) and high == pytest.approx(1.02)


def test_legible_lifts_every_text_to_the_floor_at_the_column_width():
    """A wide grid (two datasets and the report, legends below the panels) shown in the book's
    column: before, its tick labels fall under the caption's size; after `legible`, no text
    does, and every legend still lies below its panel's tick labels."""
    changes = {a: {"on": iv(0.1), "off": iv(0.03)} for a in ("maml", "meta-sgd")}
    fig, axes = plots.regime_panels({"omniglot": changes, "mini": changes}, ncols=3)
    assert plots.shown_text_px(fig) < plots.MIN_TEXT_PX
    plots.legible(fig)
    assert plots.shown_text_px(fig) >= plots.MIN_TEXT_PX - 1e-6
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in list(axes.flat)[:3]:
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.y1 <= ax.xaxis.get_tightbbox(renderer).y0


def test_legible_keeps_a_figure_legend_clear_of_the_axes():
    """The rate curves' one legend for the figure stays in its strip below the panels."""
    series = {0: [RatePoint(it, layer, 10, 0.01 + m * it, 0.01, 0.5) for it in (100, 200, 300)
                  for layer, m in (("conv1", 1e-5), ("logits", 1e-4))]}
    fig, axes = plots.rate_evolution_panels({"a": series, "b": series})
    plots.legible(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    assert plots.shown_text_px(fig) >= plots.MIN_TEXT_PX - 1e-6
    assert all(legend.y1 <= ax.get_tightbbox(renderer).y0 for ax in axes[-1])


def test_legible_hangs_a_legend_below_the_tick_labels_and_x_label():
    """A legend anchored just under the axes (where it would cover the tick labels and the
    x label) is moved below them; a legend inside the axes is left where it is."""
    fig, (low, inside) = plt.subplots(1, 2, figsize=(14, 3))  # wide: its text is enlarged
    for ax in (low, inside):
        ax.plot([0, 1], [0, 1], label="a line")
        ax.set_xlabel("an x label")
    low.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02))
    inside.legend(loc="upper left")
    plots.legible(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert low.get_legend().get_window_extent(renderer).y1 <= \
        low.xaxis.get_tightbbox(renderer).y0
    legend, box = inside.get_legend().get_window_extent(renderer), inside.get_window_extent()
    assert box.y0 < legend.y0 and legend.y1 <= box.y1


def test_legible_thins_x_ticks_whose_labels_would_overlap():
    """A wide figure's enlarged tick labels (five-digit decimals) no longer touch."""
    fig, ax = plt.subplots(figsize=(12, 2))
    ax.plot([-0.0061, 0.0058], [0, 1])
    ax.xaxis.set_major_locator(MaxNLocator(25, integer=False))  # every 0.0005
    plots.legible(fig)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
    assert len(boxes) >= 2
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:], strict=False))


def test_legible_fits_a_wide_figure_legend_and_long_titles_to_the_figure():
    """Chapter 7's objective panels: a one-row figure legend and panel titles that the
    enlarged text would push past the figure are rebuilt one entry per row and wrapped."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    labels = ["meta-training loss, minimised over the initialisation (n = 10 sets)",
              "test loss, untied (n = 10 sets)", "test loss, tied (n = 10 sets)"]
    lines = [axes[0].plot([0, 1], [0, i], label=lab)[0] for i, lab in enumerate(labels)]
    for ax in axes:
        ax.set_title("under-parameterised: p / (m n_v) = 0.1, a long panel title")
    fig.legend(lines, labels, loc="lower center", ncols=3, fontsize="small")
    plots.legible(fig)
    fig.canvas.draw()
    assert plots.shown_text_px(fig) >= plots.MIN_TEXT_PX - 1e-6
    assert fig.legends[0].get_window_extent().width <= fig.bbox.width
    assert [t.get_text() for t in fig.legends[0].texts] == labels
    for ax in axes:
        assert ax.title.get_window_extent().width <= ax.get_window_extent().width


def test_legible_moves_a_side_legend_of_a_narrow_figure_below_and_spaces_its_ticks():
    """Chapter 4's endpoint figure: its text is large enough, but the legend beside each
    panel squeezes the axes until the tick labels run together; `legible` hangs it below."""
    fig, axes = plt.subplots(2, 1, figsize=(7, 9), squeeze=False)
    for ax in axes[:, 0]:
        plots.plot_endpoint((0, 1, 2, 3, 4), [iv(0.001, 0.002)] * 5, iv(0.0001, 0.002), 0.0024,
                            ax, report_effect=0.0024)
    fig.tight_layout()
    plots.legible(fig)
    fig.canvas.draw()
    for ax in axes[:, 0]:
        legend, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.y1 <= box.y0 and legend.x0 >= box.x0 - 1
        ticks = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
        assert all(a.x1 < b.x0 for a, b in zip(ticks, ticks[1:], strict=False))


def test_legible_makes_a_too_wide_legend_again_with_its_title_and_error_bars():
    """A one-row legend wider than the figure comes back one entry per row, with its title
    and its error-bar entries (not the legend's plain-line proxies)."""
    fig, ax = plt.subplots(figsize=(12, 3))
    for i in range(4):
        ax.errorbar([0, 1], [i, i], yerr=0.1, label=f"a long label for series number {i}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=4, title="the title")
    plots.legible(fig)
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "the title"
    assert len(legend.texts) == 4 and legend.get_window_extent().width <= fig.bbox.width
    # an error-bar entry draws as a LineCollection; a plain-line proxy would be a Line2D
    assert all(isinstance(h, LineCollection) for h in legend.legend_handles)


def test_legible_hangs_any_outside_legend_and_keeps_categories():
    """A legend hung by its bottom edge, one beside the axes at x = 1 and one on a twin axes
    all end up under the tick labels; a categorical x axis keeps every category."""
    fig, (low, side) = plt.subplots(1, 2, figsize=(14, 3))
    low.bar(["MAML", "Meta-SGD", "positive Meta-SGD"], [1, 2, 3], label="bars")
    low.legend(loc="lower center", bbox_to_anchor=(0.5, -0.5))
    side.plot([0, 1], [0, 1], label="a line")
    side.legend(loc="center left", bbox_to_anchor=(1, 0.5))
    twin = side.twinx()
    twin.plot([0, 1], [1, 0], label="twin")
    twin.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3))
    plots.legible(fig)
    fig.canvas.draw()
    for ax in (low, side):
        legend = ax.get_legend().get_window_extent()
        assert legend.y1 <= ax.xaxis.get_tightbbox().y0 + 1e-6
    assert twin.get_legend().get_window_extent().y1 <= twin.get_window_extent().y0
    assert [t.get_text() for t in low.get_xticklabels()] == ["MAML", "Meta-SGD",
                                                             "positive Meta-SGD"]
