"""The named binary header table: segyio's positions, no overlaps, lossless round trips."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import segyio

from seisless.segy.binary_header import (
    BINARY_FIELDS,
    BINARY_HEADER_BYTES,
    BINARY_HEADER_START,
    pack_binary_header,
    stated_byteorder,
    unpack_binary_header,
)
from seisless.segy.layout import detect_byteorder
from seisless.segy.write import binary_header

SEGYIO_FIELDS = {
    name: int(value)
    for name, value in vars(segyio.BinField).items()
    if isinstance(value, int) and not name.startswith(("_", "Unassigned"))
}


def test_every_segyio_field_is_in_the_table_at_segyio_position() -> None:
    assert len(SEGYIO_FIELDS) >= 30
    for name, byte in SEGYIO_FIELDS.items():
        assert BINARY_FIELDS[name].byte == byte, name


def test_fields_lie_inside_the_binary_header_and_do_not_overlap() -> None:
    fields = sorted(BINARY_FIELDS.values())
    assert fields[0].byte >= BINARY_HEADER_START
    assert fields[-1].offset + fields[-1].size <= BINARY_HEADER_BYTES
    for field, following in pairwise(fields):
        assert field.byte + field.size <= following.byte, (field, following)


def test_unpacked_fields_equal_segyio_on_the_shared_files(segy_data: Path) -> None:
    files = sorted(p for p in segy_data.rglob("*.sgy") if p.name not in {"broken.sgy", "text.sgy"})
    assert files
    for path in files:
        binary = path.read_bytes()[BINARY_HEADER_START - 1 :][:BINARY_HEADER_BYTES]
        byteorder = detect_byteorder(binary)
        endian = "little" if byteorder == "<" else "big"
        with segyio.open(str(path), ignore_geometry=True, endian=endian) as f:
            reference = f.bin
        values = unpack_binary_header(binary, byteorder)
        for name, byte in SEGYIO_FIELDS.items():
            assert values[name] == reference[byte], (path.name, name)


@pytest.mark.parametrize("byteorder", [">", "<"])
def test_pack_and_unpack_round_trip(byteorder: str) -> None:
    covered = np.zeros(BINARY_HEADER_BYTES, bool)
    for field in BINARY_FIELDS.values():
        covered[field.offset : field.offset + field.size] = True
    rng = np.random.default_rng(7)
    for _ in range(50):
        data = rng.integers(0, 256, BINARY_HEADER_BYTES, dtype=np.uint8) * covered
        binary = data.astype(np.uint8).tobytes()
        assert pack_binary_header(unpack_binary_header(binary, byteorder), byteorder) == binary


@pytest.mark.parametrize(("byteorder", "word"), [(">", b"\1\2\3\4"), ("<", b"\4\3\2\1")])
def test_writer_header_states_its_byte_order(byteorder: str, word: bytes) -> None:
    binary = binary_header(
        n_samples=70000,
        interval_us=2000,
        fmt_code=5,
        byteorder=byteorder,
        revision=(2, 0),
        fields={"TrailerRecords": 3},
    )
    position = BINARY_FIELDS["ByteOrder"].offset
    assert binary[position : position + 4] == word
    assert stated_byteorder(binary) == byteorder
    values = unpack_binary_header(binary, byteorder)
    assert (values["Samples"], values["ExtSamples"], values["TrailerRecords"]) == (0, 70000, 3)
    assert (values["SEGYRevision"], values["SEGYRevisionMinor"]) == (2, 0)
