"""Rate tables, rate evolution and the probe statistics against hand-made answers and scipy."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from neglr_utils.analysis import (
    REPORT_TABLE1,
    cohens_d_paired,
    compare_probes,
    figure7_data,
    format_table1,
    layer_of,
    mean_ci,
    paired_test,
    probe_statistics,
    rate_evolution,
    rate_table,
    rates_by_layer,
    seed_summary,
    training_curves,
    welch_test,
)
from neglr_utils.train import rate_summary

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
    assert {k: v.size for k, v in rates_by_layer(RATES).items()} == {
        "conv1": 5, "bn1": 2, "logits": 4}


def test_rate_table_rows_for_known_rates():
    rows = {r["layer"]: r for r in rate_table(RATES)}
    conv1 = rows["conv1"]
    values = np.array([-1.0, 1.0, 2.0, -2.0, 3.0])
    assert conv1["kind"] == "layer" and conv1["n"] == 5
    assert conv1["mean"] == pytest.approx(0.6)
    assert conv1["std"] == pytest.approx(values.std(ddof=1))
    assert conv1["frac_neg"] == pytest.approx(0.4)
    assert conv1["q50"] == pytest.approx(1.0) and conv1["q05"] < conv1["q95"]
    assert rows["conv1.bias"]["kind"] == "tensor" and rows["conv1.bias"]["std"] == 0.0
    assert rows["logits"]["frac_neg"] == pytest.approx(0.25)
    assert rows["bn1"]["std"] == 0.0
    text = format_table1(rate_table(RATES))
    assert "conv1" in text and f"{REPORT_TABLE1['logits'][1]:.3f}" in text
    assert "conv1.bias" not in text  # layer rows only


def test_rate_evolution_pools_tensors_exactly():
    g = torch.Generator().manual_seed(0)
    rates = {"conv1.weight": torch.randn(4, 1, 3, 3, generator=g),
             "conv1.bias": torch.randn(4, generator=g) + 1,
             "head.weight": torch.randn(3, 4, generator=g)}
    rows = [{"iteration": 5, "train_acc": 0.1},
            {"iteration": 10, "rates": rate_summary(rates)}]
    sizes = {k: v.numel() for k, v in rates.items()}
    out = rate_evolution(rows, sizes)
    layer = next(r for r in out if r["layer"] == "conv1" and r["kind"] == "layer")
    both = torch.cat([rates["conv1.weight"].ravel(), rates["conv1.bias"]]).double()
    assert layer["iteration"] == 10 and layer["n"] == 40
    assert layer["mean"] == pytest.approx(both.mean().item(), rel=1e-6)
    assert layer["std"] == pytest.approx(both.std().item(), rel=1e-6)
    assert layer["frac_neg"] == pytest.approx((both < 0).double().mean().item())
    assert len([r for r in rate_evolution(rows) if r["kind"] == "layer"]) == 0


def test_training_curves_columns():
    rows = [{"iteration": 1, "train_acc": 0.2},
            {"iteration": 2, "train_acc": 0.3, "val_acc": 0.25, "val_ci95": 0.05}]
    c = training_curves(rows)
    assert c["iteration"] == [1, 2] and c["val_iteration"] == [2] and c["val_ci95"] == [0.05]


def test_mean_ci_matches_scipy_and_shrinks():
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 0.1, 30)
    ci = mean_ci(x)
    lo, hi = stats.t.interval(0.95, 29, loc=x.mean(), scale=stats.sem(x))
    assert ci["low"] == pytest.approx(lo) and ci["high"] == pytest.approx(hi)
    assert ci["low"] < ci["mean"] < ci["high"]
    assert mean_ci(rng.normal(0.5, 0.1, 3000))["ci95"] < ci["ci95"]
    assert math.isnan(mean_ci([0.3])["ci95"])


def test_tests_match_scipy_and_cohens_d():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 50), rng.normal(0.3, 1, 50)
    assert paired_test(x, y)["p"] == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert paired_test(x, y)["p_wilcoxon"] == pytest.approx(stats.wilcoxon(x - y).pvalue)
    assert welch_test(x, y)["p"] == pytest.approx(stats.ttest_ind(x, y, equal_var=False).pvalue)
    assert cohens_d_paired([1.0, 2.0, 3.0]) == pytest.approx(2.0)  # mean 2, sd 1
    assert math.isnan(cohens_d_paired([0.0, 0.0]))
    same = paired_test([0.4, 0.5], [0.4, 0.5])
    assert math.isnan(same["p"]) and math.isnan(same["p_wilcoxon"])


def fake_probe(seed: int, off_shift: float, n: int = 200) -> dict:
    rng = np.random.default_rng(seed)
    pre_a, pre_b = rng.integers(0, 76, n) / 75, rng.integers(0, 76, n) / 75
    return {"pre_a": pre_a, "on_a": pre_a + rng.normal(0, 0.01, n),
            "off_b": pre_b + rng.normal(off_shift, 0.01, n), "pre_b": pre_b}


def test_probe_statistics_definitions():
    acc = fake_probe(0, 0.005)
    st = probe_statistics(acc)
    assert st["n"] == 200
    assert st["conditions"]["on_a"]["mean"] == pytest.approx(acc["on_a"].mean())
    assert st["changes"]["off_paired"]["mean"] == pytest.approx(
        (acc["off_b"] - acc["pre_b"]).mean())
    # the report's paired test: pre_a cancels, a one-sample test of on_a - off_b
    assert st["report_paired"]["p"] == pytest.approx(
        stats.ttest_1samp(acc["on_a"] - acc["off_b"], 0).pvalue)
    assert st["off_vs_pre_b"]["p"] < 1e-6 and st["off_vs_pre_b"]["cohens_d"] > 0
    assert st["report_two_sample"]["n_x"] == 200
    cmp_ = compare_probes(acc, fake_probe(1, -0.005))
    assert cmp_["off_paired"]["diff"] > 0 and cmp_["off_paired"]["p"] < 1e-6
    fig = figure7_data({"maml": st})
    assert fig["maml"]["n"] == 200 and set(fig["maml"]) == {"pre", "on", "off", "n"}


def test_seed_summary():
    one = seed_summary([0.47])
    assert one["n_seeds"] == 1 and math.isnan(one["ci95"]) and "n/a" in one["note"]
    three = seed_summary([0.46, 0.47, 0.48])
    assert three["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3))
