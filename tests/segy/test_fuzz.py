"""Mutated headers end in typed errors: never a crash, a hang or a wrong-size read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seisless.errors import SeislessError
from seisless.scan import ScanOptions, plan_scan, scan_range
from seisless.segy import BytesSource
from seisless.segy.write import SegyWriter

HEADER_SPAN = 3600 + 240  # file header and first trace header


def _base(tmp: Path, fmt: int, revision: tuple[int, int]) -> bytes:
    path = tmp / f"base-{fmt}-{revision[0]}.sgy"
    with SegyWriter(path, n_samples=16, interval_us=4000, sample_format=fmt,
                    revision=revision) as writer:
        writer.write(np.linspace(-3, 3, 6 * 16).reshape(6, 16), {"FieldRecord": [1, 1, 1, 2, 2, 2]})
    return path.read_bytes()


mutations = st.lists(st.tuples(st.integers(0, HEADER_SPAN - 1), st.integers(0, 255)),
                     min_size=1, max_size=12)


@settings(max_examples=300, deadline=2000,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from([1, 3, 5, 8, 16]), rev2=st.booleans(), edits=mutations,
       cut=st.integers(0, 64))
def test_mutated_headers_only_raise_typed_errors(tmp_path: Path, fmt: int, rev2: bool,
                                                 edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_base(tmp_path, fmt, (2, 0) if rev2 else (1, 0)))
    for position, value in edits:
        # bias towards the bytes that drive layout: the binary header
        data[3200 + position % 400 if position % 2 else position] = value
    if cut:
        data = data[:-cut]
    source = BytesSource(data)
    try:
        plan = plan_scan(source, ScanOptions(n_ranges=2))
        for item in plan.ranges:
            table = scan_range(source, plan.layout, item, plan.options)
            assert table.num_rows == item.n_traces
    except SeislessError as err:
        assert str(err)
