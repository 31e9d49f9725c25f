"""The local Batch executor runs a multi-node job as its nodes: one process per node on
127.0.0.1 with Batch's node variables; the main node's exit code ends the job, and any
other node failing fails it. (No local cloud: the executor alone.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from seisless.local.batch_executor import Attempt, BatchExecutor, BatchJobRun
from seisless.local.environments import Runtime

#: A node: writes its variables to node-<index>.json, exits with $EXIT_<index> (or 0).
NODE = """
import json, os, sys, time
i = os.environ["AWS_BATCH_JOB_NODE_INDEX"]
names = [n for n in os.environ if n.startswith(("AWS_BATCH_", "SEISLESS_", "OMP_"))]
open(os.path.join(os.environ["OUT"], f"node-{i}.json"), "w").write(
    json.dumps({n: os.environ[n] for n in names}))
time.sleep(float(os.environ.get(f"SLEEP_{i}", "0")))
sys.exit(int(os.environ.get(f"EXIT_{i}", "0")))
"""


def _run(tmp_path: Path, **env: str) -> tuple[bool, list[Attempt]]:
    executor = BatchExecutor(cores=2, log_dir=tmp_path / "logs")
    job = BatchJobRun(job_id="job-1", command=["python", "-c", NODE],
                      environment={"OUT": str(tmp_path), "SEISLESS_RUN_ID": "r", **env},
                      runtime=Runtime(Path(sys.executable), tmp_path, {}), vcpus=4,
                      timeout_s=60, nodes=3, main_node=0,
                      retry_strategy={"attempts": 2, "evaluateOnExit": [
                          {"onStatusReason": "Host EC2*", "action": "RETRY"},
                          {"onReason": "*", "action": "EXIT"}]})
    attempts: list[Attempt] = []
    ok = executor.run(job, on_start=lambda _n: None, on_attempt=attempts.append)
    return ok, attempts


def test_a_multi_node_job_runs_as_its_nodes_and_succeeds_with_its_main_node(tmp_path) -> None:
    ok, attempts = _run(tmp_path)
    assert ok and [a.exit_code for a in attempts] == [0]
    seen = [json.loads((tmp_path / f"node-{i}.json").read_text()) for i in range(3)]
    ports = {s["SEISLESS_RENDEZVOUS_PORT"] for s in seen}
    assert len(ports) == 1
    for i, node in enumerate(seen):
        assert node["AWS_BATCH_JOB_NODE_INDEX"] == str(i)
        assert node["AWS_BATCH_JOB_NUM_NODES"] == "3"
        assert node["AWS_BATCH_JOB_MAIN_NODE_INDEX"] == "0"
        assert node["AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"] == "127.0.0.1"
        assert node["AWS_BATCH_JOB_ID"] == f"job-1#{i}"
        assert node["OMP_NUM_THREADS"] == "1" and node["SEISLESS_RUN_ID"] == "r"
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs == [f"job-1-1-node{i}.log" for i in range(3)]


@pytest.mark.parametrize(("env", "reason"), [
    ({"EXIT_0": "4"}, "exit code 4 on node 0"),
    ({"EXIT_2": "3", "SLEEP_0": "30"}, "exit code 3 on node 2"),
])
def test_a_failed_node_fails_the_job(tmp_path, env, reason) -> None:
    """The main node failing, or another node failing while the main node still runs
    (then it is not waited for): the job fails, without a retry (an application error)."""
    ok, attempts = _run(tmp_path, **env)
    assert not ok and len(attempts) == 1
    assert attempts[0].reason == reason
    assert attempts[0].stopped_s - attempts[0].started_s < 20
