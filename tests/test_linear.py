"""One-step MAML / Meta-SGD on mixed linear regression: exact solutions against simulation.

Small problems only (seconds on one core); every random number comes from a fixed seed.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats as sps
from scipy.optimize import minimize_scalar

from neglr_utils.display.tables import fmt
from neglr_utils.linear import plots as linear_plots
from neglr_utils.linear.model import (
    LinearTask,
    MetaSGDConfig,
    MetaTrainSet,
    Regime,
    adapt,
    best_adaptation_rate,
    compare_rates,
    expected_test_loss,
    fit_meta_sgd,
    learn_rates,
    loss_curve,
    meta_design,
    meta_train_grad,
    meta_train_loss,
    minimise_rate,
    ratio_scan,
    sample_meta_train,
    sample_sets,
    sampled_test_loss,
    solve_omega,
    train_profile_loss,
)
from neglr_utils.linear.text import (
    find_learned,
    learned_rows,
    regime_rows,
)

TASK = LinearTask(p=6, nu=1.0, sigma=0.7, w0_norm=1.0)
UNDER = MetaTrainSet(m=8, n_t=4, n_v=3)  # 24 query samples for 6 parameters
OVER = MetaTrainSet(m=3, n_t=5, n_v=2)  # 6 query samples for 20 parameters (with TASK_WIDE)
TASK_WIDE = LinearTask(p=20, nu=1.0, sigma=0.7, w0_norm=1.0)


def data_for(task: LinearTask, sizes: MetaTrainSet, seed: int = 0):
    return sample_meta_train(task, sizes, np.random.default_rng(seed))


def test_fourth_moment_of_the_sample_covariance():
    """E[C D C] = (n + 1) / n D + tr(D) / n I for C = X^T X / n, X: [n, p] standard normal.

    Monte Carlo over 200,000 draws; every entry within its Bonferroni-corrected 99 % interval.
    """
    n, p, draws = 3, 4, 200_000
    d = np.array([0.5, -1.0, 2.0, 0.3])
    x = np.random.default_rng(1).standard_normal((draws, n, p))
    c = np.swapaxes(x, 1, 2) @ x / n
    cdc = (c * d) @ c
    formula = (n + 1) / n * np.diag(d) + d.sum() / n * np.eye(p)
    z = sps.norm.ppf(1 - 0.01 / (2 * p * p))
    se = cdc.std(0, ddof=1) / np.sqrt(draws)
    assert np.all(np.abs(cdc.mean(0) - formula) <= z * se)


def test_meta_design_is_the_least_squares_form_of_the_loss():
    data = data_for(TASK, UNDER)
    omega = np.random.default_rng(2).standard_normal(TASK.p)
    for alpha in (0.4, np.linspace(-0.5, 0.5, TASK.p)):
        design, target = meta_design(alpha, data)
        expected = np.sum((design @ omega - target) ** 2) / (2 * UNDER.n_query)
        assert meta_train_loss(omega, alpha, data) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.3, np.linspace(-0.6, 0.9, 6)], ids=["scalar", "vector"])
def test_meta_train_grad_matches_finite_differences(alpha):
    data = data_for(TASK, UNDER, seed=3)
    omega = np.random.default_rng(4).standard_normal(TASK.p)
    g_omega, g_alpha = meta_train_grad(omega, alpha, data)
    h = 1e-6
    fd_omega = [(meta_train_loss(omega + h * e, alpha, data)
                 - meta_train_loss(omega - h * e, alpha, data)) / (2 * h) for e in np.eye(TASK.p)]
    a = np.atleast_1d(np.asarray(alpha, dtype=float))
    fd_alpha = [(meta_train_loss(omega, (a + h * e).reshape(np.shape(alpha)), data)
                 - meta_train_loss(omega, (a - h * e).reshape(np.shape(alpha)), data)) / (2 * h)
                for e in np.eye(a.size)]
    np.testing.assert_allclose(g_omega, fd_omega, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.atleast_1d(g_alpha), fd_alpha, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("task", "sizes", "alpha"), [
    (TASK, UNDER, -0.7), (TASK, UNDER, 0.3), (TASK, UNDER, np.linspace(-0.5, 0.5, 6)),
    (TASK_WIDE, OVER, -0.7), (TASK_WIDE, OVER, 0.3)],
    ids=["under-negative", "under-positive", "under-per-coordinate", "over-negative",
         "over-positive"])
def test_exact_solve_equals_gradient_descent(task, sizes, alpha):
    """Gradient descent on omega from 0, run until ||grad|| < 1e-7, lands on `solve_omega`.

    Tolerance: for a quadratic, ||omega - omega*|| <= ||grad|| / lambda, with lambda the
    smallest non-zero eigenvalue of the Hessian M^T M / (m n_v) (descent from 0 stays in the
    row space of M, where omega* lies too, so this holds in the over-parameterised case).
    """
    data = data_for(task, sizes, seed=5)
    cfg = MetaSGDConfig(per_coordinate=np.ndim(alpha) == 1, learn_alpha=False, grad_tol=1e-7)
    fit = fit_meta_sgd(data, cfg, alpha_init=alpha)
    design, _ = meta_design(alpha, data)
    eig = np.linalg.eigvalsh(design.T @ design / design.shape[0])
    lam = eig[eig > 1e-10 * eig.max()].min()
    exact = solve_omega(alpha, data)
    assert fit.converged
    np.testing.assert_allclose(fit.alpha, alpha)
    assert np.linalg.norm(fit.omega - exact) <= 1.001 * fit.grad_norm / lam + 1e-12


CLOSED_FORM_CASES = {
    "scalar": (0.6, 0.5),
    "per-coordinate": (np.linspace(-0.3, 0.8, 6), 0.5),
    "negative": (-0.4, 0.0),
    "no-step": (0.0, 1.0),
}


@pytest.mark.parametrize("case", CLOSED_FORM_CASES)
def test_expected_test_loss_matches_simulation(case):
    """The closed form lies in the 99 % interval of 40,000 simulated test tasks."""
    alpha_r, offset = CLOSED_FORM_CASES[case]
    omega = TASK.w0() + offset * np.random.default_rng(6).standard_normal(TASK.p)
    sim = sampled_test_loss(omega, TASK, 4, alpha_r, n_tasks=40_000, n_test=8,
                            rng=np.random.default_rng(7), confidence=0.99)
    assert abs(expected_test_loss(omega, TASK, 4, alpha_r) - sim.mean) <= sim.half


def test_no_inner_loop_is_pooled_least_squares_on_the_queries():
    """alpha_t = 0: omega* is least squares on all query samples; the support is not used."""
    data = data_for(TASK, UNDER, seed=8)
    pooled, *_ = np.linalg.lstsq(data.x_query.reshape(-1, TASK.p), data.y_query.ravel(),
                                 rcond=None)
    np.testing.assert_allclose(solve_omega(0.0, data), pooled, rtol=1e-10, atol=1e-12)
    other = data_for(TASK, UNDER, seed=9)
    swapped = type(data)(other.x_support, other.y_support, data.x_query, data.y_query)
    np.testing.assert_allclose(solve_omega(0.0, swapped), pooled, rtol=1e-10, atol=1e-12)
    assert not np.allclose(solve_omega(0.3, swapped), solve_omega(0.3, data))


def test_per_coordinate_rates_all_equal_reproduce_the_scalar_rate():
    data = data_for(TASK, UNDER, seed=10)
    omega = np.random.default_rng(11).standard_normal(TASK.p)
    same = np.full(TASK.p, 0.3)
    assert meta_train_loss(omega, same, data) == pytest.approx(meta_train_loss(omega, 0.3, data))
    g_vec, g_scalar = meta_train_grad(omega, same, data), meta_train_grad(omega, 0.3, data)
    np.testing.assert_allclose(g_vec[0], g_scalar[0], rtol=1e-12)
    assert g_vec[1].sum() == pytest.approx(g_scalar[1], rel=1e-12)
    np.testing.assert_allclose(solve_omega(same, data), solve_omega(0.3, data), rtol=1e-10)
    assert expected_test_loss(omega, TASK, 5, same) == pytest.approx(
        expected_test_loss(omega, TASK, 5, 0.3), rel=1e-12)


def test_a_negative_step_raises_the_support_loss_and_a_small_positive_one_lowers_it():
    data = data_for(TASK, UNDER, seed=12)
    x, y, omega = data.x_support, data.y_support, np.zeros(TASK.p)

    def support_loss(w):
        return 0.5 * np.mean((np.matmul(x, w[..., None])[..., 0] - y) ** 2, axis=1)

    before = support_loss(np.broadcast_to(omega, (UNDER.m, TASK.p)))
    assert np.all(support_loss(adapt(omega, x, y, -0.05)) > before)
    assert np.all(support_loss(adapt(omega, x, y, 0.05)) < before)


def test_best_adaptation_rate_minimises_the_closed_form_and_is_positive():
    for excess in (0.0, 4.0):
        omega = TASK.w0() + np.sqrt(excess / TASK.p)
        best = minimize_scalar(lambda a, w=omega: expected_test_loss(w, TASK, 5, a),
                               bounds=(-2, 2), method="bounded", options={"xatol": 1e-9}).x
        rate = best_adaptation_rate(TASK, 5, excess)
        assert rate > 0
        assert rate == pytest.approx(best, abs=1e-6)


def test_large_rates_of_either_sign_give_the_same_solution():
    """As |alpha_t| grows, omega*(alpha_t) tends to one limit whatever the sign."""
    data = data_for(TASK, UNDER, seed=13)
    np.testing.assert_allclose(solve_omega(1e6, data), solve_omega(-1e6, data), rtol=1e-4)
    assert not np.allclose(solve_omega(0.5, data), solve_omega(-0.5, data), rtol=1e-2)


def test_learned_scalar_rate_is_the_grid_minimiser_of_the_meta_training_objective():
    """Meta-SGD's outer loop (joint descent on omega and a scalar rate) finds the minimiser of
    min_omega meta_train_loss(omega, alpha), located by a grid search refined by Brent."""
    regime = Regime("under", TASK, UNDER, 5, 0.3)
    data = data_for(TASK, UNDER, seed=14)
    fit = fit_meta_sgd(data, MetaSGDConfig(alpha_init=0.3))
    best = minimise_rate(lambda a: train_profile_loss(regime, data, a), np.linspace(-2, 2, 41))
    assert fit.converged
    assert fit.alpha == pytest.approx(best, abs=1e-4)
    assert fit.train_loss == pytest.approx(train_profile_loss(regime, data, best), rel=1e-8)


def test_with_many_tasks_the_learned_rate_is_the_best_adaptation_rate_for_n_t_samples():
    """The meta-training loss estimates the test loss with n_r = n_t, so for many tasks the
    learned (tied) rate approaches best_adaptation_rate(task, n_t) > 0, not a negative rate."""
    task, sizes = LinearTask(p=4, nu=1.0, sigma=0.5), MetaTrainSet(m=20_000, n_t=6, n_v=6)
    fit = fit_meta_sgd(data_for(task, sizes, seed=15), MetaSGDConfig(alpha_init=-0.2))
    assert fit.converged
    assert fit.alpha == pytest.approx(best_adaptation_rate(task, sizes.n_t), abs=0.02)


def test_over_parameterised_meta_training_interpolates_at_every_rate():
    """With m n_v < p the outer objective is zero whatever alpha_t: it cannot choose a rate."""
    regime = Regime("over", TASK_WIDE, OVER, 5, 0.3)
    data = data_for(TASK_WIDE, OVER, seed=16)
    assert max(train_profile_loss(regime, data, a) for a in (-1.0, 0.0, 0.4, 2.0)) < 1e-20


def test_compare_rates_and_ratio_scan_report_the_optimum_and_paired_gains():
    regime = Regime("under", TASK, UNDER, 5, 0.3)
    sets = sample_sets(regime, 5, seed=17)
    grid = np.linspace(-2, 1, 16)
    row = compare_rates(regime, sets, grid)
    curve = loss_curve(regime, sets, np.array([row.alpha_t_opt, 0.0]))
    assert curve.mean()[0] <= curve.mean()[1] + 1e-12
    assert row.gain_vs_zero.mean == pytest.approx(curve.mean()[1] - curve.mean()[0])
    assert row.gain_vs_zero.mean >= 0 and row.gain_vs_alpha_r.mean >= 0
    rows = ratio_scan(regime, [2, 12], n_tasks=24, seed=0, grid=grid, min_sets=3)
    assert [r.regime.train.m for r in rows] == [2, 12]
    assert [r.n_sets for r in rows] == [12, 3]


def test_learn_rates_summarises_fits_over_sets():
    regime = Regime("under", TASK, UNDER, 5, 0.3)
    sets = sample_sets(regime, 3, seed=18)
    res = learn_rates(regime, sets, MetaSGDConfig(per_coordinate=True, alpha_init=0.3))
    assert res.all_converged and res.alpha.n == 3
    assert res.alpha_range[0] <= res.alpha.mean <= res.alpha_range[1]
    assert 0.0 <= res.frac_negative.mean <= 1.0


def test_sampling_is_reproducible_and_settings_are_checked():
    a, b = data_for(TASK, UNDER, seed=19), data_for(TASK, UNDER, seed=19)
    np.testing.assert_array_equal(a.x_query, b.x_query)
    np.testing.assert_array_equal(a.y_support, b.y_support)
    assert np.linalg.norm(TASK.w0()) == pytest.approx(TASK.w0_norm)
    with pytest.raises(ValueError, match="non-negative"):
        LinearTask(p=3, nu=-1.0)
    with pytest.raises(ValueError, match="m, n_t, n_v"):
        MetaTrainSet(m=0, n_t=1, n_v=1)


def test_plots_draw_from_results_and_return_their_axes():
    regime = Regime("under", TASK, UNDER, 5, 0.3)
    sets = sample_sets(regime, 3, seed=20)
    grid = np.linspace(-1, 1, 5)
    curve, row = loss_curve(regime, sets, grid), compare_rates(regime, sets, grid)
    fig, axes = plt.subplots(1, 4)
    assert linear_plots.plot_loss_curve(curve, row, ax=axes[0]) is axes[0]
    assert linear_plots.plot_optimal_rates({"s": [row, row]}, ax=axes[1]) is axes[1]
    assert linear_plots.plot_gains({"s": [row, row]}, ax=axes[2]) is axes[2]
    assert linear_plots.plot_objectives({"train": curve, "test": curve}, {"x": 0.1},
                                        ax=axes[3]) is axes[3]
    assert all(ax.has_data() for ax in axes)
    plt.close(fig)


def test_objective_panels_share_one_legend_of_the_curves_and_cut_the_y_axis():
    regime = Regime("under", TASK, UNDER, 5, 0.3)
    sets = sample_sets(regime, 3, seed=21)
    curve = loss_curve(regime, sets, np.linspace(-1, 1, 5))
    panels = {t: ({"a": curve, "b": curve}, {"x": 0.1, "y": -0.2}, curve) for t in ("l", "r")}
    axes = linear_plots.plot_objective_panels(panels)
    assert [ax.get_title() for ax in axes] == ["l", "r"]
    assert axes[0].get_ylim()[1] == pytest.approx(linear_plots.HEADROOM * curve.mean().max())
    assert len(axes[1].get_legend().get_texts()) == 2  # the marked rates only
    assert [t.get_text() for t in axes[0].figure.legends[0].get_texts()][0].startswith("a")
    plt.close(axes[0].figure)


@pytest.fixture(scope="module")
def chapter_results():
    """A small version of the chapter's computation: two regimes, a scan, Meta-SGD fits."""
    under = Regime("under-parameterised", TASK, UNDER, 5, 0.3)
    over = Regime("over-parameterised", TASK_WIDE, OVER, 5, 0.3)
    grid = np.linspace(-2, 1, 7)
    sets = {r.name: sample_sets(r, 3, seed=22) for r in (under, over)}
    best = {r.name: compare_rates(r, sets[r.name], grid) for r in (under, over)}
    scan = ratio_scan(under, [2, 12], n_tasks=24, seed=0, grid=grid, min_sets=3)
    learned = [learn_rates(r, sets[r.name], MetaSGDConfig(per_coordinate=pc, alpha_init=s))
               for r in (under, over) for pc in (False, True) for s in (r.alpha_r, -r.alpha_r)]
    return under, over, grid, sets, best, scan, learned


def test_table_rows_are_text_and_find_learned_checks_its_key(chapter_results):
    under, over, _, _, _, _, learned = chapter_results
    rows = learned_rows(learned)
    assert len(rows) == 8 and all(isinstance(v, str) for r in rows for v in r.values())
    assert rows[1]["start"] == "-0.3" and rows[2]["rates"] == "per coordinate"
    assert rows[0]["learned rate (mean)"] == fmt(learned[0].alpha, "rate", 3)
    assert regime_rows([under, over], 3)[1]["p / (m n_v)"] == f"{over.ratio:.2g}"
    with pytest.raises(ValueError, match="no learn_rates result"):
        find_learned(learned, under, False, 0.123)
