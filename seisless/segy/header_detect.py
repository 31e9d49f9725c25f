"""Header auto-detection: where a file keeps its inline, crossline and CDP x/y words.

SEG-Y rev 1 puts inline/crossline at bytes 189/193 and CDP x/y at 181/185, but many real
files leave those zero and keep the lines elsewhere (9/21, 5/9, 221/225, ...). Guessing
from the values is possible because line numbers are not arbitrary integers: over the file
they form a grid. Each candidate pair is scored on a bounded sample of trace headers (a few
contiguous runs spread over the file: a few ranged GETs for an S3 object of any size):

- both words vary (a zero or constant word is no line number);
- neither word follows the other: the pair tells more traces apart than either word
  alone (a trace counter or a copy of the same line number does not);
- the slow word (the one that changes less often in file order) only moves one way;
- along a slow line the fast word steps by one constant increment (or repeats: pre-stack
  fold);
- each slow line's fast values fill their span at that increment.

The score is the product of the last three fractions, so 1.0 is a perfect regular grid;
it is the confidence reported. A pair scoring under `MIN_CONFIDENCE` is no guess.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from seisless.segy.decode import iter_raw_blocks
from seisless.segy.headers import HeaderKeys
from seisless.segy.layout import Layout
from seisless.segy.source import ByteSource

#: (inline, crossline) byte pairs seen in practice, the standard first: SEG-Y rev 1,
#: field record / CDP ensemble, trace-in-file / field record, the rev 2 "extended" words
#: Petrel and OpendTect write, shot point / scalar-free words used by segyio and MDIO users.
LINE_CANDIDATES: tuple[tuple[int, int], ...] = (
    (189, 193), (9, 21), (5, 9), (221, 225), (213, 217), (9, 13), (17, 21), (9, 17),
    (197, 201), (1, 5),
)
#: (x, y) byte pairs: CDP (standard), source, group.
XY_CANDIDATES: tuple[tuple[int, int], ...] = ((181, 185), (73, 77), (81, 85))
STANDARD_LINES = LINE_CANDIDATES[0]
STANDARD_XY = XY_CANDIDATES[0]
#: A pair scoring below this is not proposed; the standard positions are kept if they
#: score at least `STANDARD_OK` (a few irregular lines must not trigger a switch).
MIN_CONFIDENCE = 0.5
STANDARD_OK = 0.8
#: Trace headers sampled at most, in `SAMPLE_RUNS` contiguous runs spread over the file.
SAMPLE_TRACES = 4096
SAMPLE_RUNS = 8


@dataclass(frozen=True)
class Candidate:
    """One pair of byte positions and how well its values do as (inline, crossline) or
    (x, y); `reason` says why in words, for a person reading a table or summary.json."""

    first: int
    second: int
    score: float
    reason: str


@dataclass(frozen=True)
class Detection:
    """What the sampled headers say about the header positions of a file."""

    sampled_traces: int
    lines: tuple[Candidate, ...]
    xy: tuple[Candidate, ...]
    #: the (inline, crossline) pair proposed, None when the standard is usable or no
    #: candidate forms a grid; likewise `xy_choice`
    line_choice: Candidate | None
    xy_choice: Candidate | None
    notes: tuple[str, ...]

    @property
    def standard_usable(self) -> bool:
        """Whether 189/193 form a grid (then nothing is proposed for the lines)."""
        return self.lines[0].score >= STANDARD_OK

    def keys(self, base: HeaderKeys | None = None) -> HeaderKeys:
        """`base` (default: the standard) with the proposed positions put in."""
        keys = base or HeaderKeys()
        if self.line_choice is not None:
            keys = replace(keys, inline=self.line_choice.first,
                           crossline=self.line_choice.second)
        if self.xy_choice is not None:
            keys = replace(keys, cdp_x=self.xy_choice.first, cdp_y=self.xy_choice.second)
        return keys

    def to_dict(self) -> dict[str, Any]:
        return {
            "sampled_traces": self.sampled_traces,
            "standard_usable": self.standard_usable,
            "keys": asdict(self.keys()),
            "lines": asdict(self.line_choice) if self.line_choice else None,
            "xy": asdict(self.xy_choice) if self.xy_choice else None,
            "line_candidates": [asdict(c) for c in self.lines],
            "xy_candidates": [asdict(c) for c in self.xy],
            "notes": list(self.notes),
        }


def sample_runs(n_traces: int, max_traces: int = SAMPLE_TRACES,
                runs: int = SAMPLE_RUNS) -> list[tuple[int, int]]:
    """(first trace, count) of the runs to read: the whole file when it is small, else
    `runs` runs spread evenly, first and last trace included (grids are often cut at the
    ends), each long enough to cross a line break or two."""
    if n_traces <= max_traces:
        return [(0, n_traces)] if n_traces else []
    length = max_traces // runs
    starts = np.linspace(0, n_traces - length, runs).astype(int)
    return [(int(s), length) for s in starts]


def read_words(source: ByteSource, layout: Layout, positions: set[int],
               runs: list[tuple[int, int]]) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The signed 4-byte words at 1-based `positions` of the sampled trace headers, and
    the run each trace came from (differences in file order are taken within runs)."""
    dtype = np.dtype({"names": [f"b{p}" for p in positions],
                      "formats": [np.dtype(f"{layout.byteorder}i4")] * len(positions),
                      "offsets": [p - 1 for p in positions], "itemsize": layout.trace_length})
    parts: dict[int, list[np.ndarray]] = {p: [] for p in positions}
    run_ids = []
    for index, (first, count) in enumerate(runs):
        for block in iter_raw_blocks(source, layout, first, count):
            view = np.ndarray((block.n_traces,), dtype, block.buffer, 0)
            for p in positions:
                parts[p].append(view[f"b{p}"].astype(np.int64))
            run_ids.append(np.full(block.n_traces, index))
    words = {p: np.concatenate(v) if v else np.zeros(0, np.int64) for p, v in parts.items()}
    return words, np.concatenate(run_ids) if run_ids else np.zeros(0, int)


def _unusable(name: str, byte: int, values: np.ndarray) -> str | None:
    """Why one word cannot be a line number or coordinate, or None if it can."""
    if not values.any():
        return f"{name} word at byte {byte} is zero"
    if values.min() == values.max():
        return f"{name} word at byte {byte} is constant ({int(values[0])})"
    return None


def score_lines(pair: tuple[int, int], words: dict[int, np.ndarray],
                run_ids: np.ndarray) -> Candidate:
    """How regular a grid the words at `pair` form as (inline, crossline); see module."""
    a, b = words[pair[0]], words[pair[1]]
    if a.size < 2:
        return Candidate(*pair, 0.0, "fewer than 2 traces")
    for name, byte, values in (("inline", pair[0], a), ("crossline", pair[1], b)):
        why = _unusable(name, byte, values)
        if why:
            return Candidate(*pair, 0.0, why)
    bins = np.unique(np.stack([a, b], axis=1), axis=0)
    n_a, n_b = np.unique(a).size, np.unique(b).size
    if len(bins) <= max(n_a, n_b):
        return Candidate(*pair, 0.0, f"no grid: the pair tells {len(bins)} traces apart, "
                                     f"no more than one word alone ({max(n_a, n_b)})")
    same_run = run_ids[1:] == run_ids[:-1]
    changes = [int(np.count_nonzero(np.diff(v)[same_run])) for v in (a, b)]
    slow, fast = (a, b) if changes[0] <= changes[1] else (b, a)
    ds, df = np.diff(slow)[same_run], np.diff(fast)[same_run]
    breaks = ds != 0
    monotone = max(np.mean(ds[breaks] > 0), np.mean(ds[breaks] < 0)) if breaks.any() else 1.0
    steps = df[~breaks]
    moving = steps[steps != 0]
    if moving.size == 0:
        return Candidate(*pair, 0.0, "no grid: the fast word never changes along a line")
    values, counts = np.unique(moving, return_counts=True)
    step = int(values[np.argmax(counts)])
    regular = float(np.mean((steps == 0) | (steps == step)))
    fill = _fill(bins if slow is a else bins[:, ::-1], abs(step))
    score = round(float(monotone) * regular * fill, 3)
    sorted_by = "inline" if slow is a else "crossline"
    return Candidate(*pair, score, f"{n_a} inlines x {n_b} crosslines sampled, "
                                   f"{sorted_by}-sorted, step {step}, {regular:.0%} regular "
                                   f"steps, {monotone:.0%} monotone, {fill:.0%} filled")


def _fill(bins: np.ndarray, step: int) -> float:
    """Fraction of each slow line's span (at `step`) holding a fast value, over all lines.

    `bins` are the distinct (slow, fast) pairs sorted by slow then fast (np.unique)."""
    starts = np.flatnonzero(np.r_[True, bins[1:, 0] != bins[:-1, 0]])
    lo = bins[starts, 1]
    hi = bins[np.r_[starts[1:], len(bins)] - 1, 1]
    span = (hi - lo) // step + 1
    return float(min(1.0, len(bins) / span.sum()))


def score_xy(pair: tuple[int, int], words: dict[int, np.ndarray], lines: Candidate) -> Candidate:
    """How well the words at `pair` do as CDP x/y: both vary, and they take about as many
    distinct points as there are (inline, crossline) bins of the line grid `lines`."""
    x, y = words[pair[0]], words[pair[1]]
    for name, byte, values in (("x", pair[0], x), ("y", pair[1], y)):
        why = _unusable(name, byte, values)
        if why:
            return Candidate(*pair, 0.0, why)
    n_xy = len(np.unique(np.stack([x, y], axis=1), axis=0))
    line_words = np.stack([words[lines.first], words[lines.second]], axis=1)
    n_bins = len(np.unique(line_words, axis=0))
    score = round(min(n_xy, n_bins) / max(n_xy, n_bins), 3)
    return Candidate(*pair, score, f"{n_xy} distinct points for {n_bins} line bins")


def detect_header_keys(source: ByteSource, layout: Layout, *,
                       max_traces: int = SAMPLE_TRACES) -> Detection:
    """Score every candidate on sampled trace headers and propose positions where the
    standard ones are unusable (see the module docstring for the rule)."""
    runs = sample_runs(layout.n_traces, max_traces)
    positions = {p for pair in (*LINE_CANDIDATES, *XY_CANDIDATES) for p in pair}
    words, run_ids = read_words(source, layout, positions, runs)
    lines = tuple(score_lines(pair, words, run_ids) for pair in LINE_CANDIDATES)
    notes: list[str] = []
    line_choice = _choose(lines, "inline/crossline", notes)
    grid = lines[0] if line_choice is None and lines[0].score >= STANDARD_OK else line_choice
    if grid is None:  # coordinates are checked against the grid: without one, no guess
        notes.append("CDP x/y: not checked, as no line grid was found")
        return Detection(len(run_ids), lines, (), line_choice, None, tuple(notes))
    xy = tuple(score_xy(pair, words, grid) for pair in XY_CANDIDATES)
    xy_choice = _choose(xy, "CDP x/y", notes)
    return Detection(len(run_ids), lines, xy, line_choice, xy_choice, tuple(notes))


def _choose(candidates: tuple[Candidate, ...], what: str, notes: list[str]) -> Candidate | None:
    """The best non-standard candidate when the standard (first) is unusable, and a note
    on what is used and why in every case, for a scan's summary.json."""
    standard, *others = candidates
    if standard.score >= STANDARD_OK:
        notes.append(f"{what}: the standard bytes {standard.first}/{standard.second} form a "
                     f"grid (confidence {standard.score:.2f}: {standard.reason})")
        return None
    best = max(others, key=lambda c: c.score, default=None)  # first of equals: listed order
    if best is None or best.score < MIN_CONFIDENCE:
        notes.append(f"{what}: the standard bytes {standard.first}/{standard.second} are "
                     f"unusable ({standard.reason}) and no candidate position forms a grid "
                     "(nothing proposed); give the bytes explicitly")
        return None
    notes.append(f"{what}: the standard bytes {standard.first}/{standard.second} are "
                 f"unusable ({standard.reason}); bytes {best.first}/{best.second} detected "
                 f"with confidence {best.score:.2f} ({best.reason})")
    return best
