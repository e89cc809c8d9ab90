"""The committed results as Markdown, for README's "Results so far" and closing notes.

    python scripts/results_summary.py [--profile cpu] [--seeds 0 1 2]

Everything comes from the run artifacts under ``results/`` through the same functions
the book uses (``neglr_utils.report``), so README and the book cannot disagree.
"""

from __future__ import annotations

import argparse

from neglr_utils import PROBES, load_studies
from neglr_utils.analysis.results import Study
from neglr_utils.display import tables as report
from neglr_utils.runs.profiles import SEEDS


def study_section(profile: str, study: Study, ablation: bool) -> list[str]:
    """Table 1, accuracies, first negative iterations, the probe, the mechanism and, where
    the study has it (``ablation``: its first dataset), the BatchNorm ablation."""
    probe = PROBES[profile]
    out = [f"### {report.short_label(study)} ({report.scale_label(study)})", "",
           report.layers_sentence(study), "",
           report.markdown_table(report.table1_display(study), index="layer"), "",
           "Iteration from which a layer's mean Meta-SGD rate stays negative:", "",
           report.markdown_table(report.first_negative_rows(study)), "",
           report.markdown_table(report.accuracy_rows(study)), "",
           report.verdict_line(study, probe), ""]
    if study.probes:
        out += [report.markdown_table(report.changes_rows(study, probe)), ""]
    for algo in ("maml", "meta-sgd"):
        out += [f"Rate meta-gradient ∂L/∂α per layer ({algo}; negative: the outer "
                "loop pushes the rate up):", "",
                report.markdown_table(report.mechanism_rows(study, algo)), ""]
    if ablation:
        out += ["BatchNorm ablation (Meta-SGD trained with support-set statistics):", "",
                report.markdown_table(report.ablation_rows(study)), ""]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    args = parser.parse_args(argv)
    studies = load_studies(args.profile, args.seeds)
    lines = [report.markdown_table(report.run_rows(studies)), ""]
    for i, (profile, study) in enumerate(studies.items()):
        lines += study_section(profile, study, ablation=i == 0)
    lines += ["### Paper scale (mini-ImageNet 84×84, `results/paper/`)", "",
              report.markdown_table(report.paper_progress_rows()), ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
