"""Draw the architecture from a synthesized stack: Mermaid for README.md, Graphviz for docs/architecture.png.

``python -m tools.diagram cdktf.out/stacks/ingest-dev/cdk.tf.json --readme README.md --png docs/architecture.png``
(``make diagram``). Nothing is hand-drawn: the nodes are the stack's resources
and data sources, an arrow ``A --> B`` means "A references B" (a
``${aws_x.y.attr}`` expression in A's arguments), and the tier of a node comes
from its resource type.

To keep the picture readable, resources that only configure or attach to one
other resource are folded into it ("satellites": a bucket's versioning,
policy, public-access block …, a role's inline policies, a key's alias, a
route table's routes and associations). Their references become the owner's.
The rule is in ``satellite_parent_type`` and ``collapse``; the full graph stays
available as ``build_graph``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

# Tiers in drawing order; a resource type belongs to the first tier with a matching prefix.
TIERS = ("network", "storage", "compute", "security", "monitoring", "other")
TIER_TITLES = {"network": "Network", "storage": "Storage", "compute": "Compute", "security": "Security: IAM, KMS, secrets",
               "monitoring": "Monitoring", "other": "Other"}
TIER_PREFIXES = (
    ("network", ("aws_vpc", "aws_subnet", "aws_route", "aws_internet_gateway", "aws_egress_only_internet_gateway",
                 "aws_nat_gateway", "aws_eip", "aws_security_group", "aws_default_security_group", "aws_network_acl",
                 "aws_default_network_acl", "aws_default_route_table", "aws_flow_log", "aws_availability_zones")),
    ("storage", ("aws_s3_",)),
    ("compute", ("aws_lambda_", "aws_sqs_")),
    ("security", ("aws_iam_", "aws_kms_", "aws_secretsmanager_")),
    ("monitoring", ("aws_cloudwatch_", "aws_sns_")),
)
TIER_COLOURS = {"network": "#dbeafe", "storage": "#dcfce7", "compute": "#ffedd5", "security": "#fee2e2",
                "monitoring": "#f3e8ff", "other": "#f1f5f9"}

# Satellites whose type is not "<owner type>_<something>". Everything named
# "<owner type>_<something>" (aws_s3_bucket_policy, aws_iam_role_policy, …) is one by its name.
ATTACHED_TO = {
    "aws_kms_alias": "aws_kms_key",
    "aws_lambda_permission": "aws_lambda_function",
    "aws_route": "aws_route_table",
    "aws_vpc_security_group_ingress_rule": "aws_security_group",
    "aws_vpc_security_group_egress_rule": "aws_security_group",
    "aws_cloudwatch_log_metric_filter": "aws_cloudwatch_log_group",
}
# Named like satellites, but components a reader wants to see.
NOT_SATELLITES = frozenset({"aws_vpc_endpoint"})

MARK_START = "<!-- diagram:start -->"
MARK_END = "<!-- diagram:end -->"
SKIPPED_KEYS = ("//", "depends_on", "lifecycle", "provider", "provisioner", "connection")
_REFERENCE = re.compile(r"(?<![\w.])((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][\w-]*)")


@dataclass(frozen=True)
class Node:
    address: str          # "aws_s3_bucket.ingest_bucket_D2E76047" or "data.aws_availability_zones.x"
    type: str
    label: str            # construct path without the stack name, e.g. "ingest/bucket"
    tier: str
    absorbed: tuple[str, ...] = ()   # addresses of satellites folded into this node

    @property
    def is_data(self) -> bool:
        return self.address.startswith("data.")


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)   # (referencing, referenced)


def tier_of(resource_type: str) -> str:
    for tier, prefixes in TIER_PREFIXES:
        if resource_type.startswith(prefixes):
            return tier
    return "other"


def blocks(stack: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(address, type, body) of every resource and data source in a cdk.tf.json."""
    for kind, prefix in (("resource", ""), ("data", "data.")):
        for resource_type, instances in stack.get(kind, {}).items():
            for name, body in instances.items():
                yield f"{prefix}{resource_type}.{name}", resource_type, body


def expressions(value: Any) -> Iterator[str]:
    """The text inside every ``${ … }`` in a block's arguments (nested braces allowed)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in SKIPPED_KEYS:
                yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)
    elif isinstance(value, str):
        start = value.find("${")
        while start != -1:
            depth, position = 0, start + 1
            while position < len(value):
                depth += {"{": 1, "}": -1}.get(value[position], 0)
                if depth == 0:
                    break
                position += 1
            yield value[start + 2:position]
            start = value.find("${", position)


def references(body: dict[str, Any], known: set[str]) -> set[str]:
    """Addresses of known resources/data sources that the block's expressions reference."""
    found = set()
    for expression in expressions(body):
        for candidate in _REFERENCE.findall(expression):
            if candidate in known:
                found.add(candidate)
    return found


def _label(body: dict[str, Any], address: str) -> str:
    path = body.get("//", {}).get("metadata", {}).get("path")
    return path.split("/", 1)[1] if path and "/" in path else address


def build_graph(stack: dict[str, Any]) -> Graph:
    """Every resource and data source, and every reference between them."""
    graph = Graph()
    all_blocks = list(blocks(stack))
    known = {address for address, _, _ in all_blocks}
    for address, resource_type, body in all_blocks:
        graph.nodes[address] = Node(address, resource_type, _label(body, address), tier_of(resource_type))
        graph.edges.update((address, target) for target in references(body, known) if target != address)
    return graph


def satellite_parent_type(resource_type: str, present_types: set[str]) -> Optional[str]:
    """The owner type a resource of this type folds into, if any (longest "<owner>_" prefix wins)."""
    if resource_type in NOT_SATELLITES:
        return None
    if resource_type in ATTACHED_TO:
        return ATTACHED_TO[resource_type] if ATTACHED_TO[resource_type] in present_types else None
    owners = [t for t in present_types if resource_type.startswith(t + "_")]
    return max(owners, key=len) if owners else None


def _owner(body: dict[str, Any], parent_type: str, known: set[str]) -> Optional[str]:
    """The one resource of ``parent_type`` this block configures.

    An argument named after the owner (``bucket`` for aws_s3_bucket, ``role``,
    ``function_name``, ``route_table_id`` …) decides; otherwise the block must
    reference exactly one resource of that type.
    """
    for argument, value in body.items():
        stem = re.sub(r"_(id|arn|name|url)$", "", argument)
        if argument in SKIPPED_KEYS or not stem or not parent_type.endswith("_" + stem):
            continue
        owners = sorted(a for a in references({argument: value}, known) if a.startswith(parent_type + "."))
        if len(owners) == 1:
            return owners[0]
    owners = sorted(a for a in references(body, known) if a.startswith(parent_type + "."))
    return owners[0] if len(owners) == 1 else None


def collapse(stack: dict[str, Any], graph: Optional[Graph] = None) -> Graph:
    """Fold satellites into their owners; their edges become the owner's (self-references dropped)."""
    full = graph or build_graph(stack)
    known = set(full.nodes)
    present_types = {node.type for node in full.nodes.values()}
    owner_of: dict[str, str] = {}
    for address, resource_type, body in blocks(stack):
        parent_type = satellite_parent_type(resource_type, present_types)
        if parent_type:
            owner = _owner(body, parent_type, known)
            if owner:
                owner_of[address] = owner

    def representative(address: str) -> str:
        seen = set()
        while address in owner_of and address not in seen:
            seen.add(address)
            address = owner_of[address]
        return address

    absorbed: dict[str, list[str]] = {}
    for satellite in owner_of:
        absorbed.setdefault(representative(satellite), []).append(satellite)
    folded = Graph()
    for address, node in full.nodes.items():
        if representative(address) == address:
            folded.nodes[address] = Node(node.address, node.type, node.label, node.tier, tuple(sorted(absorbed.get(address, ()))))
    for source, target in full.edges:
        source, target = representative(source), representative(target)
        if source != target:
            folded.edges.add((source, target))
    return folded


def _node_id(address: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", address)


def _caption(node: Node, separator: str) -> str:
    kind = ("data " if node.is_data else "") + node.type.removeprefix("aws_")
    extra = f" +{len(node.absorbed)}" if node.absorbed else ""
    return f"{node.label}{separator}{kind}{extra}"


def _by_tier(graph: Graph) -> list[tuple[str, list[Node]]]:
    grouped = [(tier, sorted((n for n in graph.nodes.values() if n.tier == tier), key=lambda n: (n.label, n.address)))
               for tier in TIERS]
    return [(tier, nodes) for tier, nodes in grouped if nodes]


def mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for tier, nodes in _by_tier(graph):
        lines.append(f'  subgraph {tier}["{TIER_TITLES[tier]}"]')
        for node in nodes:
            shape = ('[("', '")]') if node.is_data else ('["', '"]')
            lines.append(f"    {_node_id(node.address)}{shape[0]}{_caption(node, '<br/>').replace(chr(34), '#quot;')}{shape[1]}")
        lines.append("  end")
    for source, target in sorted(graph.edges):
        lines.append(f"  {_node_id(source)} --> {_node_id(target)}")
    lines.extend(f"  style {tier} fill:{TIER_COLOURS[tier]}" for tier, _ in _by_tier(graph))
    return "\n".join(lines) + "\n"


def dot(graph: Graph, title: str) -> str:
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph architecture {", f"  label={quoted(title)}; labelloc=t; fontname=Helvetica; rankdir=LR; ranksep=1.2;",
             '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica, fontsize=10];',
             "  edge [color=\"#64748b\", arrowsize=0.6];"]
    for tier, nodes in _by_tier(graph):
        lines.append(f"  subgraph cluster_{tier} {{ label={quoted(TIER_TITLES[tier])}; style=\"rounded,filled\"; "
                     f"fillcolor={quoted(TIER_COLOURS[tier])}; color=\"#94a3b8\";")
        for node in nodes:
            shape = ", shape=cylinder" if node.is_data else ""
            lines.append(f"    {_node_id(node.address)} [label={quoted(_caption(node, chr(10)))}{shape}];")
        lines.append("  }")
    lines.extend(f"  {_node_id(s)} -> {_node_id(t)};" for s, t in sorted(graph.edges))
    lines.append("}")
    return "\n".join(lines) + "\n"


def readme_block(graph: Graph, stack_name: str) -> str:
    return (f"{MARK_START}\n"
            f"Generated by `make diagram` from the synthesized `{stack_name}` stack: an arrow points from a resource "
            f"to one it references; settings attached to a resource are folded into it (+N).\n\n"
            f"```mermaid\n{mermaid(graph)}```\n{MARK_END}")


def replace_block(text: str, block: str) -> str:
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start == -1 or end == -1 or end < start:
        raise ValueError(f"README has no {MARK_START} … {MARK_END} pair: add both markers where the diagram goes")
    return text[:start] + block + text[end + len(MARK_END):]


def render_png(graph: Graph, title: str, output: Path) -> Optional[str]:
    """Draw the PNG with Graphviz; return why not when ``dot`` is missing."""
    binary = shutil.which("dot")
    if binary is None:
        return ("Graphviz `dot` is not on PATH, so the PNG was not drawn (the README's Mermaid block was). "
                "Install it: `sudo apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS).")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".dot", delete=False) as source:
        source.write(dot(graph, title))
    try:
        subprocess.run([binary, "-Tpng", "-Gdpi=110", "-o", str(output), source.name], check=True, timeout=120)
    finally:
        Path(source.name).unlink()
    return None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diagram", description=__doc__.split("\n")[0])
    parser.add_argument("stack", type=Path, help="cdktf.out/stacks/<stack>/cdk.tf.json")
    parser.add_argument("--readme", type=Path, help="rewrite the block between the diagram markers in this file")
    parser.add_argument("--png", type=Path, help="draw this PNG when Graphviz is installed")
    parser.add_argument("--check", action="store_true", help="only report whether the README block is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    stack_name = args.stack.parent.name
    graph = collapse(json.loads(args.stack.read_text()))
    block = readme_block(graph, stack_name)
    print(f"{stack_name}: {len(graph.nodes)} nodes, {len(graph.edges)} references")
    if args.readme:
        text = args.readme.read_text()
        updated = replace_block(text, block)
        if args.check:
            print(f"{args.readme}: diagram {'up to date' if updated == text else 'OUT OF DATE: run make diagram'}")
            return 0 if updated == text else 1
        if updated != text:
            args.readme.write_text(updated)
        print(f"{args.readme}: diagram {'updated' if updated != text else 'unchanged'}")
    else:
        print(block)
    if args.png and not args.check:
        why_not = render_png(graph, f"{stack_name} architecture", args.png)
        print(why_not or f"{args.png}: drawn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
