"""Source wavelets, in whichever consistent units the caller uses (ms and kHz for the
Devito physics, s and Hz for synthetic SEG-Y): one formula for both."""

from __future__ import annotations

import numpy as np


def ricker(times: np.ndarray, peak: float, delay: float) -> np.ndarray:
    """Ricker wavelet of peak frequency `peak` centred at `delay` (units of 1/peak)."""
    r = (np.pi * peak * (np.asarray(times) - delay)) ** 2
    return (1.0 - 2.0 * r) * np.exp(-r)
