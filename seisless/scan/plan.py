"""Planning a scan: the layout plus trace-aligned byte ranges, one per worker task.

The plan is the contract between the Plan step and the workers (it becomes the Distributed
Map's manifest), so it is JSON with an explicit version.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from seisless.errors import ConfigError
from seisless.segy import ByteSource, HeaderKeys, Layout, detect_layout, read_traces, sample_format
from seisless.segy.header_detect import detect_header_keys

PLAN_VERSION = 1
MIB = 1024 * 1024
#: A range per ~256 MiB: ~1.5 s of decoding on one core, few enough tasks for small
#: files, and ~700 Lambdas for the notebook's 180 GB file.
DEFAULT_RANGE_BYTES = 256 * MIB


@dataclass(frozen=True)
class ScanOptions:
    """What a user can choose about a scan; every field has a safe default."""

    keys: HeaderKeys = field(default_factory=HeaderKeys)
    #: target bytes per range; None lets the engine choose (DEFAULT_RANGE_BYTES for the
    #: serverless workflow, a few ranges per core for the direct engine)
    range_bytes: int | None = None
    n_ranges: int | None = None
    byteorder: str | None = None
    #: override of the binary header's sample format code (for files that state a wrong one)
    sample_format: int | None = None
    #: replace the standard inline/crossline or CDP x/y positions of `keys` by detected
    #: ones where the standard words are unusable (header_detect.py); the CLI asks for it
    #: when no byte is given, a library caller keeps exactly the keys it passes by default
    detect_keys: bool = False

    def __post_init__(self) -> None:
        if self.range_bytes is not None and self.range_bytes <= 0:
            raise ConfigError(f"range size must be positive, got {self.range_bytes} bytes")
        if self.n_ranges is not None and self.n_ranges <= 0:
            raise ConfigError(f"number of ranges must be positive, got {self.n_ranges}")
        if self.byteorder not in (None, ">", "<"):
            raise ConfigError(f"byte order must be '>' (big) or '<' (little), "
                              f"got {self.byteorder!r}")
        if self.sample_format is not None:
            sample_format(self.sample_format)  # raises a typed error naming the valid codes

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanOptions:
        values = dict(data)
        values["keys"] = HeaderKeys(**values.get("keys", {}))
        return cls(**values)


@dataclass(frozen=True)
class TraceRange:
    """Traces [first_trace, first_trace + n_traces) = bytes [byte_start, byte_stop)."""

    index: int
    first_trace: int
    n_traces: int
    byte_start: int
    byte_stop: int

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def plan_ranges(layout: Layout, *, range_bytes: int = DEFAULT_RANGE_BYTES,
                n_ranges: int | None = None) -> tuple[list[TraceRange], list[str]]:
    """Split the traces into ranges of whole traces, by target size or by count.

    Returns the ranges and notes for the user: a target size that is not a whole number
    of traces is rounded down to whole traces (at least one) and said so.
    """
    notes: list[str] = []
    total = layout.n_traces
    if total == 0:
        return [], ["the file holds no traces"]
    if n_ranges is not None:
        count = min(n_ranges, total)
        if count < n_ranges:
            notes.append(f"{n_ranges} ranges asked for, the file has {total} traces: "
                         f"using {count}")
        base, extra = divmod(total, count)
        sizes = [base + (i < extra) for i in range(count)]
    else:
        per = max(1, range_bytes // layout.trace_length)
        if range_bytes % layout.trace_length:
            notes.append(f"range size {range_bytes} bytes is not a whole number of "
                         f"{layout.trace_length}-byte traces: using {per} traces "
                         f"({per * layout.trace_length} bytes) per range")
        sizes = [min(per, total - s) for s in range(0, total, per)]
    ranges, first = [], 0
    for index, size in enumerate(sizes):
        start = layout.trace_offset(first)
        ranges.append(TraceRange(index, first, size, start, start + size * layout.trace_length))
        first += size
    return ranges, notes


@dataclass(frozen=True)
class ScanPlan:
    source: str
    layout: Layout
    options: ScanOptions
    ranges: tuple[TraceRange, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps({
            "version": PLAN_VERSION,
            "source": self.source,
            "layout": self.layout.to_dict(),
            "options": self.options.to_dict(),
            "ranges": [r.to_dict() for r in self.ranges],
            "notes": list(self.notes),
        })

    @classmethod
    def from_json(cls, text: str | bytes) -> ScanPlan:
        try:
            data = json.loads(text)
            if data.get("version") != PLAN_VERSION:
                raise ConfigError(f"scan plan version {data.get('version')!r} is not "
                                  f"{PLAN_VERSION}; re-plan the scan with this seisless")
            return cls(
                source=data["source"],
                layout=Layout.from_dict(data["layout"]),
                options=ScanOptions.from_dict(data["options"]),
                ranges=tuple(TraceRange(**r) for r in data["ranges"]),
                notes=tuple(data.get("notes", ())),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"not a valid seisless scan plan: {err}") from None

    def to_manifest(self) -> list[dict[str, int]]:
        """One item per range: the Distributed Map's items."""
        return [r.to_dict() for r in self.ranges]


def plan_scan(source: ByteSource, options: ScanOptions | None = None) -> ScanPlan:
    """Detect the layout of `source`, check the last trace, and split it into ranges.

    Reading the last trace header too (one more small GET) makes a wrong sample count
    fail here, before any worker starts, instead of in the middle of a fan-out. With
    `options.detect_keys`, sampled trace headers choose the header keys the workers use,
    and the plan's notes (summary.json) say which and why.
    """
    options = options or ScanOptions()
    layout = detect_layout(source, byteorder=options.byteorder,
                           sample_format=options.sample_format)
    if layout.n_traces > 1:
        read_traces(source, layout, layout.n_traces - 1, 1)
    key_notes: tuple[str, ...] = ()
    if options.detect_keys:
        detection = detect_header_keys(source, layout)
        options = dataclasses.replace(options, keys=detection.keys(options.keys))
        key_notes = detection.notes
    ranges, notes = plan_ranges(layout, range_bytes=options.range_bytes or DEFAULT_RANGE_BYTES,
                                n_ranges=options.n_ranges)
    return ScanPlan(source.name, layout, options, tuple(ranges),
                    tuple(notes) + layout.warnings + key_notes)
