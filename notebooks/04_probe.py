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
# # The feature probe: do negative rates learn universal features?
#
# **Question.** The report's central claim {cite:p}`starshak2021negative`: after adapting
# to one task, a Meta-SGD network's *features* (the conv body without its head) classify
# *other* tasks better than before, while MAML's classify them worse. Which regime does
# each dataset put the probe in ({numref}`fig-regime`)? Is the report's Figure 7 there
# ({numref}`fig-fig7`)? Does Meta-SGD differ from MAML with seeds as the unit
# ({numref}`fig-endpoint`)? And what is the report's own test worth, asked of two models of
# the *same* algorithm ({numref}`fig-calibration`)?

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %% tags=["hide-cell"]
import dataclasses

import matplotlib.pyplot as plt
from IPython.display import Markdown

from neglr_utils import get_study, load_studies, verdict
from neglr_utils.analysis import published
from neglr_utils.analysis.calibration import MISCALIBRATED, calibrate, model_effect, reach
from neglr_utils.analysis.endpoints import (
    adaptation_part,
    change_over_seeds,
    figure7,
    seed_changes,
    seed_deltas,
)
from neglr_utils.analysis.scorecard import delta as delta_finding
from neglr_utils.analysis.scorecard import head_free_beats_maml, report_form_independent
from neglr_utils.analysis.variance import (
    decompose,
    probability_of_improvement,
    seeds_needed,
)
from neglr_utils.display import tables
from neglr_utils.display.format import (
    ALGO_NAMES,
    check,
    fmt,
    glue_text,
    table,
    table_group,
    transposed,
)
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import (
    figure7_panels,
    plot_calibration,
    plot_endpoint,
    regime_panels,
    show,
    style,
    title,
)

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir,
                 seeds=seeds)
style()
book = get_study(profile)
studies = {name: s for name, s in load_studies(book, seeds, root=results_dir).items()
           if s.probes}
labels = {name: s.profile.label for name, s in studies.items()}
mini_main = next((s for s in studies.values()  # the primary test; None in a smoke book
                  if s.dataset == "mini-imagenet" and s.profile.trainable), None)

# %% [markdown]
# ## The probe
#
# Per probe iteration two tasks $A$ and $B$ are drawn from the test split. The head is
# removed: with $f_\theta$ the conv body, a query $x$ of a task with one support image
# $s_c$ per class $c$ is assigned the class of the most cosine-similar support embedding,
#
# $$
# \begin{aligned}
# \hat y_\theta(x) &= \arg\max_c \frac{f_\theta(x) \cdot f_\theta(s_c)}
#   {\lVert f_\theta(x)\rVert\,\lVert f_\theta(s_c)\rVert}, \\
# \mathrm{acc}_\theta(T) &= \frac{1}{|Q_T|}\sum_{(x, y) \in Q_T}
#   \mathbb{1}\big[\hat y_\theta(x) = y\big].
# \end{aligned}
# $$ (probe)
#
# This is the NIL classifier of {cite:t}`raghu2020anil`. With $\theta$ the
# meta-initialisation and $\theta'_A$ the weights after adapting to $A$'s support set with
# the run's own inner rule, four accuracies per pair: `pre_a` $=\mathrm{acc}_\theta(A)$,
# `on_a` $=\mathrm{acc}_{\theta'_A}(A)$, `off_b` $=\mathrm{acc}_{\theta'_A}(B)$ and, our
# addition, `pre_b` $=\mathrm{acc}_\theta(B)$, so that the off-task change is measured on
# $B$'s own images. The primary endpoint compares the two algorithms pair by pair:
#
# $$
# \Delta_i = \big(\text{off}_B - \text{pre}_B\big)_i^{\text{Meta-SGD}}
#   - \big(\text{off}_B - \text{pre}_B\big)_i^{\text{MAML}} .
# $$ (delta)
#
# Every run of a dataset is probed on the same task pairs, so {eq}`delta` is paired; each
# training seed gives one mean $\bar\Delta_s$, and the verdict rests on the seed means.

# %% tags=["remove-input"]
table([{"dataset": labels[n], "task pairs": f"{s.profile.probe.n_iterations:,}",
        "split": s.profile.probe.split, "queries per class": s.profile.probe.k_query,
        "off-task B": "class-disjoint from A" if s.profile.probe.disjoint else "independent"}
       for n, s in studies.items()], "Probe settings per dataset.", "tab-probe-settings")

# %% [markdown]
# ## Two regimes
#
# What does the inner loop do to the features? {numref}`fig-regime` shows, per dataset,
# the on-task change (on − pre, task A) and the off-task change (off − pre, task B) of the
# head-free accuracy. On Omniglot the on-task change is large for every algorithm and the
# off-task one positive on average (the smallest of these means is {glue:text}`omni-on`;
# MAML's and Meta-SGD's off-task intervals over three seeds include zero): the last conv
# layer and the head move (chapter 5), a *rapid-learning* regime. On mini-ImageNet every change stays within
# {glue:text}`mini-span` of zero, as in the report's Figure 7: *feature reuse*
# {cite:p}`raghu2020anil`. The report's claim is about small changes of barely
# moving features, so mini-ImageNet is its test; on Omniglot "better on other tasks" is
# a by-product of learning fast.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-regime", "caption": "What adaptation does to the head-free accuracy, per dataset and algorithm: on-task change (on − pre on task A, circles) and off-task change (off − pre on task B, squares), 95 % intervals over training seeds (with one seed, over task pairs). Last panel: the report's values (its off-task change is off − pre on task A; no intervals published). The y-scales differ by two orders of magnitude: that is the point."}}
regime = {n: {a: {"on": change_over_seeds(s.probes, s.profile.probe, a, which="on"),
                  "off": change_over_seeds(s.probes, s.profile.probe, a, which="off")}
              for a in ("maml", "meta-sgd", "meta-sgd-positive")} for n, s in studies.items()}
regime_panels({tables.scale_label(studies[n]): d for n, d in regime.items()}, ncols=2)
show()

# %% tags=["hide-cell"]
omni = [v for n, d in regime.items() if studies[n].dataset == "omniglot"
        for a in ("maml", "meta-sgd") for v in d[a].values() if v is not None]
mini = [v for n, d in regime.items() if studies[n].dataset == "mini-imagenet"
        for a in ("maml", "meta-sgd") for v in d[a].values() if v is not None]
glue_text("omni-on", fmt(min((v.mean for v in omni), default=float("nan")), "change"))
glue_text("mini-span", fmt(max((abs(v.mean) for v in mini), default=float("nan")), "prob"))

# %% tags=["remove-input"]
check(bool(omni) and min(v.mean for v in omni) > 0.01 and
      bool(mini) and max(abs(v.mean) for v in mini) < 0.01,
      "every Omniglot change of MAML and Meta-SGD is above +0.01 and every mini-ImageNet "
      "change within 0.01 of zero", book)

# %% [markdown]
# ## The report's Figure 7, redrawn
#
# The report's Meta-SGD features start above MAML's before adaptation (its
# "Meta-SGD outperforms MAML in this setting as well": {glue:text}`rep-pre-diff`); on
# mini-ImageNet ours give Meta-SGD − MAML = {glue:text}`mini-pre-diff`
# ({glue:text}`mini-pre-status`).

# %% tags=["hide-cell"]
fig7 = published.FIGURE7
glue_text("rep-pre-diff", fmt(fig7["meta-sgd"]["pre"] - fig7["maml"]["pre"], "change"))
pre_finding = None if mini_main is None else head_free_beats_maml(mini_main,
                                                                  mini_main.profile.probe)
glue_text("mini-pre-diff", "not probed" if pre_finding is None else
          tables.finding_text(pre_finding, "change"))
glue_text("mini-pre-status", "—" if pre_finding is None else tables.status_text(pre_finding))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-fig7", "caption": "Head-free cosine-prototype accuracy before adaptation, on the task adapted to and on a different task, per dataset, with 95 % intervals over training seeds (with one seed, over task pairs); last panel: the report's values (mini-ImageNet, 40,000 task pairs, no intervals published). The y-axes differ: the datasets differ, so the shape across the three conditions is what compares. The intervals are of each accuracy over seeds; the changes between conditions are paired within each model and much tighter (the figure above). With three seeds a 95 % t-interval is wide (t-factor 4.3) and can run past an accuracy's bound of 1; it is drawn as computed."}}
panels = {tables.scale_label(s): {a: figure7(s.probes, s.profile.probe, a)
                                  for a in ("maml", "meta-sgd")} for s in studies.values()}
units = {tables.scale_label(s): "seeds" if len(s.of("meta-sgd")) > 1 else "task pairs"
         for s in studies.values()}
figure7_panels(panels, units, ncols=2)
show()

# %% tags=["remove-input"]
table_group(table(
    tables.changes_rows(s, s.profile.probe), f"Every mean and change of the probe, "
    f"{labels[n]}: means over seeds of the per-seed means, ± 95 % t-interval over seeds "
    "(with one seed, over task pairs).", f"tab-changes-{n}", index="quantity")
    for n, s in studies.items())

# %% [markdown]
# ## The verdict: Meta-SGD against MAML, seeds as the unit
#
# Each seed's models give one $\bar\Delta_s$ with an interval over its task pairs; the
# interval over seeds asks whether the *algorithm* makes the difference. Grey is the
# equivalence margin, ± the report's own effect ({glue:text}`effect`): the equivalence
# test (TOST at α = 0.05, i.e. the 90 % interval over seeds inside the margin) would then
# exclude an effect as large as the report's; the 95 % interval drawn is the stricter
# reading.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-endpoint", "caption": "The primary endpoint Δ per dataset: each seed's mean with its 95 % interval over task pairs, and the mean over seeds with its 95 % t-interval over seeds; grey: the equivalence margin (± the report's effect); dashed: the report's effect."}}
verdicts = {n: verdict(s.probes, s.profile.probe) for n, s in studies.items()}
fig, axes = plt.subplots(len(verdicts), 1, figsize=(7, 0.6 + 4.2 * len(verdicts)),
                         squeeze=False)
for ax, (n, v) in zip(axes[:, 0], verdicts.items(), strict=True):
    plot_endpoint(*tables.endpoint_data(v), v.margin, ax, report_effect=published.effect())
    title(ax, tables.scale_label(studies[n]))
fig.tight_layout()
show()

# %% tags=["hide-cell"]
glue_text("effect", fmt(published.effect(), "change"))
glue_text("mini-status", "not probed yet" if mini_main is None else
          tables.status_text(delta_finding(mini_main, mini_main.profile.probe)))

# %% tags=["remove-input"]
table_group(table(
    tables.family_rows(v), f"The tests shown together for {labels[n]}, with Holm-adjusted "
    "p-values over this family: per seed (unit: task pairs) and over seeds.",
    f"tab-family-{n}", index="test") for n, v in verdicts.items())

# %% [markdown]
# ## The report's test, calibrated
#
# The report compared *one* Meta-SGD model with *one* MAML model by a t-test over task
# pairs. Two trained models differ even when only their seed differs; a test over the task
# pairs of one pair of models cannot tell that difference from the algorithm's. The
# placebo: the same test between every two models of a dataset, on our endpoint's
# statistic (off − pre on task B, {numref}`fig-calibration`) and on the report's own,
# off − on, its "relative changes between on-task and off-task performance"
# ({numref}`tab-calibration` gives both). If the test measured the
# algorithm, two models of the *same* algorithm would fall below the report's p about
# 0.044 % of the time. On Omniglot {glue:text}`omni-placebo` same-algorithm pairs fall
# below it (the pairs share models, so this share describes, it does not test). **The
# report's p = 0.00044 is therefore no evidence that the algorithms differ**: two trained
# networks of one algorithm differ by that much. On mini-ImageNet,
# {glue:text}`mini-placebo`.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-calibration", "caption": "The placebo: p-values of the report's paired t-test over task pairs (off − pre on task B, compared between two models pair by pair) for every two models of a dataset with two seeds of an algorithm, grey when both are of the same algorithm (MAML or Meta-SGD, only the seed differs), red when they are of different algorithms; dashed: the report's p."}}
cals = {n: calibrate(s.probes, s.profile.probe, published.FIGURE7_P,
                     algos=("maml", "meta-sgd")) for n, s in studies.items()}
shown = {n: c for n, c in cals.items() if c.placebo} or cals  # a placebo needs two seeds
fig, axes = plt.subplots(len(shown), 1, figsize=(7, 0.8 + 3.0 * len(shown)), squeeze=False)
for ax, (n, c) in zip(axes[:, 0], shown.items(), strict=True):
    plot_calibration(c, ax)
    title(ax, tables.scale_label(studies[n]))
fig.tight_layout()
show()

# %% tags=["remove-input"]
report_form = {n: calibrate(s.probes, s.profile.probe, published.FIGURE7_P, form="off − on",
                            algos=("maml", "meta-sgd")) for n, s in studies.items()}
table(tables.calibration_rows([(labels[n], c) for n, c in cals.items()]
                              + [(labels[n], c) for n, c in report_form.items()]),
      "The report's test between every two models, in both forms of its statistic (off − "
      "pre on task B; the report's off − on), by kind of pair.", "tab-calibration")

# %% tags=["hide-cell"]
omni_cal = next(c for n, c in cals.items() if studies[n].dataset == "omniglot")
glue_text("omni-placebo", f"{omni_cal.n_placebo_below} of {len(omni_cal.placebo)}")
glue_text("mini-placebo", "no model is probed yet" if mini_main is None else
          tables.placebo_text(cals[mini_main.name], len(mini_main.profile.seeds)))

# %% tags=["remove-input"]
check(omni_cal.calibrated is False,
      "more than 5 % of Omniglot's same-algorithm pairs fall below the report's p", book)

# %% [markdown]
# How far can the test see? With $n$ task pairs and a per-pair standard deviation $s$ of
# the difference between two models, p falls below the report's 0.00044 only when the
# mean difference exceeds $t_{0.99978,\,n-1}\, s/\sqrt{n}$. Whether the models of one
# algorithm differ beyond task-pair noise at all is a two-way analysis of variance of
# each model's per-pair statistic (models × task pairs): the model effect's standard
# deviation $\sigma_m$ with its 95 % interval, and its F-test. With the two models'
# mean difference $\sim N(0, 2\sigma_m^2 + 2\sigma_e^2/n)$ this projects the share of
# same-algorithm pairs that the report's test would put below its p at its 40,000 task
# pairs (the table below; $\sigma_e$ is one model's per-pair noise).
#
# On mini-ImageNet our {glue:text}`n-pairs` task pairs reach the report's p only for a
# difference of {glue:text}`mini-detect` (off − pre_B), {glue:text}`mini-detect-ratio`
# times the report's whole effect: here the test cannot see a difference between two
# models as small as the report's. Whether our models of one algorithm differ at all:
# {glue:text}`mini-effect`. So at the report's 40,000 task pairs anything between the
# nominal 0.044 % and {glue:text}`mini-share-high` of same-algorithm pairs could fall
# below its p: **our data cannot exclude that the report's test, at its own number of
# pairs, separates two models of the same algorithm**, as it does on Omniglot at ours.

# %% tags=["remove-input"]
reaches = {n: (cals[n], report_form[n]) for n in studies}
effects = {n: {c.form: [e for a in ("maml", "meta-sgd")
                        if (e := model_effect(s.probes, s.profile.probe, a, c.form))]
               for c in reaches[n]} for n, s in studies.items()}
reach_table = tables.reach_rows([(labels[n], c) for n, pair in reaches.items() for c in pair],
                                published.FIGURE7_N)
effect_table = tables.model_effect_rows(
    [(labels[n], e) for n, by_form in effects.items() for es in by_form.values() for e in es],
    published.FIGURE7_P, published.FIGURE7_N)
Markdown("No dataset has two models of one algorithm probed yet: the reach of the report's "
         "test between them is unknown.") if not reach_table else table_group([
    table(reach_table, "What the report's test can see between two models: the smallest "
          "mean difference whose p falls below the report's at our number of task pairs and "
          "at the report's, beside the largest difference between two of our models of one "
          "algorithm.", "tab-reach"),
    table(effect_table, "Do the models of one algorithm differ beyond task-pair noise? Two-way "
          "ANOVA (models × task pairs): F-test p and the model effect's sd σ_m with its 95 % "
          "interval; the share of pairs of its models projected below the report's p at its "
          "number of task pairs, at σ_m's estimate [and at its interval's ends].",
          "tab-model-effect")])

# %% tags=["hide-cell"]
mini_effects = [] if mini_main is None else effects[mini_main.name]["off − pre_b"]
ours = None if mini_main is None else reach(reaches[mini_main.name][0])
glue_text("n-pairs", "—" if ours is None else f"{ours.n_pairs:,}")
glue_text("mini-detect", "—" if ours is None else f"{ours.detectable:.4f}")
glue_text("mini-detect-ratio", "—" if ours is None else
          f"{ours.detectable / abs(published.effect()):.1f}")
glue_text("mini-effect", "; ".join(
    f"{ALGO_NAMES[e.algo]}: F-test p = {fmt(e.p, 'p')}, σ_m = {e.sd_model:.4f} (95 % CI "
    f"{e.sd_model_low:.4f} to {e.sd_model_high:.4f})" for e in mini_effects) or "—")
share_high = max((e.share_below(published.FIGURE7_P, published.FIGURE7_N, e.sd_model_high)
                  for e in mini_effects), default=float("nan"))
glue_text("mini-share-high", fmt(share_high, "pct", 1))

# %% tags=["remove-input"]
check(ours is not None and ours.misses(published.effect())
      and all(e.p > 0.05 for e in mini_effects) and share_high > MISCALIBRATED,
      "on mini-ImageNet only a difference larger than the report's effect reaches its p at "
      "our number of task pairs, no algorithm's models differ beyond task-pair noise (F-test "
      "p > 0.05), and the interval of σ_m allows more than 5 % of same-algorithm pairs below "
      "the report's p at 40,000 task pairs", book)

# %% [markdown]
# ## How many seeds? Where the variance lives
#
# In a one-way random-effects model of the per-pair $\Delta_{si}$ with the seed as the
# group, the between-seed standard deviation says how much another training seed moves
# $\bar\Delta_s$ and the within-seed one how much another task pair moves $\Delta_{si}$;
# the intraclass correlation (ICC) is the share of the first. From the spread of
# $\bar\Delta_s$ over seeds follow the seeds per algorithm a t-test over seeds needs to
# detect the report's effect with 80 % power (α = 0.05), and those a TOST needs to show
# that Δ lies within ± the report's effect when it is 0 {cite:p}`bouthillier2021accounting`,
# each at the spread measured on that dataset: Omniglot's changes are two orders of
# magnitude larger than mini-ImageNet's, so its seed counts say how hard the question is
# *there*, not on mini-ImageNet.

# %% tags=["remove-input"]
rows, improvements, needed = [], {}, {}
for n, s in studies.items():
    groups = seed_deltas(s.probes, s.profile.probe)
    if len(groups) >= 2:
        parts = decompose(list(groups.values()))
        needed[n] = seeds_needed(parts, published.effect())
        rows.append(tables.variance_row(labels[n], parts, needed[n]))
    x = list(seed_changes(s.probes, s.profile.probe, "meta-sgd").values())
    y = list(seed_changes(s.probes, s.profile.probe, "maml").values())
    if len(x) >= 2 and len(y) >= 2:
        improvements[n] = probability_of_improvement(x, y)
table(transposed(rows, "dataset"), "Δ's variance over seeds and task pairs, and the seeds "
      "per algorithm each question needs (80 % power, α = 0.05) at the spread of that "
      "dataset.", "tab-variance", index="quantity") \
    if rows else \
    Markdown("No dataset has two seeds of both algorithms probed yet: the spread over seeds "
             "is unknown.")

# %% [markdown]
# Part of the spread of $\bar\Delta_s$ over seeds is task-pair noise,
# $\sigma_w/\sqrt{n}$, and only that part shrinks when each model is probed on more
# pairs, which costs little beside training it: $\mathrm{sd}(\bar\Delta_s) =
# \sqrt{\sigma_b^2 + \sigma_w^2/n}$. On mini-ImageNet {glue:text}`more-pairs`. With four
# or five seeds $\sigma_b$ itself is uncertain (its estimate can be zero), so these counts
# are estimates at the measured spread, not bounds. They plan a study that reaches each
# answer with 80 % power; a smaller study can still reach one, and a result already in hand
# stands: on mini-ImageNet Δ is {glue:text}`mini-status` with the seeds we have
# ({numref}`fig-endpoint`).

# %% tags=["hide-cell"]
mini_need = None if mini_main is None else needed.get(mini_main.name)
glue_text("more-pairs", "two seeds of each algorithm are not probed yet" if mini_need is None
          else f"probing {mini_need.factor}× the task pairs would cut the seeds per algorithm "
          f"needed to detect the report's effect from {tables.about(mini_need.detect)} to "
          f"{tables.about(mini_need.detect_more_pairs)}; at the estimated seed effect no number "
          f"of pairs brings it below {tables.about(mini_need.detect_any_pairs)}")

# %% [markdown]
# The probability of improvement P(Meta-SGD > MAML) {cite:p}`agarwal2021deep` compares
# every Meta-SGD seed's off-task change (off − pre, task B) with every MAML seed's; 0.5 is
# no difference, and its 95 % interval comes from resampling the seeds of each algorithm.
# With a handful of seeds each it can only be coarse: {glue:text}`poi-pairs`, and an
# interval that spans most of the range.

# %% tags=["remove-input"]
glue_text("poi-pairs", "; ".join(
    f"the {i.n_x} Meta-SGD and {i.n_y} MAML seeds of {labels[n]} make {i.n_x * i.n_y} "
    "comparisons" for n, i in improvements.items()) or "no dataset has two seeds of each yet")
table([{"dataset": labels[n], "seeds (Meta-SGD / MAML)": f"{i.n_x} / {i.n_y}",
        "P(Meta-SGD > MAML)": f"{i.p:.2f}", "95 % bootstrap interval":
        f"{i.low:.2f} to {i.high:.2f}"} for n, i in improvements.items()],
      "Probability that a Meta-SGD seed's off-task change exceeds a MAML seed's (datasets "
      "with at least two seeds of each).", "tab-improvement") if improvements else \
    Markdown("No dataset has two seeds of each algorithm probed yet.")

# %% [markdown]
# ## Shared classes between the two tasks
#
# On mini-ImageNet's 20 test classes two independently drawn 5-way tasks share a class
# most of the time, so an independently drawn task B would usually contain some of task
# A's classes. There the probe draws task B from the classes task A does not use (on
# Omniglot independent tasks rarely share a class, {numref}`tab-probe-settings`); both
# pairings are shown where both were probed.

# %% tags=["remove-input"]
pairings = {n: [s.profile.probe, dataclasses.replace(s.profile.probe,
                                                      disjoint=not s.profile.probe.disjoint)]
            for n, s in studies.items()}
table([{"dataset": labels[n], **r} for n, s in studies.items()
       for r in tables.overlap_rows(s, pairings[n])],
      "Δ with class-disjoint and with independent off-task pairs, and how often pairs "
      "share a class.", "tab-overlap")

# %% [markdown]
# ## The report's form of the statistic
#
# The report's test compares off − on: a model's accuracy on task B after adapting to A
# against its accuracy on A itself. Per pair it is the sum of three terms,
#
# $$
# \text{off}_B - \text{on}_A = (\text{off}_B - \text{pre}_B)
#   - (\text{on}_A - \text{pre}_A) + (\text{pre}_B - \text{pre}_A),
# $$ (report-form)
#
# and so is its difference Meta-SGD − MAML (the table below). The last term
# contains no adaptation: it is how much better one algorithm's features are than the
# other's on the set of B tasks than on the set of A tasks, before any inner step. A and
# B are drawn alike, so it is zero in expectation over task draws. Every seed is probed
# on the same task pairs, so an interval over seeds cannot see that sampling error; its
# standard error over the task pairs can.
#
# On mini-ImageNet with independent pairs, the report's pairing, the report's form gives
# Meta-SGD − MAML = {glue:text}`form-total`, beside the report's {glue:text}`effect`.
# The part adaptation contributes, (off − pre_B) − (on − pre_A), is
# {glue:text}`form-adapt`: its interval includes zero and stays below the report's
# effect. The term without adaptation is {glue:text}`form-base`, larger than the whole,
# with a standard error over task pairs of {glue:text}`form-se`: a difference between
# two fixed sets of tasks that is zero in expectation and that other task pairs would
# move by about that much. **Where our models come close to the report's number, the
# term without adaptation carries it.** This is why the book's endpoint compares task B
# with its own baseline, pre_B.

# %% tags=["remove-input"]
form_rows = [{"dataset, off-task pairs": f"{labels[n]}, {r.pop('off-task pairs')}", **r}
             for n, s in studies.items() for r in tables.report_form_rows(s, pairings[n])
             if int(r["seeds"]) > 1]
Markdown("No dataset has MAML and Meta-SGD probed on two seeds yet.") if not form_rows \
    else table(transposed(form_rows, "dataset, off-task pairs"), "Meta-SGD − MAML in the "
               "report's (off − on) form split into its "
               "three terms, datasets with at least two seeds: means over seeds ± 95 % "
               "t-interval over seeds; the last row is the standard error over task pairs of "
               "the term without adaptation (per-pair values averaged over seeds).",
               "tab-report-form", index="quantity")

# %% tags=["hide-cell"]
mini_form = None if mini_main is None else report_form_independent(mini_main)
adapt = None if mini_form is None else adaptation_part(mini_form)
glue_text("form-total", "not probed" if mini_form is None else
          f"{fmt(mini_form.total.interval, 'change')} ({len(mini_form.total.seeds)} seeds)")
glue_text("form-adapt", fmt(adapt, "change"))
glue_text("form-base", fmt(None if mini_form is None else mini_form.baseline.interval,
                           "change"))
glue_text("form-se", "—" if mini_form is None else f"{mini_form.baseline_pair_se:.4f}")

# %% tags=["remove-input"]
check(mini_form is not None and adapt.low < 0 < adapt.high < published.effect()
      and mini_form.baseline.interval.mean > mini_form.total.interval.mean > 0,
      "on mini-ImageNet with independent pairs the adaptation part's interval includes zero "
      "and lies below the report's effect, and the term without adaptation is larger than the "
      "positive whole", book)

# %% [markdown]
# ## Summary
#
# The probe measures the features alone, before and after adaptation, on the adapted task
# and on another one. Omniglot puts it in a rapid-learning regime that answers a
# different question, and there Meta-SGD and MAML do not differ beyond the spread of
# their seeds. mini-ImageNet is the report's feature-reuse regime, where the primary
# endpoint, with seeds as the unit, decides: with five seeds per algorithm it is
# {glue:text}`mini-status`, and the equivalence test over seeds excludes an effect as
# large as the report's. The report's own test cannot decide:
# on Omniglot it separates two trained networks of the same algorithm as readily as two
# of different ones; on mini-ImageNet our 600 task pairs are too few for it to see even
# the report's effect, and our models cannot exclude that at the report's 40,000 it would
# separate two models of one algorithm. In the
# report's own off − on form our models' interval includes its number, through a term
# that involves no adaptation. The next chapters ask what the inner loop does to each layer's
# representation, and what pushes the rates negative.

# %% tags=["remove-input"]
check(mini_main is not None
      and verdicts[mini_main.name].conclusion == "equivalent"
      and share_high > MISCALIBRATED and mini_form is not None
      and mini_form.total.interval.low <= published.effect() <= mini_form.total.interval.high,
      "on mini-ImageNet Δ is equivalent to 0 within ± the report's effect (TOST over seeds), "
      "more than 5 % of same-algorithm pairs below the report's p at 40,000 "
      "task pairs cannot be excluded (off − pre_B), and the report's effect lies inside our "
      "interval of its off − on form", book)
