"""The cost arithmetic with known inputs, and the execution-history counts it uses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from seisless.cost import GB, Prices, Usage, lambda_task_seconds, price, transitions


def test_each_item_is_quantity_times_unit_price_and_the_totals_add_up() -> None:
    prices = Prices(instance_vcpus=8, job_vcpus=4, spot_hourly=0.36, on_demand_hourly=0.72,
                    lambda_gb_second=1e-5, lambda_request=2e-7, sfn_transition=2.5e-5,
                    s3_put=5e-6, s3_get=4e-7, s3_gb_month=0.02)
    usage = Usage(batch_seconds=3600, batch_jobs=2, lambda_requests=10,
                  lambda_gb_seconds=100, transitions=40, s3_puts=1000, s3_gets=10_000,
                  storage_bytes=2 * GB)
    cost = price(usage, prices)
    usd = {item.name: item.usd for item in cost.items}
    assert usd["Batch job seconds (Spot)"] == pytest.approx(0.18)  # half of 0.36 for an hour
    assert usd["Lambda GB-seconds"] == pytest.approx(1e-3)
    assert usd["Lambda requests"] == pytest.approx(2e-6)
    assert usd["Step Functions transitions"] == pytest.approx(1e-3)
    assert usd["S3 PUT requests"] == pytest.approx(5e-3)
    assert usd["S3 GET requests"] == pytest.approx(4e-3)
    assert usd["S3 storage for a month"] == pytest.approx(0.04)
    rest = 1e-3 + 2e-6 + 1e-3 + 5e-3 + 4e-3 + 0.04
    assert cost.spot_usd == pytest.approx(0.18 + rest)
    assert cost.batch_on_demand_usd == pytest.approx(0.36)
    assert cost.on_demand_usd == pytest.approx(0.36 + rest)


def test_the_defaults_say_when_they_are_from_and_a_section_overrides_some() -> None:
    assert "2024" in Prices().as_of
    assert Prices.model_validate({"spot_hourly": 0.1}).on_demand_hourly == \
        Prices().on_demand_hourly


def _event(id_: int, type_: str, seconds: float, previous: int = 0, **details) -> dict:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return {"id": id_, "type": type_, "previousEventId": previous,
            "timestamp": start + timedelta(seconds=seconds), **details}


def test_lambda_durations_and_transitions_come_from_the_history() -> None:
    events = [
        _event(1, "ExecutionStarted", 0),
        _event(2, "TaskStateEntered", 0, 1),
        _event(3, "TaskScheduled", 0.5, 2,
               taskScheduledEventDetails={"resourceType": "lambda"}),
        _event(4, "TaskStarted", 0.6, 3),
        _event(5, "TaskSucceeded", 2.5, 4),
        _event(6, "TaskStateExited", 2.5, 5),
        _event(7, "ChoiceStateEntered", 2.5, 6),
        _event(8, "TaskStateEntered", 2.6, 7),
        _event(9, "TaskScheduled", 2.6, 8,
               taskScheduledEventDetails={"resourceType": "batch"}),
        _event(10, "TaskSucceeded", 60, 9),
    ]
    assert lambda_task_seconds(events) == [pytest.approx(2.0)]
    assert transitions(events) == 3
