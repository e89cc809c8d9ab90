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
# # Explorer: what if the learned rates were different?
#
# **Question.** The report's claim rests on the *sign* of Meta-SGD's learned inner rates:
# in the report they are negative on average in the conv layers, and the probe barely
# changes when the network adapts. What happens to the probe (pre-adaptation, on-task,
# off-task) and to the accuracy the adapted network actually reaches with its head, if
# we scale those learned rates layer by layer, flip their sign, or give MAML a negative
# rate?
#
# This chapter re-runs the probe of the previous chapter on a small fixed set of task
# pairs for any setting of the inner rule:
#
# - a **precomputed sweep** of one multiplier applied to the rates of all four
#   conv layers of Meta-SGD, from −2 to 2; its slider works in the published book without
#   a kernel (each position is a stored picture);
# - a **live explorer** with one slider per layer group (conv1 … conv4, BatchNorm, head)
#   for Meta-SGD, MAML's inner rate and the number of inner steps; it recomputes only in a
#   running Jupyter kernel (in the static book it shows the state at execution time).
#
# What to look for:
#
# - all multipliers 1, MAML at its trained rate: the trained models, as in chapter 4;
# - conv multipliers 0: the conv weights stay at the meta-initialisation, but BatchNorm
#   and head still adapt, so on-task can still differ from pre-adaptation. Only with the
#   BatchNorm multiplier 0 too is the body unchanged, so on-task equals pre-adaptation
#   and off-task equals task B's pre-adaptation exactly (the probe ignores the head);
#   with the head multiplier 0 as well nothing adapts and the adapted accuracy is the
#   meta-initialisation's own (so is every number with `n_inner_steps` = 0);
# - multiplier −1: Meta-SGD's conv rates with the opposite sign, i.e. the same step sizes
#   applied uphill where they were downhill and vice versa;
# - MAML with a negative rate: gradient *ascent* on the support loss.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds
dataset = None  # the live explorer's profile, e.g. "cpu" (Omniglot); None: the first one

# %% tags=["hide-cell"]
import time

from IPython.display import HTML, Markdown, display

from neglr_utils import get_study, load_run, load_studies, resolve_device
from neglr_utils.core.data import load_split
from neglr_utils.display import tables
from neglr_utils.display.explorer import explorer_tasks, grid_values, precompute_sweep, sweep_table
from neglr_utils.display.format import fmt, table
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import style
from neglr_utils.display.widgets import LearningRateExplorer, static_slider_html, sweep_frames

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir,
                 seeds=seeds)
style()
dev = resolve_device(device)
book = get_study(profile)
size = book.explorer
grid = grid_values(size.grid_step)

# %% [markdown]
# ## The inner update with per-layer multipliers
#
# Meta-SGD adapts every parameter tensor $\theta_\ell$ (layer group
# $\ell \in \{\text{conv1},\dots,\text{conv4},\text{bn},\text{head}\}$) with its own learned
# rate tensor $\alpha_\ell$; the explorer multiplies each by a slider value $m_\ell$:
#
# $$
# \theta_\ell^{(s+1)} = \theta_\ell^{(s)} - m_\ell\,\alpha_\ell \odot
#   \nabla_{\theta_\ell} \mathcal{L}_{\text{support}}\big(\theta^{(s)}\big),
#   \qquad s = 0, \dots, S-1,
# $$
#
# with $\theta^{(0)}$ the meta-initialisation and $S$ = `n_inner_steps`. MAML is the case
# $\alpha_\ell = \alpha$ (one scalar, here a slider of its own, any sign) and $m_\ell = 1$.
# $m_\ell < 0$ flips the sign of the learned rates, $m_\ell = 0$ freezes the layer. The
# probe then embeds support and query images with the conv body of $\theta^{(0)}$ (pre)
# or $\theta^{(S)}$ (on-task: task A, off-task: task B) and classifies queries by cosine
# similarity to the class centroids; "adapted, with head" is the usual meta-test
# accuracy of $\theta^{(S)}$ on task A's queries.

# %% [markdown]
# ## The trained runs and the task pairs
#
# The MAML and Meta-SGD runs of this profile (trained by chapters 2 and 3, reused here),
# and a fixed list of task pairs (A, B) from the probe's split, drawn with the probe's
# seeds. Committed shorter-training contrasts are left out: one slider per dataset.

# %% tags=["hide-cell"]
studies = {n: s for n, s in load_studies(book, seeds, root=results_dir).items()
           if s.profile.trainable and s.of("maml") and s.of("meta-sgd")}


def explorer_inputs(study):
    """The first seed's MAML and Meta-SGD runs of a study and fixed task pairs (A, B)."""
    maml_run = load_run(study.of("maml")[0].path, device=dev)
    meta_sgd_run = load_run(study.of("meta-sgd")[0].path, device=dev)
    cfg = meta_sgd_run.config
    split = load_split(cfg.dataset, study.profile.probe.split, data_root,
                       image_size=cfg.image_size or None)
    tasks = explorer_tasks(meta_sgd_run, split, size.n_pairs, k_query=size.k_query,
                           seed=cfg.seed, device=dev)
    return maml_run, meta_sgd_run, *tasks


inputs = {n: explorer_inputs(s) for n, s in studies.items()}
Markdown("\n".join(
    f"- {tables.scale_label(studies[n])}, {studies[n].profile.probe.split} split: "
    f"**{size.n_pairs} task pairs** with **{size.k_query} query images per class**; "
    f"{m.config.meta.n_inner_steps} inner steps as trained, MAML's trained rate "
    f"{m.config.meta.inner_lr:g}; seed {m.config.seed}." for n, (m, *_) in inputs.items()))

# %% [markdown]
# ## The sweep, precomputed (works in the static book)
#
# One multiplier $m$ for the rates of all four conv layers of Meta-SGD (BatchNorm and
# head rates as learned), at each grid value from −2 to 2; MAML as trained is the
# reference. Each position of a slider below is a picture computed when this page was
# executed, so it needs no kernel; one slider per dataset, the primary test first.

# %% tags=["remove-input"]
sweeps = {}
for n, (maml_run, meta_sgd_run, tasks_a, tasks_b) in inputs.items():
    sweeps[n] = precompute_sweep(maml_run, meta_sgd_run, tasks_a, tasks_b, grid)
    display(HTML(static_slider_html(
        sweep_frames(sweeps[n]), [f"conv rates × {m:g}" for m in grid],
        initial=grid.index(1.0), title=f"{studies[n].profile.label}: multiplier of every "
        "conv layer's learned inner rates (Meta-SGD)")))
Markdown("; ".join(f"{studies[n].profile.label}: {len(grid)} grid values (step "
                   f"{size.grid_step:g}) computed in {sw.seconds:.0f} s"
                   for n, sw in sweeps.items()) + ".")

# %% [markdown]
# Left: accuracies at the chosen multiplier (the slider starts at 1, the trained rates),
# Meta-SGD beside MAML as trained: the head-free probe before adaptation (A and B),
# on-task (A), off-task (B), and the adapted network's query accuracy with its head (A);
# 95 % CIs over the task pairs. Right: over the whole grid, Meta-SGD's probe change
# on-task and off-task (paired) with 95 % CI bands, and the adapted accuracy (grey, right
# axis); dashed lines are MAML; the dotted line marks the chosen multiplier.

# %% tags=["remove-input"]
table([{"dataset": studies[n].profile.label,
        **{k: fmt(v, "change") if k in ("on - pre (A)", "off - pre (B)") else
           fmt(v) if k == "adapted, with head" else f"{v:g}" for k, v in row.items()}}
       for n, sw in sweeps.items() for row in sweep_table(sw)],
      "The numbers behind the right panels of the sliders (Meta-SGD, means over the task "
      "pairs).", "tab-explorer-sweep")

# %% [markdown]
# ## The live explorer (needs a running kernel)
#
# Every slider recomputes both algorithms on the same task pairs (only the algorithm
# whose setting changed is recomputed; MAML's and Meta-SGD's numbers before adaptation
# are computed once). In the published book the sliders are drawn but do nothing: run
# this notebook in Jupyter to use them. The table shows means ± 95 % CI half-widths.

# %%
if dataset is not None and dataset not in inputs:
    raise ValueError(f"notebook parameter dataset={dataset!r}: choose one of {sorted(inputs)} "
                     "(dataset profiles with finished MAML and Meta-SGD runs; shorter-training "
                     "contrasts are left out), or None")
t0 = time.perf_counter()
explorer = LearningRateExplorer(*inputs[dataset or next(iter(inputs))])
explorer.widget

# %%
explorer.sliders["conv1"].value = 0.5  # one slider move, as a user makes it
explorer.sliders["conv1"].value = 1.0  # and back (served from the cache)
Markdown(f"Building the explorer took {time.perf_counter() - t0:.1f} s; one slider move "
         f"(conv1 to 0.5: Meta-SGD only) recomputed in {explorer.seconds_log[-2]:.1f} s on "
         f"{dev} ({size.n_pairs} task pairs).")

# %% [markdown]
# ## Summary
#
# The sweep shows how much of the probe's (small) change and of the adapted accuracy
# comes from the conv layers' learned rates and their sign, on this profile's runs and
# task pairs (the number of pairs is small: read the CIs). The live explorer extends the
# question to each layer group, to MAML with any rate, and to the number of inner steps.
# At zero multipliers for every body layer the probe cannot change (a check that
# `tests/test_explorer.py` makes exact); anything it shows beyond that is the effect of
# adaptation on the features.
