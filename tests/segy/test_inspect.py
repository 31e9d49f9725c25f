"""seisless inspect's content: decoded text, a checked binary header, varying trace fields."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from seisless.segy import BytesSource
from seisless.segy.inspect import inspect_source
from seisless.segy.write import SegyWriter


def test_f3_headers(segy_data: Path) -> None:
    found = inspect_source(BytesSource((segy_data / "f3.sgy").read_bytes(), "f3.sgy"),
                           n_traces=5)
    assert "Cropped F3" in found.texts[0]
    binary = {row.name: row for row in found.binary}
    assert binary["Format"].value == 3 and binary["Format"].byte == 3225
    assert not any(row.flag for row in found.binary)
    varying = {row.name: row.values for row in found.trace_rows}
    assert varying["CROSSLINE_3D"] == [875, 876, 877, 878, 879]
    assert "INLINE_3D" not in varying and found.constant["INLINE_3D"] == 111
    assert found.detection.standard_usable
    document = json.loads(json.dumps(found.to_dict()))
    assert document["detection"]["keys"] == {"inline": 189, "crossline": 193, "cdp_x": 181,
                                             "cdp_y": 185}


def test_values_that_look_wrong_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "odd.sgy"
    with SegyWriter(path, n_samples=8, interval_us=0) as writer:
        writer.write(np.zeros((3, 8), np.float32))
    data = bytearray(path.read_bytes())
    struct.pack_into(">h", data, 3255 - 1, 7)  # measurement system: 1 or 2
    found = inspect_source(BytesSource(bytes(data)))
    flags = {row.name: row.flag for row in found.binary if row.flag}
    assert set(flags) == {"Interval", "MeasurementSystem"}
    assert "interval unknown" in flags["Interval"]


def test_extended_stanzas_are_listed(tmp_path: Path) -> None:
    stanza = "((SEG: Location Data ver 1.0))".ljust(3200).encode("ascii")
    path = tmp_path / "ext.sgy"
    with SegyWriter(path, n_samples=4, interval_us=1000, revision=(2, 0),
                    extended_text=[stanza]) as writer:
        writer.write(np.zeros((2, 4), np.float32))
    found = inspect_source(BytesSource(path.read_bytes()))
    assert found.stanzas == ["((SEG: Location Data ver 1.0))"]
    assert found.n_shown == 2
