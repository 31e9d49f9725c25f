"""A small seeded run of the chaos harness (tests/helpers/chaos.py): duplicates,
overlapping concurrent batches, crashes mid-upload and before the ack, tombstones."""

from __future__ import annotations

import io
from types import ModuleType

import pytest


@pytest.mark.parametrize(("seed", "leaves", "fan_in"), [(11, 13, 3), (12, 7, 2), (13, 1, 10)])
def test_seeded_chaos_is_exact(aws_credentials: None, chaos: ModuleType, seed: int,
                               leaves: int, fan_in: int) -> None:
    out = io.StringIO()
    assert chaos.run_chaos(3, seed, leaves, fan_in, out=out) == 3, out.getvalue()
    assert out.getvalue().splitlines()[-1] == "exact: 3/3"
