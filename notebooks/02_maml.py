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
# # MAML: one learned initialisation, one fixed inner rate
#
# **Question.** How well does MAML {cite:p}`finn2017maml` learn our few-shot tasks, and
# what does its inner loop actually do to a task? This chapter reads the MAML runs of
# the study (every seed, both datasets), shows their training curves
# ({numref}`fig-maml-curves`), their meta-test accuracy with the head after adaptation
# (the standard protocol, {numref}`tab-maml-acc`), and the support and query accuracy of
# test tasks at every inner-loop step ({numref}`fig-maml-steps`).

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %% tags=["hide-cell"]
import matplotlib.pyplot as plt

from neglr_utils import get_study, load_run, load_studies, resolve_device
from neglr_utils.analysis.rates import training_curves
from neglr_utils.analysis.trajectory import adaptation_curves
from neglr_utils.display import tables
from neglr_utils.display.format import check, duration, fmt, glue_text, table
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import plot_adaptation, plot_training_curves, show, style, title
from neglr_utils.stats import mean_ci

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir, seeds=seeds)
style()
dev = resolve_device(device)
studies = {n: s for n, s in load_studies(get_study(profile), seeds, root=results_dir).items()
           if s.of("maml")}

# %% [markdown]
# ## The algorithm
#
# Each task $\mathcal{T}_i$ has a support set $S_i$ and a query set $Q_i$. MAML adapts
# the shared initialisation $\theta$ to the task with $n$ steps of gradient descent on
# the support loss, all with one fixed inner rate $\alpha$:
#
# $$
# \theta_i^{(0)} = \theta, \qquad
# \theta_i^{(s+1)} = \theta_i^{(s)} - \alpha \, \nabla_{\theta}
#   \mathcal{L}_{S_i}\big(\theta_i^{(s)}\big), \quad s = 0, \dots, n-1.
# $$ (maml-inner)
#
# The outer loop moves $\theta$ to minimise the query loss *after* adaptation, averaged
# over a meta-batch of $B$ tasks, differentiating through the inner steps (second order):
#
# $$
# \min_\theta \; \frac{1}{B} \sum_{i=1}^{B} \mathcal{L}_{Q_i}\big(\theta_i^{(n)}(\theta)\big).
# $$ (maml-outer)
#
# In `neglr_utils`, {eq}`maml-inner` is `core.meta.adapt` with a scalar rate, the one inner
# loop of training, evaluation and the probe; Meta-SGD (next chapter) only passes a tensor
# per parameter as `rates`. The support gradient comes from `torch.func.grad`, so the
# adapted weights stay differentiable with respect to $\theta$ (second order) and the
# outer loss {eq}`maml-outer` (`core.meta.meta_loss`) is two lines after it:
#
# ```{literalinclude} ../../neglr_utils/core/meta.py
# :pyobject: adapt
# :caption: neglr_utils/core/meta.py
# ```

# %% [markdown]
# ## Training curves

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-maml-curves", "caption": "MAML's accuracy during meta-training, one panel per dataset and one colour per seed: validation accuracy on a fixed list of validation tasks (band: 95 % CI over those tasks) and training accuracy (query accuracy of each meta-batch after adaptation, averaged over the logging window)."}}
fig, axes = plt.subplots(len(studies), 1, figsize=(9, 5.6 * len(studies)), squeeze=False)
for ax, study in zip(axes[:, 0], studies.values(), strict=True):
    runs = study.of("maml")
    plot_training_curves({f"maml seed {r.seed}": training_curves(r.metrics) for r in runs},
                         ax=ax, n_val_episodes=runs[0].config.n_val_episodes)
    title(ax, tables.scale_label(study))
fig.tight_layout()
show()

# %% [markdown]
# ## Meta-test accuracy
#
# The standard protocol: adapt the whole network, head included, on each task of a fixed
# list of 600 test tasks (the same list for every run), then classify their queries.

# %% tags=["remove-input"]
table([{"dataset": s.profile.label, "seed": r.seed, "accuracy": fmt(tables.run_accuracy(r), "pct"),
        "training time": duration(r.wall_time), "device": r.device}
       for s in studies.values() for r in s.of("maml")],
      "MAML's meta-test accuracy with the head after adaptation, per dataset and seed (± 95 % "
      "CI over 600 test tasks). The report's MAML reached about 46 % validation accuracy on "
      "mini-ImageNet 84×84 after 60,000 iterations; other datasets and scales are not "
      "comparable in level.", "tab-maml-acc")

# %% [markdown]
# ## Adaptation in action
#
# What do the inner steps do? We adapt the meta-initialisation of the first seed to 100
# test tasks with MAML's own rule, recording the parameters before each step and after
# the last, and run five steps past the number used in training.

# %% tags=["hide-cell"]
study = next(iter(studies.values()))
run = load_run(study.of("maml")[0].path, device=dev)
curves = adaptation_curves(run, n_tasks=100, extra_steps=5, data_root=data_root, device=dev)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-maml-steps", "caption": "Accuracy of the MAML model on the support images it adapts on and on the held-out query images of the same test tasks, at each inner-loop step (step 0: the meta-initialisation, whose head is not yet fit to the task's labels; band: 95 % CI over tasks). The dotted line marks the number of steps used in meta-training."}}
ax = plot_adaptation({"support (adapted on)": curves.support, "query (held out)": curves.query},
                     n_inner_steps=run.config.meta.n_inner_steps)
title(ax, tables.scale_label(study, "100 test tasks"))
show()

# %% [markdown]
# Before adaptation the query accuracy is {glue:text}`q-pre` (chance: {glue:text}`chance`):
# the meta-initialisation's head does not know the task's labels. After the
# {glue:text}`n-steps` trained steps it is {glue:text}`q-trained`, with the support
# accuracy at {glue:text}`s-trained`; {glue:text}`n-extra` more steps change the query
# accuracy to {glue:text}`q-last`. **The trained steps carry the accuracy; further steps
# add little.**

# %% tags=["hide-cell"]
n = run.config.meta.n_inner_steps
glue_text("q-pre", fmt(curves.query[0].mean(), "pct"))
glue_text("chance", fmt(1 / run.config.n_way, "pct", 0))
glue_text("n-steps", str(n))
glue_text("q-trained", fmt(mean_ci(curves.query[n]), "pct"))
glue_text("s-trained", fmt(curves.support[n].mean(), "pct"))
glue_text("n-extra", str(curves.query.shape[0] - 1 - n))
glue_text("q-last", fmt(curves.query[-1].mean(), "pct"))

# %% tags=["remove-input"]
check(curves.query[n].mean() > curves.query[0].mean() + 0.1
      and abs(curves.query[-1].mean() - curves.query[n].mean()) < 0.05,
      "the trained steps raise the query accuracy by more than 10 points and further steps "
      "move it by less than 5", get_study(profile))

# %% [markdown]
# ## Summary
#
# MAML's whole task-specific computation is a few gradient steps with one rate. Starting
# from the meta-initialisation, whose head predicts chance, those steps fit the support
# set and carry most of the accuracy to the queries. The next chapter lets every
# parameter learn its own rate, of either sign.
