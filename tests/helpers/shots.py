"""Shot gathers as SEG-Y bytes, written by segyio (an independent writer)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import segyio

#: Receivers per shot, and the model size the imaging tests use (10 m cells).
NREC, NX, NZ = 11, 61, 41


def shot_gather_segy(shot_data: list[np.ndarray], sources: list[float]) -> bytes:
    """Shots (field records 100, 101, ...) as a SEG-Y file: 4 ms, receivers every 60 m
    at the surface, source x in metres with scalar 1."""
    ns = shot_data[0].shape[0]
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(ns)), NREC * len(sources)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shots.sgy"
        with segyio.create(str(path), spec) as f:
            f.bin[segyio.BinField.Interval] = 4000
            for s, (data, sx) in enumerate(zip(shot_data, sources, strict=True)):
                for j in range(NREC):
                    i = s * NREC + j
                    f.header[i] = {segyio.TraceField.FieldRecord: 100 + s,
                                   segyio.TraceField.SourceX: int(sx),
                                   segyio.TraceField.GroupX: 60 * j,
                                   segyio.TraceField.SourceGroupScalar: 1,
                                   segyio.TraceField.TRACE_SAMPLE_INTERVAL: 4000}
                    f.trace[i] = data[:, j].astype(np.float32)
        return path.read_bytes()
