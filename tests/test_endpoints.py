"""The report's claim as endpoints: paired changes, model comparisons, seeds, verdicts."""

import numpy as np
import pytest
from scipy import stats as sps

from neglr_utils.analysis import published
from neglr_utils.analysis.endpoints import (
    adaptation_part,
    changes,
    compare,
    conclude,
    family,
    over_seeds,
    verdict,
)
from neglr_utils.core.probe import TRAINED, PairAccuracies, ProbeConfig, ProbeResult, RunKey

CFG = ProbeConfig(n_iterations=50)


def acc(seed: int, off_shift: float, n: int = 50) -> PairAccuracies:
    rng = np.random.default_rng(seed)
    pre_a = rng.integers(0, 50, n) / 50
    pre_b = rng.integers(0, 50, n) / 50
    return PairAccuracies(pre_a, pre_a + 0.02, np.clip(pre_b + off_shift, 0, 1), pre_b)


def result(algo: str, seed: int, a: PairAccuracies) -> ProbeResult:
    key = RunKey(algo, seed, "omniglot", "cpu", f"h{algo}{seed}", 10, True)
    return ProbeResult(key, TRAINED, CFG, a, 50, 0.0, 1.0, "cpu")


def test_changes_are_paired_differences():
    a = acc(0, 0.04)
    c = changes(a)
    assert c.on.diff.mean == pytest.approx(0.02)
    assert c.off.diff.mean == pytest.approx(np.mean(a.off_b - a.pre_b))
    assert c.off_report.p == pytest.approx(sps.ttest_rel(a.off_b, a.pre_a).pvalue)


def test_compare_pairs_the_two_models_pair_by_pair():
    x, y = acc(1, 0.03), acc(2, -0.01)
    c = compare(x, y)
    delta = (x.off_b - x.pre_b) - (y.off_b - y.pre_b)
    assert c.primary.diff.mean == pytest.approx(delta.mean())
    assert c.primary.p == pytest.approx(sps.ttest_1samp(delta, 0).pvalue)
    report_form = (x.off_b - x.on_a) - (y.off_b - y.on_a)
    assert c.report_form.diff.mean == pytest.approx(report_form.mean())
    with pytest.raises(ValueError, match="same task pairs"):
        compare(x, acc(3, 0.0, n=10))


def test_seeds_are_the_unit_of_the_verdict():
    results = [result("meta-sgd", s, acc(10 + s, 0.05)) for s in range(3)]
    results += [result("maml", s, acc(10 + s, -0.05)) for s in range(3)]
    v = verdict(results, CFG)
    assert v.endpoint.seeds == (0, 1, 2) and v.endpoint.interval.n == 3
    per_seed = [c.primary.diff.mean for c in v.per_seed]
    assert v.endpoint.interval.mean == pytest.approx(np.mean(per_seed))
    assert v.conclusion == "supported"
    assert v.margin == pytest.approx(abs(published.effect()))
    swapped = verdict(results, CFG, algo_x="maml", algo_y="meta-sgd")
    assert swapped.conclusion == "opposite"


def noisy(seed: int, shift: float, n: int = 50) -> PairAccuracies:
    """`acc` with an on-task accuracy of its own per model (so the on term differs)."""
    a = acc(seed, shift, n)
    on = np.clip(a.pre_a + np.random.default_rng(seed + 1000).normal(0.02, 0.05, n), 0, 1)
    return PairAccuracies(a.pre_a, on, a.off_b, a.pre_b)


def test_the_report_form_splits_into_its_three_terms():
    xs, ys = [noisy(20 + s, 0.04) for s in range(3)], [noisy(30 + s, -0.02) for s in range(3)]
    results = [result("meta-sgd", s, x) for s, x in enumerate(xs)]
    results += [result("maml", s, y) for s, y in enumerate(ys)]
    split = verdict(results, CFG).report_form
    total, off, on, base = (np.array(t.values) for t in
                            (split.total, split.off, split.on, split.baseline))
    np.testing.assert_allclose(total, off - on + base, atol=1e-12)  # per seed, exactly
    x, y = xs[1], ys[1]  # seed 1 by hand
    assert on[1] == pytest.approx(np.mean((x.on_a - x.pre_a) - (y.on_a - y.pre_a)))
    assert abs(on[1]) > 0.001  # the on term is not the same in both models
    assert base[1] == pytest.approx(np.mean((x.pre_b - x.pre_a) - (y.pre_b - y.pre_a)))
    per_pair = np.mean([(x.pre_b - x.pre_a) - (y.pre_b - y.pre_a)
                        for x, y in zip(xs, ys, strict=True)], axis=0)
    assert split.baseline_pair_se == pytest.approx(sps.sem(per_pair))
    assert adaptation_part(split).mean == pytest.approx(np.mean(off - on))


def test_equivalence_needs_seeds_inside_the_margin():
    tight = over_seeds([0, 1, 2], [0.0004, -0.0003, 0.0001], margin=0.0024)
    assert conclude(tight) == "equivalent"
    wide = over_seeds([0, 1, 2], [0.004, -0.003, 0.0], margin=0.0024)
    assert conclude(wide) == "inconclusive"
    one = over_seeds([0], [0.01], margin=0.0024)
    assert conclude(one) == "inconclusive"  # one seed decides nothing


def test_family_adjusts_every_test_shown_together():
    results = [result(a, s, acc(20 + s, d)) for s in range(2)
               for a, d in (("meta-sgd", 0.02), ("maml", 0.0))]
    rows = family(verdict(results, CFG))
    assert len(rows) == 2 * 2 + 2  # per seed: primary and report form; and over seeds
    finite = [r for r in rows if np.isfinite(r.p)]
    assert all(r.p_holm >= r.p for r in finite)
    assert max(r.p_holm for r in finite) <= 1.0


def test_no_pair_of_models_is_an_error():
    with pytest.raises(ValueError, match="no seed"):
        verdict([result("maml", 0, acc(0, 0.0))], CFG)
