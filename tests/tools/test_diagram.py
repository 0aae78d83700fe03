"""The architecture diagram's graph model matches the synthesized dev stack; the folding rule; the renderers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tools import diagram

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def addresses(stack) -> set[str]:
    found = {f"{t}.{n}" for t, instances in stack.get("resource", {}).items() for n in instances}
    return found | {f"data.{t}.{n}" for t, instances in stack.get("data", {}).items() for n in instances}


def body_of(stack, address: str) -> dict:
    kind, rest = ("data", address[5:]) if address.startswith("data.") else ("resource", address)
    resource_type, name = rest.split(".", 1)
    return stack[kind][resource_type][name]


def mentioned(stack, source: str, target: str) -> bool:
    """Independent oracle: ``target.`` appears as a reference anywhere in the source's arguments."""
    body = {k: v for k, v in body_of(stack, source).items() if k not in ("//", "depends_on")}
    return re.search(r"(?<![\w.])" + re.escape(target) + r"\.", json.dumps(body)) is not None


@pytest.fixture(scope="module")
def full(dev_stack):
    return diagram.build_graph(dev_stack)


@pytest.fixture(scope="module")
def folded(dev_stack, full):
    return diagram.collapse(dev_stack, full)


def test_nodes_are_every_resource_and_data_source(dev_stack, full):
    assert set(full.nodes) == addresses(dev_stack)
    for node in full.nodes.values():
        path = body_of(dev_stack, node.address)["//"]["metadata"]["path"]
        assert path == f"ingest-dev/{node.label}"


def test_edges_are_exactly_the_references(dev_stack, full):
    known = addresses(dev_stack)
    expected = {(s, t) for s in known for t in known if s != t and mentioned(dev_stack, s, t)}
    assert expected, "the dev stack has references"
    assert full.edges == expected


def test_the_trigger_and_the_encryption_are_in_the_picture(dev_stack, full, folded):
    functions = {a for a in full.nodes if a.startswith("aws_lambda_function.")}
    for notification in (a for a in full.nodes if a.startswith("aws_s3_bucket_notification.")):
        assert any((notification, f) in full.edges for f in functions)
        owner = "aws_s3_bucket." + re.search(r"aws_s3_bucket\.([\w-]+)\.", body_of(dev_stack, notification)["bucket"]).group(1)
        assert any((owner, f) in folded.edges for f in functions), "folded: the bucket itself points at the function"
    keys = {a for a in full.nodes if a.startswith("aws_kms_key.")}
    for bucket in (a for a in folded.nodes if a.startswith("aws_s3_bucket.")):
        encrypted = any(mentioned(dev_stack, s, k) for s in (bucket, *folded.nodes[bucket].absorbed) for k in keys)
        assert encrypted == any((bucket, k) in folded.edges for k in keys)


def test_every_node_is_in_a_tier(full):
    assert {n.tier for n in full.nodes.values()} <= set(diagram.TIERS)
    assert diagram.tier_of("aws_vpc") == "network" and diagram.tier_of("aws_s3_bucket_policy") == "storage"
    assert diagram.tier_of("aws_lambda_function") == "compute" and diagram.tier_of("aws_kms_key") == "security"
    assert diagram.tier_of("aws_cloudwatch_metric_alarm") == "monitoring" and diagram.tier_of("aws_ecs_cluster") == "other"


def test_bucket_settings_fold_into_the_bucket_named_by_their_bucket_argument(dev_stack, folded):
    satellites = [a for a in addresses(dev_stack) if a.split(".")[0].startswith("aws_s3_bucket_")]
    assert satellites
    for satellite in satellites:
        owner = re.fullmatch(r"\$\{(aws_s3_bucket\.[\w-]+)\.\w+\}", body_of(dev_stack, satellite)["bucket"]).group(1)
        assert satellite in folded.nodes[owner].absorbed, satellite
    assert not [n for n in folded.nodes.values() if n.type.startswith(("aws_s3_bucket_", "aws_iam_role_policy", "aws_kms_alias"))]


def test_folding_keeps_every_reference_between_what_remains(full, folded):
    representative = {a: a for a in folded.nodes}
    for owner in folded.nodes.values():
        representative.update({satellite: owner.address for satellite in owner.absorbed})
    assert set(representative) == set(full.nodes)
    mapped = {(representative[s], representative[t]) for s, t in full.edges}
    assert folded.edges == {(s, t) for s, t in mapped if s != t}
    assert len(folded.nodes) < len(full.nodes)


def _stack(resources: dict) -> dict:
    return {"resource": resources}


def test_folding_rule_on_a_small_stack():
    stack = _stack({
        "aws_s3_bucket": {"data": {}, "logs": {}},
        "aws_s3_bucket_logging": {"data_logging": {"bucket": "${aws_s3_bucket.data.id}", "target_bucket": "${aws_s3_bucket.logs.bucket}"}},
        # Two buckets and no `bucket` argument: no owner can be told, so it stays visible.
        "aws_s3_bucket_replication_configuration": {"both": {"role": "x", "rule": [{"destination": {"bucket": "${aws_s3_bucket.logs.arn}"}}],
                                                            "source": "${aws_s3_bucket.data.arn}"}},
        "aws_vpc": {"vpc": {}},
        "aws_vpc_endpoint": {"s3": {"vpc_id": "${aws_vpc.vpc.id}"}},
        "aws_kms_key": {"key": {}},
        "aws_kms_alias": {"alias": {"target_key_id": "${aws_kms_key.key.key_id}"}},
        "aws_iam_role": {"role": {}},
        "aws_iam_role_policy": {"inline": {"role": "${aws_iam_role.role.name}", "policy": "{\"Resource\": \"${aws_kms_key.key.arn}\"}"}},
    })
    folded = diagram.collapse(stack)
    assert folded.nodes["aws_s3_bucket.data"].absorbed == ("aws_s3_bucket_logging.data_logging",)
    assert folded.nodes["aws_kms_key.key"].absorbed == ("aws_kms_alias.alias",)
    assert folded.nodes["aws_iam_role.role"].absorbed == ("aws_iam_role_policy.inline",)
    assert {"aws_vpc_endpoint.s3", "aws_s3_bucket_replication_configuration.both"} <= set(folded.nodes)
    assert folded.edges == {
        ("aws_s3_bucket.data", "aws_s3_bucket.logs"),          # from the folded logging
        ("aws_iam_role.role", "aws_kms_key.key"),              # from the folded inline policy
        ("aws_vpc_endpoint.s3", "aws_vpc.vpc"),
        ("aws_s3_bucket_replication_configuration.both", "aws_s3_bucket.data"),
        ("aws_s3_bucket_replication_configuration.both", "aws_s3_bucket.logs"),
    }


def test_expressions_with_nested_braces_and_unknown_names():
    body = {"a": "${jsonencode({x = aws_sqs_queue.q.arn})}", "b": ["${var.nothing}", "plain aws_sqs_queue.q.arn"],
            "//": {"x": "${aws_sns_topic.t.arn}"}, "depends_on": ["aws_sns_topic.t"]}
    assert diagram.references(body, {"aws_sqs_queue.q", "aws_sns_topic.t"}) == {"aws_sqs_queue.q"}


def test_mermaid_has_every_node_and_edge_grouped_by_tier(folded):
    text = diagram.mermaid(folded)
    assert text.startswith("flowchart LR\n")
    for tier in {n.tier for n in folded.nodes.values()}:
        assert f'subgraph {tier}["{diagram.TIER_TITLES[tier]}"]' in text
    node_lines = re.findall(r"^    (\w+)[\[(]", text, re.M)
    assert sorted(node_lines) == sorted(re.sub(r"[^A-Za-z0-9_]", "_", a) for a in folded.nodes)
    edge_lines = set(re.findall(r"^  (\w+) --> (\w+)$", text, re.M))
    assert edge_lines == {(re.sub(r"\W", "_", s), re.sub(r"\W", "_", t)) for s, t in folded.edges}


def test_readme_block_is_replaced_between_the_markers_only(folded):
    block = diagram.readme_block(folded, "ingest-dev")
    text = f"intro\n{diagram.MARK_START}\nstale text\n{diagram.MARK_END}\noutro\n"
    once = diagram.replace_block(text, block)
    assert once.startswith("intro\n") and once.endswith("\noutro\n") and "stale text" not in once
    assert diagram.replace_block(once, block) == once
    with pytest.raises(ValueError, match="diagram:start"):
        diagram.replace_block("no markers", block)


def test_project_readme_has_the_markers_inside_the_overview_section():
    text = (PROJECT_ROOT / "README.md").read_text()
    overview = text[text.index("<!-- section:overview -->"):text.index("<!-- /section:overview -->")]
    assert diagram.MARK_START in overview and diagram.MARK_END in overview
    assert "```mermaid\nflowchart LR\n" in overview


def test_cli_rewrites_a_readme_and_check_mode_detects_staleness(synth_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "no-dot"))
    stack = synth_dir / "stacks" / "ingest-dev" / "cdk.tf.json"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{diagram.MARK_START}\n{diagram.MARK_END}\n")
    assert diagram.main([str(stack), "--readme", str(readme), "--check"]) == 1
    assert diagram.main([str(stack), "--readme", str(readme), "--png", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "diagram updated" in out and "sudo apt-get install graphviz" in out
    assert not (tmp_path / "a.png").exists()
    assert diagram.main([str(stack), "--readme", str(readme), "--check"]) == 0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed (apt-get install graphviz)")
def test_png_is_drawn_with_graphviz(folded, tmp_path):
    output = tmp_path / "docs" / "architecture.png"
    assert diagram.render_png(folded, "ingest-dev architecture", output) is None
    data = output.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 500 and height > 500
