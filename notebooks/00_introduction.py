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
# features a network learns?
#
# **The claim.** {cite:t}`starshak2021negative` trains a Conv-4 on mini-ImageNet with MAML
# and with Meta-SGD, finds that Meta-SGD's mean rate is negative in every convolutional
# layer (the report's Table 1), and tests the features without the classifier by
# nearest-prototype classification (the report's Figure 7): after adaptation to one task,
# Meta-SGD's features get slightly *better* on other tasks and MAML's slightly *worse*.
# The report concludes that negative rates push features towards task-agnostic,
# "universal" ones.
#
# **This book** re-runs the comparison in a regime a CPU can reach, where negative rates
# do appear: the report's rate settings (MAML's inner rate 0.01, Meta-SGD's rates
# starting at 0.01), three training seeds per algorithm, on Omniglot and on mini-ImageNet
# at 32×32. {numref}`tab-results` is generated from the run artifacts; nothing in it is
# typed by hand, and every column says the scale it came from.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %%
from IPython.display import Markdown

from neglr_utils import get_profile, load_studies
from neglr_utils.display import tables as report
from neglr_utils.display.params import check_parameters
from neglr_utils.runs.study import prepare

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir, seeds=seeds)

# %% [markdown]
# This page is executed first. It makes sure every run, its test accuracy and its probe
# exist, reading the committed ones (`results/cpu/`) and computing only what is missing
# and cheap; a missing run that would take long is listed below with the command that
# trains it. The chapters then only read.

# %% tags=["hide-input"]
missing, undiagnosed = prepare(profile, seeds, root=results_dir, data_root=data_root,
                               device=device)
studies = load_studies(profile, seeds, root=results_dir)
Markdown("\n".join(f"- {m.label}: at iteration {m.done:,} of {m.total:,}, about "
                   f"{m.minutes:,.0f} more minutes on {m.where}; `{m.command}` trains it"
                   for m in missing) or "Every run of this profile is present.")

# %% [markdown]
# ## Results: the report and this reproduction

# %% tags=["hide-input"]
columns = {report.short_label(s): (s, get_profile(p).probe) for p, s in studies.items() if s.runs}
scales = "; ".join(report.scale_label(s) for s, _ in columns.values())
rows = report.display_rows(report.results_rows(columns))
report.table(rows, (
    "The report's numbers (mini-ImageNet 84×84, 64 filters, 60,000 iterations, one run per "
    f"algorithm) beside this reproduction ({scales}). ± is a 95 % interval over training "
    "seeds (over test tasks or task pairs where one seed is finished); 'agrees' compares "
    "signs and counts, the parts comparable across scales. Our off-task changes are "
    "against task B's own pre-adaptation accuracy."), "tab-results", index="quantity")

# %% tags=["hide-input"]
Markdown(report.verdict_text(studies, {p: get_profile(p).probe for p in studies}))

# %% [markdown]
# ## Chapters
#
# Every chapter is executed by `make book` (`book/build.py`); the methods chapter lists
# the settings of every run and the time each chapter took.
#
# ```{tableofcontents}
# ```
