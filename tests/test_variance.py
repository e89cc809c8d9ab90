"""Variance decomposition, seeds needed and the probability of improvement, against
hand-computed values, statsmodels and simulation."""

import math

import numpy as np
import pytest

from neglr_utils.analysis.variance import (
    decompose,
    power_equivalence,
    power_one_sample,
    prob_greater,
    probability_of_improvement,
    seeds_for_equivalence,
    seeds_needed,
    seeds_to_detect,
)
from neglr_utils.stats import tost


def test_decomposition_by_hand():
    # seeds: means 1, 3; within deviations +-1 -> MSW = 4/ (2*(2-1)) ... by hand:
    groups = [[0.0, 2.0], [2.0, 4.0]]
    parts = decompose(groups)
    msw = (1 + 1 + 1 + 1) / (2 * 1)  # 2
    msb = 2 * ((1 - 2) ** 2 + (3 - 2) ** 2) / 1  # 4
    assert parts.sd_within == pytest.approx(math.sqrt(msw))
    assert parts.sd_between == pytest.approx(math.sqrt((msb - msw) / 2))
    assert parts.icc == pytest.approx(1 / 3)
    assert parts.sd_seed_means == pytest.approx(np.std([1, 3], ddof=1))


def test_decomposition_recovers_simulated_components():
    rng = np.random.default_rng(0)
    b = rng.normal(0, 0.3, size=400)
    groups = [bs + rng.normal(0, 1.0, size=200) for bs in b]
    parts = decompose(groups)
    assert parts.sd_between == pytest.approx(0.3, rel=0.1)
    assert parts.sd_within == pytest.approx(1.0, rel=0.02)
    assert parts.sd_per_seed == pytest.approx(math.sqrt(0.09 + 1 / 200), rel=0.1)


def test_decomposition_needs_balanced_groups():
    with pytest.raises(ValueError, match="same number"):
        decompose([[1.0, 2.0], [1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        decompose([[1.0, 2.0]])


@pytest.mark.parametrize(("n", "d"), [(5, 0.5), (20, 0.3), (3, 2.0)])
def test_power_equals_statsmodels(n, d):
    sm = pytest.importorskip("statsmodels.stats.power")
    expected = sm.TTestPower().power(effect_size=d, nobs=n, alpha=0.05)
    assert power_one_sample(n, d, 1.0) == pytest.approx(expected, rel=1e-6)


def test_seeds_to_detect_equals_statsmodels_solution():
    sm = pytest.importorskip("statsmodels.stats.power")
    n = seeds_to_detect(0.0024, 0.004)
    solved = sm.TTestPower().solve_power(effect_size=0.0024 / 0.004, alpha=0.05, power=0.8)
    assert n == math.ceil(solved)
    assert power_one_sample(n, 0.0024, 0.004) >= 0.8 > power_one_sample(n - 1, 0.0024, 0.004)


def test_equivalence_power_matches_simulated_tost():
    margin, sd = 0.5, 1.0
    n = seeds_for_equivalence(margin, sd)
    rng = np.random.default_rng(1)
    hits = np.mean([tost(rng.normal(0, sd, size=n), margin).equivalent for _ in range(3000)])
    assert hits == pytest.approx(power_equivalence(n, margin, sd), abs=0.03)
    assert power_equivalence(n - 1, margin, sd) < 0.8 <= power_equivalence(n, margin, sd)


def test_probability_of_improvement_by_hand():
    assert prob_greater([1, 3], [2]) == pytest.approx(0.5)
    assert prob_greater([2, 3], [2, 1]) == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    imp = probability_of_improvement([1.0, 2.0, 3.0], [0.0, 0.5, 4.0], n_boot=2000)
    assert imp.p == pytest.approx(prob_greater([1, 2, 3], [0, 0.5, 4]))
    assert imp.low <= imp.p <= imp.high and (imp.n_x, imp.n_y) == (3, 3)
    same = probability_of_improvement([1.0, 2.0], [1.0, 2.0], seed=3)
    assert same.p == 0.5


def test_more_task_pairs_shrink_only_the_within_seed_part():
    rng = np.random.default_rng(5)
    effects = rng.normal(0, 0.002, 6)  # seed effects; task-pair noise sd 0.04 over 600
    parts = decompose([e + rng.normal(0, 0.04, 600) for e in effects])
    need = seeds_needed(parts, 0.0024, factor=10)
    assert need.detect == seeds_to_detect(0.0024, parts.sd_seed_means)
    assert need.equivalence == seeds_for_equivalence(0.0024, parts.sd_seed_means)
    more = math.sqrt(parts.sd_between ** 2 + parts.sd_within ** 2 / 6000)
    assert need.detect_more_pairs == seeds_to_detect(0.0024, more)
    assert need.detect_any_pairs == seeds_to_detect(0.0024, parts.sd_between)
    assert need.detect_any_pairs <= need.detect_more_pairs <= need.detect
    no_seed_effect = decompose([np.array([1.0, -1.0] * 5) + 0.01,
                                np.array([1.0, -1.0] * 5) - 0.01])  # MSB < MSW
    assert no_seed_effect.sd_between == 0
    assert seeds_needed(no_seed_effect, 0.5).detect_any_pairs == 2


def test_about_rounds_large_seed_counts_to_two_digits():
    from neglr_utils.display.tables import about

    assert [about(n) for n in (7, 99, 5119, 12_345, 100_000)] == [
        "7", "99", "5,100", "12,000", "> 100,000"]
