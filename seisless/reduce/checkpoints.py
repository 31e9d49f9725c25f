"""The fault-injection seam of the reducer: named points where a crash can be simulated.

The reducer calls `checkpoint(name)` at each point where a real Lambda could die and
leave partial effects behind (after a multipart part, after the parent's array, after
its sidecar, after the announcement). Production passes `no_checkpoint`; the chaos
harness passes a function that raises a `BaseException` to kill the invocation there,
exactly as a timeout or an out-of-memory kill would (no cleanup, no ack).
"""

from __future__ import annotations

from collections.abc import Callable

Checkpoint = Callable[[str], None]

#: Names the reducer reports, in the order a parent's computation reaches them.
POINTS = ("part-uploaded", "parent-array-written", "parent-committed", "parent-announced")


def no_checkpoint(name: str) -> None:
    """The production seam: nothing happens at any point."""
