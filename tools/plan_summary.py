"""Helpers for the GitHub workflows: an environment's stack/region, and a plan summary for the PR comment.

``python -m tools.plan_summary target --env dev`` (or ``--bootstrap`` for the
state-backend stack) prints ``stack=…`` and ``region=…`` lines, taken from the
validated config: for ``$GITHUB_OUTPUT`` in the workflows and ``eval`` in the Makefile.

``python -m tools.plan_summary markdown plan.json --env dev`` turns
``terraform show -json <planfile>`` output into Markdown: counts per action,
then every resource that would be replaced or destroyed (what a reviewer must
not miss), then the rest in a collapsed list.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

# Terraform's resource_changes[].change.actions, mapped to what a reviewer reads.
ACTION_NAMES = {
    ("create",): "create",
    ("update",): "update",
    ("delete",): "destroy",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("read",): "read",
    ("no-op",): "no change",
}
DANGEROUS = ("destroy", "replace")
SHOWN_ORDER = ("replace", "destroy", "create", "update", "read")


def changes_by_action(plan: dict) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for change in plan.get("resource_changes", []):
        action = ACTION_NAMES.get(tuple(change["change"]["actions"]), "+".join(change["change"]["actions"]))
        grouped[action].append(change["address"])
    return {action: sorted(addresses) for action, addresses in grouped.items()}


def markdown(plan: dict, environment: str) -> str:
    grouped = changes_by_action(plan)
    counts = ", ".join(f"{len(grouped.get(a, []))} to {a}" for a in ("create", "update", "replace", "destroy"))
    lines = [f"### `{environment}`: {counts}"]
    if not any(grouped.get(a) for a in SHOWN_ORDER if a != "read"):
        lines.append("No changes: the infrastructure matches the configuration.")
    for action in DANGEROUS:
        if grouped.get(action):
            lines.append(f"**{action.capitalize()} ({len(grouped[action])}), check these:**")
            lines.extend(f"- `{address}`" for address in grouped[action])
    rest = [(a, addr) for a in SHOWN_ORDER if a not in DANGEROUS for addr in grouped.get(a, [])]
    if rest:
        lines.append(f"<details><summary>All other changes ({len(rest)})</summary>\n")
        lines.extend(f"- {action}: `{address}`" for action, address in rest)
        lines.append("\n</details>")
    return "\n".join(lines) + "\n"


def target_lines(env_name: str | None) -> str:
    from modules.app import load_settings
    from modules.bootstrap_stack import bootstrap_stack_name

    settings = load_settings()
    if env_name is None:
        return f"stack={bootstrap_stack_name(settings)}\nregion={settings.state_region}\n"
    env = settings.environment(env_name)
    return f"stack={env.stack_name}\nregion={env.region}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan_summary")
    commands = parser.add_subparsers(dest="command", required=True)
    target = commands.add_parser("target", help="print stack= and region= of an environment or of the bootstrap stack")
    which = target.add_mutually_exclusive_group(required=True)
    which.add_argument("--env")
    which.add_argument("--bootstrap", action="store_true")
    summary = commands.add_parser("markdown", help="summarize `terraform show -json` output as Markdown")
    summary.add_argument("plan", type=Path)
    summary.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    if args.command == "target":
        sys.stdout.write(target_lines(args.env))
    else:
        sys.stdout.write(markdown(json.loads(args.plan.read_text()), args.env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
