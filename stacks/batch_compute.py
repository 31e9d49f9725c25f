"""AWS Batch for the imaging jobs: network, compute environments, queue, job definitions."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from seisless.names import ENV_BUCKET, ENV_REDUCE_QUEUE_URL
from stacks.functions import IMAGE_EXCLUDE, REPO_ROOT
from stacks.nag import acknowledge

#: Batch retries an attempt whose host went away (Spot reclaim, instance failure): the
#: status reason then starts with "Host EC2". Anything else is the application failing
#: (bad input, a bug): retrying cannot help, so the job exits and the shot is tombstoned.
HOST_GONE = "Host EC2*"
#: Nodes of the multi-node job definition unless a submission overrides numNodes.
MIN_NODES = 2


@dataclass(frozen=True)
class ComputeSettings:
    """What a deployment may tune through CDK context (see `from_context`)."""

    instance_types: tuple[str, ...] = ("c6i.2xlarge", "c6i.4xlarge", "c7i.2xlarge",
                                     "m6i.2xlarge")
    max_vcpus: int = 256
    gradient_vcpus: int = 4
    gradient_memory_mib: int = 15_000
    update_vcpus: int = 2
    update_memory_mib: int = 7_500
    attempts: int = 3
    gradient_timeout_minutes: int = 120
    update_timeout_minutes: int = 60
    #: Multi-node gradient jobs (nodes_per_shot > 1): on-demand instances with enhanced
    #: networking (ENA, up to 50 Gbit/s on c6in) for MPI's halo exchanges, one per node.
    node_instance_types: tuple[str, ...] = ("c6in.4xlarge", "c6i.4xlarge", "m6i.4xlarge")
    node_max_vcpus: int = 256
    node_vcpus: int = 16
    node_memory_mib: int = 30_000
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = field(default=())

    @classmethod
    def from_context(cls, scope: Construct) -> ComputeSettings:
        """Context keys `seisless:instanceTypes` (list), `seisless:maxVcpus`,
        `seisless:nodeInstanceTypes` (list) and `seisless:nodeMaxVcpus` (multi-node jobs),
        `seisless:vpcId` with `seisless:subnetIds` and `seisless:availabilityZones`
        (an existing VPC's public subnets, given without a lookup so synth stays offline)."""
        node = scope.node
        kwargs = {}
        for key, name, kind in (("instanceTypes", "instance_types", tuple),
                                ("nodeInstanceTypes", "node_instance_types", tuple),
                                ("nodeMaxVcpus", "node_max_vcpus", int),
                                ("maxVcpus", "max_vcpus", int), ("vpcId", "vpc_id", str),
                                ("subnetIds", "subnet_ids", tuple),
                                ("availabilityZones", "availability_zones", tuple)):
            value = node.try_get_context(f"seisless:{key}")
            if value is not None:
                kwargs[name] = kind(value.split(",") if kind is tuple and isinstance(
                    value, str) else value)
        return cls(**kwargs)


class BatchCompute(Construct):
    """Spot first (SPOT_PRICE_CAPACITY_OPTIMIZED), on-demand second, one job queue, and
    the gradient and update job definitions built from `containers/`.

    The VPC has public subnets only (no NAT gateway to pay for): instances get public IPs
    and reach SQS, ECR and CloudWatch over HTTPS, and S3 through a gateway endpoint (bucket
    traffic stays off the internet gateway, and costs no data processing); their security
    group allows no inbound traffic and HTTPS only outbound. Instances start from a launch
    template that requires IMDSv2 with a hop limit of 1, so containers (which get their
    credentials and region from ECS) cannot read the instance role's credentials. Job
    output goes to a log group of this stack, kept `log_retention`.

    Multi-node gradient jobs (`nodes_per_shot` > 1) have their own queue: Batch runs them
    on on-demand capacity only, here in a cluster placement group in one subnet (one
    Availability Zone: low latency between the nodes), with instances whose security
    group also lets the nodes of a job reach each other (ssh and MPI's ports).
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket,
                 reduce_queue_url: str, settings: ComputeSettings,
                 log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
                 removal_policy: RemovalPolicy = RemovalPolicy.DESTROY) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self._images: dict[str, ecr_assets.DockerImageAsset] = {}
        self.vpc = self._vpc(settings)
        self.security_group = ec2.SecurityGroup(
            self, "Instances", vpc=self.vpc, allow_all_outbound=False,
            description="seisless Batch instances: no inbound traffic, HTTPS outbound")
        # AWS APIs only: S3 (via the gateway endpoint's prefix list), SQS, ECR, ECS and
        # CloudWatch Logs. DNS, NTP and the metadata service are not filtered by security
        # groups.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                            "HTTPS to AWS APIs")
        self.launch_template = ec2.LaunchTemplate(
            self, "InstanceTemplate", require_imdsv2=True, http_put_response_hop_limit=1)
        self.job_logs = logs.LogGroup(self, "JobLogs", retention=log_retention,
                                      removal_policy=removal_policy)
        subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC) \
            if settings.vpc_id is None else ec2.SubnetSelection(
                subnets=self.vpc.public_subnets)
        common = dict(vpc=self.vpc, vpc_subnets=subnets, security_groups=[self.security_group],
                      instance_types=[ec2.InstanceType(t) for t in settings.instance_types],
                      use_optimal_instance_classes=False, maxv_cpus=settings.max_vcpus,
                      minv_cpus=0, launch_template=self.launch_template)
        self.spot = batch.ManagedEc2EcsComputeEnvironment(
            self, "Spot", spot=True,
            allocation_strategy=batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED,
            **common)
        self.on_demand = batch.ManagedEc2EcsComputeEnvironment(
            self, "OnDemand", spot=False,
            allocation_strategy=batch.AllocationStrategy.BEST_FIT_PROGRESSIVE, **common)
        self.queue = batch.JobQueue(self, "Queue", compute_environments=[
            batch.OrderedComputeEnvironment(compute_environment=self.spot, order=1),
            batch.OrderedComputeEnvironment(compute_environment=self.on_demand, order=2)])
        # One role per job: the gradient job announces leaves to the reduction, the update
        # job does not (the caller grants each what it reads and writes).
        self.gradient_role = iam.Role(self, "GradientJobRole",
                                      assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        self.update_role = iam.Role(self, "UpdateJobRole",
                                    assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        self.gradient = self._job_definition(
            "Gradient", "containers/gradient/Dockerfile", "containers.gradient.entrypoint",
            vcpus=settings.gradient_vcpus, memory_mib=settings.gradient_memory_mib,
            timeout=Duration.minutes(settings.gradient_timeout_minutes),
            env={ENV_BUCKET: bucket.bucket_name, ENV_REDUCE_QUEUE_URL: reduce_queue_url},
            role=self.gradient_role)
        self._multi_node(settings, bucket=bucket, reduce_queue_url=reduce_queue_url)
        self.update = self._job_definition(
            "Update", "containers/update/Dockerfile", "containers.update.entrypoint",
            vcpus=settings.update_vcpus, memory_mib=settings.update_memory_mib,
            timeout=Duration.minutes(settings.update_timeout_minutes),
            env={ENV_BUCKET: bucket.bucket_name}, role=self.update_role)
        self._acknowledge()

    def _vpc(self, settings: ComputeSettings) -> ec2.IVpc:
        if settings.vpc_id is not None:
            return ec2.Vpc.from_vpc_attributes(
                self, "Vpc", vpc_id=settings.vpc_id,
                availability_zones=list(settings.availability_zones),
                public_subnet_ids=list(settings.subnet_ids))
        vpc = ec2.Vpc(self, "Vpc", max_azs=3, nat_gateways=0, subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)])
        vpc.add_flow_log("FlowLog", traffic_type=ec2.FlowLogTrafficType.REJECT)
        # Full-access policy on purpose: ECR serves image layers from S3 buckets of its
        # own, which a policy naming only the data bucket would cut off.
        vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        return vpc

    def _multi_node(self, settings: ComputeSettings, *, bucket: s3.IBucket,
                    reduce_queue_url: str) -> None:
        """The multi-node queue and job definition (see the class doc)."""
        self.node_security_group = ec2.SecurityGroup(
            self, "NodeInstances", vpc=self.vpc, allow_all_outbound=False,
            description="seisless multi-node Batch instances: the nodes of a job reach each "
                        "other (ssh, MPI); HTTPS outbound")
        self.node_security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                                 "HTTPS to AWS APIs")
        self.node_security_group.connections.allow_internally(
            ec2.Port.all_tcp(), "the nodes of a multi-node job: ssh and MPI")
        self.placement_group = ec2.PlacementGroup(
            self, "NodePlacement", strategy=ec2.PlacementGroupStrategy.CLUSTER)
        self.multi_node = batch.ManagedEc2EcsComputeEnvironment(
            self, "MultiNode", spot=False, vpc=self.vpc,
            allocation_strategy=batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
            vpc_subnets=ec2.SubnetSelection(subnets=self.vpc.public_subnets[:1]),
            security_groups=[self.node_security_group], placement_group=self.placement_group,
            instance_types=[ec2.InstanceType(t) for t in settings.node_instance_types],
            use_optimal_instance_classes=False, maxv_cpus=settings.node_max_vcpus,
            minv_cpus=0, launch_template=self.launch_template)
        self.node_queue = batch.JobQueue(self, "MultiNodeQueue", compute_environments=[
            batch.OrderedComputeEnvironment(compute_environment=self.multi_node, order=1)])
        container = self._container(
            "MultiNodeGradient", self._images["Gradient"], "containers.gradient.node",
            vcpus=settings.node_vcpus, memory_mib=settings.node_memory_mib,
            env={ENV_BUCKET: bucket.bucket_name, ENV_REDUCE_QUEUE_URL: reduce_queue_url},
            role=self.gradient_role)
        self.node_gradient = batch.MultiNodeJobDefinition(
            self, "MultiNodeGradient", main_node=0, propagate_tags=True,
            containers=[batch.MultiNodeContainer(container=container, start_node=0,
                                                 end_node=MIN_NODES - 1)],
            timeout=Duration.minutes(settings.gradient_timeout_minutes),
            **self._retries())
        # One node range open at the end ("0:"): every node runs the same container, however
        # many nodes a run asks for (submitJob's nodeOverrides.numNodes).
        cfn = self.node_gradient.node.default_child
        cfn.add_property_override("NodeProperties.NodeRangeProperties.0.TargetNodes", "0:")

    def _container(self, name: str, image: ecr_assets.DockerImageAsset, module: str, *,
                   vcpus: int, memory_mib: int, env: dict[str, str],
                   role: iam.IRole) -> batch.EcsEc2ContainerDefinition:
        container = batch.EcsEc2ContainerDefinition(
            self, f"{name}Container", image=ecs.ContainerImage.from_docker_image_asset(image),
            cpu=vcpus, memory=Size.mebibytes(memory_mib),
            command=["python", "-m", module], environment=env, job_role=role,
            logging=ecs.LogDriver.aws_logs(stream_prefix=name.lower(),
                                           log_group=self.job_logs))
        acknowledge(container, {
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "Pulling the image needs "
                "ecr:GetAuthorizationToken, which accepts no resource but *.",
        })
        return container

    def _retries(self) -> dict:
        """Retry host failures (Spot reclaims, instances gone), never the application."""
        return dict(retry_attempts=self.settings.attempts, retry_strategies=[
            batch.RetryStrategy.of(batch.Action.RETRY,
                                   batch.Reason.custom(on_status_reason=HOST_GONE)),
            batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom(on_reason="*")),
        ])

    def _job_definition(self, name: str, dockerfile: str, module: str, *, vcpus: int,
                        memory_mib: int, timeout: Duration, env: dict[str, str],
                        role: iam.IRole) -> batch.EcsJobDefinition:
        image = ecr_assets.DockerImageAsset(self, f"{name}Image", directory=str(REPO_ROOT),
                                            file=dockerfile, exclude=IMAGE_EXCLUDE)
        self._images[name] = image
        container = self._container(name, image, module, vcpus=vcpus, memory_mib=memory_mib,
                                    env=env, role=role)
        return batch.EcsJobDefinition(self, name, container=container, timeout=timeout,
                                      propagate_tags=True, **self._retries())

    def _acknowledge(self) -> None:
        for env in (self.spot, self.on_demand, self.multi_node):
            acknowledge(env, {
                "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AmazonEC2ContainerServiceforEC2Role]": "AWS Batch's instance "
                "role needs the managed ECS-for-EC2 policy (ECS agent registration).",
            })
