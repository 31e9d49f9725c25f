"""A synthetic 2-D marine line for the demo and the imaging benchmark.

The point is to exercise the whole path a real survey takes: a true earth (water, a few
dipping layers and a slow lens, the kind of target FWI is used for), shots modelled on it
with the same Devito solver the inversion uses, and a SEG-Y shot-gather file whose
headers (field record, trace number, source/group x with a coordinate scalar, offset,
depths, sample interval) are all the imaging jobs need to rebuild each shot, so the
inversion reads its data exactly as it would read a field survey. Positions are written
in a projected frame (`LineSpec.easting` added to model x), as field data would be.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from seisless.errors import ImagingError
from seisless.imaging.geometry import Shot
from seisless.imaging.model import Model
from seisless.imaging.solver import forward
from seisless.models import smooth
from seisless.segy.write import SegyWriter

#: SEG-Y coordinate scalar: -100 stores centimetres, so positions survive as integers.
COORDINATE_SCALAR = -100


@dataclass(frozen=True)
class LineSpec:
    """Geometry and physics of the line (m, ms, kHz, km/s as in `seisless.imaging`)."""

    nx: int = 101
    nz: int = 51
    spacing: float = 10.0
    water_cells: int = 8
    n_shots: int = 8
    receiver_step: int = 2
    source_depth: float = 10.0
    receiver_depth: float = 10.0
    t1: float = 1000.0
    dt: float = 4.0
    f0: float = 0.010
    nbl: int = 40
    space_order: int = 8
    easting: float = 500_000.0
    first_record: int = 1001
    smoothing_cells: float = 6.0

    @property
    def width(self) -> float:
        return self.spacing * (self.nx - 1)

    @property
    def interval_us(self) -> int:
        return round(self.dt * 1000)

    def source_x(self) -> np.ndarray:
        """Source positions (model x, m): evenly along the line, a cell in from the ends."""
        return np.linspace(self.spacing, self.width - self.spacing, self.n_shots)

    def receiver_x(self) -> np.ndarray:
        """A fixed spread (ocean-bottom-cable style) across the whole line."""
        return self.spacing * np.arange(0, self.nx, self.receiver_step, dtype=np.float64)

    def field_records(self) -> list[int]:
        return [self.first_record + i for i in range(self.n_shots)]

    def model(self, vp: np.ndarray) -> Model:
        return Model(vp, (self.spacing, self.spacing), nbl=self.nbl,
                     space_order=self.space_order)


def true_velocity(spec: LineSpec) -> np.ndarray:
    """Water, three dipping layers and a slow (gas-charged) lens, vp in km/s, (nx, nz)."""
    x = spec.spacing * np.arange(spec.nx)[:, None] / spec.width
    z = spec.spacing * np.arange(spec.nz)[None, :]
    depth = spec.spacing * (spec.nz - 1)
    vp = np.full((spec.nx, spec.nz), 1.5)
    for top, dip, velocity in ((0.16, 0.04, 1.9), (0.42, 0.10, 2.4), (0.72, -0.06, 3.0)):
        vp = np.where(z >= (top + dip * x) * depth, velocity, vp)
    lens = ((x - 0.55) / 0.12) ** 2 + ((z / depth - 0.55) / 0.08) ** 2 <= 1.0
    vp = np.where(lens, 1.9, vp)
    vp[:, :spec.water_cells] = 1.5
    return vp.astype(np.float32)


def starting_velocity(spec: LineSpec, true_vp: np.ndarray) -> np.ndarray:
    """The true model blurred well beyond a wavelength, water kept: what velocity
    analysis or tomography would hand to FWI."""
    vp = smooth(true_vp, spec.smoothing_cells)
    vp[:, :spec.water_cells] = 1.5
    return vp.astype(np.float32)


def water_mask(spec: LineSpec) -> np.ndarray:
    """1 below the water layer, 0 in it: FWI leaves the known water velocity alone."""
    mask = np.ones((spec.nx, spec.nz), np.float32)
    mask[:, :spec.water_cells] = 0.0
    return mask


def shots(spec: LineSpec) -> list[Shot]:
    """The line's shots without data, in model coordinates."""
    rx = spec.receiver_x()
    rec = np.stack([rx, np.full_like(rx, spec.receiver_depth)], axis=1)
    return [Shot((sx, spec.source_depth), rec, spec.t1, spec.dt, spec.f0, shot_id=record)
            for sx, record in zip(spec.source_x(), spec.field_records(), strict=True)]


def model_shots(spec: LineSpec, vp: np.ndarray) -> list[Shot]:
    """Forward-model every shot on `vp`; the shots with their data."""
    model = spec.model(vp)
    return [shot.with_data(forward(model, shot)) for shot in shots(spec)]


def write_segy(path: str | os.PathLike[str], spec: LineSpec, modelled: list[Shot]) -> None:
    """Write the line's shots as a shot-sorted SEG-Y (IEEE float), one gather per field
    record."""
    text = ["seisless synthetic 2-D line: shot gathers, IEEE float, big endian",
            f"{spec.n_shots} shots, {len(spec.receiver_x())} receivers (fixed spread), "
            f"{spec.dt:g} ms sampling, {spec.t1:g} ms",
            f"x = easting in m, scalar {COORDINATE_SCALAR}; model x = easting - "
            f"{spec.easting:.0f}",
            f"source depth {spec.source_depth:g} m, receiver depth {spec.receiver_depth:g} m"]
    write_shots(path, modelled, interval_us=spec.interval_us, origin=(spec.easting, 0.0),
                text=text)


def write_shots(path: str | os.PathLike[str], modelled: list[Shot], *, interval_us: int,
                origin: tuple[float, float], text: list[str]) -> None:
    """Write shots (2-D, or 3-D with y) as a shot-sorted SEG-Y (IEEE float): model
    coordinates plus `origin` (easting, northing) in the x/y headers, depths in the
    depth and elevation headers, one gather per field record (`shot_id`)."""
    scale = -COORDINATE_SCALAR
    with SegyWriter(path, n_samples=modelled[0].nt, interval_us=interval_us,
                    sample_format=5, text=text) as writer:
        for shot in modelled:
            n = shot.nrec
            headers = {
                "FieldRecord": np.full(n, shot.shot_id),
                "TraceNumber": np.arange(1, n + 1),
                "EnergySourcePoint": np.full(n, shot.shot_id),
                "TRACE_SEQUENCE_LINE": np.arange(1, n + 1),
                "offset": np.round(np.hypot(*(shot.rec[:, a] - shot.src[a]
                                              for a in range(shot.rec.shape[1] - 1)))
                                   if shot.rec.shape[1] == 3 else
                                   shot.rec[:, 0] - shot.src[0]).astype(np.int64),
                "SourceGroupScalar": np.full(n, COORDINATE_SCALAR),
                "ElevationScalar": np.full(n, COORDINATE_SCALAR),
                "SourceDepth": np.full(n, round(shot.src[-1] * scale)),
                "ReceiverGroupElevation": np.round(-shot.rec[:, -1] * scale).astype(np.int64),
                "CoordinateUnits": np.ones(n, np.int64),
            }
            for axis, name in enumerate("XY"[:shot.rec.shape[1] - 1]):
                headers[f"Source{name}"] = np.full(n, round((shot.src[axis] + origin[axis])
                                                            * scale))
                headers[f"Group{name}"] = np.round((shot.rec[:, axis] + origin[axis])
                                                   * scale).astype(np.int64)
            writer.write(shot.data.T.astype(np.float32), headers)


def line_over(vp: np.ndarray, spacing: float, **changes: Any) -> LineSpec:
    """The line's geometry over a given (nx, nz) model of `spacing` m cells (`changes`:
    other `LineSpec` fields, e.g. n_shots, f0, t1)."""
    if np.ndim(vp) != 2:
        raise ImagingError(f"shots are modelled on a 2-D (nx, nz) model, got shape "
                           f"{np.shape(vp)}")
    nx, nz = np.shape(vp)
    if nx < 3 or nz < 3:
        raise ImagingError(f"the model needs at least 3 x 3 cells, got {nx} x {nz}")
    spec = LineSpec(nx=nx, nz=nz, spacing=spacing, **changes)
    if spec.n_shots < 1 or spec.receiver_step < 1:
        raise ImagingError(f"need at least one shot and a receiver step of at least one "
                           f"cell, got {spec.n_shots} shots, step {spec.receiver_step}")
    if max(spec.source_depth, spec.receiver_depth) > spacing * (nz - 1):
        raise ImagingError("the source and receiver depths must lie inside the model "
                           f"({spacing * (nz - 1):g} m deep)")
    return spec


def run_sections(spec: LineSpec, model_key: str) -> dict[str, dict[str, object]]:
    """The `model` and `acquisition` sections of an imaging run over this line: the
    model grid starts at model x = 0, which is easting `origin_x` in the SEG-Y."""
    return {"model": {"key": model_key, "spacing": [spec.spacing, spec.spacing],
                      "nbl": spec.nbl, "space_order": spec.space_order},
            "acquisition": {"f0": spec.f0, "source_depth": spec.source_depth,
                            "receiver_depth": spec.receiver_depth,
                            "origin_x": spec.easting}}


def synthesize(path: str | os.PathLike[str], spec: LineSpec, vp: np.ndarray) -> None:
    """Model every shot of the line on `vp` and write them as a shot-gather SEG-Y."""
    write_segy(path, spec, model_shots(spec, vp))
