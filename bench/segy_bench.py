"""SEG-Y decode + attributes throughput against a segyio baseline, in the same run.

    python bench/segy_bench.py [--size-mb 1024] [--formats 1 5]

For each format: writes a file of --size-mb (4,000 samples per trace), reads it once to
warm the page cache, then times, on one core, (a) the segyio baseline: `trace.raw[a:b]`
blocks plus the same attributes in plain numpy (float64, finite samples), and (b) the
seisless kernel (`scan_range`). For IBM also the conversion alone, in cache: segyio's
converter against the seisless decoder (exact by the standard). Then `run_direct` with 1
and 2 workers, and the peak RSS of a child process scanning the file. Prints one line per
figure; the ratios are the result (the machines are noisy, absolute numbers less so).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import segyio

from seisless.scan import ScanOptions, plan_scan, run_direct, scan_range
from seisless.segy import open_source
from seisless.segy.formats import decoder, sample_format
from seisless.synth import SurveySpec, write_survey

DATA = Path(__file__).parent / "data"
NS = 4000


def make_file(fmt: int, size_mb: int) -> Path:
    path = DATA / f"bench-f{fmt}-{size_mb}mb.sgy"
    n_traces = size_mb * 1024 * 1024 // (240 + 4 * NS)
    n_xl = 200
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        write_survey(path, SurveySpec(n_inlines=max(1, n_traces // n_xl), n_crosslines=n_xl,
                                      n_samples=NS, sample_format=fmt, interval_us=1000))
    return path


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def segyio_baseline(path: Path, block: int = 256) -> float:
    """What one would write with segyio: read blocks of traces, reduce with numpy."""
    start = time.perf_counter()
    with segyio.open(str(path), ignore_geometry=True) as f:
        for a in range(0, f.tracecount, block):
            x = f.trace.raw[a:min(a + block, f.tracecount)].astype(np.float64)
            finite = np.isfinite(x)
            n = finite.sum(axis=1)
            z = np.where(finite, x, 0.0)
            _mean_abs = np.abs(z).sum(axis=1) / n
            _rms = np.sqrt((z * z).sum(axis=1) / n)
            _min = np.where(finite, x, np.inf).min(axis=1)
            _max = np.where(finite, x, -np.inf).max(axis=1)
            _max_abs = np.maximum(np.abs(_min), np.abs(_max))
            _dead = (_max_abs == 0)
            _headers = [f.header[i][segyio.TraceField.FieldRecord]
                        for i in range(a, min(a + block, f.tracecount))]
    return time.perf_counter() - start


def seisless_kernel(path: Path) -> float:
    start = time.perf_counter()
    with open_source(path) as source:
        plan = plan_scan(source, ScanOptions(n_ranges=1))
        scan_range(source, plan.layout, plan.ranges[0], plan.options)
    return time.perf_counter() - start


def ibm_conversion(path: Path, traces: int = 64, repeat: int = 50) -> tuple[float, float]:
    """GB/s of segyio's IBM converter and of the seisless decoder on one in-cache block.

    The block is the file's first `traces` traces, strided over their headers as the scan
    reads them; the scan's decode step is this call, so it isolates the cost of exactness.
    """
    trace_bytes = 240 + 4 * NS
    block = np.fromfile(path, np.uint8, traces * trace_bytes, offset=3600)
    raw = block.reshape(traces, trace_bytes)[:, 240:]
    out = np.empty((traces, NS), np.float32)

    def segyio_native() -> None:
        out.view(">u4")[...] = raw.view(">u4")
        segyio.tools.native(out, format=1, copy=False)

    ours = decoder(sample_format(1), ">")
    timings = []
    for run in (segyio_native, lambda: ours(raw, out)):
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        timings.append(raw.nbytes / best / 1e9)
    return timings[0], timings[1]


def direct(path: Path, workers: int) -> float:
    start = time.perf_counter()
    run_direct(str(path), workers=workers)
    return time.perf_counter() - start


def peak_rss_mb(path: Path) -> float:
    code = ("import sys; from seisless.scan import run_direct; "
            "run_direct(sys.argv[1], workers=1)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--formats", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    for fmt in args.formats:
        path = make_file(fmt, args.size_mb)
        gb = path.stat().st_size / 1e9
        base, ours = [], []
        for _ in range(args.repeat):
            warm(path)
            base.append(segyio_baseline(path))
            warm(path)
            ours.append(seisless_kernel(path))
        b, o = min(base), min(ours)
        print(f"format {fmt}: {gb:.2f} GB, one core: segyio baseline {gb / b:.2f} GB/s, "
              f"seisless {gb / o:.2f} GB/s, ratio {b / o:.1f}x")
        if fmt == 1:
            theirs, ours = ibm_conversion(path)
            print(f"format 1: conversion alone, one core, in cache: segyio converter "
                  f"{theirs:.2f} GB/s, seisless decoder {ours:.2f} GB/s")
        warm(path)
        one = direct(path, 1)
        warm(path)
        two = direct(path, 2)
        print(f"format {fmt}: run_direct 1 worker {gb / one:.2f} GB/s, 2 workers "
              f"{gb / two:.2f} GB/s, speed-up {one / two:.2f}x on {os.cpu_count()} cores")
        print(f"format {fmt}: peak RSS of a scan process {peak_rss_mb(path):.0f} MB "
              f"for a {path.stat().st_size / 2**20:.0f} MiB file")


if __name__ == "__main__":
    main()
