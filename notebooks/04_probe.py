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
# *other* tasks better than before, while MAML's classify them worse. {numref}`fig-fig7`
# reproduces the report's Figure 7 with intervals over training seeds,
# {numref}`fig-endpoint` tests the claim on one endpoint with seeds as the unit, and
# {numref}`tab-overlap` checks what shared classes between the two tasks do.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %%
import dataclasses

import matplotlib.pyplot as plt
from IPython.display import Markdown

from neglr_utils import get_profile, load_studies, verdict
from neglr_utils.analysis import published
from neglr_utils.display import tables as report
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import figure7_panels, plot_endpoint, style

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir, seeds=seeds)
style()
studies = load_studies(profile, seeds, root=results_dir)
names = {p: report.short_label(s) for p, s in studies.items()}

# %% [markdown]
# ## The probe
#
# Per probe iteration two tasks $A$ and $B$ are drawn from the test split. The head is
# removed: with $f_\theta$ the conv body, a query $x$ of a task with one support image
# $s_c$ per class $c$ is assigned the class of the most cosine-similar support embedding,
#
# $$
# \hat y_\theta(x) = \arg\max_c \frac{f_\theta(x) \cdot f_\theta(s_c)}
#   {\lVert f_\theta(x)\rVert\,\lVert f_\theta(s_c)\rVert}, \qquad
# \mathrm{acc}_\theta(T) = \frac{1}{|Q_T|}\sum_{(x, y) \in Q_T}
#   \mathbb{1}\big[\hat y_\theta(x) = y\big].
# $$ (probe)
#
# With $\theta$ the meta-initialisation and $\theta'_A$ the weights after adapting to $A$'s
# support set with the run's own inner rule, four accuracies per pair:
# `pre_a` $=\mathrm{acc}_\theta(A)$, `on_a` $=\mathrm{acc}_{\theta'_A}(A)$,
# `off_b` $=\mathrm{acc}_{\theta'_A}(B)$ and, our addition, `pre_b`
# $=\mathrm{acc}_\theta(B)$, so the off-task change can be measured on $B$'s own images:
#
# $$
# \Delta_i = \big(\text{off}_B - \text{pre}_B\big)_i^{\text{Meta-SGD}}
#   - \big(\text{off}_B - \text{pre}_B\big)_i^{\text{MAML}} .
# $$ (delta)
#
# Both models are probed on the same task pairs, so {eq}`delta` is paired pair by pair;
# each training seed gives one mean $\bar\Delta_s$, and the verdict rests on the seed
# means: their 95 % t-interval, and a two one-sided test (TOST) of equivalence within
# the report's own effect (Meta-SGD's off-task change minus MAML's in its Figure 7).

# %%
probes = {p: get_profile(p).probe for p in studies}
report.table(
    [{"dataset": names[p], "task pairs": c.n_iterations, "split": c.split,
      "query images per class": c.k_query, "BatchNorm": c.bn_mode,
      "off-task B": "class-disjoint from A" if c.disjoint else "independent of A"}
     for p, c in probes.items()], "Probe settings per dataset.", "tab-probe-settings")

# %% [markdown]
# ## The report's Figure 7, reproduced

# %% mystnb={"figure": {"name": "fig-fig7", "caption": "Head-free cosine-prototype accuracy before adaptation, on the task adapted to and on a different task, per dataset, with 95 % intervals over training seeds; right: the report's values (mini-ImageNet, 40,000 task pairs, no intervals published). The y-axes differ: the datasets differ, so the shape across the three conditions is what compares."}}
panels = {report.scale_label(s): {a: report.figure7(s.probes, probes[p], a)
                                  for a in ("maml", "meta-sgd")}
          for p, s in studies.items()}
figure7_panels(panels, {report.scale_label(s): report.interval_unit(s, probes[p])
                        for p, s in studies.items()})
plt.show()

# %%
report.tables(report.table(
    report.changes_rows(s, probes[p]), f"Every mean and change of the probe, {names[p]}: "
    "means over seeds of the per-seed means, ± 95 % t-interval over seeds.",
    f"tab-changes-{p}") for p, s in studies.items())

# %% [markdown]
# ## The verdict: Meta-SGD against MAML, seeds as the unit

# %% mystnb={"figure": {"name": "fig-endpoint", "caption": "The primary endpoint Δ per dataset: each seed's mean with its 95 % interval over task pairs, and the mean over seeds with its 95 % t-interval over seeds; grey: the equivalence margin (± the report's effect); dashed: the report's effect."}}
verdicts = {p: verdict(s.probes, probes[p]) for p, s in studies.items() if s.probes}
fig, axes = plt.subplots(1, max(len(verdicts), 1), figsize=(5.5 * max(len(verdicts), 1), 3.2),
                         squeeze=False)
for ax, (p, v) in zip(axes[0], verdicts.items(), strict=False):
    plot_endpoint(*report.endpoint_data(v), v.margin, ax, report_effect=published.effect())
    ax.set_title(report.scale_label(studies[p]), fontsize=8)
fig.tight_layout()
plt.show()

# %%
Markdown(report.verdict_text(studies, probes))

# %%
report.tables(report.table(
    report.family_rows(v), f"The tests shown together for {names[p]}, with Holm-adjusted "
    "p-values over this family: per seed (unit: task pairs) and over seeds.",
    f"tab-family-{p}") for p, v in verdicts.items())

# %% [markdown]
# The report's p = 0.00044 came from one trained model per algorithm; with task pairs as
# the unit, any difference between two trained networks becomes significant with enough
# pairs. The interval over seeds asks whether the *algorithm* makes the difference.

# %% [markdown]
# ## Shared classes between the two tasks
#
# On mini-ImageNet's 20 test classes, two independently drawn 5-way tasks share a class
# most of the time, so an "off-task" probe is mostly partly on-task. Its probe draws task
# B from the classes task A does not use; here both are shown.

# %%
rows = [{"dataset": names[p], **r} for p, s in studies.items()
        for r in report.overlap_rows(s, [probes[p], dataclasses.replace(probes[p],
                                                                        disjoint=not probes[p].disjoint)])]
report.table(rows, "Δ with class-disjoint and with independent off-task "
                               "pairs, and how often independent pairs share a class.",
                               "tab-overlap")

# %% [markdown]
# ## At paper scale
#
# Figure 7 at paper scale appears once both MAML and Meta-SGD have finished and been
# probed in `results/paper/` (trained on a GPU in chunks by `scripts/paper_chunk.py`).

# %%
report.table(report.paper_progress_rows(), "Progress of the paper-scale "
                               "protocol in results/paper/.", "tab-paper-progress-04")

# %% [markdown]
# ## Summary
#
# The probe measures the features alone, before and after adaptation, on the adapted task
# and on another one; the verdict above is computed from the primary endpoint over
# training seeds, with an equivalence test where the data show no difference. The next
# chapter asks what pushes the rates negative and whether their sign changes the
# features (the sign sweep).
