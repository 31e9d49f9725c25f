"""Image-faithful environments: what each container image of the app would run with,
rebuilt without Docker from its Dockerfile and its CDK build context.

For every image asset of the cloud assembly (`<Stack>.assets.json`: the build context
after the CDK's excludes, and the Dockerfile in it) the local cloud gets

- a virtual environment holding only what the Dockerfile's `pip install` lines install
  (the project's own package is uninstalled again: its code comes from the copied
  folders, as the image's `COPY` lines give it), cached by what decides its contents
  (interpreter, pip arguments, pyproject.toml), so a second start reuses it;
- a root folder holding only the folders the Dockerfile copies, taken from the build
  context, cached by the asset hash;
- the image's `ENV` and `WORKDIR`.

A handler or job runs with that interpreter, that root as its working directory and
only path entry, and an environment built from the image and the template, never the
caller's shell. What Docker would add and a virtual environment cannot (apt packages, a
different Python) is checked and reported by `warnings`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from seisless.errors import LocalCloudError
from seisless.local.images import PROJECT, ImageSpec, read_image
from seisless.names import STACK_NAME

#: Where environments are kept between runs (override with SEISLESS_CACHE_DIR).
CACHE_DIR = Path(os.environ.get("SEISLESS_CACHE_DIR",
                                Path.home() / ".cache" / "seisless")) / "images"
_ASSET_HASH = re.compile(r"[0-9a-f]{64}")
#: Variables of the machine a process needs to run at all (not configuration).
_MACHINE_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
Say = Callable[[str], None]


@dataclass(frozen=True)
class Runtime:
    """Where one process of an image runs: its interpreter, working directory (the
    image's root of copied folders) and complete environment."""

    python: Path
    cwd: Path
    env: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class ImageEnvironment:
    """One image, as local processes run it."""

    asset_hash: str
    spec: ImageSpec
    python: Path
    root: Path
    warnings: tuple[str, ...] = ()

    def runtime(self, *layers: dict[str, str]) -> Runtime:
        """A process of this image: the machine's bare necessities (PATH, HOME, ...), the
        image's ENV, then `layers` (endpoint, credentials, the template's variables) in
        order; nothing else of the caller's environment."""
        base = {k: os.environ[k] for k in _MACHINE_VARS if k in os.environ}
        base["PATH"] = os.pathsep.join([str(self.python.parent), base.get("PATH", "")])
        env = {**base, **self.spec.env}
        for layer in layers:
            env.update(layer)
        env["PYTHONPATH"] = str(self.root)
        env["PYTHONNOUSERSITE"] = "1"
        return Runtime(python=self.python, cwd=self.root, env=env)


def image_assets(assembly: Path) -> dict[str, tuple[Path, Path]]:
    """{asset hash: (build context, Dockerfile)} of the stack's container images."""
    manifest = assembly / f"{STACK_NAME}.assets.json"
    try:
        images = json.loads(manifest.read_text()).get("dockerImages", {})
    except (OSError, ValueError) as err:
        raise LocalCloudError(f"cannot read the image assets of {assembly} ({err}); "
                              "synthesize the app again") from None
    assets = {}
    for asset_hash, image in images.items():
        context = assembly / image["source"]["directory"]
        assets[asset_hash] = (context, context / image["source"].get("dockerFile",
                                                                     "Dockerfile"))
    return assets


def image_of(uri: Any) -> str:
    """The asset hash an image URI of the template names (the tag CDK gives it)."""
    found = _ASSET_HASH.findall(json.dumps(uri))
    if len(set(found)) != 1:
        raise LocalCloudError(f"cannot tell which image asset {uri} is; the local cloud "
                              "runs images built from this app's Dockerfiles only")
    return found[0]


def _project_requirements(pyproject: Path, extras: tuple[str, ...]) -> list[str]:
    """The requirement strings `pip install .[extras]` resolves, self-references expanded
    (a change to another extra, e.g. dev tools, does not touch this image)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    wanted, todo, seen = list(project.get("dependencies", [])), list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional.get(extra, []):
            own = re.match(rf"^{PROJECT}\[([^\]]*)\]$", line.replace(" ", ""))
            if own:
                todo += own.group(1).split(",")
            else:
                wanted.append(line)
    return sorted(wanted)


def _venv_key(spec: ImageSpec, context: Path) -> str:
    """What decides the environment's contents: the interpreter and the requirements."""
    requirements = list(spec.requirements)
    if spec.project_extras is not None:
        requirements += _project_requirements(context / "pyproject.toml", spec.project_extras)
    digest = hashlib.sha256(json.dumps([sys.version_info[:3], requirements]).encode())
    return digest.hexdigest()[:24]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (two test sessions may build the same environment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check",
                           "--quiet", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise LocalCloudError(f"pip {' '.join(args[:3])} ... failed while building an "
                              f"image environment:\n{tail}")


def _build_venv(spec: ImageSpec, context: Path, target: Path) -> None:
    """A fresh virtual environment with what the Dockerfile pip-installs, built beside
    `target` and moved there only once complete."""
    staging = Path(tempfile.mkdtemp(prefix="venv-", dir=target.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True,
                       capture_output=True)
        python = staging / "bin" / "python"
        packages = list(spec.requirements)
        if spec.project_extras is not None:
            extras = f"[{','.join(spec.project_extras)}]" if spec.project_extras else ""
            packages.append(f"{context}{extras}")
        if packages:
            _pip(python, "install", *packages)
        if spec.project_extras is not None:  # its code comes from the copied folders
            _pip(python, "uninstall", "--yes", PROJECT)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _venv(spec: ImageSpec, context: Path, say: Say) -> Path:
    target = CACHE_DIR / "venvs" / _venv_key(spec, context)
    with _locked(target.with_suffix(".lock")):
        if not target.is_dir():
            say(f"building the environment of {spec.dockerfile.relative_to(context)} "
                f"(once; cached in {target.parent})")
            _build_venv(spec, context, target)
    return target / "bin" / "python"


def _root(spec: ImageSpec, context: Path, asset_hash: str) -> Path:
    """The folders the Dockerfile copies, from the build context (after CDK's excludes)."""
    target = CACHE_DIR / "roots" / asset_hash
    with _locked(target.with_suffix(".lock")):
        if not target.is_dir():
            staging = Path(tempfile.mkdtemp(prefix="root-", dir=target.parent))
            for name in spec.copied:
                shutil.copytree(context / name, staging / name)
            staging.rename(target)
    return target


def _apt_packages(dockerfile: Path) -> list[str]:
    words = re.findall(r"apt-get install ([^&;]+)", dockerfile.read_text().replace("\\\n", " "))
    return [w.split("=")[0] for line in words for w in line.split() if not w.startswith("-")]


def _differences(spec: ImageSpec) -> list[str]:
    """What the image would have that this machine lacks, or has otherwise."""
    notes = []
    for package in _apt_packages(spec.dockerfile):
        found = shutil.which(package) or subprocess.run(
            ["dpkg-query", "-W", package], capture_output=True, check=False).returncode == 0
        if not found:
            notes.append(f"{spec.dockerfile.parent.name}: the image installs {package} "
                         "with apt-get; it is not on this machine")
    base = re.search(r"^FROM\s+\S*python:(\d+\.\d+)", spec.dockerfile.read_text(), re.M)
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if base and base.group(1) != here:
        notes.append(f"{spec.dockerfile.parent.name}: the image runs Python {base.group(1)}; "
                     f"its local environment runs {here}")
    return notes


def prepare(assembly: Path, say: Say = print) -> dict[str, ImageEnvironment]:
    """An environment for every image asset of `assembly`, by asset hash."""
    environments = {}
    for asset_hash, (context, dockerfile) in image_assets(assembly).items():
        spec = read_image(dockerfile, context)
        environments[asset_hash] = ImageEnvironment(
            asset_hash=asset_hash, spec=spec, python=_venv(spec, context, say),
            root=_root(spec, context, asset_hash), warnings=tuple(_differences(spec)))
    return environments
