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
# {cite:p}`starshak2021negative`? {numref}`tab-table1-omniglot` and
# {numref}`tab-table1-mini` set our learned rates, over three training seeds, beside the
# report's; {numref}`fig-rates-omniglot` and {numref}`fig-rates-mini` show how each layer's
# mean rate moved during training; {numref}`fig-curve-omniglot` and
# {numref}`fig-curve-mini` are the longer runs from which the numbers of iterations were
# chosen.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from neglr_utils import get_profile, load_run, load_studies, rates_by_layer
from neglr_utils.analysis import published
from neglr_utils.analysis.results import read_curve
from neglr_utils.display import tables as report
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import (
    plot_rate_curve,
    plot_rate_densities,
    plot_rate_evolution,
    plot_sweep_metric,
    style,
)
from neglr_utils.runs.profiles import CPU
from neglr_utils.runs.sweep import collect, load_sweep

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir, seeds=seeds)
style()
studies = load_studies(profile, seeds, root=results_dir)
names = {p: report.short_label(s) for p, s in studies.items()}

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
# gradient. Our rates start at MAML's inner rate, 0.01 as in the report (which does not
# state its initialisation), so Meta-SGD starts as MAML and every negative rate below was
# learned. The ablation `meta-sgd-positive` learns $\log\boldsymbol\alpha$, so its
# rates stay positive.

# %% [markdown]
# ## Table 1: the learned rates per layer, over seeds
#
# Layers as in the report: `conv1` to `conv4` pool each block's convolution weight and
# bias, `logits` the head; the BatchNorm rates, which the report does not list, are
# rows of their own. The mean is the mean over seeds of each seed's layer mean, with a
# 95 % t-interval over seeds; std and fraction negative are averaged over seeds.

# %%
report.table(report.table1_display(studies["cpu"] if "cpu" in studies
                                                     else next(iter(studies.values()))),
                               f"Learned Meta-SGD inner rates, {names.get('cpu', '')}, "
                               "beside the report's Table 1 (mini-ImageNet 84×84).",
                               "tab-table1-omniglot", index="layer")

# %%
report.table(report.table1_display(studies["cpu-mini"])
                               if "cpu-mini" in studies else [],
                               f"Learned Meta-SGD inner rates, {names.get('cpu-mini', '')}, "
                               "beside the report's Table 1.", "tab-table1-mini",
                               index="layer")

# %%
Markdown("\n\n".join(report.layers_sentence(s) for s in studies.values()))

# %% [markdown]
# ## How the rates move during training
#
# `train.py` logs each tensor's rate mean, standard deviation and fraction negative at
# every validation; pooled into layers they show when each layer's mean rate crosses zero.

# %% mystnb={"figure": {"name": "fig-rates-omniglot", "caption": "Mean learned inner rate per layer over meta-training on Omniglot, one line per training seed; the band is ±1 standard deviation of the layer's rates (their spread, not an uncertainty of the mean). The report's Figure 6 shows the final distribution only."}}
study = next(iter(studies.values()))
fig, _ = plot_rate_evolution({r.seed: r.evolution for r in study.of("meta-sgd")})
fig.suptitle(report.scale_label(study), fontsize=8, y=1.02)
plt.show()

# %% mystnb={"figure": {"name": "fig-rates-mini", "caption": "The same for mini-ImageNet at 32×32."}}
mini = studies.get("cpu-mini")
fig, _ = plot_rate_evolution({r.seed: r.evolution for r in mini.of("meta-sgd")} if mini else {})
fig.suptitle(report.scale_label(mini) if mini else f"no mini-ImageNet runs at profile {profile}",
             fontsize=8, y=1.02)
plt.show()

# %%
report.table(
    [{"dataset": names[p], **row} for p, s in studies.items()
     for row in report.first_negative_rows(s)],
    "The first logged iteration from which each layer's mean rate stays negative, per "
    "seed.", "tab-first-negative")

# %% [markdown]
# ## How long to train: the measured curve
#
# The number of iterations of each profile was chosen from one longer Meta-SGD run per
# dataset (seed 0; its metrics log is committed in `results/cpu/rate-curve/`): long enough
# that every layer's sign has held for a few thousand iterations after the last zero
# crossing seen on the curve. The dotted line marks the profile's length.

# %%
curve_root = CPU.root() / "rate-curve"

# %% mystnb={"figure": {"name": "fig-curve-omniglot", "caption": "Mean learned rate per layer of the longer Omniglot run the cpu profile's length was chosen from (Meta-SGD, seed 0); dotted: the number of iterations of the profile."}}
plot_rate_curve(read_curve(curve_root / "omniglot"), get_profile("cpu").run.n_iterations)
plt.show()

# %% mystnb={"figure": {"name": "fig-curve-mini", "caption": "The same for mini-ImageNet at 32×32 (profile cpu-mini)."}}
plot_rate_curve(read_curve(curve_root / "mini-imagenet"), get_profile("cpu-mini").run.n_iterations)
plt.show()

# %% [markdown]
# ## The distribution of the rates (the report's Figure 6)

# %% mystnb={"figure": {"name": "fig-densities", "caption": "Density of the learned Meta-SGD inner rates per layer at the end of training (seed 0 of the first dataset), one step histogram per layer over shared bins; the dotted line marks zero and the legend gives each layer's number of rates and mean. All rates started at 0.01, so the spread was learned (the report's Figure 6)."}}
first = study.of("meta-sgd")[0]
by_layer = rates_by_layer(load_run(first.path).effective_rates())
ax = plot_rate_densities({k: by_layer[k] for k in published.TABLE1_LAYERS})
ax.set_title(report.scale_label(study), fontsize=8)
plt.show()

# %% [markdown]
# ## Rates constrained to be positive, and accuracy
#
# `meta-sgd-positive` learns the logarithm of every rate, so no rate can turn negative.
# If negative rates are what make Meta-SGD's features different, this variant should
# behave like MAML in the next chapter's probe.

# %%
report.tables(report.table(
    report.table1_display(s, "meta-sgd-positive"),
    f"Learned rates of positive-rate Meta-SGD, {names[p]}.",
    f"tab-positive-{p}", index="layer") for p, s in studies.items())

# %%
report.tables(report.table(
    report.accuracy_rows(s), f"Meta-test accuracy with the head after adaptation, {names[p]} "
    "(600 test tasks; ± 95 % CI over seeds), beside the report's validation accuracy.",
    f"tab-accuracy-{p}") for p, s in studies.items())

# %% [markdown]
# ## How many inner steps? (the report's future-work question 2)
#
# The sweep `sweeps/inner-steps.toml` trains Meta-SGD in the Omniglot study regime with 1,
# 3 and 5 inner steps, two seeds each (the 5-step runs are the study's own); the figure
# shows the settings whose runs have finished, with the number of seeds under each, and
# its table is `results/cpu/sweeps/inner-steps/collect.json`. With two seeds a 95 %
# t-interval is wide (its t-factor is 12.7): read the points, not the bars.

# %% mystnb={"figure": {"name": "fig-inner-steps", "caption": "Mean learned rate per layer of Meta-SGD (Omniglot 28×28, 32 filters, 5,000 iterations) against the number of inner steps it was trained with; 95 % intervals over the seeds finished at each point."}}
steps_sweep = load_sweep("sweeps/inner-steps.toml")
x, series = report.sweep_series(collect(steps_sweep), "n_inner_steps")
ax = plot_sweep_metric(x, series, xlabel="inner steps (training and test)",
                       ylabel="mean learned inner rate")
plt.show()

# %%
Markdown(report.steps_sentence(collect(steps_sweep)))

# %% [markdown]
# ## At paper scale
#
# The report's own setting (mini-ImageNet 84×84, 60,000 meta-iterations) needs a GPU; it
# is trained in chunks by `scripts/paper_chunk.py` and committed under `results/paper/`.

# %%
report.table(report.paper_progress_rows(), "Progress of the paper-scale "
                               "protocol in results/paper/.", "tab-paper-progress-03")

# %% [markdown]
# ## Summary
#
# The tables and figures above give, per dataset and over three seeds, which sign the
# learned rates take in each layer and when they got there; the computed statements say
# whether that matches the report. The inner-steps sweep shows how the number of inner
# steps changes them, and the next chapter whether the sign changes the features.
