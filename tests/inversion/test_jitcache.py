"""The run's compiled operators shared through the bucket.

Measured, not mocked: two gradient jobs of one run, each its own process
(`python -m containers.gradient.entrypoint`) with its own empty Devito folder (TMPDIR),
against a moto server. Devito's own log (DEVITO_LOGGING=PERF) says which operators each
compiled and which it loaded: the first compiles, the second compiles none.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from seisless.imaging import survey
from seisless.inversion import jitcache
from seisless.inversion.keys import RunKeys
from tests.inversion.loop import CREDENTIALS, Cloud, moto_server, run_config, upload_line

ROOT = Path(__file__).resolve().parents[2]
#: A line small enough that a solve is a fraction of a second; the build is the cost.
SPEC = survey.LineSpec(nx=41, nz=31, water_cells=4, n_shots=2, t1=500.0, nbl=10,
                       space_order=4)
BUCKET, RUN = "jit-cache", "shared-ops"
SO = "0123456789abcdef0123456789abcdef01234567.so"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Cloud, dict[str, str]]]:
    """A moto server the job processes reach over HTTP, the line and the run uploaded."""
    with moto_server(BUCKET) as (cloud, endpoint):
        upload_line(cloud, SPEC, survey.starting_velocity(SPEC, survey.true_velocity(SPEC)),
                    tmp_path)
        run = RunKeys(RUN)
        cloud.s3.put_object(Bucket=BUCKET, Key=run.config, Body=json.dumps(
            run_config(SPEC, RUN, "fwi", fwi={"vmin": 1.4, "vmax": 4.5})))
        cloud.s3.put_object(Bucket=BUCKET, Key=run.iteration(0).shots,
                            Body=json.dumps({"shots": SPEC.field_records()}))
        yield cloud, {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint,
                      "SEISLESS_BUCKET": BUCKET, "SEISLESS_RUN_ID": RUN,
                      "SEISLESS_ITERATION": "0", "REDUCE_QUEUE_URL": cloud.queue_url}


def _job(env: dict[str, str], index: int, tmpdir: Path) -> tuple[float, str]:
    """Gradient job `index` in a fresh process and Devito folder: (seconds, its log)."""
    tmpdir.mkdir()
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "containers.gradient.entrypoint"], cwd=ROOT, text=True,
        capture_output=True, timeout=300, check=False,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmpdir),
             "DEVITO_LOGGING": "PERF", "OMP_NUM_THREADS": "1",
             "AWS_BATCH_JOB_ARRAY_INDEX": str(index)})
    seconds = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr[-2000:]
    return seconds, done.stdout + done.stderr


def _build_seconds(log: str, how: str) -> list[float]:
    """Devito's seconds per operator that was `how` ('jit-compiled' or 'fetched')."""
    return [float(s) for s in re.findall(rf"{how} `[^`]*` in ([0-9.]+) s", log)]


def test_the_second_job_of_a_run_loads_the_first_ones_operators(served, tmp_path) -> None:
    cloud, env = served
    first_s, first = _job(env, 0, tmp_path / "first")
    listed = cloud.s3.list_objects_v2(Bucket=BUCKET, Prefix=RunKeys(RUN).jit_cache)
    shared = [o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", [])]
    second_s, second = _job(env, 1, tmp_path / "second")
    compiled, loaded = _build_seconds(first, "jit-compiled"), _build_seconds(second, "fetched")
    print(f"first job {first_s:.2f} s, {len(compiled)} operators compiled in "
          f"{sum(compiled):.2f} s; second job {second_s:.2f} s, {len(loaded)} loaded in "
          f"{sum(loaded):.3f} s")
    assert compiled and len(shared) == len(compiled)
    assert all(jitcache.SONAME.match(name) for name in shared)
    assert _build_seconds(second, "jit-compiled") == [] and len(loaded) == len(compiled)
    assert sorted(p.name for p in (tmp_path / "second").rglob("*.so")) == sorted(shared)


@pytest.fixture
def bucket(aws_credentials: None) -> Iterator[object]:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def test_only_devito_names_of_bounded_size_land_in_the_folder(bucket, tmp_path, monkeypatch
                                                              ) -> None:
    prefix = RunKeys(RUN).jit_cache
    monkeypatch.setattr(jitcache, "MAX_BYTES", 16)
    for name, body in {SO: b"ok", "../../evil.so": b"x", "sub/" + SO: b"x",
                       "a" * 40 + ".py": b"x", "b" * 40 + ".so": b"x" * 17}.items():
        bucket.put_object(Bucket=BUCKET, Key=prefix + name, Body=body)
    folder = tmp_path / "jit"
    folder.mkdir()
    assert jitcache.fetch(bucket, BUCKET, RUN, folder) == {SO}
    assert [p.name for p in tmp_path.rglob("*")] == ["jit", SO]
    assert (folder / SO).read_bytes() == b"ok"


def test_an_unusable_bucket_only_costs_the_compile(bucket, tmp_path, capsys) -> None:
    (tmp_path / SO).write_bytes(b"ok")
    assert jitcache.fetch(bucket, "no-such-bucket", RUN, tmp_path) == set()
    assert jitcache.publish(bucket, "no-such-bucket", RUN, tmp_path, set()) == [SO]
    assert capsys.readouterr().err.count("jit cache:") == 2
