"""Figures from results (never from training): Figure 6 and 7 of the report, and more.

Every function takes data (dicts / arrays from `analysis` or a probe JSON) and an
optional ``ax``, and returns the axes. Uncertainty is always drawn (95 % CI error bars
or bands, or the std band where the spread itself is the quantity) with ``n`` in the
legend. Call `style` once per notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .analysis import REPORT_FIGURE7, REPORT_FIGURE7_N

FIG7_CONDITIONS = (("pre", "pre-adaptation"), ("on", "on-task"), ("off", "off-task"))
COLORS = {"maml": "#1f77b4", "meta-sgd": "#d62728", "meta-sgd-positive": "#2ca02c"}
ABLATION_STYLES = {"trained": "-", "conv_flipped": ":", "conv_zeroed": "-."}


def style() -> None:
    """The book's one plot style (small, readable, grid on)."""
    mpl.rcParams.update({
        "figure.figsize": (6.0, 4.0), "figure.dpi": 100, "axes.grid": True,
        "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "legend.frameon": False, "font.size": 10, "axes.titlesize": 10,
    })


def _ax(ax: Axes | None) -> Axes:
    return plt.subplots()[1] if ax is None else ax


def _color(label: str) -> str | None:
    return COLORS.get(label.split("/")[0].split("-seed")[0])


def _line(label: str) -> dict[str, Any]:
    """Colour by algorithm; a probe ablation (``.../conv_flipped``) gets its own line style."""
    cond = label.split("/", 1)[1] if "/" in label else "trained"
    return {"color": _color(label), "ls": ABLATION_STYLES.get(cond, "-"),
            "mfc": "none" if cond != "trained" else None}


def plot_figure7(summary: Mapping[str, Mapping[str, Any]], ax: Axes | None = None,
                 report: bool = True) -> Axes:
    """Figure 7: prototype accuracy pre-adaptation / on-task / off-task, one line per run.

    ``summary``: ``{label: {"pre"|"on"|"off": {"mean", "ci95"}, "n": n}}`` (see
    `analysis.figure7_data`); error bars are 95 % CIs over probe iterations. With
    ``report`` the report's values are drawn dashed on a right-hand axis of their own
    (their level differs by dataset; the shapes are what compare).
    """
    ax = _ax(ax)
    x = np.arange(len(FIG7_CONDITIONS))
    for i, (label, d) in enumerate(summary.items()):
        means = [d[k]["mean"] for k, _ in FIG7_CONDITIONS]
        cis = [d[k]["ci95"] for k, _ in FIG7_CONDITIONS]
        ax.errorbar(x + 0.04 * (i - (len(summary) - 1) / 2), means, yerr=cis, marker="o",
                    capsize=3, **_line(label), label=f"{label} (n={d['n']}, 95% CI)")
    ax.set_xticks(x, [name for _, name in FIG7_CONDITIONS])
    ax.set_xlabel("condition")
    ax.set_ylabel("prototype accuracy (cosine, head-free)")
    handles, labels = ax.get_legend_handles_labels()
    if report:
        twin = ax.twinx()
        for algo, vals in REPORT_FIGURE7.items():
            (line,) = twin.plot(x, [vals[k] for k, _ in FIG7_CONDITIONS], ls="--", marker="s",
                                mfc="none", color=_color(algo),
                                label=f"report {algo} (n={REPORT_FIGURE7_N}, no CI given)")
            handles.append(line)
            labels.append(line.get_label())
        twin.set_ylabel("report's accuracy (dashed)")
        twin.grid(False)
    ax.legend(handles, labels, fontsize=8)
    return ax


def plot_report_figure7(ax: Axes | None = None) -> Axes:
    """The report's Figure 7 values alone (no intervals were published)."""
    ax = _ax(ax)
    x = np.arange(len(FIG7_CONDITIONS))
    for algo, vals in REPORT_FIGURE7.items():
        ax.plot(x, [vals[k] for k, _ in FIG7_CONDITIONS], ls="--", marker="s", mfc="none",
                color=_color(algo), label=f"{algo} (n={REPORT_FIGURE7_N}, no CI given)")
    ax.set_xticks(x, [name for _, name in FIG7_CONDITIONS])
    ax.set_xlabel("condition")
    ax.set_ylabel("prototype accuracy (report)")
    ax.legend(fontsize=8)
    return ax


def figure7_comparison(summary: Mapping[str, Mapping[str, Any]]) -> tuple[Figure, np.ndarray]:
    """A 1x2 figure: our Figure 7 (with CIs) | the report's values."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plot_figure7(summary, axes[0], report=False)
    axes[0].set_title("this reproduction")
    plot_report_figure7(axes[1])
    axes[1].set_title("report (Starshak), mini-ImageNet")
    fig.tight_layout()
    return fig, axes


def plot_probe_changes(changes: Mapping[str, Mapping[str, Mapping[str, float]]],
                       ax: Axes | None = None) -> Axes:
    """Mean change in accuracy per run, on-task and off-task, with 95 % CI error bars.

    ``changes``: ``{label: probe_statistics(...)["changes"]}`` (keys ``on``,
    ``off_report``, ``off_paired``, each a `analysis.mean_ci` dict).
    """
    ax = _ax(ax)
    keys = (("on", "on - pre_a"), ("off_report", "off - pre_a"), ("off_paired", "off - pre_b"))
    x = np.arange(len(keys))
    for i, (label, ch) in enumerate(changes.items()):
        n = ch["on"]["n"]
        ax.errorbar(x + 0.06 * (i - (len(changes) - 1) / 2), [ch[k]["mean"] for k, _ in keys],
                    yerr=[ch[k]["ci95"] for k, _ in keys], fmt="o", capsize=3,
                    color=_line(label)["color"], mfc=_line(label)["mfc"],
                    label=f"{label} (n={n}, 95% CI)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [name for _, name in keys])
    ax.set_xlabel("change")
    ax.set_ylabel("change in prototype accuracy")
    ax.legend(fontsize=8)
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
        ax.step(edges, np.append(dens, dens[-1]), where="post",
                label=f"{layer} (n={v.size}, mean {v.mean():+.3g})")
    ax.axvline(0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("inner learning rate")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax


def plot_rate_evolution(rows: Sequence[Mapping[str, Any]], ax: Axes | None = None,
                        kind: str = "layer") -> Axes:
    """Mean inner rate per layer over meta-iterations, with a band of +-1 std over its entries.

    ``rows``: tidy rows from `analysis.rate_evolution` (``kind`` selects "layer" or
    "tensor" rows; "tensor" is used when no "layer" rows are present).
    """
    ax = _ax(ax)
    sel = [r for r in rows if r.get("kind") == kind] or list(rows)
    for layer in dict.fromkeys(r["layer"] for r in sel):
        rs = sorted((r for r in sel if r["layer"] == layer), key=lambda r: r["iteration"])
        it = np.array([r["iteration"] for r in rs])
        mean, std = np.array([r["mean"] for r in rs]), np.array([r["std"] for r in rs])
        n = rs[-1].get("n") or "?"
        (line,) = ax.plot(it, mean, marker=".", label=f"{layer} (n={n}, band: +-1 std)")
        ax.fill_between(it, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.axhline(0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("inner learning rate")
    ax.legend(fontsize=8)
    return ax


def plot_training_curves(metrics_by_algo: Mapping[str, Mapping[str, Sequence[float]]],
                         ax: Axes | None = None, n_val_episodes: int | None = None) -> Axes:
    """Validation accuracy (95 % CI band) and training accuracy vs meta-iteration.

    ``metrics_by_algo``: ``{label: analysis.training_curves(run.metrics)}``. Training
    accuracy (thin dashed) is the logged window mean of meta-batch query accuracies.
    """
    ax = _ax(ax)
    n_txt = f"n={n_val_episodes} tasks, " if n_val_episodes else ""
    for label, m in metrics_by_algo.items():
        it = np.asarray(m["val_iteration"])
        acc, ci = np.asarray(m["val_acc"]), np.asarray(m["val_ci95"])
        (line,) = ax.plot(it, acc, marker="o", color=_color(label),
                          label=f"{label} validation ({n_txt}95% CI)")
        ax.fill_between(it, acc - ci, acc + ci, color=line.get_color(), alpha=0.2)
        ax.plot(m["iteration"], m["train_acc"], ls="--", lw=0.8, color=line.get_color(),
                label=f"{label} training (query, after adaptation)")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    return ax


EXPLORER_BARS = (("pre_a", "pre (A)"), ("on_a", "on-task (A)"), ("off_b", "off-task (B)"),
                 ("pre_b", "pre (B)"), ("adapt_acc", "adapted,\nwith head (A)"))


def plot_explorer_bars(point: Mapping[str, Any], ax: Axes | None = None) -> Axes:
    """One explorer setting: probe accuracies and the adapted accuracy, per algorithm.

    ``point``: ``{algo: widgets.summarize(...)}`` (e.g. `widgets.explorer_point`);
    error bars are 95 % CIs over the task pairs (``n`` in the legend).
    """
    ax = _ax(ax)
    algos = [a for a in COLORS if a in point]
    x = np.arange(len(EXPLORER_BARS))
    width = 0.8 / max(len(algos), 1)
    for i, algo in enumerate(algos):
        p = point[algo]
        ax.bar(x + (i - (len(algos) - 1) / 2) * width, [p[k] for k, _ in EXPLORER_BARS], width,
               yerr=[p[f"{k}_ci95"] for k, _ in EXPLORER_BARS], capsize=2, color=COLORS[algo],
               alpha=0.8, label=f"{algo} (n={p['n']} tasks, 95% CI)")
    ax.set_xticks(x, [name for _, name in EXPLORER_BARS], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return ax


def plot_conv_sweep(sweep: Mapping[str, Any], current: float | None = None,
                    ax: Axes | None = None) -> Axes:
    """Meta-SGD's probe changes and adapted accuracy vs the multiplier of its conv rates.

    ``sweep``: `widgets.precompute_sweep` output. Lines: on-task change (on - pre, A),
    paired off-task change (off - pre, B), with 95 % CI bands; the adapted accuracy
    (with the head) on a right-hand axis. MAML at its trained rate: dashed lines.
    ``current`` marks one multiplier.
    """
    ax = _ax(ax)
    m = np.asarray(sweep["grid"])
    pts, maml = sweep["meta-sgd"], sweep["maml"]
    for key, label, color in (("on_change", "on - pre (A)", "#d62728"),
                              ("off_change", "off - pre (B)", "#9467bd")):
        y = np.array([p[key] for p in pts])
        ci = np.array([p[f"{key}_ci95"] for p in pts])
        ax.plot(m, y, marker=".", color=color, label=f"Meta-SGD {label}")
        ax.fill_between(m, y - ci, y + ci, color=color, alpha=0.15)
        ax.axhline(maml[key], color=color, ls="--", lw=0.8, label=f"MAML {label}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("multiplier of Meta-SGD's conv-layer rates")
    ax.set_ylabel("change in prototype accuracy")
    right = ax.twinx()
    right.plot(m, [p["adapt_acc"] for p in pts], color="0.4", lw=1, marker=".")
    right.axhline(maml["adapt_acc"], color="0.4", ls="--", lw=0.8)
    right.set_ylabel("adapted accuracy, with head (grey)")
    right.set_ylim(0, 1)
    right.grid(False)
    if current is not None:
        ax.axvline(current, color="k", ls=":", lw=1)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
              title=f"n={sweep['n_pairs']} task pairs, 95% CI bands; grey: adapted accuracy",
              title_fontsize=7)
    return ax


def plot_adaptation(curves: Mapping[str, Sequence[Sequence[float]] | np.ndarray],
                    n_inner_steps: int | None = None, ax: Axes | None = None) -> Axes:
    """Accuracy over inner-loop steps (step 0 = the meta-initialisation), mean and 95 % CI.

    ``curves``: ``{label: accuracies [n_steps + 1, n_tasks]}`` (e.g. support and query
    accuracy of the same tasks); the band is a normal 95 % interval over tasks. A dotted
    line marks ``n_inner_steps``, the number of steps the model was meta-trained with.
    """
    ax = _ax(ax)
    for label, acc in curves.items():
        a = np.asarray(acc, dtype=float)
        steps = np.arange(a.shape[0])
        mean = a.mean(axis=1)
        half = 1.96 * a.std(axis=1, ddof=1) / np.sqrt(a.shape[1])
        (line,) = ax.plot(steps, mean, marker="o", label=f"{label} (n={a.shape[1]} tasks, 95% CI)")
        ax.fill_between(steps, mean - half, mean + half, color=line.get_color(), alpha=0.2)
    if n_inner_steps is not None:
        ax.axvline(n_inner_steps, color="k", lw=0.8, ls=":", label="steps used in training")
    ax.set_xlabel("inner-loop step")
    ax.set_ylabel("accuracy (head included)")
    ax.legend(fontsize=8)
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
    axes[0, 0].set_title("support", fontsize=9)
    for col in range(k_shot, cols):
        axes[0, col].set_title("query", fontsize=9)
    fig.subplots_adjust(left=0.12)
    if title:
        fig.suptitle(title)
    return fig
