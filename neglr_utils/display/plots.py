"""Figures from results (never from training): Figure 6 and 7 of the report, and more.

Every function takes data (dicts / arrays from `analysis` or a probe JSON) and an
optional ``ax``, and returns the axes. Uncertainty is always drawn (95 % CI error bars
or bands, or the std band where the spread itself is the quantity) with ``n`` in the
legend. Call `style` once per notebook.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..analysis import published
from ..analysis.calibration import Calibration
from ..analysis.rates import Curves, RatePoint
from ..stats import Interval, mean_ci
from .format import ALGO_NAMES

FIG7_CONDITIONS = (("pre", "pre-adaptation"), ("on", "on-task"), ("off", "off-task"))
COLORS = {"maml": "#1f77b4", "meta-sgd": "#d62728", "meta-sgd-positive": "#2ca02c"}
ALGO_LABELS = {a: name.replace("positive ", "positive\n") for a, name in ALGO_NAMES.items()}
LAYER_COLORS = {"conv1": "#1b9e77", "conv2": "#d95f02", "conv3": "#7570b3", "conv4": "#e7298a",
                "logits": "#66a61e"}


def style() -> None:
    """The book's one plot style (small, readable, grid on)."""
    mpl.rcParams.update({
        "figure.figsize": (6.0, 4.0), "figure.dpi": 100, "axes.grid": True,
        "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "legend.frameon": False, "font.size": 13, "axes.titlesize": 12,
        "axes.labelsize": 13, "xtick.labelsize": 12, "ytick.labelsize": 12,
        "legend.fontsize": 11,
    })


# The book's text column at a 1280-px window (sphinx-book-theme, measured in Chromium): a
# wider figure is scaled down to it, and its text with it. The caption's size is the floor.
COLUMN_PX = 672
MIN_TEXT_PX = 14.4


def _scale(fig: Figure, column_px: float) -> float:
    """How much the book's column shrinks ``fig``: inline PNGs are saved at the figure's
    dpi with ``bbox_inches="tight"`` (0.1 in of padding), so a legend outside the axes
    widens the image."""
    fig.canvas.draw()
    width = fig.get_tightbbox().width + 0.2
    return min(1.0, column_px / (width * fig.dpi))


def shown_text_px(fig: Figure, column_px: float = COLUMN_PX) -> float:
    """The smallest text of ``fig`` in screen pixels once the book scales it to its column."""
    scale = _scale(fig, column_px)
    sizes = [t.get_fontsize() for t in fig.findobj(mpl.text.Text) if t.get_visible()
             and t.get_text().strip()]
    return min(sizes, default=np.inf) * fig.dpi / 72 * scale


def legible(fig: Figure | None = None, column_px: float = COLUMN_PX,
            min_px: float = MIN_TEXT_PX) -> Figure:
    """Enlarge every text of ``fig`` that the book's column would show smaller than
    ``min_px`` pixels, then lay the figure out again: crowded x ticks thinned, a legend
    below or right of an axes hung below its (now larger) tick labels, titles wrapped to
    their panels, a figure legend kept in its strip at the bottom (figure legends are
    expected there, as the book's are). For figures laid out with ``tight_layout`` (an image
    grid placed by hand should use ``plt.show``)."""
    fig = plt.gcf() if fig is None else fig
    # first at the figure's own scale, then once at the image's (text wider than its panel
    # widens the image); no more: each pass could widen it again
    scales = (min(1.0, column_px / ((fig.get_figwidth() + 0.2) * fig.dpi)), None)
    for scale in scales:
        grow = _enlarge(fig, min_px * 72 / (fig.dpi * (scale or _scale(fig, column_px))))
        fig.set_figheight(fig.get_figheight() * grow)  # room for the taller text, same width
        for _ in range(2):  # a new layout moves the axes, and with them the legends' anchors
            fig.canvas.draw()
            _legends_below_ticks(fig)
            _wrap_titles(fig)
            bottom = max((lg.get_window_extent().height for lg in fig.legends), default=0.0)
            fig.tight_layout(rect=(0, (bottom + 4) / (fig.get_figheight() * fig.dpi)
                                   if bottom else 0, 1, 1))
            _thin_ticks(fig)  # on the axes' final width
    return fig


def _entries(legend: mpl.legend.Legend, axes: Sequence[Axes]) -> tuple[list[Any], list[str]]:
    """A legend's original artists (error bars stay error bars) and labels, in its order,
    found by label among ``axes``' labelled artists, to make the legend again."""
    artists: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            artists.setdefault(label, handle)
    labels = [t.get_text() for t in legend.texts]
    return [artists.get(label, proxy) for label, proxy in
            zip(labels, legend.legend_handles, strict=True)], labels


def _one_column(legend: mpl.legend.Legend) -> dict[str, Any]:
    """What a legend made again with one entry per row keeps of ``legend``."""
    title = legend.get_title()
    return {"ncols": 1, "fontsize": legend.texts[0].get_fontsize(),
            "title": title.get_text() or None, "title_fontsize": title.get_fontsize(),
            "frameon": legend.get_frame_on()}


def _enlarge(fig: Figure, floor: float) -> float:
    """Every text of ``fig`` (tick labels through their axes) at least ``floor`` points; a
    legend that no longer fits the figure's width is made again with one entry per row (an
    axes' below its axes). Returns how much the median text grew."""
    before = _median_size(fig)
    for ax in fig.axes:
        for axis, which in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            ticks = axis.get_ticklabels()
            if ticks and ticks[0].get_fontsize() < floor:
                ax.tick_params(axis=which, labelsize=floor)
    for text in fig.findobj(mpl.text.Text):
        if text.get_fontsize() < floor:
            text.set_fontsize(floor)
    fig.canvas.draw()
    too_wide = lambda lg: lg.texts and lg.get_window_extent().width > fig.bbox.width  # noqa: E731
    for legend in [lg for lg in fig.legends if too_wide(lg)]:  # columns are fixed when made
        legend.remove()
        fig.legend(*_entries(legend, fig.axes), loc="lower center", **_one_column(legend))
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and too_wide(legend):
            ax.legend(*_entries(legend, [ax]), loc="upper center", bbox_to_anchor=(0.5, -0.2),
                      **_one_column(legend))
    return _median_size(fig) / before


def _median_size(fig: Figure) -> float:
    """The median size in points of the figure's visible, non-empty texts (1 if none)."""
    sizes = [t.get_fontsize() for t in fig.findobj(mpl.text.Text)
             if t.get_visible() and t.get_text().strip()]
    return float(np.median(sizes)) if sizes else 1.0


def _legends_below_ticks(fig: Figure) -> None:
    """Hang each legend anchored outside its axes (below it, or beside it on the right, where
    larger text would squeeze the axes) just under the axes' tick labels and x label."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        anchor = legend.get_bbox_to_anchor().transformed(ax.transAxes.inverted())
        if anchor.x0 >= 1 - 1e-9:  # beside the axes: below it instead, centred
            anchor = mpl.transforms.Bbox.from_bounds(0.5, -1, 0, 0)
        if anchor.y0 >= 0:
            continue
        legend.set_loc("upper center")  # its top edge under the labels
        box = ax.get_window_extent(renderer)
        below = ax.xaxis.get_tightbbox(renderer) or box  # None: a hidden x axis (twinx)
        y = (min(below.y0, box.y0) - 4 - box.y0) / box.height
        legend.set_bbox_to_anchor((anchor.x0, y), transform=ax.transAxes)


def _wrap_titles(fig: Figure) -> None:
    """Wrap each panel title to its axes' present width (from one line, so that a wider
    axes after a new layout takes back its line breaks)."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        head = ax.title
        if not head.get_text():
            continue
        head.set_text(" ".join(head.get_text().split("\n")))
        ratio = head.get_window_extent(renderer).width / ax.get_window_extent(renderer).width
        if ratio > 1:
            head.set_text(textwrap.fill(head.get_text(),
                                        max(1, int(len(head.get_text()) / ratio))))


def _thin_ticks(fig: Figure) -> None:
    """Fewer ticks on a linear x axis whose (enlarged) tick labels overlap. Only a
    `MaxNLocator` (matplotlib's default `AutoLocator` is one) is thinned, its other settings
    kept; fixed, categorical and other locators are left as they are."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        axis = ax.xaxis
        locator = axis.get_major_locator()
        if axis.get_scale() != "linear" or not isinstance(locator, MaxNLocator):
            continue
        for nbins in (5, 4, 3):
            fig.canvas.draw()
            boxes = [t.get_window_extent(renderer) for t in axis.get_ticklabels()
                     if t.get_visible() and t.get_text()]
            if all(a.x1 + 2 < b.x0 for a, b in zip(boxes, boxes[1:], strict=False)):
                break
            locator.set_params(nbins=nbins)


def show(fig: Figure | None = None) -> None:
    """`legible`, then `plt.show` (the book's and JupyterLab's way to show a figure)."""
    legible(fig)
    plt.show()


def _ax(ax: Axes | None) -> Axes:
    return plt.subplots()[1] if ax is None else ax


def title(ax: Axes, text: str, width: int = 48) -> Axes:
    """A panel title wrapped at ``width`` characters, so that neighbours never overlap."""
    ax.set_title(textwrap.fill(text, width))
    return ax


def _legend(ax: Axes, **kw: Any) -> None:
    """A legend when something is labelled, else a note that there is nothing to show."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)
    else:
        ax.text(0.5, 0.5, "no runs yet", ha="center", transform=ax.transAxes)


def _errorbar(ax: Axes, x: np.ndarray, values: Sequence[Interval | None], **kw: Any) -> None:
    """Points with 95 % interval bars; missing values are skipped."""
    pts = [(xi, v) for xi, v in zip(x, values, strict=True) if v is not None]
    if not pts:
        return
    xs = np.array([p[0] for p in pts])
    means = np.array([p[1].mean for p in pts])
    half = np.array([p[1].half if np.isfinite(p[1].half) else 0.0 for p in pts])
    ax.errorbar(xs, means, yerr=half, capsize=3, **kw)


def plot_figure7(fig7: Mapping[str, Mapping[str, Interval]], ax: Axes | None = None,
                 unit: str = "seeds") -> Axes:
    """Figure 7: head-free prototype accuracy pre-adaptation / on-task / off-task.

    ``fig7``: algorithm -> condition ("pre", "on", "off") -> `Interval` (`report.figure7`);
    error bars are 95 % intervals over ``unit`` (n in the legend).
    """
    ax = _ax(ax)
    x = np.arange(len(FIG7_CONDITIONS))
    for i, (algo, d) in enumerate(fig7.items()):
        if not d:
            continue
        n = next(iter(d.values())).n
        _errorbar(ax, x + 0.05 * (i - (len(fig7) - 1) / 2), [d.get(k) for k, _ in FIG7_CONDITIONS],
                  marker="o", color=COLORS.get(algo),
                  label=f"{ALGO_LABELS.get(algo, algo)} (n={n} {unit}, 95% CI)")
    ax.set_xticks(x, [name for _, name in FIG7_CONDITIONS])
    ax.set_ylabel("prototype accuracy (cosine, head-free)")
    _legend(ax)
    return ax


def plot_report_figure7(ax: Axes | None = None) -> Axes:
    """The report's Figure 7 values alone (no intervals were published)."""
    ax = _ax(ax)
    x = np.arange(len(FIG7_CONDITIONS))
    for algo, vals in published.FIGURE7.items():
        ax.plot(x, [vals[k] for k, _ in FIG7_CONDITIONS], ls="--", marker="s", mfc="none",
                color=COLORS.get(algo),
                label=f"{ALGO_LABELS.get(algo, algo)} (n={published.FIGURE7_N:,} pairs, no CI)")
    ax.set_xticks(x, [name for _, name in FIG7_CONDITIONS])
    ax.set_ylabel("prototype accuracy (report)")
    _legend(ax)
    return ax


def figure7_panels(panels: Mapping[str, Mapping[str, Mapping[str, Interval]]],
                   units: Mapping[str, str] | None = None, ncols: int = 2
                   ) -> tuple[Figure, np.ndarray]:
    """One panel per dataset (title: its scale; ``units``: what its intervals are over)
    and the report's values last, ``ncols`` panels per row."""
    unit = {name: (units or {}).get(name, "seeds") for name in panels}
    return _panels_with_report(
        {name: lambda ax, f=fig7, u=unit[name]: plot_figure7(f, ax, unit=u)
         for name, fig7 in panels.items()},
        plot_report_figure7, ncols, height=4.8, legend_y=-0.1)


def _panels_with_report(draw: Mapping[str, Any], draw_report: Any, ncols: int, height: float,
                        legend_y: float) -> tuple[Figure, np.ndarray]:
    """A grid of panels, one per title in ``draw`` (title -> a function drawing on an axes)
    and the report's (``draw_report``) last, legends below the tick labels, unused panels
    hidden."""
    n = len(draw) + 1
    rows = -(-n // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(4.6 * ncols, height * rows), squeeze=False)
    flat = list(axes.flat)
    for ax, (name, fn) in zip(flat, draw.items(), strict=False):
        fn(ax)
        title(ax, name, 40)
    draw_report(flat[n - 1])
    title(flat[n - 1], REPORT_TITLE, 40)
    _legends_below(flat[:n], legend_y)
    for ax in flat[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig, axes


REPORT_TITLE = "report: mini-ImageNet 84×84, 64 filters, 60,000 it."


def _legends_below(axes: Sequence[Axes], y: float) -> None:
    """Move each panel's legend below its tick labels (at axes fraction ``y``): inside the
    axes a legend can hide an error bar."""
    for ax in axes:
        if ax.get_legend() is not None:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, y), fontsize=10)


def plot_endpoint(seeds: Sequence[int], per_seed: Sequence[Interval], over: Interval,
                  margin: float, ax: Axes | None = None, report_effect: float | None = None
                  ) -> Axes:
    """The primary endpoint: each seed's Delta (95 % CI over task pairs), the mean over
    seeds (95 % t-interval over seeds), the equivalence margin and the report's effect."""
    ax = _ax(ax)
    y = np.arange(len(seeds) + 1)
    for yi, ci in enumerate(per_seed):
        ax.errorbar(ci.mean, yi, xerr=ci.half, fmt="o", color="0.3", capsize=3,
                    label="per seed (95% CI over task pairs)" if yi == 0 else None)
    ax.errorbar(over.mean, len(seeds), xerr=over.half if np.isfinite(over.half) else 0,
                fmt="D", color="k", capsize=4,
                label=f"over {over.n} seeds (95% t-CI)" if over.n > 1 else "mean over seeds")
    ax.axvspan(-margin, margin, color="0.85", zorder=0, label=f"equivalence margin ±{margin:.4f}")
    if report_effect is not None:
        ax.axvline(report_effect, color=COLORS["meta-sgd"], ls="--", label="report's effect")
    ax.axvline(0, color="k", lw=0.8)
    over_label = "over seeds" if over.n > 1 else "mean (no interval)"
    ax.set_yticks(y, [f"seed {s}" for s in seeds] + [over_label])
    ax.set_ylim(-0.6, len(seeds) + 0.6)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.set_xlabel("Δ = (off − pre_b)[Meta-SGD] − (off − pre_b)[MAML]")
    _legend(ax, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return ax


def plot_sign_sweep(sweep: Mapping[float, Mapping[str, Interval | None]], ax: Axes | None = None,
                    unit: str = "seeds") -> Axes:
    """On- and off-task change against the multiplier of the conv layers' rates."""
    ax = _ax(ax)
    f = np.array(list(sweep))
    for key, label, color in (("on", "on-task: on − pre (A)", "C4"),
                              ("off", "off-task: off − pre (B)", "C5")):
        vals = [sweep[x][key] for x in sweep]
        n = next((v.n for v in vals if v is not None), 0)
        _errorbar(ax, f, vals, marker="o", color=color, label=f"{label} (n={n} {unit}, 95% CI)")
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(1, color="0.5", ls=":", lw=0.8)
    ax.set_xlabel("multiplier of the conv layers' learned rates (1 = as trained)")
    ax.set_ylabel("change in head-free accuracy")
    _legend(ax, loc="center left", bbox_to_anchor=(1.02, 0.5))  # outside: inside it hid bars
    return ax


def plot_rate_densities(rates_by_layer: Mapping[str, Sequence[float] | np.ndarray],
                        ax: Axes | None = None, bins: int = 60) -> Axes:
    """Figure 6: density of the learned inner rates per layer, with a zero line.

    ``rates_by_layer``: ``{layer: flat rates}`` (`analysis.rates_by_layer`); one
    step-line histogram per layer over shared bins, ``n`` and mean in the legend.
    """
    ax = _ax(ax)
    values = {k: np.asarray(v, dtype=float).ravel() for k, v in rates_by_layer.items()}
    edges = np.histogram_bin_edges(np.concatenate(list(values.values())), bins=bins)
    for layer, v in values.items():
        dens, _ = np.histogram(v, bins=edges, density=True)
        ax.step(edges, np.append(dens, dens[-1]), where="post", color=LAYER_COLORS.get(layer),
                label=f"{layer} (n={v.size}, mean {v.mean():+.3g})")
    ax.axvline(0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("inner learning rate")
    ax.set_ylabel("density")
    _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # inside, it hides the peaks
    return ax


def plot_rate_evolution(series: Mapping[int, Sequence[RatePoint]], ax: Axes | None = None,
                        layers: Sequence[str] = published.TABLE1_LAYERS) -> Axes:
    """The report's Figure 6 over training: each layer's mean rate (one colour per layer),
    one thin line per seed and their mean thick.

    ``series``: seed -> `analysis.RatePoint`s of that seed's run.
    """
    ax = _ax(ax)
    for layer in layers:
        curves = {}
        for seed, points in series.items():
            pts = sorted((p for p in points if p.layer == layer), key=lambda p: p.iteration)
            curves[seed] = {p.iteration: p.mean for p in pts}
            ax.plot(list(curves[seed]), list(curves[seed].values()),
                    color=LAYER_COLORS.get(layer), lw=0.7, alpha=0.5)
        common = sorted(set.intersection(*(set(c) for c in curves.values()))) if curves else []
        if common:
            ax.plot(common, [np.mean([c[i] for c in curves.values()]) for i in common],
                    color=LAYER_COLORS.get(layer), lw=2,
                    label=layer if len(curves) == 1 else f"{layer} (mean of {len(curves)} seeds)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("mean inner rate")
    _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def rate_evolution_panels(panels: Mapping[str, Mapping[int, Sequence[RatePoint]]],
                          marks: Mapping[str, int] | None = None) -> tuple[Figure, np.ndarray]:
    """`plot_rate_evolution` per panel title (seed -> `RatePoint`s), split in two: the conv
    layers on their own y-scale (they stay within a few hundredths of zero, where the head's
    rate would flatten them) and the head; ``marks``: title -> an iteration to mark dotted.
    One legend for the figure, below it."""
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.3 * len(panels) + 0.5),
                             gridspec_kw={"width_ratios": [3, 2]}, squeeze=False)
    for (name, series), (ax_conv, ax_head) in zip(panels.items(), axes, strict=True):
        plot_rate_evolution(series, ax_conv, layers=published.CONV_LAYERS)
        plot_rate_evolution(series, ax_head, layers=("logits",))
        for ax in (ax_conv, ax_head):
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            if marks and name in marks:
                ax.axvline(marks[name], color="k", ls=":", lw=1)
        k = len(series)
        title(ax_conv, name + (f"; thick: mean of {k} seeds" if k > 1 else ""), 55)
        title(ax_head, "head (logits)", 40)
        ax_head.set_ylabel("")
    handles = [mpl.lines.Line2D([], [], color=LAYER_COLORS.get(layer), lw=2, label=layer)
               for layer in published.TABLE1_LAYERS]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles))
    fig.tight_layout(rect=(0, 0.5 / fig.get_figheight(), 1, 1))
    return fig, axes


def plot_training_curves(curves: Mapping[str, Curves], ax: Axes | None = None,
                         n_val_episodes: int | None = None) -> Axes:
    """Validation accuracy (95 % CI band) and training accuracy vs meta-iteration.

    ``curves``: label -> `analysis.Curves` of a run. Training accuracy (thin dashed) is
    the logged window mean of meta-batch query accuracies. One colour per algorithm when
    each label is a different one (the label's first word), else one colour per label (the
    seeds of one algorithm); the legend hangs below the axes, where it hides no curve.
    """
    ax = _ax(ax)
    n_txt = f"n={n_val_episodes} tasks, " if n_val_episodes else ""
    by_algo = len({label.split(" ")[0] for label in curves}) == len(curves)
    for i, (label, m) in enumerate(curves.items()):
        it = np.asarray(m.val_iteration)
        acc, ci = np.asarray(m.val_acc), np.asarray(m.val_ci95)
        color = COLORS.get(label.split(" ")[0]) if by_algo else f"C{i % 10}"
        (line,) = ax.plot(it, acc, marker="o", markersize=3, color=color,
                          label=f"{label} validation ({n_txt}95% CI)")
        ax.fill_between(it, acc - ci, acc + ci, color=line.get_color(), alpha=0.2)
        ax.plot(m.iteration, m.train_acc, ls="--", lw=0.8, color=line.get_color(),
                label=f"{label} training (query, after adaptation)")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("accuracy")
    _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, fontsize=9)
    return ax


EXPLORER_BARS = (("pre_a", "pre (A)"), ("on_a", "on-task (A)"), ("off_b", "off-task (B)"),
                 ("pre_b", "pre (B)"), ("adapt_acc", "adapted,\nwith head (A)"))


def plot_explorer_bars(points: Mapping[str, Any], ax: Axes | None = None) -> Axes:
    """One explorer setting: probe accuracies and the adapted accuracy, per algorithm.

    ``points``: algo -> `explorer.Point`; error bars are 95 % CIs over the task pairs.
    """
    ax = _ax(ax)
    algos = [a for a in COLORS if a in points]
    x = np.arange(len(EXPLORER_BARS))
    width = 0.8 / max(len(algos), 1)
    for i, algo in enumerate(algos):
        vals = [getattr(points[algo], k) for k, _ in EXPLORER_BARS]
        ax.bar(x + (i - (len(algos) - 1) / 2) * width, [v.mean for v in vals], width,
               yerr=[v.half for v in vals], capsize=2, color=COLORS[algo], alpha=0.8,
               label=f"{algo} (n={points[algo].n} tasks, 95% CI)")
    ax.set_xticks(x, [name for _, name in EXPLORER_BARS])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return ax


def plot_conv_sweep(sweep: Any, current: float | None = None, ax: Axes | None = None) -> Axes:
    """Meta-SGD's probe changes and adapted accuracy vs the multiplier of its conv rates.

    ``sweep``: `explorer.ConvSweep`. Lines: on-task change (on - pre, A), paired off-task
    change (off - pre, B), with 95 % CI bands; the adapted accuracy (with the head) on a
    right-hand axis. MAML at its trained rate: dashed lines. ``current`` marks a value.
    """
    ax = _ax(ax)
    m = np.asarray(sweep.grid)
    for key, label, color in (("on_change", "on - pre (A)", "#d62728"),
                              ("off_change", "off - pre (B)", "#9467bd")):
        vals = [getattr(p, key) for p in sweep.meta_sgd]
        ax.plot(m, [v.mean for v in vals], marker=".", color=color, label=f"Meta-SGD {label}")
        ax.fill_between(m, [v.low for v in vals], [v.high for v in vals], color=color,
                        alpha=0.15)
        ax.axhline(getattr(sweep.maml, key).mean, color=color, ls="--", lw=0.8,
                   label=f"MAML {label}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("multiplier of Meta-SGD's conv-layer rates")
    ax.set_ylabel("change in prototype accuracy")
    right = ax.twinx()
    right.plot(m, [p.adapt_acc.mean for p in sweep.meta_sgd], color="0.4", lw=1, marker=".")
    right.axhline(sweep.maml.adapt_acc.mean, color="0.4", ls="--", lw=0.8)
    right.set_ylabel("adapted accuracy, with head (grey)")
    right.set_ylim(0, 1)
    right.grid(False)
    if current is not None:
        ax.axvline(current, color="k", ls=":", lw=1)
    _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
              title=f"n={sweep.n_pairs} task pairs, 95% CI bands; grey: adapted accuracy",
              title_fontsize=7)
    return ax


def plot_adaptation(curves: Mapping[str, Sequence[Sequence[float]] | np.ndarray],
                    n_inner_steps: int | None = None, ax: Axes | None = None) -> Axes:
    """Accuracy over inner-loop steps (step 0 = the meta-initialisation), mean and 95 % CI.

    ``curves``: ``{label: accuracies [n_steps + 1, n_tasks]}`` (e.g. support and query
    accuracy of the same tasks); the band is the 95 % t-interval over tasks. A dotted
    line marks ``n_inner_steps``, the number of steps the model was meta-trained with.
    """
    ax = _ax(ax)
    for label, acc in curves.items():
        a = np.asarray(acc, dtype=float)
        steps = np.arange(a.shape[0])
        cis = [mean_ci(row) for row in a]
        mean = np.array([c.mean for c in cis])
        (line,) = ax.plot(steps, mean, marker="o", label=f"{label} (n={a.shape[1]} tasks, 95% CI)")
        ax.fill_between(steps, [c.low for c in cis], [c.high for c in cis],
                        color=line.get_color(), alpha=0.2)
    if n_inner_steps is not None:
        ax.axvline(n_inner_steps, color="k", lw=0.8, ls=":", label="steps used in training")
    ax.set_xlabel("inner-loop step")
    ax.set_ylabel("accuracy (head included)")
    _legend(ax)
    return ax


def plot_episode(episode: Any, task: int = 0, title: str | None = None) -> Figure:
    """Support and query images of one task of an ``episodes.Episode``, one row per label.

    Column 0 holds the support image(s) of the label, the rest its query images; a
    vertical gap separates the two. Grey-scale for one channel, RGB otherwise.
    """
    x_s, y_s = episode.x_support[task].cpu(), episode.y_support[task].cpu()
    x_q, y_q = episode.x_query[task].cpu(), episode.y_query[task].cpu()
    n_way = int(y_s.max()) + 1
    k_shot, k_query = len(y_s) // n_way, len(y_q) // n_way
    cols = k_shot + k_query
    fig, axes = plt.subplots(n_way, cols, figsize=(1.2 * cols + 0.6, 1.2 * n_way),
                             squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.05})
    for label in range(n_way):
        images = [*x_s[y_s == label], *x_q[y_q == label]]
        for col, img in enumerate(images):
            ax = axes[label, col]
            pixels = img.permute(1, 2, 0).numpy()
            ax.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels.clip(0, 1),
                      cmap="gray" if pixels.shape[-1] == 1 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[label, 0].set_ylabel(f"label {label}", rotation=0, ha="right", va="center")
    axes[0, 0].set_title("support")
    for col in range(k_shot, cols):
        axes[0, col].set_title("query")
    fig.subplots_adjust(left=0.12)
    if title:
        fig.suptitle(title)
    return fig


def plot_sweep_metric(x: Sequence[float], series: Mapping[str, Sequence[Interval | None]],
                      ax: Axes | None = None, xlabel: str = "", ylabel: str = "",
                      unit: str = "seeds") -> Axes:
    """A metric against a swept setting, one line per series (e.g. per layer), with
    95 % intervals (over ``unit``)."""
    ax = _ax(ax)
    xs = np.asarray(x, dtype=float)
    counts = [max((vals[j].n for vals in series.values() if vals[j] is not None), default=0)
              for j in range(len(xs))]
    for i, (name, values) in enumerate(series.items()):
        _errorbar(ax, xs + 0.04 * (i - (len(series) - 1) / 2), values, marker="o",
                  color=LAYER_COLORS.get(name), label=name)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel(f"{xlabel} (95 % CI over {unit} where n > 1)")
    ax.set_ylabel(ylabel)
    ax.set_xticks(xs, [f"{v:g}\nn = {n}" for v, n in zip(xs, counts, strict=True)])
    _legend(ax)
    return ax


REGIME_CHANGES = (("on", "on − pre (task A)", "o"), ("off", "off − pre (task B)", "s"))
REPORT_CHANGES = (("on", "on − pre (task A)", "o"), ("off", "off − pre (task A)", "s"))


def plot_regime(changes: Mapping[str, Mapping[str, Interval | None]], ax: Axes | None = None
                ) -> Axes:
    """What adaptation does to the head-free accuracy, per algorithm: the on-task change
    (on − pre_a) and the off-task change (off − pre_b), 95 % intervals over seeds.

    ``changes``: algorithm -> {"on": Interval, "off": Interval}.
    """
    ax = _ax(ax)
    algos = [a for a in changes if any(changes[a].values())]
    for j, (key, label, marker) in enumerate(REGIME_CHANGES):
        x = np.arange(len(algos)) + (j - 0.5) * 0.25
        _errorbar(ax, x, [changes[a].get(key) for a in algos], fmt=marker, ls="none",
                  color=f"C{j + 4}", label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(algos)), [ALGO_LABELS.get(a, a) for a in algos])
    ax.set_ylabel("change of head-free accuracy")
    _legend(ax)
    return ax


def plot_report_regime(ax: Axes | None = None) -> Axes:
    """The report's on- and off-task changes (its Figure 7, off − pre of task A)."""
    ax = _ax(ax)
    algos = sorted(published.FIGURE7)  # maml, meta-sgd: the order of `plot_regime`
    for j, (key, label, marker) in enumerate(REPORT_CHANGES):
        x = np.arange(len(algos)) + (j - 0.5) * 0.25
        y = [published.FIGURE7[a][key] - published.FIGURE7[a]["pre"] for a in algos]
        ax.plot(x, y, marker, mfc="none", color=f"C{j + 4}", label=f"{label} (no CI)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(algos)), [ALGO_LABELS.get(a, a) for a in algos])
    ax.set_ylabel("change (the report)")
    _legend(ax)
    return ax


def regime_panels(panels: Mapping[str, Mapping[str, Mapping[str, Interval | None]]],
                  ncols: int = 2) -> tuple[Figure, np.ndarray]:
    """`plot_regime` per dataset (title -> algorithm -> {"on", "off"}) and the report's
    changes last, ``ncols`` panels per row, legends below the tick labels."""
    return _panels_with_report(
        {name: lambda ax, c=changes: plot_regime(c, ax) for name, changes in panels.items()},
        plot_report_regime, ncols, height=5.0, legend_y=-0.2)


def plot_calibration(cal: Calibration, ax: Axes | None = None) -> Axes:
    """The report's test between every two models of a dataset: p-values of pairs of the
    same algorithm (a placebo: only the seed differs) and of different algorithms, with
    the report's p marked."""
    ax = _ax(ax)
    rng = np.random.default_rng(0)  # jitter only
    for y, (label, pairs, color) in enumerate((("same algorithm", cal.placebo, "0.35"),
                                               ("different algorithms", cal.between, "C3"))):
        p = np.array([max(q.p, 1e-300) for q in pairs])
        if p.size:
            ax.scatter(p, y + rng.uniform(-0.15, 0.15, p.size), s=18, color=color,
                       label=f"{label} (n={p.size})")
    ax.axvline(cal.threshold, color="k", ls="--", label=f"report's p = {cal.threshold:g}")
    ax.set_xscale("log")
    ax.set_yticks([0, 1], ["same\nalgorithm", "different\nalgorithms"])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel(f"p of the report's paired t-test over task pairs ({cal.form})")
    _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    return ax


def plot_layer_similarity(series: Mapping[str, Mapping[str, Interval] | None],
                          ax: Axes | None = None, ylabel: str = "CKA before vs after",
                          styles: Mapping[str, Mapping[str, Any]] | None = None) -> Axes:
    """A per-layer quantity (e.g. CKA of θ vs θ'_A) for several series (algorithms or
    conditions), 95 % intervals over seeds; ``series``: label -> layer -> `Interval`."""
    ax = _ax(ax)
    shown = {k: v for k, v in series.items() if v}
    layers = list(next(iter(shown.values()))) if shown else []
    x = np.arange(len(layers))
    for i, (label, values) in enumerate(shown.items()):
        kw = {"marker": "o", **(styles or {}).get(label, {})}
        n = next(iter(values.values())).n
        _errorbar(ax, x + 0.06 * (i - (len(shown) - 1) / 2), [values[k] for k in layers],
                  label=f"{label} (n={n})", **kw)
    ax.set_xticks(x, layers)
    ax.set_ylabel(ylabel)
    # CKA lies in [0, 1]; a t-interval from two seeds can run far past both, so the axis
    # stops a little below the lowest mean and at 1 (intervals beyond are cut there).
    lowest = min((v.mean for values in shown.values() for v in values.values()), default=0.0)
    ax.set_ylim(max(ax.get_ylim()[0], lowest - 0.1, -0.02), 1.02)
    _legend(ax)
    return ax
