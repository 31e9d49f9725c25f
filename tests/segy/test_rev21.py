"""SEG-Y rev 2.1's 2-byte additional trace header count, and overrides that keep detection.

Every file is made by the project's writer and scanned end to end: the values read back
must be the values written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seisless.errors import HeaderValueError
from seisless.scan import ScanOptions, run_direct
from seisless.segy import BytesSource, detect_layout, read_traces
from seisless.segy.binary_header import (
    BINARY_FIELDS,
    REV21_FIELDS,
    BinaryField,
    unpack_binary_header,
)
from seisless.segy.write import SegyWriter

N_TRACES, NS = 6, 12


def _write(path: Path, *, revision: tuple[int, int], byteorder: str, extra: int = 0,
           fmt: int = 5, table: dict[str, BinaryField] | None = None,
           fields: dict[str, int | float] | None = None) -> np.ndarray:
    """A small survey; returns its samples (small integers, exact in every format)."""
    samples = (np.arange(N_TRACES * NS) % 23 - 11).reshape(N_TRACES, NS).astype(np.float32)
    with SegyWriter(path, n_samples=NS, interval_us=4000, sample_format=fmt,
                    byteorder=byteorder, revision=revision, extra_trace_headers=extra,
                    binary_fields=fields, binary_table=table) as writer:
        writer.write(samples, {"FieldRecord": 500 + np.arange(N_TRACES)})
    return samples


def _check_scan(path: Path, samples: np.ndarray, options: ScanOptions | None = None) -> dict:
    """Scan `path` and check it read back what was written; returns summary.json's dict."""
    result = run_direct(str(path), options or ScanOptions(n_ranges=2), workers=1)
    traces = result.traces
    np.testing.assert_array_equal(traces["field_record"].to_numpy(), 500 + np.arange(N_TRACES))
    np.testing.assert_array_equal(traces["max"].to_numpy(), samples.max(axis=1))
    np.testing.assert_array_equal(traces["min"].to_numpy(), samples.min(axis=1))
    layout = result.plan.layout
    block = read_traces(BytesSource(path.read_bytes()), layout)
    np.testing.assert_array_equal(block.samples, samples)
    return result.summary()


@pytest.mark.parametrize("byteorder", [">", "<"])
@pytest.mark.parametrize("extra", [1, 2])
def test_rev21_additional_headers_and_survey_type(tmp_path: Path, byteorder: str,
                                                  extra: int) -> None:
    path = tmp_path / "rev21.sgy"
    samples = _write(path, revision=(2, 1), byteorder=byteorder, extra=extra,
                     fields={"SurveyType": 3})
    layout = detect_layout(BytesSource(path.read_bytes()))
    assert (layout.revision, layout.n_extra_trace_headers) == ((2, 1), extra)
    assert layout.header_length == 240 * (1 + extra)
    assert layout.warnings == ()
    binary = path.read_bytes()[3200:3600]
    values = unpack_binary_header(binary, byteorder)
    assert (values["MaxAdditionalTraceHeaders"], values["SurveyType"]) == (extra, 3)
    _check_scan(path, samples)


@pytest.mark.parametrize("extra", [1, 2])
def test_rev20_with_segyio_2_byte_count_falls_back_with_a_note(tmp_path: Path,
                                                               extra: int) -> None:
    """Big-endian, 2-byte count n reads as n * 65536 in 4 bytes: the fallback is noted."""
    path = tmp_path / "rev20.sgy"
    samples = _write(path, revision=(2, 0), byteorder=">", extra=extra, table=REV21_FIELDS)
    assert unpack_binary_header(path.read_bytes()[3200:3600], ">")[
        "MaxAdditionalTraceHeaders"] == extra * 65536
    summary = _check_scan(path, samples)
    assert summary["layout"]["n_extra_trace_headers"] == extra
    notes = [n for n in summary["notes"] if "3507-3508" in n]
    assert len(notes) == 1 and f"give {extra * 65536} " in notes[0]
    assert json.dumps(summary)  # the note is what summary.json holds


def test_rev20_little_endian_2_byte_count_reads_directly(tmp_path: Path) -> None:
    path = tmp_path / "rev20le.sgy"
    samples = _write(path, revision=(2, 0), byteorder="<", extra=1, table=REV21_FIELDS)
    summary = _check_scan(path, samples)
    assert summary["layout"]["n_extra_trace_headers"] == 1
    assert summary["layout"]["warnings"] == []


def test_rev20_2_byte_count_the_traces_do_not_confirm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wrong.sgy"
    _write(path, revision=(2, 0), byteorder=">", table=REV21_FIELDS,
           fields={"MaxAdditionalTraceHeaders": 1})  # but no extra headers in the traces
    with pytest.raises(HeaderValueError, match="do not confirm"):
        detect_layout(BytesSource(path.read_bytes()))


def test_rev21_implausible_2_byte_count_names_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bad.sgy"
    _write(path, revision=(2, 1), byteorder=">", fields={"MaxAdditionalTraceHeaders": 5000})
    with pytest.raises(HeaderValueError, match="3507-3508: 5000"):
        detect_layout(BytesSource(path.read_bytes()))


def test_rev20_table_is_unchanged() -> None:
    assert BINARY_FIELDS["MaxAdditionalTraceHeaders"] == BinaryField(3507, "i")
    assert "SurveyType" not in BINARY_FIELDS


@pytest.mark.parametrize("byteorder", [">", "<"])
@pytest.mark.parametrize("stated", [5, 1, 0])
def test_format_override_keeps_byte_order_detection(tmp_path: Path, byteorder: str,
                                                    stated: int) -> None:
    """`--format 5` on a rev 1 file (no byte-order word) stating 5, 1 (a common mistake)
    or 0 (no witness at all: the sample counts decide)."""
    path = tmp_path / "fmt.sgy"
    samples = _write(path, revision=(1, 0), byteorder=byteorder, fields={"Format": stated})
    layout = detect_layout(BytesSource(path.read_bytes()), sample_format=5)
    assert (layout.byteorder, layout.sample_format) == (byteorder, 5)
    _check_scan(path, samples, ScanOptions(n_ranges=2, sample_format=5))


@pytest.mark.parametrize("byteorder", ["big", "little"])
def test_cli_format_option_with_each_byte_order(tmp_path: Path, byteorder: str) -> None:
    path = tmp_path / "cli.sgy"
    _write(path, revision=(1, 0), byteorder=">" if byteorder == "big" else "<")
    run = subprocess.run([sys.executable, "-m", "seisless.cli", "scan", str(path), "--out",
                          str(tmp_path / "out"), "--format", "5", "--workers", "1"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["layout"]["byteorder"] == (">" if byteorder == "big" else "<")
    assert summary["counts"]["traces"] == N_TRACES


def test_additional_header_names_are_read_as_segyio_reads_them(tmp_path: Path) -> None:
    """Standard names in ASCII whatever the text encoding; a proprietary name in the text
    header's encoding (EBCDIC here); both listed in the layout summary.json carries."""
    path = tmp_path / "named.sgy"
    samples = (np.arange(N_TRACES * NS) % 23 - 11).reshape(N_TRACES, NS).astype(np.float32)
    with SegyWriter(path, n_samples=NS, interval_us=4000, revision=(2, 1),
                    extra_trace_headers=2, text_encoding="ebcdic",
                    extra_header_names=[b"SEG00001", "ACME0001".encode("cp037")]) as writer:
        writer.write(samples, {"FieldRecord": 500 + np.arange(N_TRACES)})
    layout = detect_layout(BytesSource(path.read_bytes()))
    assert layout.trace_header_names == ("SEG00001", "ACME0001")
    summary = _check_scan(path, samples)
    assert summary["layout"]["trace_header_names"] == ["SEG00001", "ACME0001"]
    unnamed = tmp_path / "unnamed.sgy"
    _write(unnamed, revision=(2, 1), byteorder=">", extra=1)
    assert detect_layout(BytesSource(unnamed.read_bytes())).trace_header_names == ("SEG00001",)
