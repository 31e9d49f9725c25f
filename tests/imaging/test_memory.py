"""The automatic choice of a memory strategy (no solves)."""

from __future__ import annotations

import pytest

from seisless.errors import ImagingError
from seisless.imaging.memory import choose

FIELD = 1_000_000  # bytes per time slice


def test_auto_prefers_full_save_when_it_fits() -> None:
    assert choose("auto", field_bytes=FIELD, nt_c=1000, dt_c=1.0, f0=0.01,
                  budget=2_000_000_000).kind == "full"


def test_auto_subsamples_within_the_safe_interval() -> None:
    plan = choose("auto", field_bytes=FIELD, nt_c=1000, dt_c=1.0, f0=0.01, budget=250_000_000)
    assert (plan.kind, plan.factor) == ("snapshots", 4)


def test_auto_checkpoints_when_subsampling_would_alias() -> None:
    plan = choose("auto", field_bytes=FIELD, nt_c=1000, dt_c=1.0, f0=0.01, budget=20_000_000)
    assert plan.kind == "checkpointing" and plan.n_checkpoints == 10


def test_unknown_strategy_is_an_imaging_error() -> None:
    with pytest.raises(ImagingError, match="unknown memory strategy"):
        choose("disk", field_bytes=FIELD, nt_c=10, dt_c=1.0, f0=0.01)
