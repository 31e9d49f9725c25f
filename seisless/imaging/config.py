"""Typed documents of an imaging run: its config, an iteration's shot list, and the job
environment. Parsed at the edge; anything invalid is a `ConfigError` naming the field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from seisless.errors import ConfigError


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelSpec(_Doc):
    key: str = Field(description="bucket key of the starting vp (.npy float32, km/s)")
    spacing: tuple[float, ...] = Field(min_length=2, max_length=3)
    origin: tuple[float, ...] | None = None
    nbl: int = Field(default=40, ge=1, le=500)
    space_order: int = Field(default=8, ge=2, le=32)


class DataSpec(_Doc):
    segy_key: str = Field(description="bucket key of the observed SEG-Y file")
    gathers_key: str = Field(description="bucket key of the scan's gathers.parquet")


class Acquisition(_Doc):
    f0: float = Field(gt=0, le=1.0, description="source peak frequency, kHz")
    source_depth: float = Field(default=0.0, ge=0)
    receiver_depth: float = Field(default=0.0, ge=0)
    origin_x: float = 0.0


class MemorySpec(_Doc):
    strategy: Literal["auto", "full", "snapshots", "checkpointing"] = "auto"
    factor: int | None = Field(default=None, ge=1)
    budget_bytes: int | None = Field(default=None, ge=1)


class FwiSpec(_Doc):
    vmin: float = Field(gt=0)
    vmax: float = Field(gt=0)
    max_dv: float = Field(default=0.1, gt=0, description="largest velocity change, km/s")
    mask_key: str | None = None


class LsrtmSpec(_Doc):
    method: Literal["bregman", "gradient"] = "bregman"
    lam_fraction: float = Field(default=0.1, gt=0, lt=1)


class ShotSelection(_Doc):
    """Which shots each iteration uses, and how many may fail for good."""

    per_iteration: int | Literal["all"] = Field(
        default="all", description="'all', or a random subset of this many shots (SGD)")
    seed: int = Field(default=0, ge=0, description="subsets are drawn from (seed, iteration)")
    missing_tolerance: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="fraction of an iteration's shots that may fail for good (tombstoned)")

    @model_validator(mode="after")
    def _positive(self) -> ShotSelection:
        if self.per_iteration != "all" and self.per_iteration < 1:
            raise ValueError("per_iteration must be 'all' or a whole number >= 1")
        return self


class RunConfig(_Doc):
    """runs/<id>/config.json."""

    kind: Literal["seisless-run"] = "seisless-run"
    version: Literal[1] = 1
    run_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    objective: Literal["fwi", "lsrtm", "rtm"]
    iterations: int = Field(ge=1, le=10_000)
    fan_in: int = Field(default=10, ge=2, le=1000)
    model: ModelSpec
    data: DataSpec
    acquisition: Acquisition
    memory: MemorySpec = MemorySpec()
    fwi: FwiSpec | None = None
    lsrtm: LsrtmSpec = LsrtmSpec()
    shots: ShotSelection = ShotSelection()


class ShotList(_Doc):
    """runs/<id>/iter-<k>/shots.json: the field records of iteration k, in leaf order."""

    shots: tuple[int, ...] = Field(min_length=1)


def parse(model: type[BaseModel], data: Any, where: str) -> Any:
    """Validate `data` as `model`; a `ConfigError` naming `where` and each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'document'}: "
                             f"{e['msg']}" for e in err.errors())
        raise ConfigError(f"{where} is invalid: {problems}") from None


class JobEnv(_Doc):
    """What a Batch job (or its local stand-in process) is told through its environment."""

    bucket: str = Field(min_length=3, max_length=63)
    run_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    iteration: int = Field(ge=0)
    index: int = Field(default=0, ge=0)
    queue_url: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> JobEnv:
        env = os.environ if environ is None else environ
        names = {"bucket": "SEISLESS_BUCKET", "run_id": "SEISLESS_RUN_ID",
                 "iteration": "SEISLESS_ITERATION", "index": "AWS_BATCH_JOB_ARRAY_INDEX",
                 "queue_url": "REDUCE_QUEUE_URL"}
        missing = [v for k, v in names.items() if k in ("bucket", "run_id", "iteration")
                   and v not in env]
        if missing:
            raise ConfigError(f"environment variables {', '.join(missing)} are not set; "
                              "the job needs the bucket, run id and iteration")
        return parse(cls, {k: env[v] for k, v in names.items() if v in env},
                     "the job environment")
