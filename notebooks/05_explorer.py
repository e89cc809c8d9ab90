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
# # Explorer
#
# Placeholder: chapter under construction.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
runs_dir = "runs"
seeds = [0]

# %% [markdown]
# The book's offline checks (`tests/test_book.py`) rely on this page showing rendered
# math and a rendered widget. The inner-loop update with a per-parameter rate is
#
# $$
# \theta_i' = \theta - \alpha \odot \nabla_\theta \mathcal{L}_{\mathcal{T}_i}(\theta).
# $$

# %%
import ipywidgets as widgets

widgets.IntSlider(value=1, min=0, max=5, description="n_inner_steps")
