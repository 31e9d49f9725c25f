"""Sparsifying transforms for LS-RTM: tight frames C of 2-D and 3-D images.

Linearized Bregman thresholds the coefficients C z of its dual variable and maps them
back with C^T (`seisless.inversion.update.bregman_update`). That is a proper sparsity
prior only when C is a tight (Parseval) frame, C^T C = I: then the identity's image is
recovered exactly when nothing is thresholded, and C^T of the thresholded coefficients is
the image the soft threshold asks for. Each frame here keeps C^T C = I to rounding in
float64.

- `IdentityFrame`: the image itself (a sparse image of point scatterers).
- `WaveletFrame`: an orthogonal wavelet (PyWavelets, periodic boundaries) over every
  axis. Periodization needs every axis divisible by 2^levels, so the image is zero-padded
  to that (P, with P^T P = I) and cropped in the adjoint: C = W P, C^T C = P^T W^T W P = I.
  Reflectors are lines, which a wavelet's few coarse coefficients describe where the
  identity needs every pixel along them.
- `CurveletFrame`: the uniform discrete curvelet transform (`curvelets`, pure NumPy),
  complex coefficients (the soft threshold shrinks their modulus), zero-padded the same
  way; about 2x redundant in 2-D and 4x in 3-D, and oriented like the reflectors.

PyWavelets and curvelets are imported when a frame is made, so the documents that name a
transform (read by Lambdas) load without them.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from seisless.errors import ConfigError

Transform = Literal["identity", "wavelet", "curvelet"]
#: LS-RTM's transform when the run input names none (see bench/lsrtm_sparsity.py).
DEFAULT_TRANSFORM: Transform = "identity"
#: The wavelets of PyWavelets whose transform is orthogonal to rounding in float64 (C^T C
#: = I within 1e-14): Haar, Daubechies and coiflets. Its symlets are orthogonal only to
#: 1e-12 .. 2e-10 (their stored filters are that precise), its discrete Meyer to 3e-2 (a
#: truncated filter), and biorthogonal wavelets are not tight frames at all.
ORTHOGONAL_WAVELET = r"^(haar|db([1-9]|[12][0-9]|3[0-8])|coif([1-9]|1[0-7]))$"


class Frame(Protocol):
    """A tight frame of images of one shape: `adjoint(forward(x)) == x`."""

    def forward(self, image: np.ndarray) -> np.ndarray:
        """The coefficients C x (float64, or complex128 for curvelets)."""

    def adjoint(self, coefficients: np.ndarray) -> np.ndarray:
        """C^T c, a float64 image."""


class IdentityFrame:
    """C = I: the image's own samples are its coefficients."""

    def forward(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(image, np.float64)

    def adjoint(self, coefficients: np.ndarray) -> np.ndarray:
        return np.asarray(coefficients, np.float64)


@dataclass(frozen=True)
class _ZeroPad:
    """Zero-padding of `shape` up to multiples of `multiple` per axis (P), and its
    adjoint, the crop (P^T P = I)."""

    shape: tuple[int, ...]
    multiple: int

    @property
    def padded(self) -> tuple[int, ...]:
        return tuple(-(-n // self.multiple) * self.multiple for n in self.shape)

    @property
    def _inner(self) -> tuple[slice, ...]:
        return tuple(slice(0, n) for n in self.shape)

    def pad(self, image: np.ndarray) -> np.ndarray:
        if image.shape != self.shape:
            raise ConfigError(f"the frame is for images of shape {self.shape}, got "
                              f"{image.shape}")
        out = np.zeros(self.padded, np.float64)
        out[self._inner] = image
        return out

    def crop(self, padded: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(padded[self._inner], np.float64)


@dataclass(frozen=True)
class WaveletFrame:
    """An orthogonal wavelet transform over all axes, `levels` scales, with periodic
    boundaries, of images of `shape` (zero-padded to multiples of 2^levels)."""

    shape: tuple[int, ...]
    wavelet: str = "db4"
    levels: int = 2
    _pad: _ZeroPad = field(init=False, repr=False, compare=False)
    _slices: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        import pywt

        if not re.match(ORTHOGONAL_WAVELET, self.wavelet) or \
                self.wavelet not in pywt.wavelist(kind="discrete"):
            raise ConfigError(f"wavelet {self.wavelet!r} does not make a tight frame: use "
                              "haar, db1..db38 or coif1..coif17")
        if self.levels < 1:
            raise ConfigError(f"levels must be at least 1, got {self.levels}")
        pad = _ZeroPad(tuple(self.shape), 2**self.levels)
        object.__setattr__(self, "_pad", pad)
        _, slices = pywt.coeffs_to_array(self._decompose(np.zeros(pad.padded)))
        object.__setattr__(self, "_slices", slices)

    def _decompose(self, padded: np.ndarray) -> list[Any]:
        import pywt

        with warnings.catch_warnings():
            # Levels beyond the filter's length on a short axis only wrap the filter
            # around the periodic axis: the transform stays orthogonal.
            warnings.filterwarnings("ignore", message="Level value of .* is too high")
            return pywt.wavedecn(padded, self.wavelet, mode="periodization",
                                 level=self.levels)

    def forward(self, image: np.ndarray) -> np.ndarray:
        import pywt

        return pywt.coeffs_to_array(self._decompose(self._pad.pad(image)))[0]

    def adjoint(self, coefficients: np.ndarray) -> np.ndarray:
        import pywt

        coeffs = pywt.array_to_coeffs(coefficients, self._slices, output_format="wavedecn")
        return self._pad.crop(pywt.waverecn(coeffs, self.wavelet, mode="periodization"))


@dataclass(frozen=True)
class CurveletFrame:
    """The uniform discrete curvelet transform of images of `shape`, `levels` curvelet
    scales above the coarse one (zero-padded to multiples of 2^levels and of 4: its
    reconstruction is exact only on such sizes, measured with curvelets 1.2)."""

    shape: tuple[int, ...]
    levels: int = 2
    _pad: _ZeroPad = field(init=False, repr=False, compare=False)
    _udct: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from curvelets.numpy import UDCT

        if self.levels < 1:
            raise ConfigError(f"levels must be at least 1, got {self.levels}")
        pad = _ZeroPad(tuple(self.shape), 2 ** max(self.levels, 2))
        object.__setattr__(self, "_pad", pad)
        object.__setattr__(self, "_udct", UDCT(shape=pad.padded, num_scales=self.levels + 1))

    def forward(self, image: np.ndarray) -> np.ndarray:
        return self._udct.vect(self._udct.forward(self._pad.pad(image)))

    def adjoint(self, coefficients: np.ndarray) -> np.ndarray:
        return self._pad.crop(np.real(self._udct.backward(self._udct.struct(coefficients))))


def make_frame(transform: Transform, shape: tuple[int, ...], *, wavelet: str = "db4",
               levels: int = 2) -> Frame:
    """The frame `transform` names, for images of `shape` (2-D or 3-D)."""
    if len(shape) not in (2, 3):
        raise ConfigError(f"sparsifying transforms are for 2-D and 3-D images, got shape "
                          f"{shape}")
    if transform == "identity":
        return IdentityFrame()
    if transform == "wavelet":
        return WaveletFrame(tuple(shape), wavelet, levels)
    if transform == "curvelet":
        return CurveletFrame(tuple(shape), levels)
    raise ConfigError(f"unknown transform {transform!r}: use identity, wavelet or curvelet")


def soft_threshold(coefficients: np.ndarray, lam: float) -> np.ndarray:
    """Shrink every coefficient's modulus by `lam` (to 0 below it); complex coefficients
    keep their phase (NumPy 2's sign of a complex number is z / |z|)."""
    return np.sign(coefficients) * np.maximum(np.abs(coefficients) - lam, 0.0)
