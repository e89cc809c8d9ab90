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
# # Probing the learned features
#
# Placeholder: chapter under construction.

# %% tags=["parameters"]
profile = "cpu"
data_root = None
device = "auto"
runs_dir = "runs"
seeds = [0]
