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
# # Episodes: the data every experiment is made of
#
# **Question.** What does a meta-learner actually see? Every number in this book comes
# from *episodes*: an $N$-way $K$-shot task draws $N$ classes, gives $K$ labelled
# *support* images per class to adapt on, and asks for the labels of $Q$ *query* images
# per class. The report uses mini-ImageNet, 5-way 1-shot, with 10 query images per class
# in training.
#
# This chapter loads the real datasets through `neglr_utils.core.data`, shows the class
# splits, draws seeded episodes with `neglr_utils.core.episodes` and shows them as
# support/query grids ({numref}`fig-episode-omniglot` and {numref}`fig-episode-mini`), and
# measures how fast the sampler delivers tasks on this machine.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
results_dir = None
seeds = None  # None: each dataset profile's own training seeds

# %% tags=["hide-cell"]
import matplotlib.pyplot as plt

from neglr_utils import EpisodeSampler, get_profile, resolve_device
from neglr_utils.core.data import DataNotFoundError, load_split, load_splits
from neglr_utils.core.episodes import sampling_throughput
from neglr_utils.display.format import table
from neglr_utils.display.params import check_parameters
from neglr_utils.display.plots import plot_episode, style

check_parameters(profile=profile, data_root=data_root, device=device, results_dir=results_dir, seeds=seeds)
style()
dev = resolve_device(device)

# %% [markdown]
# ## The class splits
#
# Omniglot follows Vinyals et al. (2016) and MAML: 1,200 characters for meta-training
# (of which we hold out 100 for validation) and 423 for meta-testing, each character
# rotated by 0, 90, 180 and 270 degrees to give four classes, at 28×28 pixels.
# mini-ImageNet uses the 64/16/20 class split of Ravi & Larochelle (2017), 600 images
# per class at 84×84 pixels. Splits never share a class (tested in `tests/test_data.py`).

# %%
datasets = {}
for name in ("omniglot", "mini-imagenet"):
    try:
        datasets[name] = load_splits(name, data_root)
    except DataNotFoundError as err:
        print(f"{name}: not available here ({str(err).splitlines()[0]})")
rows = [{"dataset": name, "split": split, "classes": s.n_classes,
         "images per class": s.n_per_class, "image (C, H, W)": tuple(s.image_shape)}
        for name, splits in datasets.items() for split, s in splits.items()]
table(rows, "The class splits at the datasets' standard sizes.",
                               "tab-splits")

# %% [markdown]
# ## Episodes
#
# A sampler draws, for each task, $N$ classes and $K+Q$ images per class with its own
# `torch.Generator`, so the same seed gives the same episodes on any device. Labels are
# remapped to $0..N-1$ in the random order the classes were drawn, and the images stay
# on the device as `uint8` until a batch is converted to floats.

# %%
def study_episode(profile_name: str):
    """One 5-way 1-shot episode at the size the study trains on (mini-ImageNet: 32x32)."""
    cfg = get_profile(profile_name).run
    split = load_split(cfg.dataset, "train", data_root, image_size=cfg.image_size or None)
    return EpisodeSampler(split, n_way=5, k_shot=1, k_query=3, seed=0,
                          device=dev).sample(1)


episodes = {name: study_episode(name) for name in ("cpu", "cpu-mini")
            if get_profile(name).run.dataset in datasets}

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-episode-omniglot", "caption": "One Omniglot episode (meta-train split, 28×28, 5-way 1-shot, 3 queries per class): the support image of each class (left column) and its query images, each row one label. Rotated characters are classes of their own."}}
plot_episode(episodes["cpu"])
plt.show()  # an image grid, placed by hand: no tight layout

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-episode-mini", "caption": "One mini-ImageNet episode at 32×32, the resolution of the CPU study (meta-train split, 5-way 1-shot, 3 queries per class)."}}
if "cpu-mini" in episodes:
    plot_episode(episodes["cpu-mini"])
else:
    plt.figure(figsize=(4, 1)).text(0.5, 0.5, "mini-ImageNet is not available here", ha="center")
plt.show()  # an image grid, placed by hand: no tight layout

# %% [markdown]
# ## How fast is sampling?
#
# Meta-training draws a few tasks per iteration; sampling must never be the bottleneck.
# Tasks per second for a batch of 32 tasks, 5-way 1-shot with 10 queries per class
# (the report's setting), median of 5 draws, on this machine:

# %%
speed = [{"dataset": name, "device": str(dev), "tasks per second": round(sampling_throughput(
    EpisodeSampler(splits["train"], 5, 1, 10, seed=0, device=dev), n_tasks=32))}
    for name, splits in datasets.items()]
table(speed, "Episodes per second, batches of 32 tasks, 5-way 1-shot, "
                               "10 queries per class, median of 5 draws.", "tab-sampling")

# %% [markdown]
# ## Summary
#
# The real data loads through one layer that checks sizes and splits; episodes are
# seeded and repeatable; and sampling is far faster than one meta-iteration (the
# methods chapter lists the training time per iteration), so training time is spent in
# the model.
