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
# # What pushes the rates negative
#
# **Question.** Chapter 3 measured *which* layers' rates turn negative. What in the
# meta-objective pushes them there, is MAML's transductive BatchNorm (each query batch
# normalised by its own statistics) part of the cause, and does the sign of the conv
# rates change the features? Three measurements answer in turn: the meta-gradient with
# respect to the rates ({numref}`tab-push-maml`, {numref}`tab-push-msgd`), Meta-SGD
# trained with the query normalised by the support set's statistics
# ({numref}`tab-ablation`), and the probe with the conv rates rescaled from −1 to 1
# ({numref}`fig-sign-sweep`).

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from neglr_utils import get_profile, load_studies
from neglr_utils.display import tables as report
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import plot_sign_sweep, style

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir, seeds=seeds)
style()
studies = load_studies(profile, seeds, root=results_dir)
names = {p: report.short_label(s) for p, s in studies.items()}

# %% [markdown]
# ## The meta-gradient with respect to the rates
#
# For one task the outer loop minimises the query loss after adaptation,
# $\mathcal{L}_Q(\theta_n(\boldsymbol\alpha))$, and moves the rates by
# $-\beta\,\partial\mathcal{L}_Q/\partial\boldsymbol\alpha$: where this gradient is
# positive the rates are pushed *down*, towards negative values. At
# $\boldsymbol\alpha = 0$ the inner loop stands still and, with $n$ steps,
#
# $$
# \frac{\partial \mathcal{L}_Q}{\partial \alpha_j}\bigg|_{\boldsymbol\alpha = 0}
#   = -\,n\; \frac{\partial \mathcal{L}_Q}{\partial \theta_j}\,
#     \frac{\partial \mathcal{L}_S}{\partial \theta_j},
# $$ (rate-grad)
#
# negative where the support and query gradients of parameter $j$ agree and positive
# where they disagree. We measure it per task over 1,000 meta-training tasks, averaged
# over each layer's entries, at $\boldsymbol\alpha = 0$ and at the learned rates (MAML:
# its 0.01 everywhere), with the query normalised transductively (as in training) or with
# the support set's statistics. The study computes it for its first training seed; each
# row gives the mean over the seeds that have it, each seed's t-statistic
# over its tasks, and in how many seeds the push is significant (p < 0.05).

# %%
report.tables(report.table(
    report.mechanism_rows(s, "maml"), f"Where the meta-objective pushes the rates of the "
    f"MAML runs, {names[p]}.", f"tab-push-maml{'' if i == 0 else '-' + p}")
    for i, (p, s) in enumerate(studies.items()))

# %%
report.tables(report.table(
    report.mechanism_rows(s, "meta-sgd"), f"Where the meta-objective pushes the rates of the "
    f"Meta-SGD runs, {names[p]}.", f"tab-push-msgd{'' if i == 0 else '-' + p}")
    for i, (p, s) in enumerate(studies.items()))

# %% [markdown]
# ## Training without transductive BatchNorm
#
# The same Meta-SGD runs trained again with each query image normalised by the adapted
# model's support-set statistics, so no query image sees another (the study's ablation,
# `query_bn="support"`), on the first dataset. Do the conv rates still go negative?

# %%
study = next(iter(studies.values()))
report.table(report.ablation_rows(study), "Mean learned rate per layer "
                               "(± 95 % CI over seeds), Meta-SGD with transductive and with "
                               f"support-set BatchNorm statistics, {names[study.profile]}.",
                               "tab-ablation")

# %% [markdown]
# ## Does the sign of the conv rates change the features?
#
# If negative conv rates are what improves off-task features, flipping their sign should
# turn an off-task gain into a loss, and zeroing them (the conv layers frozen during
# adaptation) should remove it. Each Meta-SGD run is probed with its conv rates
# multiplied by −1, −0.5, 0, 0.5 and 1 (BatchNorm and head rates as learned).

# %% mystnb={"figure": {"name": "fig-sign-sweep", "caption": "On-task (on − pre, task A) and off-task (off − pre, task B) change of the head-free accuracy of Meta-SGD against the multiplier of its conv layers' learned rates, per dataset, with 95 % intervals over training seeds; dotted: as trained."}}
fig, axes = plt.subplots(1, len(studies), figsize=(5.5 * len(studies), 3.6), squeeze=False)
for ax, (p, s) in zip(axes[0], studies.items(), strict=True):
    plot_sign_sweep(report.sign_sweep_series(s, get_profile(p).probe), ax)
    ax.set_title(report.scale_label(s), fontsize=8)
fig.tight_layout()
plt.show()

# %%
Markdown(report.sweep_sentence(studies, PROBES))

# %% [markdown]
# ## Summary
#
# The tables give, per layer, the direction in which the meta-objective pushes the rates
# before any rate is learned and at the learned ones, in both BatchNorm modes; the
# ablation says whether the transductive normalisation is needed for negative conv rates;
# the sign sweep says whether the sign of the conv rates is what moves the off-task
# features. The linear model of the next chapter shows where a negative training rate
# can come from when none of this is at play.
