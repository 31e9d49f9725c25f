"""The cost of an imaging run, priced by the client once the run ended.

The workflow has no Lambda step after its last iteration (it ends in a Succeed state),
so the client, which holds the execution history, counts and writes
`runs/<id>/cost.json`. What is measured and what is estimated:

* Batch: the seconds each gradient job measured for its shot (`leaf-<i>.job.json`:
  setup, read, solve). Update and line-search trial jobs record no timings: not counted.
* Lambda steps: their requests and durations from the execution history, at the stack's
  memory size; the reducer: one request per announced leaf and per reduced node, at
  REDUCER_SECONDS_ESTIMATE each.
* Step Functions: one transition per state entered in the history.
* S3: one PUT per object under the run's prefix; GETs estimated as GETS_PER_SHOT per
  shot solve and two (array, sidecar) per reduced tree node; storage is those objects'
  bytes for a month.
"""

from __future__ import annotations

import re
from typing import Any

from seisless import storage
from seisless.cost import GB, Cost, Prices, Usage, lambda_task_seconds, price, transitions
from seisless.documents import parse_document
from seisless.inversion.keys import RunKeys

#: stacks/imaging.py and stacks/reduction.py give their functions 1024 MB.
STEP_MEMORY_MB = 1024
REDUCER_MEMORY_MB = 1024
#: A reducer invocation reads two children and writes their sum: about a second.
REDUCER_SECONDS_ESTIMATE = 1.0
#: A shot solve reads the config, the shot list, the model and the shot's bytes.
GETS_PER_SHOT = 4

_JOB_RECORD = re.compile(r"/iter-(\d+)/leaf-\d+\.job\.json$")
_NODE_SIDECAR = re.compile(r"/iter-\d+/(leaf|l\d+)-\d+\.json$")


def prices_of(data: dict[str, Any]) -> Prices:
    """The run input's optional `cost` section over the default prices."""
    return parse_document(Prices, data.get("cost") or {}, "the input's cost section")


def run_usage(s3: Any, bucket: str, run: RunKeys, events: list[dict[str, Any]]) -> Usage:
    """Count what the run used (see the module's docstring for what is measured)."""
    sizes = storage.list_sizes(s3, bucket, run.prefix)
    by_iteration: dict[int, float] = {}
    records = [(key, match) for key in sizes if (match := _JOB_RECORD.search(key))]
    for key, match in records:
        phases = storage.get_json(s3, bucket, key, what="a job record").get("seconds", {})
        k = int(match.group(1))
        by_iteration[k] = by_iteration.get(k, 0.0) + sum(phases.values())
    nodes = sum(1 for key in sizes if _NODE_SIDECAR.search(key))
    steps = lambda_task_seconds(events)
    gb_seconds = (sum(steps) * STEP_MEMORY_MB
                  + nodes * REDUCER_SECONDS_ESTIMATE * REDUCER_MEMORY_MB) / 1024
    per_iteration = tuple(by_iteration.get(k, 0.0)
                          for k in range(max(by_iteration, default=-1) + 1))
    return Usage(batch_seconds=sum(per_iteration), batch_jobs=len(records),
                 batch_seconds_by_iteration=per_iteration,
                 lambda_requests=len(steps) + nodes, lambda_gb_seconds=gb_seconds,
                 transitions=transitions(events), s3_puts=len(sizes),
                 s3_gets=GETS_PER_SHOT * len(records) + 2 * nodes,
                 storage_bytes=sum(sizes.values()))


def write_run_cost(s3: Any, bucket: str, run: RunKeys, events: list[dict[str, Any]],
                   prices: Prices) -> Cost:
    """Price the run and write `runs/<id>/cost.json`."""
    usage = run_usage(s3, bucket, run, events)
    cost = price(usage, prices, notes=(
        f"{usage.batch_jobs} gradient job records; update and trial jobs are not timed",
        f"S3 GETs and reducer GB-seconds are estimates; storage {usage.storage_bytes / GB:.3g} "
        "GB"))
    storage.put_json(s3, bucket, run.cost, cost.model_dump(mode="json"))
    return cost


def cost_table(cost: Cost) -> str:
    """A short table of the items and both totals, for the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"cost (prices as of {cost.prices_as_of})")
    for column in ("item", "quantity", "unit", "$"):
        table.add_column(column, justify="left" if column in ("item", "unit") else "right")
    for item in cost.items:
        table.add_row(item.name, f"{item.quantity:.4g}", item.unit, f"{item.usd:.6f}")
    table.add_row("total, Batch on Spot", "", "", f"{cost.spot_usd:.6f}")
    table.add_row("total, Batch on demand", "", "", f"{cost.on_demand_usd:.6f}")
    console = Console(width=110, record=True)
    with console.capture() as captured:
        console.print(table)
    return captured.get()
