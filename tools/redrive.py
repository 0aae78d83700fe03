"""Redrive a function's dead-letter queue: re-invoke it asynchronously with each dead-lettered event.

Lambda writes an event that exhausted its asynchronous retries to the
function's DLQ with the *original payload* as the message body. SQS's own
redrive (``StartMessageMoveTask``) cannot help: it only moves messages back to
an SQS source queue, and this queue's source is Lambda. So, for each message:

1. ``lambda:Invoke`` with ``InvocationType=Event`` and the body as payload
   (the same path S3 uses; the function's retries and DLQ apply again);
2. only when Lambda accepted the event (HTTP 202), ``sqs:DeleteMessage``.

A failed hand-off leaves the message in the queue (it becomes visible again
after the visibility timeout) and makes the exit status 1. A message is
handed off at most once per run, so a run always ends.

Usage::

    make redrive ENV=dev                      # the ingest function of environment dev
    python -m tools.redrive --env prod --function rotation --dry-run

Names come from the configuration (cdktf.json), exactly as the stack names
them. Credentials and region: the usual AWS SDK chain (profile, SSO, ...);
the region defaults to the environment's.

IAM the operator needs (scope to the stack's ARNs)::

    sqs:GetQueueUrl, sqs:ReceiveMessage, sqs:DeleteMessage   on the DLQ's ARN (+ sqs:GetQueueAttributes for --dry-run)
    kms:Decrypt                                              on the stack key, with kms:ViaService = sqs.<region>.amazonaws.com
    lambda:InvokeFunction                                    on the function's ARN
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

ACCEPTED = 202
# Long enough for one hand-off; a failed message reappears for the next run after it.
VISIBILITY_TIMEOUT_SECONDS = 120
BATCH_SIZE = 10


@dataclass
class RedriveResult:
    redriven: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def redrive(sqs: Any, lambda_client: Any, queue_url: str, function_name: str, *, max_messages: int | None = None,
            wait_seconds: int = 1) -> RedriveResult:
    """Hand every message of ``queue_url`` to ``function_name`` (async); delete only what Lambda accepted."""
    result = RedriveResult()
    seen: set[str] = set()
    while max_messages is None or len(seen) < max_messages:
        wanted = BATCH_SIZE if max_messages is None else min(BATCH_SIZE, max_messages - len(seen))
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=wanted,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=VISIBILITY_TIMEOUT_SECONDS,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            message_id = message["MessageId"]
            seen.add(message_id)
            try:
                response = lambda_client.invoke(FunctionName=function_name, InvocationType="Event",
                                                Payload=message["Body"].encode("utf-8"))
            except (ClientError, BotoCoreError) as exc:
                result.failed[message_id] = str(exc)
                continue
            if response.get("StatusCode") != ACCEPTED:
                result.failed[message_id] = f"Lambda answered {response.get('StatusCode')}, not {ACCEPTED}"
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            result.redriven.append(message_id)
    return result


def _targets(env_name: str, function: str) -> tuple[str, str, str]:
    """(function name, DLQ name, region) of an environment, named as the stack names them."""
    from modules.app import load_settings
    from modules.ingest_stack import StackNames

    env = load_settings().environment(env_name)
    names = StackNames.for_environment(env)
    if function == "ingest":
        return names.ingest_function, names.ingest_dlq, env.region
    return names.rotation_function, names.rotation_dlq, env.region


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.redrive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True, help="environment name from cdktf.json (e.g. dev)")
    parser.add_argument("--function", choices=("ingest", "rotation"), default="ingest")
    parser.add_argument("--region", help="override the environment's region")
    parser.add_argument("--max-messages", type=int, help="stop after this many messages")
    parser.add_argument("--dry-run", action="store_true", help="only report how many messages wait; receive nothing")
    args = parser.parse_args(argv)

    from modules.validation import ConfigError

    try:
        function_name, queue_name, region = _targets(args.env, args.function)
    except ConfigError as exc:
        print(f"redrive failed: {exc}", file=sys.stderr)
        return 2
    import boto3

    session = boto3.session.Session(region_name=args.region or region)
    sqs, lambda_client = session.client("sqs"), session.client("lambda")
    try:
        queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        if args.dry_run:
            waiting = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
            print(json.dumps({"function": function_name, "queue": queue_name,
                              "waiting": int(waiting["Attributes"]["ApproximateNumberOfMessages"])}, indent=2))
            return 0
        result = redrive(sqs, lambda_client, queue_url, function_name, max_messages=args.max_messages)
    except (ClientError, BotoCoreError) as exc:
        print(f"redrive failed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"function": function_name, "queue": queue_name,
                      "redriven": len(result.redriven), "failed": result.failed}, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
