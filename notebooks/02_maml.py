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
# what does its inner loop actually do to a task? This chapter trains (or reuses) the
# MAML run of the chosen profile, shows its training curves (Figure 3), its meta-test
# accuracy with the head after adaptation (the standard protocol), and, in Figure 4,
# the support and query accuracy of test tasks at every inner-loop step.
#
# Training is the expensive part (the time this run took is in the table below; the
# `paper` profile needs a GPU). `ensure_runs` trains only what is missing and every later
# chapter reuses the same run.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
runs_dir = "runs"
seeds = [0]

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Markdown

from neglr_utils import (
    EpisodeSet,
    adapt,
    effective_rates,
    ensure_runs,
    forward,
    load_run,
    plot_adaptation,
    report,
    resolve_device,
    training_curves,
)
from neglr_utils.data import load_split
from neglr_utils.meta import accuracy
from neglr_utils.plots import plot_training_curves, style
from neglr_utils.train import TEST_SEED

style()
dev = resolve_device(device)

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
# In `neglr_utils`, {eq}`maml-inner` is `meta.adapt` with a scalar rate and
# {eq}`maml-outer` is `meta.meta_loss`; Meta-SGD (next chapter) only replaces $\alpha$ by
# a learned tensor per parameter.

# %%
paths = ensure_runs(profile, ("maml",), seeds, runs_dir=runs_dir, data_root=data_root,
                    device=device, progress=False)
run = load_run(paths[("maml", seeds[0])], device=dev)
cfg = run.config
status = report.run_status(run.path)
pd.Series({"dataset": cfg.dataset, "n_way": cfg.n_way, "k_shot": cfg.k_shot,
           "k_query": cfg.k_query, "meta_batch_size": cfg.meta_batch_size,
           "n_inner_steps": cfg.meta.n_inner_steps, "inner_lr": cfg.meta.inner_lr,
           "meta_lr": cfg.meta_lr, "n_iterations": cfg.n_iterations,
           "training time": report.fmt_duration(status["wall_time"]),
           "device": status["device"]}, name=f"MAML run, seed {cfg.seed}").to_frame()

# %% [markdown]
# ## Training curves

# %%
curves = {f"maml-seed{s}": training_curves(load_run(p).metrics)
          for (a, s), p in paths.items()}
ax = plot_training_curves(curves, n_val_episodes=cfg.n_val_episodes)
ax.set_title(report.scale_label(status))
plt.show()

# %% [markdown]
# **Figure 3.** MAML's accuracy during meta-training: validation accuracy on a fixed list
# of validation tasks (band: 95 % CI over those tasks) and training accuracy (the query
# accuracy of each meta-batch after adaptation, averaged over the logging window). The
# title gives the scale: dataset, profile, iterations and seed.

# %% [markdown]
# ## Meta-test accuracy
#
# The standard protocol: adapt the whole network, head included, on each task of a fixed
# list of test tasks (`report.N_TEST_EPISODES` of them, the same list for every run), then
# classify their queries. The result is cached in the run's `eval-test.json`.

# %%
evals = {s: report.ensure_eval(p, data_root=data_root, device=device)
         for (a, s), p in paths.items()}
pd.DataFrame([{"seed": s, "accuracy": report.fmt_ci(e["acc"], e["ci95"], 1, 100, " %"),
               "test tasks": e["n_episodes"], "query images per class": e["k_query"],
               "scale": report.scale_label(status)} for s, e in evals.items()]).set_index("seed")

# %%
acc = evals[seeds[0]]
Markdown(
    f"MAML reaches **{100 * acc['acc']:.1f} % ± {100 * acc['ci95']:.1f} %** on "
    f"{acc['n_episodes']} {cfg.n_way}-way {cfg.k_shot}-shot {cfg.dataset} test tasks "
    f"({report.scale_label(status)}). The report's MAML reached about "
    f"{100 * report.REPORT_VAL_ACC['maml']:.0f} % *validation* accuracy on mini-ImageNet after "
    f"60,000 iterations; the two numbers come from different datasets and scales and are "
    f"not comparable in level."
)

# %% [markdown]
# ## Adaptation in action
#
# What do the inner steps do? We adapt the meta-initialisation to a batch of test tasks
# with MAML's own rule and record the parameters before each step and after the last
# (`adapt(..., trajectory=...)`), running past the number of steps used in training to
# see whether more steps help or hurt.

# %%
n_tasks, extra_steps = 100, 5
test_split = load_split(cfg.dataset, "test", data_root, image_size=cfg.image_size or None)
ep = EpisodeSet(test_split, cfg.n_way, cfg.k_shot, cfg.k_query, n_tasks, seed=TEST_SEED,
                device=dev).get(0, n_tasks)
trajectory = []
adapt(run.params, ep.x_support, ep.y_support, effective_rates(run.params, run.rates, cfg.meta),
      cfg.meta.n_inner_steps + extra_steps, create_graph=False, trajectory=trajectory)
with torch.no_grad():
    support = torch.stack([accuracy(forward(p, ep.x_support), ep.y_support) for p in trajectory])
    query = torch.stack([accuracy(forward(p, ep.x_query), ep.y_query) for p in trajectory])

# %%
ax = plot_adaptation({"support (adapted on)": support.cpu(), "query (held out)": query.cpu()},
                     n_inner_steps=cfg.meta.n_inner_steps)
ax.set_title(report.scale_label(status, f"{n_tasks} test tasks"))
plt.show()

# %% [markdown]
# **Figure 4.** Accuracy of the MAML model on the support images it adapts on and on the
# held-out query images of the same test tasks, at each inner-loop step (step 0: the
# meta-initialisation, whose head is not yet fit to the task's labels; band: 95 % CI over
# tasks). The dotted line marks the number of steps used in meta-training.

# %%
n = cfg.meta.n_inner_steps
Markdown(
    f"Before adaptation the query accuracy is {100 * query[0].mean():.1f} % "
    f"(chance: {100 / cfg.n_way:.0f} %); after the {n} trained steps it is "
    f"{100 * query[n].mean():.1f} %, with the support accuracy at {100 * support[n].mean():.1f} %. "
    f"{extra_steps} more steps change the query accuracy to {100 * query[-1].mean():.1f} %."
)

# %% [markdown]
# ## Summary
#
# MAML's whole task-specific computation is a few gradient steps with one rate. Starting
# from the meta-initialisation, whose head predicts chance, those steps fit the support
# set and carry most of the accuracy to the queries. The next chapter lets every parameter
# learn its own rate, of either sign.
