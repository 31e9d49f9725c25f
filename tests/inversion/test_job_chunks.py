"""Which shots each array child computes: one each, or several when an iteration has
more shots than AWS Batch allows children in one array job."""

from __future__ import annotations

import pytest

from seisless.errors import ConfigError
from seisless.inversion.documents import (
    BATCH_ARRAY_LIMIT,
    JobEnv,
    RunConfig,
    ShotList,
    shots_per_job,
)
from seisless.inversion.jobs import leaves_of_job


def _env(index: int) -> JobEnv:
    return JobEnv(bucket="bkt", run_id="r", iteration=0, index=index, queue_url="q")


def _config(per: int | None = None) -> RunConfig:
    return RunConfig.model_validate({
        "run_id": "r", "objective": "rtm", "iterations": 1, "shots_per_job": per,
        "model": {"key": "models/m.npy", "spacing": [10.0, 10.0]},
        "data": {"segy_key": "incoming/l.sgy", "gathers_key": "scans/l/gathers.parquet"},
        "acquisition": {"f0": 0.01}})


def test_one_shot_per_child_up_to_the_limit() -> None:
    shots = ShotList(shots=tuple(range(BATCH_ARRAY_LIMIT)))
    assert shots_per_job(BATCH_ARRAY_LIMIT) == 1
    assert leaves_of_job(_env(9_999), _config(), shots) == range(9_999, 10_000)


def test_beyond_the_limit_children_share_shots_and_cover_each_once() -> None:
    n = 2 * BATCH_ARRAY_LIMIT + 1
    shots = ShotList(shots=tuple(range(n)))
    per = shots_per_job(n)
    n_jobs = -(-n // per)
    assert per == 3 and n_jobs <= BATCH_ARRAY_LIMIT
    covered = [i for job in range(n_jobs) for i in leaves_of_job(_env(job), _config(), shots)]
    assert covered == list(range(n))
    with pytest.raises(ConfigError, match="out of range"):
        leaves_of_job(_env(n_jobs), _config(), shots)


def test_a_requested_count_groups_consecutive_shots_the_last_child_takes_the_rest() -> None:
    shots = ShotList(shots=tuple(range(8)))
    config = _config(3)
    assert [leaves_of_job(_env(job), config, shots) for job in range(3)] == [
        range(0, 3), range(3, 6), range(6, 8)]
    with pytest.raises(ConfigError, match="8 shots in 3 jobs"):
        leaves_of_job(_env(3), config, shots)
