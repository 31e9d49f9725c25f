"""Small SEG-Y files with their header words where real writers put them, not where
SEG-Y rev 1 says: the inputs of header auto-detection tests at every level."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def lines_at_9_21(path: Path) -> Path:
    """A small post-stack survey (6 inlines x 8 crosslines) whose lines sit at 9/21
    (field record / CDP ensemble), 189/193 left zero."""
    from seisless.segy.write import SegyWriter

    il, xl = np.meshgrid(np.arange(10, 16), np.arange(1, 9), indexing="ij")
    with SegyWriter(path, n_samples=20, interval_us=4000) as writer:
        writer.write(np.random.default_rng(1).standard_normal((il.size, 20)).astype(np.float32),
                     {"FieldRecord": il.ravel(), "CDP": xl.ravel(),
                      "CDP_X": 100 * il.ravel(), "CDP_Y": 100 * xl.ravel()})
    return path
