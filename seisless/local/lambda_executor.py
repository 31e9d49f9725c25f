"""Runs the real Lambda handlers for the local cloud, in long-lived worker processes.

moto's docker-free Lambda only echoes; this executor runs the handler named by the
function's image `cmd` in a sandbox process (`seisless.local.lambda_worker`, run by path
with the image environment's interpreter, in its root, with its environment: see
`seisless.local.environments`), one invocation per process at a time, like a Lambda
sandbox; sandboxes belong to one function, as on AWS. Processes are reused (imports
of numpy/pyarrow are paid once), killed and replaced when an invocation runs past the
function's timeout, and their peak memory is compared with the function's memory
setting (reported, not enforced: address-space limits break numpy's allocators).
Plain subprocesses rather than multiprocessing: nothing depends on the caller's
`__main__`, and nothing is pickled.
"""

from __future__ import annotations

import json
import logging
import select
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seisless.local.environments import Runtime
from seisless.local.lambda_worker import error_payload

log = logging.getLogger("seisless.local.lambda")
WORKER = Path(__file__).with_name("lambda_worker.py")
#: `python -c` keeps the working directory (the image root) first on sys.path, where a
#: script path would put the emulator's own folder.
_BOOT = f"import runpy; runpy.run_path({str(WORKER)!r}, run_name='__main__')"


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
    def __init__(self, function_name: str, runtime: Runtime, log_path: Path) -> None:
        self.function_name = function_name
        self.process = subprocess.Popen(
            [str(runtime.python), "-c", _BOOT, str(log_path)], cwd=runtime.cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=runtime.env, text=True,
            bufsize=1)

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
    """At most `workers` sandboxes running handlers at once for `invoke`; idle ones are
    kept for their function (imports are paid once) up to twice that many in all."""

    def __init__(self, *, workers: int, log_path: Path) -> None:
        self._log_path = log_path
        self._slots = threading.Semaphore(workers)
        self._max_alive = 2 * workers
        self._lock = threading.Lock()
        self._idle: list[_Sandbox] = []
        self._all: set[_Sandbox] = set()

    def _acquire(self, call: Invocation, runtime: Runtime) -> _Sandbox:
        self._slots.acquire()
        evicted = None
        with self._lock:
            for sandbox in self._idle:
                if sandbox.function_name == call.function_name:
                    self._idle.remove(sandbox)
                    return sandbox
            if self._idle and len(self._all) >= self._max_alive:
                evicted = self._idle.pop(0)
                self._all.discard(evicted)
        if evicted is not None:
            evicted.kill()
        sandbox = _Sandbox(call.function_name, runtime, self._log_path)
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

    def invoke(self, call: Invocation, runtime: Runtime, event: Any) -> tuple[bytes, bool]:
        """Run one invocation in a sandbox of `runtime` (the function's image, role and
        endpoint); return (payload JSON, whether it is a function error)."""
        sandbox = self._acquire(call, runtime)
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
