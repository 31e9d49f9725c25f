"""Adjoint dot-product tests: the resampling pair and the Born (linearized) pair."""

from __future__ import annotations

import numpy as np
import pytest

from seisless.imaging import born, gradient
from seisless.imaging.geometry import Resampler
from tests.helpers.models import layered


@pytest.mark.parametrize(("nt", "k"), [(50, 1), (51, 3), (40, 8)])
def test_resampler_transpose(nt: int, k: int) -> None:
    rng = np.random.default_rng(k)
    r = Resampler(nt, k)
    x = rng.standard_normal((r.nt_c, 4))
    y = rng.standard_normal((nt, 4))
    lhs, rhs = np.sum(r.apply(x) * y), np.sum(x * r.adjoint(y))
    assert abs(lhs - rhs) <= 1e-13 * abs(lhs)


def test_resampler_keeps_band_limited_signal() -> None:
    r = Resampler(101, 4)
    t_fine = np.arange(r.nt_c) * 1.0  # ms, data every 4 ms
    signal = np.sin(2 * np.pi * 0.02 * t_fine)[:, None]  # 20 Hz, Nyquist 125 Hz
    coarse = r.apply(signal)[20:-20, 0]
    assert np.max(np.abs(coarse - signal[::4][20:-20, 0])) < 1e-3
    assert np.array_equal(Resampler(7, 1).apply(np.eye(7)), np.eye(7))


def test_born_pair_is_adjoint(tiny) -> None:
    model, shot = tiny
    m0 = model(np.full((61, 41), 1.5))
    rng = np.random.default_rng(0)
    dm = rng.standard_normal(m0.shape)
    r = rng.standard_normal((shot.nt, shot.nrec))
    jdm = born(m0, shot, dm)
    # the LS-RTM gradient at a zero image is J^T (0 - r)
    _, g = gradient(m0, shot.with_data(r), "lsrtm", strategy="full")
    lhs, rhs = np.sum(jdm * r), -np.sum(dm * g)
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_born_pair_is_adjoint_in_float32(tiny) -> None:
    from seisless.imaging import Model

    _, shot = tiny
    m0 = Model(layered(), (10.0, 10.0), nbl=20, space_order=4)
    rng = np.random.default_rng(1)
    dm = rng.standard_normal(m0.shape)
    r = rng.standard_normal((shot.nt, shot.nrec))
    _, g = gradient(m0, shot.with_data(r), "lsrtm", strategy="full")
    lhs, rhs = np.sum(born(m0, shot, dm) * r), -np.sum(dm * g)
    assert abs(lhs - rhs) <= 1e-4 * abs(lhs)
