"""On the demo's line, LS-RTM with curvelets holds a lower data misfit after every
iteration than with the identity at the same sparsity (bench/lsrtm_sparsity.py measures
more: other thresholds, wavelets, the line's data with its direct wave).

The data are the line's shots less the background's (the direct wave removed, as LS-RTM
wants them); the identity keeps the pixels above half the first update's largest, and
curvelets the same number of coefficients. Real Devito solves, real moto."""

from __future__ import annotations

from seisless.imaging import survey
from seisless.inversion.sparsity import make_frame
from tests.inversion.sparsity_runs import held, line_cloud, matched_lam_fraction, run_lsrtm

SPEC = survey.LineSpec()
ITERATIONS = 4
LAM_FRACTION = 0.5
CURVELET_LEVELS = 2


def test_curvelets_fit_the_data_better_than_pixels_at_the_same_sparsity() -> None:
    with line_cloud(SPEC, scattered=True) as cloud:
        identity = run_lsrtm(cloud, SPEC, "identity", "identity", LAM_FRACTION, ITERATIONS)
        frame = make_frame("curvelet", (SPEC.nx, SPEC.nz), levels=CURVELET_LEVELS)
        fraction = matched_lam_fraction(frame, identity.first_z, LAM_FRACTION)
        curvelet = run_lsrtm(cloud, SPEC, "curvelet", "curvelet", fraction, ITERATIONS,
                             levels=CURVELET_LEVELS)
    first = next(n for n in identity.nonzeros if n is not None)
    # the same sparsity (to one: a complex coefficient is two values)
    assert abs(next(n for n in curvelet.nonzeros if n is not None) - first) <= 1
    ours, theirs = held(curvelet), held(identity)
    assert ours[0] == theirs[0]  # the zero image
    assert all(a < b for a, b in zip(ours[1:], theirs[1:], strict=True)), (ours, theirs)
