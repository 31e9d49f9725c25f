"""Pictures of models and images, written next to each iteration's arrays."""

from __future__ import annotations

import io

import numpy as np

from seisless.inversion.documents import RunConfig

#: Images are shown clipped at this percentile of |amplitude|.
IMAGE_CLIP_PERCENTILE = 98.0


def model_png(array: np.ndarray, config: RunConfig) -> bytes:
    """A picture of a 2-D model/image (3-D: its middle y slice), depth down."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    section = array if array.ndim == 2 else array[:, array.shape[1] // 2]
    dx, dz = config.model.spacing[0], config.model.spacing[-1]
    origin = config.model.origin or (0.0,) * array.ndim
    # The grid's x = 0 is the survey's easting origin_x (see the run input), so the
    # picture's axis reads in the survey's coordinates.
    x0, z0 = config.acquisition.origin_x + origin[0], origin[-1]
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    extent = (x0, x0 + dx * (section.shape[0] - 1), z0 + dz * (section.shape[1] - 1), z0)
    if config.objective == "fwi":
        shown = ax.imshow(section.T, extent=extent, aspect="auto", cmap="viridis")
    else:  # an image: clip the few huge values at the sources so reflectors show
        clip = float(np.percentile(np.abs(section), IMAGE_CLIP_PERCENTILE)) or 1.0
        shown = ax.imshow(section.T, extent=extent, aspect="auto", cmap="gray",
                          vmin=-clip, vmax=clip)
    fig.colorbar(shown, ax=ax, label="vp (km/s)" if config.objective == "fwi" else "image")
    ax.set(xlabel="x (m, survey easting)", ylabel="depth (m)", title=f"{config.run_id}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    return buf.getvalue()
