"""Pure functions building the Devito operators of the pseudo-acoustic TTI equation.

Devito's `examples/seismic/tti` centred kernel (Zhang et al. 2011; Louboutin et al. 2018)
in the time scheme of `operators`. With n the unit vector of the symmetry axis, the
rotated second derivative is built from staggered first derivatives of half the order,

    Gzz w = sum_a D_a^- ( n_a sum_b n_b D_b^+ w ),    Gh w = L w - Gzz w,

D^+ evaluated half a cell ahead and D^- half a cell behind, so D_a^- = -(D_a^+)^T and
Gzz, Gh are symmetric (and negative semi-definite) on the grid. Per component the
scheme is the acoustic one with L u replaced by

    forward:  H0 = e Gh u + d Gzz v,        Hz = d Gh u + Gzz v
    adjoint:  H0 = Gh (e p + d r),          Hz = Gzz (d p + r)

(e = 1 + 2 epsilon, d = sqrt(1 + 2 delta)): the adjoint's spatial operator is exactly
the transpose of the forward one, so the Born pair and the gradient are exact adjoints.
The source is injected into both components; receivers record (u + v) / 2, which is the
acoustic field when epsilon = delta = 0 (then u = v). The gradient with respect to m is
that of the acoustic scheme summed over both components.
"""

from __future__ import annotations

from devito import Eq, Function, Inc, Operator
from devito.types import Grid

from seisless.imaging.operators import (
    Fields,
    placeholders,
    snapshot_field,
    sparse,
    step_backward,
    step_forward,
    wavefield,
)

#: Two components; the adjoint fields are Devito's examples' `p` and `r`.
FIELDS = Fields(forward=("u", "v"), born=("du", "dv"), adjoint=("p", "r"))


class _Anisotropy:
    """Placeholders of `TTIModel.coefficients` (e, d, the axis' components), made once
    per operator, and the spatial operators built on them."""

    def __init__(self, grid: Grid, space_order: int) -> None:
        def coefficient(name: str) -> Function:
            return Function(name=name, grid=grid, space_order=space_order)
        self.grid, self.space_order = grid, space_order
        self.eps1, self.delta1 = coefficient("eps1"), coefficient("delta1")
        self.axis = [coefficient(f"n{i}") for i in range(grid.dim)]

    def gzz(self, expr: object) -> object:
        """The second derivative along the axis, as Devito's `Gzz_centered`."""
        order = self.space_order // 2
        pairs = list(zip(self.axis, self.grid.dimensions, strict=True))
        along = sum(n * getattr(expr, f"d{d.name}")(fd_order=order, x0=d + d.spacing / 2)
                    for n, d in pairs)
        return sum(getattr(n * along, f"d{d.name}")(fd_order=order, x0=d - d.spacing / 2)
                   for n, d in pairs)

    def gh(self, expr: object) -> object:
        """The Laplacian minus `gzz`, as Devito's `Gh_centered`."""
        laplace = sum(getattr(expr, f"d{d.name}2")(fd_order=self.space_order)
                      for d in self.grid.dimensions)
        return laplace - self.gzz(expr)

    def spatial(self, u: object, v: object, forward: bool = True) -> tuple[object, object]:
        """(H0, Hz) of the forward operator, or of its transpose."""
        e, d = self.eps1, self.delta1
        if forward:
            gh_u, gzz_v = self.gh(u), self.gzz(v)
            return e * gh_u + d * gzz_v, d * gh_u + gzz_v
        return self.gh(e * u + d * v), self.gzz(d * u + v)


def forward_operator(grid: Grid, space_order: int, save: str = "none", factor: int = 1,
                     born: bool = False, **kwargs: object) -> Operator:
    """Forward TTI modelling (with `born`, plus linearized modelling recorded instead);
    parameters as `operators.forward_operator`."""
    m, damp = placeholders(grid)
    fields = [wavefield(grid, space_order, name, save=3 if save == "full" else None)
              for name in FIELDS.forward]
    u, v = fields
    src, rec = sparse(grid, "src"), sparse(grid, "rec")
    s = grid.stepping_dim.spacing
    aniso = _Anisotropy(grid, space_order)
    h0, hz = aniso.spatial(u, v)
    eqs = [step_forward(u, m, damp, h0), step_forward(v, m, damp, hz)]
    eqs += src.inject(field=(u.forward, v.forward), expr=src * s**2 / (m + damp * s))
    if save == "snapshots":
        eqs += [Eq(snapshot_field(grid, 3, factor, name), f)
                for name, f in zip(FIELDS.snapshots, fields, strict=True)]
    if born:
        du, dv = (wavefield(grid, space_order, name) for name in FIELDS.born)
        dm = Function(name="dm", grid=grid, space_order=0)
        dh0, dhz = aniso.spatial(du, dv)
        eqs += [step_forward(du, m, damp, dh0, -dm * (u.forward - 2 * u + u.backward)),
                step_forward(dv, m, damp, dhz, -dm * (v.forward - 2 * v + v.backward))]
        eqs += rec.interpolate(expr=(du.forward + dv.forward) / 2)
    else:
        eqs += rec.interpolate(expr=(u.forward + v.forward) / 2)
    return Operator(eqs, name="BornTTI" if born else "ForwardTTI", **kwargs)


def gradient_operator(grid: Grid, space_order: int, save: str = "full", factor: int = 1,
                      **kwargs: object) -> Operator:
    """Adjoint TTI propagation with the imaging condition accumulated into `grad`;
    parameters as `operators.gradient_operator`."""
    m, damp = placeholders(grid)
    p, r = (wavefield(grid, space_order, name) for name in FIELDS.adjoint)
    resid = sparse(grid, "resid")
    grad = Function(name="grad", grid=grid, space_order=0)
    s = grid.stepping_dim.spacing
    h0, hz = _Anisotropy(grid, space_order).spatial(p, r, forward=False)
    eqs = [step_backward(p, m, damp, h0), step_backward(r, m, damp, hz)]
    eqs += resid.inject(field=(p.backward, r.backward), expr=resid / (2 * (m + damp * s)))
    if save == "snapshots":
        kept = [snapshot_field(grid, 3, factor, name) for name in FIELDS.snapshots]
        weight = -factor
    else:
        kept = [wavefield(grid, space_order, name, save=3 if save == "full" else None)
                for name in FIELDS.forward]
        weight = -1
    curvature = [a.backward - 2 * a + a.forward for a in (p, r)]
    eqs.append(Inc(grad, weight * sum(f * c for f, c in zip(kept, curvature, strict=True))))
    return Operator(eqs, name="GradientTTI", **kwargs)
