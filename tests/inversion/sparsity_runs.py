"""LS-RTM runs of one line with different sparsifying transforms at the same sparsity,
through the real gradient and update jobs in one process (`tests.inversion.loop`).

Same sparsity: the first update is the same for every transform (from the zero image,
z_1 = -t g_0 with the same step), so each transform's `lam_fraction` is chosen to keep as
many nonzero coefficients of its C z_1 as the identity keeps pixels of z_1 (a complex
curvelet coefficient counts as two). Later iterates' sparsity is what Bregman makes of
it, and is reported per iteration.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seisless import storage
from seisless.imaging import survey
from seisless.inversion.keys import RunKeys
from seisless.inversion.sparsity import Frame, IdentityFrame, make_frame, soft_threshold
from seisless.models import starting_model
from tests.inversion.loop import Cloud, moto_cloud, run_config, run_loop, upload_line

#: The background of the line's LS-RTM: what `seisless model smooth --sigma 150` makes
#: of the true model.
SMOOTHING_M = 150.0


@dataclass(frozen=True)
class Series:
    """One LS-RTM run: the misfit of every iterate (0: the zero image), whether each
    was kept, the nonzero coefficients of iterates 1.. (None where rejected: a rejected
    first step had a threshold of its own), its first Bregman variable z_1 (the same for
    every transform, up to rounding) and its last image."""

    run_id: str
    transform: str
    lam_fraction: float
    misfit: tuple[float, ...]
    accepted: tuple[bool, ...]
    nonzeros: tuple[int | None, ...]
    first_z: np.ndarray
    image: np.ndarray


@contextlib.contextmanager
def line_cloud(spec: survey.LineSpec, *, scattered: bool = False,
               bucket: str = "sparsity") -> Iterator[Cloud]:
    """moto with the line's SEG-Y, gathers index and smooth background uploaded. The
    SEG-Y holds the line's shots, or with `scattered` what is left of them after
    subtracting the background's shots (the direct wave and the smooth part): the data
    a linearized inversion fits once they are removed."""
    with tempfile.TemporaryDirectory() as folder, moto_cloud(bucket) as cloud:
        background = starting_model(survey.true_velocity(spec), SMOOTHING_M, spec.spacing)
        modelled = survey.model_shots(spec, survey.true_velocity(spec))
        if scattered:
            modelled = [shot.with_data(shot.data - smooth.data) for shot, smooth
                        in zip(modelled, survey.model_shots(spec, background), strict=True)]
        upload_line(cloud, spec, background, Path(folder), modelled)
        yield cloud


def nonzeros(frame: Frame, z: np.ndarray, lam: float) -> int:
    """Nonzero real values of soft(C z, lam) (a complex coefficient counts as two)."""
    kept = soft_threshold(frame.forward(np.asarray(z, np.float64)), lam)
    if np.iscomplexobj(kept):
        return int(np.count_nonzero(kept.real) + np.count_nonzero(kept.imag))
    return int(np.count_nonzero(kept))


def matched_lam_fraction(frame: Frame, z: np.ndarray, identity_fraction: float) -> float:
    """The lam_fraction whose threshold keeps as many nonzero real values of C z as
    `identity_fraction` keeps pixels of z."""
    count = nonzeros(IdentityFrame(), z, identity_fraction * float(np.max(np.abs(z))))
    coefficients = frame.forward(np.asarray(z, np.float64))
    magnitude = np.sort(np.abs(coefficients).ravel())[::-1]
    per = 2 if np.iscomplexobj(coefficients) else 1
    keep = max(1, min(len(magnitude) - 1, round(count / per)))
    lam = 0.5 * (magnitude[keep - 1] + magnitude[keep])  # between the kept and the rest
    return float(lam / magnitude[0])


def run_lsrtm(cloud: Cloud, spec: survey.LineSpec, run_id: str, transform: str,
              lam_fraction: float, iterations: int, **lsrtm: Any) -> Series:
    """Run `run_id`: `iterations` Bregman iterations with `transform` on every shot."""
    section = {"method": "bregman", "transform": transform, "lam_fraction": lam_fraction,
               **lsrtm}
    history = run_loop(cloud, run_config(spec, run_id, "lsrtm", lsrtm=section),
                       spec.field_records(), iterations)
    frame = make_frame(transform, (spec.nx, spec.nz),  # type: ignore[arg-type]
                       **{k: v for k, v in lsrtm.items() if k in ("wavelet", "levels")})
    keys = RunKeys(run_id)
    z = [storage.get_array(cloud.s3, cloud.bucket, keys.iteration(k).bregman_z)
         for k in range(1, iterations + 1)]
    image = storage.get_array(cloud.s3, cloud.bucket, keys.iteration(iterations).image)
    return Series(run_id, transform, lam_fraction, history.objective, history.accepted,
                  tuple(None if k < iterations and not history.accepted[k]
                        else nonzeros(frame, z[k - 1], history.lam)
                        for k in range(1, iterations + 1)), z[0], image)


def held(run: Series) -> list[float]:
    """The misfit of the image the run holds after each iteration: its last accepted
    iterate's (a rejected iterate is replaced by a step from the last accepted one)."""
    kept: list[float] = []
    for phi, ok in zip(run.misfit, run.accepted, strict=True):
        kept.append(phi if ok or not kept else kept[-1])
    return kept
