"""The paper's two imaging examples, small, through the local cloud.

    python -m seisless.examples tti-rtm        # ~2 minutes
    python -m seisless.examples sparse-lsrtm   # ~4 minutes
    python -m seisless.examples mpi-3d         # a 3-D RTM with 2 MPI nodes per shot

`tti-rtm`: RTM of a tilted transversely isotropic earth (Witte et al. image the BP TTI
2007 model). Layers dip 20 degrees under water, their symmetry axis normal to the
bedding; the shots are modelled with the pseudo-acoustic TTI solver and written as a
SEG-Y shot-gather file, which is uploaded and scanned like any survey. The same data are
then migrated twice through the imaging workflow, with the TTI physics (the anisotropy
as bucket keys in the run input) and with isotropic physics, and the picture sets the two
images side by side over the true interfaces.

`sparse-lsrtm`: the paper's sparsity-promoting LS-RTM, small: linearized Bregman with a
curvelet (or wavelet) sparsifying transform on a random subset of the shots per
iteration, on the demo's line.

`mpi-3d`: a small 3-D survey (four shots over a dome) migrated through the local cloud
with each shot's gradient job a Batch multi-node job of 2 nodes (Devito's MPI mode, the
grid split between the ranks), and again with one node: the images agree, and the
picture shows the 2-node image in slices.

Each leaves its run folders and a picture under `examples-output/<example>/`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("DEVITO_LOGGING", "WARNING")  # before Devito is imported

import numpy as np
from rich.console import Console
from rich.markup import escape

from seisless.client.follow import Progress
from seisless.client.run import run_imaging
from seisless.client.scan import scan_via_workflow
from seisless.imaging import survey
from seisless.models import smooth
from seisless.scan.documents import scan_id_for
from seisless.storage import array_bytes

OUT = Path("examples-output")


def upload_survey(cloud: Any, segy: Path, key: str, arrays: dict[str, np.ndarray],
                  scan_dir: Path, say: Progress) -> str:
    """Upload a SEG-Y file (its event starts the scan; wait for it) and the model arrays
    (bucket key -> float32 array); the scan id an imaging run names."""
    scan_via_workflow(segy, scan_dir, cloud=cloud, key=key, say=say)
    s3 = cloud.client("s3")
    for array_key, array in arrays.items():
        s3.put_object(Bucket=cloud.bucket, Key=array_key, Body=array_bytes(array, "<f4"))
    head = s3.head_object(Bucket=cloud.bucket, Key=key)
    return scan_id_for(key, head.get("VersionId"), head["ETag"])


# --- tti-rtm -------------------------------------------------------------------------

#: Dip of the layers and tilt of their symmetry axis, radians.
DIP = np.deg2rad(20.0)
#: (depth of the interface at x = 0 as a fraction of the model depth, vp km/s, epsilon,
#: delta) of each layer below the water, top down.
TTI_LAYERS = ((0.18, 1.9, 0.12, 0.04), (0.40, 2.3, 0.20, 0.08), (0.62, 2.7, 0.25, 0.10))


@dataclass(frozen=True)
class TiltedEarth:
    """The true model of the TTI example, and the interface depths for the picture."""

    spec: survey.LineSpec
    vp: np.ndarray
    epsilon: np.ndarray
    delta: np.ndarray
    theta: np.ndarray

    def interfaces(self) -> list[np.ndarray]:
        """Depth (m) of each layer top along the line."""
        x = self.spec.spacing * np.arange(self.spec.nx)
        depth = self.spec.spacing * (self.spec.nz - 1)
        return [top * depth + x * np.tan(DIP) for top, *_ in TTI_LAYERS]


def tilted_earth(spec: survey.LineSpec) -> TiltedEarth:
    """Water over layers dipping at `DIP`, each with its own vp, epsilon and delta; the
    symmetry axis normal to the bedding (theta = DIP) below the water, none in it (the
    sources sit in isotropic water, where the TTI system has no spurious mode)."""
    shape = (spec.nx, spec.nz)
    x = spec.spacing * np.arange(spec.nx)[:, None]
    z = spec.spacing * np.arange(spec.nz)[None, :]
    depth = spec.spacing * (spec.nz - 1)
    fields = {name: np.zeros(shape) for name in ("epsilon", "delta", "theta")}
    vp = np.full(shape, 1.5)
    for top, velocity, epsilon, delta in TTI_LAYERS:
        below = np.broadcast_to(z >= top * depth + x * np.tan(DIP), shape)
        vp[below] = velocity
        fields["epsilon"][below], fields["delta"][below] = epsilon, delta
        fields["theta"][below] = DIP
    return TiltedEarth(spec, vp.astype(np.float32),
                       **{k: v.astype(np.float32) for k, v in fields.items()})


def migration_model(earth: TiltedEarth) -> dict[str, np.ndarray]:
    """What a processor would migrate with: every field smoothed beyond a wavelength,
    the water kept. Smoothing is a positive average, so delta <= epsilon still holds."""
    cells, water = earth.spec.smoothing_cells, earth.spec.water_cells
    fields = {"vp": earth.vp, "epsilon": earth.epsilon, "delta": earth.delta,
              "theta": earth.theta}
    smoothed = {name: smooth(value, cells).astype(np.float32) for name, value in fields.items()}
    smoothed["vp"][:, :water] = 1.5
    for name in ("epsilon", "delta", "theta"):
        smoothed[name][:, :water] = 0.0
    return smoothed


def model_tti_shots(earth: TiltedEarth, path: Path) -> None:
    """Model the line's shots with the TTI solver and write them as a SEG-Y file."""
    from seisless.imaging import forward
    from seisless.imaging.tti import TTIModel

    spec = earth.spec
    model = TTIModel(earth.vp, (spec.spacing, spec.spacing), epsilon=earth.epsilon,
                     delta=earth.delta, theta=earth.theta, nbl=spec.nbl,
                     space_order=spec.space_order)
    modelled = [shot.with_data(forward(model, shot)) for shot in survey.shots(spec)]
    survey.write_segy(path, spec, modelled)


def rtm_input(spec: survey.LineSpec, scan_id: str, run_id: str,
              anisotropy: dict[str, str]) -> dict[str, Any]:
    """An RTM run over the line; `anisotropy` maps epsilon_key/delta_key/theta_key to
    bucket keys (empty: isotropic physics)."""
    sections = survey.run_sections(spec, "models/tti-vp.npy")
    sections["model"].update(anisotropy)
    return {"scan_id": scan_id, "objective": "rtm", "iterations": 1, "run_id": run_id,
            **sections, "memory": {"strategy": "full"}, "fan_in": 4}


def laplacian_filter(image: np.ndarray) -> np.ndarray:
    """-(d2/dx2 + d2/dz2) of an RTM image (in cells): the usual display filter, which
    takes out the low-wavenumber backscatter the cross-correlation imaging condition
    makes wherever the source wavefield meets its own reflections."""
    out = np.zeros_like(image)
    out[1:-1, :] -= image[2:, :] - 2 * image[1:-1, :] + image[:-2, :]
    out[:, 1:-1] -= image[:, 2:] - 2 * image[:, 1:-1] + image[:, :-2]
    return out


def plot_images(spec: survey.LineSpec, images: dict[str, np.ndarray], path: Path, *,
                interfaces: Sequence[np.ndarray] = (), laplacian: bool = True,
                misfits: dict[str, list[float]] | None = None) -> None:
    """The images side by side (after a Laplacian filter for RTM), each clipped at its
    98th percentile, the true interfaces drawn over them (a reflector migrated with the
    right physics sits on its line), and the runs' misfit per iteration if given."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    extent = (0, spec.width, spec.spacing * (spec.nz - 1), 0)
    panels = len(images) + (misfits is not None)
    fig = Figure(figsize=(5 * panels, 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels))
    x = spec.spacing * np.arange(spec.nx)
    for ax, (title, image) in zip(axes, images.items(), strict=False):
        shown = laplacian_filter(image) if laplacian else image.copy()
        shown[:, :spec.water_cells + 2] = 0.0  # the direct wave's footprint
        shown[:, -3:] = 0.0  # the edge against the absorbing layer
        clip = float(np.percentile(np.abs(shown), 98)) or 1.0
        ax.imshow(shown.T, extent=extent, aspect="auto", cmap="gray", vmin=-clip, vmax=clip)
        for depth in interfaces:
            ax.plot(x, depth, color="tab:red", lw=0.6, ls="--", alpha=0.7)
        ax.set(title=title, xlabel="x (m)", ylabel="depth (m)", ylim=(extent[2], 0))
    if misfits is not None:
        ax = axes[-1]
        for title, values in misfits.items():
            ax.plot(range(len(values)), values, marker="o", label=title)
        ax.set(title="data misfit of each iteration's shots", xlabel="iteration",
               yscale="log")
        ax.legend()
    fig.savefig(path, dpi=90)


def tti_rtm(cloud: Any, out: Path, console: Console, say: Progress) -> Path:
    spec = survey.LineSpec(nx=161, nz=81, n_shots=8, t1=1400.0, water_cells=10)
    earth = tilted_earth(spec)
    out.mkdir(parents=True, exist_ok=True)
    segy = out / "tti-line.sgy"
    console.print(f"[bold]1.[/] a tilted TI earth ({spec.nx} x {spec.nz} cells of "
                  f"{spec.spacing:g} m, layers dipping {np.rad2deg(DIP):.0f} degrees, epsilon "
                  "up to 0.25): model 8 shots with the TTI solver, write SEG-Y, upload, scan")
    model_tti_shots(earth, segy)
    smoothed = migration_model(earth)
    keys = {name: f"models/tti-{name}.npy" for name in smoothed}
    scan_id = upload_survey(cloud, segy, "incoming/tti-line.sgy",
                            {keys[name]: value for name, value in smoothed.items()},
                            out / "scan", say)
    anisotropy = {f"{name}_key": keys[name] for name in ("epsilon", "delta", "theta")}
    images = {}
    for title, run_id, physics in (("TTI RTM", "example-tti-rtm", anisotropy),
                                   ("isotropic RTM of the same data", "example-iso-rtm", {})):
        console.print(f"[bold]2.[/] {title} through the imaging workflow")
        run_input = rtm_input(spec, scan_id, run_id, physics)
        input_path = out / f"{run_id}.json"
        input_path.write_text(json.dumps(run_input, indent=2))
        result = run_imaging(input_path, out / run_id, cloud=cloud, say=say, timeout_s=1800)
        images[title] = np.load(out / run_id / result["result"])
    picture = out / "tti-rtm.png"
    plot_images(spec, images, picture, interfaces=earth.interfaces())
    return picture


# --- sparse-lsrtm --------------------------------------------------------------------

#: Shots per iteration (of the line's 8), drawn at random from (seed, iteration).
SUBSET = 4
LSRTM_ITERATIONS = 6


def scattered_shots(spec: survey.LineSpec, true_vp: np.ndarray,
                    background: np.ndarray) -> list[Any]:
    """The line's shots minus the background's: the reflections a linearised inversion
    fits (the direct wave and the smooth part removed, as a processor would)."""
    observed = survey.model_shots(spec, true_vp)
    smooth_part = survey.model_shots(spec, background)
    return [shot.with_data(shot.data - part.data)
            for shot, part in zip(observed, smooth_part, strict=True)]


def lsrtm_input(spec: survey.LineSpec, scan_id: str, run_id: str, model_key: str,
                transform: str) -> dict[str, Any]:
    """Sparsity-promoting LS-RTM over the line: linearized Bregman thresholding the
    coefficients of `transform`, a random `SUBSET` of the shots per iteration."""
    return {"scan_id": scan_id, "objective": "lsrtm", "iterations": LSRTM_ITERATIONS,
            "run_id": run_id, **survey.run_sections(spec, model_key),
            "lsrtm": {"method": "bregman", "transform": transform, "levels": 2,
                      "lam_fraction": 0.5},
            "shots": {"per_iteration": SUBSET, "seed": 1},
            "memory": {"strategy": "full"}, "fan_in": 4}


def sparse_lsrtm(cloud: Any, out: Path, console: Console, say: Progress) -> Path:
    spec = survey.LineSpec()
    true_vp = survey.true_velocity(spec)
    background = survey.starting_velocity(spec, true_vp)
    out.mkdir(parents=True, exist_ok=True)
    segy = out / "scattered-line.sgy"
    console.print(f"[bold]1.[/] the demo's line ({spec.n_shots} shots): model it on the true "
                  "earth and on the smooth background, keep the difference (reflections "
                  "only), write SEG-Y, upload, scan")
    survey.write_segy(segy, spec, scattered_shots(spec, true_vp, background))
    model_key = "models/line-background.npy"
    scan_id = upload_survey(cloud, segy, "incoming/scattered-line.sgy",
                            {model_key: background}, out / "scan", say)
    images, misfits = {}, {}
    for transform in ("curvelet", "identity"):
        run_id = f"example-lsrtm-{transform}"
        console.print(f"[bold]2.[/] LS-RTM, linearized Bregman on {transform} coefficients, "
                      f"{LSRTM_ITERATIONS} iterations of {SUBSET} random shots")
        input_path = out / f"{run_id}.json"
        input_path.write_text(json.dumps(lsrtm_input(spec, scan_id, run_id, model_key,
                                                     transform), indent=2))
        result = run_imaging(input_path, out / run_id, cloud=cloud, say=say, timeout_s=1800)
        title = f"{transform} sparsity"
        images[title] = np.load(out / run_id / result["result"])
        misfits[title] = result["objective"]
    picture = out / "sparse-lsrtm.png"
    plot_images(spec, images, picture, laplacian=False, misfits=misfits)
    return picture


# --- mpi-3d --------------------------------------------------------------------------

#: The 3-D example's survey origin (easting, northing), m.
ORIGIN_3D = (610_000.0, 6_080_000.0)


@dataclass(frozen=True)
class Survey3D:
    """A small 3-D earth and its shots: four sources at the corners of the middle, a
    surface grid of receivers (every other cell), water on top."""

    vp: np.ndarray
    spacing: float = 20.0
    water_cells: int = 5
    depth: float = 10.0
    t1: float = 900.0
    dt: float = 4.0
    f0: float = 0.012
    nbl: int = 20

    def shots(self) -> list[Any]:
        from seisless.imaging import Shot

        nx, ny, _ = self.vp.shape
        gx, gy = np.meshgrid(self.spacing * np.arange(0, nx, 2),
                             self.spacing * np.arange(0, ny, 2), indexing="ij")
        rec = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, self.depth)], axis=1)
        quarter = self.spacing * np.array([(nx - 1) / 4, 3 * (nx - 1) / 4])
        sources = [(x, y) for x in quarter for y in quarter]
        return [Shot((x, y, self.depth), rec, self.t1, self.dt, self.f0, shot_id=2001 + k)
                for k, (x, y) in enumerate(sources)]


def dome_earth(shape: tuple[int, int, int] = (41, 41, 31), spacing: float = 20.0) -> Survey3D:
    """Water, a layer dipping along x, and a dome below it: vp in km/s, (nx, ny, nz)."""
    x, y, z = (spacing * np.arange(n) for n in shape)
    x, y, z = x[:, None, None], y[None, :, None], z[None, None, :]
    vp = np.full(shape, 1.5)
    vp = np.where(z >= 240.0 + 0.15 * x, 1.9, vp)
    radius2 = ((x - x.mean()) ** 2 + (y - y.mean()) ** 2) / 250.0 ** 2
    vp = np.where(z >= 460.0 - 120.0 * np.exp(-radius2), 2.4, vp)
    earth = Survey3D(vp.astype(np.float32), spacing=spacing)
    earth.vp[:, :, :earth.water_cells] = 1.5
    return earth


def plot_slices(image: np.ndarray, spacing: float, path: Path, title: str) -> None:
    """Inline (middle y), crossline (middle x) and depth slices of a 3-D image, after the
    Laplacian filter along x and depth, clipped at the 98th percentile."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    nx, ny, nz = image.shape
    filtered = np.stack([laplacian_filter(image[:, j]) for j in range(ny)], axis=1)
    filtered[:, :, :7] = 0.0  # the direct wave's footprint
    clip = float(np.percentile(np.abs(filtered), 98)) or 1.0
    depth = int(0.7 * nz)
    sections = (("inline (y middle)", filtered[:, ny // 2].T, "x (m)", "depth (m)"),
                ("crossline (x middle)", filtered[nx // 2].T, "y (m)", "depth (m)"),
                (f"depth slice at {depth * spacing:g} m", filtered[:, :, depth].T, "x (m)",
                 "y (m)"))
    fig = Figure(figsize=(14, 4), layout="constrained")
    for ax, (name, section, xlabel, ylabel) in zip(fig.subplots(1, 3), sections, strict=True):
        height = section.shape[0] - 1
        ax.imshow(section, extent=(0, spacing * (section.shape[1] - 1), spacing * height, 0),
                  aspect="auto", cmap="gray", vmin=-clip, vmax=clip)
        ax.set(title=name, xlabel=xlabel, ylabel=ylabel)
    fig.suptitle(title)
    fig.savefig(path, dpi=90)


def mpi_3d(cloud: Any, out: Path, console: Console, say: Progress) -> Path:
    from seisless.imaging import Model, forward
    from seisless.imaging.survey import write_shots

    earth = dome_earth()
    nx, ny, nz = earth.vp.shape
    out.mkdir(parents=True, exist_ok=True)
    segy = out / "dome-3d.sgy"
    console.print(f"[bold]1.[/] a 3-D earth ({nx} x {ny} x {nz} cells of {earth.spacing:g} m: "
                  "water, a dipping layer, a dome): model 4 shots into a surface grid of "
                  "receivers, write SEG-Y (x and y in the headers), upload, scan")
    model = Model(earth.vp, (earth.spacing,) * 3, nbl=earth.nbl, space_order=8)
    modelled = [shot.with_data(forward(model, shot)) for shot in earth.shots()]
    write_shots(segy, modelled, interval_us=round(earth.dt * 1000), origin=ORIGIN_3D,
                text=["seisless 3-D example: shot gathers, IEEE float"])
    background = smooth(earth.vp, 3.0).astype(np.float32)
    background[:, :, :earth.water_cells] = 1.5
    model_key = "models/dome-3d-background.npy"
    scan_id = upload_survey(cloud, segy, "incoming/dome-3d.sgy", {model_key: background},
                            out / "scan", say)
    images = {}
    for nodes in (2, 1):
        run_id = f"example-3d-rtm-{nodes}-node"
        how = "MPI, the grid split in x between 2 ranks" if nodes > 1 else "one process"
        console.print(f"[bold]2.[/] RTM with {nodes} node(s) per shot ({how})")
        run_input = {"scan_id": scan_id, "objective": "rtm", "iterations": 1, "run_id": run_id,
                     "model": {"key": model_key, "spacing": [earth.spacing] * 3,
                               "nbl": earth.nbl, "space_order": 8},
                     "acquisition": {"f0": earth.f0, "source_depth": earth.depth,
                                     "receiver_depth": earth.depth, "origin_x": ORIGIN_3D[0],
                                     "origin_y": ORIGIN_3D[1]},
                     "nodes_per_shot": nodes, "memory": {"strategy": "full"}, "fan_in": 4}
        input_path = out / f"{run_id}.json"
        input_path.write_text(json.dumps(run_input, indent=2))
        result = run_imaging(input_path, out / run_id, cloud=cloud, say=say, timeout_s=1800)
        images[nodes] = np.load(out / run_id / result["result"])
    difference = float(np.abs(images[2] - images[1]).max() / np.abs(images[1]).max())
    console.print(f"   2-node image against 1-node image: largest difference {difference:.2e} "
                  "of the largest value")
    picture = out / "mpi-3d.png"
    plot_slices(images[2], earth.spacing, picture,
                f"3-D RTM, 2 nodes per shot (differs from 1 node by {difference:.1e})")
    return picture


EXAMPLES: dict[str, Callable[[Any, Path, Console, Progress], Path]] = {
    "tti-rtm": tti_rtm, "sparse-lsrtm": sparse_lsrtm, "mpi-3d": mpi_3d}


def main(argv: list[str] | None = None) -> int:
    from seisless.local import LocalCloud

    names = (argv if argv is not None else sys.argv[1:]) or list(EXAMPLES)
    unknown = [name for name in names if name not in EXAMPLES]
    console = Console(soft_wrap=True)
    if unknown:
        console.print(f"[red]unknown example {', '.join(unknown)}[/]; choose from "
                      f"{', '.join(EXAMPLES)}")
        return 2
    say: Progress = lambda line: console.print(f"   [cyan]local[/] {escape(line)}")  # noqa: E731
    console.print("starting the local cloud (moto, with the CDK app's stack deployed in it)")
    with LocalCloud(port=0) as cloud:
        for name in names:
            started = time.perf_counter()
            picture = EXAMPLES[name](cloud, OUT / name, console, say)
            console.print(f"[bold]{name} done in {time.perf_counter() - started:.0f} s[/]: "
                          f"{picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
