"""Devito's domain decomposition of one solve: a tiny 3-D FWI gradient on 2 MPI ranks
(x-slabs, each rank reading only its rows of vp) equals the one-process gradient, for
snapshots and full storage; and `ArrayRows` reads a `.npy` in the bucket by rows.

Tolerance (float32): 1e-4 of the largest value for snapshots (same arithmetic, loops
of other bounds; measured 0), 5e-3 for 'full', which runs as snapshots of every step
under MPI (measured 1.3e-3: the two operators round differently); objectives 1e-5.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from seisless.errors import ConfigError, ImagingError
from seisless.imaging import parallel
from seisless.storage import ArrayRows, array_bytes
from tests.helpers.mpirun import needs_mpirun, run_ranks

TOLERANCE = {"snapshots": 1e-4, "full": 5e-3}


def _solve(ranks: int, out: Path) -> dict[str, float]:
    out.mkdir()
    done = run_ranks(ranks, ["-m", "tests.imaging.mpi_solve", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "phi.json").read_text())


@needs_mpirun
def test_3d_gradient_on_two_ranks_equals_one_process(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    phi_one, phi_two = _solve(1, one), _solve(2, two)
    for name, tolerance in TOLERANCE.items():
        g1, g2 = np.load(one / f"g_{name}.npy"), np.load(two / f"g_{name}.npy")
        assert g2.shape == g1.shape == (21, 17, 19)
        assert np.abs(g2 - g1).max() <= tolerance * np.abs(g1).max(), name
        assert phi_two[name] == pytest.approx(phi_one[name], rel=1e-5)
    # Each rank held a contiguous x-slab of the padded grid (33 = 21 + 2 * 6 cells) and
    # read only the vp rows under it (the layer copies the edge rows).
    slabs = [json.loads((two / f"rows_{r}.json").read_text()) for r in (0, 1)]
    assert [s["x_rows"] for s in slabs] == [[0, 16], [17, 32]]
    assert slabs[0]["read"] == [[0, 11]] and slabs[1]["read"] == [[11, 21]]


@needs_mpirun
def test_a_rank_failing_alone_ends_the_job() -> None:
    env = {"SEISLESS_BUCKET": "any", "SEISLESS_RUN_ID": "any", "SEISLESS_ITERATION": "0"}
    done = run_ranks(2, ["-m", "tests.imaging.mpi_fail"], env, timeout=60)
    assert done.returncode == ImagingError.exit_code
    assert "rank 1 failed alone" in done.stderr


@pytest.mark.usefixtures("aws_credentials")
def test_array_rows_reads_slabs_by_range() -> None:
    vp = np.arange(5 * 4 * 3, dtype="<f4").reshape(5, 4, 3)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="rows")
        s3.put_object(Bucket="rows", Key="vp.npy", Body=array_bytes(vp))
        rows = ArrayRows(s3, "rows", "vp.npy")
        assert rows.shape == vp.shape
        np.testing.assert_array_equal(rows[1:3], vp[1:3])
        np.testing.assert_array_equal(rows[4:5], vp[4:])
        buf = io.BytesIO()
        np.save(buf, np.asfortranarray(vp))
        s3.put_object(Bucket="rows", Key="fortran.npy", Body=buf.getvalue())
        with pytest.raises(ConfigError, match="C-order numeric"):
            ArrayRows(s3, "rows", "fortran.npy")
        s3.put_object(Bucket="rows", Key="text.npy", Body=b"not an array")
        with pytest.raises(ConfigError, match=r"not a \.npy array"):
            ArrayRows(s3, "rows", "text.npy")


def test_one_process_never_initialises_mpi(monkeypatch: pytest.MonkeyPatch) -> None:
    from devito.mpi import MPI

    monkeypatch.delenv("DEVITO_MPI", raising=False)
    assert parallel.world() is None
    assert parallel.topology(3) is None
    assert not MPI.Is_initialized()


def test_mpirun_command_line() -> None:
    argv, env = parallel.mpirun(2, ["python", "-m", "job"], {"DEVITO_MPI": "0", "A": "1"})
    assert argv == ["mpirun", "-np", "2", "python", "-m", "job"]
    assert env["DEVITO_MPI"] == "1" and env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"
    argv, env = parallel.mpirun(1, ["python", "-m", "job"], {"DEVITO_MPI": "1", "A": "1"})
    assert argv == ["python", "-m", "job"] and env == {"A": "1"}
