"""The nodes of a Batch multi-node gradient job: rendezvous, host file, `mpirun`.

Batch starts the same container on every node and tells each its place
(`AWS_BATCH_JOB_NODE_INDEX`, `AWS_BATCH_JOB_NUM_NODES`, `AWS_BATCH_JOB_MAIN_NODE_INDEX`)
and where the main node is (`AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS`). The other
nodes report to the main node over one TCP connection each, to `RENDEZVOUS_PORT`: the
main node learns a node's address from the connection itself (no node has to find out
its own), needs no bucket object or permission for it, and the same connection later
carries "done" back, so a node serves MPI exactly as long as the main node needs it (and
stops when the main node is gone: the connection closes). The main node waits for every
node (at most `NODES_TIMEOUT_S`, then `NodesError`), writes the host file (one line per
address, `slots` = ranks on it) and runs `mpirun`; its exit code is the job's, as Batch
takes the main node's.

On AWS a node serves MPI with its own sshd (configured by the gradient image at
`SSHD_CONFIG`): `mpirun` starts the remote ranks through it, and they get that node's
container environment (its own task credentials) from `~/.ssh/environment`. In the local
cloud (no such file) every node is 127.0.0.1, the host file has one line with all slots,
and `mpirun` starts every rank itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from seisless.errors import SeislessError

ENV_NODE_INDEX = "AWS_BATCH_JOB_NODE_INDEX"
ENV_NUM_NODES = "AWS_BATCH_JOB_NUM_NODES"
ENV_MAIN_NODE_INDEX = "AWS_BATCH_JOB_MAIN_NODE_INDEX"
ENV_MAIN_NODE_ADDRESS = "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"
#: Where the main node listens for the other nodes (the local cloud gives each job its own).
ENV_RENDEZVOUS_PORT = "SEISLESS_RENDEZVOUS_PORT"
RENDEZVOUS_PORT = 7470
#: The gradient image's sshd configuration: where it exists, a node serves MPI with sshd.
SSHD_CONFIG = Path("/etc/ssh/seisless_sshd_config")
#: Ranks each node runs (one: Devito's OpenMP threads use the node's cores).
ENV_RANKS_PER_NODE = "SEISLESS_RANKS_PER_NODE"
#: Batch starts the nodes within minutes of each other; longer means a node is lost.
NODES_TIMEOUT_S = 600.0
#: The gradient job under each rank, by this interpreter (the image's).
GRADIENT_MODULE = "containers.gradient.entrypoint"
#: Job variables `mpirun` forwards to every rank (other variables are each node's own).
FORWARDED = ("SEISLESS_BUCKET", "SEISLESS_RUN_ID", "SEISLESS_ITERATION",
             "SEISLESS_JOB_INDEX", "SEISLESS_TRIAL", "REDUCE_QUEUE_URL", "DEVITO_MPI",
             "OMP_NUM_THREADS")
DONE = b"done\n"


class NodesError(SeislessError):
    """The nodes of a multi-node job could not meet (a node missing, a bad variable)."""


@dataclass(frozen=True)
class NodeEnv:
    """One node's place in its multi-node job, from Batch's variables."""

    index: int
    num_nodes: int
    main_index: int
    main_address: str
    port: int = RENDEZVOUS_PORT
    ranks_per_node: int = 1

    @property
    def is_main(self) -> bool:
        return self.index == self.main_index

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> NodeEnv:
        names = (ENV_NODE_INDEX, ENV_NUM_NODES, ENV_MAIN_NODE_INDEX, ENV_MAIN_NODE_ADDRESS)
        missing = [n for n in names if not env.get(n)]
        if missing:
            raise NodesError(f"{', '.join(missing)} not set: containers.gradient.node runs "
                             "only as a node of a Batch multi-node job")
        try:
            node = cls(index=int(env[ENV_NODE_INDEX]), num_nodes=int(env[ENV_NUM_NODES]),
                       main_index=int(env[ENV_MAIN_NODE_INDEX]),
                       main_address=env[ENV_MAIN_NODE_ADDRESS],
                       port=int(env.get(ENV_RENDEZVOUS_PORT, RENDEZVOUS_PORT)),
                       ranks_per_node=int(env.get(ENV_RANKS_PER_NODE, "1")))
        except ValueError as err:
            raise NodesError(f"a multi-node variable is not a whole number: {err}") from None
        if not (0 <= node.index < node.num_nodes and 0 <= node.main_index < node.num_nodes
                and node.ranks_per_node >= 1):
            raise NodesError(f"node {node.index} of {node.num_nodes} (main {node.main_index}, "
                             f"{node.ranks_per_node} ranks each) is not a valid place")
        return node


def gather_nodes(node: NodeEnv, timeout_s: float = NODES_TIMEOUT_S
                 ) -> tuple[dict[int, str], list[socket.socket]]:
    """Main node: wait for every other node's report; ({index: address}, connections).

    Raises `NodesError` naming the missing nodes once `timeout_s` has passed."""
    addresses = {node.index: node.main_address}
    connections: list[socket.socket] = []
    deadline = time.monotonic() + timeout_s
    with socket.create_server(("", node.port), reuse_port=False) as server:
        while len(addresses) < node.num_nodes:
            server.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                conn, (address, _) = server.accept()
            except TimeoutError:
                missing = sorted(set(range(node.num_nodes)) - set(addresses))
                for c in connections:
                    c.close()
                raise NodesError(f"nodes {missing} of {node.num_nodes} did not report to the "
                                 f"main node within {timeout_s:.0f} s; see their logs (an "
                                 "instance that never started, or a blocked port "
                                 f"{node.port})") from None
            connections.append(conn)
            conn.settimeout(timeout_s)
            try:
                index = int(json.loads(conn.makefile("rb").readline())["index"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                for c in connections:
                    c.close()
                raise NodesError(f"a node at {address} did not say which node it is "
                                 f"({err!r}); is another program using port "
                                 f"{node.port}?") from None
            addresses[index] = address
    return addresses, connections


def hostfile_lines(addresses: Mapping[int, str], ranks_per_node: int) -> list[str]:
    """One line per address, in node order; nodes sharing an address share its line
    (the local cloud: every node is 127.0.0.1, so mpirun starts all ranks itself)."""
    slots: dict[str, int] = {}
    for index in sorted(addresses):
        slots[addresses[index]] = slots.get(addresses[index], 0) + ranks_per_node
    return [f"{address} slots={n}" for address, n in slots.items()]


def mpirun_command(hostfile: Path, ranks: int, env: Mapping[str, str]) -> list[str]:
    """`mpirun` of the gradient entrypoint, forwarding the job's variables that are set."""
    forwarded = [arg for name in FORWARDED if name in env for arg in ("-x", name)]
    return ["mpirun", "-np", str(ranks), "--hostfile", str(hostfile), *forwarded,
            sys.executable, "-m", GRADIENT_MODULE]


def rank_environment(env: Mapping[str, str], node: NodeEnv) -> dict[str, str]:
    """The job's variables plus Devito's MPI mode and each rank's share of the cores;
    Open MPI refuses root unless told (containers in CI and the local cloud run as root)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    threads = env.get("OMP_NUM_THREADS") or str(cores)
    per_rank = max(1, int(threads) // node.ranks_per_node)
    return {**env, "DEVITO_MPI": "1", "OMP_NUM_THREADS": str(per_rank),
            "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def run_main(node: NodeEnv, env: Mapping[str, str], workdir: Path,
             timeout_s: float = NODES_TIMEOUT_S) -> int:
    """Gather the nodes, write the host file, run the gradient under mpirun; tell every
    node "done" whatever happened, and return mpirun's exit code."""
    addresses, connections = gather_nodes(node, timeout_s)
    try:
        hostfile = workdir / "hostfile"
        lines = hostfile_lines(addresses, node.ranks_per_node)
        hostfile.write_text("\n".join(lines) + "\n")
        print(f"node {node.index}: {node.num_nodes} nodes reported; host file: "
              f"{'; '.join(lines)}", flush=True)
        ranks_env = rank_environment(env, node)
        command = mpirun_command(hostfile, node.num_nodes * node.ranks_per_node, ranks_env)
        print(f"node {node.index}: {' '.join(command)}", flush=True)
        return subprocess.call(command, env=ranks_env)
    finally:
        for conn in connections:
            with contextlib.suppress(OSError):  # that node is gone already
                conn.sendall(DONE)
            conn.close()


def _serve_mpi(env: Mapping[str, str]) -> subprocess.Popen[bytes] | None:
    """Start this node's sshd (AWS), after handing its environment to the sessions
    mpirun opens; none in the local cloud (every rank starts on the main node)."""
    if not SSHD_CONFIG.exists():
        return None
    ssh_env = Path.home() / ".ssh" / "environment"
    ssh_env.write_text("".join(f"{k}={v}\n" for k, v in env.items() if "\n" not in v))
    return subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(SSHD_CONFIG)])


def run_worker(node: NodeEnv, env: Mapping[str, str],
               timeout_s: float = NODES_TIMEOUT_S) -> int:
    """Serve MPI, report to the main node, wait for its "done": 0, or 1 if the main node
    went away without it."""
    sshd = _serve_mpi(env)
    try:
        deadline = time.monotonic() + timeout_s
        while True:  # the main node may not listen yet
            try:
                conn = socket.create_connection((node.main_address, node.port), timeout=5)
                break
            except OSError as err:
                if time.monotonic() > deadline:
                    raise NodesError(f"node {node.index} could not reach the main node at "
                                     f"{node.main_address}:{node.port}: {err}") from None
                time.sleep(0.2)
        with conn:
            conn.sendall(json.dumps({"index": node.index}).encode() + b"\n")
            conn.settimeout(None)
            said = conn.makefile("rb").readline()
        print(f"node {node.index}: main node {'done' if said == DONE else 'gone'}",
              flush=True)
        return 0 if said == DONE else 1
    finally:
        if sshd is not None:
            sshd.terminate()
            sshd.wait()


def main(env: Mapping[str, str] | None = None, workdir: Path | None = None) -> int:
    """A node's body: the main node's exit code is mpirun's, the others' 0 once done."""
    env = dict(os.environ if env is None else env)
    try:
        node = NodeEnv.from_environ(env)
        if not node.is_main:
            return run_worker(node, env)
        if workdir is not None:
            return run_main(node, env, workdir)
        with tempfile.TemporaryDirectory(prefix="seisless-nodes-") as tmp:
            return run_main(node, env, Path(tmp))
    except SeislessError as err:
        print(f"{err.code}: {err}", file=sys.stderr)
        return err.exit_code
