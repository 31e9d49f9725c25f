"""What a container image of the app holds, read from its Dockerfile, and a check that
code runs with only that.

The local cloud runs handlers and jobs on this machine, where the developer's virtual
environment holds every extra (Devito, moto, the CDK). A handler that imports a package
its image lacks would pass locally and fail on AWS at import. `ImageSpec` reads what the
Dockerfile copies and pip-installs; `check_imports` imports modules in a fresh
interpreter that sees only the copied folders and the installed distributions'
dependency closure, so such a handler fails here as it would in its image.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from seisless.errors import LocalCloudError

#: The project itself, as a pip argument: a path (".", "/x/src") with optional extras.
_LOCAL_PROJECT = re.compile(r"^(?P<path>[./$][^\[\]=<>~!]*)(\[(?P<extras>[^\]]*)\])?$")
PROJECT = "seisless"


@dataclass(frozen=True)
class ImageSpec:
    """The parts of a Dockerfile that decide what code can import."""

    dockerfile: Path
    copied: tuple[str, ...]
    project_extras: tuple[str, ...] | None
    requirements: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _pip_arguments(run: str) -> list[str]:
    """The package arguments of every `pip install` in a RUN line."""
    packages: list[str] = []
    for command in re.split(r"&&|;", run):
        words = shlex.split(command)
        if len(words) >= 2 and words[0] in {"pip", "pip3"} and words[1] == "install":
            packages += [w for w in words[2:] if not w.startswith("-")]
    return packages


def read_image(dockerfile: Path, context: Path) -> ImageSpec:
    """Parse `dockerfile` (its COPY sources are relative to `context`)."""
    copied: list[str] = []
    extras: tuple[str, ...] | None = None
    requirements: list[str] = []
    env: dict[str, str] = {}
    workdir = None
    for word, args in _instructions(dockerfile.read_text()):
        if word == "COPY":
            copied += [s for s in shlex.split(args)[:-1] if (context / s).is_dir()]
        elif word == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(args) if "=" in pair))
        elif word == "WORKDIR":
            workdir = args
        elif word == "RUN":
            for arg in _pip_arguments(args):
                local = _LOCAL_PROJECT.match(arg)
                if local:
                    extras = tuple(e.strip() for e in (local["extras"] or "").split(",")
                                   if e.strip())
                else:
                    requirements.append(arg)
    return ImageSpec(dockerfile=dockerfile, copied=tuple(copied), project_extras=extras,
                     requirements=tuple(requirements), env=env, workdir=workdir)


def _closure(roots: list[tuple[str, tuple[str, ...]]]) -> set[str]:
    """Canonical names of every distribution `roots` pull in (markers evaluated)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name, extras = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise LocalCloudError(f"{name} is required by an image but not installed in "
                                  "this environment; run `make install`") from None
        seen.add(canonicalize_name(name))
        for line in dist.requires or []:
            req = Requirement(line)
            wanted = any(req.marker is None or req.marker.evaluate({"extra": e})
                         for e in (*extras, ""))
            if wanted and (canonicalize_name(req.name) not in seen or req.extras):
                todo.append((req.name, tuple(req.extras)))
    return seen


def installed_closure(spec: ImageSpec) -> set[str]:
    roots = [(Requirement(r).name, tuple(Requirement(r).extras)) for r in spec.requirements]
    if spec.project_extras is not None:
        roots.append((PROJECT, spec.project_extras))
    return _closure(roots)


def blocked_modules(spec: ImageSpec) -> list[str]:
    """Top-level modules installed here that the image would not have."""
    allowed = installed_closure(spec)
    blocked = set()
    for module, dists in metadata.packages_distributions().items():
        if module in sys.stdlib_module_names or module.startswith("_"):
            continue
        if not any(canonicalize_name(d) in allowed for d in dists):
            blocked.add(module)
    return sorted(blocked)


_PROBE = """
import importlib, json, sys
blocked = set({blocked!r})

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}} in image {image!r}")
        return None

sys.meta_path.insert(0, Blocker())
sys.path.insert(0, {root!r})
results = {{}}
for target in {targets!r}:
    module, _, attr = target.partition(":")
    try:
        loaded = importlib.import_module(module)
        if attr:
            getattr(loaded, attr)
        results[target] = None
    except Exception as err:
        results[target] = f"{{type(err).__name__}}: {{err}}"
print(json.dumps(results))
"""


def check_imports(spec: ImageSpec, context: Path, targets: list[str]) -> dict[str, str | None]:
    """Import each `module` or `module:attribute` of `targets` as the image would; the
    error of each one that fails (None for those that import)."""
    with tempfile.TemporaryDirectory(prefix="seisless-image-") as root:
        for name in spec.copied:
            (Path(root) / name).symlink_to((context / name).resolve())
        probe = _PROBE.format(blocked=blocked_modules(spec), root=root, targets=targets,
                              image=str(spec.dockerfile))
        done = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True,
                              text=True, cwd=root, timeout=300, check=False)
    if done.returncode != 0:
        raise LocalCloudError(f"the import check of {spec.dockerfile} failed: "
                              f"{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
