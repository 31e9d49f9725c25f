"""map.png: the survey seen from above, coloured by the largest mean |amplitude|."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pyarrow as pa

MAX_BINS = 400


def _spread(values: np.ndarray) -> float:
    return float(np.ptp(values)) if values.size else 0.0


def _grid(rows: np.ndarray, cols: np.ndarray, values: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max of `values` per (row, col) cell; empty cells are NaN."""
    row_keys, ri = np.unique(rows, return_inverse=True)
    col_keys, ci = np.unique(cols, return_inverse=True)
    image = np.full((row_keys.size, col_keys.size), np.nan)
    np.fmax.at(image, (ri, ci), values)
    return row_keys, col_keys, image


def _bin(x: np.ndarray, y: np.ndarray, values: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nbins = int(min(MAX_BINS, max(8, np.sqrt(x.size))))
    xe = np.linspace(x.min(), x.max(), nbins + 1)
    ye = np.linspace(y.min(), y.max(), nbins + 1)
    xi = np.clip(np.searchsorted(xe, x, side="right") - 1, 0, nbins - 1)
    yi = np.clip(np.searchsorted(ye, y, side="right") - 1, 0, nbins - 1)
    image = np.full((nbins, nbins), np.nan)
    np.fmax.at(image, (yi, xi), values)
    return ye, xe, image


def render_map(traces: pa.Table, title: str) -> bytes:
    """PNG bytes of the map: per inline/crossline if the file has lines, else per CDP
    (or midpoint) x-y, else mean |a| along the trace index."""
    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=110)
    values = traces["mean_abs"].to_numpy(zero_copy_only=False)
    finite = np.isfinite(values)
    col = {name: traces[name].to_numpy() for name in
           ("inline", "crossline", "cdp_x", "cdp_y", "source_x", "source_y",
            "group_x", "group_y")}
    label = "max of mean |a|"
    if _spread(col["inline"]) > 0 and _spread(col["crossline"]) > 0:
        il, xl, image = _grid(col["inline"][finite], col["crossline"][finite], values[finite])
        mesh = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest",
                         extent=(xl[0] - 0.5, xl[-1] + 0.5, il[0] - 0.5, il[-1] + 0.5))
        ax.set_xlabel("crossline")
        ax.set_ylabel("inline")
    else:
        x, y = col["cdp_x"], col["cdp_y"]
        if _spread(x) == 0 and _spread(y) == 0:
            x = (col["source_x"] + col["group_x"]) / 2
            y = (col["source_y"] + col["group_y"]) / 2
        if _spread(x) > 0 and _spread(y) > 0:
            ye, xe, image = _bin(x[finite], y[finite], values[finite])
            mesh = ax.pcolormesh(xe, ye, image)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            ax.set_aspect("equal")
        else:
            mesh = None
            ax.plot(traces["trace"].to_numpy(), values, lw=0.6)
            ax.set_xlabel("trace")
            ax.set_ylabel("mean |a|")
    if mesh is not None:
        fig.colorbar(mesh, ax=ax, label=label)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
