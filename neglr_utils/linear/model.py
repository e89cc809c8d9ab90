"""One-step MAML and Meta-SGD on mixed linear regression, solved exactly.

The model of Bernacchia (2021), *Meta-learning with negative learning rates* (ICLR), in
which the inner rate that is best during meta-training can be negative while the best
rate for adaptation at test time is positive. Everything here is derived in the book's
linear-model chapter (``notebooks/*_linear_model.py``); the conventions are:

- a task is a weight vector ``w ~ N(w0, nu^2 / p * I_p)``; its data are ``x ~ N(0, I_p)``,
  ``y = w . x + sigma * eps`` with ``eps ~ N(0, 1)``;
- the loss of weights ``w`` on data ``x: [n, p]``, ``y: [n]`` is
  ``L(w) = ||x w - y||^2 / (2 n)``, with gradient ``x^T (x w - y) / n``;
- one inner step with rate ``alpha`` (a scalar, or one rate per coordinate ``[p]``):
  ``w' = w - alpha * grad L_support(w)`` (`adapt`, the same function in training and test);
- meta-training on ``m`` tasks with ``n_t`` support and ``n_v`` query samples minimises the
  mean query loss after the step with rate ``alpha_t`` over the initialisation ``omega``;
  this is a least-squares problem in ``omega`` (`solve_omega`);
- at test a new task is adapted on ``n_r`` samples with rate ``alpha_r`` and scored on fresh
  samples of the same task; its expectation has the closed form `expected_test_loss`,
  checked against the simulation `sampled_test_loss`;
- Meta-SGD (Li et al. 2017) learns ``alpha`` with the outer loop (`fit_meta_sgd`); *tied*
  uses the learned rate at test too, *untied* adapts with a fixed ``alpha_r`` instead.

The last section turns these results into the chapter's sentences and table rows
(`gain_sentence`, `scan_sentence`, `learned_rows`, ...) with the book's formatter `report.fmt`.

References: A. Bernacchia, ICLR 2021, arXiv:2102.00940; Z. Li et al., arXiv:1707.09835.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import minimize_scalar

from ..stats import Interval, mean_ci

Rate = float | np.ndarray  # a scalar inner rate, or one rate per coordinate: [p]
RATE_TOL = 1e-4  # absolute tolerance of a refined optimal rate
GRID_END_TOL = 1e-3  # a refined minimiser this close to an end of its grid is "at the end"
STEP_GROWTH = 1.25  # outer gradient descent: step-size growth after an accepted step
MIN_STEP = 1e-300  # outer gradient descent gives up when backtracking shrinks the step below
SAME_RATE_TOL = 1e-3  # learned rates closer than this count as the same (display text)


@dataclass(frozen=True)
class LinearTask:
    """The distribution of tasks (mixed linear regression)."""

    p: int  # input dimension = number of parameters
    nu: float = 1.0  # task spread: w ~ N(w0, nu^2 / p * I_p), so E ||w - w0||^2 = nu^2
    sigma: float = 1.0  # standard deviation of the label noise
    w0_norm: float = 0.0  # ||w0||; w0 = w0_norm / sqrt(p) * (1, ..., 1)

    def __post_init__(self) -> None:
        if self.p < 1 or self.nu < 0 or self.sigma < 0 or self.w0_norm < 0:
            raise ValueError(f"LinearTask needs p >= 1 and non-negative nu, sigma, w0_norm: "
                             f"got {self}")

    def w0(self) -> np.ndarray:
        """The mean task weights ``w0``: [p]."""
        return np.full(self.p, self.w0_norm / np.sqrt(self.p))


@dataclass(frozen=True)
class MetaTrainSet:
    """The size of a meta-training set."""

    m: int  # number of meta-training tasks
    n_t: int  # support samples per task (the inner step's data)
    n_v: int  # query samples per task (the outer loss's data)

    def __post_init__(self) -> None:
        if min(self.m, self.n_t, self.n_v) < 1:
            raise ValueError(f"MetaTrainSet needs m, n_t, n_v >= 1: got {self}")

    @property
    def n_query(self) -> int:
        """Query samples in all: the rank bound of the meta-training least squares."""
        return self.m * self.n_v


@dataclass(frozen=True)
class Regime:
    """One experiment: the tasks, the meta-training set, and the test-time adaptation."""

    name: str  # label for tables and legends
    task: LinearTask
    train: MetaTrainSet
    n_r: int  # support samples of a test task
    alpha_r: float  # inner rate of the test-time step

    @property
    def ratio(self) -> float:
        """Parameters per query sample, ``p / (m n_v)``: above 1 the model is over-parameterised."""
        return self.task.p / self.train.n_query


@dataclass(frozen=True, eq=False)
class MetaTrainData:
    """A sampled meta-training set (arrays, not compared by value)."""

    x_support: np.ndarray  # [m, n_t, p]
    y_support: np.ndarray  # [m, n_t]
    x_query: np.ndarray  # [m, n_v, p]
    y_query: np.ndarray  # [m, n_v]

    @cached_property
    def support_gram(self) -> np.ndarray:
        """``C_i = x_s^T x_s / n_t`` per task: [m, p, p] (computed once)."""
        xs = self.x_support
        return np.matmul(np.swapaxes(xs, -1, -2), xs) / xs.shape[-2]

    @cached_property
    def support_moment(self) -> np.ndarray:
        """``h_i = x_s^T y_s / n_t`` per task: [m, p] (computed once)."""
        xs = self.x_support
        return np.matmul(np.swapaxes(xs, -1, -2), self.y_support[..., None])[..., 0] / xs.shape[-2]


def sample_tasks(task: LinearTask, n_tasks: int, n: int, rng: np.random.Generator,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw tasks and their data: ``w: [k, p]``, ``x: [k, n, p]``, ``y: [k, n]`` (k = n_tasks)."""
    w = task.w0() + task.nu / np.sqrt(task.p) * rng.standard_normal((n_tasks, task.p))
    x = rng.standard_normal((n_tasks, n, task.p))
    y = predict(w, x) + task.sigma * rng.standard_normal((n_tasks, n))
    return w, x, y


def sample_meta_train(task: LinearTask, sizes: MetaTrainSet, rng: np.random.Generator,
                      ) -> MetaTrainData:
    """Draw a meta-training set of ``sizes.m`` tasks, each split into support and query."""
    _, x, y = sample_tasks(task, sizes.m, sizes.n_t + sizes.n_v, rng)
    return MetaTrainData(x[:, :sizes.n_t], y[:, :sizes.n_t], x[:, sizes.n_t:], y[:, sizes.n_t:])


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x w`` for weights ``w: [p]`` or ``[k, p]`` and inputs ``x: [k, n, p]`` -> ``[k, n]``."""
    return np.matmul(x, w[..., None])[..., 0]


def gram_apply(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``C v`` with ``C = x^T x / n``; ``x: [k, n, p]``, ``v: [p]`` or ``[k, p]`` -> ``[k, p]``."""
    return np.matmul(np.swapaxes(x, -1, -2), predict(v, x)[..., None])[..., 0] / x.shape[-2]


def support_gradient(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of ``L = ||x w - y||^2 / (2n)``: ``x^T (x w - y) / n`` -> ``[k, p]``."""
    resid = predict(w, x) - y
    return np.matmul(np.swapaxes(x, -1, -2), resid[..., None])[..., 0] / x.shape[-2]


def adapt(w: np.ndarray, x_support: np.ndarray, y_support: np.ndarray, alpha: Rate,
          ) -> np.ndarray:
    """One inner gradient step per task: ``w - alpha * grad L_support(w)`` -> ``[k, p]``.

    ``w: [p]`` (one initialisation) or ``[k, p]``; ``x_support: [k, n, p]``; ``alpha`` a scalar
    (MAML) or ``[p]`` (Meta-SGD, one rate per coordinate). Used in training and test alike.
    """
    return w - np.asarray(alpha) * support_gradient(w, x_support, y_support)


def meta_train_loss(omega: np.ndarray, alpha_t: Rate, data: MetaTrainData) -> float:
    """The empirical meta-training loss: mean over tasks of the query loss after one step."""
    w = adapt(omega, data.x_support, data.y_support, alpha_t)
    return float(0.5 * np.mean((predict(w, data.x_query) - data.y_query) ** 2))


def meta_train_grad(omega: np.ndarray, alpha_t: Rate, data: MetaTrainData,
                    ) -> tuple[np.ndarray, Rate]:
    """Closed-form gradients of `meta_train_loss` in ``omega: [p]`` and in ``alpha_t``.

    With ``g_i`` the support gradient at ``omega`` and ``u_i = x_q^T e_i / (m n_v)`` (``e_i``
    the query residual after the step): ``d/d omega = sum_i (I - C_i diag(alpha)) u_i`` and
    ``d/d alpha = -sum_i g_i * u_i`` (summed over coordinates when ``alpha_t`` is a scalar).
    """
    alpha = np.asarray(alpha_t, dtype=np.float64)
    g = support_gradient(omega, data.x_support, data.y_support)
    resid = predict(omega - alpha * g, data.x_query) - data.y_query
    u = np.matmul(np.swapaxes(data.x_query, -1, -2), resid[..., None])[..., 0] / resid.size
    grad_omega = u.sum(0) - gram_apply(data.x_support, alpha * u).sum(0)
    grad_alpha = -(g * u).sum(0)
    return grad_omega, (float(grad_alpha.sum()) if alpha.ndim == 0 else grad_alpha)


def meta_design(alpha_t: Rate, data: MetaTrainData) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares form of meta-training: ``meta_train_loss = ||M omega - r||^2 / (2 m n_v)``.

    Per task ``M_i = x_q (I - diag(alpha) C_i)`` and ``r_i = y_q - x_q (alpha * h_i)`` with
    ``C_i = x_s^T x_s / n_t`` and ``h_i = x_s^T y_s / n_t``; stacked: ``M: [m n_v, p]``,
    ``r: [m n_v]``.
    """
    alpha = np.asarray(alpha_t, dtype=np.float64)
    xq = data.x_query
    design = xq - np.matmul(xq * alpha, data.support_gram)
    target = data.y_query - predict(alpha * data.support_moment, xq)
    return design.reshape(-1, xq.shape[-1]), target.reshape(-1)


def solve_omega(alpha_t: Rate, data: MetaTrainData,
                omega_init: np.ndarray | None = None) -> np.ndarray:
    """The exact meta-training solution ``omega*(alpha_t)``: [p].

    The minimiser of `meta_train_loss` nearest to ``omega_init`` (default 0), which is where
    gradient descent on ``omega`` from ``omega_init`` converges: unique when ``M`` has full
    column rank (``m n_v >= p``), otherwise the minimum-norm interpolating solution.
    """
    design, target = meta_design(alpha_t, data)
    start = np.zeros(design.shape[1]) if omega_init is None else omega_init
    step, *_ = np.linalg.lstsq(design, target - design @ start, rcond=None)
    return start + step


def expected_test_loss(omega: np.ndarray, task: LinearTask, n_r: int, alpha_r: Rate) -> float:
    """Closed-form expected loss after one test-time step from ``omega: [p]``.

    Over new tasks, their ``n_r`` support samples and fresh test samples. With
    ``C = x^T x / n_r`` and ``E[C D C] = (n_r + 1) / n_r D + tr(D) / n_r I`` for diagonal
    ``D``, ``Q = E[(I - C A)(I - A C)] = I - 2A + (n_r + 1) / n_r A^2 + tr(A^2) / n_r I``
    (``A = diag(alpha_r)``) and the loss is
    ``(d^T Q d + nu^2 / p tr Q + sigma^2 tr(A^2) / n_r + sigma^2) / 2`` with ``d = omega - w0``.
    """
    a = np.broadcast_to(np.asarray(alpha_r, dtype=np.float64), (task.p,))
    q = 1 - 2 * a + (n_r + 1) / n_r * a**2 + np.sum(a**2) / n_r
    d = omega - task.w0()
    noise = task.sigma**2 * (np.sum(a**2) / n_r + 1)
    return float(0.5 * (np.sum(q * d**2) + task.nu**2 / task.p * np.sum(q) + noise))


def sampled_test_loss(omega: np.ndarray, task: LinearTask, n_r: int, alpha_r: Rate,
                      n_tasks: int, n_test: int, rng: np.random.Generator,
                      confidence: float = 0.99) -> Interval:
    """Monte Carlo estimate of `expected_test_loss`, with its interval over ``n_tasks`` tasks.

    Each simulated task draws ``w``, ``n_r`` support and ``n_test`` test samples, adapts
    ``omega`` with `adapt` and scores ``L`` on the test samples.
    """
    w, x, y = sample_tasks(task, n_tasks, n_r + n_test, rng)
    adapted = adapt(omega, x[:, :n_r], y[:, :n_r], alpha_r)
    losses = 0.5 * np.mean((predict(adapted, x[:, n_r:]) - y[:, n_r:]) ** 2, axis=1)
    return mean_ci(losses, confidence)


def best_adaptation_rate(task: LinearTask, n: int, excess: float = 0.0) -> float:
    """The scalar rate minimising `expected_test_loss` for ``n`` support samples.

    ``excess = ||omega - w0||^2``. Setting the derivative of the closed form to zero gives
    ``(excess + nu^2) / ((excess + nu^2)(1 + (p + 1) / n) + sigma^2 p / n)``: always positive.
    """
    spread = excess + task.nu**2
    return spread / (spread * (1 + (task.p + 1) / n) + task.sigma**2 * task.p / n)


def sample_sets(regime: Regime, n_sets: int, seed: int) -> list[MetaTrainData]:
    """``n_sets`` independent meta-training sets of the regime, from one seed."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_sets)]
    return [sample_meta_train(regime.task, regime.train, rng) for rng in rngs]


def untied_test_loss(regime: Regime, data: MetaTrainData, alpha_t: float) -> float:
    """Expected test loss of ``omega*(alpha_t)`` adapted with the regime's fixed ``alpha_r``."""
    return expected_test_loss(solve_omega(alpha_t, data), regime.task, regime.n_r,
                              regime.alpha_r)


def tied_test_loss(regime: Regime, data: MetaTrainData, alpha_t: float) -> float:
    """Expected test loss of ``omega*(alpha)`` adapted with the same rate (``alpha_r = alpha``)."""
    return expected_test_loss(solve_omega(alpha_t, data), regime.task, regime.n_r, alpha_t)


def train_profile_loss(regime: Regime, data: MetaTrainData, alpha_t: float) -> float:
    """``min_omega meta_train_loss(omega, alpha_t)``: all the outer loop can see of ``alpha_t``."""
    return meta_train_loss(solve_omega(alpha_t, data), alpha_t, data)


Objective = Callable[[Regime, MetaTrainData, float], float]


def losses_over_sets(regime: Regime, sets: Sequence[MetaTrainData], alpha_t: float,
                     objective: Objective = untied_test_loss) -> np.ndarray:
    """``objective`` at one scalar rate for each training set: [n_sets]."""
    return np.array([objective(regime, d, alpha_t) for d in sets])


@dataclass(frozen=True, eq=False)
class LossCurve:
    """An objective (by default the untied expected test loss) on a grid of rates."""

    regime: Regime
    alphas: np.ndarray  # [k] rates
    losses: np.ndarray  # [n_sets, k], one row per sampled training set

    def mean(self) -> np.ndarray:
        """Mean over training sets: [k]."""
        return self.losses.mean(0)

    def intervals(self, confidence: float = 0.95) -> list[Interval]:
        """The interval over training sets at each rate (length k)."""
        return [mean_ci(col, confidence) for col in self.losses.T]


def loss_curve(regime: Regime, sets: Sequence[MetaTrainData], alphas: np.ndarray,
               objective: Objective = untied_test_loss) -> LossCurve:
    """`losses_over_sets` on a grid of rates (the same training sets at every rate)."""
    grid = np.asarray(alphas, dtype=np.float64)
    losses = np.stack([losses_over_sets(regime, sets, a, objective) for a in grid], axis=1)
    return LossCurve(regime, grid, losses)


def minimise_rate(objective: Callable[[float], float], grid: np.ndarray) -> float:
    """Minimiser of a scalar function: the best grid point, refined by Brent's method.

    ``grid: [k]`` increasing; the refinement (to ``RATE_TOL``) stays between the neighbours of
    the best point, so a minimiser beyond the grid comes back within ``RATE_TOL`` of its end.
    """
    values = np.array([objective(a) for a in grid])
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = minimize_scalar(objective, bounds=(lo, hi), method="bounded",
                          options={"xatol": RATE_TOL})
    return float(res.x) if res.fun <= values[i] else float(grid[i])


@dataclass(frozen=True)
class RateComparison:
    """The best training rate of a regime and what it gains (intervals over training sets)."""

    regime: Regime
    n_sets: int  # training sets averaged over
    alpha_t_opt: float  # training rate minimising the mean expected test loss at alpha_r
    at_grid_end: bool  # the minimiser is an end of the search grid (the true one may be beyond)
    loss_opt: Interval  # expected test loss at alpha_t_opt
    loss_zero: Interval  # expected test loss at alpha_t = 0 (no inner loop in training)
    gain_vs_zero: Interval  # loss(alpha_t = 0) - loss(alpha_t_opt), paired over sets
    gain_vs_alpha_r: Interval  # loss(alpha_t = alpha_r) - loss(alpha_t_opt), paired over sets
    alpha_r_vs_zero: Interval  # loss(alpha_t = alpha_r) - loss(alpha_t = 0), paired over sets


def compare_rates(regime: Regime, sets: Sequence[MetaTrainData], grid: np.ndarray,
                  ) -> RateComparison:
    """The optimal training rate on ``grid`` (refined) and its gains over 0 and ``alpha_r``."""
    best = minimise_rate(lambda a: float(losses_over_sets(regime, sets, a).mean()), grid)
    at_best = losses_over_sets(regime, sets, best)
    zero = losses_over_sets(regime, sets, 0.0)
    same = losses_over_sets(regime, sets, regime.alpha_r)
    at_end = min(abs(best - grid[0]), abs(best - grid[-1])) < GRID_END_TOL
    return RateComparison(regime, len(sets), best, bool(at_end),
                          mean_ci(at_best), mean_ci(zero), mean_ci(zero - at_best),
                          mean_ci(same - at_best), mean_ci(same - zero))


def with_tasks(regime: Regime, m: int) -> Regime:
    """The regime with ``m`` meta-training tasks (everything else unchanged)."""
    return Regime(f"{regime.name}, m={m}", regime.task,
                  MetaTrainSet(m, regime.train.n_t, regime.train.n_v), regime.n_r, regime.alpha_r)


def ratio_scan(regime: Regime, ms: Sequence[int], n_tasks: int, seed: int, grid: np.ndarray,
               min_sets: int = 10) -> list[RateComparison]:
    """`compare_rates` as the number of tasks ``m`` (hence ``p / (m n_v)``) varies.

    Each ``m`` averages over ``max(min_sets, ceil(n_tasks / m))`` training sets, so that few
    tasks (where one set varies most) get more sets at about the same cost.
    """
    rows = []
    for m in ms:
        sized = with_tasks(regime, m)
        sets = sample_sets(sized, max(min_sets, -(-n_tasks // m)), seed + m)
        rows.append(compare_rates(sized, sets, grid))
    return rows


def best_tied_rate(regime: Regime, sets: Sequence[MetaTrainData], grid: np.ndarray) -> float:
    """The scalar rate minimising the mean expected test loss when ``alpha_t = alpha_r``."""
    return minimise_rate(
        lambda a: float(losses_over_sets(regime, sets, a, tied_test_loss).mean()), grid)


@dataclass(frozen=True)
class MetaSGDConfig:
    """Full-batch outer gradient descent on ``(omega, alpha)`` (Meta-SGD's outer loop)."""

    per_coordinate: bool = False  # one rate per coordinate (Meta-SGD) or one scalar rate
    alpha_init: float = 0.1  # initial rate(s); omega starts at 0
    learn_alpha: bool = True  # False: descend on omega only (MAML's outer loop, alpha fixed)
    meta_lr: float = 0.1  # initial step; backtracking halves it, each accepted step grows it
    n_steps: int = 20_000  # maximum outer steps
    grad_tol: float = 1e-7  # stop at this gradient norm (float64 losses resolve ~1e-8 at best)


@dataclass(frozen=True, eq=False)
class MetaSGDResult:
    """Where the outer gradient descent stopped."""

    omega: np.ndarray  # [p]
    alpha: Rate  # learned rate: a float, or [p] per coordinate
    train_loss: float  # meta_train_loss at the end
    grad_norm: float  # norm of the full gradient at the end
    n_steps: int  # steps taken
    converged: bool  # grad_norm < grad_tol


def _descend(loss: Callable[[np.ndarray], float], grad: Callable[[np.ndarray], np.ndarray],
             theta: np.ndarray, cfg: MetaSGDConfig) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Gradient descent with Armijo backtracking from ``theta``: (theta, loss, grad, steps).

    A step is accepted when it lowers the loss by at least half the first-order prediction;
    otherwise the step size halves. Each accepted step grows it by ``STEP_GROWTH``.
    """
    value, g, lr, steps = loss(theta), grad(theta), cfg.meta_lr, 0
    while steps < cfg.n_steps and np.linalg.norm(g) >= cfg.grad_tol and lr > MIN_STEP:
        trial = theta - lr * g
        trial_value = loss(trial)
        if trial_value > value - 0.5 * lr * (g @ g):
            lr /= 2
            continue
        theta, value, steps, lr = trial, trial_value, steps + 1, lr * STEP_GROWTH
        g = grad(theta)
    return theta, value, g, steps


def fit_meta_sgd(data: MetaTrainData, cfg: MetaSGDConfig,
                 alpha_init: Rate | None = None) -> MetaSGDResult:
    """Minimise `meta_train_loss` by gradient descent on ``omega`` (and ``alpha`` if learned).

    Full-batch outer loop with the closed-form `meta_train_grad` and backtracking (`_descend`),
    so it converges without a tuned step. ``omega`` starts at 0 (so with ``alpha`` fixed the
    limit is `solve_omega`'s solution); ``alpha`` starts at ``alpha_init`` (a scalar, or
    ``[p]`` when ``cfg.per_coordinate``; default ``cfg.alpha_init``).
    """
    p = data.x_support.shape[-1]
    n_alpha = p if cfg.per_coordinate else 1
    start = cfg.alpha_init if alpha_init is None else alpha_init
    theta = np.concatenate([np.zeros(p), np.broadcast_to(start, (n_alpha,))])

    def split(t: np.ndarray) -> tuple[np.ndarray, Rate]:
        return t[:p], (t[p:] if cfg.per_coordinate else float(t[p]))

    def grad(t: np.ndarray) -> np.ndarray:
        g_omega, g_alpha = meta_train_grad(*split(t), data)
        return np.concatenate([g_omega, np.atleast_1d(g_alpha) * cfg.learn_alpha])

    theta, loss, g, steps = _descend(lambda t: meta_train_loss(*split(t), data), grad, theta,
                                     cfg)
    norm = float(np.linalg.norm(g))
    omega, alpha = split(theta)
    return MetaSGDResult(omega, alpha, loss, norm, steps, norm < cfg.grad_tol)


@dataclass(frozen=True)
class LearnedRates:
    """Where Meta-SGD's outer loop took the rate, over training sets (intervals over sets)."""

    regime: Regime
    cfg: MetaSGDConfig
    alpha: Interval  # the learned rate (its mean over coordinates when per coordinate)
    alpha_range: tuple[float, float]  # smallest and largest learned rate over sets, coordinates
    frac_negative: Interval  # fraction of coordinates whose learned rate is negative
    train_loss: Interval  # meta-training loss at the end
    test_tied: Interval  # expected test loss adapting with the learned rate (Meta-SGD)
    test_untied: Interval  # expected test loss adapting with the regime's fixed alpha_r
    all_converged: bool  # every fit reached the gradient tolerance


def learn_rates(regime: Regime, sets: Sequence[MetaTrainData], cfg: MetaSGDConfig,
                ) -> LearnedRates:
    """`fit_meta_sgd` on each training set; the learned rates and their test losses."""
    fits = [fit_meta_sgd(d, cfg) for d in sets]
    alphas = [np.atleast_1d(f.alpha) for f in fits]
    task, n_r = regime.task, regime.n_r
    return LearnedRates(
        regime, cfg, mean_ci([a.mean() for a in alphas]),
        (float(min(a.min() for a in alphas)), float(max(a.max() for a in alphas))),
        mean_ci([np.mean(a < 0) for a in alphas]), mean_ci([f.train_loss for f in fits]),
        mean_ci([expected_test_loss(f.omega, task, n_r, f.alpha) for f in fits]),
        mean_ci([expected_test_loss(f.omega, task, n_r, regime.alpha_r) for f in fits]),
        all(f.converged for f in fits))
