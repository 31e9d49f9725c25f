"""Synthetic surveys: realistic SEG-Y files to demo, test and benchmark with.

A post-stack 3-D volume: dipping reflectors convolved with a Ricker wavelet, a bright
spot (a gas-charged sand, the classic amplitude anomaly a scan map should reveal), a few
dead traces, and real headers (inline/crossline, CDP x-y on a rotated grid with a
coordinate scalar), so the scan outputs are meaningful, not just valid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from seisless.segy.write import SegyWriter
from seisless.wavelets import ricker


@dataclass(frozen=True)
class SurveySpec:
    n_inlines: int = 60
    n_crosslines: int = 80
    n_samples: int = 500
    interval_us: int = 4000
    sample_format: int = 1
    byteorder: str = ">"
    first_inline: int = 1000
    first_crossline: int = 2000
    bin_m: float = 25.0
    origin_xy: tuple[float, float] = (605_000.0, 6_072_000.0)
    azimuth_deg: float = 30.0
    peak_hz: float = 25.0
    seed: int = 7


def _inline_block(spec: SurveySpec, il_index: int, rng: np.random.Generator) -> np.ndarray:
    """Traces of one inline: reflectivity series convolved with the wavelet (via FFT)."""
    ns, nxl = spec.n_samples, spec.n_crosslines
    dt = spec.interval_us * 1e-6
    xl = np.arange(nxl)
    refl = np.zeros((nxl, ns))
    for depth, dip_il, dip_xl, strength in ((0.2, 0.4, 0.2, 0.6), (0.45, -0.3, 0.5, -0.4),
                                            (0.7, 0.1, -0.4, 0.5)):
        t = depth * ns + dip_il * il_index + dip_xl * xl
        k = np.clip(t.astype(int), 0, ns - 1)
        amp = np.full(nxl, strength)
        if depth == 0.45:  # the bright spot sits on the second reflector
            d2 = ((il_index - 0.6 * spec.n_inlines) / (0.12 * spec.n_inlines)) ** 2 + \
                 ((xl - 0.4 * nxl) / (0.15 * nxl)) ** 2
            amp = amp * (1 + 4 * np.exp(-d2))
        refl[xl, k] += amp
    refl += 0.02 * rng.standard_normal(refl.shape)
    wavelet = ricker(np.arange(64) * dt, spec.peak_hz, 32 * dt)  # centred: zero phase
    nfft = ns + wavelet.size
    spectrum = np.fft.rfft(refl, nfft, axis=1) * np.fft.rfft(wavelet, nfft)
    traces = np.fft.irfft(spectrum, nfft, axis=1)[:, wavelet.size // 2: wavelet.size // 2 + ns]
    return (1000.0 * traces).astype(np.float32)


def write_survey(path: str | os.PathLike[str], spec: SurveySpec | None = None) -> SurveySpec:
    """Write the synthetic survey to `path`, one inline at a time (bounded memory)."""
    spec = spec or SurveySpec()
    rng = np.random.default_rng(spec.seed)
    az = np.deg2rad(spec.azimuth_deg)
    xl = np.arange(spec.n_crosslines)
    text = ["SEISLESS SYNTHETIC POST-STACK SURVEY", "DIPPING REFLECTORS, BRIGHT SPOT, DEAD TRACES",
            f"INLINES {spec.first_inline}-{spec.first_inline + spec.n_inlines - 1} BYTES 189",
            f"CROSSLINES {spec.first_crossline}-{spec.first_crossline + spec.n_crosslines - 1}"
            " BYTES 193", "CDP X/Y BYTES 181/185, SCALAR -100 (CENTIMETRES)"]
    dead_inline = spec.n_inlines // 3
    with SegyWriter(path, n_samples=spec.n_samples, interval_us=spec.interval_us,
                    sample_format=spec.sample_format, byteorder=spec.byteorder,
                    text=text) as writer:
        for i in range(spec.n_inlines):
            traces = _inline_block(spec, i, rng)
            if i == dead_inline:  # a recording gap: a run of dead traces
                traces[spec.n_crosslines // 4: spec.n_crosslines // 2] = 0.0
            along, across = i * spec.bin_m, xl * spec.bin_m
            x = spec.origin_xy[0] + along * np.cos(az) - across * np.sin(az)
            y = spec.origin_xy[1] + along * np.sin(az) + across * np.cos(az)
            writer.write(traces, {
                "INLINE_3D": spec.first_inline + i,
                "CROSSLINE_3D": spec.first_crossline + xl,
                "CDP": i * spec.n_crosslines + xl + 1,
                "SourceGroupScalar": -100,
                "CDP_X": np.round(x * 100).astype(np.int64),
                "CDP_Y": np.round(y * 100).astype(np.int64),
                "SourceX": np.round(x * 100).astype(np.int64),
                "SourceY": np.round(y * 100).astype(np.int64),
                "GroupX": np.round(x * 100).astype(np.int64),
                "GroupY": np.round(y * 100).astype(np.int64),
                "TraceNumber": xl + 1,
            })
    return spec
