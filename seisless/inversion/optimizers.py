"""Search directions and the projected backtracking line search of FWI (pure NumPy).

The workflow evaluates objectives and gradients in Batch jobs; what is left to decide
between them is only arithmetic on arrays, kept here so it can be tested on small
analytic problems and re-run from what the bucket holds:

- L-BFGS: the two-loop recursion (Nocedal & Wright, algorithm 7.4) over the last m pairs
  s = x_{j+1} - x_j, y = g_{j+1} - g_j, with H0 = (s.y / y.y) I from the newest pair. A
  pair whose curvature s.y is not clearly positive (a projected step, shots changed) is
  not kept: the memory restarts after it.
- Nonlinear CG: Polak-Ribiere+ (beta = max(0, g.(g - g_prev) / g_prev.g_prev)), restarted
  with steepest descent whenever the result is not a descent direction.
- Bounds: variables held at a bound by their gradient (at the lower bound with g > 0, at
  the upper with g < 0) are left out of the direction (Bertsekas' projected Newton), so
  the projected step always descends; the others move freely.
- Line search: steps alpha0 * shrink^t, the trial point projected onto the bounds
  (P(x + alpha d) = clip), accepted by the Armijo condition on the projected step,
  f(x_t) <= f(x) + c1 g.(x_t - x) (Bertsekas' projection arc).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: A pair is kept when s.y > CURVATURE_EPS ||s|| ||y|| (the cosine of their angle).
CURVATURE_EPS = 1e-8
#: CG restarts when g.d > -DESCENT_EPS ||g|| ||d||: the direction barely descends.
DESCENT_EPS = 1e-6


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """The inner product in float64, whatever the arrays' dtype."""
    return float(np.asarray(a, np.float64).ravel() @ np.asarray(b, np.float64).ravel())


def free_variables(x: np.ndarray, g: np.ndarray, lower: float, upper: float, *,
                   rtol: float = 1e-6) -> np.ndarray:
    """1.0 where x may move along -g, 0.0 where a bound (within rtol of its value, as
    stored rounding leaves it) holds it."""
    x = np.asarray(x, np.float64)
    held = ((x <= lower * (1 + rtol)) & (g > 0)) | ((x >= upper * (1 - rtol)) & (g < 0))
    return (~held).astype(np.float64)


def usable_pair(s: np.ndarray, y: np.ndarray) -> bool:
    """Whether (s, y) has the positive curvature that keeps the L-BFGS matrix positive
    definite."""
    return dot(s, y) > CURVATURE_EPS * float(np.linalg.norm(s) * np.linalg.norm(y))


def lbfgs_direction(g: np.ndarray, pairs: Sequence[tuple[np.ndarray, np.ndarray]]
                    ) -> np.ndarray:
    """d = -H g by the two-loop recursion; `pairs` are (s, y), oldest first, each usable.
    Without pairs, steepest descent."""
    q = np.asarray(g, np.float64).copy()
    rhos = [1.0 / dot(s, y) for s, y in pairs]
    alphas = []
    for (s, y), rho in zip(reversed(pairs), reversed(rhos), strict=True):
        a = rho * dot(s, q)
        alphas.append(a)
        q -= a * np.asarray(y, np.float64)
    if pairs:
        s, y = pairs[-1]
        q *= dot(s, y) / dot(y, y)
    for (s, y), rho, a in zip(pairs, rhos, reversed(alphas), strict=True):
        b = rho * dot(y, q)
        q += (a - b) * np.asarray(s, np.float64)
    return -q


def cg_direction(g: np.ndarray, g_prev: np.ndarray | None, d_prev: np.ndarray | None
                 ) -> tuple[np.ndarray, bool]:
    """The PR+ direction and whether it restarted (steepest descent: no previous
    direction, beta = 0, or a direction that does not descend)."""
    g64 = np.asarray(g, np.float64)
    if g_prev is None or d_prev is None or dot(g_prev, g_prev) == 0:
        return -g64, True
    beta = max(0.0, dot(g64, g64 - g_prev) / dot(g_prev, g_prev))
    d = -g64 + beta * np.asarray(d_prev, np.float64)
    if beta == 0 or dot(g64, d) > -DESCENT_EPS * float(np.linalg.norm(g64) * np.linalg.norm(d)):
        return -g64, True
    return d, False


def trial_steps(alpha0: float, shrink: float, n: int) -> tuple[float, ...]:
    """The n step lengths of a backtracking search: alpha0, alpha0 shrink, ..."""
    return tuple(alpha0 * shrink**t for t in range(n))


def trial_point(x: np.ndarray, d: np.ndarray, alpha: float, lower: float | np.ndarray,
                upper: float | np.ndarray) -> np.ndarray:
    """P(x + alpha d): the step projected onto the box [lower, upper] (float64)."""
    return np.clip(np.asarray(x, np.float64) + alpha * np.asarray(d, np.float64), lower, upper)


def armijo(f0: float, f: float, decrease: float, c1: float) -> bool:
    """Sufficient decrease: f <= f0 + c1 * decrease, `decrease` = g.(x_t - x) (negative
    along a descent direction)."""
    return f <= f0 + c1 * decrease
