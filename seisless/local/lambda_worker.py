"""A Lambda sandbox process of the local cloud: the runtime of a function's image.

It plays the part of the Lambda runtime interface client, not of the image: the executor
runs this file by path with the image's interpreter, in the image's root, so it imports
nothing of seisless (whose package would pull in the emulator) and only the standard
library. Reads one JSON request per line on stdin, imports and calls the handler it names, and
writes one JSON reply per line on the original stdout; the handler's own output (its
logs, prints, tracebacks) goes to the log file given as the first argument. Requests and
replies are JSON, never pickles.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any


def error_payload(error_type: str, message: str, trace: list[str] | None = None,
                  ) -> dict[str, Any]:
    """A Lambda error payload, as the service returns it for an unhandled exception."""
    return {"errorType": error_type, "errorMessage": message, "stackTrace": trace or []}


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object our handlers (and Powertools) read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    deadline: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def _run(request: dict[str, Any]) -> dict[str, Any]:
    os.environ.update(request["environment"])
    module_name, _, func_name = request["handler"].rpartition(".")
    context = LambdaContext(function_name=request["function_name"],
                            memory_limit_in_mb=request["memory_mb"],
                            invoked_function_arn=request["function_arn"],
                            deadline=time.time() + request["timeout_s"])
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
        reply = {"ok": True, "payload": handler(request["event"], context)}
    except Exception as exc:  # the sandbox reports every handler failure, as Lambda does
        trace = traceback.format_exception(exc)
        sys.stderr.write("".join(trace))
        reply = {"ok": False, "payload": error_payload(type(exc).__name__, str(exc), trace)}
    reply["max_rss_mb"] = _peak_rss_mb()
    return reply


def _peak_rss_mb() -> float:
    """This sandbox's own peak RSS: VmHWM belongs to the address space made at exec,
    whereas ru_maxrss keeps the parent's peak across fork+exec (the moto server's)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    log_fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    for line in sys.stdin:
        reply = _run(json.loads(line))
        try:
            text = json.dumps(reply)
        except (TypeError, ValueError) as err:
            text = json.dumps({"ok": False, "payload": error_payload(
                "Runtime.MarshalError", f"the handler's result is not JSON: {err}")})
        replies.write(text + "\n")


if __name__ == "__main__":
    main()
