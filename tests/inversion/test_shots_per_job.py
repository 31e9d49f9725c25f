"""Several shots per gradient job: each shot is still its own leaf, so the reduced
gradient (an exact, ordered sum) is bitwise the one of one shot per job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seisless import storage
from seisless.errors import ImagingError
from seisless.imaging import survey
from seisless.inversion.documents import JobEnv, RunConfig, ShotList
from seisless.inversion.jobs import run_gradient_job, tree_of
from seisless.inversion.keys import RunKeys
from seisless.models import starting_model
from seisless.reduce import Node, read_sidecar
from tests.inversion.loop import Cloud, moto_cloud, run_config, run_loop, upload_line

SPEC = survey.LineSpec()


def _root(cloud: Cloud, run_id: str) -> tuple[np.ndarray, float, list[int]]:
    """The reduced gradient of iteration 0, its objective and its members."""
    keys = RunKeys(run_id)
    config = storage.get_document(cloud.s3, cloud.bucket, keys.config, RunConfig, "config")
    shots = storage.get_document(cloud.s3, cloud.bucket, keys.iteration(0).shots, ShotList,
                                 "shots")
    layout = tree_of(config, run_id, 0, shots)
    sidecar = read_sidecar(cloud.s3, cloud.bucket, layout.sidecar_key(layout.root))
    assert sidecar is not None
    grad = storage.get_array(cloud.s3, cloud.bucket, layout.array_key(layout.root))
    return grad, sidecar.objective, list(sidecar.members)


def test_three_shots_per_job_reduce_to_the_same_gradient_bitwise(tmp_path: Path) -> None:
    with moto_cloud("shots-per-job") as cloud:
        start = starting_model(survey.true_velocity(SPEC), 150.0, SPEC.spacing)
        upload_line(cloud, SPEC, start, tmp_path)
        bounds = {"vmin": 1.4, "vmax": 4.5}
        one = run_config(SPEC, "one-per-job", "fwi", fwi=bounds)
        three = {**run_config(SPEC, "three-per-job", "fwi", fwi=bounds), "shots_per_job": 3}
        for config in (one, three):
            run_loop(cloud, config, SPEC.field_records(), 1)
        (g1, phi1, m1), (g3, phi3, m3) = _root(cloud, "one-per-job"), _root(cloud,
                                                                            "three-per-job")
    assert m1 == m3 == list(range(SPEC.n_shots))
    assert phi1 == phi3 and g1.tobytes() == g3.tobytes() and np.abs(g1).max() > 0


def test_a_failing_shot_costs_only_its_own_leaf(tmp_path: Path) -> None:
    """The middle shot of a three-shot job is not in the data: it is tombstoned, the
    job fails with its error, and the shots before and after it are committed."""
    with moto_cloud("shots-per-job-fail") as cloud:
        upload_line(cloud, SPEC, survey.starting_velocity(SPEC, survey.true_velocity(SPEC)),
                    tmp_path)
        config = {**run_config(SPEC, "one-bad", "rtm"), "shots_per_job": 3}
        first, *_ = SPEC.field_records()
        keys = RunKeys("one-bad")
        cloud.s3.put_object(Bucket=cloud.bucket, Key=keys.config, Body=json.dumps(config))
        cloud.s3.put_object(Bucket=cloud.bucket, Key=keys.iteration(0).shots,
                            Body=json.dumps({"shots": [first, 99_999, first + 1]}))
        with pytest.raises(ImagingError, match="99999 is not in the gathers index"):
            run_gradient_job(cloud.s3, cloud.sqs, JobEnv(
                bucket=cloud.bucket, run_id="one-bad", iteration=0, index=0,
                queue_url=cloud.queue_url))
        layout = tree_of(RunConfig.model_validate(config), "one-bad", 0,
                         ShotList(shots=(first, 99_999, first + 1)))
        sidecars = [read_sidecar(cloud.s3, cloud.bucket, layout.sidecar_key(Node(0, i)))
                    for i in range(3)]
    assert [s.tombstones for s in sidecars] == [(), (1,), ()]
