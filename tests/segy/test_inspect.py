"""seisless inspect's content: decoded text, a checked binary header, varying trace fields."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from moto import mock_aws

from seisless.segy import BytesSource, S3Source
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


@mock_aws
def test_an_s3_object_costs_a_few_ranged_gets(tmp_path: Path, aws_credentials: None) -> None:
    """Inspecting an object reads its headers and sampled runs only: every GET is ranged,
    a handful of them, and the bytes read are a small part of the object."""
    import boto3

    path = tmp_path / "large.sgy"
    n_traces, n_samples = 20_000, 250
    il, xl = np.divmod(np.arange(n_traces), 200)
    with SegyWriter(path, n_samples=n_samples, interval_us=4000) as writer:
        writer.write(np.zeros((n_traces, n_samples), np.float32),
                     {"FieldRecord": il + 1, "CDP": xl + 1})
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    s3.upload_file(str(path), "data", "incoming/large.sgy")
    gets: list[str] = []

    def record(params: dict, **_: object) -> None:
        gets.append(params.get("Range", ""))

    s3.meta.events.register("provide-client-params.s3.GetObject", record)
    with S3Source("s3://data/incoming/large.sgy", s3) as source:
        found = inspect_source(source, n_traces=5)
    assert found.detection.line_choice is not None
    assert (found.detection.line_choice.first, found.detection.line_choice.second) == (9, 21)
    assert gets and all(r.startswith("bytes=") for r in gets), "every GET is ranged"
    spans = [tuple(int(v) for v in r[len("bytes="):].split("-")) for r in gets]
    read = sum(stop - start + 1 for start, stop in spans)
    assert len(gets) <= 20 and read < path.stat().st_size / 4, (len(gets), read)
