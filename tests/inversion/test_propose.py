"""The L-BFGS / CG proposal on small arrays over moto (no solves): what it keeps in the
bucket, when its memory restarts, and the steps and decreases it plans."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from seisless import storage
from seisless.inversion.documents import History, JobEnv, RunConfig
from seisless.inversion.keys import RunKeys
from seisless.inversion.propose import propose_search, squared_slowness, trial_velocity
from seisless.inversion.search import SearchPlan
from seisless.inversion.update import FwiBounds
from tests.inversion.loop import Cloud, moto_cloud

BOUNDS = FwiBounds(vmin=1.5, vmax=3.0, max_dv=0.2)
SHAPE = (6, 5)


@dataclass
class Arrays:
    """Iterates of a made-up run, read the way the update job's reader serves them."""

    s3: Any
    env: JobEnv
    config: RunConfig
    velocities: dict[int, np.ndarray] = field(default_factory=dict)
    gradients: dict[int, np.ndarray] = field(default_factory=dict)
    shots: dict[int, frozenset[int]] = field(default_factory=dict)

    def gradient(self, j: int) -> np.ndarray:
        return self.gradients[j]

    def velocity(self, j: int) -> np.ndarray:
        return self.velocities[j]

    def objective(self, j: int) -> float:
        return float(np.sum(self.gradients[j] ** 2))

    def summed_shots(self, j: int) -> frozenset[int]:
        return self.shots[j]


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with moto_cloud("propose") as cloud:
        yield cloud


def _arrays(cloud: Cloud, optimizer: str, iteration: int) -> Arrays:
    config = RunConfig.model_validate({
        "run_id": optimizer, "objective": "fwi", "iterations": 3,
        "model": {"key": "models/v.npy", "spacing": [10.0, 10.0]},
        "data": {"segy_key": "incoming/l.sgy", "gathers_key": "scans/l/gathers.parquet"},
        "acquisition": {"f0": 0.01},
        "fwi": {"vmin": BOUNDS.vmin, "vmax": BOUNDS.vmax, "max_dv": BOUNDS.max_dv,
                "optimizer": optimizer, "line_search": {"max_trials": 3}}})
    env = JobEnv(bucket=cloud.bucket, run_id=optimizer, iteration=iteration)
    rng = np.random.default_rng(3)
    arrays = Arrays(cloud.s3, env, config)
    for j in range(iteration + 1):
        arrays.velocities[j] = (2.0 + 0.1 * j + 0.01 * rng.random(SHAPE)).astype(np.float32)
        # the gradient of 0.5 ||m - m*||^2 at m_j: y = s, positive curvature
        arrays.gradients[j] = (squared_slowness(arrays.velocities[j]) - 0.2).astype(np.float32)
        arrays.shots[j] = frozenset({7, 8})
        storage.put_json(cloud.s3, cloud.bucket, RunKeys(optimizer).iteration(j).shots,
                         {"shots": [7, 9, 8]})  # shot 9 tombstoned: not summed
    return arrays


def _plan(cloud: Cloud, run_id: str, k: int) -> SearchPlan:
    return storage.get_document(cloud.s3, cloud.bucket, RunKeys(run_id).iteration(k).search,
                                SearchPlan, "plan")


def test_the_first_lbfgs_search_is_steepest_descent_scaled_to_max_dv(cloud: Cloud) -> None:
    arrays = _arrays(cloud, "lbfgs", 0)
    mask = np.ones(SHAPE)
    mask[:, 0] = 0
    propose_search(arrays, History(), BOUNDS, mask)
    plan = _plan(cloud, "lbfgs", 0)
    assert plan.restarted and plan.leaves == (0, 2) and plan.history.objective == (
        arrays.objective(0),)
    assert plan.steps[1] == pytest.approx(plan.steps[0] / 2)
    direction = storage.get_array(cloud.s3, cloud.bucket, RunKeys("lbfgs").iteration(0).direction)
    assert np.all(direction[:, 0] == 0)
    np.testing.assert_allclose(direction, -arrays.gradient(0) * mask, rtol=1e-6)
    vp = trial_velocity(arrays.velocity(0), direction, plan.steps[0], BOUNDS)
    # max_dv is a first-order change: 0.2 km/s of 2 km/s is 18 % more in m, 24 % in vp
    assert np.max(np.abs(vp - arrays.velocity(0))) == pytest.approx(0.2, rel=0.25)
    assert plan.slope < 0 and all(d < 0 for d in plan.decrease)
    assert not storage.exists(cloud.s3, cloud.bucket, RunKeys("lbfgs").iteration(0).lbfgs_s)


def test_lbfgs_keeps_a_pair_per_iteration_and_restarts_when_the_shots_change(
        cloud: Cloud) -> None:
    arrays = _arrays(cloud, "lbfgs", 1)
    history = History(objective=(arrays.objective(0),), accepted=(True,), step=1e-3)
    propose_search(arrays, history, BOUNDS, np.ones(SHAPE))
    keys = RunKeys("lbfgs").iteration(1)
    s = storage.get_array(cloud.s3, cloud.bucket, keys.lbfgs_s)
    np.testing.assert_allclose(s, squared_slowness(arrays.velocity(1)) -
                               squared_slowness(arrays.velocity(0)), rtol=1e-5)
    plan = _plan(cloud, "lbfgs", 1)
    assert not plan.restarted
    # one pair of an identity-Hessian quadratic: the direction is the Newton step
    direction = storage.get_array(cloud.s3, cloud.bucket, keys.direction)
    np.testing.assert_allclose(direction, -arrays.gradient(1), rtol=1e-3, atol=1e-7)
    arrays.shots[1] = frozenset({7})  # another subset of shots: gradients not comparable
    for key in (keys.lbfgs_s, keys.lbfgs_y):
        cloud.s3.delete_object(Bucket=cloud.bucket, Key=key)
    propose_search(arrays, history, BOUNDS, np.ones(SHAPE))
    assert _plan(cloud, "lbfgs", 1).restarted
    assert not storage.exists(cloud.s3, cloud.bucket, keys.lbfgs_s)


def test_cg_starts_from_the_previous_steps_slope(cloud: Cloud) -> None:
    """Nocedal & Wright (3.60): alpha0 = alpha_prev (g_prev.d_prev) / (g.d), below the
    max_dv step."""
    arrays = _arrays(cloud, "cg", 1)
    arrays.env = arrays.env.model_copy(update={"iteration": 0})
    propose_search(arrays, History(), BOUNDS, np.ones(SHAPE))
    before = _plan(cloud, "cg", 0)
    arrays.env = arrays.env.model_copy(update={"iteration": 1})
    step = before.steps[0] / 4
    arrays.gradients[1] = arrays.gradients[0] * 1.1  # beta = 0.11 > 0: no restart
    propose_search(arrays, History(objective=(arrays.objective(0),), accepted=(True,),
                                   step=step), BOUNDS, np.ones(SHAPE))
    plan = _plan(cloud, "cg", 1)
    assert not plan.restarted
    assert plan.steps[0] == pytest.approx(step * before.slope / plan.slope, rel=1e-6)
