"""Typed documents of an imaging run, from the execution input to the job environment.

The execution input (`ImagingInput`) is what a user types into the Step Functions
console or gives to `seisless run`; Init turns it into `runs/<id>/config.json`
(`RunConfig`). Between states flow `RunState` and each iteration's `IterationPlan`, small
enough for a state payload; `ShotList` is an iteration's `shots.json`, `History` its
`history.json`, `ArrayMeta` the sidecar of a model or image, and `JobEnv` what a Batch
job learns from its environment. Everything is parsed at the edge: anything invalid is a
`ConfigError` naming each field to fix.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from seisless.cost import Prices
from seisless.documents import Document, parse_document
from seisless.errors import ConfigError
from seisless.inversion.sparsity import DEFAULT_TRANSFORM, ORTHOGONAL_WAVELET, Transform
from seisless.messages import RUN_ID_PATTERN, TreeSpec
from seisless.names import (
    ENV_ARRAY_INDEX,
    ENV_BUCKET,
    ENV_ITERATION,
    ENV_JOB_INDEX,
    ENV_REDUCE_QUEUE_URL,
    ENV_RUN_ID,
    ENV_TRIAL,
)

Objective = Literal["fwi", "lsrtm", "rtm"]
_JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
#: Where the objects a user names (starting models, masks) must live in the bucket: the
#: jobs' roles may read them there, and nothing else of the bucket is theirs to name.
INPUT_PREFIX = "models/"
#: AWS Batch runs at most this many children in one array job.
BATCH_ARRAY_LIMIT = 10_000
#: Most shots one gradient job may be asked to compute.
MAX_SHOTS_PER_JOB = 1000
#: Most instances one shot's gradient may span (a Batch multi-node job of that many nodes).
MAX_NODES_PER_SHOT = 16
#: Largest waits the workflow accepts (Step Functions runs a standard execution a year
#: at most; a reduction's tail that takes a week is a stall).
MAX_WAIT_S = 7 * 24 * 3600
_KEY_CHARS = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")


def _input_key(key: str) -> str:
    """A user-named object key: under `models/`, a `.npy`, with no path tricks."""
    parts = key.split("/")
    if not key.startswith(INPUT_PREFIX) or not key.endswith(".npy") or \
            any(p in ("", ".", "..") for p in parts) or not _KEY_CHARS.match(key):
        raise ValueError(f"{key!r} is not a usable key: upload the array under "
                         f"{INPUT_PREFIX!r} as a .npy (letters, digits and !_.*'()- in "
                         "its name, no empty, '.' or '..' parts) and name that key")
    return key


def _even(order: int) -> int:
    if order % 2:
        raise ValueError(f"space_order must be even (the stencils are centred), got {order}")
    return order


InputKey = Annotated[str, Field(max_length=1024), AfterValidator(_input_key)]
Spacing = Annotated[float, Field(gt=0, le=10_000, description="metres")]
Depth = Annotated[float, Field(ge=0, le=100_000, description="metres")]


class ModelSpec(Document):
    """The starting velocity (FWI) or background velocity (LS-RTM, RTM), and optionally
    the pseudo-acoustic TTI anisotropy (any of its keys makes the run TTI; the others
    are zero). FWI and LS-RTM update vp (or the image) only; the anisotropy stays."""

    key: InputKey = Field(description="bucket key of a float32 .npy, vp in km/s")
    spacing: tuple[Spacing, ...] = Field(min_length=2, max_length=3)
    origin: tuple[float, ...] | None = None
    nbl: int = Field(default=40, ge=1, le=500, description="absorbing layer, cells")
    space_order: Annotated[int, Field(ge=2, le=32), AfterValidator(_even)] = 8
    epsilon_key: InputKey | None = Field(
        default=None, description="TTI: Thomsen epsilon, float32 .npy of vp's shape, |e| < 1")
    delta_key: InputKey | None = Field(
        default=None, description="TTI: Thomsen delta, float32 .npy of vp's shape, "
        "|d| < 1, d <= epsilon")
    theta_key: InputKey | None = Field(
        default=None, description="TTI: tilt of the symmetry axis, radians in [-pi, pi]")
    phi_key: InputKey | None = Field(
        default=None, description="TTI, 3-D only: azimuth of the axis, radians in [-pi, pi]")

    @model_validator(mode="after")
    def _origin_per_axis(self) -> ModelSpec:
        if self.origin is not None and len(self.origin) != len(self.spacing):
            raise ValueError(f"origin {self.origin} needs one value per axis, like spacing "
                             f"{self.spacing}")
        if self.phi_key is not None and len(self.spacing) != 3:
            raise ValueError("phi_key (the TTI azimuth) needs a 3-D model; a 2-D model has "
                             "theta_key only")
        return self

    @property
    def anisotropy_keys(self) -> dict[str, str]:
        """The TTI parameters given, by name (epsilon, delta, theta, phi): empty for an
        acoustic run."""
        given = {"epsilon": self.epsilon_key, "delta": self.delta_key,
                 "theta": self.theta_key, "phi": self.phi_key}
        return {name: key for name, key in given.items() if key is not None}


class DataSpec(Document):
    segy_key: str = Field(description="bucket key of the observed SEG-Y file")
    gathers_key: str = Field(description="bucket key of the scan's gathers.parquet")


class Acquisition(Document):
    f0: float = Field(gt=0, le=1.0, description="source peak frequency, kHz")
    source_depth: Depth = 0.0
    receiver_depth: Depth = 0.0
    origin_x: float = Field(default=0.0, ge=-1e9, le=1e9, description="metres")
    origin_y: float = Field(default=0.0, ge=-1e9, le=1e9,
                            description="metres, subtracted from header y (3-D models)")


class MemorySpec(Document):
    strategy: Literal["auto", "full", "snapshots", "checkpointing"] = "auto"
    factor: int | None = Field(default=None, ge=1, le=1000)
    budget_bytes: int | None = Field(default=None, ge=2**26, le=2**44,
                                     description="64 MiB .. 16 TiB")


class LineSearchSpec(Document):
    """The backtracking line search of the "lbfgs" and "cg" optimizers: each trial is one
    Batch array of forward-only jobs."""

    max_trials: int = Field(default=5, ge=1, le=20,
                            description="trial steps per iteration before the run stops")
    c1: float = Field(default=1e-4, gt=0, lt=0.5, description="Armijo constant")
    shrink: float = Field(default=0.5, ge=0.1, le=0.9,
                          description="each rejected step is multiplied by this")


class FwiSpec(Document):
    vmin: float = Field(gt=0, le=20, description="km/s")
    vmax: float = Field(gt=0, le=20, description="km/s")
    max_dv: float = Field(default=0.1, gt=0, le=20, description="largest velocity change, km/s")
    mask_key: InputKey | None = None
    optimizer: Literal["bb", "lbfgs", "cg"] = Field(
        default="bb", description="bb: Barzilai-Borwein steps checked across iterations; "
        "lbfgs / cg: a line search of forward-only trials within each iteration")
    memory: int = Field(default=5, ge=1, le=50, description="L-BFGS pairs kept")
    line_search: LineSearchSpec = LineSearchSpec()

    @property
    def searches(self) -> bool:
        """Whether each iteration runs a line search (every optimizer but BB)."""
        return self.optimizer != "bb"


class LsrtmSpec(Document):
    """How LS-RTM steps: linearized Bregman thresholds the coefficients of `transform`
    (plain gradient steps have no threshold and ignore it)."""

    method: Literal["bregman", "gradient"] = "bregman"
    lam_fraction: float = Field(default=0.1, gt=0, lt=1)
    transform: Transform = Field(
        default=DEFAULT_TRANSFORM, description="the tight frame whose coefficients the "
        "Bregman threshold makes sparse: identity (the image), wavelet or curvelet")
    wavelet: str = Field(default="db4", pattern=ORTHOGONAL_WAVELET,
                         description="for 'wavelet': haar, db1..db38 or coif1..coif17")
    levels: int = Field(default=2, ge=1, le=8, description="scales of wavelet or curvelet")


class ShotSelection(Document):
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


class ImagingInput(Document):
    """The execution input of the imaging state machine (see the README's example)."""

    scan_id: str = Field(min_length=1, description="scans/<scan_id>/ of the observed data")
    objective: Objective
    iterations: int = Field(default=1, ge=1, le=10_000)
    model: ModelSpec
    acquisition: Acquisition
    shots: ShotSelection = ShotSelection()
    fwi: FwiSpec | None = Field(default=None, description="bounds; required for fwi")
    lsrtm: LsrtmSpec = LsrtmSpec()
    memory: MemorySpec = MemorySpec()
    fan_in: int = Field(default=10, ge=2, le=1000)
    run_id: str | None = Field(default=None, pattern=RUN_ID_PATTERN,
                               description="default: the execution's name")
    resume: bool = Field(default=False,
                         description="continue run_id from its last completed iteration")
    reduction_timeout_s: int = Field(
        default=3600, ge=10, le=MAX_WAIT_S, description="longest wait for an iteration's "
        "reduction after its gradient jobs ended")
    reduction_heartbeat_s: int = Field(
        default=900, ge=5, le=MAX_WAIT_S, description="longest wait without reduction "
        "progress")
    nodes_per_shot: int = Field(
        default=1, ge=1, le=MAX_NODES_PER_SHOT, description="instances per gradient job: "
        "above 1, each job is a Batch multi-node job whose nodes solve the shot together "
        "under MPI (a model too large for one instance)")
    cost: Prices | None = Field(
        default=None, description="prices the client's cost.json uses (any of their "
        "fields; the rest keep their defaults, see seisless/cost.py)")
    shots_per_job: int | None = Field(
        default=None, ge=1, le=MAX_SHOTS_PER_JOB, description="shots each gradient job "
        "computes in one process (each still its own leaf), to pay the container start and "
        "imports once for several shots; default: one, or as few as fit Batch's array limit")

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
        if self.reduction_heartbeat_s >= self.reduction_timeout_s:
            raise ValueError(f"reduction_heartbeat_s ({self.reduction_heartbeat_s}) must be "
                             f"below reduction_timeout_s ({self.reduction_timeout_s})")
        return self


class RunConfig(Document):
    """runs/<id>/config.json: the input as Init validated it, with the data it found."""

    kind: Literal["seisless-run"] = "seisless-run"
    version: Literal[1] = 1
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    objective: Objective
    iterations: int = Field(ge=1, le=10_000)
    fan_in: int = Field(default=10, ge=2, le=1000)
    model: ModelSpec
    data: DataSpec
    acquisition: Acquisition
    memory: MemorySpec = MemorySpec()
    fwi: FwiSpec | None = None
    lsrtm: LsrtmSpec = LsrtmSpec()
    shots: ShotSelection = ShotSelection()
    shots_per_job: int | None = Field(default=None, ge=1, le=MAX_SHOTS_PER_JOB)


class ShotList(Document):
    """runs/<id>/iter-<k>/shots.json: the field records of iteration k, in leaf order."""

    shots: tuple[int, ...] = Field(min_length=1)


class History(Document):
    """runs/<id>/iter-<k>/history.json: what the updates so far have seen and chosen.

    `objective[i]` is the objective of iterate i as its gradient jobs measured it;
    `accepted[i]` says whether the update that read it kept it. A rejected iterate (its
    objective above the last accepted one's) was replaced by a shorter step from the
    last accepted iterate, so the accepted objectives never rise.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False,
                              populate_by_name=True)
    objective: tuple[float, ...] = ()
    accepted: tuple[bool, ...] = Field(
        default=(), description="per objective: kept (true) or rejected and retried")
    step: float | None = Field(default=None, description="the last step length taken")
    lam: float | None = Field(default=None, alias="lambda",
                              description="LS-RTM: the Bregman threshold, set by the first "
                                          "step from the start")

    @model_validator(mode="before")
    @classmethod
    def _accepted_per_objective(cls, data: Any) -> Any:
        """Histories written before steps were checked kept every iterate."""
        if isinstance(data, dict) and "accepted" not in data and data.get("objective"):
            return {**data, "accepted": [True] * len(data["objective"])}
        return data

    @model_validator(mode="after")
    def _one_verdict_each(self) -> History:
        if len(self.accepted) != len(self.objective):
            raise ValueError(f"{len(self.objective)} objectives but {len(self.accepted)} "
                             "accepted flags")
        return self

    @property
    def last_accepted(self) -> int | None:
        """The iterate the next step starts from (None before the first)."""
        kept = [i for i, ok in enumerate(self.accepted) if ok]
        return kept[-1] if kept else None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ArrayMeta(Document):
    """The sidecar of a model or image `.npy`: where its grid lies."""

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    dtype: Literal["<f4"] = "<f4"


class RunState(Document):
    """What flows around the loop: who the run is and where it stands."""

    bucket: str
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    objective: Objective
    iteration: int = Field(ge=0, description="the iteration about to run")
    iterations: int = Field(ge=1)
    reduction_timeout_s: int = Field(ge=1)
    reduction_heartbeat_s: int = Field(ge=1)
    line_search: bool = Field(default=False, description="FWI with 'lbfgs' or 'cg'")
    max_trials: int = Field(default=1, ge=1, description="line-search trials per iteration")
    nodes_per_shot: int = Field(default=1, ge=1, le=MAX_NODES_PER_SHOT,
                                description="above 1: multi-node gradient jobs")


class IterationPlan(Document):
    """SelectShots' answer: the iteration's array job and reduction tree."""

    iteration: int = Field(ge=0)
    iteration_str: str = Field(description="for Batch environment overrides (strings)")
    array_size: int = Field(ge=1, le=BATCH_ARRAY_LIMIT)
    shots_per_job: int | None = Field(
        default=None, ge=1, description="shots each array child computes (plans made "
        "before the field: `shots_per_job` of the leaf count)")
    tree: TreeSpec
    max_missing: int = Field(ge=0, description="tombstones allowed before the run fails")
    gradient_job_name: str
    update_job_name: str
    trial_job_name: str = Field(description="the line search's forward-only array jobs")
    node_jobs: tuple[str, ...] = Field(
        default=(), description="multi-node runs: each gradient job's index (a string, for "
        "environment overrides), one Batch multi-node job each; empty: one array job")


class JobEnv(Document):
    """What a Batch job (or its local stand-in process) is told through its environment."""

    bucket: str = Field(min_length=3, max_length=63)
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    iteration: int = Field(ge=0)
    index: int = Field(default=0, ge=0)
    queue_url: str | None = None
    trial: int | None = Field(default=None, ge=0,
                              description="set: a forward-only line-search trial job")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> JobEnv:
        """The index is the array child's, or a multi-node job's `SEISLESS_JOB_INDEX`."""
        env = os.environ if environ is None else environ
        index = ENV_ARRAY_INDEX if ENV_ARRAY_INDEX in env else ENV_JOB_INDEX
        names = {"bucket": ENV_BUCKET, "run_id": ENV_RUN_ID, "iteration": ENV_ITERATION,
                 "index": index, "queue_url": ENV_REDUCE_QUEUE_URL, "trial": ENV_TRIAL}
        required = (ENV_BUCKET, ENV_RUN_ID, ENV_ITERATION)
        missing = [name for name in required if name not in env]
        if missing:
            raise ConfigError(f"environment variables {', '.join(missing)} are not set; "
                              "the job needs the bucket, run id and iteration")
        return parse_document(cls, {k: env[v] for k, v in names.items() if v in env},
                              "the job environment")


def shots_per_job(n_shots: int, requested: int | None = None) -> int:
    """Shots each array child computes: the run's `shots_per_job` (default one), or more
    when the iteration has more shots than an array job may have children (then as few
    per child as fit), so one array job always covers the iteration."""
    return max(requested or 1, math.ceil(n_shots / BATCH_ARRAY_LIMIT))


def job_name(run_id: str, what: str, iteration: int) -> str:
    """A Batch job name (letters, digits, - and _ only, at most 128 characters)."""
    return _JOB_NAME_UNSAFE.sub("_", f"{run_id}-{what}-{iteration}")[:128]


def parse_imaging_input(data: Any) -> ImagingInput:
    """The execution input, or a `ConfigError` naming every field to fix."""
    if not isinstance(data, dict):
        raise ConfigError(f"the execution input must be a JSON object, got "
                          f"{type(data).__name__}; see the README for a complete example")
    return parse_document(ImagingInput, data, "the execution input")
