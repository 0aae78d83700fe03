"""tools/redrive.py against moto's SQS and Lambda (in-process, Lambda code not run: ``use_docker`` off)."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tools import redrive as redrive_tool

REGION = "eu-west-1"
FUNCTION = "ingest-dev-ingest"
QUEUE = "ingest-dev-ingest-dlq"


def tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler/app.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def aws():
    # moto would run the function in Docker on invoke; the redrive only needs Lambda to accept the event.
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
        }))["Role"]["Arn"]
        lam = boto3.client("lambda", region_name=REGION)
        lam.create_function(FunctionName=FUNCTION, Runtime="python3.13", Role=role, Handler="handler.app.lambda_handler",
                            Code={"ZipFile": tiny_zip()})
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        yield sqs, lam, url


def dead_letter(sqs, url: str, key: str) -> str:
    """A message as Lambda writes it to a DLQ: the original S3 event as the body, error attributes."""
    event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": "ingest"}, "object": {"key": key}}}]}
    return sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event), MessageAttributes={
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "Task timed out"},
    })["MessageId"]


def waiting(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                          "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


class RecordingLambda:
    """The real moto client, recording each payload; fails for payloads naming ``fail_key``."""

    def __init__(self, client, fail_key: str | None = None):
        self.client, self.fail_key, self.payloads = client, fail_key, []

    def invoke(self, **kwargs):
        self.payloads.append(json.loads(kwargs["Payload"]))
        assert kwargs["InvocationType"] == "Event"
        if self.fail_key and self.fail_key in kwargs["Payload"].decode():
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")
        return self.client.invoke(**kwargs)


def test_moto_accepts_an_asynchronous_invoke_with_202(aws):
    _, lam, _ = aws
    assert lam.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202


def test_redriven_messages_are_deleted_and_carry_the_original_payload(aws):
    sqs, lam, url = aws
    ids = [dead_letter(sqs, url, f"incoming/{i}.bin") for i in range(13)]  # more than one receive batch
    recording = RecordingLambda(lam)
    result = redrive_tool.redrive(sqs, recording, url, FUNCTION, wait_seconds=0)
    assert sorted(result.redriven) == sorted(ids)
    assert result.ok
    assert waiting(sqs, url) == 0
    assert sorted(p["Records"][0]["s3"]["object"]["key"] for p in recording.payloads) == sorted(f"incoming/{i}.bin" for i in range(13))


def test_a_failing_invoke_leaves_its_message_in_the_queue(aws):
    sqs, lam, url = aws
    kept = dead_letter(sqs, url, "incoming/throttled.bin")
    delivered = dead_letter(sqs, url, "incoming/fine.bin")
    result = redrive_tool.redrive(sqs, RecordingLambda(lam, fail_key="throttled"), url, FUNCTION, wait_seconds=0)
    assert result.redriven == [delivered]
    assert list(result.failed) == [kept] and "TooManyRequestsException" in result.failed[kept]
    assert waiting(sqs, url) == 1  # in flight until its visibility timeout ends, then visible again


def test_max_messages_bounds_one_run(aws):
    sqs, lam, url = aws
    for i in range(5):
        dead_letter(sqs, url, f"incoming/{i}")
    result = redrive_tool.redrive(sqs, lam, url, FUNCTION, max_messages=2, wait_seconds=0)
    assert len(result.redriven) == 2
    assert waiting(sqs, url) == 3


def test_cli_resolves_the_stacks_names_and_exits_nonzero_on_failure(aws, capsys, monkeypatch):
    sqs, lam, url = aws
    # The dev environment's names, as the stack derives them: the moto queue/function above use them.
    assert redrive_tool._targets("dev", "ingest") == (FUNCTION, QUEUE, REGION)
    dead_letter(sqs, url, "incoming/a")
    assert redrive_tool.main(["--env", "dev", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["waiting"] == 1
    assert redrive_tool.main(["--env", "dev"]) == 0
    assert json.loads(capsys.readouterr().out)["redriven"] == 1
    assert waiting(sqs, url) == 0
    # moto answers 202 even for a missing function, so the refusal is injected into the real client.
    real_client = boto3.session.Session.client
    monkeypatch.setattr(boto3.session.Session, "client", lambda self, name, **kw: (
        RecordingLambda(real_client(self, name, **kw), fail_key="incoming/b") if name == "lambda" else real_client(self, name, **kw)))
    dead_letter(sqs, url, "incoming/b")
    assert redrive_tool.main(["--env", "dev"]) == 1
    assert "TooManyRequestsException" in json.dumps(json.loads(capsys.readouterr().out)["failed"])
    assert waiting(sqs, url) == 1
