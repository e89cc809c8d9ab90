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
# # Meta-SGD and negative learning rates
#
# **Question.** Meta-SGD {cite:p}`li2017metasgd` learns one inner rate per parameter,
# without a sign constraint. Does it learn negative rates in the convolutional layers and
# positive ones in the head, as the report's Table 1 and Figure 6 show
# {cite:p}`starshak2021negative`? Table 1 below sets our learned rates beside the
# report's, Figure 5 shows their distribution per layer (the report's Figure 6), Figure 6
# how they moved during training, and the last table compares the accuracy of MAML,
# Meta-SGD and Meta-SGD with rates constrained to be positive.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
runs_dir = "runs"
seeds = [0]

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from neglr_utils import (
    REPORT_TABLE1,
    REPORT_VAL_ACC,
    effective_rates,
    ensure_runs,
    load_run,
    rate_table,
    rates_by_layer,
    report,
    resolve_device,
    run_rate_evolution,
)
from neglr_utils.plots import plot_rate_densities, plot_rate_evolution, style

style()
pd.set_option("display.max_colwidth", None)
dev = resolve_device(device)

# %% [markdown]
# ## The algorithm
#
# Meta-SGD replaces MAML's scalar rate by a tensor $\boldsymbol\alpha$ of the shape of
# $\theta$, applied elementwise, and learns it with $\theta$ in the outer loop:
#
# $$
# \theta_i^{(s+1)} = \theta_i^{(s)} - \boldsymbol\alpha \odot \nabla_\theta
#   \mathcal{L}_{S_i}\big(\theta_i^{(s)}\big), \qquad
# \min_{\theta,\,\boldsymbol\alpha} \; \frac{1}{B}\sum_{i=1}^{B}
#   \mathcal{L}_{Q_i}\big(\theta_i^{(n)}(\theta, \boldsymbol\alpha)\big).
# $$ (metasgd)
#
# A negative entry of $\boldsymbol\alpha$ moves its parameter *up* the support-loss
# gradient. Our rates start at MAML's inner rate (the report does not state its
# initialisation), so every negative rate below was learned. The ablation
# `meta-sgd-positive` learns $\log\boldsymbol\alpha$ instead, so its rates stay positive.

# %%
paths = ensure_runs(profile, ("maml", "meta-sgd", "meta-sgd-positive"), seeds,
                    runs_dir=runs_dir, data_root=data_root, device=device, progress=False)
runs = {algo: load_run(paths[(algo, seeds[0])], device=dev)
        for algo in ("maml", "meta-sgd", "meta-sgd-positive")}
ms = runs["meta-sgd"]
status = report.run_status(ms.path)
rates = effective_rates(ms.params, ms.rates, ms.config.meta)

# %% [markdown]
# ## Table 1: the learned rates per layer
#
# Layers as in the report: `conv1` to `conv4` pool each block's convolution weight and
# bias, `logits` the head. The BatchNorm scales and shifts also get rates here; the report
# does not list them.

# %%
table1 = pd.DataFrame(rate_table(rates, per_tensor=False)).set_index("layer")
table1["report mean"] = [REPORT_TABLE1.get(k, (None, None))[0] for k in table1.index]
table1["report std"] = [REPORT_TABLE1.get(k, (None, None))[1] for k in table1.index]
table1 = table1[["n", "mean", "std", "frac_neg", "q05", "q50", "q95", "report mean",
                 "report std"]]
display(Markdown(f"Ours: {report.scale_label(status)}. Report: mini-ImageNet, 60,000 "
                 "iterations."))
table1.round(4)

# %% [markdown]
# **Table 1.** Learned Meta-SGD inner rates per layer: number of rates, mean, standard
# deviation, fraction negative and the 5/50/95 % quantiles, beside the report's mean and
# standard deviation (— where the report gives none).

# %%
conv = table1.loc[[k for k in REPORT_TABLE1 if k.startswith("conv")]]
neg = int((conv["mean"] < 0).sum())
frac_neg = float((conv["frac_neg"] * conv["n"]).sum() / conv["n"].sum())
logits_mean = table1.loc["logits", "mean"]
Markdown(
    f"**{neg} of {len(conv)}** convolutional layers end with a negative mean rate "
    f"(the report: 4 of 4); the head's mean rate is {logits_mean:+.4f} (the report: "
    f"{REPORT_TABLE1['logits'][0]:+.3f}). "
    + ("This agrees with the report's Table 1 in sign." if neg == len(conv) and logits_mean > 0
       else "This **differs** from the report's Table 1, where every conv layer's mean rate "
            "is negative and the head's positive.")
    + f" Across the conv layers, {100 * frac_neg:.1f} % "
    f"of the conv rates are negative. Scale: {report.scale_label(status)}."
)

# %% [markdown]
# ## The distribution of the rates

# %%
by_layer = rates_by_layer(rates)
ax = plot_rate_densities({k: by_layer[k] for k in REPORT_TABLE1})
ax.set_title(report.scale_label(status))
plt.show()

# %% [markdown]
# **Figure 5.** Density of the learned Meta-SGD inner rates per layer (the report's
# Figure 6), one step histogram per layer over shared bins; the dotted line marks zero and
# the legend gives each layer's number of rates and mean. All rates started at the same
# value (MAML's inner rate), so any spread was learned.

# %% [markdown]
# ## How the rates move during training
#
# `train.py` logs each tensor's rate mean, standard deviation and fraction negative at
# every validation; pooled into layers they show when the conv rates cross zero.

# %%
evolution = [r for r in run_rate_evolution(ms) if r["layer"] in REPORT_TABLE1]
ax = plot_rate_evolution(evolution)
ax.set_title(report.scale_label(status))
plt.show()

# %% [markdown]
# **Figure 6.** Mean learned inner rate per layer over meta-training, with a band of
# ±1 standard deviation of the layer's rates (the spread itself, not an uncertainty of
# the mean); dotted: zero.

# %% [markdown]
# ## Rates constrained to be positive
#
# The `meta-sgd-positive` run learns the logarithm of every rate, so no rate can turn
# negative. If negative rates are what make Meta-SGD's features different, this run
# should behave like MAML in the next chapter's probe.

# %%
pos = runs["meta-sgd-positive"]
pos_table = pd.DataFrame(rate_table(effective_rates(pos.params, pos.rates, pos.config.meta),
                                    per_tensor=False)).set_index("layer")
display(Markdown(f"Scale: {report.scale_label(report.run_status(pos.path))}."))
pos_table[["n", "mean", "std", "frac_neg", "q05", "q50", "q95"]].round(4)

# %% [markdown]
# **Table 2.** Learned inner rates of Meta-SGD with positive rates (`exp` of the learned
# log-rates), per layer.

# %% [markdown]
# ## Accuracy of the three algorithms
#
# Meta-test accuracy with the head after adaptation on the same fixed test tasks for all
# runs (cached in each run's `eval-test.json`), beside the report's *validation* accuracy
# on mini-ImageNet. The levels are not comparable across datasets; the order is.

# %%
evals = {algo: report.ensure_eval(paths[(algo, seeds[0])], data_root=data_root, device=device)
         for algo in runs}
acc_table = pd.DataFrame([
    {"algorithm": algo, "accuracy (ours)": report.fmt_ci(e["acc"], e["ci95"], 1, 100, " %"),
     "scale (ours)": report.scale_label(report.run_status(paths[(algo, seeds[0])]),
                                        f"{e['n_episodes']} test tasks"),
     "report (mini-ImageNet val., 60,000 it.)":
         f"{100 * REPORT_VAL_ACC[algo]:.0f} %" if algo in REPORT_VAL_ACC else "not reported"}
    for algo, e in evals.items()]).set_index("algorithm")
acc_table

# %%
diff = evals["meta-sgd"]["acc"] - evals["maml"]["acc"]
half = (evals["meta-sgd"]["ci95"] ** 2 + evals["maml"]["ci95"] ** 2) ** 0.5
same = (diff > 0) == (REPORT_VAL_ACC["meta-sgd"] > REPORT_VAL_ACC["maml"])
Markdown(
    f"Meta-SGD minus MAML: **{100 * diff:+.1f} %** (± {100 * half:.1f} %, tasks independent "
    f"between runs) on {evals['maml']['n_episodes']} test tasks; the report: "
    f"{100 * (REPORT_VAL_ACC['meta-sgd'] - REPORT_VAL_ACC['maml']):+.0f} %. "
    + ("Same order as the report." if same else "The **opposite** order to the report.")
    + (" The difference is within the interval, i.e. not resolved at this scale."
       if abs(diff) < half else "")
)

# %% [markdown]
# ## At paper scale
#
# The report's own setting (mini-ImageNet, 60,000 meta-iterations) needs a GPU; it is
# trained in chunks by `scripts/paper_chunk.py` and committed under `results/paper/`.
# Table 1 and Figure 6 at paper scale appear here once a Meta-SGD run has finished.
# This table is read from those run directories when the page is executed.

# %%
pd.DataFrame(report.paper_progress_table(report.PAPER_DIR)).set_index("run")

# %% [markdown]
# ## Summary
#
# Table 1 and Figures 5–6 show which sign the learned rates take per layer at this
# scale, and the computed statements above say whether that matches the report. Whether
# the sign of the rates changes the *features* is the next chapter's question: the probe
# compares MAML, Meta-SGD, Meta-SGD with its conv rates flipped or zeroed, and the
# positive-rate Meta-SGD.
