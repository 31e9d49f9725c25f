"""Typed documents of the imaging state machine: its execution input and its state.

The execution input is what a user types into the Step Functions console (or gives to
`seisless run`): it names the observed data by scan id, the starting model by key, and
the inversion's settings. Init turns it into `runs/<id>/config.json` (`RunConfig`); the
state that flows between states afterwards is `RunState` plus each iteration's
`IterationPlan`, all small enough for a state payload.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from seisless.errors import ConfigError
from seisless.imaging.config import (
    Acquisition,
    FwiSpec,
    LsrtmSpec,
    MemorySpec,
    ShotSelection,
    parse,
)
from seisless.messages import TreeSpec

#: CloudFormation outputs by which `seisless run --engine aws` finds the imaging workflow.
OUTPUT_IMAGING_STATE_MACHINE = "ImagingStateMachineArn"
RUNS_PREFIX = "runs/"
_JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StartingModel(_Doc):
    """The starting velocity (FWI) or background velocity (LS-RTM, RTM)."""

    key: str = Field(min_length=1, description="bucket key of a float32 .npy, vp in km/s")
    spacing: tuple[float, ...] = Field(min_length=2, max_length=3, description="metres")
    origin: tuple[float, ...] | None = None
    nbl: int = Field(default=40, ge=1, le=500, description="absorbing layer, cells")
    space_order: int = Field(default=8, ge=2, le=32)


class ImagingInput(_Doc):
    """The execution input of the imaging state machine (see the README's example)."""

    scan_id: str = Field(min_length=1, description="scans/<scan_id>/ of the observed data")
    objective: Literal["fwi", "lsrtm", "rtm"]
    iterations: int = Field(default=1, ge=1, le=10_000)
    model: StartingModel
    acquisition: Acquisition
    shots: ShotSelection = ShotSelection()
    fwi: FwiSpec | None = Field(default=None, description="bounds; required for fwi")
    lsrtm: LsrtmSpec = LsrtmSpec()
    memory: MemorySpec = MemorySpec()
    fan_in: int = Field(default=10, ge=2, le=1000)
    run_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$",
                               description="default: the execution's name")
    resume: bool = Field(default=False,
                         description="continue run_id from its last completed iteration")
    reduction_timeout_s: int = Field(
        default=3600, ge=10, description="longest wait for an iteration's reduction after "
        "its gradient jobs ended")
    reduction_heartbeat_s: int = Field(
        default=900, ge=5, description="longest wait without reduction progress")

    @model_validator(mode="after")
    def _consistent(self) -> ImagingInput:
        if self.objective == "fwi" and self.fwi is None:
            raise ValueError("objective 'fwi' needs an 'fwi' section with the velocity "
                             'bounds, e.g. {"vmin": 1.4, "vmax": 4.5, "max_dv": 0.1} (km/s)')
        if self.fwi is not None and self.fwi.vmin >= self.fwi.vmax:
            raise ValueError(f"fwi.vmin ({self.fwi.vmin}) must be below fwi.vmax "
                             f"({self.fwi.vmax})")
        if self.objective == "rtm" and self.iterations != 1:
            raise ValueError("objective 'rtm' is one migration: set iterations to 1")
        if self.resume and self.run_id is None:
            raise ValueError("resume needs the run_id of the run to continue")
        return self


class RunState(_Doc):
    """What flows around the loop: who the run is and where it stands."""

    bucket: str
    run_id: str
    objective: Literal["fwi", "lsrtm", "rtm"]
    iteration: int = Field(ge=0, description="the iteration about to run")
    iterations: int = Field(ge=1)
    reduction_timeout_s: int = Field(ge=1)
    reduction_heartbeat_s: int = Field(ge=1)


class IterationPlan(_Doc):
    """SelectShots' answer: the iteration's array job and reduction tree."""

    iteration: int = Field(ge=0)
    iteration_str: str = Field(description="for Batch environment overrides (strings)")
    array_size: int = Field(ge=1)
    tree: TreeSpec
    max_missing: int = Field(ge=0, description="tombstones allowed before the run fails")
    gradient_job_name: str
    update_job_name: str


def job_name(run_id: str, what: str, iteration: int) -> str:
    """A Batch job name (letters, digits, - and _ only, at most 128 characters)."""
    return _JOB_NAME_UNSAFE.sub("_", f"{run_id}-{what}-{iteration}")[:128]


def parse_imaging_input(data: Any) -> ImagingInput:
    """The execution input, or a `ConfigError` naming every field to fix."""
    if not isinstance(data, dict):
        raise ConfigError(f"the execution input must be a JSON object, got "
                          f"{type(data).__name__}; see the README for a complete example")
    return parse(ImagingInput, data, "the execution input")
