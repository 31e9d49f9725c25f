"""Tiny velocity models for imaging tests (a few seconds to solve)."""

from __future__ import annotations

import numpy as np


def layered(nx: int = 61, nz: int = 41, top: float = 1.5, bottom: float = 2.0,
            interface: int = 20) -> np.ndarray:
    """Two layers, vp in km/s: `top` above cell `interface`, `bottom` below."""
    vp = np.full((nx, nz), top)
    vp[:, interface:] = bottom
    return vp
