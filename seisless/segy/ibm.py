"""IBM System/360 floats (SEG-Y format 1), decoded exactly by the standard in one pass.

value = (-1)**S * 0.F * 16**(E-64) for any 24-bit fraction F: the fraction times the
weight of its exponent byte is exact in float64 (24 bits, 2**-280..2**252), so one cast
to float32 rounds it correctly (round-to-nearest-even, ±inf on overflow, subnormals and
signed zeros on underflow). segyio's converter assumes a normalized fraction and is wrong
otherwise (segyio #543), and is 2.4x slower than this loop (bench/RESULTS.md); NumPy
cannot do it without several passes over temporaries, so the loop is compiled with numba.

numba is imported, and the loop compiled (~0.2 s), on the first IBM block a process
decodes: other formats and processes that never read IBM data pay nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache

import numpy as np

#: ±2**(4*(E-64)-24) for the top byte S|E of an IBM word: the weight of one unit of F.
IBM_WEIGHT = np.array([(-1.0) ** (top >> 7) * 2.0 ** (4 * ((top & 0x7F) - 64) - 24)
                       for top in range(256)])

Kernel = Callable[[np.ndarray, bool, np.ndarray, np.ndarray], None]


@cache
def _kernel() -> Kernel:
    import numba

    @numba.njit(nogil=True, boundscheck=False)
    def decode(words: np.ndarray, swap: bool, weight: np.ndarray, out: np.ndarray) -> None:
        n_traces, n_samples = words.shape
        for i in range(n_traces):
            for j in range(n_samples):
                w = words[i, j]
                if swap:
                    w = (((w & 0xFF) << 24) | ((w & 0xFF00) << 8) | ((w >> 8) & 0xFF00)
                         | (w >> 24))
                out[i, j] = (w & 0xFFFFFF) * weight[w >> 24]

    return decode


def ibm_to_float32(raw: np.ndarray, byteorder: str, out: np.ndarray) -> None:
    """Decode `raw`, (traces, 4 * samples) uint8 rows of IBM words stored in `byteorder`
    ('>' or '<'), possibly strided over a larger buffer, into float32 `out` (traces,
    samples), which may be strided too."""
    words = raw.view(np.uint32)  # native order; the kernel swaps where the file's differs
    swap = byteorder != (">" if sys.byteorder == "big" else "<")
    _kernel()(words, swap, IBM_WEIGHT, out)
