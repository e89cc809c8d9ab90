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
# # Methods
#
# **Question.** Exactly which runs produced the numbers in this book, with which
# settings, software and hardware, and what did each cost? Every table here is read from
# the run directories (`config.json`, `metrics.jsonl`, `eval-test.json`, `probe.json`)
# and from `book/executed/timings.json`, which `book/build.py` writes after each executed
# chapter. This chapter runs last, so it sees the times of the chapters before it.

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

from neglr_utils import PROBES, PROFILES, profile_config, report

algos = ("maml", "meta-sgd", "meta-sgd-positive")

# %% [markdown]
# ## Data and model
#
# Omniglot {cite:p}`lake2015omniglot` with the class split of {cite:t}`vinyals2016matching`
# (1,200 training characters, of which 100 are held out for validation, and 423 test
# characters, each rotated by 0, 90, 180 and 270 degrees into four classes, 28×28 pixels),
# and mini-ImageNet with the split of {cite:t}`ravi2017optimization` (64/16/20 classes,
# 600 images each, 84×84). The model is the report's Conv-4: four blocks of 3×3
# convolution (64 filters in the report), BatchNorm with batch statistics, ReLU and 2×2
# max-pooling, then a linear head. The `paper` profile is the report's protocol; `cpu`
# keeps its episode shape, meta-batch and second-order inner steps, but runs on Omniglot
# with fewer filters (`hidden` below) and far fewer iterations so that the book executes
# on two CPU cores; `smoke` exists for continuous integration only.

# %%
pd.DataFrame([{"profile": name, "dataset": c.dataset, "n_way": c.n_way, "k_shot": c.k_shot,
               "k_query": c.k_query, "meta_batch_size": c.meta_batch_size,
               "n_iterations": c.n_iterations, "hidden": c.hidden,
               "n_inner_steps": c.meta.n_inner_steps, "inner_lr": c.meta.inner_lr,
               "meta_lr": c.meta_lr, "probe iterations": PROBES[name].n_iterations}
              for name, c in PROFILES.items()]).set_index("profile")

# %% [markdown]
# ## What the report does not state
#
# The report leaves several settings open. Each is a parameter here; the values this book
# used (from the `meta-sgd` config of this profile and its probe):

# %%
pd.DataFrame(report.choices_table(profile_config(profile, "meta-sgd"), PROBES[profile])
             ).set_index("setting")

# %% [markdown]
# ## The runs behind this book
#
# Every `RunConfig` field of each run of this build's profile (the run directory is
# named by a hash of the config, so a changed setting is a different run), the package
# versions and the device it trained on.

# %%
run_dirs = [d for s in seeds for a in algos
            if (d := report.find_run(runs_dir, profile, a, s)) is not None]
paper_dirs = [d for a in algos if (d := report.find_run(report.PAPER_DIR, "paper", a, 0))]
all_dirs = run_dirs + paper_dirs
(pd.DataFrame(report.methods_table(all_dirs)).set_index("run").T if all_dirs
 else Markdown("No runs found yet."))

# %% [markdown]
# ## Time per run
#
# Training time is the run's own `wall_time` (summed over resumed chunks); evaluation
# and probe times are recorded in their JSON files.

# %%
(pd.DataFrame(report.timing_table(all_dirs)).set_index("run") if all_dirs
 else Markdown("No runs found yet."))

# %% [markdown]
# ## Time per chapter
#
# Seconds each notebook took to execute in its latest build (`book/executed/timings.json`).
# A chapter that trains, evaluates or probes the first time pays for it; later chapters
# reuse the artifacts. This chapter's own time appears from the next build on.

# %%
timings = report.notebook_timings(Path("book") / "executed" / "timings.json")
(pd.DataFrame(timings).set_index("notebook") if timings
 else Markdown("No `book/executed/timings.json` yet: the chapters were not built here."))

# %% [markdown]
# ## Execution
#
# `make book` runs `book/build.py`: each chapter is executed in order with papermill into
# `book/executed/`, with the parameters `profile`, `data_root`, `device` and `runs_dir`
# injected (shown at the top of every chapter); the first failing cell stops the build and
# nothing is published. Then Jupyter Book builds the HTML from the executed copies without
# executing anything again.

# %% [markdown]
# ## Summary
#
# The tables above are the full record of this build: the settings of every run (and the
# report's unstated ones, as we chose them), the software versions and devices, and the
# cost of each run and chapter.
