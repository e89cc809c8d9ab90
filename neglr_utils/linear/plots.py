"""Figures of the linear-model chapter, drawn from `neglr_utils.linear` results.

Each function takes results (never computes them) and an optional ``ax``, and returns the
axes. Bands and error bars are 95 % intervals over sampled meta-training sets, with their
number in the legend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from ..stats import Interval
from .model import LossCurve, RateComparison, Regime

RATE_LABEL = r"training rate $\alpha_t$"
RATIO_LABEL = r"parameters per query sample, $p\,/\,(m\,n_v)$"
GAIN_THRESHOLD = 1e-3  # the gain axis is linear below this magnitude, logarithmic above
HEADROOM = 1.6  # `plot_objective_panels`: y-axis top over the largest mean of the scaling curve
PANEL_WIDTH = 5.5  # inches per panel of a figure with one panel per regime


def _ax(ax: Axes | None) -> Axes:
    return plt.subplots()[1] if ax is None else ax


def _legend_below(ax: Axes, *args: Any) -> None:
    """The panel's legend below its axes (inside, it hid the curves); `display.plots.show`
    hangs it under the tick labels."""
    ax.legend(*args, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2))


def regime_title(regime: Regime) -> str:
    """A panel title: the regime's name and its ``p / (m n_v)``."""
    return f"{regime.name}: p / (m n_v) = {regime.ratio:.2g}"


def _band(ax: Axes, x: np.ndarray, intervals: Sequence[Interval], label: str,
          color: str | None = None) -> str:
    """Mean line and 95 % band; returns the colour used."""
    mean = np.array([iv.mean for iv in intervals])
    line, = ax.plot(x, mean, label=f"{label} (n = {intervals[0].n} sets)", color=color)
    ax.fill_between(x, [iv.low for iv in intervals], [iv.high for iv in intervals],
                    color=line.get_color(), alpha=0.2, linewidth=0)
    return line.get_color()


def plot_loss_curve(curve: LossCurve, best: RateComparison | None = None,
                    ax: Axes | None = None, label: str = "expected test loss") -> Axes:
    """Expected test loss against the training rate, the optimum marked.

    ``curve``: `linear.loss_curve` (untied: adaptation at the regime's ``alpha_r``);
    ``best``: `linear.compare_rates` on the same regime, drawn as a star with its interval.
    Dotted line: ``alpha_t = 0``; dashed: ``alpha_t = alpha_r``.
    """
    ax = _ax(ax)
    color = _band(ax, curve.alphas, curve.intervals(), label)
    ax.axvline(0.0, color="grey", linestyle=":", linewidth=1, label=r"$\alpha_t = 0$")
    ax.axvline(curve.regime.alpha_r, color="grey", linestyle="--", linewidth=1,
               label=rf"$\alpha_t = \alpha_r = {curve.regime.alpha_r:g}$")
    if best is not None:
        ax.errorbar([best.alpha_t_opt], [best.loss_opt.mean], yerr=[best.loss_opt.half],
                    marker="*", markersize=12, color=color, capsize=3, linestyle="none",
                    label=rf"optimum $\alpha_t^* = {best.alpha_t_opt:.2f}$")
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel("expected test loss after adaptation")
    _legend_below(ax)
    return ax


def _ratio_axis(ax: Axes) -> None:
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(RATIO_LABEL)


def plot_optimal_rates(rows: Mapping[str, Sequence[RateComparison]],
                       ax: Axes | None = None) -> Axes:
    """The optimal training rate against ``p / (m n_v)``, one series per label.

    ``rows``: label -> `linear.ratio_scan` output. Open markers: the optimum is at an end of
    the search grid (the true one may lie beyond). Dotted vertical line: interpolation
    threshold ``m n_v = p``.
    """
    ax = _ax(ax)
    for label, series in rows.items():
        x = np.array([r.regime.ratio for r in series])
        y = np.array([r.alpha_t_opt for r in series])
        end = np.array([r.at_grid_end for r in series])
        line, = ax.plot(x, y, marker="o", label=label)
        ax.plot(x[end], y[end], marker="o", linestyle="none", markerfacecolor="white",
                color=line.get_color())
    ax.axhline(0.0, color="black", linewidth=0.8)
    _ratio_axis(ax)
    ax.set_ylabel(r"optimal training rate $\alpha_t^*$")
    _legend_below(ax)
    return ax


def plot_gains(rows: Mapping[str, Sequence[RateComparison]], ax: Axes | None = None) -> Axes:
    """Test loss saved by the optimal training rate over ``alpha_t = 0`` and ``alpha_t = alpha_r``.

    ``rows``: label -> `linear.ratio_scan` output; error bars are 95 % intervals of the paired
    differences over training sets (their number varies with ``m``, see `ratio_scan`).
    """
    ax = _ax(ax)
    for label, series in rows.items():
        x = np.array([r.regime.ratio for r in series])
        for attr, style, name in (("gain_vs_zero", "-", r"vs $\alpha_t = 0$"),
                                  ("gain_vs_alpha_r", "--", r"vs $\alpha_t = \alpha_r$")):
            ivs = [getattr(r, attr) for r in series]
            ax.errorbar(x, [iv.mean for iv in ivs], yerr=[iv.half for iv in ivs], capsize=2,
                        marker="o", markersize=3, linestyle=style, label=f"{label}, {name}")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_yscale("symlog", linthresh=GAIN_THRESHOLD)
    _ratio_axis(ax)
    ax.set_ylabel(r"loss saved by $\alpha_t^*$")
    _legend_below(ax)
    return ax


def plot_objectives(curves: Mapping[str, LossCurve], marks: Mapping[str, float],
                    ax: Axes | None = None, legend: bool = True) -> Axes:
    """Several objectives of the rate on one axis, with marked rates.

    ``curves``: label -> `linear.loss_curve` (any objective: the meta-training loss the outer
    loop minimises, the tied or untied test loss); ``marks``: label -> a rate, drawn as a
    vertical line (e.g. where Meta-SGD's scalar rate converged, the optimal training rate).
    ``legend=False`` leaves the legend to the caller (one legend for several panels).
    """
    ax = _ax(ax)
    for label, curve in curves.items():
        _band(ax, curve.alphas, curve.intervals(), label)
    for (label, rate), style in zip(marks.items(), (":", "--", "-."), strict=False):
        ax.axvline(rate, color="black", linestyle=style, linewidth=1,
                   label=rf"{label}: $\alpha = {rate:.2f}$")
    ax.set_xlabel(r"rate $\alpha$ ($\alpha_t$; also $\alpha_r$ when tied)")
    ax.set_ylabel("loss")
    if legend:
        _legend_below(ax)
    return ax


Panel = tuple[Mapping[str, LossCurve], Mapping[str, float], LossCurve]


def plot_objective_panels(panels: Mapping[str, Panel], axes: Sequence[Axes] | None = None,
                          height: float = 4.8) -> list[Axes]:
    """`plot_objectives` side by side, with one legend of the curves below the panels.

    ``panels``: title -> ``(curves, marks, scale)``, the curves and marks of
    `plot_objectives` (the same curve labels in every panel) and the curve whose largest mean,
    times ``HEADROOM``, is the top of the y-axis (a steep objective would flatten the others).
    Each panel's own legend lists its marked rates with their values. ``axes``: one per panel
    (default: a new figure of ``PANEL_WIDTH`` inches per panel by ``height``).
    """
    if axes is None:
        axes = plt.subplots(1, len(panels), figsize=(PANEL_WIDTH * len(panels), height),
                            squeeze=False)[1][0]
    for ax, (title, (curves, marks, scale)) in zip(axes, panels.items(), strict=True):
        plot_objectives(curves, marks, ax=ax, legend=False)
        top = HEADROOM * scale.mean().max()
        ax.set_ylim(-0.03 * top, top)
        ax.set_title(title)
        handles, labels = ax.get_legend_handles_labels()
        n = len(curves)
        _legend_below(ax, handles[n:], labels[n:])
    fig = axes[0].figure
    fig.legend(handles[:n], labels[:n], loc="lower center", ncol=n, fontsize="small")
    fig.subplots_adjust(bottom=0.22)
    return list(axes)
