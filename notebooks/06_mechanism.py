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
# respect to the rates (one table per algorithm and dataset), Meta-SGD trained with the
# query normalised by the support set's statistics (one table per dataset), and the probe
# with the conv rates rescaled from −1 to 1 ({numref}`fig-sign-sweep`).

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %% tags=["hide-cell"]
import matplotlib.pyplot as plt

from neglr_utils import get_study, load_studies, load_study
from neglr_utils.analysis import published
from neglr_utils.analysis.endpoints import sign_sweep
from neglr_utils.analysis.results import table1
from neglr_utils.display import tables
from neglr_utils.display.format import check, fmt, glue_text, table, table_group
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import plot_sign_sweep, show, style, title
from neglr_utils.runs.probes import select

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir,
                 seeds=seeds)
style()
book = get_study(profile)
studies = {n: s for n, s in load_studies(book, seeds, root=results_dir).items()
           if s.of("meta-sgd")}
labels = {n: s.profile.label for n, s in studies.items()}

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
# the support set's statistics. The study computes it for the first seeds of each dataset
# (`Profile.mechanism_seeds`); each row gives the mean over the seeds that have it, each
# seed's t-statistic over its tasks, and in how many seeds the push is significant
# (p < 0.05).

# %% tags=["remove-input"]
table_group(table(tables.mechanism_rows(s, algo), f"Where the meta-objective pushes the rates "
                  f"of the {name} runs, {labels[n]}.", f"tab-push-{algo}-{n}")
            for algo, name in (("maml", "MAML"), ("meta-sgd", "Meta-SGD"))
            for n, s in studies.items() if tables.mechanism_rows(s, algo))

# %% [markdown]
# At $\boldsymbol\alpha = 0$, where every run starts, the meta-objective pushes the conv
# layers' rates **up**, towards positive values, in {glue:text}`push-up` (layer, BatchNorm
# mode, seed) cases of MAML and Meta-SGD on Omniglot, and down in
# {glue:text}`push-down`: negative rates are not favoured at the start. They are learned
# later in training, once the initialisation has moved (chapter 3).

# %% tags=["hide-cell"]
def pushes(direction):
    out = []
    for s in studies.values():
        if s.dataset != "omniglot":
            continue
        for algo in ("maml", "meta-sgd"):
            for r in s.of(algo):
                for (at, _bn), layers in r.mechanism.items():
                    out += [p for k, p in layers.items() if at == "zero" and k.startswith("conv")
                            and p.p < 0.05 and (p.mean < 0) == (direction == "up")]
    return out


n_cases = sum(len([k for k in layers if k.startswith("conv")]) for s in studies.values()
              if s.dataset == "omniglot" for a in ("maml", "meta-sgd") for r in s.of(a)
              for (at, _), layers in r.mechanism.items() if at == "zero")
glue_text("push-up", f"{len(pushes('up'))} of {n_cases}")
glue_text("push-down", str(len(pushes("down"))))

# %% tags=["remove-input"]
check(n_cases > 0 and len(pushes("up")) == n_cases,
      "at α = 0 every Omniglot conv layer's rate is pushed up (p < 0.05)", book)

# %% [markdown]
# ## Training without transductive BatchNorm
#
# The same Meta-SGD runs trained again with each query image normalised by the adapted
# model's support-set statistics, so no query image sees another (the study's ablation,
# `query_bn="support"`), for the first seeds of each dataset. Do the conv rates still go
# negative?

# %% tags=["remove-input"]
ablations = {n: load_study(s.profile, s.profile.ablation_seeds, ("meta-sgd",),
                           root=results_dir, query_bn="support")
             for n, s in studies.items() if s.profile.ablation_seeds}
ablations = {n: a for n, a in ablations.items() if a.of("meta-sgd")}
matched = {n: load_study(studies[n].profile, [r.seed for r in a.of("meta-sgd")],
                         ("meta-sgd",), root=results_dir) for n, a in ablations.items()}
table_group(table(tables.ablation_rows(matched[n], a), "Mean learned rate per layer, Meta-SGD "
                  "with transductive and with support-set BatchNorm statistics, the same "
                  f"seeds ({', '.join(str(r.seed) for r in a.of('meta-sgd'))}) of "
                  f"{labels[n]} (± 95 % CI over seeds where there are two or more).",
                  f"tab-ablation-{n}", index="layer") for n, a in ablations.items())

# %% [markdown]
# With support-set statistics the conv layers whose mean rate ends negative in every seed are
# {glue:text}`ablation-every`, against {glue:text}`ablation-every-main` with transductive
# BatchNorm on the same seeds; {glue:text}`ablation-neg` conv layers have a negative mean
# over seeds, against {glue:text}`ablation-main`.
# {glue:text}`ablation-conclusion` That is an existence result, not a measured effect: with
# one or two seeds per dataset the intervals over seeds of these layers' means are wide.

# %% tags=["hide-cell"]
def n_negative(study):
    t = table1(study)
    return sum(t[k].mean.mean < 0 for k in published.CONV_LAYERS if k in t)


def negative_in_every_seed(study):
    t = table1(study)
    return [k for k in published.CONV_LAYERS
            if k in t and t[k].n_negative_seeds == len(t[k].seeds)]


def layer_list(layers):
    return ", ".join(layers) or "none"


glue_text("ablation-every", "; ".join(f"{layer_list(negative_in_every_seed(a))} "
                                      f"({labels[n]})" for n, a in ablations.items()) or "—")
glue_text("ablation-every-main", "; ".join(layer_list(negative_in_every_seed(matched[n]))
                                           for n in ablations) or "—")
glue_text("ablation-neg", "; ".join(f"{n_negative(a)} of 4 ({labels[n]})"
                                    for n, a in ablations.items()) or "—")
glue_text("ablation-main", "; ".join(f"{n_negative(matched[n])} of 4"
                                     for n in ablations) or "—")
not_needed = all(negative_in_every_seed(a) for a in ablations.values())
glue_text("ablation-conclusion",
          "No ablation run of this profile has finished yet (the methods chapter lists it)."
          if not ablations else
          "On every dataset a conv rate ends negative in every seed without transductive "
          "BatchNorm, so transductive normalisation is not needed for negative conv rates."
          if not_needed else "On some dataset no conv rate ends negative in every seed without "
          "transductive BatchNorm, so transductive normalisation may be needed for them.")

# %% [markdown]
# ## Does the sign of the conv rates change the features?
#
# If negative conv rates are what improves off-task features, flipping their sign should
# turn an off-task gain into a loss, and zeroing them (the conv layers frozen during
# adaptation) should remove it. Each Meta-SGD run is probed with its conv rates
# multiplied by −1, −0.5, 0, 0.5 and 1 (BatchNorm and head rates as learned).

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-sign-sweep", "caption": "On-task (on − pre, task A) and off-task (off − pre, task B) change of the head-free accuracy of Meta-SGD against the multiplier of its conv layers' learned rates, per dataset, with 95 % intervals over training seeds (one seed: over task pairs); dotted: as trained."}}
sweeps = {n: sign_sweep(s.probes, s.profile.probe) for n, s in studies.items()}
fig, axes = plt.subplots(len(sweeps), 1, figsize=(10, 3.4 * len(sweeps)), squeeze=False)
for ax, (n, sw) in zip(axes[:, 0], sweeps.items(), strict=True):
    plot_sign_sweep(sw, ax, unit="seeds" if len(studies[n].of("meta-sgd")) > 1
                    else "task pairs")
    title(ax, tables.scale_label(studies[n]))
fig.tight_layout()
show()

# %% [markdown]
# With its conv rates flipped (×−1), as trained (×1) and zeroed (×0), Meta-SGD's off-task
# change on Omniglot is {glue:text}`omni-sweep` (means over its seeds): **no multiplier
# moves it beyond the spread over seeds**, so the sign of the conv rates is not shown to
# matter there. On mini-ImageNet ({glue:text}`mini-label`) it is
# {glue:text}`mini-sweep`{glue:text}`mini-sweep-unit`.

# %% tags=["hide-cell"]
def sweep_text(sw):
    return ", ".join(f"{fmt(sw[f]['off'], 'change')} (×{f:g})" for f in (-1.0, 1.0, 0.0)
                     if f in sw and sw[f]["off"] is not None) or "not probed"


omni = next(n for n, s in studies.items() if s.dataset == "omniglot")
mini = next((n for n, s in studies.items() if s.dataset == "mini-imagenet"), None)
glue_text("omni-sweep", sweep_text(sweeps[omni]))
glue_text("mini-sweep", sweep_text(sweeps[mini]) if mini else "not probed")
glue_text("mini-label", tables.scale_label(studies[mini]) if mini else "no run yet")
n_swept = 0 if mini is None else min(  # seeds probed at every multiplier quoted
    (len({r.run.seed for r in select(studies[mini].probes, algo="meta-sgd",
                                      config=studies[mini].profile.probe)
          if r.condition.conv_factor == f}) for f in sweeps[mini]), default=0)
glue_text("mini-sweep-unit", "" if n_swept == 0 else
          ", intervals over the task pairs of one model: a hint, not an answer" if n_swept == 1
          else f", means with 95 % intervals over {n_swept} seeds")

# %% tags=["remove-input"]
check(all(v["off"] is None or (v["off"].low <= 0 <= v["off"].high)
          for v in sweeps[omni].values()),
      "every Omniglot sign-sweep off-task interval over seeds includes zero", book)

# %% [markdown]
# ## Summary
#
# At the start of training the meta-objective favours positive rates; negative conv rates
# are learned later and do not need transductive BatchNorm; and on Omniglot their sign
# does not move the off-task features beyond the spread of the seeds. The linear model of
# the next chapter shows where a negative training rate can come from when none of this
# is at play.
