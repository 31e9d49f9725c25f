"""The demo's line from a user-made smooth start, default settings, through the real
gradient and update jobs in one process: the objectives that were kept never rise."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from seisless.imaging import survey
from seisless.models import starting_model
from tests.inversion.loop import Cloud, moto_cloud, run_config, run_loop, upload_line

SPEC = survey.LineSpec()
ITERATIONS = 4


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with moto_cloud("objectives") as cloud:
        # what `seisless model smooth --sigma 150` makes of the true model
        start = starting_model(survey.true_velocity(SPEC), 150.0, SPEC.spacing)
        upload_line(cloud, SPEC, start, Path(tmp_path_factory.mktemp("line")))
        yield cloud


def _kept(objective: tuple[float, ...], accepted: tuple[bool, ...]) -> list[float]:
    return [phi for phi, ok in zip(objective, accepted, strict=True) if ok]


def test_fwi_objective_falls_with_default_settings(cloud: Cloud) -> None:
    config = run_config(SPEC, "fwi-defaults", "fwi", fwi={"vmin": 1.4, "vmax": 4.5})
    history = run_loop(cloud, config, SPEC.field_records(), ITERATIONS)
    kept = _kept(history.objective, history.accepted)
    assert len(history.objective) == ITERATIONS and history.accepted[0]
    assert all(b <= a for a, b in itertools.pairwise(kept)) and len(kept) >= 2
    assert kept[-1] < 0.7 * kept[0]
    for k in range(1, ITERATIONS):  # rejected exactly when above the last kept objective
        last_kept = _kept(history.objective[:k], history.accepted[:k])[-1]
        assert history.accepted[k] == (history.objective[k] <= last_kept)


@pytest.mark.parametrize("method", ["bregman", "gradient"])
def test_lsrtm_objective_falls_with_default_settings(cloud: Cloud, method: str) -> None:
    config = run_config(SPEC, f"lsrtm-{method}", "lsrtm", lsrtm={"method": method})
    history = run_loop(cloud, config, SPEC.field_records(), ITERATIONS)
    kept = _kept(history.objective, history.accepted)
    assert all(b <= a for a, b in itertools.pairwise(kept)) and len(kept) >= 3
    assert kept[-1] < 0.8 * kept[0]
    assert np.isfinite(history.step) and history.step > 0
