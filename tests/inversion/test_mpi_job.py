"""The gradient job on 2 MPI ranks through its entrypoint (`mpirun -np 2 python -m
containers.gradient.entrypoint`, as a multi-node job's main node starts it) against a
moto server: the leaf and objective equal the one-process job's for a 2-D line (acoustic
and TTI) and a 3-D cube, rank 0 alone writes and announces, and an error every rank
meets is one tombstone and one exit code.

Tolerance: with snapshots the decomposed solve does the same float32 arithmetic per cell
as one process but in loops of other bounds (vectorised, -ffast-math), so the leaves
agree to 1e-4 of the largest value (measured 7e-6). A 'full' run under MPI
runs as snapshots of every step (see `seisless.imaging.solver._mpi_plan`): the operators
differ in float32 rounding only, so its leaf agrees to 5e-3 of the largest value (measured
1.5e-4 in 2-D, 1.3e-3 in 3-D). Objectives agree to 1e-5 relative (measured 2e-6).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from seisless.errors import ConfigError, ImagingError
from seisless.imaging import survey
from seisless.inversion.keys import RunKeys
from seisless.reduce import Node, layout_for
from seisless.scan import run_direct
from seisless.segy.write import SegyWriter
from seisless.storage import array_bytes
from tests.helpers.mpirun import needs_mpirun, run_ranks
from tests.inversion.loop import CREDENTIALS, Cloud, moto_server, run_config, upload_line

pytestmark = needs_mpirun

#: The TTI run's small line: each solve takes about a second per rank.
SPEC = survey.LineSpec(nx=41, nz=31, water_cells=4, n_shots=2, t1=500.0, nbl=10,
                       space_order=4)
BUCKET = "mpi-job"
ANISOTROPY = {"epsilon_key": "models/epsilon.npy", "delta_key": "models/delta.npy",
              "theta_key": "models/theta.npy"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cloud, dict[str, str]]]:
    """A moto server the ranks reach over HTTP, the line uploaded, and the environment
    every job shares."""
    with moto_server(BUCKET) as (cloud, endpoint):
        upload_line(cloud, SPEC, survey.starting_velocity(SPEC, survey.true_velocity(SPEC)),
                    Path(tmp_path_factory.mktemp("line")))
        below = survey.water_mask(SPEC)
        for key, value in zip(ANISOTROPY.values(), (0.2, 0.1, 0.3), strict=True):
            cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=array_bytes(value * below, "<f4"))
        yield cloud, {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint,
                      "SEISLESS_BUCKET": BUCKET, "SEISLESS_ITERATION": "0",
                      "AWS_BATCH_JOB_ARRAY_INDEX": "0", "REDUCE_QUEUE_URL": cloud.queue_url}


def _job(cloud: tuple[Cloud, dict[str, str]], run_id: str, ranks: int, objective: str,
         shots: list[int] | None = None, **sections: dict) -> tuple[int, str]:
    """Write the run's config and shot list (default: the line's first shot), run the
    gradient job of its first shot on `ranks` ranks; (exit code, stderr)."""
    c, env = cloud
    run = RunKeys(run_id)
    config = run_config(SPEC, run_id, objective, **sections)
    c.s3.put_object(Bucket=BUCKET, Key=run.config, Body=json.dumps(config))
    c.s3.put_object(Bucket=BUCKET, Key=run.iteration(0).shots,
                    Body=json.dumps({"shots": shots or SPEC.field_records()[:1]}))
    done = run_ranks(ranks, ["-m", "containers.gradient.entrypoint"],
                     {**env, "SEISLESS_RUN_ID": run_id})
    return done.returncode, done.stderr


def _leaf(c: Cloud, run_id: str) -> tuple[np.ndarray, dict]:
    layout = layout_for(run_id, 0, 1, 4)
    body = c.s3.get_object(Bucket=BUCKET, Key=layout.array_key(Node(0, 0)))["Body"].read()
    sidecar = c.s3.get_object(Bucket=BUCKET, Key=layout.sidecar_key(Node(0, 0)))["Body"]
    return np.load(io.BytesIO(body)), json.loads(sidecar.read())


def _announcements(c: Cloud) -> list[dict]:
    """Drain the reduce queue: the messages the jobs sent."""
    out = []
    while messages := c.sqs.receive_message(QueueUrl=c.queue_url,
                                            MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            out.append(json.loads(message["Body"]))
            c.sqs.delete_message(QueueUrl=c.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return out


@pytest.mark.parametrize(("strategy", "tolerance"), [("snapshots", 1e-4), ("full", 5e-3)])
def test_two_ranks_write_the_one_process_leaf(cloud: tuple[Cloud, dict[str, str]],
                                               strategy: str, tolerance: float) -> None:
    c, _ = cloud
    _announcements(c)
    memory = {"strategy": strategy, **({"factor": 2} if strategy == "snapshots" else {})}
    fwi = {"vmin": 1.4, "vmax": 2.5, "max_dv": 0.05}
    for run_id, ranks in ((f"one-{strategy}", 1), (f"two-{strategy}", 2)):
        code, err = _job(cloud, run_id, ranks, "fwi", memory=memory, fwi=fwi)
        assert code == 0, err
    one, one_sidecar = _leaf(c, f"one-{strategy}")
    two, two_sidecar = _leaf(c, f"two-{strategy}")
    assert two.shape == one.shape == (SPEC.nx, SPEC.nz)
    assert np.abs(two - one).max() <= tolerance * np.abs(one).max()
    assert two_sidecar["objective"] == pytest.approx(one_sidecar["objective"], rel=1e-5)
    assert len(_announcements(c)) == 2  # one per job: rank 0 alone announces


def test_tti_on_two_ranks(cloud: tuple[Cloud, dict[str, str]]) -> None:
    c, _ = cloud
    model = {**run_config(SPEC, "tti", "rtm")["model"], **ANISOTROPY}
    for run_id, ranks in (("tti-one", 1), ("tti-two", 2)):
        code, err = _job(cloud, run_id, ranks, "rtm", model=model,
                         memory={"strategy": "snapshots", "factor": 2})
        assert code == 0, err
    one, _ = _leaf(c, "tti-one")
    two, _ = _leaf(c, "tti-two")
    assert np.abs(two - one).max() <= 1e-4 * np.abs(one).max()


def test_an_error_every_rank_meets_is_one_tombstone(cloud: tuple[Cloud, dict[str, str]]
                                                    ) -> None:
    """Checkpointing is refused under MPI on every rank: rank 0 tombstones the shot, the
    job exits with the ImagingError's code, and nothing hangs."""
    c, _ = cloud
    _announcements(c)
    code, err = _job(cloud, "refused", 2, "rtm", memory={"strategy": "checkpointing"})
    assert code == ImagingError.exit_code
    assert "does not run under MPI" in err
    layout = layout_for("refused", 0, 1, 4)
    sidecar = json.loads(c.s3.get_object(
        Bucket=BUCKET, Key=layout.sidecar_key(Node(0, 0)))["Body"].read())
    assert sidecar["tombstones"] == [0]
    assert len(_announcements(c)) == 1


def test_trial_jobs_refuse_mpi(cloud: tuple[Cloud, dict[str, str]]) -> None:
    _, env = cloud
    done = run_ranks(2, ["-m", "containers.gradient.entrypoint"],
                     {**env, "SEISLESS_RUN_ID": "trial", "SEISLESS_TRIAL": "0"})
    assert done.returncode == ConfigError.exit_code
    assert "trial jobs run in one process" in done.stderr


def _cube_survey(c: Cloud, folder: Path) -> dict:
    """A 21 x 17 x 19 cube (10 m) and one shot over it with a 5 x 4 receiver patch in a
    SEG-Y (x and y in the headers, random traces: the comparison needs no physics),
    scanned and uploaded; the run's model, data and acquisition sections."""
    vp = np.full((21, 17, 19), 1.5)
    vp[:, :, 10:] = 2.0
    gx, gy = (a.ravel() for a in np.meshgrid(np.linspace(0, 200, 5), np.linspace(0, 160, 4),
                                              indexing="ij"))
    n, nt = len(gx), 63
    path = folder / "cube.sgy"
    with SegyWriter(path, n_samples=nt, interval_us=4000, sample_format=5,
                    text=["seisless test: one 3-D shot"]) as writer:
        writer.write(np.random.default_rng(1).standard_normal((n, nt)).astype(np.float32), {
            "FieldRecord": np.full(n, 7), "TraceNumber": np.arange(1, n + 1),
            "SourceGroupScalar": np.full(n, 1), "CoordinateUnits": np.ones(n, np.int64),
            "SourceX": np.full(n, 100), "SourceY": np.full(n, 80),
            "GroupX": gx.astype(np.int64), "GroupY": gy.astype(np.int64)})
    buf = io.BytesIO()
    pq.write_table(run_direct(str(path), workers=1).gathers, buf)
    for key, body in {"models/cube.npy": array_bytes(vp, "<f4"), "cube/line.sgy": path.read_bytes(),
                      "cube/gathers.parquet": buf.getvalue()}.items():
        c.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return {"model": {"key": "models/cube.npy", "spacing": [10.0] * 3, "nbl": 6,
                      "space_order": 4},
            "data": {"segy_key": "cube/line.sgy", "gathers_key": "cube/gathers.parquet"},
            "acquisition": {"f0": 0.015, "source_depth": 20.0, "receiver_depth": 20.0}}


def test_3d_on_two_ranks(cloud: tuple[Cloud, dict[str, str]],
                         tmp_path: Path) -> None:
    c, _ = cloud
    sections = _cube_survey(c, tmp_path)
    memory = {"strategy": "snapshots", "factor": 2}
    for run_id, ranks in (("cube-one", 1), ("cube-two", 2)):
        code, err = _job(cloud, run_id, ranks, "fwi", memory=memory, shots=[7],
                         fwi={"vmin": 1.4, "vmax": 2.5, "max_dv": 0.05}, **sections)
        assert code == 0, err
    one, one_sidecar = _leaf(c, "cube-one")
    two, two_sidecar = _leaf(c, "cube-two")
    assert two.shape == one.shape == (21, 17, 19)
    assert np.abs(two - one).max() <= 1e-4 * np.abs(one).max()
    assert two_sidecar["objective"] == pytest.approx(one_sidecar["objective"], rel=1e-5)
