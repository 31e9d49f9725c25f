"""Which shots each array child computes: one each, or several when an iteration has
more shots than AWS Batch allows children in one array job."""

from __future__ import annotations

import pytest

from seisless.errors import ConfigError
from seisless.inversion.documents import BATCH_ARRAY_LIMIT, JobEnv, ShotList, shots_per_job
from seisless.inversion.jobs import leaves_of_job


def _env(index: int) -> JobEnv:
    return JobEnv(bucket="bkt", run_id="r", iteration=0, index=index, queue_url="q")


def test_one_shot_per_child_up_to_the_limit() -> None:
    shots = ShotList(shots=tuple(range(BATCH_ARRAY_LIMIT)))
    assert shots_per_job(BATCH_ARRAY_LIMIT) == 1
    assert leaves_of_job(_env(9_999), shots) == range(9_999, 10_000)


def test_beyond_the_limit_children_share_shots_and_cover_each_once() -> None:
    n = 2 * BATCH_ARRAY_LIMIT + 1
    shots = ShotList(shots=tuple(range(n)))
    per = shots_per_job(n)
    n_jobs = -(-n // per)
    assert per == 3 and n_jobs <= BATCH_ARRAY_LIMIT
    covered = [i for job in range(n_jobs) for i in leaves_of_job(_env(job), shots)]
    assert covered == list(range(n))
    with pytest.raises(ConfigError, match="out of range"):
        leaves_of_job(_env(n_jobs), shots)
