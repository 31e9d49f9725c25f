#!/usr/bin/env python
"""Benchmark of the gradient reduction through the real handler against moto.

Starts a moto server in its own process (so its memory is not counted), writes N float32
leaves of the given size (`seisless.reduce.write_leaf`), announces them, then, each in a
fresh process so that peak RSS belongs to that phase alone:

- reduce: drains the queue through `lambdas.reducer.handler.lambda_handler` in batches
  of 10 (one consumer, like a reserved concurrency of 1) until the root exists;
- numpy: a plain in-memory sum of the same leaf files: GET each whole object, `np.load`,
  add, in the tree's order (so the result can be compared bit for bit).

Reports bytes read (every GetObject response, sidecars included) per leaf byte, peak RSS,
wall time and throughput (leaf bytes / second) of both, and whether the roots match.

    python bench/reduce_bench.py --leaves 100 --mib 64 [--chunk-mib 16] [--part-mib 16]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seisless.reduce import announce_leaf, layout_for, read_sidecar, write_leaf
from seisless.reduce.tree import Node, TreeLayout
from tests.helpers.chaos import sqs_event, store_run_state

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "seisless-bench"
RUN_ID = "bench"
MiB = 1024 * 1024

#: moto's server with seisless's adaptations applied: without `_RangeReader` moto copies the
#: whole object for every ranged GET, and the bench would measure that instead of the reducer.
MOTO_SERVER = ("import sys; from seisless.local import moto_patches; moto_patches.apply(); "
               "from moto.server import main; main(['-p', sys.argv[1]])")


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def start_peak() -> float:
    """Reset the peak RSS (VmHWM) to the current RSS and return it. getrusage's maxrss
    is no use here: it keeps the parent's peak across fork and exec."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    return _status_mib("VmHWM")


def count_reads(s3: Any) -> list[int]:
    sizes: list[int] = []
    s3.meta.events.register("after-call.s3.GetObject",
                            lambda parsed, **_: sizes.append(parsed.get("ContentLength", 0)))
    return sizes


def clients() -> tuple[Any, Any, Any]:
    import boto3

    return boto3.client("s3"), boto3.client("sqs"), boto3.client("stepfunctions")


def phase_reduce(args: argparse.Namespace, layout: TreeLayout) -> dict[str, Any]:
    """Drain the queue through the real handler; the root must exist at the end."""
    from lambdas.reducer import handler
    from seisless.reduce import ReduceServices

    s3, sqs, sfn = clients()
    url = os.environ["REDUCE_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    handler.use_services(ReduceServices(s3=s3, sqs=sqs, sfn=sfn, queue_url=url,
                                        chunk_bytes=args.chunk_mib * MiB,
                                        part_bytes=args.part_mib * MiB))
    reads = count_reads(s3)
    baseline = start_peak()
    start = time.perf_counter()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                          AttributeNames=["All"]).get("Messages"):
        result = handler.lambda_handler(sqs_event(messages, arn), None)
        if result["batchItemFailures"]:
            raise SystemExit(f"reducer failed records: {result}")
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    seconds = time.perf_counter() - start
    if read_sidecar(s3, BUCKET, layout.sidecar_key(layout.root)) is None:
        raise SystemExit("the root was not written")
    return {"seconds": seconds, "bytes_read": sum(reads), "peak_rss_mib": peak_rss_mib(),
            "rss_before_mib": baseline}


def phase_numpy(args: argparse.Namespace, layout: TreeLayout) -> dict[str, Any]:
    """Whole-object GETs and an in-memory sum in the tree's order."""
    s3, _, _ = clients()
    reads = count_reads(s3)
    baseline = start_peak()
    start = time.perf_counter()

    def load(node: Node) -> np.ndarray:
        body = s3.get_object(Bucket=BUCKET, Key=layout.array_key(node))["Body"].read()
        return np.load(io.BytesIO(body), allow_pickle=False)

    def total(node: Node) -> np.ndarray:
        acc = None
        for child in layout.children(node):
            part = load(child) if child.level == 0 else total(child)
            acc = part if acc is None else np.add(acc, part, out=acc)
        return acc

    result = total(layout.root)
    seconds = time.perf_counter() - start
    bytes_read = sum(reads)
    root = s3.get_object(Bucket=BUCKET, Key=layout.array_key(layout.root))["Body"].read()
    buf = io.BytesIO()
    np.save(buf, result, allow_pickle=False)
    return {"seconds": seconds, "bytes_read": bytes_read, "peak_rss_mib": peak_rss_mib(),
            "rss_before_mib": baseline, "root_bitwise_equal": root == buf.getvalue()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(args: argparse.Namespace, layout: TreeLayout) -> None:
    """Bucket, queue, N leaves (leaf i = base + i, so each write costs one add) and
    their announcements."""
    s3, sqs, _ = clients()
    s3.create_bucket(Bucket=BUCKET)
    url = sqs.create_queue(QueueName="reduce")["QueueUrl"]
    os.environ["REDUCE_QUEUE_URL"] = url
    store_run_state(s3, BUCKET, layout)  # the reducer takes the tree from the run's state
    base = np.random.default_rng(0).standard_normal(args.mib * MiB // 4, dtype=np.float32)
    for i in range(args.leaves):
        write_leaf(s3, BUCKET, layout, i, base + np.float32(i), objective=float(i))
        announce_leaf(sqs, url, BUCKET, layout, i)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=100)
    parser.add_argument("--mib", type=int, default=64, help="size of one gradient")
    parser.add_argument("--fan-in", type=int, default=10)
    parser.add_argument("--chunk-mib", type=int, default=16)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--phase", choices=["reduce", "numpy"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    layout = layout_for(RUN_ID, 0, args.leaves, args.fan_in)
    if args.phase:
        run = phase_reduce if args.phase == "reduce" else phase_numpy
        print(json.dumps(run(args, layout)))
        return 0
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1",
                        "POWERTOOLS_LOG_LEVEL": "WARNING"}.items():
        os.environ[name] = value
    port = free_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="moto-") as tmp:  # moto spools big objects
        server = subprocess.Popen(  # with the local cloud's ranged-GET adaptation
            [sys.executable, "-c", MOTO_SERVER, str(port)],
            env={**os.environ, "TMPDIR": tmp}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)
            prepare(args, layout)
            phases = {}
            for phase in ("reduce", "numpy"):
                given = sys.argv[1:] if argv is None else argv
                out = subprocess.run([sys.executable, __file__, *given, "--phase", phase],
                                     check=True, capture_output=True, text=True).stdout
                phases[phase] = json.loads(out.strip().splitlines()[-1])
        finally:
            server.terminate()
            server.wait()
    report(args, phases)
    return 0


def report(args: argparse.Namespace, phases: dict[str, dict[str, Any]]) -> None:
    leaf_bytes = args.leaves * args.mib * MiB
    red, ref = phases["reduce"], phases["numpy"]
    print(f"N={args.leaves} x {args.mib} MiB (F={args.fan_in}, chunk {args.chunk_mib} MiB, "
          f"part {args.part_mib} MiB)")
    for name, p in (("reducer", red), ("numpy  ", ref)):
        print(f"  {name}: {p['seconds']:.1f} s, {leaf_bytes / MiB / p['seconds']:.0f} MiB/s "
              f"of leaves, bytes read/leaf byte {p['bytes_read'] / leaf_bytes:.4f}, "
              f"peak RSS {p['peak_rss_mib']:.0f} MiB (before: {p['rss_before_mib']:.0f})")
    print(f"  reducer/numpy time: {red['seconds'] / ref['seconds']:.2f}x; root bitwise equal "
          f"to numpy tree-order sum: {ref['root_bitwise_equal']}")


if __name__ == "__main__":
    sys.exit(main())
