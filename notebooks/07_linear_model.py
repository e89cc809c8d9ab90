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
# # An exact model: negative training rates in one-step MAML on linear regression
#
# **Question.** In the simplest model where MAML can be solved exactly, which inner rate
# should meta-training use, and does an outer loop that learns the rate (Meta-SGD) find it?
# {cite:t}`bernacchia2021negative` studied one-step MAML on mixed linear regression and
# found that the inner rate used during meta-training, $\alpha_t$, that minimises the test
# loss after adaptation is negative in his settings, while the best rate for adaptation at
# test time, $\alpha_r$, is positive. This chapter derives that model from scratch, solves
# meta-training exactly, and answers in three figures: the test loss against $\alpha_t$ in
# an under- and an over-parameterised regime ({numref}`fig-linear-loss`); the optimal
# $\alpha_t$ and what it gains as the ratio of parameters to meta-training data varies
# ({numref}`fig-linear-ratio`); and what the outer loop can see of the rate
# ({numref}`fig-linear-outer`), with a table of where Meta-SGD's learned rates go
# ({numref}`tab-linear-learned`). Everything here is exact or sampled in seconds on one
# CPU core; nothing is trained on images.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %%
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown

from neglr_utils import get_study
from neglr_utils.display.format import check, fmt, glue_text, markdown_table
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import show
from neglr_utils.linear.model import (
    LinearTask,
    MetaSGDConfig,
    MetaTrainSet,
    Regime,
    best_adaptation_rate,
    best_tied_rate,
    compare_rates,
    learn_rates,
    loss_curve,
    ratio_scan,
    sample_sets,
    tied_test_loss,
    train_profile_loss,
)
from neglr_utils.linear.plots import (
    plot_gains,
    plot_loss_curve,
    plot_objective_panels,
    plot_optimal_rates,
    regime_title,
)
from neglr_utils.linear.text import find_learned, learned_rows, regime_rows

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir, seeds=seeds)
smoke = get_study(profile).quick  # a smaller grid for continuous integration
seed = 0 if seeds is None else seeds[0]

# %% [markdown]
# ## The model
#
# A task $i$ is a weight vector; its data are Gaussian inputs and noisy linear labels:
#
# $$
# \begin{aligned}
# &w_i \sim \mathcal{N}\!\big(w_0, \tfrac{\nu^2}{p} I_p\big), \qquad
#   x \sim \mathcal{N}(0, I_p), \\
# &y = w_i^\top x + \sigma \varepsilon, \qquad \varepsilon \sim \mathcal{N}(0, 1),
# \end{aligned}
# $$ (lin-model)
#
# so that $\mathbb{E}\|w_i - w_0\|^2 = \nu^2$ whatever the dimension $p$. The loss of
# weights $w$ on $n$ samples $X \in \mathbb{R}^{n \times p}$, $y \in \mathbb{R}^n$ is
# $\mathcal{L}(w; X, y) = \|Xw - y\|^2 / (2n)$, and one inner step from the initialisation
# $\omega$ on a support set $(X^t_i, y^t_i)$ of $n_t$ samples is
#
# $$
# \begin{aligned}
# w_i' &= \omega - \alpha \nabla \mathcal{L}(\omega; X^t_i, y^t_i)
#       = (I - \alpha C_i)\, \omega + \alpha h_i, \\
# C_i &= \tfrac{1}{n_t} X^{t\top}_i X^t_i, \qquad h_i = \tfrac{1}{n_t} X^{t\top}_i y^t_i .
# \end{aligned}
# $$ (lin-step)
#
# Meta-training on $m$ tasks scores each adapted $w_i'$ on its $n_v$ query samples
# $(X^v_i, y^v_i)$. Because $w_i'$ is affine in $\omega$, the objective is a least-squares
# problem:
#
# $$
# \begin{aligned}
# \hat{\mathcal{L}}(\omega, \alpha_t) &= \frac{1}{m} \sum_{i=1}^m
#   \mathcal{L}(w_i'; X^v_i, y^v_i) = \frac{1}{2 m n_v} \big\| M \omega - r \big\|^2, \\
# M_i &= X^v_i (I - \alpha_t C_i), \qquad r_i = y^v_i - \alpha_t X^v_i h_i,
# \end{aligned}
# $$ (lin-meta)
#
# with $M$ and $r$ the $m n_v$ stacked rows. Its minimiser is the linear solve
# $\omega^*(\alpha_t) = M^+ r$: unique when $m n_v \ge p$, and otherwise the
# minimum-norm interpolating solution, which is where gradient descent from $\omega = 0$
# converges (`solve_omega`; a test checks both against gradient descent). Only the $m n_v$
# query rows enter $M$, so the model is over-parameterised exactly when $m n_v < p$: the
# ratio $p / (m n_v)$ is the axis of this chapter.
#
# At test, a new task is adapted on $n_r$ samples with rate $\alpha_r$ and scored on fresh
# samples. With $C = X^\top X / n_r$ the adapted error is
# $w' - w = (I - \alpha_r C)(\omega - w) + \alpha_r \sigma X^\top \varepsilon / n_r$. The
# only non-trivial moment is $\mathbb{E}[C^2] = \frac{n_r + p + 1}{n_r} I$ (of the $n_r^2$
# terms $x_k x_k^\top x_l x_l^\top$, the $n_r(n_r - 1)$ with $k \ne l$ average to $I$ and
# the $n_r$ with $k = l$ to $\mathbb{E}[\|x\|^2 x x^\top] = (p + 2) I$; a test checks the
# general $\mathbb{E}[C D C] = \frac{n_r + 1}{n_r} D + \frac{\operatorname{tr} D}{n_r} I$ used
# for one rate per coordinate). Averaging over tasks, support sets and test points,
#
# $$
# \begin{aligned}
# \mathbb{E}\, \mathcal{L}_{\text{test}}(\omega, \alpha_r) &= \frac{1}{2} \Big[
#   q(\alpha_r) \big( \|\omega - w_0\|^2 + \nu^2 \big)
#   + \sigma^2 \big( 1 + \tfrac{p}{n_r} \alpha_r^2 \big) \Big], \\
# q(\alpha) &= (1 - \alpha)^2 + \frac{p + 1}{n_r} \alpha^2 ,
# \end{aligned}
# $$ (lin-test)
#
# which a test checks against simulated tasks (within a 99 % interval). Two consequences
# follow at once. The best test rate is
#
# $$
# \alpha_r^* = \frac{D + \nu^2}{(D + \nu^2)\big(1 + \frac{p + 1}{n_r}\big)
#   + \sigma^2 \frac{p}{n_r}} > 0, \qquad D = \|\omega - w_0\|^2 ,
# $$ (lin-alpha-r)
#
# always positive. And the training rate enters {eq}`lin-test` only through
# $D(\alpha_t) = \|\omega^*(\alpha_t) - w_0\|^2$, multiplied by $q(\alpha_r) > 0$: the best
# $\alpha_t$ is the one whose solution of {eq}`lin-meta` lands closest to $w_0$, and it is
# the same for every fixed $\alpha_r$. A fixed positive $\alpha_r$ only scales the curves
# below.

# %% [markdown]
# ## Two regimes
#
# One task distribution, with label noise as large as the spread of the tasks and a shared
# component $w_0$ of the same size, so that both the noise and the initialisation matter.
# Two sizes of the meta-training set put the model on either side of the threshold
# $m n_v = p$: many tasks (under-parameterised) and a handful (over-parameterised; there
# even all meta-training samples together, support included, are fewer than the
# parameters, so the regimes are on either side whichever count one takes). The test rate
# $\alpha_r$ is fixed, positive and close to the best one of {eq}`lin-alpha-r`. Every
# number below is an exact expectation over test tasks, averaged over independently
# sampled meta-training sets; the intervals are over those sets. {numref}`tab-linear-regimes`
# lists the sizes.

# %%
task = LinearTask(p=50, nu=1.0, sigma=1.0, w0_norm=1.0)
under = Regime("under-parameterised", task, MetaTrainSet(m=100, n_t=10, n_v=5), n_r=20, alpha_r=0.2)
over = Regime("over-parameterised", task, MetaTrainSet(m=3, n_t=10, n_v=5), n_r=20, alpha_r=0.2)
regimes = (under, over)
n_sets = 6 if smoke else 30  # meta-training sets per regime
rates = np.linspace(-3.0, 1.5, 19 if smoke else 46)  # the plotted grid of rates
search = np.linspace(-3.0, 1.5, 10)  # the optimum: best of this grid, refined by Brent

# %%
Markdown(markdown_table(regime_rows(regimes, n_sets), (
    "The two regimes: $p$ parameters; $m$ meta-training tasks of $n_t$ support and $n_v$ query "
    "samples; test tasks of $n_r$ samples adapted with the rate $\\alpha_r$; the number of "
    "meta-training sets sampled."), "tab-linear-regimes"))

# %% [markdown]
# The tasks have p = {glue:text}`lin-p` parameters, ν = {glue:text}`lin-nu`,
# σ = {glue:text}`lin-sigma` and ‖w₀‖ = {glue:text}`lin-w0`; each meta-training task has
# {glue:text}`lin-nt` support and {glue:text}`lin-nv` query samples. With
# {glue:text}`lin-m-under` tasks there are {glue:text}`lin-rows-under` query rows for the
# {glue:text}`lin-p` parameters, with {glue:text}`lin-m-over` only
# {glue:text}`lin-rows-over` (and {glue:text}`lin-all-over` samples in all). A test task
# has {glue:text}`lin-nr` samples; for an initialisation at $w_0$, {eq}`lin-alpha-r` gives
# $\alpha_r^*$ = {glue:text}`lin-alpha-r-star`, and we adapt with $\alpha_r$ =
# {glue:text}`lin-alpha-r`.

# %% tags=["hide-cell"]
for key, value in {
        "lin-p": task.p, "lin-nu": f"{task.nu:g}", "lin-sigma": f"{task.sigma:g}",
        "lin-w0": f"{task.w0_norm:g}", "lin-nt": under.train.n_t, "lin-nv": under.train.n_v,
        "lin-m-under": under.train.m, "lin-rows-under": under.train.n_query,
        "lin-m-over": over.train.m, "lin-rows-over": over.train.n_query,
        "lin-all-over": over.train.m * (over.train.n_t + over.train.n_v), "lin-nr": under.n_r,
        "lin-alpha-r-star": fmt(best_adaptation_rate(task, under.n_r), "rate", 3),
        "lin-alpha-r": f"{under.alpha_r:g}"}.items():
    glue_text(key, str(value))

# %% [markdown]
# ## Test loss against the training rate

# %%
sets = {r.name: sample_sets(r, n_sets, seed) for r in regimes}
curves = {r.name: loss_curve(r, sets[r.name], rates) for r in regimes}
best = {r.name: compare_rates(r, sets[r.name], search) for r in regimes}

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-linear-loss", "caption": "Expected test loss after one adaptation step with the fixed positive rate $\\alpha_r$, for the initialisation $\\omega^*(\\alpha_t)$ meta-trained exactly with training rate $\\alpha_t$, in the under-parameterised (left) and the over-parameterised regime (right); mean over meta-training sets, band: 95 % CI over those sets. The band is wider than the differences between rates because it holds the variation from one meta-training set to another, which all rates share (the same sets are used at every rate); the paired comparisons below remove it. The star marks the optimum; dotted: no inner loop in training ($\\alpha_t = 0$); dashed: training with the test rate ($\\alpha_t = \\alpha_r$)."}}
fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
for ax, r in zip(axes, regimes, strict=True):
    plot_loss_curve(curves[r.name], best[r.name], ax=ax)
    ax.set_title(regime_title(r))
show()

# %% [markdown]
# In both regimes the optimal training rate is **negative**: $\alpha_t^*$ =
# {glue:text}`lin-opt-under` with many tasks and {glue:text}`lin-opt-over` with few. It
# lowers the expected test loss from {glue:text}`lin-zero-under` and
# {glue:text}`lin-zero-over` at $\alpha_t = 0$ by {glue:text}`lin-gain0-under` and
# {glue:text}`lin-gain0-over`, and the loss at $\alpha_t = \alpha_r$ by
# {glue:text}`lin-gainr-under` and {glue:text}`lin-gainr-over` (means with 95 % intervals
# of the paired differences over {glue:text}`lin-sets` meta-training sets). Training with
# the positive test rate is **worse than no inner loop at all**, by
# {glue:text}`lin-r0-under` and {glue:text}`lin-r0-over`.

# %% tags=["hide-cell"]
def ci(iv):
    return f"{fmt(iv.mean, 'prob', 4)} ({fmt(iv.low, 'prob', 4)} to {fmt(iv.high, 'prob', 4)})"


for r, key in ((under, "under"), (over, "over")):
    c = best[r.name]
    glue_text(f"lin-opt-{key}", fmt(c.alpha_t_opt, "rate", 2))
    glue_text(f"lin-zero-{key}", fmt(c.loss_zero.mean, "prob", 3))
    glue_text(f"lin-gain0-{key}", ci(c.gain_vs_zero))
    glue_text(f"lin-gainr-{key}", ci(c.gain_vs_alpha_r))
    glue_text(f"lin-r0-{key}", ci(c.alpha_r_vs_zero))
glue_text("lin-sets", str(n_sets))

# %% tags=["remove-input"]
check(all(best[r.name].alpha_t_opt < 0 and best[r.name].alpha_r_vs_zero.mean > 0
          for r in regimes),
      "the optimal training rate is negative in both regimes, and training with the test "
      "rate is worse than no inner loop", get_study(profile))

# %% [markdown]
# Why would a step *up* the support loss help? At $\omega = w_0$ the residual of
# {eq}`lin-meta` is $M_i (w_i - w_0) + \sigma \varepsilon^v_i - \alpha_t \sigma X^v_i
# X^{t\top}_i \varepsilon^t_i / n_t$: the spread of the tasks enters through $M_i$, the
# label noise of the queries does not. A negative rate makes
# $M_i = X^v_i (I + |\alpha_t| C_i)$ larger in every direction, so the query noise weighs
# less in $\omega^*$ (the support noise grows with $|\alpha_t|$ too, but it is averaged
# over $n_t$ samples); a positive rate shrinks $M_i$ and, near the inverse eigenvalues of
# $C_i$, cancels it in some directions, which amplifies the noise. This reading predicts
# that the advantage of a negative rate fades with the label noise, which
# {numref}`fig-linear-ratio` tests. For very large $|\alpha_t|$ of either sign,
# $\omega^*(\alpha_t)$ tends to one and the same limit (the step then dominates $w_i'$; a
# test checks it), so the sign matters at moderate rates only.

# %% [markdown]
# ## The optimal training rate against the amount of meta-training data
#
# We now vary the number of meta-training tasks $m$ at fixed $p$, $n_t$, $n_v$, which
# moves $p / (m n_v)$ through the interpolation threshold $m n_v = p$, for the label noise
# above and for a smaller one. Few tasks give noisier solutions, so the number of
# meta-training sets grows as $m$ falls (`ratio_scan`).

# %%
ms = [3, 8, 25, 200] if smoke else [2, 3, 4, 6, 8, 12, 16, 25, 40, 70, 120, 200]
noise_levels = (1.0, 0.25)
scans = {rf"$\sigma = {s:g}$": ratio_scan(replace(under, task=replace(task, sigma=s)), ms,
                                          n_tasks=200 if smoke else 400, seed=seed, grid=search)
         for s in noise_levels}

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-linear-ratio", "caption": "Left: the training rate $\\alpha_t^*$ that minimises the mean expected test loss (adaptation with $\\alpha_r$ fixed), against parameters per query sample $p / (m n_v)$, for two levels of label noise (open markers: the optimum lies at an end of the searched interval, and the true one may lie beyond). Right: the loss it saves over $\\alpha_t = 0$ (solid) and over $\\alpha_t = \\alpha_r$ (dashed), with 95 % intervals of the paired differences over meta-training sets (symmetric-log axis, linear near zero). The dotted line is the interpolation threshold, where the loss of every rate peaks and the intervals widen (the losses there are heavy-tailed, so those intervals are rough)."}}
fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
plot_optimal_rates(scans, ax=axes[0])
plot_gains(scans, ax=axes[1])
show()

# %% [markdown]
# With the larger label noise $\alpha_t^*$ is negative at {glue:text}`lin-scan-neg-1` of
# the ratios (from {glue:text}`lin-scan-min-1` to {glue:text}`lin-scan-max-1`, searched
# over {glue:text}`lin-grid`); its gain over $\alpha_t = 0$ excludes zero at
# {glue:text}`lin-scan-sig-1` of them and is largest, {glue:text}`lin-scan-top-1`, at
# p / (m n_v) = {glue:text}`lin-scan-at-1`. With the smaller noise it is negative at
# {glue:text}`lin-scan-neg-2` of the ratios and its gain excludes zero at
# {glue:text}`lin-scan-sig-2`: **the advantage of a negative training rate fades with the
# label noise**, as the reading above predicts.

# %% tags=["hide-cell"]
for i, rows in enumerate(scans.values(), 1):
    opt = np.array([r.alpha_t_opt for r in rows])
    top = max(rows, key=lambda r: r.gain_vs_zero.mean)
    glue_text(f"lin-scan-neg-{i}", f"{int(np.sum(opt < 0))} of {len(rows)}")
    glue_text(f"lin-scan-min-{i}", fmt(opt.min(), "rate", 2))
    glue_text(f"lin-scan-max-{i}", fmt(opt.max(), "rate", 2))
    glue_text(f"lin-scan-sig-{i}", str(sum(r.gain_vs_zero.low > 0 for r in rows)))
    glue_text(f"lin-scan-top-{i}", fmt(top.gain_vs_zero.mean, "prob", 3))
    glue_text(f"lin-scan-at-{i}", f"{top.regime.ratio:.2g}")
glue_text("lin-grid", f"[{search[0]:g}, {search[-1]:g}]")

# %% tags=["remove-input"]
noisy, quiet = (list(v) for v in scans.values())
check(sum(r.gain_vs_zero.low > 0 for r in quiet) < sum(r.gain_vs_zero.low > 0 for r in noisy),
      "fewer ratios show a gain of a negative training rate with the smaller label noise",
      get_study(profile))

# %% [markdown]
# ## What the outer loop sees: Meta-SGD in the same model
#
# Meta-SGD {cite:p}`li2017metasgd` learns the inner rate with the outer loop, by gradient
# descent on $\hat{\mathcal{L}}(\omega, \alpha)$ of {eq}`lin-meta`, and uses the learned
# rate at test as well (*tied*: $\alpha_r = \alpha_t = \alpha$). We run that outer loop
# exactly (full-batch gradient descent on $(\omega, \alpha)$ with closed-form gradients,
# from $\omega = 0$), with one scalar rate and with one rate per coordinate, starting the
# rate at $+\alpha_r$ and at $-\alpha_r$. *Untied* uses the same learned $\omega$ but
# adapts with the fixed $\alpha_r$; the outer objective does not contain $\alpha_r$, so
# the two variants learn the same $(\omega, \alpha)$ and differ only at test.
# {numref}`fig-linear-outer` shows why the outer loop cannot find $\alpha_t^*$: the
# function of $\alpha$ that it minimises, $\min_\omega \hat{\mathcal{L}}(\omega, \alpha)$,
# against the two test losses.

# %%
n_meta = 3 if smoke else 10  # meta-training sets for the Meta-SGD fits (the first ones)
few = {r.name: sets[r.name][:n_meta] for r in regimes}
learned = [learn_rates(r, few[r.name], MetaSGDConfig(per_coordinate=per_coord, alpha_init=start))
           for r in regimes for per_coord in (False, True) for start in (r.alpha_r, -r.alpha_r)]
tied_best = {r.name: best_tied_rate(r, few[r.name], search) for r in regimes}
few_best = {r.name: compare_rates(r, few[r.name], search) for r in regimes}
scalar = {r.name: find_learned(learned, r, False, r.alpha_r) for r in regimes}  # from +alpha_r

# %%
profiles = {r.name: loss_curve(r, few[r.name], rates, train_profile_loss) for r in regimes}
untied = {r.name: loss_curve(r, few[r.name], rates) for r in regimes}
tied = {r.name: loss_curve(r, few[r.name], rates, tied_test_loss) for r in regimes}

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-linear-outer", "caption": "What the outer loop sees, for the first meta-training sets of each regime (bands: 95 % CI over them): the meta-training loss after the best initialisation for each rate, which is what Meta-SGD's outer loop descends; the expected test loss with the fixed $\\alpha_r$ (untied) and with the same rate at test (tied, which rises steeply away from small positive rates). Vertical lines: where the learned scalar rate converged (mean over sets), the optimal training rate for the untied test loss, and the best tied rate, with their values in each panel's legend."}}
plot_objective_panels({regime_title(r): (
    {"meta-training loss, minimised over $\\omega$": profiles[r.name],
     "test loss, untied ($\\alpha_r$ fixed)": untied[r.name],
     "test loss, tied ($\\alpha_r = \\alpha$)": tied[r.name]},
    {"learned scalar rate (from $+\\alpha_r$)": scalar[r.name].alpha.mean,
     "optimal training rate (untied)": few_best[r.name].alpha_t_opt,
     "optimal tied rate": tied_best[r.name]},
    untied[r.name]) for r in regimes})
show()

# %% [markdown]
# Under-parameterised, the meta-training loss is lowest at {glue:text}`lin-obj-low` (the
# grid minimum), far from the optimal training rate {glue:text}`lin-opt-under`.
# Over-parameterised, it is at most {glue:text}`lin-obj-over` over the whole grid: **the
# initialisation interpolates the query sets at every rate**, so the objective carries no
# information about $\alpha$.

# %% tags=["hide-cell"]
low = float(profiles[under.name].alphas[np.argmin(profiles[under.name].mean())])
glue_text("lin-obj-low", fmt(low, "rate", 2))
glue_text("lin-obj-over", f"{profiles[over.name].losses.max():.1e}")

# %% tags=["remove-input"]
check(profiles[over.name].losses.max() < 1e-6,
      "over-parameterised, the meta-training loss is zero (below 1e-6) at every rate",
      get_study(profile))

# %%
rows = learned_rows(learned)
fit_cols = ("regime", "rates", "start")  # the columns that name a fit, in both tables
rates_cols = fit_cols + ("learned rate (mean)", "range", "negative coordinates")
Markdown(markdown_table([{c: r[c] for c in rates_cols} for r in rows], (
    "Where Meta-SGD's learned rates go, per regime, kind of rate and starting rate: the learned "
    "rate (for per-coordinate rates, its mean over coordinates; ± 95 % CI over meta-training "
    "sets), its range over sets and coordinates, and the share of negative coordinates."),
    "tab-linear-learned") + "\n\n" + markdown_table(
    [{c: v for c, v in r.items() if c in fit_cols or c not in rates_cols} for r in rows], (
        "The same fits: the meta-training loss at convergence, and the expected test loss "
        "adapting with the learned rate (tied) or with the fixed $\\alpha_r$ (untied)."),
    "tab-linear-learned-loss"))

# %% [markdown]
# Under-parameterised, the learned scalar rate converges to {glue:text}`lin-ms-plus` from
# $+\alpha_r$ and to {glue:text}`lin-ms-minus` from $-\alpha_r$: **positive**. With
# unlimited tasks it would reach the best adaptation rate for {glue:text}`lin-nt`-sample
# support sets ({eq}`lin-alpha-r` with $n_r = n_t$: {glue:text}`lin-ms-limit`; a test
# checks this limit), because the meta-training loss estimates the tied test loss with
# $n_t$ samples. It is neither the optimal training rate, {glue:text}`lin-opt-under`, nor
# the best tied rate, {glue:text}`lin-ms-tied`. Per coordinate, the learned rates spread
# from {glue:text}`lin-ms-lo` to {glue:text}`lin-ms-hi`, {glue:text}`lin-ms-neg` of them
# negative, although no coordinate differs from another in this model: the extra rates
# lower the meta-training loss to {glue:text}`lin-ms-coord-train` (scalar:
# {glue:text}`lin-ms-train`) and change the tied test loss to
# {glue:text}`lin-ms-coord-test` (scalar: {glue:text}`lin-ms-test`). Over-parameterised,
# the scalar rate ends at {glue:text}`lin-ms-over-plus` when it starts at $+\alpha_r$ and
# at {glue:text}`lin-ms-over-minus` when it starts at $-\alpha_r$: wherever the descent on
# $\omega$ reaches zero loss first.

# %% tags=["hide-cell"]
plus = find_learned(learned, under, False, under.alpha_r)
minus = find_learned(learned, under, False, -under.alpha_r)
coord = find_learned(learned, under, True, under.alpha_r)
for key, value in {
        "lin-ms-plus": fmt(plus.alpha, "rate", 3), "lin-ms-minus": fmt(minus.alpha, "rate", 3),
        "lin-ms-limit": fmt(best_adaptation_rate(task, under.train.n_t), "rate", 3),
        "lin-ms-tied": fmt(tied_best[under.name], "rate", 3),
        "lin-ms-lo": fmt(coord.alpha_range[0], "rate", 2),
        "lin-ms-hi": fmt(coord.alpha_range[1], "rate", 2),
        "lin-ms-neg": fmt(coord.frac_negative.mean, "pct", 0),
        "lin-ms-coord-train": fmt(coord.train_loss, "prob", 3),
        "lin-ms-train": fmt(plus.train_loss, "prob", 3),
        "lin-ms-coord-test": fmt(coord.test_tied, "prob", 3),
        "lin-ms-test": fmt(plus.test_tied, "prob", 3),
        "lin-ms-over-plus": fmt(find_learned(learned, over, False, over.alpha_r).alpha.mean,
                                "rate", 3),
        "lin-ms-over-minus": fmt(find_learned(learned, over, False, -over.alpha_r).alpha.mean,
                                 "rate", 3)}.items():
    glue_text(key, value)

# %% tags=["remove-input"]
check(plus.alpha.mean > 0 and minus.alpha.mean > 0,
      "with many tasks the learned scalar rate is positive from either start", get_study(profile))

# %% [markdown]
# ## Summary
#
# In one-step MAML on mixed linear regression, meta-training is a least-squares problem
# whose solution $\omega^*(\alpha_t)$ is exact, and the expected test loss after
# adaptation has the closed form {eq}`lin-test`. From these: the best test rate is always
# positive; the best training rate is the one whose $\omega^*$ lands nearest the mean task
# $w_0$, whatever the (scalar) test rate; very large training rates of either sign give
# the same solution; and when $m n_v < p$ the meta-training loss is zero at every rate.
# The computed results of this chapter: the optimal training rate is negative in both
# regimes ({glue:text}`lin-opt-under` and {glue:text}`lin-opt-over`) and saves test loss
# over no inner loop and over training with the test rate; with the larger label noise it
# is negative at {glue:text}`lin-scan-neg-1` of the ratios p / (m n_v); Meta-SGD's scalar
# rate, learned from the meta-training loss, converges to a positive rate with many tasks
# ({glue:text}`lin-ms-plus`) and with few to a value set by where it starts
# ({glue:text}`lin-ms-over-plus` and {glue:text}`lin-ms-over-minus`).

# %% [markdown]
# ## Against the Conv-4 results
#
# The Meta-SGD chapter measures the rates that Meta-SGD learns in each layer of a Conv-4,
# and the probe chapter asks whether negative rates change the features. This model makes
# three predictions that can be held against them, in general terms. First, a negative
# *training* rate is about how well the initialisation generalises to new tasks, not about
# how well it adapts: it helps when the meta-training tasks are few relative to the
# parameters and their labels are noisy, and it goes with a *positive* rate at test.
# Second, a rate learned from the meta-training loss and tied between training and test is
# pulled, given enough tasks, towards the best *adaptation* rate, which is positive; the
# negative learned rates in {numref}`tab-linear-learned` come from over-fitting
# (per-coordinate rates of either sign on coordinates that are all alike) or from where the
# descent stopped on a flat, interpolating objective, not from the optimum of {eq}`lin-test`. So if a Conv-4
# learns negative rates in some layers, this model alone does not explain them as the
# beneficial negative training rates of {cite:t}`bernacchia2021negative`; and if its rates
# stay positive, that is what this model expects of a tied, learned rate. Third, the sign
# of a training rate matters at moderate rates only. What the model cannot say is as
# important: it is linear and has no layers, so it cannot tell which layer's rate should
# be negative, nor whether a negative rate makes features "universal" (it has no
# features); its tasks are regressions with Gaussian inputs rather than few-shot
# classification with a head to fit; it takes one inner step rather than several; and its
# per-coordinate rates have no structure to find. The no-inner-loop argument of ANIL
# {cite:p}`raghu2020anil` corresponds here to $\alpha_t = 0$ in training; in both regimes
# above it does better than training with the test rate and worse than the negative
# optimum, by the margins computed there.
#
# ## References
#
# {cite:t}`bernacchia2021negative` (the model and its random-matrix analysis),
# {cite:t}`finn2017maml` (MAML), {cite:t}`li2017metasgd` (Meta-SGD),
# {cite:t}`raghu2020anil` (ANIL), {cite:t}`starshak2021negative` (the report reproduced
# in this book).
