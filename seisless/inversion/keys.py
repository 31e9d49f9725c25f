"""Where an imaging run keeps its files: the only place `runs/<id>/...` keys are built.

Every step, job, the reducer and the client derive keys from `RunKeys`, so the layout
below is stated once::

    runs/<id>/config.json                 RunConfig
    runs/<id>/cost.json                   Cost: what the run cost (the client writes it)
    runs/<id>/jit-cache/<soname>.so       Devito's compiled operators, shared by the jobs
    runs/<id>/iter-<k>/shots.json         ShotList (leaf i is shot shots[i])
    runs/<id>/iter-<k>/leaf-<i>.npy|json  gradient of shot i and its sidecar
    runs/<id>/iter-<k>/leaf-<i>.job.json  the job's record (shot, timings, memory)
    runs/<id>/iter-<k>/l<L>-<p>.npy|json  reduction tree nodes; the root is the summed gradient
    runs/<id>/iter-<k>/callback.json      the workflow's task token for the reduction
    runs/<id>/iter-<k>/model.npy|json     FWI velocity of iteration k (k > 0)
    runs/<id>/iter-<k>/image.npy|json     LS-RTM image (k > 0); z.npy its Bregman variable
    runs/<id>/iter-<k>/history.json       objective history up to iteration k-1
    runs/<id>/iter-<k>/model.png          picture of the model or image
    runs/<id>/iter-<k>/search.json        FWI line search: SearchPlan (lbfgs, cg)
    runs/<id>/iter-<k>/direction.npy      its search direction (squared slowness)
    runs/<id>/iter-<k>/lbfgs-s.npy|y.npy  L-BFGS pair from iteration k-1 to k (if usable)
    runs/<id>/iter-<k>/trial-<t>/objective-<i>.json  trial t's objective of shot i
    runs/<id>/iter-<k>/trial-<t>/model.npy|json|png  trial t's model
    runs/<id>/iter-<k>/trial-<t>/verdict.json        its summed objective, accepted or not
"""

from __future__ import annotations

from dataclasses import dataclass

from seisless.names import RUNS_PREFIX


@dataclass(frozen=True)
class IterationKeys:
    """The keys of iteration `iteration` of run `run_id`."""

    run_id: str
    iteration: int

    @property
    def prefix(self) -> str:
        return f"{RUNS_PREFIX}{self.run_id}/iter-{self.iteration}/"

    def _key(self, name: str) -> str:
        return self.prefix + name

    @property
    def shots(self) -> str:
        return self._key("shots.json")

    @property
    def callback(self) -> str:
        return self._key("callback.json")

    @property
    def model(self) -> str:
        return self._key("model.npy")

    @property
    def model_meta(self) -> str:
        return self._key("model.json")

    @property
    def image(self) -> str:
        return self._key("image.npy")

    @property
    def image_meta(self) -> str:
        return self._key("image.json")

    @property
    def bregman_z(self) -> str:
        return self._key("z.npy")

    @property
    def history(self) -> str:
        return self._key("history.json")

    @property
    def picture(self) -> str:
        return self._key("model.png")

    @property
    def search(self) -> str:
        return self._key("search.json")

    @property
    def direction(self) -> str:
        return self._key("direction.npy")

    @property
    def lbfgs_s(self) -> str:
        return self._key("lbfgs-s.npy")

    @property
    def lbfgs_y(self) -> str:
        return self._key("lbfgs-y.npy")

    def trial(self, t: int) -> TrialKeys:
        return TrialKeys(self.prefix + f"trial-{t}/")

    def node_stem(self, level: int, index: int) -> str:
        """`leaf-<i>` for level 0, `l<L>-<p>` above; `.npy` / `.json` complete it."""
        return self._key(f"leaf-{index}" if level == 0 else f"l{level}-{index}")

    def leaf_record(self, index: int) -> str:
        """The gradient job's record of shot `index` (not part of the tree)."""
        return self.node_stem(0, index) + ".job.json"


@dataclass(frozen=True)
class TrialKeys:
    """The keys of one line-search trial of an iteration (under `prefix`)."""

    prefix: str

    def objective(self, index: int) -> str:
        return f"{self.prefix}objective-{index}.json"

    @property
    def model(self) -> str:
        return self.prefix + "model.npy"

    @property
    def model_meta(self) -> str:
        return self.prefix + "model.json"

    @property
    def picture(self) -> str:
        return self.prefix + "model.png"

    @property
    def verdict(self) -> str:
        return self.prefix + "verdict.json"


@dataclass(frozen=True)
class RunKeys:
    """The keys of run `run_id`."""

    run_id: str

    @property
    def prefix(self) -> str:
        return f"{RUNS_PREFIX}{self.run_id}/"

    @property
    def config(self) -> str:
        return self.prefix + "config.json"

    @property
    def cost(self) -> str:
        return self.prefix + "cost.json"

    @property
    def jit_cache(self) -> str:
        """The folder of the run's compiled operators (`seisless.inversion.jitcache`)."""
        return self.prefix + "jit-cache/"

    def iteration(self, k: int) -> IterationKeys:
        return IterationKeys(self.run_id, k)
