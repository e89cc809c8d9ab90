"""The book's tables, read from run artifacts: results vs the report, probe statistics, methods.

Nothing here trains. Every function reads what ``train.py`` (``config.json``,
``metrics.jsonl``, ``final.pt``), ``evaluate_run`` (``eval-test.json``) and ``probe.py``
(``probe.json``) wrote, and returns rows (lists of dicts, one dict per table row) that a
notebook shows with ``pandas.DataFrame``. Every number carries the scale it came from
(dataset, profile, iterations, seeds, test tasks or probe iterations), so a number from
a 500-iteration Omniglot run is never mistaken for the report's 60,000-iteration
mini-ImageNet one. Runs are found by their config hash (`train.run_dir_for`), so a
changed profile never shows a stale run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import analysis
from .analysis import REPORT_FIGURE7, REPORT_FIGURE7_P, REPORT_TABLE1, REPORT_VAL_ACC
from .meta import ALGOS

N_TEST_EPISODES = 600  # meta-test tasks of the head-after-adaptation accuracy
PAPER_DIR = "results/paper"  # committed paper-scale runs (may be absent or unfinished)
TABLE1_LAYERS = tuple(REPORT_TABLE1)  # conv1 ... conv4, logits
CONV_LAYERS = tuple(k for k in TABLE1_LAYERS if k.startswith("conv"))
Row = dict[str, Any]


# ------------------------------------------------------------------------------ reading


def read_json(path: str | os.PathLike) -> Any:
    """The parsed JSON file, or None when it does not exist."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def read_metrics(run_dir: str | os.PathLike) -> list[Row]:
    """The rows of ``metrics.jsonl`` ([] when absent)."""
    f = Path(run_dir) / "metrics.jsonl"
    if not f.is_file():
        return []
    return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]


def find_run(root: str | os.PathLike, profile: str, algo: str, seed: int) -> Path | None:
    """The run directory of ``profile``'s config for (algo, seed) under ``root``, or None.

    The exact config hash first; failing that (e.g. a paper run trained with a changed
    logging interval) the newest ``<algo>-seed<seed>-*`` directory whose config names
    ``profile``. Its own config labels every number read from it.
    """
    from .profiles import profile_config
    from .train import run_dir_for

    root = Path(root)
    exact = run_dir_for(profile_config(profile, algo, seed), root)
    if (exact / "config.json").is_file():
        return exact
    found = []
    for cfg_file in root.glob(f"{algo}-seed{seed}-*/config.json"):
        cfg = json.loads(cfg_file.read_text())["config"]
        if cfg.get("profile") == profile and cfg["meta"]["algo"] == algo:
            found.append(cfg_file.parent)
    return max(found, key=lambda p: (p / "config.json").stat().st_mtime) if found else None


def run_status(run_dir: str | os.PathLike) -> Row:
    """Config and progress of a run directory, from its files (no weights loaded)."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "config.json").read_text())
    cfg = info["config"]
    metrics = read_metrics(run_dir)
    last = metrics[-1] if metrics else {}
    return {"path": run_dir, "algo": cfg["meta"]["algo"], "seed": cfg["seed"],
            "profile": cfg["profile"], "dataset": cfg["dataset"],
            "n_iterations": cfg["n_iterations"], "iteration": int(last.get("iteration", 0)),
            "finished": (run_dir / "final.pt").is_file(),
            "wall_time": float(last.get("wall_time", 0.0)), "device": info.get("device", "?"),
            "versions": info.get("versions", {}), "hash": info.get("hash", ""), "config": cfg}


def read_eval(run_dir: str | os.PathLike, *, split: str = "test",
              n_episodes: int = N_TEST_EPISODES) -> Row | None:
    """``eval-<split>.json`` when it is current: same number of tasks, the run's own
    query size, and made from the finished run or at its latest logged iteration (else
    None). ``train.evaluate_run`` recomputes every time; this is its cache check."""
    res = read_json(Path(run_dir) / f"eval-{split}.json")
    if res is None or res.get("n_episodes") != n_episodes:
        return None
    status = run_status(run_dir)
    if res.get("finished") != status["finished"] or (
            res.get("k_query") != status["config"]["k_query"]):
        return None
    if not res.get("finished") and res.get("iteration") != status["iteration"]:
        return None
    return res


def ensure_eval(run_dir: str | os.PathLike, *, n_episodes: int = N_TEST_EPISODES,
                data_root: str | os.PathLike | None = None, device: str = "auto") -> Row:
    """`read_eval`, else `train.evaluate_run` (which writes ``eval-test.json``)."""
    from .train import evaluate_run

    return read_eval(run_dir, n_episodes=n_episodes) or evaluate_run(
        run_dir, n_episodes=n_episodes, data_root=data_root, device=device)


def read_probe(run_dir: str | os.PathLike) -> dict[str, Row]:
    """``{condition: probe result}`` of a run's ``probe.json`` without per-iteration counts."""
    body = read_json(Path(run_dir) / "probe.json") or {}
    return {k: {f: v for f, v in e.items() if f != "per_iteration"} for k, e in body.items()}


def final_layer_rates(run_dir: str | os.PathLike) -> dict[str, Row]:
    """Table 1 statistics per layer at the last logged validation (``metrics.jsonl``).

    ``train.py`` logs each tensor's effective-rate mean/std/fraction negative; they are
    pooled exactly into layers by `analysis.rate_evolution`. {} for MAML.
    """
    from .models import param_shapes
    from .train import RunConfig

    status = run_status(run_dir)
    cfg = RunConfig.from_dict(status["config"])
    sizes = {k: math.prod(s) for k, s in param_shapes(cfg.model_config()).items()}
    rows = [r for r in analysis.rate_evolution(read_metrics(run_dir), sizes)
            if r["kind"] == "layer"]
    if not rows:
        return {}
    last = max(r["iteration"] for r in rows)
    return {r["layer"]: r for r in rows if r["iteration"] == last}


# ------------------------------------------------------------------------------ labels


def fmt_duration(seconds: float) -> str:
    """``"42 s"``, ``"12.5 min"`` or ``"3.2 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def scale_label(status: Row, extra: str = "", *, short: bool = False) -> str:
    """Where a number came from: ``"omniglot, cpu profile, 500 iterations, seed 0"``.

    ``short``: ``"omniglot · cpu · 500 iter. · seed 0"`` (for table cells).
    """
    n, i = status["n_iterations"], status["iteration"]
    if short:
        it = f"{n:,} iter." if status["finished"] else f"iter. {i:,} of {n:,}"
        parts = [status["dataset"], status["profile"], it, f"seed {status['seed']}"]
        return " · ".join(parts + ([extra] if extra else []))
    it = f"{n:,} iterations" if status["finished"] else f"iteration {i:,} of {n:,}"
    label = f"{status['dataset']}, {status['profile']} profile, {it}, seed {status['seed']}"
    return f"{label}, {extra}" if extra else label


def progress_label(status: Row | None) -> str:
    """``"not run yet"`` or ``"in progress: iteration i of N, <device>, <time> so far"``."""
    if status is None:
        return "not run yet"
    if status["finished"]:
        return "finished"
    return (f"in progress: iteration {status['iteration']:,} of {status['n_iterations']:,}, "
            f"{status['device']}, {fmt_duration(status['wall_time'])} so far")


def fmt_ci(mean: float, ci: float | None, digits: int = 4, scale: float = 1.0,
           unit: str = "") -> str:
    """``"0.4757 ± 0.0012"`` (``±`` omitted when the interval is not defined)."""
    text = f"{mean * scale:.{digits}f}{unit}"
    if ci is not None and math.isfinite(ci):
        text += f" ± {ci * scale:.{digits}f}{unit}"
    return text


def fmt_interval(c: Row) -> str:
    """A signed `analysis.mean_ci` dict: ``"+0.0012 (95 % CI -0.0003 to +0.0027)"``."""
    if not math.isfinite(c.get("ci95", math.nan)):
        return f"{c['mean']:+.4f} (no CI: n = {c.get('n', '?')})"
    return f"{c['mean']:+.4f} (95 % CI {c['low']:+.4f} to {c['high']:+.4f})"


def fmt_p(p: float) -> str:
    return "n/a" if p is None or not math.isfinite(p) else f"{p:.2g}"


# ------------------------------------------------------------------------------ results


def _combine(values: Sequence[tuple[float, float | None]]) -> tuple[float, float | None]:
    """One seed: its value and CI; several: the mean over seeds with a t CI over seeds."""
    if len(values) == 1:
        return values[0]
    s = analysis.seed_summary([v for v, _ in values])
    return s["mean"], s["ci95"]


def _measure(root: str | os.PathLike, profile: str, seeds: Sequence[int],
             n_test_episodes: int) -> dict[str, Row]:
    """Every results-table quantity of one set of runs: ``{key: {"value", "ci", "scale"}}``
    or ``{key: {"status": text}}`` where the artifact is missing."""
    out: dict[str, Row] = {}
    statuses = {(a, s): find_run(root, profile, a, s) for a in ALGOS for s in seeds}
    statuses = {k: run_status(p) if p is not None else None for k, p in statuses.items()}
    seeds_txt = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"

    def put(key: str, per_seed: list, status: Row, extra: str, missing: str) -> None:
        if any(v is None for v in per_seed):
            out[key] = {"status": missing}
            return
        value, ci = _combine(per_seed)
        scale = scale_label(status, extra, short=True)
        if len(seeds) > 1:
            scale = scale.replace(f"seed {status['seed']}", f"{seeds_txt} (CI over seeds)")
        out[key] = {"value": value, "ci": ci, "scale": scale}

    for algo in ALGOS:
        sts = [statuses[(algo, s)] for s in seeds]
        if any(st is None or not st["finished"] for st in sts):
            status = next((st for st in sts if st is None or not st["finished"]), None)
            text = progress_label(status)
            for key in _algo_keys(algo):
                out[key] = {"status": text}
            continue
        evals = [read_eval(st["path"], n_episodes=n_test_episodes) for st in sts]
        put(f"acc/{algo}", [(e["acc"], e["ci95"]) if e else None for e in evals], sts[0],
            f"{n_test_episodes} test tasks", "not evaluated yet")
        if algo == "meta-sgd":
            layers = [final_layer_rates(st["path"]) for st in sts]
            for layer in TABLE1_LAYERS:
                put(f"rate/{layer}", [(lr[layer]["mean"], None) for lr in layers], sts[0],
                    "final rates", "no rates logged")
            negs = [sum(lr[c]["mean"] < 0 for c in CONV_LAYERS) for lr in layers]
            put("rate/negconv", [(float(k), None) for k in negs], sts[0], "final rates", "")
        probes = [read_probe(st["path"]).get("trained") for st in sts]
        if any(p is None for p in probes):
            for key in _algo_keys(algo):
                if key.startswith(("fig7/", "change/", "p/")):
                    out[key] = {"status": "not probed yet"}
            continue
        n = probes[0]["stats"]["n"]
        extra = f"{n:,} probe pairs ({probes[0]['config']['split']} split)"
        for cond, key in (("pre", "pre_a"), ("on", "on_a"), ("off", "off_b")):
            c = [p["stats"]["conditions"][key] for p in probes]
            put(f"fig7/{algo}/{cond}", [(x["mean"], x["ci95"]) for x in c], sts[0], extra, "")
        for change in ("off_report", "off_paired"):
            c = [p["stats"]["changes"][change] for p in probes]
            put(f"change/{algo}/{change}", [(x["mean"], x["ci95"]) for x in c], sts[0],
                extra, "")
        put(f"p/{algo}", [(p["stats"]["report_paired"]["p"], None) for p in probes], sts[0],
            extra, "")
    acc_ms, acc_maml = out.get("acc/meta-sgd", {}), out.get("acc/maml", {})
    if "value" in acc_ms and "value" in acc_maml:
        out["acc/diff"] = {"value": acc_ms["value"] - acc_maml["value"], "ci": None,
                           "scale": acc_ms["scale"]}
    else:
        out["acc/diff"] = {"status": acc_ms.get("status") or acc_maml.get("status")}
    return out


def _algo_keys(algo: str) -> list[str]:
    keys = [f"acc/{algo}"]
    if algo == "meta-sgd":
        keys += [f"rate/{layer}" for layer in TABLE1_LAYERS] + ["rate/negconv"]
    keys += [f"fig7/{algo}/{c}" for c in ("pre", "on", "off")]
    keys += [f"change/{algo}/off_report", f"change/{algo}/off_paired", f"p/{algo}"]
    return keys


def _report_rows() -> list[tuple[str, str, float | None, str]]:
    """(key, quantity, report value, kind) in the order of the results table."""
    rows: list[tuple[str, str, float | None, str]] = [
        ("acc/maml", "MAML accuracy, head after adaptation", REPORT_VAL_ACC["maml"], "acc"),
        ("acc/meta-sgd", "Meta-SGD accuracy", REPORT_VAL_ACC["meta-sgd"], "acc"),
        ("acc/meta-sgd-positive", "Meta-SGD with positive rates, accuracy", None, "acc"),
        ("acc/diff", "Meta-SGD minus MAML accuracy",
         REPORT_VAL_ACC["meta-sgd"] - REPORT_VAL_ACC["maml"], "accdiff"),
    ]
    rows += [(f"rate/{layer}", f"Meta-SGD mean inner rate, {layer} (Table 1)",
              REPORT_TABLE1[layer][0], "rate") for layer in TABLE1_LAYERS]
    rows.append(("rate/negconv", "conv layers with a negative mean rate (of 4)",
                 float(sum(REPORT_TABLE1[c][0] < 0 for c in CONV_LAYERS)), "count"))
    for algo, name in (("meta-sgd", "Meta-SGD"), ("maml", "MAML")):
        for cond, cname in (("pre", "pre-adaptation"), ("on", "on-task"), ("off", "off-task")):
            rows.append((f"fig7/{algo}/{cond}", f"Figure 7, {name}, {cname}",
                         REPORT_FIGURE7[algo][cond], "prob"))
        rep = REPORT_FIGURE7[algo]
        rows.append((f"change/{algo}/off_report", f"{name} off-task change (off - pre)",
                     rep["off"] - rep["pre"], "change"))
        rows.append((f"change/{algo}/off_paired",
                     f"{name} off-task change vs task B's own baseline (ours)", None, "change"))
    rows += [("p/meta-sgd", "t-test on- vs off-task change, Meta-SGD, p", REPORT_FIGURE7_P,
              "p"),
             ("p/maml", "t-test on- vs off-task change, MAML, p", REPORT_FIGURE7_P, "p")]
    return rows


def _cell(m: Row | None, kind: str) -> str:
    if m is None:
        return "not run yet"
    if "status" in m:
        return m["status"]
    if kind == "accdiff":
        return f"{100 * m['value']:+.1f} %"
    if kind == "acc":
        return fmt_ci(m["value"], m["ci"], 1, 100.0, " %")
    if kind == "count":
        return f"{m['value']:.0f}" if m["ci"] is None else fmt_ci(m["value"], m["ci"], 1)
    if kind == "p":
        return fmt_p(m["value"])
    sign = "+" if kind in ("rate", "change") and m["value"] >= 0 else ""
    return sign + fmt_ci(m["value"], m["ci"], 4)


def _report_cell(value: float | None, kind: str) -> str:
    if value is None:
        return "not reported"
    if kind in ("acc", "accdiff"):
        return f"{100 * value:+.1f} %" if kind == "accdiff" else f"{100 * value:.0f} % (val.)"
    if kind == "count":
        return f"{value:.0f}"
    if kind == "p":
        return f"{value:.2g} (model not stated)"
    return f"{value:+.4f}" if kind in ("rate", "change") else f"{value:.4f}"


def _agrees(report: float | None, m: Row | None, kind: str) -> str:
    """Whether the reproduction points the same way as the report (signs, counts, p < .05)."""
    if report is None or m is None or "value" not in m:
        return ""
    v = m["value"]
    if kind in ("rate", "change", "accdiff"):
        return "same sign" if (v > 0) == (report > 0) else "OPPOSITE SIGN"
    if kind == "count":
        return "yes" if round(v) == round(report) else "no"
    if kind == "p":
        return "both < 0.05" if v < 0.05 else "not significant here"
    return "other scale"


def results_rows(runs_dir: str | os.PathLike, profile: str, seeds: Sequence[int] = (0,),
                 paper_dir: str | os.PathLike | None = PAPER_DIR, *,
                 n_test_episodes: int = N_TEST_EPISODES) -> list[Row]:
    """The results table with numbers: one row per quantity, ``value``/``ci`` included."""
    ours = _measure(runs_dir, profile, seeds, n_test_episodes)
    paper = (_measure(paper_dir, "paper", (0,), n_test_episodes)
             if paper_dir is not None and profile != "paper" else {})
    rows = []
    for key, name, rep, kind in _report_rows():
        m = ours.get(key)
        row = {"key": key, "quantity": name, "report": _report_cell(rep, kind),
               "reproduction": _cell(m, kind), "scale": (m or {}).get("scale", ""),
               "agrees": _agrees(rep, m, kind), "value": (m or {}).get("value"),
               "ci": (m or {}).get("ci")}
        if paper_dir is not None and profile != "paper":
            pm = paper.get(key)
            row["paper-scale run"] = _cell(pm, kind)
            row["paper scale"] = (pm or {}).get("scale", "")
        rows.append(row)
    return rows


def results_table(runs_dir: str | os.PathLike, profile: str, seeds: Sequence[int] = (0,),
                  paper_dir: str | os.PathLike | None = PAPER_DIR, *,
                  n_test_episodes: int = N_TEST_EPISODES) -> list[Row]:
    """Report vs this reproduction, as display rows (strings), one per quantity.

    Columns: ``quantity``, ``report``, ``reproduction`` (mean ± 95 % CI: over test tasks
    or probe pairs for one seed, over seeds for several), ``scale`` (dataset, profile,
    iterations, seeds, tasks), ``agrees`` (same sign / count / significance where that is
    the comparable part), and, unless ``paper_dir`` is None, ``paper-scale run`` with its
    progress when unfinished. Missing artifacts read "not run yet" / "not probed yet".
    """
    rows = results_rows(runs_dir, profile, seeds, paper_dir, n_test_episodes=n_test_episodes)
    drop = {"key", "value", "ci"}
    if not any(r.get("paper scale") for r in rows):
        drop.add("paper scale")  # no paper-scale number yet: the status column says why
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


# ------------------------------------------------------------------------------ probe


def probe_table(entries: Mapping[str, Row]) -> list[Row]:
    """One row per probed run/condition: the four means, the changes and every test.

    ``entries``: ``{label: probe result}`` (``probe_runs(...)["runs"]`` or `read_probe`).
    Means and changes are ± 95 % t-CIs over probe task pairs.
    """
    rows = []
    for label, e in entries.items():
        st = e["stats"]
        c, ch = st["conditions"], st["changes"]
        rows.append({
            "run / condition": label, "n": st["n"],
            **{k: fmt_ci(c[k]["mean"], c[k]["ci95"]) for k in analysis.CONDITIONS},
            "on - pre_a": fmt_ci(ch["on"]["mean"], ch["on"]["ci95"]),
            "off - pre_a (report)": fmt_ci(ch["off_report"]["mean"], ch["off_report"]["ci95"]),
            "off - pre_b (paired)": fmt_ci(ch["off_paired"]["mean"], ch["off_paired"]["ci95"]),
            "p, report's t-test (paired)": fmt_p(st["report_paired"]["p"]),
            "p, report's t-test (Welch)": fmt_p(st["report_two_sample"]["p"]),
            "p, off vs pre_b": fmt_p(st["off_vs_pre_b"]["p"]),
            "d, off vs pre_b": f"{st['off_vs_pre_b']['cohens_d']:+.3f}",
            "d, on vs pre_a": f"{st['on_vs_pre']['cohens_d']:+.3f}",
        })
    return rows


def comparison_table(comparisons: Mapping[str, Mapping[str, Row]]) -> list[Row]:
    """Welch tests of each run's changes against MAML's (``probe_runs(...)["comparisons"]``)."""
    rows = []
    for label, comp in comparisons.items():
        for change, t in comp.items():
            rows.append({"comparison": label, "change": change, "difference": f"{t['diff']:+.4f}",
                         "p (Welch)": fmt_p(t["p"]), "Cohen's d": f"{t['cohens_d']:+.3f}"})
    return rows


def over_seed_table(over_seeds: Mapping[str, Mapping[str, Row]]) -> list[Row]:
    """Per algorithm/condition: seed means ± t CI over training seeds (n_seeds in a column)."""
    rows = []
    for group, numbers in over_seeds.items():
        row: Row = {"algorithm / condition": group}
        for k, s in numbers.items():
            row[k] = fmt_ci(s["mean"], s["ci95"])
            row["seeds"] = s["n_seeds"]
        rows.append(row)
    return rows


def claim_check(entries: Mapping[str, Row], comparisons: Mapping[str, Mapping[str, Row]],
                seed: int = 0) -> Row:
    """The report's claim, tested on one training seed's probe: numbers and verdicts.

    The claim has two parts: (1) after adapting to one task, Meta-SGD's head-free
    features get *better* on another task, MAML's *worse*; (2) the two changes differ
    ("a real phenomenon", p = 0.00044). We measure the off-task change against task B's
    own pre-adaptation accuracy (paired) and compare the two algorithms with Welch's
    test. Returns ``{"ms", "maml": change dicts, "diff": Welch test, "part1", "part2",
    "supported"}``; a part holds when its CI or test excludes zero at 95 %.
    """
    ms, maml = entries[f"meta-sgd-seed{seed}/trained"], entries[f"maml-seed{seed}/trained"]
    ch_ms = ms["stats"]["changes"]["off_paired"]
    ch_maml = maml["stats"]["changes"]["off_paired"]
    diff = comparisons[f"meta-sgd-seed{seed}/trained vs maml-seed{seed}"]["off_paired"]
    part1 = ch_ms["low"] > 0 and ch_maml["high"] < 0
    part2 = diff["diff"] > 0 and diff["p"] < 0.05
    return {"ms": ch_ms, "maml": ch_maml, "diff": diff, "part1": part1, "part2": part2,
            "supported": part1 and part2, "n": ms["stats"]["n"]}


# ------------------------------------------------------------------------------ methods


def methods_table(run_dirs: Sequence[str | os.PathLike]) -> list[Row]:
    """One row per run: every ``RunConfig`` field (``meta.*`` flattened), hash, versions,
    device and progress, read from ``config.json`` / ``metrics.jsonl``."""
    rows = []
    for d in run_dirs:
        st = run_status(d)
        cfg = dict(st["config"])
        meta = cfg.pop("meta")
        row: Row = {"run": Path(d).name, **cfg, **{f"meta.{k}": v for k, v in meta.items()}}
        row["meta.rate_init_range"] = str(tuple(meta["rate_init_range"]))
        row |= {"hash": st["hash"], "device": st["device"],
                **{f"version {k}": v for k, v in st["versions"].items()},
                "iterations done": st["iteration"], "finished": st["finished"]}
        rows.append(row)
    return rows


def timing_table(run_dirs: Sequence[str | os.PathLike]) -> list[Row]:
    """Seconds spent per run: training (``wall_time``), evaluation and probe (their JSON)."""
    rows = []
    for d in run_dirs:
        st = run_status(d)
        ev = read_json(Path(d) / "eval-test.json")
        probe = read_probe(d)
        per_it = st["wall_time"] / st["iteration"] if st["iteration"] else math.nan
        rows.append({
            "run": Path(d).name, "device": st["device"], "iterations": st["iteration"],
            "training": fmt_duration(st["wall_time"]), "s / iteration": round(per_it, 3),
            "evaluation": (f"{fmt_duration(ev['seconds'])} ({ev['n_episodes']} tasks)"
                           if ev else "not run"),
            "probe": (f"{fmt_duration(sum(p['seconds'] for p in probe.values()))} "
                      f"({len(probe)} condition{'s' if len(probe) > 1 else ''} x "
                      f"{next(iter(probe.values()))['stats']['n']:,} pairs)"
                      if probe else "not run"),
        })
    return rows


def notebook_timings(path: str | os.PathLike) -> list[Row]:
    """``book/executed/timings.json`` (written by ``book/build.py``) as rows; [] if absent."""
    data = read_json(path) or {}
    return [{"notebook": k, "seconds": v, "time": fmt_duration(v)}
            for k, v in sorted(data.items())]


def choices_table(run_config: Any, probe_config: Any) -> list[Row]:
    """The settings the report does not state, with the value this book used."""
    m = run_config.meta
    init = (f"constant = inner_lr = {m.inner_lr}" if m.rate_init == "constant"
            else f"uniform on {m.rate_init_range}")
    return [
        {"setting": "Meta-SGD rate initialisation", "ours": init, "parameter": "meta.rate_init"},
        {"setting": "meta learning rate (Adam)", "ours": str(run_config.meta_lr),
         "parameter": "meta_lr"},
        {"setting": "BatchNorm mode", "ours": "batch statistics, train and test (transductive)",
         "parameter": "models.py (fixed)"},
        {"setting": "rates learned for BatchNorm parameters",
         "ours": "yes, one per parameter like every other" if m.adapt == "all" else "no",
         "parameter": "meta.adapt"},
        {"setting": "probe data split", "ours": probe_config.split,
         "parameter": "ProbeConfig.split"},
        {"setting": "probe BatchNorm batches", "ours": probe_config.bn_mode,
         "parameter": "ProbeConfig.bn_mode"},
        {"setting": "probe query images per class", "ours": str(probe_config.k_query),
         "parameter": "ProbeConfig.k_query"},
    ]


def paper_progress_table(paper_dir: str | os.PathLike = PAPER_DIR,
                         seeds: Sequence[int] = (0, 1, 2)) -> list[Row]:
    """How far the paper-scale protocol in ``paper_dir`` has got, one row per run.

    Read from the committed run directories (GPU chunks, ``scripts/paper_chunk.py``):
    the iteration reached, the hardware, the training time so far, and the last
    validation accuracy with its 95 % interval.
    """
    rows = []
    for seed in seeds:
        for algo in ("maml", "meta-sgd", "meta-sgd-positive"):
            path = find_run(paper_dir, "paper", algo, seed) if Path(paper_dir).is_dir() else None
            status = run_status(path) if path is not None else None
            last_val = next((m for m in reversed(read_metrics(path)) if "val_acc" in m),
                            None) if path is not None else None
            rows.append({
                "run": f"{algo} seed {seed}", "status": progress_label(status),
                "validation accuracy": (fmt_ci(last_val["val_acc"], last_val["val_ci95"])
                                        + f" (iteration {last_val['iteration']:,})"
                                        if last_val else "—"),
                "probe": "done" if path is not None and (path / "probe.json").is_file()
                else "not yet"})
    return rows
