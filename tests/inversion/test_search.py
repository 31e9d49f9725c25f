"""The line search's judge over moto (no solves) and the run input's optimizer fields."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from seisless import storage
from seisless.errors import ConfigError, SourceError
from seisless.inversion.documents import FwiSpec, History, parse_imaging_input
from seisless.inversion.keys import RunKeys
from seisless.inversion.search import SearchPlan, TrialObjective, judge_trial_step
from tests.inversion.loop import Cloud, moto_cloud

RUN = RunKeys("search")
PLAN = SearchPlan(optimizer="lbfgs", objective=10.0, leaves=(0, 2), steps=(1.0, 0.5),
                  decrease=(-4.0, -2.0), slope=-4.0, c1=0.25, restarted=False,
                  history=History(objective=(12.0, 10.0), accepted=(True, True)))


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with moto_cloud("search") as cloud:
        storage.put_json(cloud.s3, cloud.bucket, RUN.iteration(1).search, PLAN)
        yield cloud


def _trial(cloud: Cloud, t: int, objectives: dict[int, float]) -> None:
    keys = RUN.iteration(1).trial(t)
    for index, phi in objectives.items():
        storage.put_json(cloud.s3, cloud.bucket, keys.objective(index),
                         TrialObjective(shot_id=100 + index, objective=phi, seconds=0.1))
    storage.put_array(cloud.s3, cloud.bucket, keys.model, np.full((2, 2), 2.0 + t), "<f4")
    for key in (keys.model_meta, keys.picture):
        cloud.s3.put_object(Bucket=cloud.bucket, Key=key, Body=f"{key}".encode())


def test_a_trial_above_the_armijo_line_is_rejected_and_nothing_moves(cloud: Cloud) -> None:
    _trial(cloud, 0, {0: 5.0, 1: 99.0, 2: 4.5})  # 9.5 > 10 + 0.25 * -4 = 9; shot 1 not summed
    verdict = judge_trial_step(cloud.s3, cloud.bucket, "search", 1, 0)
    assert (verdict.accepted, verdict.objective, verdict.trial, verdict.trial_str) == \
        (False, 9.5, 1, "1")
    assert not storage.exists(cloud.s3, cloud.bucket, RUN.iteration(2).history)
    assert storage.exists(cloud.s3, cloud.bucket, RUN.iteration(1).trial(0).verdict)


def test_an_accepted_trial_becomes_the_next_iteration(cloud: Cloud) -> None:
    _trial(cloud, 1, {0: 4.0, 2: 4.0})  # 8 <= 10 + 0.25 * -2
    verdict = judge_trial_step(cloud.s3, cloud.bucket, "search", 1, 1)
    assert verdict.accepted and verdict.step == 0.5 and verdict.trial == 2
    nxt = RUN.iteration(2)
    assert np.array_equal(storage.get_array(cloud.s3, cloud.bucket, nxt.model),
                          np.full((2, 2), 3.0, np.float32))
    history = storage.get_document(cloud.s3, cloud.bucket, nxt.history, History, "history")
    assert history.objective == (12.0, 10.0) and history.step == 0.5
    again = judge_trial_step(cloud.s3, cloud.bucket, "search", 1, 1)  # a retried Lambda
    assert again == verdict


def test_a_missing_objective_or_trial_is_a_readable_error(cloud: Cloud) -> None:
    _trial(cloud, 0, {0: 5.0})
    with pytest.raises(SourceError, match="trial's array job ended without it"):
        judge_trial_step(cloud.s3, cloud.bucket, "search", 1, 0)
    with pytest.raises(ConfigError, match=r"fwi\.line_search\.max_trials"):
        judge_trial_step(cloud.s3, cloud.bucket, "search", 1, 2)


@pytest.mark.parametrize(("change", "field"), [
    ({"optimizer": "newton"}, "fwi.optimizer"),
    ({"memory": 0}, "fwi.memory"),
    ({"line_search": {"max_trials": 0}}, "fwi.line_search.max_trials"),
    ({"line_search": {"c1": 0.5}}, "fwi.line_search.c1"),
    ({"line_search": {"shrink": 1.0}}, "fwi.line_search.shrink"),
])
def test_optimizer_settings_are_validated(change: dict, field: str) -> None:
    data = {"scan_id": "s", "objective": "fwi", "model": {"key": "models/v.npy",
                                                          "spacing": [10.0, 10.0]},
            "acquisition": {"f0": 0.01}, "fwi": {"vmin": 1.4, "vmax": 3.0, **change}}
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_imaging_input(data)


def test_bb_is_the_default_and_runs_no_line_search() -> None:
    spec = FwiSpec(vmin=1.4, vmax=3.0)
    assert spec.optimizer == "bb" and not spec.searches
    assert FwiSpec(vmin=1.4, vmax=3.0, optimizer="cg").searches
