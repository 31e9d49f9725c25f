"""L-BFGS, PR+ CG and the projected Armijo search on small analytic problems (no solves).

`_minimize` drives the building blocks the way the workflow does per iteration (one
gradient, trials of objectives only, the same bound handling), so these tests check the
arithmetic the update job and the judge run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from seisless.inversion.optimizers import (
    armijo,
    cg_direction,
    dot,
    free_variables,
    lbfgs_direction,
    trial_point,
    trial_steps,
    usable_pair,
)

Fun = Callable[[np.ndarray], float]
Grad = Callable[[np.ndarray], np.ndarray]


def _minimize(fun: Fun, grad: Grad, x0: np.ndarray, method: str, *, iterations: int,
              lower: float = -np.inf, upper: float = np.inf, memory: int = 5,
              max_trials: int = 30) -> tuple[np.ndarray, list[float], int]:
    """(x, accepted objectives, forward-only evaluations) after `iterations` searches
    (fewer once the free gradient vanishes or no trial lowers the objective)."""
    x, g = np.asarray(x0, np.float64), grad(x0)
    f, objectives, trials = fun(x), [fun(x)], 0
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    previous: tuple[np.ndarray, np.ndarray, float, float] | None = None  # g, d, step, g.d
    for _ in range(iterations):
        free = free_variables(x, g, lower, upper)
        gf = g * free
        if np.linalg.norm(gf) < 1e-12:  # converged: no direction left
            break
        if method == "lbfgs":
            d = lbfgs_direction(gf, pairs[-memory:] if memory else []) * free
            alpha0 = 1.0 if pairs else 1.0 / max(np.linalg.norm(gf), 1e-300)
        else:
            d, restarted = cg_direction(gf, None if previous is None else previous[0],
                                        None if previous is None else previous[1])
            d = d * free
            alpha0 = (1.0 / max(np.linalg.norm(gf), 1e-300) if restarted
                      else previous[2] * previous[3] / dot(gf, d))
        for step in trial_steps(alpha0, 0.5, max_trials):
            xt = trial_point(x, d, step, lower, upper)
            ft = fun(xt)
            trials += 1
            if armijo(f, ft, dot(g, xt - x), 1e-4):
                break
        else:  # rounding: no trial lowers f any more (the workflow would stop here)
            break
        gt = grad(xt)
        if usable_pair(xt - x, gt * free - gf):
            pairs.append((xt - x, gt * free - gf))
        previous = gf, d, step, dot(gf, d)
        x, g, f = xt, gt, ft
        objectives.append(f)
    return x, objectives, trials


def _quadratic(n: int = 20, condition: float = 1e2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q @ np.diag(np.geomspace(1.0, condition, n)) @ q.T, rng.standard_normal(n)


def _rosenbrock(x: np.ndarray) -> float:
    return float((1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)


def _rosenbrock_gradient(x: np.ndarray) -> np.ndarray:
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                     200 * (x[1] - x[0] ** 2)])


def test_two_loop_recursion_is_the_bfgs_inverse_hessian() -> None:
    """-H g with H from the explicit BFGS updates of H0 = (s.y / y.y) I (newest pair)."""
    a, _ = _quadratic(6, 50.0)
    rng = np.random.default_rng(1)
    pairs = [(s, a @ s) for s in rng.standard_normal((4, 6))]
    s_new, y_new = pairs[-1]
    h = np.eye(6) * dot(s_new, y_new) / dot(y_new, y_new)
    for s, y in pairs:
        rho = 1.0 / dot(s, y)
        left = np.eye(6) - rho * np.outer(s, y)
        h = left @ h @ left.T + rho * np.outer(s, s)
    g = rng.standard_normal(6)
    np.testing.assert_allclose(lbfgs_direction(g, pairs), -h @ g, rtol=1e-10)
    np.testing.assert_allclose(lbfgs_direction(y_new, pairs), -s_new, rtol=1e-10)  # secant
    np.testing.assert_array_equal(lbfgs_direction(g, []), -g)


def test_pairs_without_positive_curvature_are_refused() -> None:
    s = np.array([1.0, 0.0])
    assert usable_pair(s, np.array([2.0, 1.0]))
    assert not usable_pair(s, np.array([-1.0, 3.0])) and not usable_pair(s, np.zeros(2))


def test_cg_is_pr_plus_and_restarts_when_it_would_not_descend() -> None:
    g_prev, d_prev = np.array([1.0, 0.0]), np.array([-1.0, 0.0])
    g = np.array([0.5, 0.5])
    d, restarted = cg_direction(g, g_prev, d_prev)
    beta = dot(g, g - g_prev) / dot(g_prev, g_prev)
    assert beta == 0 and restarted and np.array_equal(d, -g)  # PR+ clips beta < 0
    g = np.array([2.0, 1.0])
    d, restarted = cg_direction(g, g_prev, d_prev)
    assert not restarted and np.allclose(d, -g + 3.0 * d_prev)
    d, restarted = cg_direction(np.array([0.1, 0.0]), g_prev, np.array([5.0, 0.0]))
    assert restarted  # beta > 0 but d_prev points uphill
    assert cg_direction(g, None, None)[1]


def test_projected_armijo_search_pieces() -> None:
    assert trial_steps(2.0, 0.5, 3) == (2.0, 1.0, 0.5)
    np.testing.assert_array_equal(trial_point(np.array([0.0, 0.9]), np.array([1.0, 1.0]),
                                              0.5, 0.0, 1.0), [0.5, 1.0])
    assert armijo(1.0, 0.9, -1.0, 0.1) and not armijo(1.0, 0.95, -1.0, 0.1)
    free = free_variables(np.array([0.0, 0.0, 1.0, 0.5]), np.array([1.0, -1.0, -1.0, 1.0]),
                          0.0, 1.0)
    np.testing.assert_array_equal(free, [0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize(("method", "tolerance"), [("lbfgs", 1e-6), ("cg", 1e-2)])
def test_an_ill_conditioned_quadratic_is_solved_with_falling_objectives(
        method: str, tolerance: float) -> None:
    """Condition number 100, 20 unknowns, 100 searches (CG with Armijo steps only, no
    Wolfe condition, is the slower one: measured 4e-4 relative error, L-BFGS 3e-8)."""
    a, b = _quadratic()
    x_star = np.linalg.solve(a, b)
    fun = lambda x: 0.5 * dot(x, a @ x) - dot(b, x)  # noqa: E731
    x, objectives, _ = _minimize(fun, lambda x: a @ x - b, np.zeros(20), method,
                                 iterations=100, memory=10)
    assert np.all(np.diff(objectives) <= 0)
    assert np.linalg.norm(x - x_star) < tolerance * np.linalg.norm(x_star)


def test_memory_and_conjugacy_need_fewer_gradients_than_steepest_descent() -> None:
    """Gradients to bring the quadratic's objective within 1e-4 of its minimum (measured:
    L-BFGS 24, CG 49, steepest descent with the same search 131)."""
    a, b = _quadratic()
    fun = lambda x: 0.5 * dot(x, a @ x) - dot(b, x)  # noqa: E731
    target = fun(np.linalg.solve(a, b)) + 1e-4

    def gradients(method: str, memory: int) -> int:
        _, objectives, _ = _minimize(fun, lambda x: a @ x - b, np.zeros(20), method,
                                     iterations=150, memory=memory)
        return next(i for i, f in enumerate(objectives) if f <= target) + 1

    steepest = gradients("lbfgs", 0)  # no memory: steepest descent
    assert gradients("lbfgs", 10) < gradients("cg", 0) < steepest


@pytest.mark.parametrize("method", ["lbfgs", "cg"])
def test_rosenbrock_in_a_box_reaches_the_bound_constrained_minimum(method: str) -> None:
    """With x <= 0.5 the minimum of Rosenbrock's function is at (0.5, 0.25), on the
    bound: the held coordinate stays there while the other converges."""
    x, objectives, trials = _minimize(_rosenbrock, _rosenbrock_gradient,
                                      np.array([-1.2, 1.0]), method, iterations=400,
                                      lower=-1.5, upper=0.5)
    assert np.all(np.diff(objectives) <= 0)
    assert np.all((x >= -1.5) & (x <= 0.5))
    np.testing.assert_allclose(x, [0.5, 0.25], atol=1e-4)
    assert trials >= len(objectives) - 1
