"""Taylor tests of the FWI and LS-RTM gradients, and the memory strategies."""

from __future__ import annotations

import numpy as np
import pytest

from seisless.imaging import forward, gradient
from tests.helpers.models import layered

STEPS = [2.0**-k for k in range(1, 6)]


def _slopes(phi0: float, gdm: float, phis: list[float]) -> tuple[float, float]:
    e1 = [abs(p - phi0) for p in phis]
    e2 = [abs(p - phi0 - h * gdm) for p, h in zip(phis, STEPS, strict=True)]
    log_h = np.log(STEPS)
    return np.polyfit(log_h, np.log(e1), 1)[0], np.polyfit(log_h, np.log(e2), 1)[0]


def test_fwi_gradient_taylor(tiny) -> None:
    model, shot = tiny
    observed = shot.with_data(forward(model(layered()), shot))
    m0 = np.full((61, 41), 1 / 1.5**2)
    phi0, g = gradient(model(1 / np.sqrt(m0)), observed, strategy="full")
    dm = 1 / layered() ** 2 - m0
    phis = [gradient(model(1 / np.sqrt(m0 + h * dm)), observed, strategy="full")[0]
            for h in STEPS]
    first, second = _slopes(phi0, float(np.sum(g * dm)), phis)
    assert first == pytest.approx(1.0, abs=0.1)
    assert second == pytest.approx(2.0, abs=0.1)


def test_lsrtm_gradient_taylor(tiny) -> None:
    model, shot = tiny
    background = model(np.full((61, 41), 1.5))
    observed = shot.with_data(forward(model(layered()), shot))
    rng = np.random.default_rng(2)
    x0, dx = rng.standard_normal((2, 61, 41)) * 0.01
    phi0, g = gradient(background, observed, "lsrtm", image=x0, strategy="full")
    phis = [gradient(background, observed, "lsrtm", image=x0 + h * dx, strategy="full")[0]
            for h in STEPS]
    first, second = _slopes(phi0, float(np.sum(g * dx)), phis)
    assert first == pytest.approx(1.0, abs=0.1)
    assert second == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("equation", ["tiny", "tiny_tti"])
def test_memory_strategies_agree(equation: str, request: pytest.FixtureRequest) -> None:
    model, shot = request.getfixturevalue(equation)
    observed = shot.with_data(forward(model(layered()), shot))
    start = model(np.full((61, 41), 1.5))
    phi, full = gradient(start, observed, strategy="full")
    phi_c, revolve = gradient(start, observed, strategy="checkpointing", memory_budget=1)
    phi_s, snaps = gradient(start, observed, strategy="snapshots", factor=3)
    assert phi_c == phi and phi_s == phi
    assert np.allclose(revolve, full, rtol=0, atol=1e-12 * np.abs(full).max())
    assert np.linalg.norm(snaps - full) < 0.01 * np.linalg.norm(full)


def test_rtm_is_adjoint_of_born_at_zero_image(tiny) -> None:
    from seisless.imaging import rtm

    model, shot = tiny
    observed = shot.with_data(forward(model(layered()), shot))
    start = model(np.full((61, 41), 1.5))
    image = rtm(start, observed, strategy="full")
    _, g = gradient(start, observed, "lsrtm", strategy="full")
    assert np.array_equal(image, -g)
    assert np.abs(image[:, 18:22]).max() > np.abs(image[:, 30:35]).max()
