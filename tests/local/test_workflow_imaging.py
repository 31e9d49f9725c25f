"""The imaging state machine run in the local cloud on a tiny model (61 x 41 cells,
three shots of 11 receivers, 400 ms): Init -> SelectShots -> Batch array of gradient
jobs (local processes) -> SQS -> reducer Lambda -> task token -> update job."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seisless.client.run import run_imaging
from seisless.client.scan import scan_via_workflow
from seisless.errors import ConfigError, WorkflowFailedError
from seisless.imaging import Model, Shot, forward, solver
from seisless.imaging.segy_shot import read_shot, shot_ranges
from seisless.inversion.keys import RunKeys
from seisless.storage import array_bytes
from tests.helpers.models import layered
from tests.helpers.shots import NREC, NX, NZ, shot_gather_segy

SOURCES = [100.0, 300.0, 500.0]
MODEL = {"key": "models/start.npy", "spacing": [10.0, 10.0], "nbl": 20, "space_order": 4}


@pytest.fixture(scope="module")
def survey(cloud, tmp_path_factory):
    """A three-shot line over a two-layer model, scanned by the workflow; its scan id."""
    true = Model(layered(), (10.0, 10.0), nbl=20, space_order=4)
    rec = np.stack([60.0 * np.arange(NREC), np.zeros(NREC)], axis=1)
    data = [forward(true, Shot((sx, 0.0), rec, 400.0, 4.0, 0.015)) for sx in SOURCES]
    path = tmp_path_factory.mktemp("imaging") / "line.sgy"
    path.write_bytes(shot_gather_segy(data, SOURCES))
    scan_via_workflow(path, path.parent / "scan", cloud=cloud, key="incoming/imaging-line.sgy",
                      say=lambda _: None)
    s3 = cloud.client("s3")
    start = array_bytes(np.full((NX, NZ), 1.5), "<f4")
    s3.put_object(Bucket=cloud.bucket, Key=MODEL["key"], Body=start)
    summaries = [o["Key"] for o in s3.list_objects_v2(Bucket=cloud.bucket, Prefix="scans/")
                 ["Contents"] if o["Key"].endswith("summary.json")]
    scan_id = next(k.split("/")[1] for k in summaries if k.split("/")[1].startswith(
        "imaging-line"))
    return path, scan_id


def _run(cloud, tmp_path: Path, data: dict, say=lambda _: None) -> dict:
    spec = tmp_path / "input.json"
    spec.write_text(json.dumps(data))
    return run_imaging(spec, tmp_path / "out", cloud=cloud, say=say, timeout_s=300)


def _fwi(scan_id: str, run_id: str, **extra) -> dict:
    return {"scan_id": scan_id, "objective": "fwi", "iterations": 2, "model": MODEL,
            "acquisition": {"f0": 0.015}, "fwi": {"vmin": 1.4, "vmax": 2.5, "max_dv": 0.05},
            "fan_in": 2, "run_id": run_id, **extra}


def test_fwi_two_iterations_with_a_spot_reclaim(cloud, survey, tmp_path) -> None:
    path, scan_id = survey
    cloud.batch.reclaim(1)  # shot 1's first attempt dies as a Spot reclaim would
    lines: list[str] = []
    result = _run(cloud, tmp_path, _fwi(scan_id, "fwi-test"), say=lines.append)
    objective = result["objective"]
    assert len(objective) == 2 and objective[1] < objective[0]
    assert result["tombstones"] == {}
    for k in (0, 1):  # what `seisless run` prints while it follows the run
        assert f"iteration {k}: 3 shots" in lines and "  shots done 3/3 [###]" in lines
        assert f"iteration {k} done: objective {objective[k]:.6g}" in lines
    assert lines[-1] == f"done: objective {[round(v, 6) for v in objective]}; result " \
        f"{tmp_path / 'out' / 'iter-2' / 'model.npy'}; results in {tmp_path / 'out'}"
    assert result["result"] == "iter-2/model.npy" and result["picture"] == "iter-2/model.png"
    assert (tmp_path / "out" / "iter-2" / "model.npy").exists()
    assert (tmp_path / "out" / "objective.png").exists()
    cost = json.loads((tmp_path / "out" / "cost.json").read_text())
    assert result["cost"] == cost and cost["spot_usd"] > 0
    items = {item["name"]: item["quantity"] for item in cost["items"]}
    assert items["Batch job seconds (Spot)"] > 0 and items["Step Functions transitions"] > 10
    assert items["Lambda requests"] > 0 and items["S3 storage for a month"] > 0
    assert any("total, Batch on Spot" in line for line in lines)
    keys = RunKeys("fwi-test").iteration(0)
    s3, batch = cloud.client("s3"), cloud.client("batch")
    # The reclaimed child was retried by the job definition's strategy (Host EC2*).
    queue = batch.describe_job_queues()["jobQueues"][0]["jobQueueArn"]
    parents = batch.list_jobs(jobQueue=queue, jobStatus="SUCCEEDED")["jobSummaryList"]
    parent = next(j for j in parents if j["jobName"] == "fwi-test-gradient-0")
    child = batch.describe_jobs(jobs=[f"{parent['jobId']}:1"])["jobs"][0]
    reasons = [a.get("statusReason", "") for a in child["attempts"]]
    assert len(reasons) == 2 and reasons[0].startswith("Host EC2")
    # The reduced gradient of iteration 0 is the in-process one of the same shots.
    gathers = pq.read_table(path.parent / "scan" / "gathers.parquet")
    model = Model(np.full((NX, NZ), 1.5, np.float32), (10.0, 10.0), nbl=20, space_order=4)
    shots = json.loads(s3.get_object(Bucket=cloud.bucket,
                                     Key=keys.shots)["Body"].read())
    grads = []
    for record in shots["shots"]:
        shot = read_shot(str(path), shot_ranges(gathers, record), f0=0.015, field_record=record)
        grads.append(solver.gradient(model, shot, "fwi")[1].astype(np.float32))
    expected = (grads[0] + grads[1]) + grads[2]  # the fan-in-2 tree's order
    root = np.load(io.BytesIO(s3.get_object(Bucket=cloud.bucket,
                                            Key=keys.node_stem(2, 0) + ".npy")["Body"].read()))
    # float32 solves in another process (thread count, compiler flags): equal to 0.2 %
    np.testing.assert_allclose(root, expected, rtol=0, atol=2e-3 * np.abs(expected).max())


def test_fwi_lbfgs_runs_its_line_search_as_forward_only_batch_jobs(cloud, survey,
                                                                   tmp_path) -> None:
    """L-BFGS through the real state machine: per iteration a gradient array, the update
    job's proposal, then trial arrays of forward-only jobs and the JudgeTrial Lambda."""
    _, scan_id = survey
    lines: list[str] = []
    fwi = {"vmin": 1.4, "vmax": 2.5, "max_dv": 0.05, "optimizer": "lbfgs",
           "line_search": {"max_trials": 3}}
    result = _run(cloud, tmp_path, _fwi(scan_id, "fwi-lbfgs", fwi=fwi), say=lines.append)
    objective = result["objective"]
    assert len(objective) == 2 and objective[1] < objective[0]
    assert result["result"] == "iter-2/model.npy"
    s3, batch = cloud.client("s3"), cloud.client("batch")
    queue = batch.describe_job_queues()["jobQueues"][0]["jobQueueArn"]
    arrays = [j["jobName"] for j in batch.list_jobs(jobQueue=queue, jobStatus="SUCCEEDED")
              ["jobSummaryList"] if ":" not in j["jobId"]]  # children are <parent>:<index>
    run = RunKeys("fwi-lbfgs")
    for k in (0, 1):
        listed = {o["Key"] for o in s3.list_objects_v2(
            Bucket=cloud.bucket, Prefix=run.iteration(k).prefix)["Contents"]}
        trials = sorted(key for key in listed if key.endswith("verdict.json"))
        verdicts = [json.loads(s3.get_object(Bucket=cloud.bucket, Key=key)["Body"].read())
                    for key in trials]
        assert verdicts and verdicts[-1]["accepted"] and verdicts[-1]["objective"] < objective[k]
        assert arrays.count(f"fwi-lbfgs-trial-{k}") == len(verdicts)  # an array per trial
        assert {run.iteration(k).trial(0).objective(i) for i in range(3)} <= listed
        assert not any("/trial-" in key and "leaf-" in key for key in listed)  # no gradients
        assert f"  line search trial {len(verdicts) - 1}: objective " \
            f"{verdicts[-1]['objective']:.6g} at step {verdicts[-1]['step']:.3g}, accepted" \
            in lines
        assert f"iteration {k} done: objective {objective[k]:.6g}" in lines
    assert s3.head_object(Bucket=cloud.bucket, Key=run.iteration(1).lbfgs_s)  # the memory


def test_a_line_search_without_an_acceptable_step_fails_naming_the_fix(cloud, survey,
                                                                      tmp_path) -> None:
    """One trial allowed, and a first step of 1 km/s (from 1.5 km/s, towards either
    bound) that raises the objective: the line search's own limit ends the run."""
    _, scan_id = survey
    fwi = {"vmin": 0.5, "vmax": 2.5, "max_dv": 1.0, "optimizer": "cg",
           "line_search": {"max_trials": 1}}
    with pytest.raises(WorkflowFailedError) as failed:
        _run(cloud, tmp_path, _fwi(scan_id, "fwi-exhausted", iterations=1, fwi=fwi))
    assert failed.value.error == "ImagingError"
    assert "The line search of iteration 0 found no step that lowers the objective " \
        "enough in 1 trials" in failed.value.cause
    assert "Raise fwi.line_search.max_trials" in failed.value.cause


def test_a_shot_failing_for_good_is_tombstoned_and_reported(cloud, survey, tmp_path) -> None:
    _, scan_id = survey
    s3 = cloud.client("s3")
    broken = f"{scan_id}-broken"
    for name in ("summary.json",):
        s3.copy_object(Bucket=cloud.bucket, Key=f"scans/{broken}/{name}",
                       CopySource={"Bucket": cloud.bucket, "Key": f"scans/{scan_id}/{name}"})
    gathers = pq.read_table(io.BytesIO(s3.get_object(
        Bucket=cloud.bucket, Key=f"scans/{scan_id}/gathers.parquet")["Body"].read())).to_pylist()
    first = next(g for g in gathers if g["kind"] == "shot" and g["key"] == 100)
    first["byte_ranges"] = [{"start": r["start"] + 4, "stop": r["stop"] + 4}
                            for r in first["byte_ranges"]]  # not on a trace boundary
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(gathers), buf)
    s3.put_object(Bucket=cloud.bucket, Key=f"scans/{broken}/gathers.parquet",
                  Body=buf.getvalue())
    base = {"scan_id": broken, "objective": "rtm", "iterations": 1, "model": MODEL,
            "acquisition": {"f0": 0.015}, "fan_in": 2}
    result = _run(cloud, tmp_path, {**base, "run_id": "rtm-tolerant",
                                    "shots": {"missing_tolerance": 0.4}})
    [(key, reason)] = result["tombstones"].items()
    # the job's own typed error, not "the job failed": the shot says why it is missing
    assert key.endswith("iter-0/leaf-0.json") and reason.startswith(
        "shot 100: ImagingError: byte range")
    # RTM delivers its image: downloaded, pictured and named in result.json
    out = tmp_path / "out"
    assert (result["result"], result["picture"]) == ("image.npy", "image.png")
    assert np.load(out / "image.npy").shape == (NX, NZ) and (out / "image.png").stat().st_size
    assert json.loads((out / "result.json").read_text())["result"] == "image.npy"
    with pytest.raises(WorkflowFailedError) as failed:
        _run(cloud, tmp_path, {**base, "run_id": "rtm-strict"})
    assert failed.value.error == "TooManyMissingShots"
    assert "1 shots of iteration 0 failed for good" in failed.value.cause


def test_a_run_id_in_use_is_one_readable_error(cloud, survey, tmp_path) -> None:
    _, scan_id = survey
    data = {"scan_id": scan_id, "objective": "rtm", "iterations": 1, "model": MODEL,
            "acquisition": {"f0": 0.015}, "run_id": "rtm-twice"}
    _run(cloud, tmp_path, data)
    with pytest.raises(ConfigError, match=r"already in use.*--resume rtm-twice"):
        _run(cloud, tmp_path, data)


def test_post_stack_data_fails_at_init_with_its_cause(cloud, segy_dir, tmp_path) -> None:
    """f3.sgy is post-stack: Init refuses it before any job, and the cause names why."""
    from seisless.scan.documents import scan_id_for

    scan_via_workflow(segy_dir / "f3.sgy", tmp_path / "scan", cloud=cloud,
                      key="incoming/f3.sgy", say=lambda _: None)
    head = cloud.client("s3").head_object(Bucket=cloud.bucket, Key="incoming/f3.sgy")
    data = {"scan_id": scan_id_for("incoming/f3.sgy", head.get("VersionId"), head["ETag"]),
            "objective": "rtm", "iterations": 1,
            "model": MODEL, "acquisition": {"f0": 0.015}, "run_id": "f3-rtm"}
    with pytest.raises(WorkflowFailedError) as failed:
        _run(cloud, tmp_path, data)
    assert failed.value.error == "ConfigError"
    assert "does not hold shot gathers: field record 111" in failed.value.cause
    assert "does not hold shot gathers" in str(failed.value)


@pytest.mark.parametrize(("change", "error", "says"), [
    ({"scan_id": "no-such-scan"}, "SourceError", "check scan_id"),
    ({"model": {**MODEL, "key": "models/missing.npy"}}, "SourceError", "fix model.key"),
    ({"fwi": None}, "ConfigError", "needs an 'fwi' section"),
    ({"shots": {"per_iteration": 99}}, "ConfigError", "use at most 3"),
])
def test_invalid_inputs_fail_with_a_readable_cause(cloud, survey, tmp_path, change, error,
                                                   says) -> None:
    _, scan_id = survey
    data = {k: v for k, v in {**_fwi(scan_id, f"bad-{says.split()[0]}"), **change}.items()
            if v is not None}
    with pytest.raises(WorkflowFailedError) as failed:
        _run(cloud, tmp_path, data)
    assert failed.value.error == error and says in failed.value.cause


def test_resume_continues_from_the_last_completed_iteration(cloud, survey, tmp_path) -> None:
    _, scan_id = survey
    s3 = cloud.client("s3")
    run = RunKeys("fwi-resume")
    first = _run(cloud, tmp_path, _fwi(scan_id, "fwi-resume", iterations=1))
    assert len(first["objective"]) == 1
    done = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(
        Bucket=cloud.bucket, Prefix=run.iteration(0).prefix)["Contents"]}
    resumed = _run(cloud, tmp_path, {**_fwi(scan_id, "fwi-resume", iterations=2),
                                     "resume": True})
    assert resumed["objective"][0] == first["objective"][0]
    assert len(resumed["objective"]) == 2
    again = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(
        Bucket=cloud.bucket, Prefix=run.iteration(0).prefix)["Contents"]}
    assert {k: again[k] for k in done} == done  # iteration 0 was not recomputed
    assert any(k.startswith(run.iteration(1).node_stem(0, 0)) for k in [
        o["Key"] for o in s3.list_objects_v2(Bucket=cloud.bucket,
                                             Prefix=run.iteration(1).prefix)["Contents"]])


def test_rtm_with_two_nodes_per_shot_runs_multi_node_jobs(cloud, survey, tmp_path) -> None:
    """nodes_per_shot 2: each shot is a Batch multi-node job of the multi-node queue, run
    as two node processes; the main node gathers the other, writes the host file and runs
    the gradient entrypoint under mpirun (2 ranks, the job's variables forwarded); the
    job ends as the main node does, and the reduction and the image are as ever: equal,
    within float32 rounding of the decomposed solve, to the image of one node per shot."""
    _, scan_id = survey
    data = {"scan_id": scan_id, "objective": "rtm", "iterations": 1, "model": MODEL,
            "acquisition": {"f0": 0.015}, "fan_in": 2, "run_id": "rtm-nodes",
            "shots": {"per_iteration": 2}, "nodes_per_shot": 2}
    result = _run(cloud, tmp_path, data)
    batch = cloud.client("batch")
    queues = {q["jobQueueName"]: q["jobQueueArn"] for q in batch.describe_job_queues()[
        "jobQueues"]}
    (node_queue,) = [arn for name, arn in queues.items() if "MultiNode" in name]
    jobs = batch.list_jobs(jobQueue=node_queue, jobStatus="SUCCEEDED")["jobSummaryList"]
    ours = [j for j in jobs if j["jobName"] == "rtm-nodes-gradient-0"]
    assert len(ours) == 2  # one multi-node job per shot
    main_logs = []
    for job in ours:
        logs = {i: (cloud.log_dir / "batch" / f"{job['jobId']}-1-node{i}.log").read_text()
                for i in (0, 1)}
        assert "node 0: 2 nodes reported; host file: 127.0.0.1 slots=2" in logs[0]
        assert "mpirun -np 2 --hostfile" in logs[0]
        for name in ("SEISLESS_RUN_ID", "SEISLESS_ITERATION", "SEISLESS_JOB_INDEX"):
            assert f"-x {name}" in logs[0]  # the state machine's node overrides arrived
        assert "node 1: main node done" in logs[1]
        main_logs.append(logs[0])
    assert result["tombstones"] == {} and all("mpi4py" not in log for log in main_logs)
    image = np.load(tmp_path / "out" / "image.npy")
    (tmp_path / "one").mkdir()
    one_node = _run(cloud, tmp_path / "one", {**data, "run_id": "rtm-one-node",
                                               "nodes_per_shot": 1})
    assert one_node["tombstones"] == {}
    reference = np.load(tmp_path / "one" / "out" / "image.npy")
    assert image.shape == (NX, NZ)
    np.testing.assert_allclose(image, reference, atol=5e-3 * np.abs(reference).max())
