"""A run's cost from what it left in the bucket (moto S3) and its execution history."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from seisless.client.run_cost import (
    GETS_PER_SHOT,
    REDUCER_SECONDS_ESTIMATE,
    cost_table,
    prices_of,
    write_run_cost,
)
from seisless.cost import Cost
from seisless.errors import ConfigError
from seisless.inversion.keys import RunKeys

BUCKET = "run-cost"


@pytest.fixture
def s3(aws_credentials: None):
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_a_run_is_priced_from_its_job_records_nodes_and_history(s3) -> None:
    run = RunKeys("r1")
    it = run.iteration(0)
    for index, seconds in enumerate((10.0, 20.0)):
        s3.put_object(Bucket=BUCKET, Key=it.leaf_record(index), Body=json.dumps(
            {"seconds": {"setup": 1.0, "read": 1.0, "solve": seconds - 2.0}}))
        s3.put_object(Bucket=BUCKET, Key=it.node_stem(0, index) + ".json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key=it.node_stem(1, 0) + ".json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key=run.config, Body=b"x" * 100)
    prices = prices_of({"cost": {"spot_hourly": 0.2, "on_demand_hourly": 0.4}})
    cost = write_run_cost(s3, BUCKET, run, [], prices)
    stored = Cost.model_validate_json(
        s3.get_object(Bucket=BUCKET, Key=run.cost)["Body"].read())
    assert stored == cost
    quantity = {item.name: item.quantity for item in cost.items}
    assert quantity["Batch job seconds (Spot)"] == pytest.approx(30.0)
    assert cost.usage.batch_seconds_by_iteration == pytest.approx((30.0,))
    assert quantity["Lambda requests"] == 3  # the reducer: two leaves and a node
    assert quantity["Lambda GB-seconds"] == pytest.approx(3 * REDUCER_SECONDS_ESTIMATE)
    assert quantity["S3 PUT requests"] == 6
    assert quantity["S3 GET requests"] == 2 * GETS_PER_SHOT + 2 * 3
    assert cost.batch_on_demand_usd == pytest.approx(30 * 0.4 * 4 / 8 / 3600)
    assert "total, Batch on Spot" in cost_table(cost)


def test_a_bad_cost_section_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="spot_hourly"):
        prices_of({"cost": {"spot_hourly": -1}})
