# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Negative learning rates, reproduced
#
# **The question.** Meta-SGD {cite:p}`li2017metasgd` learns a separate inner-loop learning
# rate for every parameter, where MAML {cite:p}`finn2017maml` uses one fixed rate. Many of
# the rates Meta-SGD learns are negative. What do negative inner-loop rates do to the
# features a network learns? (For MAML itself, {cite:t}`bernacchia2021negative` shows that
# the optimal *training* inner rate can be negative.)
#
# **The claim.** {cite:t}`starshak2021negative` trains a Conv-4 network on mini-ImageNet
# with MAML and with Meta-SGD, finds that Meta-SGD's mean rate is negative in every
# convolutional layer (Table 1), and tests the features without the classifier by
# nearest-prototype classification (Figure 7). After adaptation to one task, the Meta-SGD
# model's features get slightly *better* on other tasks and the MAML model's slightly
# *worse* (p = 0.00044). The report concludes that negative rates push features towards
# task-agnostic, "universal" ones, in contrast with the feature-reuse picture of MAML
# {cite:p}`raghu2020anil`.
#
# **This book** re-runs the comparison, measures the sign of the learned rates layer by
# layer, and probes the learned features. The table below is generated from the run
# artifacts (`config.json`, `metrics.jsonl`, `eval-test.json`, `probe.json`) by
# `neglr_utils.report.results_table`; nothing in it is typed in by hand, and every number
# says the dataset, profile, iterations and seeds it came from.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
runs_dir = "runs"
seeds = [0]

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from neglr_utils import PROBES, ensure_runs, probe_runs, report

paper_dir = Path(report.PAPER_DIR)

# %% [markdown]
# This page is executed first. It makes sure the runs, their test accuracy and their probe
# exist, with the same calls and settings as the chapters, which then reuse them: a run
# or probe that already exists is read, not recomputed. The paper-scale runs are only
# read from `results/paper/` (trained on a GPU), never started here.

# %% tags=["hide-input"]
algos = ("maml", "meta-sgd", "meta-sgd-positive")
paths = ensure_runs(profile, algos, seeds, runs_dir=runs_dir, data_root=data_root,
                    device=device, progress=False)
evals = [report.ensure_eval(p, data_root=data_root, device=device) for p in paths.values()]
summary = probe_runs([paths[(a, s)] for s in seeds for a in algos], PROBES[profile],
                     out=Path(runs_dir) / "probe-summary.json", data_root=data_root,
                     device=device)

# %% [markdown]
# ## Results: the report and this reproduction

# %% tags=["hide-input"]
rows = report.results_rows(runs_dir, profile, seeds, paper_dir)
table = pd.DataFrame(report.results_table(runs_dir, profile, seeds, paper_dir))
table.set_index("quantity").style.set_caption(
    f"Table 0. The report's numbers (mini-ImageNet, 60,000 iterations, one run each) beside "
    f"this reproduction at the '{profile}' profile and, where it exists, the paper-scale run "
    f"in {paper_dir}/. ± is a 95 % interval over test tasks or probe task pairs (one seed) "
    f"or over training seeds (several).")

# %% tags=["hide-input"]
agree = [r["agrees"] for r in rows if r["agrees"] and r["agrees"] != "other scale"]
check = report.claim_check(summary["runs"], summary["comparisons"], seeds[0])
Markdown(
    f"Of the {len(agree)} rows whose direction can be compared across scales (signs of the "
    f"rates and changes, the count of negative conv layers, significance), "
    f"**{sum(a in ('same sign', 'yes', 'both < 0.05') for a in agree)}** agree with the "
    f"report. At this scale ({report.scale_label(report.run_status(paths[('meta-sgd', seeds[0])]))}"
    f", {check['n']:,} probe task pairs), the report's claim that negative rates make "
    f"Meta-SGD's features improve on other tasks while MAML's degrade is "
    f"**{'supported' if check['supported'] else 'not supported'}**: Meta-SGD's off-task "
    f"change is {report.fmt_interval(check['ms'])}, MAML's {report.fmt_interval(check['maml'])}"
    f" (details and ablations in the probe chapter)."
)

# %% [markdown]
# ## Chapters
#
# Every chapter is executed by `make book` (`book/build.py`); the methods chapter lists
# the settings of every run and the time each chapter took.
#
# ```{tableofcontents}
# ```
