"""The placebo calibration of the report's test (`neglr_utils.analysis.calibration`)."""

import dataclasses

import numpy as np
import pytest
from scipy import stats as sps

from neglr_utils.analysis.calibration import (
    Calibration,
    PlaceboPair,
    calibrate,
    check_same_tasks,
    median_p,
    model_effect,
    reach,
)
from neglr_utils.core.probe import TRAINED, PairAccuracies, ProbeConfig, ProbeResult, RunKey

CFG = ProbeConfig(n_iterations=40)
N = 40


def acc(seed: int, shift: float) -> PairAccuracies:
    """Accuracies of one model on the same ``N`` task pairs, off-task moved by ``shift``."""
    rng = np.random.default_rng(seed)
    pre_a, pre_b = rng.integers(0, 50, N) / 50, rng.integers(0, 50, N) / 50
    return PairAccuracies(pre_a, np.clip(pre_a + rng.normal(0, 0.02, N), 0, 1),
                          np.clip(pre_b + shift + rng.normal(0, 0.02, N), 0, 1), pre_b)


def result(algo: str, seed: int, shift: float, config: ProbeConfig = CFG) -> ProbeResult:
    key = RunKey(algo, seed, "omniglot", "cpu", f"h{algo}{seed}", 10, True)
    return ProbeResult(key, TRAINED, config, acc(100 * seed + len(algo), shift), 10, 0.0,
                       1.0, "cpu")


RESULTS = [result("maml", s, -0.01 * s) for s in range(3)] + [
    result("meta-sgd", s, 0.02 * s) for s in range(3)]


@pytest.mark.parametrize("form", ["off − pre_b", "off − on"])
def test_every_pair_of_runs_is_tested_the_report_way(form):
    cal = calibrate(RESULTS, CFG, 0.00044, form=form)
    assert len(cal.pairs) == 15  # 6 runs: 6 * 5 / 2 pairs
    assert len(cal.placebo) == 6 and len(cal.between) == 9  # 3 + 3 same-algorithm pairs
    by_key = {(r.run.algo, r.run.seed): r.acc for r in RESULTS}

    def statistic(a):  # the report's per-pair statistic, written out here
        return {"off − pre_b": a.off_b - a.pre_b, "off − on": a.off_b - a.on_a}[form]

    for pair in cal.pairs:
        x = statistic(by_key[(pair.algo_x, pair.seed_x)])
        y = statistic(by_key[(pair.algo_y, pair.seed_y)])
        assert pair.p == pytest.approx(sps.ttest_rel(x, y).pvalue, rel=1e-9)
        assert pair.mean_diff == pytest.approx(float(np.mean(x - y)))
    assert cal.n_placebo_below == sum(p.p < 0.00044 for p in cal.placebo)


def test_algos_restrict_the_runs():
    cal = calibrate(RESULTS + [result("meta-sgd-positive", 0, 0.0)], CFG, 0.00044,
                    algos=("maml", "meta-sgd"))
    assert {p.algo_x for p in cal.pairs} | {p.algo_y for p in cal.pairs} == {"maml", "meta-sgd"}


def test_runs_probed_on_other_task_pairs_are_refused():
    other = result("maml", 5, 0.0, dataclasses.replace(CFG, seed=CFG.seed + 1))
    check_same_tasks(RESULTS)  # the same pairs: no error
    with pytest.raises(ValueError, match="different task pairs"):
        check_same_tasks(RESULTS + [other])
    with pytest.raises(ValueError, match="same ProbeConfig"):
        calibrate(RESULTS + [dataclasses.replace(other, config=CFG, n_query=15)], CFG, 0.00044)


def test_median_p_of_an_even_count_is_the_mean_of_the_middle_two():
    pairs = calibrate(RESULTS[:2] + RESULTS[3:5], CFG, 0.00044).pairs  # 6 pairs
    ps = sorted(p.p for p in pairs)
    assert median_p(pairs) == pytest.approx((ps[2] + ps[3]) / 2)
    assert median_p(pairs[:3]) == pytest.approx(sorted(p.p for p in pairs[:3])[1])
    with pytest.raises(ValueError):
        median_p(())


def test_the_placebo_table_and_text_use_the_median():
    """Two same-algorithm pairs: the table's median p is their mean, and the text counts
    the pairs the planned seeds will give (two algorithms x C(5, 2))."""
    from neglr_utils.display import tables
    from neglr_utils.display.format import fmt

    cal = calibrate(RESULTS[:2] + RESULTS[3:5], CFG, 0.00044)
    two = [p.p for p in cal.placebo]
    row = next(r for r in tables.calibration_rows([("d", cal)])
               if r["pairs of models"].startswith("same"))
    assert row["median p"] == fmt(sum(two) / 2, "p")
    text = tables.placebo_text(cal, 5)
    assert "of 2 same-algorithm pairs" in text and "give 20" in text
    assert tables.placebo_text(calibrate(RESULTS[:1] + RESULTS[3:4], CFG, 0.00044), 5) == (
        "no two models of one algorithm are probed yet")


def pairs(same: list[float], between: list[float], ahead: str = "meta-sgd",
          sd: float = 0.01) -> Calibration:
    """A calibration with the given p-values of same- and different-algorithm pairs, each
    different-algorithm pair with ``ahead``'s model the better one; ``sd`` over 600 task
    pairs (0.01: a difference of 0.0014 reaches p = 0.00044, less than the report's effect)."""
    def pair(algo_y: str, p: float, diff: float = 0.0) -> PlaceboPair:
        return PlaceboPair("maml", 0, algo_y, 1, "off − pre_b", p, diff, sd, 600)
    diff = -0.01 if ahead == "meta-sgd" else 0.01  # x (MAML) minus y (Meta-SGD)
    return Calibration("off − pre_b", tuple([pair("maml", p) for p in same]
                                           + [pair("meta-sgd", p, diff) for p in between]),
                       0.00044)


SAME_OK = [0.3, 0.5, 0.7]
NOT_REACHED = ("the placebo shows no sign of miscalibration there, but the difference "
               "between the algorithms does not reach the report's p")
REACHED = ("the placebo shows no sign of miscalibration there, and most MAML–Meta-SGD pairs "
           "reach the report's p with Meta-SGD ahead")


@pytest.mark.parametrize(("same", "between", "ahead", "status", "reading"), [
    # 1 of 3 placebo pairs below: not calibrated, whatever the algorithms do
    ([0.3, 0.5, 1e-5], [1e-6] * 9, "meta-sgd", "not reproduced",
     "the test is not calibrated there"),
    (SAME_OK, [0.2] * 8 + [1e-6], "meta-sgd", "not reproduced", NOT_REACHED),  # 1 of 9
    (SAME_OK, [1e-6] * 5 + [0.2] * 4, "meta-sgd", "reproduced", REACHED),  # 5 of 9
    (SAME_OK, [1e-6] * 4 + [0.2] * 4, "meta-sgd", "not reproduced", NOT_REACHED),  # half
    (SAME_OK, [1e-6] * 9, "maml", "not reproduced", NOT_REACHED),  # MAML ahead in all 9
    # 1 of 20 placebo pairs below is 5 %: not more than MISCALIBRATED
    ([0.3] * 19 + [1e-5], [1e-6] * 9, "meta-sgd", "reproduced", REACHED),
    ([0.3] * 18 + [1e-5] * 2, [1e-6] * 9, "meta-sgd", "not reproduced",
     "the test is not calibrated there"),
    (SAME_OK, [], "meta-sgd", "not testable here",
     "the placebo shows no sign of miscalibration there"),  # no MAML–Meta-SGD pair yet
    ([0.3, 0.5], [1e-6] * 4, "meta-sgd", "not testable here",
     "so few pairs say little, and the 5 planned seeds of each algorithm give 20 such pairs"),
])
def test_the_report_p_counts_only_when_calibrated_and_reached(same, between, ahead, status,
                                                              reading):
    """'p = 0.00044 shows the difference is real' needs both: two models of one algorithm
    rarely below the report's p (more than 5 % of the pairs is too often), and most
    MAML–Meta-SGD pairs below it with Meta-SGD ahead, as in the report (half is not most)."""
    from neglr_utils.analysis.scorecard import calibration_finding
    from neglr_utils.display import tables

    cal = pairs(same, between, ahead)
    assert calibration_finding(cal).status == status
    assert tables.placebo_text(cal, 5).split("; ")[-1] == reading


def test_the_report_p_is_not_testable_where_only_a_larger_effect_reaches_it():
    from neglr_utils.analysis.scorecard import calibration_finding
    from neglr_utils.display import tables

    cal = pairs(SAME_OK, [0.2] * 9, sd=0.1)  # 600 pairs: a difference of 0.0144 reaches p
    assert calibration_finding(cal).status == "not testable here"
    assert tables.placebo_text(cal, 5).split("; ")[-1] == (
        "at 600 task pairs p < 0.00044 needs a mean difference of at least 0.0144 between two "
        "models, more than the report's whole effect (+0.0024), so at this number of pairs the "
        "test cannot see a difference as small as the report's")
    assert calibration_finding(pairs(SAME_OK, [0.2] * 9, sd=0.01)).status == "not reproduced"
    # low power does not hide a positive result: most MAML–Meta-SGD pairs reach p anyway
    reached = pairs(SAME_OK, [1e-6] * 5 + [0.2] * 4, sd=0.1)
    assert calibration_finding(reached).status == "reproduced"
    assert tables.placebo_text(reached, 5).split("; ")[-1] == REACHED


def test_a_pair_knows_which_model_is_ahead():
    pair = PlaceboPair("maml", 0, "meta-sgd", 1, "off − pre_b", 0.1, -0.02, 0.1, 600)  # x − y
    assert pair.ahead("meta-sgd") and not pair.ahead("maml")
    with pytest.raises(ValueError, match="neither"):
        pair.ahead("meta-sgd-positive")


def placebo_of(diffs: list[np.ndarray], threshold: float) -> Calibration:
    """Same-algorithm pairs whose per-task-pair differences are ``diffs``."""
    pairs = []
    for d in diffs:
        t = sps.ttest_1samp(d, 0.0)
        pairs.append(PlaceboPair("maml", 0, "maml", 1, "off − pre_b", t.pvalue, d.mean(),
                                 d.std(ddof=1), len(d)))
    return Calibration("off − pre_b", tuple(pairs), threshold)


def test_reach_detectable_is_where_the_t_test_crosses_the_threshold():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 1, 600)
    z = (z - z.mean()) / z.std(ddof=1)  # mean 0, sd 1 exactly
    r = reach(placebo_of([0.04 * z, 0.05 * z + 0.001], 0.00044), n_pairs=600)
    sd = np.sqrt((0.04 ** 2 + 0.05 ** 2) / 2)
    at_edge = sd * z + r.detectable  # a pair whose mean is exactly the detectable difference
    assert sps.ttest_1samp(at_edge, 0.0).pvalue == pytest.approx(0.00044, rel=1e-6)
    assert r.largest == pytest.approx(0.001)
    assert reach(placebo_of([0.04 * z], 0.00044), n_pairs=40_000).detectable == pytest.approx(
        sps.t.ppf(1 - 0.00022, 39_999) * 0.04 / 200)


def model_results(effects: np.ndarray, sd: float, n: int, seed: int) -> list[ProbeResult]:
    """One MAML model per entry of ``effects``, probed on the same ``n`` task pairs: its
    off − pre_b statistic is task-pair effect + its model effect + noise of sd ``sd``."""
    rng = np.random.default_rng(seed)
    pair_effect = rng.normal(0, 0.05, n)
    cfg = ProbeConfig(n_iterations=n)
    out = []
    for m, effect in enumerate(effects):
        stat = pair_effect + effect + rng.normal(0, sd, n)
        acc = PairAccuracies(np.full(n, 0.5), np.full(n, 0.5), 0.5 + stat, np.full(n, 0.5))
        key = RunKey("maml", m, "omniglot", "cpu", f"hmaml{m}", 10, True)
        out.append(ProbeResult(key, TRAINED, cfg, acc, 10, 0.0, 1.0, "cpu"))
    return out


def test_model_effect_recovers_sigma_m_and_projects_the_placebo_to_more_pairs():
    rng = np.random.default_rng(4)
    tau, sd = 0.004, 0.1  # model effects ~ N(0, tau²); per-pair noise of one model
    effects = rng.normal(0, tau, 60)
    e = model_effect(model_results(effects, sd, 400, seed=5), ProbeConfig(n_iterations=400),
                     "maml")
    assert e.n_models == 60 and e.p < 0.01
    assert e.sd_model == pytest.approx(np.std(effects, ddof=1), rel=0.25)
    assert e.sd_model_low < e.sd_model < e.sd_model_high and e.sd_error == pytest.approx(sd,
                                                                                        rel=0.05)
    # the same models probed on 4× the task pairs: the share of pairs below p = 0.01 (where
    # the task-pair noise still matters: 2 sd² / n is comparable to 2 tau²)
    more = model_results(effects, sd, 1600, seed=6)
    cal = calibrate(more, ProbeConfig(n_iterations=1600), 0.01)
    assert e.share_below(0.01, 1600, e.sd_model) == pytest.approx(
        cal.fraction_placebo_below, abs=0.06)
    assert e.share_below(0.01, 1600, e.sd_model) > e.share_below(0.01, 400, e.sd_model)
    # no model effect: the nominal share, an F-test that does not reject, an interval from 0
    none = model_effect(model_results(np.zeros(5), sd, 600, seed=7),
                        ProbeConfig(n_iterations=600), "maml")
    assert none.share_below(0.05, 600, 0.0) == pytest.approx(0.05, rel=0.02)  # t vs normal
    assert none.sd_model_low == 0.0 and none.sd_model_high > 0.0
    assert model_effect(model_results(np.zeros(1), sd, 600, seed=8),
                        ProbeConfig(n_iterations=600), "maml") is None
