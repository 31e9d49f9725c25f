"""Runs the real Lambda handlers for the local cloud, in long-lived worker processes.

moto's docker-free Lambda only echoes; this executor runs the handler named by the
function's image `cmd` in a sandbox process (`seisless.local.lambda_worker`), one
invocation per process at a time, like a Lambda sandbox. Processes are reused (imports
of numpy/pyarrow are paid once), killed and replaced when an invocation runs past the
function's timeout, and their peak memory is compared with the function's memory
setting (reported, not enforced: address-space limits break numpy's allocators).
Plain subprocesses rather than multiprocessing: nothing depends on the caller's
`__main__`, and nothing is pickled.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seisless.local.protocol import error_payload

log = logging.getLogger("seisless.local.lambda")


@dataclass(frozen=True)
class Invocation:
    """One call of a function: what the sandbox needs to run it."""

    function_name: str
    function_arn: str
    handler: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]


class _Sandbox:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "seisless.local.lambda_worker", str(log_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)

    def call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """Send a request; the reply, or None when the timeout passes first."""
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not ready:
            return None
        line = self.process.stdout.readline()
        if not line:
            raise EOFError(f"exit status {self.process.wait(5)}")
        return json.loads(line)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class LambdaExecutor:
    """A pool of at most `workers` sandboxes running handlers for `invoke`."""

    def __init__(self, *, workers: int, base_env: dict[str, str], repo_root: Path,
                 log_path: Path) -> None:
        path = os.pathsep.join(p for p in (str(repo_root), os.environ.get("PYTHONPATH")) if p)
        self._env = {**os.environ, **base_env, "PYTHONPATH": path}
        self._log_path = log_path
        self._slots = threading.Semaphore(workers)
        self._lock = threading.Lock()
        self._idle: list[_Sandbox] = []
        self._all: set[_Sandbox] = set()

    def _acquire(self) -> _Sandbox:
        self._slots.acquire()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        sandbox = _Sandbox(self._env, self._log_path)
        with self._lock:
            self._all.add(sandbox)
        return sandbox

    def _release(self, sandbox: _Sandbox, healthy: bool) -> None:
        with self._lock:
            if healthy:
                self._idle.append(sandbox)
            else:
                self._all.discard(sandbox)
        if not healthy:
            sandbox.kill()
        self._slots.release()

    def invoke(self, call: Invocation, event: Any) -> tuple[bytes, bool]:
        """Run one invocation; return (payload JSON, whether it is a function error)."""
        sandbox = self._acquire()
        started = time.monotonic()
        healthy = False
        try:
            reply = sandbox.call({**asdict(call), "event": event}, call.timeout_s)
            if reply is None:
                reply = {"ok": False, "payload": error_payload(
                    "Sandbox.Timedout", f"Task timed out after {call.timeout_s:.2f} seconds")}
            else:
                healthy = True
        except (EOFError, OSError, ValueError) as err:
            reply = {"ok": False, "payload": error_payload(
                "Runtime.ExitError", f"the handler process died ({err})")}
        finally:
            self._release(sandbox, healthy)
        elapsed = time.monotonic() - started
        if reply.get("max_rss_mb", 0) > call.memory_mb:
            log.warning("%s used %.0f MB, more than its %d MB: it would fail on AWS",
                        call.function_name, reply["max_rss_mb"], call.memory_mb)
        outcome = "ok" if reply["ok"] else reply["payload"]["errorType"]
        log.info("lambda %s: %s in %.2fs", call.function_name, outcome, elapsed)
        return json.dumps(reply["payload"]).encode(), not reply["ok"]

    def close(self) -> None:
        """Stop every sandbox process."""
        with self._lock:
            sandboxes, self._all, self._idle = list(self._all), set(), []
        for sandbox in sandboxes:
            sandbox.kill()
