"""Header field tables: byte positions come from segyio's `TraceField`/`BinField`.

A trace header is decoded as a numpy structured array whose itemsize is the whole trace
length, laid straight over the read buffer: one zero-copy view gives every header of a
block of traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import segyio

from seisless.errors import ConfigError

TRACE_HEADER_BYTES = 240

#: Fields whose SEG-Y definition is unsigned (rev 2: sample count and interval).
_UNSIGNED_TRACE_FIELDS = frozenset({"TRACE_SAMPLE_COUNT", "TRACE_SAMPLE_INTERVAL"})


def _enum_items(enum: type) -> list[tuple[str, int]]:
    return sorted(
        ((name, value) for name, value in vars(enum).items()
         if isinstance(value, int) and not name.startswith("_")),
        key=lambda item: item[1],
    )


@cache
def trace_fields() -> tuple[tuple[str, int, int], ...]:
    """(name, 0-based offset, size) of every standard trace header field, from segyio."""
    items = _enum_items(segyio.TraceField)
    fields = []
    for (name, pos), nxt in zip(items, [*(p for _, p in items[1:]), TRACE_HEADER_BYTES + 1],
                                strict=True):
        fields.append((name, pos - 1, nxt - pos))
    return tuple(fields)


@cache
def trace_header_dtype(byteorder: str, itemsize: int) -> np.dtype:
    """Structured dtype of the standard trace header, stride `itemsize` (the trace length)."""
    names, formats, offsets = [], [], []
    for name, offset, size in trace_fields():
        kind = "u" if name in _UNSIGNED_TRACE_FIELDS else "i"
        names.append(name)
        formats.append(np.dtype(f"{byteorder}{kind}{size}"))
        offsets.append(offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": itemsize})


@dataclass(frozen=True)
class HeaderKeys:
    """1-based byte positions of the 4-byte trace header words that locate a trace.

    Defaults are SEG-Y rev 1 (CDP X/Y 181/185, inline/crossline 189/193); real files
    often keep them elsewhere (e.g. inline/crossline at 9/21 or 221/225).
    """

    inline: int = int(segyio.TraceField.INLINE_3D)
    crossline: int = int(segyio.TraceField.CROSSLINE_3D)
    cdp_x: int = int(segyio.TraceField.CDP_X)
    cdp_y: int = int(segyio.TraceField.CDP_Y)

    def __post_init__(self) -> None:
        for name, byte in vars(self).items():
            if not 1 <= byte <= TRACE_HEADER_BYTES - 3:
                raise ConfigError(
                    f"header key {name} at byte {byte}: a 4-byte trace header word starts "
                    f"at byte 1..{TRACE_HEADER_BYTES - 3}"
                )

    def dtype(self, byteorder: str, itemsize: int) -> np.dtype:
        """Structured dtype reading just these four words (they may overlap fields)."""
        keys = vars(self)
        return np.dtype({
            "names": list(keys),
            "formats": [np.dtype(f"{byteorder}i4")] * len(keys),
            "offsets": [byte - 1 for byte in keys.values()],
            "itemsize": itemsize,
        })


def apply_scalar(values: np.ndarray, scalar: np.ndarray) -> np.ndarray:
    """Apply a SEG-Y scalar (e.g. bytes 71-72): >0 multiplies, <0 divides, 0 means 1.

    Dividing (rather than multiplying by 1/|s|) keeps 6201972 / 10 == 620197.2 exactly.
    """
    s = scalar.astype(np.float64)
    v = values.astype(np.float64)
    return np.where(s < 0, v / np.where(s < 0, -s, 1.0), v * np.where(s > 0, s, 1.0))
