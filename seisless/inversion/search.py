"""The line search of the "lbfgs" and "cg" FWI optimizers: its plan, and its judge.

Per iteration k the update job writes the plan (`SearchPlan`, `iter-<k>/search.json`):
the direction's trial steps and, for each, the decrease g.(x_t - x_k) its projected point
predicts. Trial t is one Batch array of forward-only jobs; each child writes the
objective of its shots (`TrialObjective`, `trial-<t>/objective-<i>.json`) and child 0
the trial model. Then the JudgeTrial Lambda (`judge_trial_step`) sums the objectives in
leaf order, checks Armijo's condition, and on success makes the trial model iteration
k+1's model (server-side copies) and writes its history, the iteration's last object.
The state machine counts the trials and stops at `fwi.line_search.max_trials`.

Why not the reduction tree: an objective is a few bytes per shot, so summing them in one
Lambda once the array completed is exact, ordered and needs no messages.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field

from seisless import storage
from seisless.documents import Document
from seisless.errors import ConfigError, ImagingError
from seisless.inversion.documents import History
from seisless.inversion.keys import RunKeys
from seisless.inversion.optimizers import armijo

#: Concurrent GETs of a trial's objectives (one small object per shot: thousands of shots
#: read one after another would take minutes of the Lambda's time).
READERS = 32


class SearchPlan(Document):
    """`iter-<k>/search.json`: what the update job proposed from iterate k."""

    kind: Literal["seisless-line-search"] = "seisless-line-search"
    version: Literal[1] = 1
    optimizer: Literal["lbfgs", "cg"]
    objective: float = Field(description="f(x_k) over `leaves`")
    leaves: tuple[int, ...] = Field(min_length=1, description="the shots (positions in "
                                    "shots.json) whose objective f(x_k) adds up")
    steps: tuple[float, ...] = Field(min_length=1, description="trial step lengths")
    decrease: tuple[float, ...] = Field(min_length=1,
                                        description="g.(x_t - x_k) of each trial point")
    slope: float = Field(description="g.d: the direction's slope at x_k (masked gradient)")
    c1: float = Field(gt=0, lt=1)
    restarted: bool = Field(description="steepest descent: no memory (L-BFGS) or a CG "
                                        "restart")
    history: History = Field(description="the history up to iterate k, as iteration k+1 "
                                         "will hold it (the judge adds the step)")


class TrialObjective(Document):
    """`trial-<t>/objective-<i>.json`: one shot's objective at trial t's model."""

    shot_id: int
    objective: float = Field(ge=0)
    seconds: float = Field(ge=0)


class TrialVerdict(Document):
    """JudgeTrial's answer (and `trial-<t>/verdict.json`); `trial` is the next trial's
    index: the state machine's counter."""

    accepted: bool
    objective: float
    step: float
    trial: int = Field(ge=1)
    trial_str: str = Field(description="for Batch environment overrides (strings)")


def load_plan(s3: Any, bucket: str, run_id: str, iteration: int) -> SearchPlan:
    return storage.get_document(s3, bucket, RunKeys(run_id).iteration(iteration).search,
                                SearchPlan, "the line search plan",
                                fix="run the iteration's Update job first")


def trial_step(plan: SearchPlan, trial: int) -> float:
    """The step length of `trial`, or a `ConfigError` when the plan has no such trial."""
    if not 0 <= trial < len(plan.steps):
        raise ConfigError(f"trial {trial} is out of range: the line search plans "
                          f"{len(plan.steps)} trials (fwi.line_search.max_trials)")
    return plan.steps[trial]


def judge_trial_step(s3: Any, bucket: str, run_id: str, iteration: int, trial: int
                     ) -> TrialVerdict:
    """Sum trial `trial`'s objectives, check Armijo; on acceptance make its model the next
    iteration's. Safe to repeat (same sums, same copies)."""
    plan = load_plan(s3, bucket, run_id, iteration)
    step = trial_step(plan, trial)
    keys = RunKeys(run_id).iteration(iteration)
    here = keys.trial(trial)

    def read(index: int) -> float:
        return storage.get_document(
            s3, bucket, here.objective(index), TrialObjective, "a trial objective",
            fix="the trial's array job ended without it; resume the run").objective

    with ThreadPoolExecutor(READERS) as pool:
        total = math.fsum(pool.map(read, plan.leaves))  # exact: independent of order
    if not math.isfinite(total):
        raise ImagingError(f"trial {trial} of iteration {iteration}: the objective is "
                           f"{total}; lower fwi.max_dv or acquisition.f0")
    accepted = armijo(plan.objective, total, plan.decrease[trial], plan.c1)
    verdict = TrialVerdict(accepted=accepted, objective=total, step=step, trial=trial + 1,
                           trial_str=str(trial + 1))
    storage.put_json(s3, bucket, here.verdict, verdict)
    if accepted:
        nxt = RunKeys(run_id).iteration(iteration + 1)
        for source, target in ((here.model, nxt.model), (here.model_meta, nxt.model_meta),
                               (here.picture, nxt.picture)):
            storage.copy(s3, bucket, source, target)
        history = plan.history.model_copy(update={"step": step})
        storage.put_json(s3, bucket, nxt.history, history.dump())
    return verdict
