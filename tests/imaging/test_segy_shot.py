"""A shot read from SEG-Y byte ranges equals the shot built in memory.

The file is written here with segyio: 2 shots x 5 receivers, 51 samples at 4 ms, IEEE
floats, coordinates stored in decimetres (scalar -10) to exercise the scalar.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import segyio

from seisless.errors import ImagingError
from seisless.imaging import Shot
from seisless.imaging.segy_shot import read_shot, shot_ranges

NS, NREC = 51, 5


def _write(path: str) -> tuple[np.ndarray, list[float]]:
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((2 * NREC, NS)).astype(np.float32)
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(NS)), 2 * NREC
    sources = [100.0, 250.5]
    with segyio.create(path, spec) as f:
        f.bin[segyio.BinField.Interval] = 4000
        for i in range(2 * NREC):
            shot, j = divmod(i, NREC)
            f.header[i] = {
                segyio.TraceField.FieldRecord: 11 + shot,
                segyio.TraceField.SourceX: int(sources[shot] * 10),
                segyio.TraceField.GroupX: int((50.0 + 40.0 * j) * 10),
                segyio.TraceField.SourceGroupScalar: -10,
                segyio.TraceField.TRACE_SAMPLE_INTERVAL: 4000,
            }
            f.trace[i] = samples[i]
    return samples, sources


def _gathers() -> pa.Table:
    length = 240 + 4 * NS
    ranges = [[{"start": 3600 + s * NREC * length, "stop": 3600 + (s + 1) * NREC * length}]
              for s in range(2)]
    return pa.table({"kind": ["shot", "shot"], "key": pa.array([11, 12], pa.int64()),
                     "byte_ranges": ranges})


def test_shot_from_segy_equals_shot_in_memory(tmp_path) -> None:
    path = str(tmp_path / "two-shots.sgy")
    samples, sources = _write(path)
    shot = read_shot(path, shot_ranges(_gathers(), 12), f0=0.01, field_record=12,
                     source_depth=10.0, receiver_depth=5.0)
    gx = 50.0 + 40.0 * np.arange(NREC)
    expected = Shot.from_traces(samples[NREC:], {"source_x": np.full(NREC, sources[1]),
                                                 "group_x": gx}, 4.0, 0.01,
                                source_depth=10.0, receiver_depth=5.0, shot_id=12)
    assert shot.src == expected.src == (250.5, 10.0)
    assert np.array_equal(shot.rec, expected.rec)
    assert np.array_equal(shot.data, expected.data)
    assert (shot.dt, shot.t1, shot.shot_id) == (4.0, 200.0, 12)


def test_unknown_shot_is_an_imaging_error() -> None:
    with pytest.raises(ImagingError, match="not in the gathers index"):
        shot_ranges(_gathers(), 99)


def test_traces_of_two_sources_are_not_a_shot() -> None:
    with pytest.raises(ImagingError, match="different source positions"):
        Shot.from_traces(np.zeros((2, 5)), {"source_x": np.array([0.0, 10.0]),
                                            "group_x": np.zeros(2)}, 4.0, 0.01)


def test_a_3d_shot_round_trips_through_segy(tmp_path) -> None:
    """write_shots puts x and y (plus the survey origin) in the headers; read_shot with
    origin_y takes them back to the model's frame, data unchanged."""
    from seisless.imaging.survey import write_shots
    from seisless.scan import run_direct

    gx, gy = np.meshgrid([20.0, 60.0, 100.0], [30.0, 70.0], indexing="ij")
    rec = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, 10.0)], axis=1)
    data = np.random.default_rng(3).standard_normal((NS, gx.size)).astype(np.float32)
    shots = [Shot((40.0 + 20 * k, 50.0, 5.0), rec, 200.0, 4.0, 0.01, data=data * (k + 1),
                  shot_id=7 + k) for k in range(2)]
    path = tmp_path / "shots3d.sgy"
    write_shots(path, shots, interval_us=4000, origin=(600_000.0, 6_000_000.0), text=["3-D"])
    gathers = run_direct(str(path), workers=1).gathers
    got = read_shot(str(path), shot_ranges(gathers, 8), f0=0.01, field_record=8,
                    source_depth=5.0, receiver_depth=10.0, origin_x=600_000.0,
                    origin_y=6_000_000.0)
    assert got.src == (60.0, 50.0, 5.0)
    np.testing.assert_allclose(got.rec, rec)
    np.testing.assert_array_equal(got.data, data * 2)
