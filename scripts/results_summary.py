"""The committed results as Markdown, for README's "Results so far" and closing notes.

    python scripts/results_summary.py [--profile cpu]

Everything comes from the run artifacts under ``results/`` through the same functions
the book uses (``neglr_utils.analysis`` and ``neglr_utils.display.tables``), so README
and the book cannot disagree.
"""

from __future__ import annotations

import argparse
import dataclasses

from neglr_utils import get_study, load_studies
from neglr_utils.analysis import published
from neglr_utils.analysis.calibration import calibrate, model_effect
from neglr_utils.analysis.endpoints import seed_changes, seed_deltas
from neglr_utils.analysis.results import Study, read_curve
from neglr_utils.analysis.scorecard import scorecard
from neglr_utils.analysis.variance import (
    decompose,
    probability_of_improvement,
    seeds_needed,
)
from neglr_utils.display import tables
from neglr_utils.display.format import markdown_table
from neglr_utils.runs.profiles import CPU_MINI, LONG_CURVE_ITERATIONS


def study_section(name: str, study: Study) -> list[str]:
    """The scorecard, Table 1, accuracies, the placebo and the seeds needed of one study."""
    probe = study.profile.probe
    out = [f"### {study.profile.label} ({tables.scale_label(study)})", "",
           markdown_table(tables.scorecard_rows(scorecard({name: study}), {name: "ours"}),
                          index="claim of the report"), "",
           markdown_table(tables.table1_rows(study), index="layer"), "",
           markdown_table(tables.accuracy_rows(study), index="algorithm"), ""]
    cal = calibrate(study.probes, probe, published.FIGURE7_P, algos=("maml", "meta-sgd"))
    report_form = calibrate(study.probes, probe, published.FIGURE7_P, form="off − on",
                            algos=("maml", "meta-sgd"))
    out += [markdown_table(tables.calibration_rows([(study.profile.label, cal),
                                                    (study.profile.label, report_form)])), ""]
    reach = tables.reach_rows([(study.profile.label, c) for c in (cal, report_form)],
                              published.FIGURE7_N)
    effects = [(study.profile.label, e) for c in (cal, report_form) for a in ("maml", "meta-sgd")
               if (e := model_effect(study.probes, probe, a, c.form))]
    if reach:
        out += [markdown_table(reach), ""]
    if effects:
        out += [markdown_table(tables.model_effect_rows(effects, published.FIGURE7_P,
                                                        published.FIGURE7_N)), ""]
    if not (reach and effects):
        out += ["The report's test's reach or the model effect needs two probed seeds of one "
                "algorithm; this study has too few.", ""]
    configs = [probe, dataclasses.replace(probe, disjoint=not probe.disjoint)]
    out += [markdown_table(tables.report_form_rows(study, configs)), ""]
    groups = seed_deltas(study.probes, probe)
    if len(groups) >= 2:
        parts = decompose(list(groups.values()))
        out += [markdown_table([tables.variance_row(
            study.profile.label, parts, seeds_needed(parts, published.effect()))]), ""]
        x = list(seed_changes(study.probes, probe, "meta-sgd").values())
        y = list(seed_changes(study.probes, probe, "maml").values())
        imp = probability_of_improvement(x, y)
        out += [f"P(Meta-SGD > MAML) over seed pairs (off − pre_b): {imp.p:.2f} (95 % "
                f"bootstrap interval {imp.low:.2f} to {imp.high:.2f}; {imp.n_x} / {imp.n_y} "
                "seeds).", ""]
    return out


def long_curve_section() -> list[str]:
    """Where the long Meta-SGD curve's rates settle (chapter 3's table), if it is committed."""
    folder = CPU_MINI.locate(("meta-sgd",), (0,),
                             n_iterations=LONG_CURVE_ITERATIONS)[("meta-sgd", 0)]
    if not (folder / "metrics.jsonl").exists():
        return []
    curve = read_curve(folder)
    last = max(p.iteration for p in curve.evolution)
    return [f"### The long curve: {CPU_MINI.label}, Meta-SGD seed 0, logged to {last:,} of "
            f"{curve.config.n_iterations:,} iterations", "",
            markdown_table(tables.settling_rows(curve.evolution, curve.config.n_iterations),
                           index="layer"), ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    studies = load_studies(get_study(args.profile))
    lines = [markdown_table(tables.run_rows(studies)), ""]
    for name, study in studies.items():
        if study.finished:
            lines += study_section(name, study)
    if args.profile == "cpu":
        lines += long_curve_section()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
