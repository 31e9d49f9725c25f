"""Invariants of the imaging workflow's infrastructure (asserted, not counted)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.infra.conftest import resources


def _lambda_timeouts(template_json: dict) -> dict[str, int]:
    return {name: r["Properties"].get("Timeout", 3)
            for name, r in resources(template_json, "AWS::Lambda::Function").items()}


def test_every_work_queue_has_a_dead_letter_queue(template_json: dict) -> None:
    queues = resources(template_json, "AWS::SQS::Queue")
    dead_letter = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                   for q in queues.values() if "RedrivePolicy" in q["Properties"]}
    targets = json.dumps(template_json)
    for name, queue in queues.items():
        if name in dead_letter:
            continue
        consumed = f'"EventSourceArn": {{"Fn::GetAtt": ["{name}"' in targets
        if consumed:
            assert "RedrivePolicy" in queue["Properties"], name


def test_reducer_event_source_batches_and_reports_item_failures(template_json: dict) -> None:
    timeouts = _lambda_timeouts(template_json)
    queues = resources(template_json, "AWS::SQS::Queue")
    mappings = resources(template_json, "AWS::Lambda::EventSourceMapping")
    assert mappings
    for mapping in mappings.values():
        props = mapping["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 1 < props["BatchSize"] <= 10
        assert props["MaximumBatchingWindowInSeconds"] > 0
        assert props["ScalingConfig"]["MaximumConcurrency"] >= 2
        queue = queues[props["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        timeout = timeouts[props["FunctionName"]["Ref"]]
        assert queue["VisibilityTimeout"] >= 6 * timeout
        assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3


def test_batch_jobs_retry_spot_reclaims_only_and_time_out(template_json: dict) -> None:
    definitions = resources(template_json, "AWS::Batch::JobDefinition")
    assert len(definitions) == 3
    for name, definition in definitions.items():
        props = definition["Properties"]
        strategy = props["RetryStrategy"]
        assert strategy["Attempts"] >= 2, name
        first, *rest = strategy["EvaluateOnExit"]
        assert first == {"Action": "RETRY", "OnStatusReason": "Host EC2*"}, name
        assert rest and rest[-1]["Action"] == "EXIT", name
        assert props["Timeout"]["AttemptDurationSeconds"] > 0, name


def test_spot_first_on_demand_second(template_json: dict) -> None:
    environments = resources(template_json, "AWS::Batch::ComputeEnvironment")
    (queue,) = [q for q in resources(template_json, "AWS::Batch::JobQueue").values()
                if len(q["Properties"]["ComputeEnvironmentOrder"]) == 2]
    order = sorted(queue["Properties"]["ComputeEnvironmentOrder"], key=lambda o: o["Order"])
    kinds = [environments[o["ComputeEnvironment"]["Fn::GetAtt"][0]]["Properties"]
             ["ComputeResources"] for o in order]
    assert [k["Type"] for k in kinds] == ["SPOT", "EC2"]
    assert kinds[0]["AllocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert all(k["MinvCpus"] == 0 for k in kinds)


def test_vpc_without_nat_cost(template_json: dict) -> None:
    assert not resources(template_json, "AWS::EC2::NatGateway")
    assert resources(template_json, "AWS::EC2::FlowLog")


def _imaging_definition(template_json: dict) -> tuple[dict[str, Any], dict[str, Any]]:
    machines = resources(template_json, "AWS::StepFunctions::StateMachine")
    (props,) = [m["Properties"] for m in machines.values()
                if "imaging" in json.dumps(m["Properties"]["StateMachineName"])]
    return json.loads(props["DefinitionString"]), props.get("DefinitionSubstitutions", {})


def test_imaging_state_machine_waits_with_timeouts_never_forever(template_json: dict) -> None:
    definition, _ = _imaging_definition(template_json)
    states = json.dumps(definition)
    assert "arn:aws:states:::batch:submitJob.sync" in states
    waits = [s for s in _all_states(definition).values()
             if s.get("Resource", "").endswith(".waitForTaskToken")]
    assert waits
    for state in waits:
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state
        assert "HeartbeatSeconds" in state or "HeartbeatSecondsPath" in state
        assert any(c["ErrorEquals"] for c in state.get("Catch", []))


def test_imaging_placeholders_are_all_substituted(template_json: dict) -> None:
    definition, substitutions = _imaging_definition(template_json)
    used = set(re.findall(r"\$\{(\w+)\}", json.dumps(definition)))
    assert used <= set(substitutions)


def test_reducer_sets_a_fixed_mmap_threshold(template_json: dict) -> None:
    functions = resources(template_json, "AWS::Lambda::Function")
    (reducer,) = [f for f in functions.values()
                  if "lambdas.reducer" in json.dumps(f["Properties"].get("ImageConfig", {}))]
    assert reducer["Properties"]["Environment"]["Variables"]["MALLOC_MMAP_THRESHOLD_"]


def _all_states(definition: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for name, state in definition.get("States", {}).items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(_all_states(branch))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found.update(_all_states(state[key]))
    return found


def test_line_search_loop_is_bounded_and_bb_runs_no_trial_jobs(template_json: dict) -> None:
    """After Update, BB (line_search false) goes straight to Advance; the trial loop is
    Batch forward-only jobs -> JudgeTrial -> a Choice that loops while the counter is
    below max_trials and otherwise ends in a Fail state of type ImagingError."""
    states = _all_states(_imaging_definition(template_json)[0])
    assert states["Update"]["Next"] == "IsLineSearch"
    choice = states["IsLineSearch"]
    assert choice["Default"] == "Advance"
    assert choice["Choices"] == [{"Variable": "$.run.line_search", "BooleanEquals": True,
                                  "Next": "StartLineSearch"}]
    for name in ("TrialObjectives", "TrialObjective"):
        trial = states[name]
        assert trial["Resource"] == "arn:aws:states:::batch:submitJob.sync"
        env = {e["Name"]: e for e in trial["Parameters"]["ContainerOverrides"]["Environment"]}
        assert env["SEISLESS_TRIAL"]["Value.$"] == "$.search.trial_str"
        assert trial["Next"] == "JudgeTrial"
    accepted, below_limit = states["IsTrialAccepted"]["Choices"]
    assert accepted["Next"] == "Advance"
    assert below_limit["NumericLessThanPath"] == "$.run.max_trials"
    exhausted = states[states["IsTrialAccepted"]["Default"]]
    assert exhausted["Type"] == "Fail" and exhausted["Error"] == "ImagingError"
    assert "fwi.line_search.max_trials" in exhausted["CausePath"]
    advance = states["Advance"]["Parameters"]["run"]
    assert advance["line_search.$"] == "$.run.line_search"
    assert advance["max_trials.$"] == "$.run.max_trials"


# --- multi-node gradient jobs (nodes_per_shot > 1) --------------------------------------

def _multi_node_definition(template_json: dict) -> tuple[str, dict[str, Any]]:
    ((name, definition),) = [(k, d) for k, d in resources(
        template_json, "AWS::Batch::JobDefinition").items()
        if d["Properties"]["Type"] == "multinode"]
    return name, definition["Properties"]


def test_multi_node_definition_runs_the_node_launcher_on_every_node(
        template_json: dict) -> None:
    """One node range open at the end ("0:"), so numNodes can be overridden per run;
    node 0 is the main node; the container is the gradient job's (image, role, logs)."""
    _, props = _multi_node_definition(template_json)
    nodes = props["NodeProperties"]
    assert nodes["MainNode"] == 0 and nodes["NumNodes"] >= 2
    (node_range,) = nodes["NodeRangeProperties"]
    assert node_range["TargetNodes"] == "0:"
    container = node_range["Container"]
    assert container["Command"] == ["python", "-m", "containers.gradient.node"]
    gradient = next(d["Properties"]["ContainerProperties"] for d in resources(
        template_json, "AWS::Batch::JobDefinition").values()
        if "containers.gradient.entrypoint" in json.dumps(d["Properties"]))
    for key in ("Image", "JobRoleArn", "Environment"):
        assert container[key] == gradient[key], key
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == \
        gradient["LogConfiguration"]["Options"]["awslogs-group"]
    assert props["RetryStrategy"]["EvaluateOnExit"][0]["OnStatusReason"] == "Host EC2*"


def test_multi_node_jobs_have_an_on_demand_queue_in_a_cluster_placement_group(
        template_json: dict) -> None:
    environments = resources(template_json, "AWS::Batch::ComputeEnvironment")
    groups = resources(template_json, "AWS::EC2::PlacementGroup")
    (queue,) = [q for q in resources(template_json, "AWS::Batch::JobQueue").values()
                if len(q["Properties"]["ComputeEnvironmentOrder"]) == 1]
    (order,) = queue["Properties"]["ComputeEnvironmentOrder"]
    compute = environments[order["ComputeEnvironment"]["Fn::GetAtt"][0]]["Properties"][
        "ComputeResources"]
    assert compute["Type"] == "EC2"  # on demand: Batch runs no multi-node job on Spot
    placement = compute["PlacementGroup"]["Fn::GetAtt"][0]
    assert groups[placement]["Properties"]["Strategy"] == "cluster"
    assert len(compute["Subnets"]) == 1  # a cluster placement group is in one AZ
    assert compute["InstanceTypes"] and all(
        t.split(".")[0] in {"c6in", "c6i", "c7i", "m6i", "c5n", "hpc7a"}
        for t in compute["InstanceTypes"])  # enhanced networking (ENA)
    others = [e["Properties"]["ComputeResources"] for e in environments.values()
              if e["Properties"]["ComputeResources"] is not compute]
    assert all("PlacementGroup" not in e for e in others)


def test_state_machine_submits_one_multi_node_job_per_gradient_job(
        template_json: dict) -> None:
    """nodes_per_shot > 1 takes a Map (bounded concurrency) of multi-node jobs to the
    multi-node queue with numNodes from the run; a failed job is caught per item and
    RecordFailedShots tombstones its shots; with 1, today's array job."""
    definition, substitutions = _imaging_definition(template_json)
    states = _all_states(definition)
    assert states["SelectShots"]["Next"] == "IsMultiNode"
    choice = states["IsMultiNode"]
    assert choice["Default"] == "IsArrayJob"
    assert choice["Choices"] == [{"Variable": "$.run.nodes_per_shot", "NumericGreaterThan": 1,
                                  "Next": "NodeGradients"}]
    fan_out = states["NodeGradients"]
    assert fan_out["Type"] == "Map" and 0 < fan_out["MaxConcurrency"] <= 40
    assert fan_out["ItemsPath"] == "$.selected.plan.node_jobs"
    task = states["NodeGradient"]
    assert task["Resource"] == "arn:aws:states:::batch:submitJob.sync"
    params = task["Parameters"]
    assert params["JobQueue"] == "${MultiNodeJobQueueArn}"
    assert params["JobDefinition"] == "${MultiNodeGradientJobDefinitionArn}"
    assert params["NodeOverrides"]["NumNodes.$"] == "$.nodes"
    (override,) = params["NodeOverrides"]["NodePropertyOverrides"]
    env = {e["Name"] for e in override["ContainerOverrides"]["Environment"]}
    assert env == {"SEISLESS_RUN_ID", "SEISLESS_ITERATION", "SEISLESS_JOB_INDEX"}
    assert task["Catch"][0]["ErrorEquals"] == ["States.TaskFailed"]
    assert states["IsNodeGradientFailed"]["Default"] == "WaitForReduction"
    assert states["NodeGradientsFailed"]["Next"] == "RecordFailedShots"
    queue, job = substitutions["MultiNodeJobQueueArn"], \
        substitutions["MultiNodeGradientJobDefinitionArn"]
    assert queue["Fn::GetAtt"][1] == "JobQueueArn"
    assert job["Ref"] == _multi_node_definition(template_json)[0]


def test_the_state_machine_may_submit_multi_node_jobs_only_there(
        template_json: dict) -> None:
    """batch:SubmitJob names its resources, the multi-node queue and definition among
    them, never a wildcard."""
    machines = resources(template_json, "AWS::StepFunctions::StateMachine")
    (machine,) = [m for m in machines.values()
                  if "imaging" in json.dumps(m["Properties"]["StateMachineName"])]
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    policies = [p["Properties"]["PolicyDocument"]["Statement"]
                for p in resources(template_json, "AWS::IAM::Policy").values()
                if {"Ref": role} in p["Properties"]["Roles"]]
    submits = [s for statements in policies for s in statements
               if "batch:SubmitJob" in json.dumps(s["Action"])]
    named = {(r.get("Ref") or r["Fn::GetAtt"][0]) for s in submits for r in s["Resource"]}
    assert named == set(resources(template_json, "AWS::Batch::JobQueue")) | set(
        resources(template_json, "AWS::Batch::JobDefinition"))


def test_the_local_cloud_deploys_the_template_without_placement_groups(
        template_json: dict) -> None:
    """moto has no placement groups (and a machine no instances to place): the local
    template drops them and the compute environments' references, nothing else."""
    from seisless.local.template import for_moto

    local = for_moto(template_json)
    assert not resources(local, "AWS::EC2::PlacementGroup")
    assert not any("PlacementGroup" in e["Properties"]["ComputeResources"]
                   for e in resources(local, "AWS::Batch::ComputeEnvironment").values())
    dropped = set(template_json["Resources"]) - set(local["Resources"])
    assert dropped == set(resources(template_json, "AWS::EC2::PlacementGroup"))


def test_advance_carries_every_field_of_the_run_state() -> None:
    """Advance rebuilds `$.run` for the next iteration: a RunState field it drops is gone
    from iteration 1 on, and a Choice on it (IsMultiNode, IsLineSearch) then fails on AWS
    (States.Runtime) where moto quietly takes the Default."""
    from seisless.inversion.documents import RunState

    definition = json.loads((Path(__file__).parents[2] / "statemachines" /
                             "imaging.asl.json").read_text())
    carried = {key.removesuffix(".$") for key in
               definition["States"]["Advance"]["Parameters"]["run"]}
    assert carried == set(RunState.model_fields)
