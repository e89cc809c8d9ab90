"""Rapid learning or feature reuse: how much each layer's representation moves in the
inner loop, per algorithm and condition, with seeds as the unit.

Per run the stored measure (`core.representation`, cached by `runs.representations`)
gives, per task pair, the linear CKA between a layer's activations under the
meta-initialisation and under the weights adapted to task A, on A's query images
(on-task) and on task B's images (off-task), the relative weight change of the layer and
the accuracy with the head after adaptation. Each seed contributes its mean over task
pairs; `similarity` gives the mean over seeds with a 95 % t-interval over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.probe import Condition
from ..stats import Interval, mean_ci
from .results import Study


@dataclass(frozen=True)
class Similarity:
    """One algorithm under one condition on one dataset, over its seeds."""

    cka_on: dict[str, Interval]  # layer -> mean CKA (theta vs theta'_A) on task A's queries
    cka_off: dict[str, Interval]  # on task B's images
    weight_change: dict[str, Interval]  # layer -> ||theta'_A - theta|| / ||theta||
    head_acc: Interval  # query accuracy with the head after adaptation (task A)
    n_seeds: int
    n_pairs: int  # task pairs per seed


def similarity(study: Study, algo: str, condition: Condition) -> Similarity | None:
    """The representation change of ``algo``'s finished runs under ``condition``, measured
    on the study's probe pairs (None when no run has it)."""
    key = study.profile.probe.key()
    changes = [e.change for r in study.of(algo) for e in r.representations
               if e.condition == condition and e.key["probe"] == key]
    if not changes:
        return None
    layers = changes[0].layers

    def over_seeds(field: str) -> dict[str, Interval]:
        return {k: mean_ci([float(np.nanmean(getattr(c, field)[k])) for c in changes])
                for k in layers}

    return Similarity(over_seeds("cka_on"), over_seeds("cka_off"),
                      over_seeds("weight_change"),
                      mean_ci([float(c.head_acc.mean()) for c in changes]), len(changes),
                      changes[0].n)
