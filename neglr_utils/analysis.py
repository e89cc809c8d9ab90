"""Learned inner rates per layer (Table 1, Figure 6), their evolution, and probe statistics.

Rates are always the *effective* step sizes (`meta.effective_rates`): Meta-SGD's tensors
as stored, ``exp`` of the stored log-rates for ``meta-sgd-positive``, MAML's scalar.

Layer groups follow the report's Table 1: ``conv1`` ... ``conv4`` pool each block's conv
weight and bias (the report's "layers"), ``logits`` pools the head's weight and bias.
BatchNorm scales and shifts (``bn1`` ... ``bn4``), which the report does not list, get
their own rows; every tensor also gets a row of its own (``kind="tensor"``).

Statistics of the probe (``probe.py``) use t-based 95 % intervals, scipy's paired and
two-sample t-tests and the Wilcoxon signed-rank test; see `probe_statistics` for which
differences are tested and why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor

REPORT_TABLE1: dict[str, tuple[float, float]] = {  # layer: (mean, std), report Table 1
    "conv1": (-0.006, 0.032), "conv2": (-0.004, 0.027), "conv3": (-0.013, 0.027),
    "conv4": (-0.018, 0.030), "logits": (0.043, 0.072),
}
REPORT_FIGURE7: dict[str, dict[str, float]] = {  # report Figure 7, 40,000 probe iterations
    "meta-sgd": {"pre": 0.4757, "on": 0.4752, "off": 0.4759},
    "maml": {"pre": 0.4715, "on": 0.4710, "off": 0.4693},
}
REPORT_FIGURE7_P = 0.00044  # the report's t-test of on-task vs off-task change
REPORT_FIGURE7_N = 40_000
REPORT_VAL_ACC: dict[str, float] = {"maml": 0.46, "meta-sgd": 0.47}
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
CONDITIONS = ("pre_a", "on_a", "off_b", "pre_b")

_LAYER = re.compile(r"^(conv|bn)(\d+)\.|^(head)\.")


def layer_of(name: str) -> str:
    """Table 1 group of a parameter: ``conv2.bias`` -> ``conv2``, ``head.*`` -> ``logits``."""
    m = _LAYER.match(name)
    if m is None:
        raise ValueError(f"parameter {name!r} is not conv<i>.*, bn<i>.* or head.*")
    return "logits" if m.group(3) else f"{m.group(1)}{m.group(2)}"


def _as_array(r: Tensor | float | np.ndarray) -> np.ndarray:
    if isinstance(r, Tensor):
        return r.detach().double().cpu().numpy().ravel()
    return np.asarray(r, dtype=np.float64).ravel()


def _describe(values: np.ndarray) -> dict[str, float]:
    q = np.quantile(values, QUANTILES)
    return {"n": int(values.size), "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "frac_neg": float((values < 0).mean()),
            **{f"q{round(100 * p):02d}": float(v) for p, v in zip(QUANTILES, q, strict=True)}}


def rates_by_layer(rates: Mapping[str, Tensor | float]) -> dict[str, np.ndarray]:
    """Effective rates flattened per layer group (conv weight+bias pooled): for Figure 6."""
    out: dict[str, list[np.ndarray]] = {}
    for name, r in rates.items():
        out.setdefault(layer_of(name), []).append(_as_array(r))
    return {k: np.concatenate(v) for k, v in out.items()}


def rate_table(rates: Mapping[str, Tensor | float], *, per_tensor: bool = True) -> list[dict]:
    """One row per layer group (and per tensor): n, mean, std, frac_neg, q05 ... q95.

    ``rates`` maps parameter names to effective rates (tensors of the parameter's shape,
    or floats for MAML). Rows: ``{"layer", "kind": "layer"|"tensor", "n", "mean", ...}``;
    std is the sample standard deviation (ddof=1), as torch's default in ``train.py``.
    """
    rows = [{"layer": layer, "kind": "layer", **_describe(v)}
            for layer, v in rates_by_layer(rates).items()]
    if per_tensor:
        rows += [{"layer": name, "kind": "tensor", **_describe(_as_array(r))}
                 for name, r in rates.items()]
    return rows


def run_rate_table(run: Any, *, per_tensor: bool = True) -> list[dict]:
    """`rate_table` of a loaded ``train.Run`` (its effective rates)."""
    from .meta import effective_rates
    return rate_table(effective_rates(run.params, run.rates, run.config.meta),
                      per_tensor=per_tensor)


def format_table1(rows: Sequence[Mapping[str, Any]]) -> str:
    """Table 1 as text: our mean / std / fraction negative beside the report's mean / std."""
    head = (f"{'layer':<8} {'n':>7} {'mean':>9} {'std':>8} {'frac<0':>7}  "
            f"{'report mean':>11} {'report std':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("kind", "layer") != "layer":
            continue
        rep = REPORT_TABLE1.get(r["layer"])
        ref = f"{rep[0]:>11.3f} {rep[1]:>10.3f}" if rep else f"{'-':>11} {'-':>10}"
        lines.append(f"{r['layer']:<8} {r['n']:>7} {r['mean']:>9.4f} {r['std']:>8.4f} "
                     f"{r['frac_neg']:>7.3f}  {ref}")
    return "\n".join(lines)


def rate_evolution(
    metrics: Iterable[Mapping[str, Any]], sizes: Mapping[str, int] | None = None
) -> list[dict]:
    """Tidy rows ``(iteration, layer, mean, std, frac_neg, n)`` from a metrics log.

    ``train.py`` logs, at validation times, each tensor's effective-rate mean, std
    (ddof=1) and fraction negative under ``"rates"``. Those become ``kind="tensor"``
    rows. With ``sizes`` (numel per tensor, e.g. from `models.param_shapes`) the
    tensors are also pooled into Table 1's layer groups (``kind="layer"``) exactly:
    pooled mean, pooled sample variance, numel-weighted fraction negative.
    """
    out: list[dict] = []
    for row in metrics:
        if "rates" not in row or not row["rates"]:
            continue
        it = int(row["iteration"])
        groups: dict[str, list[tuple[int, dict]]] = {}
        for name, s in row["rates"].items():
            n = int(sizes[name]) if sizes is not None else 0
            out.append({"iteration": it, "layer": name, "kind": "tensor", "n": n,
                        "mean": s["mean"], "std": s["std"], "frac_neg": s["frac_neg"]})
            groups.setdefault(layer_of(name), []).append((n, s))
        if sizes is None:
            continue
        for layer, parts in groups.items():
            n = sum(p[0] for p in parts)
            mean = sum(k * s["mean"] for k, s in parts) / n
            ss = sum((k - 1) * s["std"] ** 2 + k * s["mean"] ** 2 for k, s in parts)
            var = (ss - n * mean**2) / (n - 1) if n > 1 else 0.0
            out.append({"iteration": it, "layer": layer, "kind": "layer", "n": n, "mean": mean,
                        "std": math.sqrt(max(var, 0.0)),
                        "frac_neg": sum(k * s["frac_neg"] for k, s in parts) / n})
    return out


def run_rate_evolution(run: Any) -> list[dict]:
    """`rate_evolution` of a loaded ``train.Run``, pooled into layers with its shapes."""
    from .models import param_shapes
    sizes = {k: math.prod(s) for k, s in param_shapes(run.config.model_config()).items()}
    return rate_evolution(run.metrics, sizes)


def training_curves(metrics: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Columns of a metrics log: iteration/train_acc for every row, val_* where validated."""
    rows = list(metrics)
    val = [r for r in rows if "val_acc" in r]
    return {"iteration": [r["iteration"] for r in rows],
            "train_acc": [r["train_acc"] for r in rows],
            "val_iteration": [r["iteration"] for r in val],
            "val_acc": [r["val_acc"] for r in val],
            "val_ci95": [r["val_ci95"] for r in val]}


# ----------------------------------------------------------------------------- statistics


def _np(values: Tensor | Sequence[float] | np.ndarray) -> np.ndarray:
    if isinstance(values, Tensor):
        return values.detach().double().cpu().numpy().ravel()
    return np.asarray(values, dtype=np.float64).ravel()


def mean_ci(values: Tensor | Sequence[float] | np.ndarray, confidence: float = 0.95) -> dict:
    """Mean with a t-based interval: ``{"mean", "ci95", "low", "high", "sd", "n"}``.

    ``ci95`` is the half-width ``t_{n-1} * sd / sqrt(n)``; NaN for fewer than two values.
    """
    v = _np(values)
    n = v.size
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(v.mean())
    if n < 2:
        return {"mean": mean, "ci95": math.nan, "low": math.nan, "high": math.nan,
                "sd": math.nan, "n": n}
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))
    return {"mean": mean, "ci95": half, "low": mean - half, "high": mean + half, "sd": sd, "n": n}


def cohens_d_paired(diff: Tensor | Sequence[float] | np.ndarray) -> float:
    """Cohen's d of paired differences (d_z): mean(diff) / sd(diff); NaN when sd is 0."""
    d = _np(diff)
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    return float(d.mean() / sd) if sd > 0 else math.nan


def _wilcoxon(diff: np.ndarray) -> float:
    if not np.any(diff != 0):
        return math.nan  # every difference is zero: the test is undefined
    return float(stats.wilcoxon(diff).pvalue)


def paired_test(x: Tensor | Sequence[float], y: Tensor | Sequence[float]) -> dict:
    """Paired comparison of x and y (same episodes): diff = x - y.

    ``{"diff": mean_ci(diff), "t", "p" (scipy ttest_rel), "cohens_d", "p_wilcoxon"}``;
    t and p are NaN when every difference is equal (e.g. all zero).
    """
    a, b = _np(x), _np(y)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {a.size} and {b.size}")
    diff = a - b
    if diff.size > 1 and np.ptp(diff) == 0:
        t, p = math.nan, math.nan
    else:
        res = stats.ttest_rel(a, b)
        t, p = float(res.statistic), float(res.pvalue)
    return {"diff": mean_ci(diff), "t": t, "p": p, "cohens_d": cohens_d_paired(diff),
            "p_wilcoxon": _wilcoxon(diff)}


def welch_test(x: Tensor | Sequence[float], y: Tensor | Sequence[float]) -> dict:
    """Two-sample (Welch) t-test of independent samples: ``{"diff", "t", "p", "cohens_d"}``.

    ``cohens_d`` uses the pooled standard deviation; ``diff`` is mean(x) - mean(y).
    """
    a, b = _np(x), _np(y)
    res = stats.ttest_ind(a, b, equal_var=False)
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1))
                       / (a.size + b.size - 2))
    d = float((a.mean() - b.mean()) / pooled) if pooled > 0 else math.nan
    return {"diff": float(a.mean() - b.mean()), "t": float(res.statistic),
            "p": float(res.pvalue), "cohens_d": d, "n_x": int(a.size), "n_y": int(b.size)}


def probe_statistics(acc: Mapping[str, Tensor | Sequence[float]]) -> dict:
    """Every number of one probe: per-condition means and the tests of the changes.

    ``acc`` maps ``pre_a``, ``on_a``, ``off_b``, ``pre_b`` to per-iteration accuracies
    ``[n_iterations]`` (the same iterations for all four). Changes per iteration:

    - on-task ``on_a - pre_a`` (same task, same images: paired);
    - off-task as the report: ``off_b - pre_a`` (against the one pre-adaptation number
      of the iteration, which was measured on task A);
    - off-task paired (ours): ``off_b - pre_b``, against task B's own baseline.

    Tests: ``report_paired`` is ``ttest_rel`` of the on-task vs the report's off-task
    change (equal to a one-sample test of ``on_a - off_b``, as pre_a cancels);
    ``report_two_sample`` is Welch's ``ttest_ind`` of the two changes read as independent
    samples (one reading of the report's "t-test comparing the relative changes");
    ``on_vs_pre`` and ``off_vs_pre_b`` are paired tests of each change against zero.
    """
    a = {k: _np(acc[k]) for k in CONDITIONS}
    on_change = a["on_a"] - a["pre_a"]
    off_change_report = a["off_b"] - a["pre_a"]
    return {
        "n": int(a["pre_a"].size),
        "conditions": {k: mean_ci(v) for k, v in a.items()},
        "changes": {"on": mean_ci(on_change), "off_report": mean_ci(off_change_report),
                    "off_paired": mean_ci(a["off_b"] - a["pre_b"])},
        "on_vs_pre": paired_test(a["on_a"], a["pre_a"]),
        "off_vs_pre_b": paired_test(a["off_b"], a["pre_b"]),
        "report_paired": paired_test(on_change, off_change_report),
        "report_two_sample": welch_test(on_change, off_change_report),
    }


def compare_probes(x: Mapping[str, Tensor | Sequence[float]],
                   y: Mapping[str, Tensor | Sequence[float]]) -> dict:
    """Two runs (e.g. Meta-SGD vs MAML): Welch tests of their on-task and off-task changes.

    The runs' probe iterations are independent samples (different weights), so the
    comparisons are two-sample: ``on`` (on_a - pre_a), ``off_report`` (off_b - pre_a),
    ``off_paired`` (off_b - pre_b), each as mean(x) - mean(y).
    """
    def changes(a: Mapping[str, Any]) -> dict[str, np.ndarray]:
        c = {k: _np(a[k]) for k in CONDITIONS}
        return {"on": c["on_a"] - c["pre_a"], "off_report": c["off_b"] - c["pre_a"],
                "off_paired": c["off_b"] - c["pre_b"]}

    cx, cy = changes(x), changes(y)
    return {k: welch_test(cx[k], cy[k]) for k in cx}


def seed_summary(seed_means: Sequence[float]) -> dict:
    """Mean over training seeds with a t interval (n_seeds - 1 df).

    With one seed the interval over seeds is not defined: ``ci95`` is NaN and ``note``
    says so (the episode-level interval then describes one trained model only).
    """
    out = mean_ci(seed_means)
    out["n_seeds"] = out.pop("n")
    out["note"] = ("one training seed: CI over seeds n/a" if out["n_seeds"] < 2
                   else f"t interval over {out['n_seeds']} seed means")
    return out


def figure7_data(results: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{label: {"pre", "on", "off": {"mean", "ci95"}, "n"}}`` from probe statistics.

    ``results`` maps a label (e.g. an algorithm) to the output of `probe_statistics`.
    """
    keys = {"pre": "pre_a", "on": "on_a", "off": "off_b"}
    out = {}
    for label, st in results.items():
        c = st["conditions"]
        out[label] = {k: {"mean": c[v]["mean"], "ci95": c[v]["ci95"]} for k, v in keys.items()}
        out[label]["n"] = st["n"]
    return out


def to_tensor_dict(acc: Mapping[str, Sequence[float]]) -> dict[str, Tensor]:
    """Per-iteration lists (from JSON) back to float64 tensors."""
    return {k: torch.as_tensor(v, dtype=torch.float64) for k, v in acc.items()}
