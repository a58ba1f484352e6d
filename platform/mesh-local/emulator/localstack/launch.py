# Starts the LocalStack 4.8.1 that install.sh put in place, in host mode
# (no Docker), every listener on 127.0.0.1:
#   python launch.py <filesystem root> <port>
#
# Two changes to LocalStack, here in the harness and never in product code:
# - With no Docker, LocalStack's Lambda marks every new function Failed (it
#   pulls the runtime's container image at creation), so no template with a
#   function deploys. The mesh harness runs the functions itself
#   (mesh_local::host), so the Docker executor's preparation is skipped:
#   functions are created Active, and an invocation still fails with
#   LocalStack's own "Docker not available" error.
# - Its CloudFormation creates a Kinesis stream without the template's
#   `StreamEncryption` and `RetentionPeriodHours`, and a DynamoDB table
#   without `PointInTimeRecoverySpecification` (the services' APIs honour
#   all three): they are applied once the resource is active, as AWS does at
#   creation, so the settings test checks them.
import os
import sys


def main() -> None:
    root, port = sys.argv[1], sys.argv[2]
    os.makedirs(root, exist_ok=True)
    os.environ.update(
        {
            # hypercorn honours the host; the default server binds 0.0.0.0.
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "GATEWAY_SERVER": "hypercorn",
            # The queue URLs it hands out must resolve here.
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "SQS_ENDPOINT_STRATEGY": "path",
            # These machines look like containers to LocalStack.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": root,
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LOCALSTACK_TELEMETRY": "0",
            # kinesis-mock's default (100 shards in all) runs out after a
            # few parallel tests, each deploying its own ports stacks.
            "KINESIS_SHARD_LIMIT": "100000",
        }
    )
    os.environ.setdefault(
        "SERVICES",
        "cloudformation,dynamodb,dynamodbstreams,kinesis,sns,sqs,s3,iam,sts,kms,logs,cloudwatch,lambda,scheduler",
    )

    from localstack.services.lambda_.invocation import docker_runtime_executor

    docker_runtime_executor.DockerRuntimeExecutor.prepare_version = classmethod(lambda cls, version: None)

    _apply_settings_at_creation()

    from localstack.runtime import main as runtime

    runtime.main()


def _apply_settings_at_creation() -> None:
    from localstack.services.dynamodb.resource_providers import aws_dynamodb_table
    from localstack.services.kinesis.resource_providers import aws_kinesis_stream

    def stream_settings(model, clients):
        hours = int(model.get("RetentionPeriodHours") or 24)
        if hours > 24:
            clients.kinesis.increase_stream_retention_period(StreamName=model["Name"], RetentionPeriodHours=hours)
        encryption = model.get("StreamEncryption")
        if encryption:
            clients.kinesis.start_stream_encryption(
                StreamName=model["Name"],
                EncryptionType=encryption["EncryptionType"],
                KeyId=encryption["KeyId"],
            )

    def table_settings(model, clients):
        recovery = model.get("PointInTimeRecoverySpecification") or {}
        if str(recovery.get("PointInTimeRecoveryEnabled")).lower() == "true":
            clients.dynamodb.update_continuous_backups(
                TableName=model["TableName"],
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )

    _after_creation(aws_kinesis_stream.KinesisStreamProvider, stream_settings)
    _after_creation(aws_dynamodb_table.DynamoDBTableProvider, table_settings)


def _after_creation(provider, apply) -> None:
    """Runs `apply(model, clients)` once, when `provider` reports the resource created."""
    from localstack.services.cloudformation.resource_provider import OperationStatus

    create = provider.create

    def create_then_apply(self, request):
        event = create(self, request)
        if event.status == OperationStatus.SUCCESS and not request.custom_context.get("mesh:applied"):
            apply(request.desired_state, request.aws_client_factory)
            request.custom_context["mesh:applied"] = True
        return event

    provider.create = create_then_apply


if __name__ == "__main__":
    main()
