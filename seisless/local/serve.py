"""`seisless up`: the local cloud served until Ctrl-C, for clients in other processes.

`seisless scan|run --engine local` and the AWS CLI (`--endpoint-url`) reach it at its
endpoint; the banner says everything they need, credentials included.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable

from seisless.local.cloud import DEFAULT_PORT, REGION, LocalCloud
from seisless.local.connection import remove_connection, write_connection


def up(*, port: int = DEFAULT_PORT, workers: int | None = None,
       say: Callable[[str], None] = print) -> None:
    """Start the local cloud, print how to reach it, and serve until Ctrl-C (or SIGTERM)."""
    stop = threading.Event()
    # SIGINT too: a shell starts a background job (`seisless up &`) with SIGINT ignored,
    # so Python would never raise KeyboardInterrupt and `kill -INT` would not stop it.
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with LocalCloud(port=port, workers=workers, say=say) as cloud:
            keys = cloud.admin_credentials
            path = write_connection({
                "endpoint": cloud.endpoint, "region": REGION, **keys, "bucket": cloud.bucket,
                "scan_state_machine_arn": cloud.scan_state_machine_arn,
                "imaging_state_machine_arn": cloud.imaging_state_machine_arn,
                "log_dir": str(cloud.log_dir)})
            notes = "".join(f"  image note:    {note}\n" for note in cloud.image_warnings)
            say(f"seisless local cloud: {cloud.endpoint}\n"
                f"  bucket:        {cloud.bucket}\n"
                f"  scan:          {cloud.scan_state_machine_arn}\n"
                f"  imaging:       {cloud.imaging_state_machine_arn}\n"
                f"  logs:          {cloud.log_dir} (Lambda and Batch output, kept)\n"
                "  state:         in memory only: a restart starts empty (same bucket "
                "name; upload again)\n"
                f"  credentials:   {path} (seisless scan|run --engine local read it)\n"
                "  for the aws CLI (any other credentials are refused):\n"
                f"    export AWS_ACCESS_KEY_ID={keys['AWS_ACCESS_KEY_ID']} "
                f"AWS_SECRET_ACCESS_KEY={keys['AWS_SECRET_ACCESS_KEY']} "
                f"AWS_DEFAULT_REGION={REGION}\n"
                f"    aws --endpoint-url {cloud.endpoint} s3 cp FILE.sgy "
                f"s3://{cloud.bucket}/incoming/\n"
                f"{notes}Ctrl-C stops it.")
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(1.0):
                    pass
            say("stopping the local cloud")
            remove_connection(cloud.endpoint)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
