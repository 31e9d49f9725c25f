"""The `seisless` command line: thin wrappers over the library, typed errors as exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from seisless.client.engine import ENGINES, LOCAL_ENDPOINT
from seisless.errors import ConfigError, SeislessError
from seisless.names import STACK_NAME

if TYPE_CHECKING:
    import numpy as np

    from seisless.scan import ScanOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Serverless seismic processing: scan SEG-Y files, locally or on AWS.")
# soft_wrap: a path or a cause piped to a file stays on one line (no 80-column folding)
console = Console(stderr=True, soft_wrap=True)

Byte = Annotated[int, typer.Option(min=1, max=237)]
#: --inline-byte, --crossline-byte, --cdp-x-byte, --cdp-y-byte (SEG-Y rev 1 positions).
DEFAULT_HEADER_BYTES = (189, 193, 181, 185)
Endpoint = Annotated[str | None, typer.Option(
    help=f"local cloud endpoint for --engine local (default {LOCAL_ENDPOINT}); when "
         "nothing answers there, a local cloud is started for this command")]
StackName = Annotated[str, typer.Option(help="the deployed stack for --engine aws")]


@app.command()
def scan(
    source: Annotated[str, typer.Argument(help="SEG-Y path or s3://bucket/key")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    workers: Annotated[int | None, typer.Option(min=1, help="processes (default: all cores)")
                       ] = None,
    range_mb: Annotated[float | None, typer.Option(
        min=0.001, help="target size of one range in MiB (default: a few per worker)")] = None,
    inline_byte: Byte = 189,
    crossline_byte: Byte = 193,
    cdp_x_byte: Byte = 181,
    cdp_y_byte: Byte = 185,
    byteorder: Annotated[str, typer.Option(help="auto, big or little")] = "auto",
    sample_format: Annotated[int | None, typer.Option(
        "--format", help="override the binary header's sample format code")] = None,
    engine: Annotated[str, typer.Option(
        help="direct (in-process), local (the local cloud's workflow) or aws (the deployed "
             "stack, found by its CloudFormation outputs)")] = "direct",
    endpoint: Endpoint = None,
    stack_name: StackName = STACK_NAME,
) -> None:
    """Scan SOURCE into per-trace attributes, a gathers index, a summary and a map."""
    _check_output_dir(out)
    if engine not in ("direct", *ENGINES):
        raise typer.BadParameter("engine is direct, local or aws", param_hint="--engine")
    options = _direct_options(engine, workers=workers, range_mb=range_mb, byteorder=byteorder,
                              sample_format=sample_format,
                              header_bytes=(inline_byte, crossline_byte, cdp_x_byte, cdp_y_byte))
    if options is None:
        from seisless.client.scan import scan_via_workflow

        summary = scan_via_workflow(source, out, engine=engine, stack_name=stack_name,
                                    endpoint=endpoint, say=_say(engine))
    else:
        summary = _scan_direct(source, out, options, workers)
    _report(summary, out)


def _check_output_dir(out: Path) -> None:
    """Refuse an output folder that cannot be one before any work starts (a scan of
    180 GB must not end in FileExistsError)."""
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--out {out}: {folder} exists and is not a folder; give a "
                              "folder path (it is created if missing)")
        if folder.exists():
            break


def _direct_options(engine: str, *, workers: int | None, range_mb: float | None,
                    byteorder: str, sample_format: int | None,
                    header_bytes: tuple[int, int, int, int]) -> ScanOptions | None:
    """The direct engine's options from the command line; None for a workflow engine,
    which scans an upload with the defaults, so any other value is refused there."""
    from seisless.scan import ScanOptions
    from seisless.segy import HeaderKeys

    if engine != "direct":
        if (workers, range_mb, byteorder, sample_format) != (None, None, "auto", None) or \
                header_bytes != DEFAULT_HEADER_BYTES:
            raise typer.BadParameter("scan options apply to --engine direct only: an upload "
                                     "is scanned with the defaults", param_hint="--engine")
        return None
    orders = {"auto": None, "big": ">", "little": "<"}
    if byteorder not in orders:
        raise typer.BadParameter("byte order is auto, big or little", param_hint="--byteorder")
    inline, crossline, cdp_x, cdp_y = header_bytes
    return ScanOptions(
        keys=HeaderKeys(inline=inline, crossline=crossline, cdp_x=cdp_x, cdp_y=cdp_y),
        range_bytes=None if range_mb is None else max(1, int(range_mb * 1024 * 1024)),
        byteorder=orders[byteorder],
        sample_format=sample_format,
    )


def _scan_direct(source: str, out: Path, options: ScanOptions, workers: int | None) -> dict:
    """Scan in this process with a progress bar; the summary of what was written."""
    from seisless.scan import run_direct

    with Progress(TextColumn("[bold]scan"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("scan", total=None)

        def on_plan(plan) -> None:  # type: ignore[no-untyped-def]
            progress.update(task, total=plan.layout.n_traces * plan.layout.trace_length)

        result = run_direct(source, options, workers=workers, on_plan=on_plan,
                            on_progress=lambda n: progress.advance(task, n))
        progress.update(task, description="write")
        result.write(out)
    return result.summary()


def _say(engine: str) -> Callable[[str], None]:
    """A workflow's progress lines on the console, tagged with the engine (as text: a
    line like `shots done 1/3 [#..]` is not markup)."""
    return lambda line: console.print(f"[cyan]{engine}[/] {escape(line)}")


def _report(summary: dict, out: Path) -> None:
    counts, layout = summary["counts"], summary["layout"]
    console.print(
        f"[green]scanned[/] {summary['source']}: {counts['traces']} traces x "
        f"{layout['n_samples']} samples (format {layout['sample_format']}), "
        f"{counts['dead_traces']} dead, {counts['traces_with_nonfinite']} with NaN/Inf"
        + (f", {summary['timings']['total_s']:.2f} s ({summary['throughput_mb_s']} MB/s)"
           if summary["timings"].get("total_s") else "")
    )
    for note in summary["notes"]:
        console.print(f"[yellow]note[/] {note}")
    for name in summary["outputs"]:
        console.print(f"  {out / name}")


@app.command()
def run(
    input_json: Annotated[Path, typer.Argument(help="the run's input JSON (see the README)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="where results are downloaded")
                   ] = Path("run-output"),
    engine: Annotated[str, typer.Option(
        help="local (the local cloud at --endpoint, or one started for this command) or "
             "aws (the deployed stack)")] = "local",
    resume: Annotated[str | None, typer.Option(
        help="continue this run id from its last completed iteration")] = None,
    endpoint: Endpoint = None,
    stack_name: StackName = STACK_NAME,
) -> None:
    """Start an imaging run (FWI, LS-RTM, RTM), follow it, and download its results."""
    from seisless.client.run import run_imaging

    if engine not in ENGINES:
        raise typer.BadParameter("engine is local or aws", param_hint="--engine")
    _check_output_dir(out)
    run_imaging(input_json, out, engine=engine, resume=resume, stack_name=stack_name,
                endpoint=endpoint, say=_say(engine))


@app.command()
def up(
    port: Annotated[int, typer.Option(min=1, max=65535, help="port on 127.0.0.1")] = 4566,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Lambda sandboxes running at once (default: all cores)")] = None,
) -> None:
    """Start the local cloud (S3, EventBridge, Step Functions, Lambda) until Ctrl-C."""
    import logging

    from seisless.local.serve import up as run_up

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run_up(port=port, workers=workers, say=console.print)


@app.command()
def info(source: Annotated[str, typer.Argument(help="SEG-Y path or s3://bucket/key")]) -> None:
    """Print the layout and the textual header of SOURCE."""
    import json

    from seisless.segy import detect_layout, open_source, read_text_headers

    with open_source(source) as src:
        layout = detect_layout(src)
        texts = read_text_headers(src, layout)
    print(json.dumps(layout.to_dict(), indent=2))
    for text in texts:
        print(text)


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="SEG-Y file to write")],
    inlines: Annotated[int, typer.Option(min=1)] = 60,
    crosslines: Annotated[int, typer.Option(min=1)] = 80,
    samples: Annotated[int, typer.Option(min=1, max=65535)] = 500,
    sample_format: Annotated[int, typer.Option("--format", help="1 (IBM) or 5 (IEEE)")] = 1,
    shots: Annotated[int | None, typer.Option(
        min=1, max=10_000, help="write a 2-D line of this many shot gathers modelled with "
        "Devito instead of a post-stack survey")] = None,
    model: Annotated[Path | None, typer.Option(
        help="with --shots: the true vp (.npy, km/s, (nx, nz)); default: the demo's earth, "
             "written beside OUT as <OUT>.vp.npy")] = None,
    spacing: Annotated[float, typer.Option(min=0.1, help="with --shots: cell size, m")] = 10.0,
    f0: Annotated[float, typer.Option(min=0.001, max=1.0, help="with --shots: source peak "
                                      "frequency, kHz")] = 0.010,
    t1: Annotated[float, typer.Option(min=10.0, help="with --shots: record length, ms")
                  ] = 1000.0,
) -> None:
    """Write a synthetic survey: post-stack (reflectors, a bright spot, dead traces), or
    with --shots a shot-gather line to image."""
    if shots is not None:
        _synth_shots(out, shots, model, spacing=spacing, f0=f0, t1=t1)
        return
    from seisless.synth import SurveySpec, write_survey

    if sample_format not in (1, 5):
        raise typer.BadParameter("format is 1 (IBM float) or 5 (IEEE float)",
                                 param_hint="--format")
    write_survey(out, SurveySpec(n_inlines=inlines, n_crosslines=crosslines,
                                 n_samples=samples, sample_format=sample_format))
    console.print(f"wrote {out}")


def _synth_shots(out: Path, shots: int, model: Path | None, **line: float) -> None:
    """Model a line of shot gathers and say which run input sections describe it."""
    import json

    import numpy as np

    from seisless.imaging import survey

    if model is None:
        vp = survey.true_velocity(survey.LineSpec(spacing=line["spacing"]))
        model = out.with_suffix(".vp.npy")
        np.save(model, vp)
    else:
        vp = _load_model(model)
    spec = survey.line_over(vp, n_shots=shots, **line)
    survey.synthesize(out, spec, vp)
    sections = survey.run_sections(spec, "models/<your starting model>.npy")
    console.print(f"wrote {out}: {shots} shots over {model} ({spec.nx} x {spec.nz} cells of "
                  f"{spec.spacing:g} m); run input sections:")
    print(json.dumps(sections, indent=2))


def _load_model(path: Path) -> np.ndarray:
    """A velocity model from a .npy file (never a pickle)."""
    import numpy as np

    from seisless.errors import SourceError

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise SourceError(f"cannot read {path} as a .npy array: {err}") from None


model_app = typer.Typer(no_args_is_help=True,
                        help="Make a starting model or a water mask from a velocity model.")
app.add_typer(model_app, name="model")
ModelIn = Annotated[Path, typer.Argument(help="vp in km/s, a .npy of (nx, nz) or (nx, ny, nz)")]
ModelOut = Annotated[Path, typer.Option("--out", "-o", help=".npy to write (float32)")]
WaterVelocity = Annotated[float, typer.Option(
    min=0.1, help="km/s; each column's water is its top cells up to the first faster one")]


@model_app.command("smooth")
def model_smooth(
    source: ModelIn,
    out: ModelOut,
    sigma: Annotated[float, typer.Option(min=0.0, help="Gaussian smoothing length, m "
                                         "(well beyond a wavelength: vp / f0)")],
    spacing: Annotated[float, typer.Option(min=0.0, help="the model's cell size, m")],
    keep_water: Annotated[bool, typer.Option(help="keep the water's velocity")] = True,
    water_velocity: WaterVelocity = 1.5,
) -> None:
    """Write a smooth FWI starting model (or LS-RTM background) blurred from SOURCE."""
    import numpy as np

    from seisless.models import starting_model

    start = starting_model(_load_model(source), sigma, spacing, keep_water=keep_water,
                           water_velocity=water_velocity)
    np.save(out, start)
    console.print(f"wrote {out}: vp {start.min():.3g}..{start.max():.3g} km/s")


@model_app.command("mask")
def model_mask(source: ModelIn, out: ModelOut, water_velocity: WaterVelocity = 1.5) -> None:
    """Write fwi.mask_key's array for SOURCE: 0 in the water (frozen), 1 below it."""
    import numpy as np

    from seisless.models import water_mask

    mask = water_mask(_load_model(source), water_velocity)
    np.save(out, mask)
    console.print(f"wrote {out}: {int(mask.size - mask.sum())} water cells frozen of "
                  f"{mask.size}")


def main() -> None:
    """Entry point: a SeislessError is one readable line and exit code 2, never a trace."""
    try:
        app()
    except SeislessError as err:
        console.print(f"[red]error[/] [{err.code}] {err}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
