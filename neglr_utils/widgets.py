"""The learning-rate explorer: re-run the probe with rescaled inner rates, live or precomputed.

Logic first, as pure functions of trained runs and fixed task lists:

- `explorer_point`: Meta-SGD's learned rates scaled per layer (`probe.scale_rates`,
  negative factors flip signs) and MAML's scalar rate replaced, then for each algorithm
  the head-free probe (``pre_a``, ``on_a``, ``off_b``, ``pre_b``, as `probe.run_probe`)
  and the query accuracy *with* the head after adaptation (``adapt_acc``, as
  `meta.evaluate`) on the same tasks A;
- `precompute_sweep`: one Meta-SGD point per multiplier of every conv layer's rates;
- `static_slider_html`: frames behind an ``<input type="range">`` with a one-line inline
  handler, so the published book (no kernel) still has a working slider.

Then the UI wiring (`LearningRateExplorer`, ipywidgets), which needs a running kernel.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from . import analysis
from .episodes import Episode, EpisodeSet
from .meta import Rates, accuracy, adapt, effective_rates
from .models import forward
from .probe import PROBE_SEED, probe_accuracy, scale_rates

LAYERS = ("conv1", "conv2", "conv3", "conv4", "bn", "head")  # slider groups (name prefixes)
EXPLORER_ALGOS = ("maml", "meta-sgd")
CONV_GRID = tuple(x / 4 for x in range(-8, 9))  # -2 .. 2, step 0.25: the static sweep
NUMBERS = ("pre_a", "on_a", "off_b", "pre_b", "adapt_acc")


def task_pairs(run: Any, image_split: Any, n_pairs: int, *, k_query: int = 10, seed: int = 0,
               device: torch.device | str = "cpu") -> tuple[EpisodeSet, EpisodeSet]:
    """Two fixed task lists A and B for the explorer, with the probe's seeds (`ProbeConfig`).

    ``run``: a ``train.Run`` (its ``n_way``, ``k_shot`` and dtype are used);
    ``image_split``: a loaded ``data.ImageSplit``.
    """
    cfg = run.config
    dtype = getattr(torch, cfg.dtype)
    seed_a = PROBE_SEED + 2 * seed
    return tuple(EpisodeSet(image_split, cfg.n_way, cfg.k_shot, k_query, n_pairs, seed=s,
                            device=device, dtype=dtype)
                 for s in (seed_a, seed_a + 1))  # type: ignore[return-value]


def pre_accuracies(params: Mapping[str, Tensor], tasks_a: EpisodeSet, tasks_b: EpisodeSet, *,
                   bn_mode: str = "joint", batch_size: int = 100) -> dict[str, Tensor]:
    """Probe accuracy of the meta-initialisation on tasks A and B: ``{"pre_a", "pre_b"}``.

    They do not depend on the inner rule, so the explorer computes them once per run.
    """
    if len(tasks_a) != len(tasks_b):
        raise ValueError(f"task lists differ in length: {len(tasks_a)} vs {len(tasks_b)}")
    params = {k: v.detach() for k, v in params.items()}
    out: dict[str, list[Tensor]] = {"pre_a": [], "pre_b": []}
    for start in range(0, len(tasks_a), batch_size):
        stop = min(start + batch_size, len(tasks_a))
        out["pre_a"].append(probe_accuracy(params, tasks_a.get(start, stop), bn_mode))
        out["pre_b"].append(probe_accuracy(params, tasks_b.get(start, stop), bn_mode))
    return {k: torch.cat(v) for k, v in out.items()}


def algo_point(params: Mapping[str, Tensor], rates: Rates, n_inner_steps: int,
               tasks_a: EpisodeSet, tasks_b: EpisodeSet, *, bn_mode: str = "joint",
               batch_size: int = 100, pre: Mapping[str, Tensor] | None = None
               ) -> dict[str, Tensor]:
    """Per-task accuracies of one model under one inner rule: ``{number: [n_pairs]}``.

    The four probe conditions are computed exactly as `probe.run_probe` (same chunks,
    same first-order `meta.adapt`, same `probe.probe_accuracy`); ``adapt_acc`` is the
    meta-test accuracy: the adapted network, head included, on task A's queries
    (``forward(fast, x_query)``, the query set as its own BatchNorm batch, as
    `meta.meta_loss`). One adaptation serves both. ``pre``: `pre_accuracies` of the same
    params and tasks, if already known (else computed).
    """
    if pre is None:
        pre = pre_accuracies(params, tasks_a, tasks_b, bn_mode=bn_mode, batch_size=batch_size)
    if pre["pre_a"].numel() != len(tasks_a) or len(tasks_a) != len(tasks_b):
        raise ValueError(f"pre has {pre['pre_a'].numel()} tasks; tasks A/B have "
                         f"{len(tasks_a)}/{len(tasks_b)}: pass pre of the same task lists")
    params = {k: v.detach() for k, v in params.items()}
    rates = {k: v.detach() if isinstance(v, Tensor) else v for k, v in rates.items()}
    out: dict[str, list[Tensor]] = {"on_a": [], "off_b": [], "adapt_acc": []}
    for start in range(0, len(tasks_a), batch_size):
        stop = min(start + batch_size, len(tasks_a))
        ep_a, ep_b = tasks_a.get(start, stop), tasks_b.get(start, stop)
        fast = _adapted(params, rates, n_inner_steps, ep_a)
        out["on_a"].append(probe_accuracy(fast, ep_a, bn_mode))
        out["off_b"].append(probe_accuracy(fast, ep_b, bn_mode))
        with torch.no_grad():
            logits = forward(fast, ep_a.x_query)
        out["adapt_acc"].append(accuracy(logits, ep_a.y_query).double().cpu())
    return {"pre_a": pre["pre_a"], "pre_b": pre["pre_b"],
            **{k: torch.cat(v) for k, v in out.items()}}


def _adapted(params: Mapping[str, Tensor], rates: Rates, n_inner_steps: int, ep: Episode
             ) -> dict[str, Tensor]:
    with torch.enable_grad():
        fast = adapt(params, ep.x_support, ep.y_support, rates, n_inner_steps,
                     create_graph=False)
    return {k: v.detach() for k, v in fast.items()}


def summarize(acc: Mapping[str, Tensor]) -> dict[str, Any]:
    """Means with t-based 95 % CIs (`analysis.mean_ci`) of every number and the two changes."""
    out: dict[str, Any] = {"n": int(acc["pre_a"].numel())}
    for k in NUMBERS:
        out[k] = analysis.mean_ci(acc[k])["mean"]
        out[f"{k}_ci95"] = analysis.mean_ci(acc[k])["ci95"]
    for name, (a, b) in {"on_change": ("on_a", "pre_a"), "off_change": ("off_b", "pre_b")}.items():
        ci = analysis.mean_ci(acc[a] - acc[b])
        out[name], out[f"{name}_ci95"] = ci["mean"], ci["ci95"]
    return out


def run_rates(run: Any) -> dict[str, Tensor | float]:
    """A run's effective inner rates (MAML: its scalar for every parameter)."""
    return effective_rates(run.params, run.rates, run.config.meta)


def msgd_rates(msgd_run: Any, multipliers: Mapping[str, float]) -> dict[str, Tensor | float]:
    """Meta-SGD's learned rates times a factor per layer prefix (``{"conv1": -1, ...}``)."""
    return scale_rates(run_rates(msgd_run), multipliers)


def maml_rates(maml_run: Any, inner_lr: float) -> dict[str, float]:
    """MAML's rule with its scalar rate replaced by ``inner_lr`` (any sign)."""
    return dict.fromkeys(run_rates(maml_run), float(inner_lr))


def explorer_point(maml_run: Any, msgd_run: Any, tasks_a: EpisodeSet, tasks_b: EpisodeSet, *,
                   multipliers: Mapping[str, float], maml_inner_lr: float, n_inner_steps: int,
                   bn_mode: str = "joint", batch_size: int = 100,
                   algos: Sequence[str] = EXPLORER_ALGOS,
                   pre: Mapping[str, Mapping[str, Tensor]] | None = None) -> dict[str, Any]:
    """Both algorithms at one slider setting: ``{algo: summarize(...), "settings": {...}}``.

    ``multipliers``: factor per layer prefix for Meta-SGD's learned rates (`LAYERS`, or
    ``"conv"`` for all conv layers; a layer not named keeps factor 1; negative = sign
    flip); ``maml_inner_lr`` replaces MAML's rate; ``n_inner_steps`` applies to both.
    ``pre``: ``{algo: pre_accuracies(...)}`` already computed on these tasks (optional).
    Deterministic: the same inputs give the same numbers.
    """
    multipliers = {k: float(v) for k, v in multipliers.items()}
    rules: dict[str, tuple[Any, Any]] = {
        "maml": (maml_run, lambda: maml_rates(maml_run, maml_inner_lr)),
        "meta-sgd": (msgd_run, lambda: msgd_rates(msgd_run, multipliers)),
    }
    out: dict[str, Any] = {"settings": {
        "multipliers": multipliers, "maml_inner_lr": float(maml_inner_lr),
        "n_inner_steps": int(n_inner_steps), "bn_mode": bn_mode, "n_pairs": len(tasks_a)}}
    for algo in algos:
        run, rates = rules[algo]
        out[algo] = summarize(algo_point(
            run.params, rates(), n_inner_steps, tasks_a, tasks_b, bn_mode=bn_mode,
            batch_size=batch_size, pre=(pre or {}).get(algo)))
    return out


def precompute_sweep(maml_run: Any, msgd_run: Any, tasks_a: EpisodeSet, tasks_b: EpisodeSet,
                     grid: Sequence[float] = CONV_GRID, *, bn_mode: str = "joint",
                     batch_size: int = 100) -> dict[str, Any]:
    """Meta-SGD with every conv layer's rates times ``m`` for each ``m`` in ``grid``.

    BatchNorm and head rates stay as learned and both use their run's ``n_inner_steps``;
    MAML (computed once, at its own rate) is the reference. Returns ``{"grid",
    "meta-sgd": [summary per m], "maml", "n_pairs", "n_inner_steps", "seconds"}``.
    """
    t0 = time.perf_counter()
    maml_cfg, steps = maml_run.config.meta, msgd_run.config.meta.n_inner_steps
    kw = {"bn_mode": bn_mode, "batch_size": batch_size}
    pre = {"meta-sgd": pre_accuracies(msgd_run.params, tasks_a, tasks_b, **kw)}
    maml = explorer_point(maml_run, msgd_run, tasks_a, tasks_b, multipliers={},
                          maml_inner_lr=maml_cfg.inner_lr, n_inner_steps=maml_cfg.n_inner_steps,
                          algos=("maml",), **kw)["maml"]
    msgd = [explorer_point(maml_run, msgd_run, tasks_a, tasks_b, multipliers={"conv": m},
                           maml_inner_lr=maml_cfg.inner_lr, n_inner_steps=steps,
                           algos=("meta-sgd",), pre=pre, **kw)["meta-sgd"]
            for m in grid]
    return {"grid": [float(m) for m in grid], "meta-sgd": msgd, "maml": maml,
            "n_pairs": len(tasks_a), "n_inner_steps": steps,
            "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------- static HTML slider


def png_frame(fig: Any, dpi: int = 72, colors: int = 64) -> str:
    """A matplotlib figure as an ``<img>`` with an inline base64 PNG (closes the figure).

    The PNG is reduced to a ``colors``-colour palette (about 4x smaller for line plots).
    """
    import matplotlib.pyplot as plt
    from PIL import Image

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


def sweep_frames(sweep: Mapping[str, Any], dpi: int = 72) -> list[str]:
    """One PNG frame per grid value: `plots.plot_explorer_bars` | `plots.plot_conv_sweep`."""
    import matplotlib.pyplot as plt

    from .plots import plot_conv_sweep, plot_explorer_bars

    frames = []
    for i, m in enumerate(sweep["grid"]):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        point = {"maml": sweep["maml"], "meta-sgd": sweep["meta-sgd"][i]}
        plot_explorer_bars(point, axes[0])
        axes[0].set_title(f"Meta-SGD conv rates × {m:g}; MAML as trained")
        plot_conv_sweep(sweep, current=m, ax=axes[1])
        fig.tight_layout()
        frames.append(png_frame(fig, dpi=dpi))
    return frames


def point_table(point: Mapping[str, Any]) -> Any:
    """The numbers of `explorer_point` as a small DataFrame: mean ± 95 % CI half-width.

    Rows: the probe conditions, the two changes and the adapted accuracy; columns: the
    algorithms present in ``point``.
    """
    import pandas as pd

    rows = {"pre_a": "pre, task A", "on_a": "on-task (A)", "off_b": "off-task (B)",
            "pre_b": "pre, task B", "on_change": "on - pre (A)",
            "off_change": "off - pre (B)", "adapt_acc": "adapted, with head (A)"}
    table = {algo: {name: f"{point[algo][k]:.3f} ± {point[algo][k + '_ci95']:.3f}"
                    for k, name in rows.items()}
             for algo in EXPLORER_ALGOS if algo in point}
    return pd.DataFrame(table)


# ---------------------------------------------------------------- live UI (needs a kernel)


class LearningRateExplorer:
    """Sliders over the inner rule of both runs; every change recomputes `explorer_point`.

    ``sliders``: ``conv1`` .. ``conv4``, ``bn``, ``head`` (multipliers of Meta-SGD's
    learned rates), ``maml_inner_lr``, ``n_inner_steps`` (both algorithms). ``result``:
    the latest `explorer_point` dict; ``seconds``: how long it took; ``widget``: what to
    display; ``seconds_log``: the time of every recompute. Each algorithm's numbers are
    cached by its own settings (so moving a Meta-SGD slider does not recompute MAML), and
    the numbers before adaptation are computed once per run.
    """

    def __init__(self, maml_run: Any, msgd_run: Any, tasks_a: EpisodeSet, tasks_b: EpisodeSet,
                 *, bn_mode: str = "joint", batch_size: int = 100, plot: bool = True) -> None:
        import ipywidgets as w

        self.runs, self.tasks = (maml_run, msgd_run), (tasks_a, tasks_b)
        self.bn_mode, self.batch_size, self.plot = bn_mode, batch_size, plot
        self._cache: dict[tuple, dict[str, Any]] = {}
        self._pre = {algo: pre_accuracies(run.params, tasks_a, tasks_b, bn_mode=bn_mode,
                                          batch_size=batch_size)
                     for algo, run in zip(EXPLORER_ALGOS, self.runs, strict=True)}
        lr, steps = maml_run.config.meta.inner_lr, msgd_run.config.meta.n_inner_steps
        span = abs(lr) or 0.1
        common = {"continuous_update": False, "style": {"description_width": "7em"},
                  "layout": w.Layout(width="19em")}
        self.sliders: dict[str, Any] = {
            name: w.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.25,
                                description=f"{name} ×", **common)
            for name in LAYERS}
        self.sliders["maml_inner_lr"] = w.FloatSlider(
            value=lr, min=-3 * span, max=3 * span, step=span / 4,
            description="inner_lr", readout_format=".3g", **common)
        self.sliders["n_inner_steps"] = w.IntSlider(
            value=steps, min=0, max=10, description="n_inner_steps", **common)
        self.status = w.Label()
        self.output = w.Output()
        for s in self.sliders.values():
            s.observe(self._on_change, names="value")
        def grid(names: Sequence[str]) -> Any:
            return w.GridBox([self.sliders[k] for k in names],
                             layout=w.Layout(grid_template_columns="repeat(2, 19.5em)"))

        self.widget = w.VBox([
            w.HTML("<b>Meta-SGD: multipliers of its learned rates, per layer</b>"), grid(LAYERS),
            w.HTML("<b>MAML's inner_lr; n_inner_steps of both</b>"),
            grid(["maml_inner_lr", "n_inner_steps"]), self.status, self.output])
        self.result: dict[str, Any] = {}
        self.seconds = float("nan")
        self.seconds_log: list[float] = []  # time of every recompute, in order
        self.update()

    def settings(self) -> dict[str, Any]:
        """The current slider values as `explorer_point` keyword arguments."""
        return {"multipliers": {k: self.sliders[k].value for k in LAYERS},
                "maml_inner_lr": self.sliders["maml_inner_lr"].value,
                "n_inner_steps": self.sliders["n_inner_steps"].value}

    def _point(self, algo: str, s: Mapping[str, Any]) -> dict[str, Any]:
        rule = (tuple(s["multipliers"].items()) if algo == "meta-sgd" else s["maml_inner_lr"])
        key = (algo, rule, s["n_inner_steps"])
        if key not in self._cache:
            self._cache[key] = explorer_point(
                *self.runs, *self.tasks, **s, bn_mode=self.bn_mode,
                batch_size=self.batch_size, algos=(algo,), pre=self._pre)[algo]
        return self._cache[key]

    def update(self) -> dict[str, Any]:
        """Recompute for the current slider values and redraw the output."""
        t0 = time.perf_counter()
        s = self.settings()
        n_cached = len(self._cache)
        result: dict[str, Any] = {"settings": {**s, "bn_mode": self.bn_mode,
                                               "n_pairs": len(self.tasks[0])}}
        for algo in EXPLORER_ALGOS:
            result[algo] = self._point(algo, s)
        self.result, self.seconds = result, time.perf_counter() - t0
        self.seconds_log.append(self.seconds)
        how = "recomputed" if len(self._cache) > n_cached else "from the cache"
        self.status.value = (f"{how} in {self.seconds:.2f} s "
                             f"({len(self.tasks[0])} task pairs, {self.bn_mode} BatchNorm)")
        self._draw()
        return result

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def _draw(self) -> None:
        from IPython.display import clear_output, display

        with self.output:
            clear_output(wait=True)
            display(point_table(self.result))
            if self.plot:
                _show_bars(self.result)


def _show_bars(result: Mapping[str, Any]) -> None:
    import matplotlib.pyplot as plt

    from .plots import plot_explorer_bars

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    plot_explorer_bars(result, ax)
    plt.show()

