"""Pure functions building the Devito operators of the acoustic wave equation.

The scheme (per grid point, `s` the time step, `L` the Laplacian, `d` the damping)::

    (m + d s) u[n+1] = (2m + d s) u[n] - m u[n-1] + s^2 L u[n] + s^2 P_s^T w[n]

for n = 1 .. N-2 with u[0] = u[1] = 0. Receivers record P_r u[n+1] at step n (so a
trace's sample n+1 is u[n+1]). Writing the scheme as r_n(u, m) = 0, the exact adjoint is
the same stencil run backwards (L is symmetric; the damping term transposes to a
backward difference), started from v[N-1] = v[N] = 0, with the residual injected as
P_r^T g[k] / (m + d s), and the gradient is

    dphi/dm = -sum_n v[n] (u[n+1] - 2u[n] + u[n-1]) = -sum_k u[k] (v[k-1] - 2v[k] + v[k+1])

The second form needs only u[k] at the step where v[k-1] is computed, which is what
full save, snapshots (every `factor` steps, weighted by `factor`) and checkpointing
(one step recomputed at a time) provide. The linearized (Born) operator differentiates
the same scheme: its source is -dm (u[n+1] - 2u[n] + u[n-1]) / (m + d s).

Every operator is built on placeholder symbols with fixed names (`u`, `v`, `src`,
`rec`, ...); callers pass the real objects by name at apply time.
"""

from __future__ import annotations

from dataclasses import dataclass

from devito import (
    ConditionalDimension,
    Eq,
    Function,
    Inc,
    Operator,
    SparseTimeFunction,
    TimeFunction,
)
from devito.types import Grid


@dataclass(frozen=True)
class Fields:
    """The names of one wave equation's wavefields, one per component: the background
    (forward) field, the scattered (Born) field and the adjoint field. The solver
    creates and passes them by these names, whatever the equation."""

    forward: tuple[str, ...]
    born: tuple[str, ...]
    adjoint: tuple[str, ...]

    @property
    def snapshots(self) -> tuple[str, ...]:
        return tuple(f"{name}save" for name in self.forward)


#: The acoustic equation has one component.
FIELDS = Fields(forward=("u",), born=("du",), adjoint=("v",))


def placeholders(grid: Grid) -> tuple[Function, Function]:
    m = Function(name="m", grid=grid, space_order=1)
    damp = Function(name="damp", grid=grid, space_order=1)
    return m, damp


def sparse(grid: Grid, name: str) -> SparseTimeFunction:
    return SparseTimeFunction(name=name, grid=grid, npoint=1, nt=3)


def step_forward(u: TimeFunction, m: Function, damp: Function, spatial: object,
                 source: object = 0) -> Eq:
    """One step of the scheme above with `spatial` in place of L u."""
    s = u.grid.stepping_dim.spacing
    rhs = (2 * m + damp * s) * u - m * u.backward + s**2 * spatial + source
    return Eq(u.forward, rhs / (m + damp * s))


def step_backward(v: TimeFunction, m: Function, damp: Function, spatial: object) -> Eq:
    """One step of the adjoint scheme with `spatial` in place of L^T v."""
    s = v.grid.stepping_dim.spacing
    rhs = (2 * m + damp * s) * v - m * v.forward + s**2 * spatial
    return Eq(v.backward, rhs / (m + damp * s))


def wavefield(grid: Grid, space_order: int, name: str = "u", save: int | None = None,
              ) -> TimeFunction:
    """A wavefield: a rolling 3-step buffer, or all `save` steps."""
    return TimeFunction(name=name, grid=grid, time_order=2, space_order=space_order,
                        save=save)


def snapshot_field(grid: Grid, nsnap: int, factor: int, name: str = "usave",
                   ) -> TimeFunction:
    """Every `factor`-th step of a wavefield, stored (time_order 0: no halo in time)."""
    tsub = ConditionalDimension(name="tsub", parent=grid.time_dim, factor=factor)
    return TimeFunction(name=name, grid=grid, time_order=0, space_order=0,
                        save=nsnap, time_dim=tsub)


def forward_operator(grid: Grid, space_order: int, save: str = "none", factor: int = 1,
                     born: bool = False, **kwargs: object) -> Operator:
    """Forward modelling (or, with `born`, forward plus linearized modelling).

    Parameters
    ----------
    grid : Grid
        The model's padded grid.
    space_order : int
        Spatial order of the Laplacian.
    save : {'full', 'snapshots', 'none'}
        Keep all of `u`, every `factor`-th step in `usave`, or only the rolling buffer.
    factor : int
        Snapshot interval in steps (for `save='snapshots'`).
    born : bool
        Also propagate the scattered field `du` driven by `dm` and record it in `rec`
        instead of `u`.
    """
    m, damp = placeholders(grid)
    u = wavefield(grid, space_order, save=3 if save == "full" else None)
    src, rec = sparse(grid, "src"), sparse(grid, "rec")
    s = grid.stepping_dim.spacing
    eqs = [step_forward(u, m, damp, u.laplace)]
    eqs += src.inject(field=u.forward, expr=src * s**2 / (m + damp * s))
    if save == "snapshots":
        eqs.append(Eq(snapshot_field(grid, 3, factor), u))
    if born:
        du = wavefield(grid, space_order, name="du")
        dm = Function(name="dm", grid=grid, space_order=0)
        eqs.append(step_forward(du, m, damp, du.laplace, -dm * (u.forward - 2 * u + u.backward)))
        eqs += rec.interpolate(expr=du.forward)
    else:
        eqs += rec.interpolate(expr=u.forward)
    return Operator(eqs, name="Born" if born else "Forward", **kwargs)


def gradient_operator(grid: Grid, space_order: int, save: str = "full", factor: int = 1,
                      **kwargs: object) -> Operator:
    """Adjoint propagation with the imaging condition accumulated into `grad`.

    With `save='none'` the forward wavefield `u` is read from its rolling buffer: that is
    the checkpointing variant, run one step at a time after the forward step it needs.
    """
    m, damp = placeholders(grid)
    v = wavefield(grid, space_order, name="v")
    resid = sparse(grid, "resid")
    grad = Function(name="grad", grid=grid, space_order=0)
    s = grid.stepping_dim.spacing
    eqs = [step_backward(v, m, damp, v.laplace)]
    eqs += resid.inject(field=v.backward, expr=resid / (m + damp * s))
    curvature = v.backward - 2 * v + v.forward
    if save == "snapshots":
        eqs.append(Inc(grad, -factor * snapshot_field(grid, 3, factor) * curvature))
    else:
        u = wavefield(grid, space_order, save=3 if save == "full" else None)
        eqs.append(Inc(grad, -u * curvature))
    return Operator(eqs, name="Gradient", **kwargs)
