"""Header auto-detection: lines at every candidate position are found, a file without a
grid gets no guess, and a big file costs a bounded number of reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seisless.segy import BytesSource, detect_layout
from seisless.segy.header_detect import (
    LINE_CANDIDATES,
    MIN_CONFIDENCE,
    detect_header_keys,
    sample_runs,
)
from seisless.segy.write import SegyWriter

N_SAMPLES = 4


def _survey(tmp_path: Path, words: dict[int, np.ndarray], n_traces: int) -> bytes:
    """A file of `n_traces` traces whose 4-byte words at the given 1-based bytes hold the
    given values (big-endian), everything else as SegyWriter writes it."""
    path = tmp_path / "t.sgy"
    with SegyWriter(path, n_samples=N_SAMPLES, interval_us=2000) as writer:
        writer.write(np.ones((n_traces, N_SAMPLES), np.float32))
    data = np.frombuffer(bytearray(path.read_bytes()), np.uint8)
    trace_length = 240 + 4 * N_SAMPLES
    for byte, values in words.items():
        view = np.ndarray((n_traces,), ">i4", data, 3600 + byte - 1, (trace_length,))
        view[:] = values
    return data.tobytes()


def _grid(n_inlines: int, n_crosslines: int, fold: int = 1, *,
          crossline_sorted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    il, xl = np.meshgrid(np.arange(100, 100 + n_inlines), np.arange(500, 500 + 2 * n_crosslines, 2),
                         indexing="xy" if crossline_sorted else "ij")
    return np.repeat(il.ravel(), fold), np.repeat(xl.ravel(), fold)


@pytest.mark.parametrize("pair", LINE_CANDIDATES)
def test_lines_at_each_candidate_position_are_found(tmp_path: Path,
                                                    pair: tuple[int, int]) -> None:
    il, xl = _grid(7, 9)
    source = BytesSource(_survey(tmp_path, {pair[0]: il, pair[1]: xl}, il.size))
    found = detect_header_keys(source, detect_layout(source))
    keys = found.keys()
    assert (keys.inline, keys.crossline) == pair
    if pair == LINE_CANDIDATES[0]:
        assert found.standard_usable and found.line_choice is None
    else:
        assert found.line_choice is not None and found.line_choice.score >= 0.9
        assert any(f"bytes {pair[0]}/{pair[1]} detected" in n for n in found.notes)


@pytest.mark.parametrize(("fold", "crossline_sorted"), [(2, False), (1, True)])
def test_prestack_and_crossline_sorted_grids(tmp_path: Path, fold: int,
                                             crossline_sorted: bool) -> None:
    il, xl = _grid(6, 5, fold, crossline_sorted=crossline_sorted)
    source = BytesSource(_survey(tmp_path, {221: il, 225: xl}, il.size))
    found = detect_header_keys(source, detect_layout(source))
    assert found.line_choice is not None and (found.line_choice.first, found.line_choice.second
                                              ) == (221, 225)
    assert ("crossline-sorted" in found.line_choice.reason) == crossline_sorted


def test_no_grid_means_no_guess_and_a_clear_note(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 200
    words = {byte: rng.integers(-(2**31), 2**31 - 1, n) for pair in LINE_CANDIDATES
             for byte in pair}
    source = BytesSource(_survey(tmp_path, words, n))
    found = detect_header_keys(source, detect_layout(source))
    assert found.line_choice is None and not found.standard_usable
    assert all(c.score < MIN_CONFIDENCE for c in found.lines)
    assert any("no candidate position forms a grid" in note for note in found.notes)
    assert any("CDP x/y: not checked" in note for note in found.notes)
    assert (found.keys().inline, found.keys().crossline) == (189, 193)


def test_coordinates_fall_back_to_source_xy(tmp_path: Path) -> None:
    il, xl = _grid(5, 6)
    x, y = 1000 * il + 7 * xl, 3000 * xl - il
    source = BytesSource(_survey(tmp_path, {189: il, 193: xl, 73: x, 77: y}, il.size))
    found = detect_header_keys(source, detect_layout(source))
    assert found.line_choice is None and found.xy_choice is not None
    assert (found.keys().cdp_x, found.keys().cdp_y) == (73, 77)


class _CountingSource(BytesSource):
    """Counts reads, as an S3 source would count ranged GETs."""

    reads = 0

    def readinto(self, offset: int, buffer: memoryview) -> None:
        self.reads += 1
        super().readinto(offset, buffer)


def test_a_big_file_is_sampled_in_a_few_reads(tmp_path: Path) -> None:
    il, xl = _grid(60, 80)
    source = _CountingSource(_survey(tmp_path, {9: il, 21: xl}, il.size), "big.sgy")
    layout = detect_layout(source)
    source.reads = 0
    found = detect_header_keys(source, layout, max_traces=400)
    assert found.sampled_traces == 400 and source.reads == len(sample_runs(il.size, 400)) == 8
    assert found.line_choice is not None and (found.line_choice.first,
                                              found.line_choice.second) == (9, 21)


@pytest.mark.parametrize(("name", "lines", "usable"), [
    ("f3.sgy", (189, 193), True), ("small.sgy", (189, 193), True),
    ("small-ps.sgy", (189, 193), True), ("shot-gather.sgy", (9, 13), False),
    ("1x1.sgy", (189, 193), False),
])
def test_real_files(segy_data: Path, name: str, lines: tuple[int, int], usable: bool) -> None:
    source = BytesSource((segy_data / name).read_bytes(), name)
    found = detect_header_keys(source, detect_layout(source))
    assert (found.keys().inline, found.keys().crossline) == lines
    assert found.standard_usable == usable
    if name == "f3.sgy":
        assert found.lines[0].score == 1.0 and found.xy_choice is None
        assert "23 inlines x 18 crosslines" in found.lines[0].reason
    if name == "1x1.sgy":
        assert found.line_choice is None
        assert any("no candidate position forms a grid" in n for n in found.notes)
