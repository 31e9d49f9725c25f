"""Layout detection on the forms real files take, and typed errors on everything else."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from seisless.errors import (
    HeaderValueError,
    SegyFormatError,
    TruncatedSegyError,
    UnsupportedSegyError,
)
from seisless.segy import BytesSource, detect_layout, read_text_headers, read_traces
from seisless.segy.write import SegyWriter, text_header


def _file(tmp_path: Path, *, n_traces: int = 4, n_samples: int = 10, fmt: int = 5,
          byteorder: str = ">", revision: tuple[int, int] = (1, 0),
          extended: list[bytes] | None = None, encoding: str = "ebcdic") -> bytearray:
    path = tmp_path / "t.sgy"
    with SegyWriter(path, n_samples=n_samples, interval_us=2000, sample_format=fmt,
                    byteorder=byteorder, revision=revision, extended_text=extended,
                    text=["layout test"], text_encoding=encoding) as writer:
        writer.write(np.arange(n_traces * n_samples, dtype=np.float32).reshape(n_traces, -1),
                     {"FieldRecord": np.arange(n_traces)})
    return bytearray(path.read_bytes())


def _put(data: bytearray, byte: int, code: str, value: int | float, bo: str = ">") -> None:
    struct.pack_into(f"{bo}{code}", data, byte - 1, value)


def test_little_endian_without_byte_order_word_is_detected(tmp_path: Path) -> None:
    layout = detect_layout(BytesSource(_file(tmp_path, byteorder="<")))
    assert (layout.byteorder, layout.n_traces, layout.n_samples) == ("<", 4, 10)


@pytest.mark.parametrize("byteorder", [">", "<"])
def test_rev2_byte_order_word_decides(tmp_path: Path, byteorder: str) -> None:
    layout = detect_layout(BytesSource(_file(tmp_path, byteorder=byteorder, revision=(2, 0))))
    assert layout.byteorder == byteorder
    assert layout.revision == (2, 0)


def test_ascii_text_header(tmp_path: Path) -> None:
    data = _file(tmp_path, encoding="ascii")
    source = BytesSource(data)
    layout = detect_layout(source)
    assert layout.text_encoding == "ascii"
    assert "layout test" in read_text_headers(source, layout)[0]


def test_fixed_count_extended_text_headers(tmp_path: Path) -> None:
    extended = [text_header(["extended one"]), text_header(["extended two"], "ascii")]
    source = BytesSource(_file(tmp_path, extended=extended))
    layout = detect_layout(source)
    assert layout.n_extended_text == 2
    assert layout.data_start == 3600 + 6400
    assert "extended two" in read_text_headers(source, layout)[2]
    assert read_traces(source, layout).samples[1, 0] == 10


@pytest.mark.parametrize("stanza", ["((SEG: EndText))", "((SEG:ENDTEXT))", "(( seg: endtext ))"])
def test_unknown_count_extended_headers_end_at_endtext(tmp_path: Path, stanza: str) -> None:
    extended = [text_header(["first"]), text_header(["second"]),
                stanza.encode("cp037").ljust(3200, b"\x40")]
    data = _file(tmp_path, revision=(2, 0), extended=extended)
    _put(data, 3505, "h", -1)
    layout = detect_layout(BytesSource(data))
    assert layout.n_extended_text == 3
    assert layout.n_traces == 4


def test_unknown_count_without_endtext_is_an_error(tmp_path: Path) -> None:
    data = _file(tmp_path, revision=(2, 0), extended=[text_header(["no end"])])
    _put(data, 3505, "h", -1)
    with pytest.raises(SegyFormatError, match="EndText"):
        detect_layout(BytesSource(data))


def test_rev2_extended_sample_count(tmp_path: Path) -> None:
    data = _file(tmp_path, revision=(2, 0), n_samples=10)
    _put(data, 3221, "H", 0)
    _put(data, 3269, "i", 10)
    assert detect_layout(BytesSource(data)).n_samples == 10


def test_rev2_extended_interval(tmp_path: Path) -> None:
    data = _file(tmp_path, revision=(2, 0))
    _put(data, 3273, "d", 0.25)
    assert detect_layout(BytesSource(data)).sample_interval_us == 0.25


def test_rev2_additional_trace_headers(tmp_path: Path) -> None:
    data = _file(tmp_path, revision=(2, 0), n_traces=1, n_samples=10)
    trace = data[3600:]
    extra = bytearray(240)
    extra[232:240] = b"SEG00001"
    data = data[:3600] + trace[:240] + extra + trace[240:]
    _put(data, 3507, "i", 1)
    layout = detect_layout(BytesSource(data))
    assert layout.header_length == 480
    assert read_traces(BytesSource(data), layout).samples[0].tolist() == list(range(10))


def test_rev2_trailer_records(tmp_path: Path) -> None:
    data = _file(tmp_path, revision=(2, 0)) + text_header(["trailer"])
    _put(data, 3529, "i", 1)
    layout = detect_layout(BytesSource(data))
    assert (layout.n_traces, layout.trailer_bytes) == (4, 3200)


def test_sample_count_from_trace_header_when_binary_is_zero(tmp_path: Path) -> None:
    data = _file(tmp_path)
    _put(data, 3221, "H", 0)
    assert detect_layout(BytesSource(data)).n_samples == 10


def test_format_4_is_refused(tmp_path: Path) -> None:
    data = _file(tmp_path)
    _put(data, 3225, "h", 4)
    with pytest.raises(UnsupportedSegyError, match="format 4"):
        detect_layout(BytesSource(data))


def test_variable_length_traces_are_refused(tmp_path: Path) -> None:
    data = _file(tmp_path)
    _put(data, 3503, "h", 0)
    _put(data, 3600 + 115, "H", 12)
    with pytest.raises(UnsupportedSegyError, match="variable-length"):
        detect_layout(BytesSource(data))


def test_unknown_format_code(tmp_path: Path) -> None:
    data = _file(tmp_path)
    _put(data, 3225, "h", 13)
    _put(data, 3297, "I", 0)
    with pytest.raises(HeaderValueError, match="3225"):
        detect_layout(BytesSource(data))


def test_truncated_file_names_the_byte(tmp_path: Path) -> None:
    data = _file(tmp_path)[:-7]
    with pytest.raises(TruncatedSegyError, match="left over at byte"):
        detect_layout(BytesSource(data))


def test_too_short_for_headers() -> None:
    with pytest.raises(TruncatedSegyError, match="3600"):
        detect_layout(BytesSource(b"\x40" * 1000))


def test_absurd_extended_header_count(tmp_path: Path) -> None:
    data = _file(tmp_path)
    _put(data, 3505, "h", 30000)
    with pytest.raises(HeaderValueError, match="3505"):
        detect_layout(BytesSource(data))


def test_shifted_boundaries_are_caught(tmp_path: Path) -> None:
    """A wrong sample count that still divides the file: trace headers disagree."""
    data = _file(tmp_path, n_traces=6, n_samples=10)  # 6 * 280 bytes of traces
    _put(data, 3221, "H", 24)  # 5 traces of 336 bytes: the second starts mid-trace
    source = BytesSource(data)
    layout = detect_layout(source)
    assert layout.n_traces == 5
    assert any("trace header" in w for w in layout.warnings)
    with pytest.raises(SegyFormatError, match="trace boundaries are off"):
        read_traces(source, layout)


def test_sample_format_override(tmp_path: Path) -> None:
    """A file whose header says IBM (1) while its samples are IEEE (5): a common mistake."""
    data = _file(tmp_path, fmt=5)
    _put(data, 3225, "h", 1)
    source = BytesSource(data)
    assert detect_layout(source).sample_format == 1
    layout = detect_layout(source, sample_format=5)
    assert read_traces(source, layout).samples[1].tolist() == list(range(10, 20))
