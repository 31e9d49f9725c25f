"""The nodes of a multi-node gradient job: rendezvous over TCP, host file, real mpirun
(Open MPI) starting a probe in place of the gradient entrypoint."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from seisless.inversion import nodes
from seisless.inversion.nodes import NodeEnv, NodesError, hostfile_lines

needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None,
                                  reason="Open MPI's mpirun is not installed")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(index: int, num_nodes: int = 2, port: int = 0, **extra: str) -> dict[str, str]:
    return {"AWS_BATCH_JOB_NODE_INDEX": str(index), "AWS_BATCH_JOB_NUM_NODES": str(num_nodes),
            "AWS_BATCH_JOB_MAIN_NODE_INDEX": "0",
            "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS": "127.0.0.1",
            "SEISLESS_RENDEZVOUS_PORT": str(port), **extra}


def test_node_variables_are_read_and_checked() -> None:
    node = NodeEnv.from_environ(_env(1, 3, 7000))
    assert (node.index, node.num_nodes, node.is_main, node.port) == (1, 3, False, 7000)
    with pytest.raises(NodesError, match="AWS_BATCH_JOB_NUM_NODES"):
        NodeEnv.from_environ({k: v for k, v in _env(0).items()
                              if k != "AWS_BATCH_JOB_NUM_NODES"})
    with pytest.raises(NodesError, match="not a valid place"):
        NodeEnv.from_environ(_env(2, 2))


def test_hostfile_has_a_line_per_address_with_its_ranks() -> None:
    assert hostfile_lines({1: "10.0.0.7", 0: "10.0.0.5"}, 2) == [
        "10.0.0.5 slots=2", "10.0.0.7 slots=2"]
    assert hostfile_lines({0: "127.0.0.1", 1: "127.0.0.1"}, 1) == ["127.0.0.1 slots=2"]


def test_the_main_node_gives_up_on_a_missing_node_with_a_typed_error(tmp_path) -> None:
    node = NodeEnv.from_environ(_env(0, 3, _free_port()))
    with pytest.raises(NodesError, match=r"nodes \[1, 2\] of 3 did not report"):
        nodes.run_main(node, {}, tmp_path, timeout_s=0.5)


def test_a_worker_whose_main_node_went_away_fails() -> None:
    port = _free_port()
    import socket

    with socket.create_server(("127.0.0.1", port)) as server:
        def accept_and_drop() -> None:
            conn, _ = server.accept()
            conn.makefile("rb").readline()
            conn.close()

        thread = threading.Thread(target=accept_and_drop)
        thread.start()
        assert nodes.main(_env(1, 2, port)) == 1
        thread.join()


@needs_mpirun
@pytest.mark.parametrize("exit_code", [0, 3])
def test_main_node_runs_every_rank_under_mpirun_and_returns_its_exit_code(
        tmp_path, monkeypatch, exit_code) -> None:
    """Two nodes on 127.0.0.1: the worker reports, the main node writes the host file and
    runs 2 ranks with DEVITO_MPI and the job's variables; both nodes end with the job."""
    monkeypatch.setattr(nodes, "GRADIENT_MODULE", "tests.helpers.mpi_probe")
    port = _free_port()
    job = {"SEISLESS_RUN_ID": "r1", "SEISLESS_JOB_INDEX": "4", "OMP_NUM_THREADS": "2",
           "PROBE_DIR": str(tmp_path), "PROBE_EXIT": str(exit_code),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
    worker_code: list[int] = []
    worker = threading.Thread(target=lambda: worker_code.append(
        nodes.main({**_env(1, 2, port), **job})))
    worker.start()
    code = nodes.main({**_env(0, 2, port), **job}, workdir=tmp_path)
    worker.join(timeout=30)
    assert code == exit_code and worker_code == [0]
    assert (tmp_path / "hostfile").read_text() == "127.0.0.1 slots=2\n"
    ranks = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1)]
    for rank in ranks:
        assert rank == {"DEVITO_MPI": "1", "OMP_NUM_THREADS": "2", "SEISLESS_RUN_ID": "r1",
                        "SEISLESS_JOB_INDEX": "4", "OMPI_COMM_WORLD_SIZE": "2"}


def test_a_multi_node_job_reads_its_index_from_the_state_machine() -> None:
    """Batch sets no array index in a multi-node job and reserves AWS_BATCH_* names for
    itself: the state machine passes SEISLESS_JOB_INDEX; an array child keeps its own."""
    from seisless.inversion.documents import JobEnv

    env = {"SEISLESS_BUCKET": "bucket", "SEISLESS_RUN_ID": "r", "SEISLESS_ITERATION": "0"}
    assert JobEnv.from_environ({**env, "SEISLESS_JOB_INDEX": "5"}).index == 5
    assert JobEnv.from_environ({**env, "AWS_BATCH_JOB_ARRAY_INDEX": "2"}).index == 2
    assert JobEnv.from_environ(env).index == 0


def test_a_stranger_at_the_rendezvous_port_is_a_typed_error(tmp_path) -> None:
    import socket

    node = NodeEnv.from_environ(_env(0, 2, _free_port()))

    def stranger() -> None:
        for _ in range(50):
            try:
                with socket.create_connection(("127.0.0.1", node.port)) as conn:
                    conn.sendall(b"GET / HTTP/1.1\r\n")
                    return
            except OSError:
                import time

                time.sleep(0.05)

    thread = threading.Thread(target=stranger)
    thread.start()
    with pytest.raises(NodesError, match="did not say which node it is"):
        nodes.run_main(node, {}, tmp_path, timeout_s=5)
    thread.join()
