"""The explorer's front ends: a static slider for the published book, live ipywidgets.

- `static_slider_html`: frames behind an ``<input type="range">`` with a one-line inline
  handler, so the published book (no kernel) still has a working slider;
- `LearningRateExplorer`: sliders over both runs' inner rules, recomputing
  `explorer.explorer_point` on every change (needs a running kernel).

The numbers come from ``explorer.py``; the figures from ``plots.py``.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import clear_output, display
from PIL import Image

from ..core.episodes import EpisodeSet
from ..runs.training import Run
from .explorer import EXPLORER_ALGOS, LAYERS, ConvSweep, Point, explorer_point
from .plots import plot_conv_sweep, plot_explorer_bars
from .tables import fmt

# ---------------------------------------------------------------- static HTML slider


def png_frame(fig: Any, dpi: int = 72, colors: int = 64) -> str:
    """A matplotlib figure as an ``<img>`` with an inline base64 PNG (closes the figure).

    The PNG is reduced to a ``colors``-colour palette (about 4x smaller for line plots).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    buf = io.BytesIO()
    img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG",
                                                                       optimize=True)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="frame" style="max-width:100%" src="data:image/png;base64,{data}">'


def static_slider_html(frames: Sequence[str], labels: Sequence[str], *, initial: int = 0,
                       title: str = "") -> str:
    """Self-contained HTML: one frame visible at a time, chosen by an ``<input type=range>``.

    ``frames``: HTML fragments (e.g. `png_frame` or a table); ``labels``: one per frame,
    shown beside the slider. No script file, no network: an inline ``oninput`` handler
    shows the chosen frame, so it works from ``file://`` and in any notebook front end.
    """
    if len(frames) != len(labels) or not frames:
        raise ValueError(f"need as many labels as frames (>0): {len(frames)} vs {len(labels)}")
    if not 0 <= initial < len(frames):
        raise ValueError(f"initial={initial} outside 0..{len(frames) - 1}")
    handler = ("var b=this.closest('.neglr-static-slider'),i=+this.value;"
               "b.querySelectorAll('.neglr-frame').forEach(function(f,j)"
               "{f.style.display=j===i?'block':'none';});"
               "b.querySelector('.neglr-label').textContent=this.dataset['l'+i];")
    data = " ".join(f'data-l{i}="{html.escape(str(lab))}"' for i, lab in enumerate(labels))
    parts = [
        '<div class="neglr-static-slider">',
        f"<div><strong>{html.escape(title)}</strong></div>" if title else "",
        f'<input type="range" min="0" max="{len(frames) - 1}" step="1" value="{initial}" '
        f'style="width:60%" {data} oninput="{html.escape(handler)}"> '
        f'<span class="neglr-label">{html.escape(str(labels[initial]))}</span>',
    ]
    for i, frame in enumerate(frames):
        shown = "block" if i == initial else "none"
        parts.append(f'<div class="neglr-frame" style="display:{shown}">{frame}</div>')
    parts.append("</div>")
    return "\n".join(p for p in parts if p)


def sweep_frames(sweep: ConvSweep, dpi: int = 72) -> list[str]:
    """One PNG frame per grid value: `plots.plot_explorer_bars` | `plots.plot_conv_sweep`."""
    frames = []
    for i, m in enumerate(sweep.grid):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        plot_explorer_bars({"maml": sweep.maml, "meta-sgd": sweep.meta_sgd[i]}, axes[0])
        axes[0].set_title(f"Meta-SGD conv rates × {m:g}; MAML as trained")
        plot_conv_sweep(sweep, current=m, ax=axes[1])
        fig.tight_layout()
        frames.append(png_frame(fig, dpi=dpi))
    return frames


ROWS = {"pre_a": "pre, task A", "on_a": "on-task (A)", "off_b": "off-task (B)",
        "pre_b": "pre, task B", "on_change": "on - pre (A)", "off_change": "off - pre (B)",
        "adapt_acc": "adapted, with head (A)"}


def point_table(points: Mapping[str, Point]) -> pd.DataFrame:
    """Explorer numbers as a small table: mean ± 95 % CI half-width, one column per algo."""
    return pd.DataFrame({algo: {name: fmt(getattr(p, k), digits=3) for k, name in ROWS.items()}
                         for algo, p in points.items()})


# ---------------------------------------------------------------- live UI (needs a kernel)


class LearningRateExplorer:
    """Sliders over the inner rule of both runs; every change recomputes the probe.

    ``sliders``: ``conv1`` .. ``conv4``, ``bn``, ``head`` (multipliers of Meta-SGD's
    learned rates), ``maml_inner_lr``, ``n_inner_steps`` (both algorithms). ``result``:
    algo -> the latest `explorer.Point`; ``seconds_log``: the time of every recompute.
    Each algorithm's numbers are cached by its own settings, so moving a Meta-SGD slider
    does not recompute MAML.
    """

    def __init__(self, maml_run: Run, meta_sgd_run: Run, tasks_a: EpisodeSet, tasks_b: EpisodeSet,
                 *, bn_mode: str = "joint", batch_size: int = 100, plot: bool = True) -> None:
        self.runs = dict(zip(EXPLORER_ALGOS, (maml_run, meta_sgd_run), strict=True))
        self.tasks = (tasks_a, tasks_b)
        self.bn_mode, self.batch_size, self.plot = bn_mode, batch_size, plot
        self._cache: dict[tuple, Point] = {}
        self.sliders = self._make_sliders(maml_run.config.meta.inner_lr,
                                          meta_sgd_run.config.meta.n_inner_steps)
        self.status, self.output = w.Label(), w.Output()
        for s in self.sliders.values():
            s.observe(self._on_change, names="value")
        self.widget = w.VBox([
            w.HTML("<b>Meta-SGD: multipliers of its learned rates, per layer</b>"),
            self._grid(LAYERS), w.HTML("<b>MAML's inner_lr; n_inner_steps of both</b>"),
            self._grid(["maml_inner_lr", "n_inner_steps"]), self.status, self.output])
        self.result: dict[str, Point] = {}
        self.seconds_log: list[float] = []
        self.update()

    @staticmethod
    def _make_sliders(lr: float, steps: int) -> dict[str, Any]:
        span = abs(lr) or 0.1
        common = {"continuous_update": False, "style": {"description_width": "7em"},
                  "layout": w.Layout(width="19em")}
        sliders: dict[str, Any] = {
            name: w.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.25,
                                description=f"{name} ×", **common) for name in LAYERS}
        sliders["maml_inner_lr"] = w.FloatSlider(
            value=lr, min=-3 * span, max=3 * span, step=span / 4, description="inner_lr",
            readout_format=".3g", **common)
        sliders["n_inner_steps"] = w.IntSlider(value=steps, min=0, max=10,
                                               description="n_inner_steps", **common)
        return sliders

    def _grid(self, names: Sequence[str]) -> Any:
        return w.GridBox([self.sliders[k] for k in names],
                         layout=w.Layout(grid_template_columns="repeat(2, 19.5em)"))

    def settings(self) -> dict[str, Any]:
        """The current slider values as `explorer.explorer_point` keyword arguments."""
        return {"multipliers": {k: self.sliders[k].value for k in LAYERS},
                "maml_inner_lr": self.sliders["maml_inner_lr"].value,
                "n_inner_steps": self.sliders["n_inner_steps"].value}

    def _point(self, algo: str, s: Mapping[str, Any]) -> Point:
        own = tuple(s["multipliers"].items()) if algo == "meta-sgd" else s["maml_inner_lr"]
        key = (algo, own, s["n_inner_steps"])
        if key not in self._cache:
            self._cache[key] = explorer_point(
                {algo: self.runs[algo]}, *self.tasks, **s, bn_mode=self.bn_mode,
                batch_size=self.batch_size)[algo]
        return self._cache[key]

    def update(self) -> dict[str, Point]:
        """Recompute for the current slider values and redraw the output."""
        t0 = time.perf_counter()
        n_cached = len(self._cache)
        self.result = {algo: self._point(algo, self.settings()) for algo in EXPLORER_ALGOS}
        self.seconds_log.append(time.perf_counter() - t0)
        how = "recomputed" if len(self._cache) > n_cached else "from the cache"
        self.status.value = (f"{how} in {self.seconds_log[-1]:.2f} s "
                             f"({len(self.tasks[0])} task pairs, {self.bn_mode} BatchNorm)")
        self._draw()
        return self.result

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def _draw(self) -> None:
        with self.output:
            clear_output(wait=True)
            display(point_table(self.result))
            if self.plot:
                fig, ax = plt.subplots(figsize=(5.5, 3.2))
                plot_explorer_bars(self.result, ax)
                plt.show()
