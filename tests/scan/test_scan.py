"""`seisless scan` end to end on generated surveys whose every attribute is known."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import boto3
import numpy as np
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from seisless.errors import ConfigError, SeislessError
from seisless.scan import ATTRIBUTE_SCHEMA, ScanOptions, plan_ranges, plan_scan, run_direct
from seisless.segy import HeaderKeys, detect_layout, open_source
from seisless.segy.write import SegyWriter

N_SHOTS, N_REC, NS = 6, 9, 40


def known_survey(path: Path, fmt: int = 5, byteorder: str = ">") -> np.ndarray:
    """Shots of receivers whose samples are small integers (exact in IBM and float32, and
    every sum exact in float64), with a dead trace, a NaN and an Inf where IEEE allows."""
    n = N_SHOTS * N_REC
    k = np.arange(n)[:, None]
    samples = ((np.arange(NS)[None, :] % 7) - 3) * (k % 5 + 1)
    samples = samples.astype(np.float32)
    samples[4] = 0.0  # dead
    if fmt == 5:
        samples[10, 3] = np.nan
        samples[11, [0, 5]] = [np.inf, -np.inf]
    shot = k[:, 0] // N_REC
    rec = k[:, 0] % N_REC
    with SegyWriter(path, n_samples=NS, interval_us=2000, sample_format=fmt,
                    byteorder=byteorder) as writer:
        writer.write(samples, {
            "FieldRecord": 100 + shot, "TraceNumber": rec + 1, "SourceGroupScalar": -100,
            "SourceX": 100 * (1000 + 50 * shot), "SourceY": 250,
            "GroupX": 100 * (1000 + 12.5 * rec).astype(int) + 5, "GroupY": 0,
            "offset": 12 * rec, "INLINE_3D": 7 + shot, "CROSSLINE_3D": rec,
            "CDP_X": 123456, "CDP_Y": 7890,
        })
    return samples


def expected_attributes(samples: np.ndarray) -> dict[str, np.ndarray]:
    rows = {name: [] for name in ("mean_abs", "rms", "max_abs", "min", "max", "n_nonfinite")}
    for trace in samples.astype(np.float64):
        finite = trace[np.isfinite(trace)]
        rows["mean_abs"].append(np.abs(finite).sum() / finite.size)
        rows["rms"].append(np.sqrt((finite ** 2).sum() / finite.size))
        rows["max_abs"].append(np.abs(finite).max())
        rows["min"].append(finite.min())
        rows["max"].append(finite.max())
        rows["n_nonfinite"].append(trace.size - finite.size)
    return {name: np.array(values) for name, values in rows.items()}


@pytest.mark.parametrize(("fmt", "byteorder"), [(5, ">"), (1, ">"), (5, "<"), (3, ">")])
@pytest.mark.parametrize("workers", [1, 2])
def test_every_attribute_is_exact(tmp_path: Path, fmt: int, byteorder: str, workers: int) -> None:
    path = tmp_path / "known.sgy"
    samples = known_survey(path, fmt, byteorder)
    result = run_direct(str(path), ScanOptions(n_ranges=4), workers=workers)
    traces = result.traces
    assert traces.schema.equals(ATTRIBUTE_SCHEMA, check_metadata=False)
    expected = expected_attributes(samples)
    for name, values in expected.items():
        np.testing.assert_array_equal(traces[name].to_numpy(), values, err_msg=name)
    dead = traces["dead"].to_numpy(zero_copy_only=False)
    assert np.flatnonzero(dead).tolist() == [4]
    k = np.arange(N_SHOTS * N_REC)
    np.testing.assert_array_equal(traces["trace"].to_numpy(), k)
    layout = result.plan.layout
    np.testing.assert_array_equal(traces["byte_offset"].to_numpy(),
                                  3600 + k * layout.trace_length)
    np.testing.assert_array_equal(traces["field_record"].to_numpy(), 100 + k // N_REC)
    np.testing.assert_array_equal(traces["source_x"].to_numpy(), 1000 + 50.0 * (k // N_REC))
    np.testing.assert_array_equal(traces["source_y"].to_numpy(), 2.5)
    np.testing.assert_array_equal(traces["group_x"].to_numpy(),
                                  (100 * (1000 + 12.5 * (k % N_REC)).astype(int) + 5) / 100)
    np.testing.assert_array_equal(traces["cdp_x"].to_numpy(), 1234.56)
    np.testing.assert_array_equal(traces["offset"].to_numpy(), 12 * (k % N_REC))
    np.testing.assert_array_equal(traces["inline"].to_numpy(), 7 + k // N_REC)


def test_gathers_index_reads_back_each_shot(tmp_path: Path) -> None:
    path = tmp_path / "known.sgy"
    samples = known_survey(path)
    result = run_direct(str(path), ScanOptions(n_ranges=3), workers=1)
    shots = [g for g in result.gathers.to_pylist() if g["kind"] == "shot"]
    assert [g["key"] for g in shots] == [100 + s for s in range(N_SHOTS)]
    raw = path.read_bytes()
    layout = result.plan.layout
    for s, gather in enumerate(shots):
        assert gather["n_traces"] == N_REC
        assert gather["n_receivers"] == N_REC
        assert gather["source_x"] == 1000 + 50 * s
        (byte_range,) = gather["byte_ranges"]
        assert byte_range["stop"] - byte_range["start"] == N_REC * layout.trace_length
        first = (byte_range["start"] - 3600) // layout.trace_length
        assert raw[byte_range["start"]:byte_range["stop"]] == \
            raw[3600 + first * layout.trace_length:3600 + (first + N_REC) * layout.trace_length]
        assert first == s * N_REC
    assert samples.shape[0] == N_SHOTS * N_REC


def test_interleaved_gathers_have_several_ranges(tmp_path: Path) -> None:
    path = tmp_path / "interleaved.sgy"
    with SegyWriter(path, n_samples=4, interval_us=1000) as writer:
        writer.write(np.ones((6, 4)), {"FieldRecord": [1, 1, 2, 2, 1, 3]})
    result = run_direct(str(path), workers=1)
    shot1 = next(g for g in result.gathers.to_pylist() if g["key"] == 1)
    length = result.plan.layout.trace_length
    assert shot1["byte_ranges"] == [{"start": 3600, "stop": 3600 + 2 * length},
                                    {"start": 3600 + 4 * length, "stop": 3600 + 5 * length}]


def test_custom_header_bytes(tmp_path: Path) -> None:
    path = tmp_path / "custom.sgy"
    with SegyWriter(path, n_samples=4, interval_us=1000) as writer:
        writer.write(np.ones((3, 4)), {"UnassignedInt1": [11, 12, 13],
                                       "UnassignedInt2": [21, 22, 23]})
    result = run_direct(str(path), ScanOptions(keys=HeaderKeys(inline=233, crossline=237)),
                        workers=1)
    assert result.traces["inline"].to_pylist() == [11, 12, 13]
    assert result.traces["crossline"].to_pylist() == [21, 22, 23]


def test_range_planner_reports_rounding(tmp_path: Path) -> None:
    path = tmp_path / "known.sgy"
    known_survey(path)
    with open_source(path) as source:
        layout = detect_layout(source)
    ranges, notes = plan_ranges(layout, range_bytes=layout.trace_length * 10 + 1)
    assert [r.n_traces for r in ranges] == [10] * 5 + [4]
    assert "not a whole number" in notes[0]
    ranges, notes = plan_ranges(layout, range_bytes=layout.trace_length * 10)
    assert notes == []
    ranges, _ = plan_ranges(layout, n_ranges=4)
    assert sum(r.n_traces for r in ranges) == layout.n_traces
    assert all(b.byte_start == a.byte_stop for a, b in itertools.pairwise(ranges))
    with pytest.raises(ConfigError):
        ScanOptions(range_bytes=0)


def test_outputs_are_complete_and_summary_last(tmp_path: Path) -> None:
    path = tmp_path / "known.sgy"
    known_survey(path)
    out = tmp_path / "out"
    result = run_direct(str(path), workers=1)
    result.write(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["traces.parquet", "gathers.parquet", "map.png", "summary.json"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True
    assert summary["counts"]["traces"] == N_SHOTS * N_REC
    assert summary["counts"]["dead_traces"] == 1
    assert pq.read_table(out / "traces.parquet").num_rows == N_SHOTS * N_REC
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failed_scan_publishes_nothing(tmp_path: Path, segy_data: Path) -> None:
    with pytest.raises(SeislessError):
        run_direct(str(segy_data / "broken.sgy"), workers=1).write(tmp_path / "out")
    assert not (tmp_path / "out").exists()


@mock_aws
def test_s3_source_gives_the_same_rows(tmp_path: Path, aws_credentials: None) -> None:
    path = tmp_path / "known.sgy"
    known_survey(path)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    s3.upload_file(str(path), "data", "incoming/known.sgy")
    local = run_direct(str(path), workers=1)
    remote = run_direct("s3://data/incoming/known.sgy", workers=1, s3_client=s3)
    assert remote.traces.equals(local.traces)
    remote.write("s3://data/scans/known/", s3_client=s3)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="data", Prefix="scans/")["Contents"]}
    assert "scans/known/summary.json" in keys
    with pytest.raises(SeislessError, match="no such object"):
        run_direct("s3://data/incoming/missing.sgy", workers=1, s3_client=s3)


def test_plan_fails_fast_on_misaligned_traces(segy_data: Path) -> None:
    with open_source(segy_data / "long.sgy") as source, pytest.raises(SeislessError):
        plan_scan(source)


@mock_aws
def test_many_small_s3_blocks_give_the_same_rows(tmp_path: Path, aws_credentials: None) -> None:
    """Many small blocks through S3 ranged GETs (block edges off the 8 MiB parts)."""
    from seisless.scan import scan_range
    from seisless.segy import S3Source

    path = tmp_path / "known.sgy"
    known_survey(path)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    s3.upload_file(str(path), "data", "known.sgy")
    with open_source(path) as local:
        plan = plan_scan(local, ScanOptions(n_ranges=1))
        expected = scan_range(local, plan.layout, plan.ranges[0])
    with S3Source("s3://data/known.sgy", s3) as remote:
        rows = scan_range(remote, plan.layout, plan.ranges[0],
                          block_bytes=3 * plan.layout.trace_length + 1)
    assert rows.equals(expected)
