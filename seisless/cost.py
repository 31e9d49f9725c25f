"""What a run or a scan costs: measured usage times a price table, in US dollars.

The prices are defaults: this code cannot fetch prices, so `Prices` holds the public
us-east-1 list prices as of `PRICES_AS_OF` (EC2 Spot varies by hour and zone: the default
is a typical c6i.2xlarge Spot price of that time, not a quote). Give current ones in the
optional `"cost"` section of a run's input (any subset of `Prices`' fields); the client
reads that section when it prices the run. Batch on EC2 is priced as the share of an
instance a job holds: hourly price x job vCPUs / instance vCPUs, once at the Spot and once
at the on-demand price (the queue tries Spot first). Everything else is the same at both.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import Field

from seisless.documents import Document

#: When the default prices below were read off the AWS price pages (us-east-1).
PRICES_AS_OF = "2024-06 (AWS public price pages, us-east-1; EC2 Spot a typical price)"

GB = 1024 ** 3


class Prices(Document):
    """US dollars per unit; the defaults are us-east-1 list prices as of PRICES_AS_OF."""

    as_of: str = PRICES_AS_OF
    instance_type: str = Field(default="c6i.2xlarge",
                               description="the instance a gradient job's share is of "
                                           "(the stack's first gradient instance type)")
    instance_vcpus: int = Field(default=8, ge=1)
    job_vcpus: int = Field(default=4, ge=1, description="a gradient job's vCPUs (the stack's)")
    on_demand_hourly: float = Field(default=0.34, ge=0)
    spot_hourly: float = Field(default=0.13, ge=0)
    lambda_gb_second: float = Field(default=0.0000166667, ge=0, description="x86")
    lambda_request: float = Field(default=0.20 / 1e6, ge=0)
    sfn_transition: float = Field(default=0.025 / 1000, ge=0, description="standard")
    s3_put: float = Field(default=0.005 / 1000, ge=0, description="PUT, COPY, POST, LIST")
    s3_get: float = Field(default=0.0004 / 1000, ge=0)
    s3_gb_month: float = Field(default=0.023, ge=0, description="S3 Standard, first 50 TB")


class Usage(Document):
    """What a run or scan used, as measured or counted (the notes say which)."""

    batch_seconds: float = Field(default=0.0, ge=0, description="gradient jobs' solve seconds")
    batch_jobs: int = Field(default=0, ge=0)
    batch_seconds_by_iteration: tuple[float, ...] = Field(
        default=(), description="a run's batch_seconds, iteration by iteration")
    lambda_requests: int = Field(default=0, ge=0)
    lambda_gb_seconds: float = Field(default=0.0, ge=0)
    transitions: int = Field(default=0, ge=0)
    s3_puts: int = Field(default=0, ge=0)
    s3_gets: int = Field(default=0, ge=0)
    storage_bytes: int = Field(default=0, ge=0)


class CostItem(Document):
    name: str
    quantity: float
    unit: str
    unit_usd: float = Field(description="at Spot prices for the Batch item")
    usd: float


class Cost(Document):
    """runs/<id>/cost.json, and the `cost` section of a scan's summary.json."""

    kind: str = "seisless-cost"
    items: tuple[CostItem, ...]
    spot_usd: float = Field(description="the total with Batch at the Spot price")
    on_demand_usd: float = Field(description="the total with Batch on demand")
    batch_on_demand_usd: float
    prices_as_of: str
    usage: Usage
    notes: tuple[str, ...] = ()


def batch_hourly_share(prices: Prices, hourly: float) -> float:
    """Dollars per second of one job: its vCPUs' share of the instance's hourly price."""
    return hourly * prices.job_vcpus / prices.instance_vcpus / 3600


def price(usage: Usage, prices: Prices, notes: Iterable[str] = ()) -> Cost:
    """Each item's quantity x unit price, and the totals with Batch on Spot or on demand."""
    spot = batch_hourly_share(prices, prices.spot_hourly)
    on_demand = batch_hourly_share(prices, prices.on_demand_hourly)
    rows = [("Batch job seconds (Spot)", usage.batch_seconds,
             f"s x {prices.job_vcpus}/{prices.instance_vcpus} {prices.instance_type}", spot),
            ("Lambda GB-seconds", usage.lambda_gb_seconds, "GB-s", prices.lambda_gb_second),
            ("Lambda requests", usage.lambda_requests, "requests", prices.lambda_request),
            ("Step Functions transitions", usage.transitions, "transitions",
             prices.sfn_transition),
            ("S3 PUT requests", usage.s3_puts, "requests", prices.s3_put),
            ("S3 GET requests", usage.s3_gets, "requests", prices.s3_get),
            ("S3 storage for a month", usage.storage_bytes / GB, "GB-month",
             prices.s3_gb_month)]
    items = tuple(CostItem(name=name, quantity=q, unit=unit, unit_usd=u, usd=q * u)
                  for name, q, unit, u in rows)
    spot_total = sum(item.usd for item in items)
    batch_on_demand = usage.batch_seconds * on_demand
    return Cost(items=items, spot_usd=spot_total,
                on_demand_usd=spot_total - items[0].usd + batch_on_demand,
                batch_on_demand_usd=batch_on_demand, prices_as_of=prices.as_of,
                usage=usage, notes=tuple(notes))


def lambda_task_seconds(events: list[dict[str, Any]]) -> list[float]:
    """How long each Lambda task of an execution history ran (scheduled to its end)."""
    by_id = {event["id"]: event for event in events}
    seconds = []
    for event in events:
        if event["type"] not in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            continue
        start = by_id.get(event.get("previousEventId"))
        while start is not None and start["type"] != "TaskScheduled":
            start = by_id.get(start.get("previousEventId"))
        if start is not None and \
                start["taskScheduledEventDetails"].get("resourceType") == "lambda":
            seconds.append(_elapsed(start["timestamp"], event["timestamp"]))
    return seconds


def transitions(events: list[dict[str, Any]]) -> int:
    """State transitions billed: one per state entered."""
    return sum(event["type"].endswith("StateEntered") for event in events)


def _elapsed(start: datetime | float, end: datetime | float) -> float:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max(0.0, (end - start).total_seconds())
    return max(0.0, float(end) - float(start))  # type: ignore[arg-type]
