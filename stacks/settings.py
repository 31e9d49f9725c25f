"""What a deployment tunes through CDK context besides compute (`-c seisless:<key>=...`,
or `cdk.json`): concurrency limits and where alarms are sent."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct


@dataclass(frozen=True)
class OperationsSettings:
    """Context keys `seisless:maxScanConcurrency` (the most scan workers at once, whatever
    an execution input asks), `seisless:reducerConcurrency` (the reducer's reserved
    concurrency, also its SQS event source's maximum) and `seisless:alarmEmail` (an
    address subscribed to the alarm topic; none by default)."""

    max_scan_concurrency: int = 1000
    reducer_concurrency: int = 50
    alarm_email: str | None = None

    @classmethod
    def from_context(cls, scope: Construct) -> OperationsSettings:
        node = scope.node
        kwargs: dict[str, int | str] = {}
        for key, name, minimum in (("maxScanConcurrency", "max_scan_concurrency", 1),
                                   ("reducerConcurrency", "reducer_concurrency", 2)):
            value = node.try_get_context(f"seisless:{key}")
            if value is None:
                continue
            if not str(value).isdigit() or int(value) < minimum:
                raise ValueError(f"context seisless:{key}={value!r}: expected a whole number "
                                 f">= {minimum}")
            kwargs[name] = int(value)
        email = node.try_get_context("seisless:alarmEmail")
        if email:
            if "@" not in str(email):
                raise ValueError(f"context seisless:alarmEmail={email!r} is not an e-mail "
                                 "address")
            kwargs["alarm_email"] = str(email)
        return cls(**kwargs)
