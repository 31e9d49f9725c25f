"""The local cloud's SQS -> Lambda event source mappings, served as AWS serves them.

moto invokes a queue's function from inside `SendMessage` (the sender waits for the
function), and it deletes all or none of the batch, ignoring `batchItemFailures`. This
poller does what Lambda's does: `MaximumConcurrency` pollers per mapping, each
long-polling the queue, gathering up to `BatchSize` messages within the batching window,
invoking the function through the Lambda API, and deleting only the records the function
did not report as failed (with `ReportBatchItemFailures`; without it, a function error
leaves the whole batch to the visibility timeout). Queue calls are made under the
function's execution role, as Lambda's pollers make them: a role lacking
sqs:ReceiveMessage or sqs:DeleteMessage fails here as on AWS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("seisless.local.sqs")


@dataclass(frozen=True)
class Mapping:
    """One SQS event source mapping of the deployed stack."""

    queue_url: str
    queue_arn: str
    function_name: str
    batch_size: int
    window_s: float
    max_concurrency: int
    report_failures: bool
    role_arn: str | None = None

    @classmethod
    def from_api(cls, esm: dict[str, Any], queue_url: str,
                 role_arn: str | None = None) -> Mapping:
        return cls(queue_url=queue_url, queue_arn=esm["EventSourceArn"], role_arn=role_arn,
                   function_name=esm["FunctionArn"], batch_size=int(esm.get("BatchSize", 10)),
                   window_s=float(esm.get("MaximumBatchingWindowInSeconds", 0)),
                   max_concurrency=int((esm.get("ScalingConfig") or {}).get(
                       "MaximumConcurrency", 2)),
                   report_failures="ReportBatchItemFailures" in (
                       esm.get("FunctionResponseTypes") or []))


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"], "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn, "awsRegion": region}


class SqsPoller:
    """Pollers for `mappings`, until `stop()`; clients come from `client(service)`, or
    `client(service, role_arn=...)` for a mapping's function role."""

    def __init__(self, mappings: list[Mapping], client: Any, region: str,
                 max_threads: int) -> None:
        self._mappings = mappings
        self._client = client
        self._region = region
        self._max_threads = max(1, max_threads)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.invocations = 0

    def start(self) -> None:
        for mapping in self._mappings:
            for n in range(min(mapping.max_concurrency, self._max_threads)):
                thread = threading.Thread(target=self._serve, args=(mapping,), daemon=True,
                                          name=f"sqs-poller-{mapping.function_name}-{n}")
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def _receive(self, sqs: Any, mapping: Mapping) -> list[dict[str, Any]]:
        """Up to BatchSize messages: long-poll for the first, then gather more until
        the batch is full or the batching window has passed."""
        batch: list[dict[str, Any]] = []
        deadline = None
        while not self._stop.is_set() and len(batch) < mapping.batch_size:
            wait = 1 if deadline is None else max(0.0, deadline - time.monotonic())
            got = sqs.receive_message(
                QueueUrl=mapping.queue_url, WaitTimeSeconds=round(wait),
                MaxNumberOfMessages=min(10, mapping.batch_size - len(batch)),
                AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            batch += got
            if batch and deadline is None:
                deadline = time.monotonic() + mapping.window_s
            if deadline is not None and time.monotonic() >= deadline:
                break
        return batch

    def _serve(self, mapping: Mapping) -> None:
        sqs = self._client("sqs", role_arn=mapping.role_arn) if mapping.role_arn \
            else self._client("sqs")
        lam = self._client("lambda")
        while not self._stop.is_set():
            try:
                messages = self._receive(sqs, mapping)
                if messages:
                    self._deliver(sqs, lam, mapping, messages)
            except Exception:  # a poller never dies: log, back off, poll again
                if self._stop.is_set():
                    return
                log.exception("poller of %s failed; polling again", mapping.queue_arn)
                self._stop.wait(1.0)

    def _deliver(self, sqs: Any, lam: Any, mapping: Mapping,
                 messages: list[dict[str, Any]]) -> None:
        event = {"Records": [_record(m, mapping.queue_arn, self._region) for m in messages]}
        response = lam.invoke(FunctionName=mapping.function_name, Payload=json.dumps(event))
        self.invocations += 1
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            log.warning("%s failed on a batch of %d: %s", mapping.function_name,
                        len(messages), payload[:500])
            return  # the whole batch comes back after the visibility timeout
        failed: set[str] = set()
        if mapping.report_failures:
            body = json.loads(payload or b"{}") or {}
            failed = {f["itemIdentifier"] for f in body.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=mapping.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start:start + 10])])
