"""The book's tables: numbers from `results.Study` objects, and one formatter for display.

Every function returns rows of numbers (typed dataclasses or dicts of numbers per
column); `fmt` turns a number into display text, and `display_rows` applies it to a
table at the edge, in the notebook. Every number carries the scale it came from
(`Scale`: dataset, resolution, filters, iterations, seeds), so a number from a
5,000-iteration Omniglot run is never mistaken for the report's 60,000-iteration
mini-ImageNet one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import published
from .analysis import LayerOverSeeds, table1_over_seeds
from .endpoints import Verdict, changes, verdict
from .probe import TRAINED, Condition, ProbeConfig, ProbeResult, select
from .results import RunSummary, Study, test_accuracy
from .stats import Interval, mean_ci

FIGURE7_CONDITIONS = ("pre", "on", "off")  # the report's three bars


# ----------------------------------------------------------------------------- formatting


def fmt(value: Interval | float | int | None, kind: str = "prob", digits: int | None = None
        ) -> str:
    """The one formatter: ``kind`` in prob (0.4757), pct (47.6 %), rate/change (signed),
    p (2 significant digits), count, s (durations); an Interval shows ``± half-width``."""
    if value is None:
        return "—"
    if isinstance(value, Interval):
        text = fmt(value.mean, kind, digits)
        if math.isfinite(value.half):
            text += " ± " + fmt(value.half, "pct" if kind == "pct" else "prob", digits)
        return text
    if kind == "s":
        return duration(float(value))
    if not math.isfinite(value):
        return "n/a"
    if kind == "pct":
        return f"{100 * value:.{1 if digits is None else digits}f} %"
    if kind == "p":
        return f"{value:.2g}"
    if kind == "count":
        return f"{value:,.0f}"
    d = 4 if digits is None else digits
    return f"{value:+.{d}f}" if kind in ("rate", "change") else f"{value:.{d}f}"


def duration(seconds: float) -> str:
    """``"42 s"``, ``"12.5 min"`` or ``"3.2 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# ----------------------------------------------------------------------------- scales


@dataclass(frozen=True)
class Scale:
    """Where a number came from."""

    dataset: str
    image_size: int
    hidden: int
    n_iterations: int
    iteration: int  # reached (== n_iterations when finished)
    seeds: tuple[int, ...]
    extra: str = ""

    def label(self) -> str:
        it = (f"{self.n_iterations:,} iterations" if self.iteration >= self.n_iterations
              else f"iteration {self.iteration:,} of {self.n_iterations:,}")
        seeds = (f"seed {self.seeds[0]}" if len(self.seeds) == 1
                 else f"{len(self.seeds)} seeds ({', '.join(map(str, self.seeds))})")
        parts = [f"{self.dataset} {self.image_size}×{self.image_size}", f"{self.hidden} filters",
                 it, seeds]
        return ", ".join(parts + ([self.extra] if self.extra else []))


def scale_of(runs: Sequence[RunSummary], extra: str = "") -> Scale:
    cfg = runs[0].config
    size = cfg.model_config().image_size
    return Scale(cfg.dataset, size, cfg.hidden, cfg.n_iterations,
                 min(r.iteration for r in runs), tuple(r.seed for r in runs), extra)


# ----------------------------------------------------------------------------- Table 1


def table1(study: Study, algo: str = "meta-sgd") -> dict[str, LayerOverSeeds]:
    """Layer -> the learned rates over the finished seeds of ``algo``."""
    runs = study.of(algo)
    if not runs:
        return {}
    return table1_over_seeds({r.seed: r.rates for r in runs})


def table1_rows(study: Study, algo: str = "meta-sgd") -> list[dict[str, Any]]:
    """Table 1 beside the report's: one row per layer (numbers; `display_rows` formats)."""
    rows = []
    for layer, s in table1(study, algo).items():
        rep = published.TABLE1.get(layer)
        rows.append({"layer": layer, "mean (over seeds)": s.mean, "std": s.std,
                     "fraction negative": s.frac_neg,
                     "seeds with mean < 0": f"{s.n_negative_seeds} of {len(s.seeds)}",
                     "report mean": rep[0] if rep else None,
                     "report std": rep[1] if rep else None})
    return rows


def negative_layers(study: Study, algo: str = "meta-sgd") -> tuple[list[str], list[str]]:
    """(conv layers whose mean over seeds is negative, those positive)."""
    t = table1(study, algo)
    neg = [k for k in published.CONV_LAYERS if k in t and t[k].mean.mean < 0]
    return neg, [k for k in published.CONV_LAYERS if k in t and k not in neg]


# ----------------------------------------------------------------------------- Figure 7


def figure7(results: Sequence[ProbeResult], config: ProbeConfig, algo: str,
            condition: Condition = TRAINED) -> dict[str, Interval]:
    """pre/on/off means of ``algo``: over seeds (t-interval) or, for one seed, over pairs."""
    rs = select(results, algo=algo, condition=condition, config=config)
    if not rs:
        return {}
    keys = {"pre": "pre_a", "on": "on_a", "off": "off_b"}
    if len(rs) == 1:
        return {c: mean_ci(getattr(rs[0].acc, k)) for c, k in keys.items()}
    return {c: mean_ci([getattr(r.acc, k).mean() for r in rs]) for c, k in keys.items()}


def change_over_seeds(results: Sequence[ProbeResult], config: ProbeConfig, algo: str,
                      condition: Condition = TRAINED, which: str = "off") -> Interval | None:
    """A change (``on``, ``off``, ``off_report``) of ``algo`` with its interval over seeds
    (over task pairs when only one seed was probed)."""
    rs = select(results, algo=algo, condition=condition, config=config)
    if not rs:
        return None
    tests = [getattr(changes(r.acc), which) for r in rs]
    if len(tests) == 1:
        return tests[0].diff
    return mean_ci([t.diff.mean for t in tests])


def sign_sweep(results: Sequence[ProbeResult], config: ProbeConfig, algo: str
               ) -> dict[float, dict[str, Interval]]:
    """Conv-rate multiplier -> on-task and off-task change over seeds."""
    out: dict[float, dict[str, Interval]] = {}
    for r in select(results, algo=algo, config=config):
        f = r.condition.conv_factor
        if f is not None and f not in out:
            out[f] = {"on": change_over_seeds(results, config, algo, r.condition, "on"),
                      "off": change_over_seeds(results, config, algo, r.condition, "off")}
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------- results table


@dataclass(frozen=True)
class Row:
    """One quantity of the results table: the report's value and ours per column."""

    quantity: str
    kind: str  # a `fmt` kind
    report: float | None
    ours: dict[str, Interval | float | str | None]  # column -> number, or why missing

    def agrees(self, column: str) -> str:
        v = self.ours.get(column)
        v = v.mean if isinstance(v, Interval) else v
        if self.report is None or not isinstance(v, float | int):
            return ""
        if self.kind in ("rate", "change"):
            return "same sign" if (v > 0) == (self.report > 0) else "opposite sign"
        if self.kind == "count":
            return "yes" if round(v) == round(self.report) else "no"
        return ""


def study_numbers(study: Study, config: ProbeConfig) -> dict[str, Any]:
    """The results-table quantities of one study (None where an artifact is missing)."""
    acc = {a: test_accuracy(study.of(a)) for a in ("maml", "meta-sgd", "meta-sgd-positive")}
    t1 = table1(study)
    neg, _ = negative_layers(study)
    probes = study.probes
    fig = {a: figure7(probes, config, a) for a in ("meta-sgd", "maml")}
    try:
        v: Verdict | None = verdict(probes, config)
    except ValueError:
        v = None
    return {"acc": acc, "table1": t1, "n_negative": float(len(neg)) if t1 else None,
            "figure7": fig, "verdict": v,
            "off": {a: change_over_seeds(probes, config, a) for a in ("meta-sgd", "maml")}}


def results_rows(columns: Mapping[str, tuple[Study, ProbeConfig]]) -> list[Row]:
    """The report's numbers beside ours, one column per study (dataset)."""
    nums = {c: study_numbers(s, cfg) for c, (s, cfg) in columns.items()}

    def col(get):
        out = {}
        for c, n in nums.items():
            try:
                out[c] = get(n)
            except (KeyError, TypeError, AttributeError):
                out[c] = None
        return out

    rows = [Row("MAML test accuracy (head, after adaptation)", "pct", published.VAL_ACC["maml"],
                col(lambda n: n["acc"]["maml"])),
            Row("Meta-SGD test accuracy", "pct", published.VAL_ACC["meta-sgd"],
                col(lambda n: n["acc"]["meta-sgd"])),
            Row("positive-rate Meta-SGD test accuracy", "pct", None,
                col(lambda n: n["acc"]["meta-sgd-positive"]))]
    for layer in published.TABLE1_LAYERS:
        rows.append(Row(f"Meta-SGD mean inner rate, {layer}", "rate",
                        published.TABLE1[layer][0], col(lambda n, k=layer: n["table1"][k].mean)))
    rows.append(Row("conv layers with a negative mean rate (of 4)", "count",
                    float(sum(published.TABLE1[c][0] < 0 for c in published.CONV_LAYERS)),
                    col(lambda n: n["n_negative"])))
    for algo, name in (("meta-sgd", "Meta-SGD"), ("maml", "MAML")):
        for c in FIGURE7_CONDITIONS:
            rows.append(Row(f"{name} head-free accuracy, {c}-task" if c != "pre" else
                            f"{name} head-free accuracy, pre-adaptation", "prob",
                            published.FIGURE7[algo][c],
                            col(lambda n, a=algo, k=c: n["figure7"][a][k])))
        rows.append(Row(f"{name} off-task change (off_b - pre_b)", "change",
                        published.off_change(algo), col(lambda n, a=algo: n["off"][a])))
    rows.append(Row("Δ: Meta-SGD's off-task change minus MAML's", "change", published.effect(),
                    col(lambda n: n["verdict"].endpoint.interval)))
    return rows


def display_rows(rows: Sequence[Row]) -> list[dict[str, str]]:
    """`results_rows` as text: report, each column, and whether the sign agrees."""
    out = []
    for r in rows:
        d = {"quantity": r.quantity, "report": fmt(r.report, r.kind)}
        for c, v in r.ours.items():
            d[c] = v if isinstance(v, str) else fmt(v, r.kind) if v is not None else "not yet"
            d[f"{c}: agrees"] = r.agrees(c)
        out.append(d)
    return out


def format_numbers(rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]
                   ) -> list[dict[str, Any]]:
    """Format the columns named in ``kinds`` with `fmt` (other columns as they are)."""
    return [{k: fmt(v, kinds[k]) if k in kinds and not isinstance(v, str) else v
             for k, v in row.items()} for row in rows]
