"""The book's tables: numbers from `results.Study` objects, and one formatter for display.

Every function returns rows of numbers (typed dataclasses or dicts of numbers per
column); `fmt` turns a number into display text, and `display_rows` applies it to a
table at the edge, in the notebook. Every number carries the scale it came from
(`Scale`: dataset, resolution, filters, iterations, seeds), so a number from a
5,000-iteration Omniglot run is never mistaken for the report's 60,000-iteration
mini-ImageNet one.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..analysis import published
from ..analysis.endpoints import Verdict, changes, family, verdict
from ..analysis.rates import LayerOverSeeds, first_negative, table1_over_seeds
from ..analysis.results import RunSummary, Study, accuracy_over_seeds, load_study
from ..core.probe import TRAINED, Condition, ProbeConfig, ProbeResult
from ..runs import store
from ..runs.probes import select
from ..runs.profiles import PROFILES
from ..stats import Interval, mean_ci

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
    acc = {a: accuracy_over_seeds(study.of(a)) for a in ("maml", "meta-sgd", "meta-sgd-positive")}
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


# ----------------------------------------------------------------------------- text


def scale_label(study: Study, extra: str = "") -> str:
    """The scale of a study's finished runs (dataset, size, filters, iterations, seeds)."""
    runs = [r for r in study.runs.values() if r.finished] or list(study.runs.values())
    seeds = tuple(sorted({r.seed for r in runs}))
    cfg = runs[0].config
    size = cfg.model_config().image_size
    return Scale(cfg.dataset, size, cfg.hidden, cfg.n_iterations,
                 min(r.iteration for r in runs), seeds, extra).label()


def _columns(rows: Sequence[Mapping[str, Any]], index: str | None
             ) -> tuple[Sequence[Mapping[str, Any]], list[str]]:
    """The rows (a placeholder row when empty) and their columns, ``index`` first."""
    if not rows:
        rows = [{"": "no finished runs yet"}]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    if index is not None and index in cols:
        cols.remove(index)
        cols.insert(0, index)
    return rows, cols


def markdown_table(rows: Sequence[Mapping[str, Any]], caption: str = "", name: str = "",
                   index: str | None = None) -> str:
    """Rows of text as a MyST table (numbered by the book when ``name`` is given)."""
    rows, cols = _columns(rows, index)
    esc = lambda v: str("" if v is None else v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(esc(r.get(c, "")) for c in cols) + " |" for r in rows]
    if not caption and not name:
        return "\n".join(lines)
    head = f"```{{table}} {caption}\n" + (f":name: {name}\n" if name else "") + "\n"
    return head + "\n".join(lines) + "\n```"


@dataclass(frozen=True)
class Table:
    """A table for a notebook: a numbered MyST table in the book (text/markdown), an HTML
    table in JupyterLab (which shows MyST directives as raw text)."""

    rows: tuple[dict[str, Any], ...]
    caption: str = ""
    name: str = ""
    index: str | None = None

    def _repr_markdown_(self) -> str:
        return markdown_table(self.rows, self.caption, self.name, self.index)

    def _repr_html_(self) -> str:
        rows, cols = _columns(self.rows, self.index)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>"
                                        for c in cols) + "</tr>" for r in rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table(rows: Sequence[Mapping[str, Any]], caption: str = "", name: str = "",
          index: str | None = None) -> Table:
    """Display rows as a numbered table (see `Table`)."""
    return Table(tuple(dict(r) for r in rows), caption, name, index)


@dataclass(frozen=True)
class Tables:
    """Several `Table`s shown as one output (one per dataset)."""

    tables: tuple[Table, ...]

    def _repr_markdown_(self) -> str:
        return "\n\n".join(t._repr_markdown_() for t in self.tables)

    def _repr_html_(self) -> str:
        return "\n".join(t._repr_html_() for t in self.tables)


def tables(items: Iterable[Table]) -> Tables:
    return Tables(tuple(items))


def verdict_line(study: Study, config: ProbeConfig) -> str:
    """One sentence: the primary endpoint of a study over seeds, and its conclusion."""
    try:
        v = verdict(study.probes, config)
    except ValueError:
        return f"{scale_label(study)}: not probed yet."
    ci = v.endpoint.interval
    seeds = len(v.endpoint.seeds)
    interval = (f"{fmt(ci.mean, 'change')} (95 % CI over {seeds} seeds "
                f"{fmt(ci.low, 'change')} to {fmt(ci.high, 'change')})" if seeds > 1
                else f"{fmt(ci.mean, 'change')} (one seed: no interval over seeds)")
    eq = v.endpoint.equivalence
    tost_txt = (f"; equivalence within ±{v.margin:.4f} (the report's effect): TOST p = "
                f"{fmt(eq.p, 'p')}" if eq is not None and seeds > 1 else "")
    return (f"**{scale_label(study)}**: Δ = {interval}{tost_txt} — "
            f"**{v.conclusion}**: {v.statement}.")


def verdict_text(studies: Mapping[str, Study], probes: Mapping[str, ProbeConfig]) -> str:
    """The report's claim per dataset, from the primary endpoint (Markdown)."""
    lines = [f"The report's claim, tested per dataset on the primary endpoint Δ = "
             f"(off − pre_b)[Meta-SGD] − (off − pre_b)[MAML] (the report's own effect: "
             f"{fmt(published.effect(), 'change')}):", ""]
    lines += [f"- {verdict_line(s, probes[p])}" for p, s in studies.items() if s.runs]
    return "\n".join(lines)


def short_label(study: Study) -> str:
    """``"omniglot 28×28"``: a column name."""
    cfg = study.profile.run
    size = cfg.model_config().image_size
    return f"{cfg.dataset} {size}×{size}"


def run_accuracy(run: RunSummary) -> Interval | None:
    """A run's test accuracy with its 95 % interval over test tasks."""
    return accuracy_over_seeds([run])


def accuracy_sentence(studies: Mapping[str, Study], algo: str) -> str:
    """Test accuracy of ``algo`` per dataset over seeds, beside the report's validation
    accuracy (Markdown)."""
    parts = []
    for s in studies.values():
        runs = s.of(algo)
        acc = accuracy_over_seeds(runs)
        if acc is not None:
            unit = f"{len(runs)} seeds" if len(runs) > 1 else f"{acc.n} test tasks"
            parts.append(f"{fmt(acc, 'pct')} (95 % CI over {unit}) on {report_dataset(s)} "
                         f"({scale_label(s)})")
    if not parts:
        return f"No finished {algo} run is evaluated yet."
    rep = published.VAL_ACC.get(algo)
    tail = (f" The report's {algo} reached about {100 * rep:.0f} % *validation* accuracy on "
            "mini-ImageNet 84×84 after 60,000 iterations; levels from other datasets and "
            "scales are not comparable." if rep is not None else "")
    return f"{algo} reaches " + "; ".join(parts) + "." + tail


def report_dataset(study: Study) -> str:
    cfg = study.profile.run
    return f"{cfg.n_way}-way {cfg.k_shot}-shot {short_label(study)}"


# ----------------------------------------------------------------------------- chapter 03


def table1_display(study: Study, algo: str = "meta-sgd") -> list[dict[str, str]]:
    """Table 1 of one study as text rows (mean ± 95 % CI over seeds)."""
    kinds = {"mean (over seeds)": "rate", "std": "prob", "fraction negative": "prob",
             "report mean": "rate", "report std": "prob"}
    return format_numbers(table1_rows(study, algo), kinds)


def layers_sentence(study: Study, algo: str = "meta-sgd") -> str:
    """Which conv layers end negative on average over seeds, and how firmly (Markdown)."""
    t = table1(study, algo)
    if not t:
        return f"{short_label(study)}: no finished {algo} run yet."
    neg, pos = negative_layers(study, algo)
    firm = [k for k in neg if t[k].mean.high < 0]
    rep_neg = [k for k in published.CONV_LAYERS if published.TABLE1[k][0] < 0]
    n = len(next(iter(t.values())).seeds)
    text = (f"**{short_label(study)}** ({scale_label(study)}): {len(neg)} of "
            f"{len(published.CONV_LAYERS)} conv layers end with a negative mean rate over "
            f"{n} seed{'s' if n > 1 else ''} ({', '.join(neg) or 'none'})")
    if n > 1:
        text += f"; the 95 % interval over seeds is below zero for {', '.join(firm) or 'none'}"
    text += (f"; positive: {', '.join(pos) or 'none'}. The head's mean rate is "
             f"{fmt(t['logits'].mean.mean, 'rate')}. The report: {len(rep_neg)} of 4 negative, "
             f"head {fmt(published.TABLE1['logits'][0], 'rate')}. ")
    same = len(neg) == len(rep_neg) and t["logits"].mean.mean > 0
    return text + ("This matches the report's sign pattern." if same else
                   "This **differs** from the report's sign pattern: the layers disagree.")


def first_negative_rows(study: Study, algo: str = "meta-sgd") -> list[dict[str, Any]]:
    """Per seed and layer: the logged iteration from which the mean rate stays negative."""
    rows = []
    for r in study.of(algo):
        row: dict[str, Any] = {"seed": r.seed}
        for layer in published.TABLE1_LAYERS:
            it = first_negative(r.evolution, layer)
            row[layer] = "stays ≥ 0" if it is None else f"{it:,}"
        rows.append(row)
    return rows


def accuracy_rows(study: Study) -> list[dict[str, str]]:
    """Test accuracy of each algorithm over seeds, beside the report's validation accuracy."""
    rows = []
    for algo in ("maml", "meta-sgd", "meta-sgd-positive"):
        runs = study.of(algo)
        rep = published.VAL_ACC.get(algo)
        rows.append({"algorithm": algo, "seeds": len(runs),
                     "test accuracy (ours)": fmt(accuracy_over_seeds(runs), "pct"),
                     "report (mini-ImageNet val.)": fmt(rep, "pct", 0) if rep else "—"})
    return rows


def paper_progress_rows(root: str = "results/paper") -> list[dict[str, str]]:
    """How far the paper-scale protocol has got, one row per committed run."""
    study = load_study("paper", (0, 1, 2), root=root)
    rows = []
    for (algo, seed), r in sorted(study.runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        last = next((m for m in reversed(r.metrics) if "val_acc" in m), None)
        rows.append({"run": f"{algo} seed {seed}",
                     "iteration": f"{r.iteration:,} of {r.config.n_iterations:,}",
                     "device": r.device, "training time": duration(r.wall_time),
                     "validation accuracy": (f"{fmt(last['val_acc'], 'pct')} ± "
                                             f"{fmt(last['val_ci95'], 'pct')} (it. "
                                             f"{last['iteration']:,})") if last else "—",
                     "probed": "yes" if r.probes else "not yet"})
    return rows or [{"run": "none committed yet"}]


# ----------------------------------------------------------------------------- chapter 04


def changes_rows(study: Study, config: ProbeConfig) -> list[dict[str, str]]:
    """Per algorithm (as trained): the probe's four means and three changes over seeds."""
    rows = []
    for algo in ("maml", "meta-sgd", "meta-sgd-positive"):
        rs = select(study.probes, algo=algo, condition=TRAINED, config=config)
        if not rs:
            continue
        fig = figure7(study.probes, config, algo)
        row = {"algorithm": algo, "seeds": len(rs), "task pairs": rs[0].acc.n,
               **{f"{c}-task" if c != "pre" else "pre (A)": fmt(fig[c]) for c in fig}}
        for which, name in (("on", "on − pre_a"), ("off_report", "off − pre_a (report)"),
                            ("off", "off − pre_b")):
            row[name] = fmt(change_over_seeds(study.probes, config, algo, which=which), "change")
        rows.append(row)
    return rows


def family_rows(v: Verdict) -> list[dict[str, str]]:
    """The tests of a verdict with raw and Holm-adjusted p-values."""
    return [{"test": t.name, "unit": t.unit, "estimate": fmt(t.estimate, "change"),
             "p": fmt(t.p, "p"), "p (Holm)": fmt(t.p_holm, "p")} for t in family(v)]


def overlap_rows(study: Study, configs: Sequence[ProbeConfig]) -> list[dict[str, str]]:
    """Δ under each probe config (e.g. class-disjoint and independent off-task pairs)."""
    rows = []
    for cfg in configs:
        try:
            v = verdict(study.probes, cfg)
        except ValueError:
            continue
        rows.append({"off-task pairs": "class-disjoint" if cfg.disjoint else "independent",
                     "pairs sharing a class": fmt(v.frac_shared, "pct"),
                     "seeds": str(len(v.endpoint.seeds)),
                     "Δ (95 % CI over seeds)": fmt(v.endpoint.interval, "change"),
                     "report's (off − on) form": fmt(v.report_form.interval, "change"),
                     "conclusion": v.conclusion})
    return rows


def endpoint_data(v: Verdict) -> tuple[tuple[int, ...], list[Interval], Interval]:
    """(seeds, per-seed Δ intervals over task pairs, Δ over seeds) for `plots.plot_endpoint`."""
    return v.endpoint.seeds, [c.primary.diff for c in v.per_seed], v.endpoint.interval


# ----------------------------------------------------------------------------- chapter 05


def mechanism_rows(study: Study, algo: str) -> list[dict[str, str]]:
    """Per setting and layer: dL/dalpha over seeds (each seed: mean over its tasks), the
    t-statistics per seed, and where the meta-objective pushes the rates."""
    runs = [r for r in study.of(algo) if r.mechanism]
    if not runs:
        return [{"": "not computed for these runs (`make study` computes it)"}]
    rows = []
    for (at, bn) in runs[0].mechanism:
        for layer in [k for k in published.TABLE1_LAYERS if k in runs[0].mechanism[(at, bn)]]:
            pushes = [r.mechanism[(at, bn)][layer] for r in runs]
            down = sum(p.p < 0.05 and p.mean > 0 for p in pushes)
            up = sum(p.p < 0.05 and p.mean < 0 for p in pushes)
            rows.append({"rates at": "α = 0" if at == "zero" else "learned α",
                         "query BatchNorm": bn, "layer": layer,
                         "dL/dα, mean over seeds": f"{mean_ci([p.mean for p in pushes]).mean:+.2e}",
                         "t per seed": ", ".join(f"{p.t:+.1f}" for p in pushes),
                         "seeds pushed down / up": f"{down} / {up} of {len(pushes)}",
                         "entries with dL/dα > 0": fmt(sum(p.positive_entries for p in pushes)
                                                        / len(pushes), "pct")})
    return rows


def ablation_rows(study: Study) -> list[dict[str, str]]:
    """Table 1 (conv layers and head) of Meta-SGD trained with support-set BatchNorm
    statistics beside the transductive runs, both over seeds."""
    support = load_study(study.profile, study.seeds, ("meta-sgd",), query_bn="support")
    t_main, t_sup = table1(study), table1(support)
    rows = []
    for layer in published.TABLE1_LAYERS:
        if layer in t_main:
            rows.append({"layer": layer,
                         "transductive (as trained above)": fmt(t_main[layer].mean, "rate"),
                         "support statistics": fmt(t_sup[layer].mean, "rate")
                         if layer in t_sup else "not run yet",
                         "seeds negative (support)": f"{t_sup[layer].n_negative_seeds} of "
                         f"{len(t_sup[layer].seeds)}" if layer in t_sup else "—"})
    return rows


def sign_sweep_series(study: Study, config: ProbeConfig) -> dict[float, dict[str, Interval]]:
    return sign_sweep(study.probes, config, "meta-sgd")


def sweep_sentence(studies: Mapping[str, Study], probes: Mapping[str, ProbeConfig]) -> str:
    """The off-task change with the conv rates flipped, as trained, and zeroed (Markdown)."""
    lines = []
    for p, s in studies.items():
        sw = sign_sweep_series(s, probes[p])
        if not sw:
            continue
        part = ", ".join(f"×{f:g}: {fmt(sw[f]['off'], 'change')}" for f in (-1.0, 0.0, 1.0)
                         if f in sw and sw[f]["off"] is not None)
        lines.append(f"- {short_label(s)}: Meta-SGD's off-task change with its conv rates {part}.")
    return "\n".join(lines) or "No sign sweep has been probed yet."


# ----------------------------------------------------------------------------- methods


def profile_rows() -> list[dict[str, Any]]:
    """Every profile's settings (numbers as they are)."""
    return [{"profile": name, "dataset": c.dataset, "image size": c.model_config().image_size,
             "filters": c.hidden, "n_way": c.n_way, "k_shot": c.k_shot, "k_query": c.k_query,
             "meta_batch_size": c.meta_batch_size, "n_iterations": f"{c.n_iterations:,}",
             "n_inner_steps": c.meta.n_inner_steps, "inner_lr": c.meta.inner_lr,
             "meta_lr": c.meta_lr, "probe task pairs": f"{p.probe.n_iterations:,}"}
            for name, p in PROFILES.items() for c in (p.run,)]


def choices_rows(run_config: Any, probe_config: ProbeConfig) -> list[dict[str, str]]:
    """The settings the report does not state, with the value this book used."""
    m = run_config.meta
    init = (f"constant = inner_lr = {m.inner_lr}" if m.rate_init == "constant"
            else f"uniform on {m.rate_init_range}")
    return [
        {"setting": "Meta-SGD rate initialisation", "ours": init, "parameter": "meta.rate_init"},
        {"setting": "meta learning rate (Adam)", "ours": str(run_config.meta_lr),
         "parameter": "meta_lr"},
        {"setting": "BatchNorm mode", "ours": "batch statistics, train and test (transductive)",
         "parameter": "meta.query_bn (ablation: support)"},
        {"setting": "rates learned for BatchNorm parameters",
         "ours": "yes, one per parameter like every other" if m.adapt == "all" else "no",
         "parameter": "meta.adapt"},
        {"setting": "probe data split", "ours": probe_config.split,
         "parameter": "ProbeConfig.split"},
        {"setting": "probe BatchNorm batches", "ours": probe_config.bn_mode,
         "parameter": "ProbeConfig.bn_mode"},
        {"setting": "probe off-task task B", "ours": "class-disjoint from A" if
         probe_config.disjoint else "independent of A", "parameter": "ProbeConfig.disjoint"},
    ]


def run_rows(studies: Mapping[str, Study]) -> list[dict[str, Any]]:
    """One row per run: its settings that vary, hash, versions, device and cost."""
    rows = []
    for s in studies.values():
        for (algo, seed), r in sorted(s.runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            test = r.test
            rows.append({"run": r.path.name, "dataset": short_label(s), "algo": algo,
                         "seed": seed, "iterations": f"{r.iteration:,}",
                         "training": duration(r.wall_time),
                         "s / iteration": f"{r.seconds_per_iteration:.2f}",
                         "test evaluation": duration(test.seconds) if test else "—",
                         "probe": duration(sum(p.seconds for p in r.probes)) if r.probes else "—",
                         "device": r.device, "torch": r.versions.get("torch", "?")})
    return rows


def notebook_timings(path: str | Any) -> list[dict[str, str]]:
    """``book/executed/timings.json`` (written by ``book/build.py``) as rows."""
    data = store.read_json(path) or {}
    return [{"notebook": k, "time": duration(v)} for k, v in sorted(data.items())]


def interval_unit(study: Study, config: ProbeConfig, algo: str = "meta-sgd") -> str:
    """What the probe intervals of a study are over: seeds, or task pairs (one seed)."""
    n = len(select(study.probes, algo=algo, condition=TRAINED, config=config))
    return "seeds" if n > 1 else "task pairs"


def accuracy_of(study: Study, algo: str) -> Interval | None:
    """Test accuracy of ``algo`` over the study's finished seeds."""
    return accuracy_over_seeds(study.of(algo))


def sweep_series(rows: Sequence[Any], setting: str, layers: Sequence[str] = published.TABLE1_LAYERS
                 ) -> tuple[list[float], dict[str, list[Interval | None]]]:
    """(values of ``setting``, layer -> mean rate over seeds at each) from `sweep.collect`."""
    rows = sorted(rows, key=lambda r: dict(r.settings).get(setting, 0))
    x = [dict(r.settings)[setting] for r in rows if setting in dict(r.settings)]
    rows = [r for r in rows if setting in dict(r.settings)]
    return x, {k: [r.rate_means.get(k) for r in rows] for k in layers}


def steps_sentence(rows: Sequence[Any]) -> str:
    """Which layers' mean rate is negative at each number of inner steps (Markdown)."""
    parts = []
    for r in sorted(rows, key=lambda r: dict(r.settings).get("n_inner_steps", 0)):
        steps = dict(r.settings).get("n_inner_steps")
        if steps is None:
            continue
        neg = [k for k in published.CONV_LAYERS if k in r.rate_means and
               r.rate_means[k].mean < 0]
        parts.append(f"{steps} step{'s' if steps > 1 else ''} ({len(r.seeds)} seed"
                     f"{'s' if len(r.seeds) > 1 else ''}): negative mean rate in "
                     f"{', '.join(neg) or 'no conv layer'}")
    return ("; ".join(parts) + ".") if parts else "No run of the inner-steps sweep is finished yet."
