"""One Lambda function construct, used for both functions (ingest and key rotation).

Each function gets, all from this one construct:

* its log group ``/aws/lambda/<name>`` (retention, the stack key), created
  before the function so Lambda never creates an unencrypted group with
  infinite retention, and named in ``logging_config`` (JSON log format);
* its execution role (trusted only by ``lambda.amazonaws.com`` for this
  account) with one inline policy: its own log group, VPC network interfaces
  (scoped as the Lambda developer guide shows), X-Ray, its dead-letter queue,
  decryption of its own environment, plus the resource grants passed in by the
  stack (each from the resource's owner). No AWS managed policy;
* a KMS-encrypted SQS dead-letter queue (``dead_letter_config``) with a TLS-only
  queue policy, and an ``aws_lambda_function_event_invoke_config`` bounding
  retries and event age: an asynchronous event that exhausts its retries is
  kept, with its original payload, for ``tools/redrive.py``. The rotation
  function is invoked synchronously by Secrets Manager, so its queue only ever
  catches a hand-made asynchronous invocation; it costs nothing while empty and
  keeps one shape for every function (and checkov's CKV_AWS_116) without an
  exception;
* X-Ray tracing ``Active``, reserved concurrency, environment variables
  encrypted with the stack key, private subnets and the function security
  group, and ``aws_lambda_function_recursion_config`` = ``Terminate``.

Accepted exception: no code-signing configuration (checkov CKV_AWS_272). The
artifact is built reproducibly from this repository and its SHA-256 is pinned
in ``source_code_hash``; a signing profile would need AWS Signer outside this
stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from constructs import Construct

from modules.iam import lambda_trust_policy, own_log_group_statement, vpc_network_interface_statements, xray_statement
from modules.policy import Statement, render, statement
from modules.provider_import import aws

if TYPE_CHECKING:
    from modules.encryption import EncryptionKey

LOG_FORMAT = "JSON"
TRACING_MODE = "Active"
RECURSIVE_LOOP = "Terminate"


@dataclass(frozen=True)
class FunctionCode:
    """Where Terraform finds the zip (relative to the stack folder) and its ``source_code_hash``."""

    filename: str
    source_code_hash: str


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    role_name: str
    dlq_name: str
    description: str
    code: FunctionCode
    handler: str
    runtime: str
    architecture: str
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int
    account_id: str
    region: str
    log_retention_days: int
    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]
    max_retry_attempts: int
    max_event_age_seconds: int
    dlq_retention_days: int
    # Every variable the code reads; at least one, so the KMS key encrypts something (CKV_AWS_173).
    environment: Mapping[str, str] = field(default_factory=dict)
    # Grants on other resources, from their owners (bucket prefixes, the secret, the key via S3 ...).
    grants: tuple[Statement, ...] = ()

    @property
    def arn(self) -> str:
        """Built from the name: the role's policy needs it before the function exists."""
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.name}"


class Function(Construct):
    def __init__(self, scope: Construct, id_: str, config: FunctionConfig, key: "EncryptionKey") -> None:
        super().__init__(scope, id_)
        if not config.environment:
            raise ValueError(f"function {config.name!r}: give at least one environment variable (CKV_AWS_173)")
        self.config = config
        self._log_group = aws("cloudwatch_log_group").CloudwatchLogGroup(
            self, "log-group",
            name=config.log_group_name,
            retention_in_days=config.log_retention_days,
            kms_key_id=key.key_arn,
        )
        self._dlq = aws("sqs_queue").SqsQueue(
            self, "dlq",
            name=config.dlq_name,
            kms_master_key_id=key.key_arn,
            message_retention_seconds=config.dlq_retention_days * 86400,
        )
        aws("sqs_queue_policy").SqsQueuePolicy(
            self, "dlq-policy",
            queue_url=self._dlq.url,
            policy=render(_deny_insecure_sqs_transport(self._dlq.arn)),
        )
        self._role = aws("iam_role").IamRole(
            self, "role",
            name=config.role_name,
            description=f"Execution role of {config.name}",
            assume_role_policy=render([lambda_trust_policy(config.account_id)]),
        )
        self.policy_statements: tuple[Statement, ...] = tuple(self._statements(config, key))
        role_policy = aws("iam_role_policy").IamRolePolicy(
            self, "policy",
            name="least-privilege",
            role=self._role.id,
            policy=render(self.policy_statements),
        )
        fn = aws("lambda_function")
        self._function = fn.LambdaFunction(
            self, "function",
            function_name=config.name,
            description=config.description,
            role=self._role.arn,
            filename=config.code.filename,
            source_code_hash=config.code.source_code_hash,
            handler=config.handler,
            runtime=config.runtime,
            architectures=[config.architecture],
            memory_size=config.memory_mb,
            timeout=config.timeout_seconds,
            reserved_concurrent_executions=config.reserved_concurrency,
            kms_key_arn=key.key_arn,
            environment=fn.LambdaFunctionEnvironment(variables=dict(config.environment)),
            tracing_config=fn.LambdaFunctionTracingConfig(mode=TRACING_MODE),
            logging_config=fn.LambdaFunctionLoggingConfig(log_format=LOG_FORMAT, log_group=self._log_group.name),
            dead_letter_config=fn.LambdaFunctionDeadLetterConfig(target_arn=self._dlq.arn),
            vpc_config=fn.LambdaFunctionVpcConfig(subnet_ids=list(config.subnet_ids),
                                                  security_group_ids=list(config.security_group_ids)),
            # Lambda checks at creation that the role can write logs, manage ENIs and send to the DLQ.
            depends_on=[self._log_group, role_policy],
        )
        aws("lambda_function_event_invoke_config").LambdaFunctionEventInvokeConfig(
            self, "async-config",
            function_name=self._function.function_name,
            maximum_retry_attempts=config.max_retry_attempts,
            maximum_event_age_in_seconds=config.max_event_age_seconds,
        )
        aws("lambda_function_recursion_config").LambdaFunctionRecursionConfig(
            self, "recursion",
            function_name=self._function.function_name,
            recursive_loop=RECURSIVE_LOOP,
        )

    def _statements(self, config: FunctionConfig, key: "EncryptionKey") -> list[Statement]:
        return [
            own_log_group_statement(self._log_group.arn),
            *config.grants,
            statement("SendToOwnDeadLetterQueue", ["sqs:SendMessage"], [self._dlq.arn]),
            *key.grant_via_service(["kms:GenerateDataKey", "kms:Decrypt"], "sqs", sid="KeyViaSqsForDeadLetterQueue",
                                   encryption_context={"aws:sqs:arn": self._dlq.arn}),
            *key.grant_lambda_environment_decrypt(config.arn),
            *vpc_network_interface_statements(config.region, config.account_id),
            xray_statement(),
        ]

    @property
    def function_name(self) -> str:
        return self._function.function_name

    @property
    def function_arn(self) -> str:
        return self._function.arn

    @property
    def role_arn(self) -> str:
        return self._role.arn

    @property
    def role_name(self) -> str:
        return self._role.name

    @property
    def log_group_name(self) -> str:
        return self._log_group.name

    @property
    def dlq_name(self) -> str:
        return self._dlq.name

    @property
    def dlq_arn(self) -> str:
        return self._dlq.arn

    @property
    def timeout_seconds(self) -> int:
        return self.config.timeout_seconds

    @property
    def reserved_concurrency(self) -> int:
        return self.config.reserved_concurrency


def _deny_insecure_sqs_transport(queue_arn: str) -> list[Statement]:
    return [statement("DenyInsecureTransport", ["sqs:*"], [queue_arn], effect="Deny", principal={"AWS": "*"},
                      condition={"Bool": {"aws:SecureTransport": "false"}})]
