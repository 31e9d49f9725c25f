"""Our decoding equals segyio's, sample for sample and header for header."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import segyio

from seisless.errors import SegyFormatError
from seisless.segy import detect_layout, open_source, read_traces
from seisless.segy.write import SegyWriter

MALFORMED = {"broken.sgy", "long.sgy"}


def _corpus(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.sgy") if p.name not in MALFORMED)


def _assert_matches_segyio(path: Path) -> None:
    with open_source(path) as source:
        layout = detect_layout(source)
        block = read_traces(source, layout)
    endian = "little" if layout.byteorder == "<" else "big"
    with segyio.open(str(path), ignore_geometry=True, endian=endian) as f:
        assert layout.n_traces == f.tracecount
        assert layout.n_samples == len(f.samples)
        if f.tracecount:
            expected = f.trace.raw[:]
            np.testing.assert_array_equal(block.samples, expected.astype(block.samples.dtype))
            assert np.array_equal(block.samples.astype(expected.dtype), expected)
        for i in range(f.tracecount):
            reference = f.header[i]
            for name in block.headers.dtype.names:
                assert int(block.headers[name][i]) == reference[getattr(segyio.TraceField, name)], (
                    path.name, i, name)


def test_every_readable_shared_file_matches_segyio(segy_data: Path) -> None:
    files = _corpus(segy_data)
    assert len(files) >= 15
    for path in files:
        if path.name == "text.sgy":  # headers and no traces: segyio cannot open it
            continue
        _assert_matches_segyio(path)


def test_file_without_traces_has_an_empty_layout(segy_data: Path) -> None:
    with open_source(segy_data / "text.sgy") as source:
        layout = detect_layout(source)
        block = read_traces(source, layout)
    assert layout.n_traces == 0
    assert block.samples.shape == (0, layout.n_samples)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_shared_files_are_typed_errors(segy_data: Path, name: str) -> None:
    with open_source(segy_data / name) as source, pytest.raises(SegyFormatError) as err:
        layout = detect_layout(source)
        read_traces(source, layout)
    assert "byte" in str(err.value)


SEGYIO_FORMATS = {1: np.float32, 2: np.int32, 3: np.int16, 5: np.float32, 6: np.float64,
                  8: np.int8, 9: np.int64, 10: np.uint32, 11: np.uint16, 12: np.uint64,
                  16: np.uint8}


@pytest.mark.parametrize("endian", ["big", "little"])
@pytest.mark.parametrize("fmt", sorted(SEGYIO_FORMATS))
def test_files_written_by_segyio_match(tmp_path: Path, fmt: int, endian: str) -> None:
    rng = np.random.default_rng(fmt)
    dtype = SEGYIO_FORMATS[fmt]
    if np.issubdtype(dtype, np.floating):
        data = rng.standard_normal((7, 23)).astype(dtype) * 1000
    else:
        info = np.iinfo(dtype)
        data = rng.integers(max(info.min, -2**40), min(info.max, 2**40), (7, 23)).astype(dtype)
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount, spec.endian = fmt, range(23), 7, endian
    path = tmp_path / f"f{fmt}-{endian}.sgy"
    with segyio.create(str(path), spec) as f:
        for i in range(7):
            f.header[i] = {segyio.TraceField.FieldRecord: 100 + i,
                           segyio.TraceField.SourceGroupScalar: -10,
                           segyio.TraceField.SourceX: 12345 * i}
            f.trace[i] = data[i]
    _assert_matches_segyio(path)


def _independent_int24(raw: bytes, byteorder: str, signed: bool) -> int:
    padded = (b"\x00" + raw) if byteorder == ">" else (raw + b"\x00")
    value = struct.unpack(f"{byteorder}I", padded)[0]
    return value - (1 << 24) if signed and value >= 1 << 23 else value


@pytest.mark.parametrize("byteorder", [">", "<"])
@pytest.mark.parametrize("fmt", [7, 15])
def test_24_bit_formats_match_an_independent_decoding(tmp_path: Path, fmt: int,
                                                       byteorder: str) -> None:
    rng = np.random.default_rng(fmt)
    lo, hi = (-(1 << 23), 1 << 23) if fmt == 7 else (0, 1 << 24)
    data = rng.integers(lo, hi, (5, 31))
    data[0, :4] = [lo, hi - 1, 0, -1 if fmt == 7 else 1]
    path = tmp_path / "int24.sgy"
    with SegyWriter(path, n_samples=31, interval_us=1000, sample_format=fmt,
                    byteorder=byteorder) as writer:
        writer.write(data)
    raw = path.read_bytes()
    with open_source(path) as source:
        layout = detect_layout(source)
        block = read_traces(source, layout)
    for i in range(5):
        start = layout.trace_offset(i) + 240
        expected = [_independent_int24(raw[start + 3 * j:start + 3 * j + 3], byteorder,
                                       fmt == 7) for j in range(31)]
        assert block.samples[i].tolist() == expected
    assert np.array_equal(block.samples, data)
