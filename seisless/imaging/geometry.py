"""Acquisition geometry: one shot, its time axes, its wavelet, and the resampling between
the data's sample interval and the computational time step.

The computational step is the model's stable step rounded *down* so that the data
interval is an integer multiple `k` of it: every data time is a computational time. The
map from computational traces to data traces (`Resampler.apply`) is a Kaiser-windowed
sinc low-pass at the data's Nyquist frequency followed by taking every k-th sample, as a
recording instrument would do; its exact transpose (`Resampler.adjoint`) injects data
residuals, so the gradient is the gradient of the discrete objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from seisless.errors import ImagingError
from seisless.wavelets import ricker

#: Half-width of the resampling kernel, in data samples, and the Kaiser window's beta.
_HALF_WIDTH = 8
_KAISER_BETA = 8.0


@dataclass(frozen=True, eq=False)
class Shot:
    """One shot: where the source and receivers are, how long and how finely it is
    recorded, and optionally its observed data.

    Parameters
    ----------
    src : tuple of float
        Source position in m, (x, z) or (x, y, z).
    rec : array_like
        Receiver positions in m, shape (nrec, ndim).
    t1 : float
        Record length in ms (first sample at 0 ms).
    dt : float
        Data sample interval in ms.
    f0 : float
        Peak frequency of the source in kHz (also bounds the snapshot interval).
    data : array_like, optional
        Observed traces, shape (nt, nrec) sampled at `dt`.
    wavelet : array_like, optional
        Source signature sampled at `dt` (nt samples); a Ricker of `f0` when omitted.
    shot_id : int, optional
        The shot's identifier (its SEG-Y field record number).
    """

    src: tuple[float, ...]
    rec: np.ndarray
    t1: float
    dt: float
    f0: float
    data: np.ndarray | None = None
    wavelet: np.ndarray | None = None
    shot_id: int = 0

    def __post_init__(self) -> None:
        rec = np.atleast_2d(np.asarray(self.rec, dtype=np.float64))
        object.__setattr__(self, "rec", rec)
        object.__setattr__(self, "src", tuple(float(s) for s in self.src))
        if rec.shape[1] != len(self.src):
            raise ImagingError(f"receivers have {rec.shape[1]} coordinates but the source "
                               f"has {len(self.src)}; give (x, z) or (x, y, z) for both")
        if not (self.dt > 0 and self.t1 > 0 and self.f0 > 0):
            raise ImagingError(f"t1, dt (ms) and f0 (kHz) must be positive, got t1={self.t1},"
                               f" dt={self.dt}, f0={self.f0}")
        for name in ("data", "wavelet"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, np.asarray(value, dtype=np.float64))
        if self.data is not None and self.data.shape != (self.nt, self.nrec):
            raise ImagingError(f"data has shape {self.data.shape}, expected (nt, nrec) = "
                               f"({self.nt}, {self.nrec}) for t1={self.t1} ms, dt={self.dt} ms")
        if self.wavelet is not None and self.wavelet.shape != (self.nt,):
            raise ImagingError(f"wavelet has shape {self.wavelet.shape}, expected "
                               f"({self.nt},) samples at dt={self.dt} ms")

    @property
    def nrec(self) -> int:
        return self.rec.shape[0]

    @property
    def nt(self) -> int:
        """Number of data samples: 0, dt, ..., up to t1."""
        return int(np.floor(self.t1 / self.dt + 1e-9)) + 1

    def with_data(self, data: np.ndarray | None) -> Shot:
        return Shot(self.src, self.rec, self.t1, self.dt, self.f0, data, self.wavelet,
                    self.shot_id)

    @classmethod
    def from_traces(cls, samples: np.ndarray, coordinates: dict[str, np.ndarray],
                    dt_ms: float, f0: float, *, source_depth: float = 0.0,
                    receiver_depth: float = 0.0, shot_id: int = 0,
                    origin_x: float = 0.0, origin_y: float | None = None) -> Shot:
        """Build a 2-D shot from decoded SEG-Y traces (3-D, (x, y, depth), when `origin_y`
        is given).

        Parameters
        ----------
        samples : array_like
            Traces as read, shape (ntraces, nsamples).
        coordinates : dict
            `source_x`, `group_x` (and in 3-D `source_y`, `group_y`; m, coordinate
            scalar already applied), one per trace.
        dt_ms : float
            Sample interval from the file, in ms.
        f0 : float
            Peak frequency of the source wavelet in kHz.
        source_depth, receiver_depth : float, optional
            Depths in m (headers rarely hold them reliably; SEG-Y elevations are not
            depths in the model's frame).
        shot_id : int, optional
            The field record number.
        origin_x, origin_y : float, optional
            Subtracted from header x (y) so positions are in the model's frame; a shot
            for a 3-D model has `origin_y` (0 when the frames agree).
        """
        samples = np.asarray(samples)
        if samples.ndim != 2 or samples.shape[0] == 0:
            raise ImagingError(f"expected traces as (ntraces, nsamples), got {samples.shape}")
        axes = {"x": origin_x} if origin_y is None else {"x": origin_x, "y": origin_y}
        try:
            sources = [np.asarray(coordinates[f"source_{a}"], dtype=np.float64) - o
                       for a, o in axes.items()]
            groups = [np.asarray(coordinates[f"group_{a}"], dtype=np.float64) - o
                      for a, o in axes.items()]
        except KeyError as err:
            raise ImagingError(f"coordinates lack {err}; pass the trace block's "
                               "coordinates() (source_x, group_x[, source_y, group_y] in "
                               "m)") from None
        if any(len(c) != samples.shape[0] for c in sources + groups):
            raise ImagingError("need one source and one receiver coordinate per trace")
        for s in sources:
            if np.ptp(s) > 1e-3:
                raise ImagingError(f"traces of shot {shot_id} have different source "
                                   f"positions ({s.min()} to {s.max()} m): not one shot "
                                   "gather")
        rec = np.stack([*groups, np.full_like(groups[0], receiver_depth)], axis=1)
        t1 = dt_ms * (samples.shape[1] - 1)
        return cls(src=(*(s[0] for s in sources), source_depth), rec=rec, t1=t1, dt=dt_ms,
                   f0=f0, data=samples.T.astype(np.float64), shot_id=shot_id)


@dataclass(frozen=True)
class TimeAxes:
    """The data axis (`nt` samples at `dt`) and the computational axis (`nt_c` steps of
    `dt_c = dt / k`), aligned so that data sample j is computational step j*k."""

    dt: float
    nt: int
    k: int

    @classmethod
    def for_shot(cls, shot: Shot, critical_dt: float) -> TimeAxes:
        k = max(1, int(np.ceil(shot.dt / critical_dt - 1e-9)))
        return cls(dt=shot.dt, nt=shot.nt, k=k)

    @property
    def dt_c(self) -> float:
        return self.dt / self.k

    @property
    def nt_c(self) -> int:
        return (self.nt - 1) * self.k + 1

    @cached_property
    def resampler(self) -> Resampler:
        return Resampler(self.nt, self.k)

    def source_signature(self, shot: Shot) -> np.ndarray:
        """The source on the computational axis: an exact Ricker, or the user's wavelet
        interpolated band-limited (k times the transpose of the decimation)."""
        if shot.wavelet is None:
            # Delayed by 1/f0 (Devito's convention), times in ms, f0 in kHz.
            return ricker(np.arange(self.nt_c) * self.dt_c, shot.f0, 1.0 / shot.f0)
        return self.k * self.resampler.adjoint(shot.wavelet[:, None])[:, 0]


class Resampler:
    """Decimation by an integer factor `k` with an anti-alias Kaiser-windowed sinc,
    and its exact transpose.

    Parameters
    ----------
    nt : int
        Number of data samples.
    k : int
        Computational steps per data sample.
    """

    def __init__(self, nt: int, k: int) -> None:
        self.nt, self.k = nt, k
        self.nt_c = (nt - 1) * k + 1
        half = _HALF_WIDTH * k if k > 1 else 0
        taps = np.arange(-half, half + 1)
        window = np.i0(_KAISER_BETA * np.sqrt(1.0 - (taps / (half + 1)) ** 2)) / np.i0(
            _KAISER_BETA)
        kernel = np.sinc(taps / k) * window
        self.taps = taps
        self.kernel = kernel / kernel.sum()

    def apply(self, fine: np.ndarray) -> np.ndarray:
        """Computational traces (nt_c, n) -> data traces (nt, n)."""
        if fine.shape[0] != self.nt_c:
            raise ImagingError(f"expected {self.nt_c} computational samples, got "
                               f"{fine.shape[0]}")
        half = self.taps[-1]
        padded = np.pad(np.asarray(fine, dtype=np.float64), ((half, half), (0, 0)))
        out = np.zeros((self.nt, fine.shape[1]))
        stop = half + self.nt_c
        for tap, weight in zip(self.taps, self.kernel, strict=True):
            out += weight * padded[half + tap:stop + tap:self.k]
        return out

    def adjoint(self, coarse: np.ndarray) -> np.ndarray:
        """Data traces (nt, n) -> computational traces (nt_c, n); the transpose of
        `apply`."""
        if coarse.shape[0] != self.nt:
            raise ImagingError(f"expected {self.nt} data samples, got {coarse.shape[0]}")
        half = self.taps[-1]
        padded = np.zeros((self.nt_c + 2 * half, coarse.shape[1]))
        stop = half + self.nt_c
        for tap, weight in zip(self.taps, self.kernel, strict=True):
            padded[half + tap:stop + tap:self.k] += weight * coarse
        return padded[half:stop]
