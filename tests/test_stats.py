"""Statistics against scipy and hand computations on fixed data."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from neglr_utils.stats import holm, mean_ci, paired_test, tost, welch_ci, wilcoxon

X = np.array([0.52, 0.48, 0.50, 0.56, 0.44, 0.50, 0.54])
Y = np.array([0.50, 0.50, 0.46, 0.52, 0.44, 0.48, 0.50])


def test_mean_ci_is_the_t_interval():
    ci = mean_ci(X)
    low, high = sps.t.interval(0.95, X.size - 1, loc=X.mean(), scale=sps.sem(X))
    assert ci.mean == pytest.approx(X.mean())
    assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-12)
    assert ci.n == 7 and ci.sd == pytest.approx(X.std(ddof=1))


def test_mean_ci_by_hand():
    ci = mean_ci([1.0, 2.0, 3.0])  # mean 2, sd 1; with 2 df, t_p = (2p - 1) / sqrt(2p(1 - p))
    t = 0.95 / math.sqrt(2 * 0.975 * 0.025)
    assert ci.half == pytest.approx(t / math.sqrt(3), rel=1e-10)


def test_mean_ci_of_one_value_has_no_interval():
    ci = mean_ci([0.3])
    assert ci.mean == 0.3 and math.isnan(ci.low) and math.isnan(ci.half)
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])


def test_paired_test_matches_scipy():
    res = paired_test(X, Y)
    ref = sps.ttest_rel(X, Y)
    assert res.t == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p == pytest.approx(ref.pvalue, rel=1e-12)
    d = X - Y
    assert res.cohens_d == pytest.approx(d.mean() / d.std(ddof=1))
    assert res.n_zero == 1


def test_wilcoxon_ranks_zero_differences_then_drops_them():
    d = np.array([0.02, 0.04, 0, 0, 0, 0.02, -0.02, 0.04, 0.06, 0, 0.02, -0.04])
    assert wilcoxon(d) == pytest.approx(sps.wilcoxon(d, zero_method="pratt").pvalue)
    assert wilcoxon(d) != pytest.approx(sps.wilcoxon(d, zero_method="wilcox").pvalue)
    assert math.isnan(wilcoxon(np.zeros(5)))


def test_paired_test_against_a_constant_and_degenerate_differences():
    res = paired_test(X, 0.5)
    ref = sps.ttest_1samp(X, 0.5)
    assert res.p == pytest.approx(ref.pvalue, rel=1e-12)
    same = paired_test(X, X)
    assert math.isnan(same.t) and math.isnan(same.p) and same.diff.mean == 0
    with pytest.raises(ValueError, match="equal lengths"):
        paired_test(X, Y[:3])


def test_tost_by_hand():
    d = np.array([0.01, -0.02, 0.00, 0.015, -0.005])
    margin = 0.03
    se = d.std(ddof=1) / math.sqrt(d.size)
    p_low = 1 - sps.t.cdf((d.mean() + margin) / se, 4)
    p_high = sps.t.cdf((d.mean() - margin) / se, 4)
    res = tost(d, margin)
    assert res.p == pytest.approx(max(p_low, p_high), rel=1e-10)
    assert res.equivalent
    # the decision equals "the 90 % interval lies inside the margin"
    ci90 = mean_ci(d, 0.90)
    assert res.interval.low == pytest.approx(ci90.low)
    assert not tost(d, 0.012).equivalent
    assert (ci90.low > -0.012 and ci90.high < 0.012) is False


def test_tost_needs_a_positive_margin():
    with pytest.raises(ValueError, match="margin"):
        tost(X, 0.0)


def test_holm_by_hand():
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    with_nan = holm([0.01, math.nan, 0.02])
    assert with_nan[0] == pytest.approx(0.02) and math.isnan(with_nan[1])


def test_welch_interval_equals_scipy():
    x, y = [0.41, 0.43, 0.40, 0.44, 0.42], [0.39, 0.45, 0.38]
    iv = welch_ci(x, y)
    res = sps.ttest_ind(x, y, equal_var=False)
    low, high = res.confidence_interval(0.95)
    assert (iv.low, iv.high) == pytest.approx((low, high), rel=1e-10)
    assert iv.mean == pytest.approx(sum(x) / 5 - sum(y) / 3)
    assert math.isnan(welch_ci([1.0], [2.0, 3.0]).low)


def test_a_negated_interval_swaps_and_flips_its_bounds():
    iv = mean_ci([0.1, 0.3, 0.2])
    neg = iv.negated()
    assert (neg.mean, neg.low, neg.high) == (-iv.mean, -iv.high, -iv.low)
    assert neg.half == pytest.approx(iv.half) and neg.n == 3 and neg.sd == iv.sd
