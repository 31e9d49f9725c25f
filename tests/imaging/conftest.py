"""Fixtures for the imaging tests: tiny 2-D layered models (a few seconds to solve)."""

from __future__ import annotations

import os

os.environ.setdefault("DEVITO_LOGGING", "WARNING")

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _release_wavefields():
    """Devito keeps saved wavefields alive in its cache; drop them after each test."""
    yield
    from devito import clear_cache

    clear_cache()


@pytest.fixture
def tiny():
    """A 61 x 41 two-layer model (10 m cells) in float64 and a surface shot over it."""
    from seisless.imaging import Model, Shot

    def model(vp: np.ndarray) -> Model:
        return Model(vp, (10.0, 10.0), nbl=20, space_order=4, dtype=np.float64)

    rec = np.stack([np.linspace(0, 600, 31), np.full(31, 20.0)], axis=1)
    shot = Shot(src=(300.0, 20.0), rec=rec, t1=600.0, dt=4.0, f0=0.015)
    return model, shot


@pytest.fixture
def tiny_tti(tiny):
    """The tiny model and shot as pseudo-acoustic TTI: layered epsilon > delta and a
    smoothly varying tilt (up to 0.5 rad)."""
    from seisless.imaging import TTIModel

    _, shot = tiny
    shape = (61, 41)
    epsilon, delta = np.full(shape, 0.1), np.full(shape, 0.05)
    epsilon[:, 20:], delta[:, 20:] = 0.25, 0.1
    x, z = np.meshgrid(np.arange(61) * 10.0, np.arange(41) * 10.0, indexing="ij")
    theta = 0.5 * np.sin(np.pi * x / 600) * np.cos(np.pi * z / 400)

    def model(vp: np.ndarray, **anisotropy: np.ndarray) -> TTIModel:
        given = {"epsilon": epsilon, "delta": delta, "theta": theta, **anisotropy}
        return TTIModel(vp, (10.0, 10.0), nbl=20, space_order=4, dtype=np.float64, **given)

    return model, shot
