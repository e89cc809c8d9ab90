"""Learned-rate tables, pooling of logged summaries, evolution, and seeds."""

import numpy as np
import pytest
import torch

from neglr_utils.analysis.rates import (
    RatePoint,
    first_negative,
    fraction_negative,
    inert_table,
    late_range,
    rate_at,
    rate_evolution,
    rate_table,
    rates_by_layer,
    table1_over_seeds,
    training_curves,
)
from neglr_utils.core.models import layer_of
from neglr_utils.runs.training import rate_summary

RATES = {
    "conv1.weight": torch.tensor([[-1.0, 1.0], [2.0, -2.0]]),
    "conv1.bias": torch.tensor([3.0]),
    "bn1.weight": torch.tensor([0.5, 0.5]),
    "head.weight": torch.tensor([0.1, 0.2, -0.3]),
    "head.bias": torch.tensor([0.4]),
}


def test_layer_groups():
    assert layer_of("conv3.weight") == "conv3" and layer_of("head.bias") == "logits"
    assert layer_of("bn2.bias") == "bn2"
    with pytest.raises(ValueError, match="not conv"):
        layer_of("fc.weight")
    # conv biases are inert (BatchNorm follows): left out of their layer
    assert {k: v.size for k, v in rates_by_layer(RATES).items()} == {
        "conv1": 4, "bn1": 2, "logits": 4}
    assert set(inert_table(RATES)) == {"conv1.bias"}
    assert inert_table(RATES)["conv1.bias"].mean == pytest.approx(3.0)


def test_fraction_negative_pools_every_learned_rate_but_the_inert_ones():
    # conv1.weight 2 of 4 negative, bn1 0 of 2, head 1 of 4; conv1.bias (inert) left out
    assert fraction_negative(rate_table(RATES)) == pytest.approx(3 / 10)


def test_rate_table_for_known_rates():
    t = rate_table(RATES)
    values = np.array([-1.0, 1.0, 2.0, -2.0])
    assert t["conv1"].n == 4 and t["conv1"].mean == pytest.approx(0.0)
    assert t["conv1"].std == pytest.approx(values.std(ddof=1))
    assert t["conv1"].frac_neg == pytest.approx(0.5)
    assert t["conv1"].quantiles[2] == pytest.approx(0.0)  # the median
    assert t["logits"].frac_neg == pytest.approx(0.25) and t["bn1"].std == 0.0
    assert rate_table({"head.bias": 0.01})["logits"].mean == pytest.approx(0.01)  # MAML


def test_rate_evolution_pools_tensors_exactly():
    g = torch.Generator().manual_seed(0)
    rates = {"conv1.weight": torch.randn(4, 1, 3, 3, generator=g),
             "conv1.bias": torch.randn(4, generator=g) + 1,
             "head.weight": torch.randn(3, 4, generator=g)}
    rows = [{"iteration": 5, "train_acc": 0.1},
            {"iteration": 10, "rates": rate_summary(rates)}]
    sizes = {k: v.numel() for k, v in rates.items()}
    out = rate_evolution(rows, sizes)
    layer = next(p for p in out if p.layer == "conv1")
    weights = rates["conv1.weight"].ravel().double()  # the inert bias is left out
    assert layer.iteration == 10 and layer.n == 36
    assert layer.mean == pytest.approx(weights.mean().item(), rel=1e-6)
    assert layer.std == pytest.approx(weights.std().item(), rel=1e-6)
    assert layer.frac_neg == pytest.approx((weights < 0).double().mean().item())
    pooled = [p for p in rate_evolution(rows, {**sizes, "head.bias": 3}) if p.layer == "logits"]
    assert pooled[0].n == 12


def test_first_negative_is_where_the_mean_stays_below_zero():
    pts = [RatePoint(i, "conv1", 1, m, 0.0, 0.0)
           for i, m in ((1, 0.2), (2, -0.1), (3, 0.05), (4, -0.1), (5, -0.2))]
    assert first_negative(pts, "conv1") == 4
    assert first_negative(pts + [RatePoint(6, "conv1", 1, 0.1, 0, 0)], "conv1") is None
    assert first_negative(pts, "conv2") is None


def test_table1_over_seeds_has_a_t_interval_over_seed_means():
    tables = {s: rate_table({"conv1.weight": torch.tensor([m, m + 0.02])})
              for s, m in ((0, -0.03), (1, -0.01), (2, 0.01))}
    row = table1_over_seeds(tables)["conv1"]
    means = [-0.02, 0.0, 0.02]
    assert row.means == pytest.approx(means) and row.mean.mean == pytest.approx(0.0, abs=1e-12)
    assert row.mean.n == 3 and row.mean.half > 0.02  # t_{2} is wide
    assert row.n_negative_seeds == 1


def test_training_curves_columns():
    rows = [{"iteration": 1, "train_acc": 0.2},
            {"iteration": 2, "train_acc": 0.3, "val_acc": 0.25, "val_ci95": 0.05}]
    c = training_curves(rows)
    assert c.iteration == (1, 2) and c.val_iteration == (2,) and c.val_ci95 == (0.05,)


def test_rate_at_and_late_range_read_the_logged_means():
    pts = [RatePoint(i, "conv1", 1, m, 0.0, 0.0)
           for i, m in ((250, 0.01), (500, -0.02), (750, -0.01), (1000, -0.015))]
    assert rate_at(pts, "conv1", 500) == -0.02
    assert rate_at(pts, "conv1", 600) == -0.02  # the last log at or before it
    assert rate_at(pts, "conv1", 1200) is None  # not trained that far
    assert rate_at(pts, "conv1", 100) is None and rate_at(pts, "conv2", 500) is None
    assert late_range(pts, "conv1", 500) == (-0.02, -0.01)
    with pytest.raises(ValueError, match="conv2"):
        late_range(pts, "conv2", 500)
