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
# # Rapid learning or feature reuse?
#
# **Question.** The report asks whether Meta-SGD's negative rates make features more
# universal; the seed post frames it as *rapid learning or feature reuse*
# {cite:p}`raghu2020anil`. Raghu et al. found that MAML on mini-ImageNet reuses its
# features: the conv layers' representations barely change in the inner loop, the head's
# change a lot, and adapting only the head (ANIL) loses almost nothing. Which layers move
# under Meta-SGD, with negative rates, and under the positive-rate ablation?
# {numref}`fig-cka` compares every layer's representation before and after adaptation,
# {numref}`fig-cka-signs` does so for Meta-SGD with its conv rates flipped and frozen, and
# the last tables set a frozen body against full adaptation.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %% tags=["hide-cell"]
import matplotlib.pyplot as plt
from IPython.display import Markdown

from neglr_utils import TRAINED, get_study, load_studies
from neglr_utils.analysis import published
from neglr_utils.analysis.endpoints import figure7
from neglr_utils.analysis.representation import similarity
from neglr_utils.core.probe import conv_scaled
from neglr_utils.core.representation import HEAD_ONLY
from neglr_utils.display import tables
from neglr_utils.display.format import check, fmt, glue_text, table, table_group
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import COLORS, plot_layer_similarity, show, style, title

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir,
                 seeds=seeds)
style()
book = get_study(profile)
studies = {n: s for n, s in load_studies(book, seeds, root=results_dir).items()
           if s.of("meta-sgd")}
ALGOS = ("maml", "meta-sgd", "meta-sgd-positive")
sims = {n: {(a, c): similarity(s, a, c) for a in ALGOS
            for c in (TRAINED, HEAD_ONLY, conv_scaled(-1.0), conv_scaled(0.0))}
        for n, s in studies.items()}

# %% [markdown]
# ## The measure
#
# For a layer $\ell$ with activations $X_\ell(\theta) \in \mathbb{R}^{n \times p}$ on $n$
# images (after its conv, BatchNorm, pooling and ReLU; the head's are the logits), linear
# CKA {cite:p}`kornblith2019similarity` compares the representations under the
# meta-initialisation $\theta$ and under the weights $\theta'_A$ adapted to task $A$:
#
# $$
# \mathrm{CKA}(X, Y) = \frac{\lVert Y_c^\top X_c \rVert_F^2}
#   {\lVert X_c^\top X_c \rVert_F\, \lVert Y_c^\top Y_c \rVert_F},
# $$ (cka)
#
# with $X_c, Y_c$ the column-centred matrices: 1 for the same representation up to a
# rotation and a scale, lower the more adaptation changed it. *On-task* uses task $A$'s
# query images, *off-task* task $B$'s images (the probe's task pairs). The relative
# weight change of a layer is $\lVert\theta'_A - \theta\rVert / \lVert\theta\rVert$. Each
# run is measured on the first task pairs of its dataset's probe and contributes its mean;
# intervals are 95 % t-intervals over training seeds. CKA and accuracies lie in [0, 1];
# a t-interval does not know it: with two or three seeds (t-factors 12.7 and 4.3) an
# interval that runs past 0 or 1 says the seeds disagree that much, not that a value
# outside is possible.

# %% tags=["remove-input"]
Markdown("; ".join(f"{s.profile.label}: {next(v.n_pairs for v in sims[n].values() if v)} "
                   "task pairs per run" for n, s in studies.items()
                   if any(sims[n].values())) + ".")

# %% [markdown]
# ## Which layers move

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-cka", "caption": "Linear CKA between each layer's representation under the meta-initialisation and under the weights adapted to task A, as trained, per algorithm; solid: on task A's query images, dashed: on task B's images; 95 % intervals over training seeds where a dataset has two or more (n in the legend), one panel per dataset, the axis from a little below the lowest mean to 1 (intervals beyond are cut). 1: unchanged up to rotation and scale."}}
fig, axes = plt.subplots(len(studies), 1, figsize=(8, 3.6 * len(studies)), squeeze=False)
for ax, (n, s) in zip(axes[:, 0], studies.items(), strict=True):
    series, styles = {}, {}
    for a in ALGOS:
        sim = sims[n][(a, TRAINED)]
        if sim is not None:
            series[f"{a}, on-task"], series[f"{a}, off-task"] = sim.cka_on, sim.cka_off
            styles[f"{a}, on-task"] = {"color": COLORS[a]}
            styles[f"{a}, off-task"] = {"color": COLORS[a], "ls": "--", "marker": "s"}
    plot_layer_similarity(series, ax, styles=styles)
    title(ax, tables.scale_label(s))
fig.tight_layout()
show()

# %% tags=["remove-input"]
def change_rows(n):
    rows = []
    for a in ALGOS:
        sim = sims[n][(a, TRAINED)]
        if sim is not None:
            rows.append({"algorithm": a, "seeds": str(sim.n_seeds),
                         **{k: f"{v.mean:.3g}" + (f" ± {v.half:.2g}" if v.n > 1 else "")
                            for k, v in sim.weight_change.items()}})
    return rows


table_group(table(change_rows(n), f"Relative weight change per layer in the inner loop, "
                  f"{s.profile.label} (as trained; mean ± 95 % CI over seeds).",
                  f"tab-weight-change-{n}", index="algorithm")
            for n, s in studies.items() if change_rows(n))

# %% [markdown]
# On mini-ImageNet ({glue:text}`mini-label`) every algorithm keeps its conv1–conv3
# representations almost unchanged (CKA at least {glue:text}`mini-min-cka`) and changes
# the head more than any conv layer (its CKA: {glue:text}`mini-head`; Meta-SGD's head
# moves most): **feature reuse**, as Raghu et al. found for MAML.
# On Omniglot conv4 moves further (CKA {glue:text}`omni-conv4` for Meta-SGD, against
# {glue:text}`mini-conv4` on mini-ImageNet): the rapid-learning regime of chapter 4 is
# visible layer by layer. A layer whose representation does not move cannot make the
# features more universal: where the conv layers stay put, the probe's off-task change
# can only be small, which is what chapter 4 measures on mini-ImageNet.

# %% tags=["hide-cell"]
omni = next(n for n, s in studies.items() if s.dataset == "omniglot")
mini = next((n for n, s in studies.items() if s.dataset == "mini-imagenet"
             and sims[n][("meta-sgd", TRAINED)] is not None), None)
mini_trained = [sims[mini][(a, TRAINED)] for a in ALGOS
                if mini and sims[mini][(a, TRAINED)] is not None]
mini_min = min((v.cka_on[k].mean for v in mini_trained for k in ("conv1", "conv2", "conv3")),
               default=float("nan"))
glue_text("mini-label", tables.scale_label(studies[mini]) if mini else "no run yet")
glue_text("mini-min-cka", fmt(mini_min, "prob", 3))
glue_text("mini-head", ", ".join(f"{fmt(sims[mini][(a, TRAINED)].cka_on['head'].mean, 'prob', 2)}"
                                 f" ({a})" for a in ALGOS
                                 if mini and sims[mini][(a, TRAINED)] is not None))
omni_msgd = sims[omni][("meta-sgd", TRAINED)]
glue_text("omni-conv4", fmt(omni_msgd.cka_on["conv4"], "prob", 3) if omni_msgd else "—")
glue_text("mini-conv4", fmt(sims[mini][("meta-sgd", TRAINED)].cka_on["conv4"], "prob", 3)
          if mini else "—")

# %% tags=["remove-input"]
check(bool(mini_trained) and mini_min > 0.95
      and all(v.cka_on["head"].mean < min(v.cka_on[k].mean for k in v.cka_on if k != "head")
              for v in mini_trained)
      and sims[mini][("meta-sgd", TRAINED)].cka_on["head"].mean
      == min(v.cka_on["head"].mean for v in mini_trained)
      and omni_msgd is not None
      and omni_msgd.cka_on["conv4"].mean < sims[mini][("meta-sgd", TRAINED)].cka_on["conv4"].mean,
      "on mini-ImageNet conv1–conv3 keep CKA above 0.95 and the head moves more than any "
      "conv layer for every algorithm, Meta-SGD's head most, and Omniglot's conv4 moves more "
      "than mini-ImageNet's",
      book)

# %% [markdown]
# ## The sign of Meta-SGD's conv rates
#
# The same Meta-SGD runs adapted with their conv rates as learned (×1), flipped (×−1) and
# zeroed (×0, the conv layers frozen), and with only the head adapting (BatchNorm frozen
# too, ANIL-style).

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-cka-signs", "caption": "Meta-SGD: on-task CKA per layer before vs after adaptation with the conv layers' learned rates as trained (×1), flipped (×−1) and zeroed (×0), and with only the head adapting; 95 % intervals over seeds, one panel per dataset."}}
conditions = {"conv rates ×1 (as trained)": TRAINED, "conv rates ×−1": conv_scaled(-1.0),
              "conv rates ×0": conv_scaled(0.0), "head only": HEAD_ONLY}
fig, axes = plt.subplots(len(studies), 1, figsize=(8, 3.6 * len(studies)), squeeze=False)
for ax, (n, s) in zip(axes[:, 0], studies.items(), strict=True):
    series = {label: (sims[n][("meta-sgd", c)].cka_on if sims[n][("meta-sgd", c)] else None)
              for label, c in conditions.items()}
    plot_layer_similarity(series, ax)
    title(ax, tables.scale_label(s))
fig.tight_layout()
show()

# %% [markdown]
# With the conv rates flipped, Meta-SGD's last conv layer moves further from the
# initialisation than as trained (conv4 CKA {glue:text}`flip-conv4`; on mini-ImageNet by
# a hair, on a handful of task pairs: there the body hardly moves either way); with them
# zeroed only the BatchNorm parameters still adapt and the conv layers barely move; with
# only the head adapting they stay exactly where they are (CKA 1 by construction). The
# sign of the conv rates changes *how much* the last conv layer moves, not whether the
# body is reused.

# %% tags=["hide-cell"]
flip = {n: (sims[n][("meta-sgd", TRAINED)], sims[n][("meta-sgd", conv_scaled(-1.0))])
        for n in studies if sims[n][("meta-sgd", conv_scaled(-1.0))] is not None}
glue_text("flip-conv4", "; ".join(
    f"{studies[n].profile.label}: {fmt(f.cka_on['conv4'].mean, 'prob', 3)} flipped against "
    f"{fmt(t.cka_on['conv4'].mean, 'prob', 3)} as trained" for n, (t, f) in flip.items()))

# %% tags=["remove-input"]
check(bool(flip) and all(f.cka_on["conv4"].mean < t.cka_on["conv4"].mean
                         for t, f in flip.values()),
      "flipping Meta-SGD's conv rates lowers conv4's mean CKA below as trained, on every "
      "dataset (the size of the drop is in the text)",
      book)

# %% [markdown]
# ## A frozen body against full adaptation
#
# Raghu et al. report {glue:text}`raghu-maml` for MAML and {glue:text}`raghu-anil` for
# ANIL (only the head adapts) on mini-ImageNet 5-way 1-shot. Here every algorithm's own
# trained initialisation is adapted both ways on the same task pairs (the first task
# pairs of the probe: a check of each model, not a comparison of algorithms, which
# chapter 3's 600 test tasks make); with the body frozen the head-free probe cannot
# change, so its accuracy is the pre-adaptation one.

# %% tags=["hide-cell"]
glue_text("raghu-maml", fmt(published.RAGHU_ACC["maml"], "pct"))
glue_text("raghu-anil", fmt(published.RAGHU_ACC["anil"], "pct"))


def frozen_rows(n):
    s, rows = studies[n], []
    for a in ALGOS:
        full, frozen = sims[n][(a, TRAINED)], sims[n][(a, HEAD_ONLY)]
        if full is None or frozen is None:
            continue
        fig7 = figure7(s.probes, s.profile.probe, a)
        one = full.n_seeds == 1  # then no interval over seeds: means only

        def show(iv, one=one):
            return fmt(iv.mean if one and iv is not None else iv, "pct")

        rows.append({"algorithm": a, "seeds": str(full.n_seeds),
                     "with head, full": show(full.head_acc),
                     "with head, frozen body": show(frozen.head_acc),
                     "head-free, full (on-task)": show(fig7.get("on")),
                     "head-free, frozen (= pre)": show(fig7.get("pre"))})
    return rows


# %% tags=["remove-input"]
table_group(table(frozen_rows(n), f"Accuracy on task A after adapting the whole network or "
                  f"only the head, {s.profile.label}: with the head on the first task pairs, "
                  "head-free on all the probe's pairs (± 95 % CI over seeds).",
                  f"tab-frozen-{n}", index="algorithm")
            for n, s in studies.items() if frozen_rows(n))

# %% [markdown]
# On mini-ImageNet adapting the head alone gives almost the accuracy of full adaptation
# (with the head: {glue:text}`frozen-mini`), the feature reuse of Raghu et al. On Omniglot
# it does not: with the body frozen the head alone falls far below full adaptation
# ({glue:text}`frozen-omni`), because the trained inner rates of the head are too small
# to fit a task's labels in five steps without the body's help. **Omniglot's models need
# their body to adapt; mini-ImageNet's do not.**

# %% tags=["hide-cell"]
def frozen_text(n):
    if n is None:
        return "no run yet"
    return "; ".join(f"{a}: {fmt(sims[n][(a, TRAINED)].head_acc.mean, 'pct')} full, "
                     f"{fmt(sims[n][(a, HEAD_ONLY)].head_acc.mean, 'pct')} head only"
                     for a in ALGOS if sims[n][(a, TRAINED)] and sims[n][(a, HEAD_ONLY)])


glue_text("frozen-mini", frozen_text(mini))
glue_text("frozen-omni", frozen_text(omni))

# %% tags=["remove-input"]
gaps = {n: [sims[n][(a, TRAINED)].head_acc.mean - sims[n][(a, HEAD_ONLY)].head_acc.mean
            for a in ALGOS if n and sims[n][(a, TRAINED)] and sims[n][(a, HEAD_ONLY)]]
        for n in (mini, omni)}
check(bool(gaps[mini]) and max(gaps[mini]) < 0.02 and min(gaps[omni]) > 0.3,
      "a frozen body costs mini-ImageNet's models less than 2 points and Omniglot's more "
      "than 30", book)

# %% [markdown]
# ## Summary
#
# The inner loop of every algorithm, negative rates or not, leaves the early conv layers'
# representations where they were on mini-ImageNet and moves the head, and adapting the
# head alone does almost as well: the feature-reuse picture of Raghu et al. holds for
# Meta-SGD too, so its negative rates act on features that hardly move. On Omniglot the
# last conv layer moves and the models need it, and the probe's changes there (chapter 4)
# are those of rapid learning. Chapter 6 asks what pushes the rates negative.
