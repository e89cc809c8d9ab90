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
#
# **Seeds, not bits, reproduce.** The same seed gives the same episodes and the same
# initialisation everywhere, but float32 kernels differ between CPUs (AVX-512 or not) and
# between thread counts, and meta-training amplifies the difference: a rerun of a seed on
# another machine is another draw of the same algorithm, typically a point or so away in
# accuracy. That is why every conclusion here takes training seeds as the unit.
# `python -m neglr_utils provenance RUN_DIR` retrains the first logged window of a run and
# checks its training loss within a tolerance set between the spread across instruction
# sets and the smallest changed setting (`tests/test_provenance.py` runs it under several).

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %% tags=["hide-cell"]
import json
from pathlib import Path

from IPython.display import Markdown

from neglr_utils import PROFILES, get_study, load_studies
from neglr_utils.display import tables
from neglr_utils.display.format import duration, table
from neglr_utils.display.params import check_parameters
from neglr_utils.runs.study import prepare

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir,
                 seeds=seeds)
book = get_study(profile)
studies = load_studies(book, seeds, root=results_dir)
missing, undiagnosed = prepare(book, seeds, root=results_dir, data_root=data_root,
                               device=device, max_train_minutes=0)

# %% [markdown]
# ## Data and model
#
# Omniglot {cite:p}`lake2015omniglot` with the class split of {cite:t}`vinyals2016matching`
# (1,200 training characters, of which 100 are held out for validation, and 423 test
# characters, each rotated by 0, 90, 180 and 270 degrees into four classes, 28×28 pixels),
# and mini-ImageNet with the split of {cite:t}`ravi2017optimization` (64/16/20 classes,
# 600 images each, 84×84, resized to 32×32 for the CPU study). The model is the report's
# Conv-4: four blocks of 3×3 convolution, BatchNorm with batch statistics, ReLU and 2×2
# max-pooling, then a linear head. The `paper` profile is the report's protocol; `cpu` and
# `cpu-mini` keep its episode shape, meta-batch, second-order inner steps and rate
# settings, but use fewer filters, smaller images and fewer iterations so that the
# study runs on two CPU cores; `smoke` exists for continuous integration only.

# %% tags=["remove-input"]
table(tables.profile_rows(list(PROFILES.values())), "The settings of every profile.",
      "tab-profiles", index="profile")

# %% [markdown]
# ## What the report does not state
#
# The report leaves several settings open. Each is a parameter here; the values this book
# used, per dataset (the Meta-SGD config of each profile and its probe; among Omniglot's
# hundreds of test characters two independent tasks rarely share one, so its off-task
# pairs are drawn independently, see {numref}`tab-overlap`):

# %% tags=["remove-input"]
table(tables.choices_rows(book.profiles), "The report's unstated settings and our "
      "choices.", "tab-choices", index="setting")

# %% [markdown]
# ## The runs behind this book
#
# Each run directory is named by a hash of its config, so a changed setting is a
# different run; training time is the run's own `wall_time` (summed over resumed slices),
# evaluation and probe times come from their JSON files.

# %% tags=["remove-input"]
table(tables.run_rows(studies), "Every run of this build's profile: cost and device.",
      "tab-runs")

# %% [markdown]
# ## Runs still training
#
# The study trains in slices across sessions (`python -m neglr_utils study --profile cpu`
# resumes where it stopped); a run listed here is shown in the chapters once it has
# finished. Times left are estimated from each run's own log (its seconds per iteration
# so far) or, before it starts, from the fastest log of a finished run of the same shapes
# and length (another seed or algorithm, or the BatchNorm ablation's study sibling), else
# from the profile's measured cost.

# %% tags=["remove-input"]
table(tables.missing_rows(missing), "Runs of this profile not finished yet.", "tab-missing",
      index="run") if missing else Markdown("Every run of this profile has finished.")

# %% tags=["remove-input"]
Markdown("The rate meta-gradient diagnostic (chapter 6) is not computed yet for "
         + ", ".join(f"`{Path(d).name}`" for d in undiagnosed)
         + f"; `python -m neglr_utils study --profile {book.name}` computes it."
         if undiagnosed else "Every rate meta-gradient diagnostic of this profile is computed.")

# %% [markdown]
# ## Time per chapter
#
# Seconds each notebook took to execute in its latest build. A chapter that computes
# something the first time pays for it; later chapters reuse the artifacts. This
# chapter's own time appears from the next build on.

# %% tags=["remove-input"]
timings_file = Path("book/executed/timings.json")
timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
table([{"chapter": k, "time": duration(v)} for k, v in sorted(timings.items())],
      "Execution time per chapter, latest build.", "tab-timings") if timings else \
    Markdown("No chapter timings yet: they are written by `book/build.py`.")

# %% [markdown]
# ## Execution
#
# `make book` runs `book/build.py`: each chapter is executed in order with papermill into
# `book/executed/`, with the parameters `profile`, `data_root`, `device`, `results_dir`
# and `seeds` injected; the first failing cell stops the build and nothing is published.
# Then Jupyter Book builds the HTML from the executed copies without executing anything
# again.
