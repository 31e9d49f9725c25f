"""Acoustic and pseudo-acoustic TTI imaging on Devito: modelling, FWI and LS-RTM
gradients, RTM.

Units are Devito's seismic conventions: km/s, m, ms, kHz; gradients and images are with
respect to squared slowness (s^2/km^2) on the physical grid.
"""

from __future__ import annotations

from seisless.imaging.geometry import Shot
from seisless.imaging.model import Model
from seisless.imaging.solver import born, forward, gradient, rtm
from seisless.imaging.tti import TTIModel

__all__ = ["Model", "Shot", "TTIModel", "born", "forward", "gradient", "rtm"]
