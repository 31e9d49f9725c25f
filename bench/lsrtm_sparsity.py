"""LS-RTM with and without a sparsifying transform: data misfit per iteration at the same
sparsity, on the demo's line (8 shots, 101 x 51 cells, smooth background).

Every run is linearized Bregman through the real gradient jobs (Devito) and update job
against moto, in one process (`tests.inversion.loop`). The identity run uses
`--lam-fraction`; each transform run gets the lam_fraction whose first threshold keeps as
many nonzero coefficients as the identity's keeps pixels (`tests.inversion.sparsity_runs`),
and, with `--same-rule`, also the identity's lam_fraction as it is. The data are the
line's shots less the background's (`--data scattered`, the default: what LS-RTM should
fit) or the SEG-Y as the demo writes it, direct wave included (`--data line`). Prints the
misfit and the nonzero coefficients per iteration and the misfit of the image each run
holds relative to the identity's, and writes a picture: the last images side by side and
the misfit curves. Results: bench/RESULTS.md.

    PYTHONPATH=. python bench/lsrtm_sparsity.py --iterations 10 --lam-fraction 0.5 \\
        --transform curvelet::2 --transform wavelet:db4:2 --same-rule --out lsrtm.png
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("DEVITO_LOGGING", "WARNING")

import numpy as np

from seisless.imaging import survey
from seisless.inversion.pictures import IMAGE_CLIP_PERCENTILE
from seisless.inversion.sparsity import make_frame
from tests.inversion.sparsity_runs import (
    Series,
    held,
    line_cloud,
    matched_lam_fraction,
    run_lsrtm,
)


def _transform(text: str) -> tuple[str, dict[str, object]]:
    """'wavelet:db4:3' -> ('wavelet', {'wavelet': 'db4', 'levels': 3}); 'curvelet::3'."""
    kind, _, rest = text.partition(":")
    name, _, levels = rest.partition(":")
    options: dict[str, object] = {"wavelet": name} if name else {}
    if levels:
        options["levels"] = int(levels)
    return kind, options


def _label(run: Series, text: str, rule: str) -> str:
    return f"{text} lam {run.lam_fraction:.3g} ({rule})"


def report(runs: list[tuple[Series, str]], pixels: int) -> None:
    print(f"{'run':<44} misfit of each iterate (0: the zero image; * = rejected step)")
    for run, label in runs:
        cells = " ".join(f"{phi:9.4g}{'' if ok else '*'}"
                         for phi, ok in zip(run.misfit, run.accepted, strict=True))
        print(f"{label:<44} {cells}")
    print(f"\n{'run':<44} nonzero coefficients of iterates 1.., % of the {pixels} pixels "
          "(- = rejected)")
    for run, label in runs:
        print(f"{label:<44} {'':9} " + " ".join(
            f"{'-' if n is None else f'{100 * n / pixels:.2f}':>9}" for n in run.nonzeros))
    reference = held(runs[0][0])
    print("\nmisfit of the image held after each iteration (the last accepted iterate), "
          "relative to the identity's:")
    for run, label in runs[1:]:
        print(f"{label:<44} " + " ".join(f"{a / b:9.3f}" for a, b in
                                        zip(held(run), reference, strict=True)))


def picture(runs: list[tuple[Series, str]], spec: survey.LineSpec, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5 * len(runs), 6.5), layout="constrained")
    grid = fig.add_gridspec(2, len(runs), height_ratios=(1, 1))
    extent = (0.0, spec.width, spec.spacing * (spec.nz - 1), 0.0)
    for column, (run, label) in enumerate(runs):
        ax = fig.add_subplot(grid[0, column])
        clip = float(np.percentile(np.abs(run.image), IMAGE_CLIP_PERCENTILE)) or 1.0
        ax.imshow(run.image.T, extent=extent, aspect="auto", cmap="gray", vmin=-clip,
                  vmax=clip)
        ax.set(title=label, xlabel="x (m)", ylabel="depth (m)")
    ax = fig.add_subplot(grid[1, :])
    for run, label in runs:
        ax.semilogy(range(len(run.misfit)), held(run), marker="o", label=label)
    ax.set(xlabel="iteration", ylabel="misfit of the image held, 0.5||J x - d||^2",
           title="LS-RTM (linearized Bregman) on the demo's line; same nonzeros: as many "
           "nonzero coefficients as the identity's at the first update")
    ax.legend()
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--lam-fraction", type=float, default=0.1,
                        help="the identity run's threshold, a fraction of max|z_1|")
    parser.add_argument("--transform", action="append", default=None,
                        help="kind[:wavelet[:levels]] (repeatable; default wavelet:db4:3)")
    parser.add_argument("--same-rule", action="store_true",
                        help="also run each transform with the identity's lam_fraction")
    parser.add_argument("--data", choices=("scattered", "line"), default="scattered",
                        help="the line's shots less the background's (default), or as "
                        "they are (with the direct wave, which LS-RTM then fits with "
                        "the cells at the sources)")
    parser.add_argument("--out", type=Path, default=Path("lsrtm-sparsity.png"))
    args = parser.parse_args()
    spec = survey.LineSpec()
    shape = (spec.nx, spec.nz)
    started = time.perf_counter()
    with line_cloud(spec, scattered=args.data == "scattered") as cloud:
        identity = run_lsrtm(cloud, spec, "identity", "identity", args.lam_fraction,
                             args.iterations)
        runs = [(identity, _label(identity, "identity", "reference"))]
        for n, text in enumerate(args.transform or ["wavelet:db4:3"]):
            kind, options = _transform(text)
            frame = make_frame(kind, shape, **options)  # type: ignore[arg-type]
            fractions = [matched_lam_fraction(frame, identity.first_z, args.lam_fraction)]
            if args.same_rule:
                fractions.append(args.lam_fraction)
            for m, fraction in enumerate(fractions):
                run = run_lsrtm(cloud, spec, f"{kind}-{n}-{m}", kind, fraction,
                                args.iterations, **options)
                runs.append((run, _label(run, text, "same rule" if m else "same nonzeros")))
    report(runs, int(np.prod(shape)))
    picture(runs, spec, args.out)
    print(f"\npicture: {args.out}; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
