"""Golden copies of each stack's cdk.tf.json under tests/snapshots/, for plan review.

`make snapshot` (SNAPSHOT_UPDATE=1) rewrites them; `make test` compares and
shows a unified diff. The synthesized JSON is deterministic except for what
the handler's *code* decides: ``source_code_hash`` and the asset folder in
``filename`` (cdktf names it after the zip's hash) change with every handler
edit. The snapshot is the infrastructure review copy, so both are replaced by
placeholders — otherwise every handler commit would have to re-bless every
stack — and ``test_code_placeholders_stand_for_the_built_zip`` checks that
the replaced values really are the hash of dist/handler.zip.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.proof.invariants import resources
from tools import build_zip

SNAPSHOT_DIR = Path(__file__).resolve().parents[1] / "snapshots"
UPDATE = os.environ.get("SNAPSHOT_UPDATE") == "1"
CODE_HASH = "<base64 sha256 of dist/handler.zip>"
ASSET_DIR = re.compile(r"^(assets/[^/]+/)[0-9A-F]+(/.+)$")
MAX_DIFF_LINES = 300


def normalise(stack: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(stack)
    for conf in resources(out, "aws_lambda_function").values():
        if "source_code_hash" in conf:
            conf["source_code_hash"] = CODE_HASH
        if "filename" in conf:
            conf["filename"] = ASSET_DIR.sub(r"\1<asset hash>\2", conf["filename"])
    return out


def render(stack: dict[str, Any]) -> str:
    return json.dumps(normalise(stack), indent=2, ensure_ascii=False) + "\n"


def snapshot_path(name: str) -> Path:
    return SNAPSHOT_DIR / f"{name}.cdk.tf.json"


def _diff(name: str, golden: str, current: str) -> str:
    lines = list(difflib.unified_diff(golden.splitlines(), current.splitlines(),
                                      f"tests/snapshots/{name}.cdk.tf.json (golden)", f"{name} (synthesized now)",
                                      lineterm="", n=3))
    more = f"\n... {len(lines) - MAX_DIFF_LINES} more lines" if len(lines) > MAX_DIFF_LINES else ""
    return "\n".join(lines[:MAX_DIFF_LINES]) + more


def test_every_stack_matches_its_snapshot(synth):
    failures = []
    for name, stack in synth.items():
        current, path = render(stack), snapshot_path(name)
        if UPDATE:
            SNAPSHOT_DIR.mkdir(exist_ok=True)
            path.write_text(current)
        if not path.exists():
            failures.append(f"no snapshot for {name}: run `make snapshot` and review the new file")
        elif path.read_text() != current:
            failures.append(_diff(name, path.read_text(), current))
    if failures:
        pytest.fail("stacks differ from their snapshots (review, then `make snapshot` if intended):\n"
                    + "\n\n".join(failures), pytrace=False)


def test_code_placeholders_stand_for_the_built_zip(synth, synth_dir):
    """What normalise() hides is checked here instead: the hash of the zip each stack ships."""
    expected = build_zip.source_code_hash(build_zip.ARTIFACT)
    functions = [(name, conf) for name, stack in synth.items() for conf in resources(stack, "aws_lambda_function").values()]
    assert functions
    for name, conf in functions:
        assert conf["source_code_hash"] == expected
        shipped = synth_dir / "stacks" / name / conf["filename"]
        assert build_zip.source_code_hash(shipped) == expected


def test_a_changed_stack_shows_a_readable_diff(dev_stack):
    changed = copy.deepcopy(dev_stack)
    next(iter(resources(changed, "aws_cloudwatch_log_group").values()))["retention_in_days"] = 1
    diff = "\n".join(difflib.unified_diff(render(dev_stack).splitlines(), render(changed).splitlines(), lineterm=""))
    assert re.search(r'^-\s+"retention_in_days": \d+,?$', diff, re.M)
    assert re.search(r'^\+\s+"retention_in_days": 1,?$', diff, re.M)


def test_no_orphaned_snapshots(synth):
    """Runs after the comparisons (file order): every stack has exactly one golden file."""
    if UPDATE:
        for path in SNAPSHOT_DIR.glob("*.cdk.tf.json"):
            if path.name.removesuffix(".cdk.tf.json") not in synth:
                path.unlink()
    assert sorted(p.name for p in SNAPSHOT_DIR.glob("*.cdk.tf.json")) == sorted(f"{n}.cdk.tf.json" for n in synth)
