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
    from seisless.scan import ScanOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Serverless seismic processing: scan SEG-Y files, locally or on AWS.")
console = Console(stderr=True)

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
) -> None:
    """Write a synthetic post-stack survey (reflectors, a bright spot, dead traces)."""
    from seisless.synth import SurveySpec, write_survey

    if sample_format not in (1, 5):
        raise typer.BadParameter("format is 1 (IBM float) or 5 (IEEE float)",
                                 param_hint="--format")
    write_survey(out, SurveySpec(n_inlines=inlines, n_crosslines=crosslines,
                                 n_samples=samples, sample_format=sample_format))
    console.print(f"wrote {out}")


def main() -> None:
    """Entry point: a SeislessError is one readable line and exit code 2, never a trace."""
    try:
        app()
    except SeislessError as err:
        console.print(f"[red]error[/] [{err.code}] {err}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
