"""Runs AWS Batch jobs of the local cloud as local processes.

moto's docker-free Batch marks jobs succeeded without running them; this executor runs
the job definition's container command (`python -m containers.gradient.entrypoint` ...)
in its image's environment (`seisless.local.environments`: the image's interpreter and
root, never the caller's), with the job's environment and `AWS_BATCH_JOB_ARRAY_INDEX`,
under the job definition's retry strategy and attempt timeout. Only the job
definition's own command ever runs: a job whose `containerOverrides.command` differs is
failed without starting anything (any local process could otherwise run a shell
command as the user who started the local cloud). Jobs share the machine's cores: a
job waits until its vCPUs are free, and runs with that many OpenMP threads.

`reclaim(index)` injects a Spot reclaim: the next attempt of array child `index` is
killed once it runs, and reported with the status reason AWS gives ("Host EC2 ...
terminated."), so the retry strategy decides what happens, as on AWS.

A multi-node job runs as its nodes: one process per node, all on 127.0.0.1, each with
the variables Batch gives a node (`AWS_BATCH_JOB_NODE_INDEX`, `..._NUM_NODES`,
`..._MAIN_NODE_INDEX`, `..._MAIN_NODE_PRIVATE_IPV4_ADDRESS`) and a rendezvous port of
its own job; the nodes share the job's vCPUs. The attempt ends with the main node's exit
code, or fails as soon as another node fails (its log says why); each node's output is
kept in its own log.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seisless.local.environments import Runtime

log = logging.getLogger("seisless.local.batch")
RECLAIM_REASON = "Host EC2 (instance i-0local) terminated."
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
EXIT_REASON = "Essential container in task exited"
OVERRIDE_REASON = ("containerOverrides.command is not run by the local cloud; only the job "
                   "definition's own command runs")


@dataclass(frozen=True)
class BatchJobRun:
    """One job (or array child) as the executor needs it, whatever moto calls things."""

    job_id: str
    command: list[str]
    environment: dict[str, str]
    runtime: Runtime
    command_override: list[str] | None = None
    vcpus: int = 1
    timeout_s: float | None = None
    retry_strategy: dict[str, Any] = field(default_factory=dict)
    array_index: int | None = None
    nodes: int = 1
    main_node: int = 0


@dataclass(frozen=True)
class Attempt:
    """How one attempt ended: AWS's `attempts[]` entry."""

    exit_code: int | None
    status_reason: str
    reason: str = ""
    started_s: float = 0.0
    stopped_s: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


def retry_action(strategy: dict[str, Any], attempt: Attempt) -> str:
    """"RETRY" or "EXIT" for a failed attempt: the first `evaluateOnExit` rule whose
    globs all match decides; with none matching, Batch retries (while attempts last)."""
    values = {"onStatusReason": attempt.status_reason, "onReason": attempt.reason,
              "onExitCode": "" if attempt.exit_code is None else str(attempt.exit_code)}
    for rule in strategy.get("evaluateOnExit") or []:
        globs = {k: v for k, v in rule.items() if k in values}
        if all(fnmatch.fnmatchcase(values[k], v) for k, v in globs.items()):
            return str(rule.get("action", "RETRY")).upper()
    return "RETRY"


class BatchExecutor:
    """Runs jobs on at most `cores` vCPUs at once; thread-safe (one call per job thread)."""

    def __init__(self, *, cores: int, log_dir: Path) -> None:
        self._cores = max(1, cores)
        self._free = self._cores
        self._cpu = threading.Condition()
        self._log_dir = log_dir
        self._reclaims: dict[int, int] = {}
        self._closed = False
        self._running: set[subprocess.Popen[bytes]] = set()
        log_dir.mkdir(parents=True, exist_ok=True)

    def reclaim(self, index: int, times: int = 1) -> None:
        """Make the next `times` attempts of array child `index` die as Spot reclaims."""
        with self._cpu:
            self._reclaims[index] = self._reclaims.get(index, 0) + times

    def _take_reclaim(self, index: int | None) -> bool:
        with self._cpu:
            if index is None or not self._reclaims.get(index):
                return False
            self._reclaims[index] -= 1
            return True

    def run(self, job: BatchJobRun, on_start: Callable[[int], None],
            on_attempt: Callable[[Attempt], None]) -> bool:
        """Run `job` with its retries; True if an attempt succeeded."""
        if job.command_override not in (None, job.command):
            log.warning("job %s asked to run %s: refused", job.job_id, job.command_override)
            on_attempt(Attempt(None, OVERRIDE_REASON))
            return False
        attempts = max(1, int(job.retry_strategy.get("attempts", 1)))
        for number in range(1, attempts + 1):
            vcpus = min(max(1, job.vcpus) * job.nodes, self._cores)
            with self._cpu:
                self._cpu.wait_for(lambda v=vcpus: self._free >= v or self._closed)
                if self._closed:
                    on_attempt(Attempt(None, "local cloud stopped"))
                    return False
                self._free -= vcpus
            try:
                on_start(number)
                attempt = self._attempt(job, number, vcpus)
            finally:
                with self._cpu:
                    self._free += vcpus
                    self._cpu.notify_all()
            on_attempt(attempt)
            if attempt.succeeded:
                return True
            action = retry_action(job.retry_strategy, attempt)
            log.info("job %s attempt %d: %s (%s) -> %s", job.job_id, number,
                     attempt.status_reason, attempt.exit_code, action)
            if action == "EXIT":
                return False
        return False

    @staticmethod
    def _command(job: BatchJobRun) -> list[str]:
        command = list(job.command)
        if command and command[0] in ("python", "python3"):
            command[0] = str(job.runtime.python)  # the image's python: its environment's
        return command

    def _attempt(self, job: BatchJobRun, number: int, vcpus: int) -> Attempt:
        env = {**job.runtime.env, **job.environment, "AWS_BATCH_JOB_ID": job.job_id,
               "AWS_BATCH_JOB_ATTEMPT": str(number), "OMP_NUM_THREADS": str(vcpus)}
        if job.nodes > 1:
            return self._nodes_attempt(job, number, env, max(1, vcpus // job.nodes))
        if job.array_index is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_index)
        command = self._command(job)
        out = self._log_dir / f"{job.job_id.replace(':', '-')}-{number}.log"
        reclaim = self._take_reclaim(job.array_index)
        started = time.time()
        with out.open("wb") as sink:
            proc = subprocess.Popen(command, env=env, cwd=job.runtime.cwd, stdout=sink,
                                    stderr=subprocess.STDOUT)
            self._running.add(proc)
            try:
                if reclaim:  # let it start its work, then take the host away
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=1.0)
                    proc.kill()
                    proc.wait()
                    return Attempt(None, RECLAIM_REASON, "", started, time.time())
                try:
                    code = proc.wait(timeout=job.timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    return Attempt(None, TIMEOUT_REASON, "", started, time.time())
            finally:
                self._running.discard(proc)
        reason = "" if code == 0 else f"exit code {code}"
        return Attempt(code, EXIT_REASON, reason, started, time.time())

    def _nodes_attempt(self, job: BatchJobRun, number: int, env: dict[str, str],
                       threads: int) -> Attempt:
        """One attempt of a multi-node job: its nodes as processes (see the module doc)."""
        with socket.socket() as probe:  # a free port: jobs run side by side here
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        started = time.time()
        deadline = None if job.timeout_s is None else time.monotonic() + job.timeout_s
        procs: dict[int, subprocess.Popen[bytes]] = {}
        with contextlib.ExitStack() as stack:
            for node in range(job.nodes):
                node_env = {**env, "AWS_BATCH_JOB_ID": f"{job.job_id}#{node}",
                            "AWS_BATCH_JOB_NODE_INDEX": str(node),
                            "AWS_BATCH_JOB_NUM_NODES": str(job.nodes),
                            "AWS_BATCH_JOB_MAIN_NODE_INDEX": str(job.main_node),
                            "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS": "127.0.0.1",
                            "SEISLESS_RENDEZVOUS_PORT": str(port),
                            "OMP_NUM_THREADS": str(threads)}
                name = f"{job.job_id.replace(':', '-')}-{number}-node{node}.log"
                sink = stack.enter_context((self._log_dir / name).open("wb"))
                procs[node] = subprocess.Popen(self._command(job), env=node_env,
                                               cwd=job.runtime.cwd, stdout=sink,
                                               stderr=subprocess.STDOUT)
                self._running.add(procs[node])
            try:
                code, reason = self._wait_nodes(procs, job.main_node, deadline)
            finally:
                for proc in procs.values():
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait()
                    self._running.discard(proc)
        if code is None:
            return Attempt(None, TIMEOUT_REASON, "", started, time.time())
        return Attempt(code, EXIT_REASON, reason, started, time.time())

    @staticmethod
    def _wait_nodes(procs: dict[int, subprocess.Popen[bytes]], main: int,
                    deadline: float | None) -> tuple[int | None, str]:
        """(exit code, reason) once the main node ended or another node failed;
        (None, "") past the deadline. The other nodes get a moment to hear "done"."""
        while deadline is None or time.monotonic() < deadline:
            failed = {n: p.returncode for n, p in procs.items()
                      if n != main and p.poll() not in (None, 0)}
            if failed:
                node, code = min(failed.items())
                return code, f"exit code {code} on node {node}"
            code = procs[main].poll()
            if code is not None:
                for proc in procs.values():
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=5.0)
                return code, "" if code == 0 else f"exit code {code} on node {main}"
            time.sleep(0.1)
        return None, ""

    def close(self) -> None:
        """Stop waiting jobs and kill running ones (the local cloud is going away)."""
        with self._cpu:
            self._closed = True
            self._cpu.notify_all()
        for proc in list(self._running):
            proc.kill()
