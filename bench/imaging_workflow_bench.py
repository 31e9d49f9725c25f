"""Imaging workflow benchmark: the demo's FWI run through the local cloud against a
single-process loop doing the same solves and updates, in the same run.

Local cloud: `seisless.demo`'s line (8 shots, 101 x 51 cells) and run input, started
with `run_imaging` on one `LocalCloud`; every gradient job is a process (as every Batch
job is a container), the reduction runs in the reducer Lambda, the update is a Batch job.
Split: solves = the gradient jobs' own `solve` seconds (`leaf-<i>.job.json`), reduction =
the WaitForReduction states (the reduction's tail after the last gradient job), the rest
is orchestration, itemised from the execution history.

Single process: the same shots read with the same reader from the same gathers index,
`seisless.imaging.gradient` per shot, the tree-ordered float32 sum, `update.fwi_update`.
The cloud runs first, so both find Devito's compiled operators in its disk cache.

    PYTHONPATH=. python bench/imaging_workflow_bench.py [--shots-per-job 8]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DEVITO_LOGGING", "WARNING")

import numpy as np
import pyarrow.parquet as pq

from seisless.client.follow import history
from seisless.client.run import run_imaging
from seisless.demo import ITERATIONS, Line, fwi_input, make_line, upload_line
from seisless.imaging import gradient
from seisless.imaging.segy_shot import read_shot, shot_ranges
from seisless.imaging.survey import water_mask
from seisless.inversion import update
from seisless.inversion.keys import RunKeys
from seisless.storage import get_json


def _state_seconds(sfn: Any, arn: str) -> dict[str, float]:
    """Wall seconds spent in each named state, summed over its visits."""
    entered: dict[str, float] = {}
    spent: dict[str, float] = {}
    for event in history(sfn, arn):
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if details is None:
            continue
        when = event["timestamp"].timestamp()
        if event["type"].endswith("StateEntered"):
            entered[details["name"]] = when
        elif details["name"] in entered:
            name = details["name"]
            spent[name] = spent.get(name, 0.0) + when - entered.pop(name)
    return spent


def cloud_run(cloud: Any, line: Line, scan_id: str, iterations: int, out: Path,
              shots_per_job: int | None) -> dict[str, Any]:
    """Run the demo's FWI through the workflow; its wall time and where it went."""
    run_input = fwi_input(line.spec, scan_id, iterations=iterations, run_id="bench-fwi")
    if shots_per_job is not None:
        run_input["shots_per_job"] = shots_per_job
    path = out / "input.json"
    path.write_text(json.dumps(run_input))
    started = time.perf_counter()
    result = run_imaging(path, out / "cloud", cloud=cloud, say=lambda _: None, timeout_s=3600)
    total = time.perf_counter() - started
    s3, sfn = cloud.client("s3"), cloud.client("stepfunctions")
    arn = next(e["executionArn"] for e in sfn.list_executions(
        stateMachineArn=cloud.imaging_state_machine_arn)["executions"]
        if e["name"] == "bench-fwi")
    run = RunKeys("bench-fwi")
    jobs = [get_json(s3, cloud.bucket, run.iteration(k).leaf_record(i))
            for k in range(iterations) for i in range(line.spec.n_shots)]
    job_s = {part: sum(j["seconds"][part] for j in jobs) for part in ("setup", "read", "solve")}
    states = _state_seconds(sfn, arn)
    return {"total": total, "objective": result["objective"], "jobs": job_s, "states": states,
            "final": np.load(out / "cloud" / f"iter-{iterations}" / "model.npy")}


def _tree_sum(leaves: list[np.ndarray], fan_in: int) -> np.ndarray:
    """float32 sum in the reduction tree's order: groups of `fan_in`, level by level."""
    level = [leaf.astype(np.float32) for leaf in leaves]
    while len(level) > 1:
        groups = [level[i:i + fan_in] for i in range(0, len(level), fan_in)]
        level = [sum(group[1:], group[0].copy()) for group in groups]
    return level[0]


def single_process(line: Line, gathers_path: Path, iterations: int) -> dict[str, Any]:
    """The same run in this process: read, solve, sum, update."""
    spec, config = line.spec, fwi_input(line.spec, "-", iterations=iterations)
    fwi, mask = config["fwi"], water_mask(line.spec)
    bounds = update.FwiBounds(fwi["vmin"], fwi["vmax"], fwi["max_dv"])
    seconds = {"read": 0.0, "solve": 0.0, "reduce": 0.0, "update": 0.0}
    started = time.perf_counter()
    gathers = pq.read_table(gathers_path)
    shots = [read_shot(str(line.segy), shot_ranges(gathers, record), f0=spec.f0,
                       field_record=record, source_depth=spec.source_depth,
                       receiver_depth=spec.receiver_depth, origin_x=spec.easting)
             for record in spec.field_records()]
    seconds["read"] = time.perf_counter() - started
    vp, previous, objective = line.start_vp.astype(np.float32), None, []
    for _ in range(iterations):
        model = spec.model(vp)
        t0 = time.perf_counter()
        solved = [gradient(model, shot, "fwi", strategy="full") for shot in shots]
        t1 = time.perf_counter()
        grad = _tree_sum([g for _, g in solved], config["fan_in"])
        objective.append(sum(phi for phi, _ in solved))
        t2 = time.perf_counter()
        new_vp, _ = update.fwi_update(vp, grad, bounds, previous, mask)
        previous, vp = (vp, grad), new_vp
        t3 = time.perf_counter()
        seconds["solve"] += t1 - t0
        seconds["reduce"] += t2 - t1
        seconds["update"] += t3 - t2
    return {"total": time.perf_counter() - started, "seconds": seconds,
            "objective": objective, "final": vp}


def report(cloud: dict[str, Any], single: dict[str, Any], iterations: int, n_shots: int
           ) -> None:
    states, jobs = cloud["states"], cloud["jobs"]
    solves, reduction = jobs["solve"], states.get("WaitForReduction", 0.0)
    gradients_state = states.get("Gradients", 0.0)
    in_jobs = sum(jobs.values())
    rows = [
        ("solves (gradient jobs' own solve seconds)", solves),
        ("reduction (WaitForReduction: the tail after the last job)", reduction),
        ("orchestration", cloud["total"] - solves - reduction),
        ("  gradient jobs: config/model/gathers reads, SEG-Y read", jobs["setup"] + jobs["read"]),
        ("  gradient jobs: process start, imports, Batch/.sync polling",
         gradients_state - in_jobs),
        ("  update jobs (Update states)", states.get("Update", 0.0)),
        ("  Lambda steps, transitions, following, download",
         cloud["total"] - gradients_state - reduction - states.get("Update", 0.0)),
    ]
    print(f"FWI, {iterations} iterations x {n_shots} shots ({iterations * n_shots} gradient "
          "jobs)\n\nlocal cloud (Step Functions + Batch processes + SQS/Lambda reduction)")
    for name, value in rows:
        print(f"  {name:<62} {value:8.1f} s")
    print(f"  {'total':<62} {cloud['total']:8.1f} s")
    print("\nsingle process (same reads, solves, float32 tree sum, updates)")
    for name, value in single["seconds"].items():
        print(f"  {name:<62} {value:8.1f} s")
    print(f"  {'total':<62} {single['total']:8.1f} s")
    ratio = cloud["total"] / single["total"]
    print(f"\nratio local cloud / single process: {ratio:.2f}x (target <= 1.25x: "
          f"{'met' if ratio <= 1.25 else 'missed'})")
    print(f"solves alone: {solves:.1f} s in jobs vs {single['seconds']['solve']:.1f} s in one "
          f"process ({solves / single['seconds']['solve']:.2f}x: each job builds its operators)")
    dv = float(np.max(np.abs(cloud["final"] - single["final"]))) * 1000
    rel = max(abs(a - b) / b for a, b in zip(cloud["objective"], single["objective"],
                                             strict=True))
    print(f"objective (cloud):  {', '.join(f'{v:.6g}' for v in cloud['objective'])}")
    print(f"objective (single): {', '.join(f'{v:.6g}' for v in single['objective'])}")
    print(f"final models agree: max |dvp| = {dv:.3g} m/s, objectives within {rel:.1e} "
          f"(relative){' -> AGREE' if dv < 1.0 and rel < 1e-3 else ' -> DIFFER'}")


def main() -> None:
    from seisless.local import LocalCloud

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=ITERATIONS,
                        help="FWI iterations (default: the demo's)")
    parser.add_argument("--shots-per-job", type=int, default=None,
                        help="shots each gradient job computes (default: the run's rule, 1)")
    args = parser.parse_args()
    iterations = args.iterations
    with tempfile.TemporaryDirectory(prefix="seisless-imaging-bench-") as tmp:
        out = Path(tmp)
        line = make_line(out / "line")
        with LocalCloud(port=0, log_dir=out / "cloud-logs") as cloud:
            scan_id = upload_line(cloud, line, out / "scan", say=lambda _: None)
            cloud_result = cloud_run(cloud, line, scan_id, iterations, out, args.shots_per_job)
        single = single_process(line, out / "scan" / "gathers.parquet", iterations)
        report(cloud_result, single, iterations, line.spec.n_shots)


if __name__ == "__main__":
    main()
