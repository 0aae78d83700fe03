"""Tags: validated in config, applied once through default_tags, enforced at synth by an Aspect."""

from __future__ import annotations

import copy

import pytest
from cdktf import App

from modules.base_stack import ProjectStack
from modules.provider_import import aws
from modules.settings import load_project
from modules.tagging import REQUIRED_TAG_KEYS, TagError
from modules.validation import ConfigError
from tests.conftest import resources

EXPECTED_DEV_TAGS = {
    "Project": "ingest", "Environment": "dev", "Owner": "platform-team", "CostCenter": "CC-1234",
    "ManagedBy": "cdktf", "DataClassification": "internal",
}


def test_every_stack_tags_through_the_provider(synth):
    for name, stack in synth.items():
        (provider,) = stack["provider"]["aws"]
        (default_tags,) = provider["default_tags"]
        assert set(REQUIRED_TAG_KEYS) <= set(default_tags["tags"]), name
        assert all(default_tags["tags"][key] for key in REQUIRED_TAG_KEYS), name
    assert synth["ingest-dev"]["provider"]["aws"][0]["default_tags"][0]["tags"] == EXPECTED_DEV_TAGS
    assert synth["ingest-prod"]["provider"]["aws"][0]["default_tags"][0]["tags"]["Environment"] == "prod"
    assert synth["ingest-state-backend"]["provider"]["aws"][0]["default_tags"][0]["tags"]["Environment"] == "shared"


def test_no_resource_overrides_required_tags(synth):
    for name, stack in synth.items():
        for rtype, items in stack.get("resource", {}).items():
            for logical, attrs in items.items():
                overridden = set(attrs.get("tags") or {}) & set(REQUIRED_TAG_KEYS)
                assert not overridden, f"{name} {rtype}.{logical} overrides {overridden}"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"aws:createdBy": "me"}, "tag keys must not start with 'aws:'"),
        ({"k" * 129: "v"}, "tag key is 129 characters; allowed: 1–128"),
        ({"Team": "v" * 257}, "tag value is 257 characters; allowed: 0–256"),
        ({"Team": "a<b>"}, "tag value 'a<b>' has characters that are not allowed"),
        ({"Owner": "someone"}, "is a required tag set from the project settings"),
    ],
)
def test_invalid_tags_are_config_errors(project_config, tags, expected):
    config = copy.deepcopy(project_config)
    config["environments"]["dev"]["tags"] = tags
    with pytest.raises(ConfigError) as caught:
        load_project(config)
    assert any(p.startswith("environments.dev.tags.") and expected in p for p in caught.value.problems), caught.value.problems


def _tiny_stack(tmp_path, tags):
    app = App(outdir=str(tmp_path))
    stack = ProjectStack(app, "tiny", region="eu-west-1", account_id="111111111111", tags=tags)
    return app, stack


def test_aspect_fails_synth_for_an_untagged_resource(tmp_path):
    app, stack = _tiny_stack(tmp_path, EXPECTED_DEV_TAGS)
    # A second provider without default_tags: its resources would be created untagged.
    other = aws("provider").AwsProvider(stack, "other", region="us-east-1", alias="us_east_1",
                                        allowed_account_ids=["111111111111"])
    aws("sqs_queue").SqsQueue(stack, "untagged", name="untagged", provider=other)
    aws("sqs_queue").SqsQueue(stack, "partly-tagged", name="partly", provider=other, tags={"Project": "ingest"})
    aws("sqs_queue").SqsQueue(stack, "tagged", name="tagged")
    app.synth()
    with pytest.raises(TagError) as caught:
        stack.tags_aspect.raise_if_any()
    message = str(caught.value)
    assert "tiny/untagged: missing required tag(s) Project, Environment, Owner, CostCenter, ManagedBy" in message
    assert "tiny/partly-tagged: missing required tag(s) Environment, Owner, CostCenter, ManagedBy" in message
    assert "tiny/tagged" not in message


def test_aspect_fails_when_default_tags_lack_a_required_key(tmp_path):
    tags = {k: v for k, v in EXPECTED_DEV_TAGS.items() if k != "CostCenter"}
    app, stack = _tiny_stack(tmp_path, tags)
    aws("sqs_queue").SqsQueue(stack, "queue", name="queue")
    app.synth()
    with pytest.raises(TagError, match="tiny/queue: missing required tag\\(s\\) CostCenter"):
        stack.tags_aspect.raise_if_any()


def test_aspect_passes_the_real_stacks(synth):
    # The session synth ran the aspect on every stack and raised nothing; prove it looked at resources.
    taggable = sum(len(resources(stack, "aws_s3_bucket")) for stack in synth.values())
    assert taggable >= 5
