"""The scan workflow in the local cloud against the direct engine, on the same file.

    python bench/scan_workflow_bench.py [--size-mb 2048]

Writes a synthetic survey of --size-mb (IBM float, 1,500 samples per trace), times
`run_direct` on it, then starts a local cloud and times upload -> EventBridge -> Step
Functions (Plan -> Distributed Map of scan Lambdas -> Merge) -> download, split into
upload, execution (orchestration + decode in the Lambdas) and download. Prints the
ratio execution / direct. Then models the notebook's 180 GB file on AWS from the
measured per-core decode speed.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

from seisless.client.scan import scan_via_workflow
from seisless.local import LocalCloud
from seisless.scan import run_direct
from seisless.scan.plan import DEFAULT_RANGE_BYTES
from seisless.synth import SurveySpec, write_survey

DATA = Path(__file__).parent / "data"
NS = 1500


def survey(size_mb: int) -> Path:
    path = DATA / f"workflow-{size_mb}mb.sgy"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        n_traces = size_mb * 1024 * 1024 // (240 + 4 * NS)
        write_survey(path, SurveySpec(n_inlines=max(1, n_traces // 250), n_crosslines=250,
                                      n_samples=NS))
    return path


def model_180gb(decode_gb_s_per_core: float) -> None:
    size = 180e9
    ranges = size / DEFAULT_RANGE_BYTES
    lambdas = min(1000, ranges)
    per_lambda_gb = size / lambdas / 1e9
    network_gb_s = 0.6 / 8  # ~0.6 Gbps per Lambda to S3
    # a 1,769 MB Lambda has one vCPU: decode and download overlap (prefetching GETs)
    seconds = per_lambda_gb / min(network_gb_s, decode_gb_s_per_core)
    gb_s = lambdas * 1.769 * seconds
    cost = gb_s * 0.0000166667 + ranges * 0.0000002 + ranges * 0.000025  # + map transitions
    print(f"model 180 GB: {ranges:.0f} ranges of {DEFAULT_RANGE_BYTES / 2**20:.0f} MiB, "
          f"{lambdas:.0f} Lambdas at once, {per_lambda_gb:.2f} GB each, network-bound at "
          f"{network_gb_s * 1000:.0f} MB/s per Lambda -> ~{seconds:.0f} s of scan, "
          f"~${cost:.2f} of Lambda + Step Functions (1,769 MB functions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048)
    args = parser.parse_args()
    path = survey(args.size_mb)
    gb = path.stat().st_size / 1e9
    direct = run_direct(str(path))
    direct_s = direct.timings["total_s"]
    print(f"direct: {gb:.2f} GB in {direct_s:.1f} s ({gb / direct_s:.2f} GB/s, "
          f"{direct.timings['workers']} workers)")
    started = time.perf_counter()
    with LocalCloud(port=0) as cloud:
        up_s = time.perf_counter() - started
        lines: list[tuple[float, str]] = []
        t0 = time.perf_counter()
        scan_via_workflow(path, DATA / "workflow-out", engine="local", cloud=cloud,
                          say=lambda line: lines.append((time.perf_counter() - t0, line)))
        total_s = time.perf_counter() - t0
        sfn = cloud.client("stepfunctions")
        arn = next(line.split()[-1] for _, line in lines if line.startswith("execution "))
        desc = sfn.describe_execution(executionArn=arn)
    stop = desc["stopDate"] if isinstance(desc["stopDate"], datetime) else None
    execution_s = (stop - desc["startDate"]).total_seconds() if stop else float("nan")
    upload_s = next(t for t, line in lines if line.startswith("execution "))
    print(f"local cloud: start {up_s:.1f} s; upload {upload_s:.1f} s, execution "
          f"{execution_s:.1f} s, whole scan_via_workflow {total_s:.1f} s")
    print(f"ratio execution / direct: {execution_s / direct_s:.2f}x; "
          f"(upload + execution + download) / direct: {total_s / direct_s:.2f}x")
    single_core = gb / (direct_s * direct.timings["workers"])
    model_180gb(single_core)


if __name__ == "__main__":
    main()
