"""The `seisless` command line: thin wrappers over the library, typed errors as exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from seisless.client.engine import ENGINES, LOCAL_ENDPOINT
from seisless.errors import ConfigError, SeislessError
from seisless.names import STACK_NAME

if TYPE_CHECKING:
    import numpy as np

    from seisless.scan import ScanOptions
    from seisless.segy.header_detect import Detection
    from seisless.segy.inspect import Inspection

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Serverless seismic processing: scan SEG-Y files, locally or on AWS.")
# soft_wrap: a path or a cause piped to a file stays on one line (no 80-column folding)
console = Console(stderr=True, soft_wrap=True)

Byte = Annotated[int | None, typer.Option(
    min=1, max=237, help="default: the SEG-Y rev 1 position, or the detected one where "
    "that word is unusable (see seisless inspect)")]
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
    inline_byte: Byte = None,
    crossline_byte: Byte = None,
    cdp_x_byte: Byte = None,
    cdp_y_byte: Byte = None,
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
                    header_bytes: tuple[int | None, ...]) -> ScanOptions | None:
    """The direct engine's options from the command line; None for a workflow engine,
    which scans an upload with the defaults, so any other value is refused there.

    With no header byte given, the standard positions are kept where their words form a
    grid and detected ones used where not; any byte given means the user knows the file,
    so the others are the standard ones and nothing is detected."""
    from seisless.scan import ScanOptions
    from seisless.segy import HeaderKeys

    given = tuple(b or d for b, d in zip(header_bytes, DEFAULT_HEADER_BYTES, strict=True))
    if engine != "direct":
        if (workers, range_mb, byteorder, sample_format) != (None, None, "auto", None) or \
                given != DEFAULT_HEADER_BYTES:
            raise typer.BadParameter("scan options apply to --engine direct only: an upload "
                                     "is scanned with the defaults", param_hint="--engine")
        return None
    orders = {"auto": None, "big": ">", "little": "<"}
    if byteorder not in orders:
        raise typer.BadParameter("byte order is auto, big or little", param_hint="--byteorder")
    inline, crossline, cdp_x, cdp_y = given
    return ScanOptions(
        keys=HeaderKeys(inline=inline, crossline=crossline, cdp_x=cdp_x, cdp_y=cdp_y),
        range_bytes=None if range_mb is None else max(1, int(range_mb * 1024 * 1024)),
        byteorder=orders[byteorder],
        sample_format=sample_format,
        detect_keys=all(b is None for b in header_bytes),
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
def inspect(
    source: Annotated[str, typer.Argument(help="SEG-Y path or s3://bucket/key")],
    traces: Annotated[int, typer.Option(min=1, max=1000, help="trace headers shown")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout")
                       ] = False,
) -> None:
    """Show SOURCE's textual, binary and first trace headers, and the inline/crossline and
    CDP x/y bytes detected in it (S3: a few ranged GETs, whatever the size)."""
    import json

    from seisless.segy import open_source
    from seisless.segy.inspect import inspect_source

    with open_source(source) as src:
        found = inspect_source(src, n_traces=traces)
    if as_json:
        print(json.dumps(found.to_dict(), indent=2))
        return
    out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    _show_text(out, found)
    _show_binary(out, found)
    _show_traces(out, found)
    _show_detection(out, found.detection)


def _show_text(out: Console, found: Inspection) -> None:
    layout = found.layout
    out.print(f"[bold]{escape(found.source)}[/]: {layout.n_traces} traces x "
              f"{layout.n_samples} samples, format {layout.sample_format}, "
              f"{'big' if layout.byteorder == '>' else 'little'}-endian, revision "
              f"{layout.revision[0]}.{layout.revision[1]}, {layout.text_encoding} text")
    for i, text in enumerate(found.texts):
        title = "textual header" if i == 0 else f"extended textual header {i}"
        out.print(Panel(escape(text), title=title, expand=False))
    if found.stanzas:
        out.print("stanzas: " + ", ".join(escape(s) for s in found.stanzas))
    if layout.trace_header_names:
        out.print("additional trace headers: SEG00000 (standard) + " +
                  ", ".join(escape(name) or "(unnamed)" for name in layout.trace_header_names))


def _show_binary(out: Console, found: Inspection) -> None:
    """Non-zero and flagged fields only: most of the 400 bytes are zero in real files."""
    from seisless.segy.inspect import binary_header_byte

    table = Table("bytes", "field", "value", "looks wrong", title="binary header")
    zero = 0
    for row in found.binary:
        if row.value or row.flag:
            table.add_row(binary_header_byte(row), row.name, f"{row.value:g}",
                          f"[red]{escape(row.flag)}[/]")
        else:
            zero += 1
    out.print(table)
    out.print(f"({zero} zero fields not shown)")


def _show_traces(out: Console, found: Inspection) -> None:
    """One row per field that varies, one column per trace: fields outnumber traces."""
    table = Table("byte", "field", *(str(found.first_trace + i) for i in range(found.n_shown)),
                  title=f"trace headers {found.first_trace}..{found.n_shown - 1} "
                        "(fields that vary)")
    for row in found.trace_rows:
        table.add_row(str(row.byte), row.name, *(str(v) for v in row.values))
    out.print(table)
    if found.constant:
        out.print("constant: " + ", ".join(f"{k}={v}" for k, v in found.constant.items()))


def _show_detection(out: Console, detection: Detection) -> None:
    table = Table("bytes", "as", "confidence", "why",
                  title=f"header positions ({detection.sampled_traces} traces sampled)")
    for what, candidates, choice in (("inline/crossline", detection.lines,
                                      detection.line_choice),
                                     ("CDP x/y", detection.xy, detection.xy_choice)):
        for c in candidates:
            mark = "[green]proposed[/] " if c == choice else ""
            table.add_row(f"{c.first}/{c.second}", what, f"{c.score:.2f}",
                          mark + escape(c.reason))
    out.print(table)
    for note in detection.notes:
        out.print(f"[yellow]note[/] {escape(note)}")
    keys = detection.keys()
    out.print(f"scan with: --inline-byte {keys.inline} --crossline-byte {keys.crossline} "
              f"--cdp-x-byte {keys.cdp_x} --cdp-y-byte {keys.cdp_y}")


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
