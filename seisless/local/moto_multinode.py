"""Batch multi-node jobs in moto 5.2.5; adaptations used by `moto_patches`.

- moto's CloudFormation registers every `AWS::Batch::JobDefinition` as type "container",
  so a multi-node definition (`NodeProperties`, no `ContainerProperties`) fails to
  deploy; `_create_job_definition` registers it with the template's `Type`.
- moto's Step Functions drops `NodeOverrides` from a `batch:submitJob` task (its list of
  the parameters it passes lacks it; AWS passes it), and its `SubmitJob` drops
  `nodeOverrides` (the run's `numNodes` and the per-node environment): `apply()` adds the
  parameter to the list, and `_submitjob` keeps the overrides, for the job being built
  in this request's thread, as `job.node_overrides`.
- `job_view` is what the local executor needs of a multi-node job: the nodes' one
  container (every node range of our definitions is "0:"), its environment with the
  overrides, and how many nodes and which is the main one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from seisless.errors import LocalCloudError

EXPECTED = {
    "moto.batch.models.JobDefinition.create_from_cloudformation_json":
        ["resource_name", "cloudformation_json", "account_id", "region_name"],
    "moto.batch.models.BatchBackend.register_job_definition":
        ["self", "def_name", "parameters", "_type", "tags", "retry_strategy",
         "container_properties", "node_properties", "eks_properties", "timeout",
         "platform_capabilities", "propagate_tags"],
    "moto.batch.responses.BatchResponse.submitjob": ["self"],
    "moto.batch.models.Job.__init__": ["self", "name", "job_def"],
}
_BATCH_TASK = ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
               "state_task_service_batch")
_originals: dict[str, Any] = {}
_submitting = threading.local()


def _create_job_definition(cls: Any, resource_name: str, cloudformation_json: Any,
                           account_id: str, region_name: str, **kwargs: Any) -> Any:
    from moto.batch.models import batch_backends
    from moto.batch.utils import lowercase_first_key

    props = cloudformation_json["Properties"]
    if str(props.get("Type", "container")).lower() != "multinode":
        return _originals["create_job_definition"].__func__(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    return batch_backends[account_id][region_name].register_job_definition(
        def_name=resource_name, parameters=lowercase_first_key(props.get("Parameters", {})),
        _type="multinode", tags=lowercase_first_key(props.get("Tags", {})),
        retry_strategy=lowercase_first_key(props["RetryStrategy"]),
        container_properties=None,
        node_properties=lowercase_first_key(props["NodeProperties"]), eks_properties=None,
        timeout=lowercase_first_key(props.get("Timeout", {})), platform_capabilities=None,
        propagate_tags=None)


def _submitjob(self: Any) -> str:
    _submitting.node_overrides = self._get_param("nodeOverrides") or {}
    try:
        return _originals["submitjob"](self)
    finally:
        _submitting.node_overrides = {}


def _job_init(original: Callable[..., None]) -> Callable[..., None]:
    """moto's Job.__init__, then the node overrides of the submit in progress. Wrapped
    (functools.wraps), so `verify` still reads moto's own signature through it."""

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.node_overrides = getattr(_submitting, "node_overrides", None) or {}

    return init


def _covers(target: str, node: int, num_nodes: int) -> bool:
    start, sep, end = target.partition(":")
    first = int(start or 0)
    last = (int(end) if end else num_nodes - 1) if sep else first
    return first <= node <= last


def job_view(job: Any) -> dict[str, Any]:
    """`moto_patches.batch_job_view` of a multi-node job (see the module doc)."""
    props = job.job_definition.node_properties or {}
    overrides = getattr(job, "node_overrides", {}) or {}
    num_nodes = int(overrides.get("numNodes") or props["numNodes"])
    ranges = props.get("nodeRangeProperties") or []
    if len(ranges) != 1 or not all(_covers(ranges[0]["targetNodes"], i, num_nodes)
                                   for i in range(num_nodes)):
        raise LocalCloudError("the local cloud runs multi-node jobs with one node range "
                              "covering every node (\"0:\")")
    container = ranges[0]["container"]
    environment = {e["name"]: e["value"] for e in container.get("environment", [])}
    for override in overrides.get("nodePropertyOverrides") or []:
        if all(_covers(override["targetNodes"], i, num_nodes) for i in range(num_nodes)):
            environment.update({e["name"]: e["value"] for e in
                                override.get("containerOverrides", {}).get("environment", [])})
    vcpus = next((int(r["value"]) for r in container.get("resourceRequirements", [])
                  if r["type"] == "VCPU"), 1)
    return {"job_id": job.job_id, "command": list(container.get("command", [])),
            "environment": environment, "command_override": None,
            "image": container.get("image"), "job_role_arn": container.get("jobRoleArn"),
            "vcpus": vcpus, "timeout_s": job._get_attempt_duration(),
            "retry_strategy": dict(job.job_definition.retry_strategy or {}),
            "array_index": None, "nodes": num_nodes,
            "main_node": int(props.get("mainNode", 0))}


def _task_parameters() -> set[str]:
    """The Batch task's `submitJob` parameters (a module constant of moto's)."""
    import importlib

    bindings = getattr(importlib.import_module(_BATCH_TASK), "_SUPPORTED_API_PARAM_BINDINGS",
                       {}).get("submitjob")
    if not isinstance(bindings, set):
        raise LocalCloudError("moto changed: its Batch task has no submitjob parameter list; "
                              "update seisless/local/moto_multinode.py")
    return bindings


def apply() -> None:
    from moto.batch.models import Job, JobDefinition
    from moto.batch.responses import BatchResponse

    parameters = _task_parameters()
    _originals["node_overrides_listed"] = "NodeOverrides" in parameters
    parameters.add("NodeOverrides")
    _originals["create_job_definition"] = \
        JobDefinition.__dict__["create_from_cloudformation_json"]
    _originals["submitjob"] = BatchResponse.submitjob
    _originals["job_init"] = Job.__init__
    JobDefinition.create_from_cloudformation_json = classmethod(_create_job_definition)
    BatchResponse.submitjob = _submitjob
    Job.__init__ = _job_init(Job.__init__)


def revert() -> None:
    from moto.batch.models import Job, JobDefinition
    from moto.batch.responses import BatchResponse

    JobDefinition.create_from_cloudformation_json = _originals.pop("create_job_definition")
    BatchResponse.submitjob = _originals.pop("submitjob")
    Job.__init__ = _originals.pop("job_init")
    if not _originals.pop("node_overrides_listed"):
        _task_parameters().discard("NodeOverrides")
