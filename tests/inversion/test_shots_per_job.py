"""Several shots per gradient job: each shot is still its own leaf, so the reduced
gradient (an exact, ordered sum) is bitwise the one of one shot per job."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seisless import storage
from seisless.imaging import survey
from seisless.inversion.documents import RunConfig, ShotList
from seisless.inversion.jobs import tree_of
from seisless.inversion.keys import RunKeys
from seisless.models import starting_model
from seisless.reduce import read_sidecar
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
