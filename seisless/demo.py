"""`make demo`: the whole story on this machine, through one local cloud.

1. A synthetic post-stack survey is uploaded under `incoming/`; its event starts the scan
   workflow (Plan -> Distributed Map of scan Lambdas -> Merge), and the direct engine
   checks the result: the scan map shows.
2. A 2-D line is modelled on a true earth (`seisless.imaging.survey`) and written as a
   SEG-Y shot-gather survey; uploaded the same way, its scan yields the gathers index.
3. FWI runs through the imaging workflow (Init -> SelectShots -> Batch array of gradient
   jobs -> SQS reduction -> Batch update, per iteration) from that index and a smooth
   starting model; the models and the objective are drawn.

`bench/imaging_workflow_bench.py` reuses the line and the run input defined here, so the
benchmark measures exactly the demo's run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("DEVITO_LOGGING", "WARNING")  # before Devito is imported

import numpy as np
import pyarrow.parquet as pq
from rich.console import Console
from rich.markup import escape

from seisless.client.follow import Progress
from seisless.client.run import run_imaging
from seisless.client.scan import scan_via_workflow
from seisless.imaging import survey
from seisless.scan import run_direct
from seisless.scan.documents import scan_id_for
from seisless.storage import array_bytes
from seisless.synth import SurveySpec, write_survey

OUT = Path("demo-output")
LINE_KEY = "incoming/line.sgy"
START_KEY = "models/line-start.npy"
MASK_KEY = "models/line-water-mask.npy"
ITERATIONS = 4
RUN_ID = "demo-fwi"


@dataclass(frozen=True)
class Line:
    """The synthetic line on disk and in memory."""

    spec: survey.LineSpec
    true_vp: np.ndarray
    start_vp: np.ndarray
    segy: Path


def make_line(out: Path, spec: survey.LineSpec | None = None) -> Line:
    """Model the line's shots on the true earth and write them as SEG-Y under `out`."""
    spec = spec or survey.LineSpec()
    true_vp = survey.true_velocity(spec)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "line.sgy"
    survey.write_segy(path, spec, survey.model_shots(spec, true_vp))
    return Line(spec, true_vp, survey.starting_velocity(spec, true_vp), path)


def upload_line(cloud: Any, line: Line, scan_dir: Path, say: Progress) -> str:
    """Upload the SEG-Y (its event starts the scan; wait for it) and the starting model
    and water mask; the scan id the imaging run names."""
    scan_via_workflow(line.segy, scan_dir, cloud=cloud, key=LINE_KEY, say=say)
    s3 = cloud.client("s3")
    head = s3.head_object(Bucket=cloud.bucket, Key=LINE_KEY)
    s3.put_object(Bucket=cloud.bucket, Key=START_KEY, Body=array_bytes(line.start_vp, "<f4"))
    mask = survey.water_mask(line.spec)
    s3.put_object(Bucket=cloud.bucket, Key=MASK_KEY, Body=array_bytes(mask, "<f4"))
    return scan_id_for(LINE_KEY, head.get("VersionId"), head["ETag"])


def fwi_input(spec: survey.LineSpec, scan_id: str, *, iterations: int = ITERATIONS,
              run_id: str = RUN_ID) -> dict[str, Any]:
    """The execution input of the demo's FWI run (what a user types in the console)."""
    return {
        "scan_id": scan_id, "objective": "fwi", "iterations": iterations, "run_id": run_id,
        "model": {"key": START_KEY, "spacing": [spec.spacing, spec.spacing], "nbl": spec.nbl,
                  "space_order": spec.space_order},
        "acquisition": {"f0": spec.f0, "source_depth": spec.source_depth,
                        "receiver_depth": spec.receiver_depth, "origin_x": spec.easting},
        "fwi": {"vmin": 1.4, "vmax": 3.5, "max_dv": 0.15, "mask_key": MASK_KEY},
        "shots": {"per_iteration": "all"},
        "memory": {"strategy": "full"},
        "fan_in": 4,
    }


def plot_models(line: Line, final_vp: np.ndarray, path: Path) -> None:
    """True, starting and inverted models on one colour scale, so changes are visible."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    spec = line.spec
    extent = (spec.easting, spec.easting + spec.width, spec.spacing * (spec.nz - 1), 0)
    lo, hi = float(line.true_vp.min()), float(line.true_vp.max())
    fig = Figure(figsize=(7, 8), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    for ax, (title, vp) in zip(axes, (("true", line.true_vp), ("starting", line.start_vp),
                                      ("FWI result", final_vp)), strict=True):
        shown = ax.imshow(vp.T, extent=extent, aspect="auto", cmap="viridis", vmin=lo, vmax=hi)
        ax.set(title=f"{title} vp", ylabel="depth (m)")
    axes[-1].set(xlabel="easting (m)")
    fig.colorbar(shown, ax=axes, label="vp (km/s)")
    fig.savefig(path, dpi=80)


def _poststack(cloud: Any, console: Console, say: Progress) -> None:
    survey_path = OUT / "survey.sgy"
    spec = write_survey(survey_path, SurveySpec(n_inlines=120, n_crosslines=160, n_samples=750))
    console.print(f"[bold]1.[/] synthetic post-stack survey: {survey_path} ({spec.n_inlines} "
                  f"inlines x {spec.n_crosslines} crosslines x {spec.n_samples} samples, IBM "
                  f"float, {survey_path.stat().st_size / 1e6:.0f} MB); scan through the local "
                  "cloud (S3 -> EventBridge -> Step Functions -> Lambdas)")
    started = time.perf_counter()
    summary = scan_via_workflow(survey_path, OUT / "scan", cloud=cloud, say=say)
    workflow_s = time.perf_counter() - started
    direct = run_direct(str(survey_path))
    same = direct.traces.equals(pq.read_table(OUT / "scan" / "traces.parquet"))
    console.print(f"   {summary['counts']['traces']} traces scanned in {workflow_s:.1f} s, "
                  f"{summary['counts']['dead_traces']} dead traces found; the direct engine "
                  f"took {direct.timings['total_s']:.2f} s and "
                  f"{'agrees row for row' if same else '[red]DISAGREES[/]'}")


def main() -> None:
    from seisless.local import LocalCloud

    console = Console(soft_wrap=True)
    OUT.mkdir(exist_ok=True)
    say: Progress = lambda line: console.print(f"   [cyan]local[/] {escape(line)}")  # noqa: E731
    started = time.perf_counter()
    console.print("starting the local cloud (moto, with the CDK app's stack deployed in it)")
    with LocalCloud(port=0) as cloud:
        _poststack(cloud, console, say)
        line = make_line(OUT / "line")
        spec = line.spec
        console.print(f"[bold]2.[/] synthetic line: {spec.n_shots} shots modelled with Devito "
                      f"on a {spec.nx} x {spec.nz} true model ({spec.spacing:g} m cells), "
                      f"written to {line.segy}; upload and scan")
        scan_id = upload_line(cloud, line, OUT / "line" / "scan", say)
        run_input = fwi_input(spec, scan_id)
        input_path = OUT / "fwi-input.json"
        input_path.write_text(json.dumps(run_input, indent=2))
        console.print(f"[bold]3.[/] FWI, {ITERATIONS} iterations through the imaging workflow "
                      f"(input: {input_path})")
        result = run_imaging(input_path, OUT / "fwi", cloud=cloud, say=say, timeout_s=1800)
    final_vp = np.load(OUT / "fwi" / f"iter-{ITERATIONS}" / "model.npy")
    plot_models(line, final_vp, OUT / "models.png")
    objective = result["objective"]
    error = [float(np.sqrt(np.mean((vp - line.true_vp) ** 2))) for vp in (line.start_vp, final_vp)]
    console.print(f"   objective per iteration: {', '.join(f'{v:.4g}' for v in objective)} "
                  f"({objective[-1] / objective[0]:.0%} of the first); rms velocity error "
                  f"{error[0] * 1000:.0f} -> {error[1] * 1000:.0f} m/s")
    console.print(f"[bold]Done in {time.perf_counter() - started:.0f} s. Look at:[/]\n"
                  f"   scan map:          {OUT / 'scan' / 'map.png'} (bright spot, dead "
                  "traces)\n"
                  f"   line scan map:     {OUT / 'line' / 'scan' / 'map.png'}\n"
                  f"   models:            {OUT / 'models.png'} (true / starting / FWI)\n"
                  f"   objective:         {OUT / 'fwi' / 'objective.png'}\n"
                  f"   per iteration:     {OUT / 'fwi'}/iter-<k>/ (model.npy, model.png, "
                  "history.json)")


if __name__ == "__main__":
    main()
