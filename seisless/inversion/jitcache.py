"""Devito's compiled operators shared through the bucket, so one job per run compiles.

Every gradient job of a run builds the same operators, and Devito names each compiled
shared object by a digest of its C code and the compiler configuration
(`<sha1>.so` in `configuration['compiler'].get_jit_dir()`; Devito 4.8 reads only
`TMPDIR` for that folder, not `DEVITO_CACHE_DIR`). Before its first solve a job copies
the run's `runs/<id>/jit-cache/<sha1>.so` into that folder, where Devito finds them and
loads instead of compiling (a few seconds per operator, per container); after its
solves it uploads the ones it compiled. The name is the content's address: the same
name is the same code, so two jobs uploading one name at once do no harm.

What is taken from the bucket is bounded: only names Devito itself would write, no
folder parts, at most `MAX_FILES` of at most `MAX_BYTES` each, written atomically into
Devito's own folder and nowhere else. The objects are code the job will load: anyone who
may write the run's prefix may run code in its gradient jobs, as they may already
change its models and leaves (the gradient role writes only its leaves, trials and
this prefix).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from seisless import storage
from seisless.inversion.keys import RunKeys

#: A shared object as Devito names it: the hex SHA-1 of its code and configuration.
SONAME = re.compile(r"^[0-9a-f]{40}\.so$")
#: Largest object taken from the bucket (a 3-D TTI gradient's operators are ~1 MB).
MAX_BYTES = 64 * 1024 * 1024
#: Most objects taken from the bucket (a run builds a handful of operators).
MAX_FILES = 64


def jit_dir() -> Path:
    """The folder Devito loads its compiled operators from (Devito imported here)."""
    from devito import configuration

    return Path(configuration["compiler"].get_jit_dir())


def _warn(what: str, err: Exception) -> None:
    """The cache only saves time: a failure to use it is one line, and the job goes on."""
    print(f"jit cache: {what} failed ({err}); operators are compiled here", file=sys.stderr)


def _cached(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """name -> size of the usable objects under `prefix` (names with a folder part, or
    not Devito's, are ignored)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    found = {o["Key"][len(prefix):]: o["Size"] for page in pages
             for o in page.get("Contents", [])}
    return {name: size for name, size in found.items()
            if SONAME.match(name) and size <= MAX_BYTES}


def fetch(s3: Any, bucket: str, run_id: str, directory: Path) -> set[str]:
    """Copy the run's compiled operators missing from `directory` into it; the names the
    bucket holds (so `publish` skips them)."""
    prefix = RunKeys(run_id).jit_cache
    try:
        cached = _cached(s3, bucket, prefix)
        for name in sorted(cached)[:MAX_FILES]:
            target = directory / name
            if target.exists():
                continue
            body = storage.get_bytes(s3, bucket, prefix + name, what="a compiled operator")
            if len(body) > MAX_BYTES:
                continue
            # Written beside its name, then renamed: a job never loads half a file.
            fd, partial = tempfile.mkstemp(dir=directory, prefix=".fetch-")
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(partial, target)
    except (ClientError, BotoCoreError, OSError) as err:
        _warn("fetching the run's compiled operators", err)
        return set()
    return set(cached)


def compiled(directory: Path) -> set[str]:
    """The compiled operators in `directory`."""
    return {p.name for p in directory.iterdir()
            if SONAME.match(p.name) and p.is_file() and p.stat().st_size <= MAX_BYTES}


def publish(s3: Any, bucket: str, run_id: str, directory: Path, known: set[str]) -> list[str]:
    """Upload the compiled operators in `directory` but not in `known` (the bucket's, and
    what the folder held before the job: another run's); their names."""
    prefix = RunKeys(run_id).jit_cache
    new = sorted(compiled(directory) - known)
    try:
        for name in new:
            s3.put_object(Bucket=bucket, Key=prefix + name, Body=(directory / name).read_bytes())
    except (ClientError, BotoCoreError, OSError) as err:
        _warn("uploading the compiled operators", err)
    return new
