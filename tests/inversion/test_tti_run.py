"""A TTI run from its input to its gradients: the anisotropy keys parse, Init checks the
arrays they name (refusing a wrong shape with nothing written), and the real gradient
job solves the pseudo-acoustic TTI equation for RTM and FWI (one process, over moto)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from seisless.errors import ConfigError, ImagingError
from seisless.imaging import survey
from seisless.inversion.documents import JobEnv, parse_imaging_input
from seisless.inversion.jobs import run_gradient_job
from seisless.inversion.keys import RunKeys
from seisless.inversion.steps import init_step
from seisless.reduce import Node, layout_for
from seisless.scan.documents import ScanKeys
from seisless.storage import array_bytes
from tests.inversion.loop import (
    SEGY_KEY,
    START_KEY,
    Cloud,
    moto_cloud,
    run_config,
    run_loop,
    upload_line,
)

#: A small line (the demo's geometry, shrunk) so each TTI solve takes about a second.
SPEC = survey.LineSpec(nx=41, nz=31, water_cells=4, n_shots=2, t1=500.0, nbl=10,
                       space_order=4)
SHAPE = (SPEC.nx, SPEC.nz)
BUCKET, SCAN = "tti-run", "line"
ANISOTROPY = {"epsilon_key": "models/epsilon.npy", "delta_key": "models/delta.npy",
              "theta_key": "models/theta.npy"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """The line uploaded and scanned, its smooth start, and epsilon = 0.2, delta = 0.1
    and a 0.3 rad tilt below the water (isotropic water)."""
    with moto_cloud(BUCKET) as cloud:
        s3 = cloud.s3
        upload_line(cloud, SPEC, survey.starting_velocity(SPEC, survey.true_velocity(SPEC)),
                    Path(tmp_path_factory.mktemp("line")))
        s3.put_object(Bucket=BUCKET, Key=ScanKeys(SCAN).summary,
                      Body=json.dumps({"source": f"s3://{BUCKET}/{SEGY_KEY}"}))
        below = survey.water_mask(SPEC)
        for key, value in zip(ANISOTROPY.values(), (0.2, 0.1, 0.3), strict=True):
            s3.put_object(Bucket=BUCKET, Key=key, Body=array_bytes(value * below, "<f4"))
        yield cloud


def _input(**model: str) -> dict:
    return {"scan_id": SCAN, "objective": "rtm",
            "model": {"key": START_KEY, "spacing": [SPEC.spacing] * 2, **model},
            "acquisition": {"f0": SPEC.f0}}


def test_anisotropy_keys_parse_and_are_checked() -> None:
    spec = parse_imaging_input(_input(**ANISOTROPY)).model
    assert spec.anisotropy_keys == {"epsilon": "models/epsilon.npy",
                                    "delta": "models/delta.npy", "theta": "models/theta.npy"}
    assert parse_imaging_input(_input()).model.anisotropy_keys == {}
    with pytest.raises(ConfigError, match=r"phi_key .* needs a 3-D model"):
        parse_imaging_input(_input(phi_key="models/phi.npy"))
    with pytest.raises(ConfigError, match="epsilon_key"):
        parse_imaging_input(_input(epsilon_key="elsewhere/epsilon.npy"))


def test_init_refuses_a_wrong_shaped_epsilon_with_nothing_written(cloud: Cloud) -> None:
    s3 = cloud.s3
    state = init_step(s3, BUCKET, _input(**ANISOTROPY), "tti-init")
    config = json.loads(s3.get_object(Bucket=BUCKET, Key=RunKeys(state.run_id).config)
                        ["Body"].read())
    assert config["model"]["theta_key"] == "models/theta.npy"
    s3.put_object(Bucket=BUCKET, Key="models/epsilon-cut.npy",
                  Body=array_bytes(np.zeros((SPEC.nx, 5)), "<f4"))
    with pytest.raises(ImagingError) as err:
        init_step(s3, BUCKET, _input(**{**ANISOTROPY, "epsilon_key": "models/epsilon-cut.npy"}),
                  "tti-bad")
    assert str(err.value).startswith(f"epsilon has shape (41, 5) but vp has {SHAPE}")
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix=RunKeys("tti-bad").prefix).get(
        "Contents")


def _rtm_leaf(cloud: Cloud, run_id: str, **model: str) -> np.ndarray:
    config = run_config(SPEC, run_id, "rtm")
    config["model"].update(model)
    run = RunKeys(run_id)
    cloud.s3.put_object(Bucket=BUCKET, Key=run.config, Body=json.dumps(config))
    cloud.s3.put_object(Bucket=BUCKET, Key=run.iteration(0).shots,
                        Body=json.dumps({"shots": SPEC.field_records()[:1]}))
    run_gradient_job(cloud.s3, cloud.sqs, JobEnv(bucket=BUCKET, run_id=run_id, iteration=0,
                                                 index=0, queue_url=cloud.queue_url))
    key = layout_for(run_id, 0, 1, config["fan_in"]).array_key(Node(0, 0))
    return np.load(io.BytesIO(cloud.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))


def test_gradient_job_solves_tti_for_rtm_and_fwi(cloud: Cloud) -> None:
    tti = _rtm_leaf(cloud, "rtm-tti", **ANISOTROPY)
    acoustic = _rtm_leaf(cloud, "rtm-acoustic")
    assert tti.shape == SHAPE and np.all(np.isfinite(tti)) and np.abs(tti).max() > 0
    assert np.linalg.norm(tti - acoustic) > 0.05 * np.linalg.norm(acoustic)
    config = run_config(SPEC, "fwi-tti", "fwi", fwi={"vmin": 1.4, "vmax": 4.5})
    config["model"].update(ANISOTROPY)
    history = run_loop(cloud, config, SPEC.field_records(), 1)
    assert np.isfinite(history.objective[0]) and history.objective[0] > 0
