"""Reducer Lambda: an SQS batch of reduction messages in, partial batch failures out.

Each record is parsed into a typed message and handed to `seisless.reduce.handle`. A
record that fails (a poison message, an inconsistent input, a transient AWS error) is
reported in `batchItemFailures`, so only it is retried and, after the queue's
maxReceiveCount, moved to the DLQ; its reason is logged. A record whose tree or node
disagrees with the run's stored state (`ForgedMessageError`) is such a poison message.
Everything the reducer does is idempotent, so retrying a record that half-succeeded is
always safe.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas import observability as obs
from seisless.errors import ConfigError, SeislessError
from seisless.messages import CallbackRegistered, NodeWritten, parse_message
from seisless.reduce import ReduceServices, StoredTrees, handle

logger = Logger(service="seisless-reducer")
metrics = Metrics(namespace=obs.NAMESPACE)
MiB = 1024 * 1024
_cache: dict[str, ReduceServices] = {}


def use_services(services: ReduceServices | None) -> None:
    """Inject the clients and settings (tests, the chaos harness, the local cloud);
    None forgets them so the next call builds them from the environment again."""
    _cache.pop("services", None)
    if services is not None:
        _cache["services"] = services


def _env_mib(name: str, default: int, minimum: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < minimum:
        raise ConfigError(f"{name}={value!r}: expected a whole number of MiB >= {minimum}")
    return int(value) * MiB


def services() -> ReduceServices:
    """Clients built on first use from the environment (AWS_ENDPOINT_URL and region are
    honoured by boto3 itself). REDUCE_QUEUE_URL: where parent nodes are announced;
    REDUCE_CHUNK_MIB / REDUCE_PART_MIB (default 8): ranged-GET chunk and multipart part
    sizes, which bound memory at about (fan-in + 3) chunks."""
    if "services" not in _cache:
        queue_url = os.environ.get("REDUCE_QUEUE_URL")
        if not queue_url:
            raise ConfigError("REDUCE_QUEUE_URL is not set: give the reducer the URL of "
                              "the queue it consumes, to announce the nodes it writes")
        chunk_bytes = _env_mib("REDUCE_CHUNK_MIB", 8, 1)
        part_bytes = _env_mib("REDUCE_PART_MIB", 8, 5)  # S3's minimum part size
        _cache["services"] = ReduceServices(
            s3=boto3.client("s3"), sqs=boto3.client("sqs"), sfn=boto3.client("stepfunctions"),
            queue_url=queue_url, chunk_bytes=chunk_bytes, part_bytes=part_bytes)
    return _cache["services"]


def _count(message: NodeWritten | CallbackRegistered, outcome: str) -> None:
    """A computed parent is one inner node reduced; the root reached is every shot
    gradient of the iteration summed (SQS may repeat either, rarely)."""
    if outcome == "computed":
        metrics.add_metric(name=obs.NODES_REDUCED, unit=MetricUnit.Count, value=1)
    elif outcome == "root" and isinstance(message, NodeWritten):
        metrics.add_metric(name=obs.GRADIENTS_REDUCED, unit=MetricUnit.Count,
                           value=message.tree.n_leaves)


def record_handler(record: SQSRecord, trees: StoredTrees | None = None) -> str:
    """Process one record; raising makes it a batch item failure. `trees`: the stored
    trees already read by this invocation. Its log lines carry the message's run id and
    iteration (None, hence absent, until it parses)."""
    logger.append_keys(run_id=None, iteration=None)
    try:
        message = parse_message(record.body)
        logger.append_keys(run_id=message.run_id, iteration=message.iteration)
        receives = int(record.attributes.approximate_receive_count or "1")
        outcome = handle(services(), message, redelivered=receives > 1, trees=trees)
    except SeislessError as err:
        logger.error("reduction message rejected", message_id=record.message_id,
                     code=err.code, reason=str(err))
        raise
    except Exception:  # transient (throttling, network): logged, retried by SQS
        logger.exception("reduction message failed", message_id=record.message_id)
        raise
    _count(message, outcome)
    logger.info("reduction message done", message_id=record.message_id, outcome=outcome)
    return outcome


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    """Entry point; returns `{"batchItemFailures": [...]}` (ReportBatchItemFailures)."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event,
                                    record_handler=partial(record_handler,
                                                           trees=StoredTrees()),
                                    processor=processor, context=context)
