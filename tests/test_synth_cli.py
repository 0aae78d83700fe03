"""`make synth` / `npx cdktf synth` end to end, in subprocesses, as a user runs them.

Each subprocess synth costs a few seconds, so each test proves several things.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modules.app import PROJECT_ROOT

CDKTF_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"


def run_main(outdir: Path, cwd: Path = PROJECT_ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "CDKTF_OUTDIR": str(outdir), **env}
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "main.py")], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)


def provider_modules_loaded(node_debug: str) -> set[str]:
    """The @cdktf/provider-aws modules Node loaded, from NODE_DEBUG=module output (lib/<module>/...)."""
    return {path.split("/")[0] for path in re.findall(r'load "[^"]*@cdktf/provider-aws/lib/([^"]+)"', node_debug)}


def provider_modules_for(outdir: Path) -> set[str]:
    """The provider module of every resource and data source type in the synthesized stacks."""
    wanted = {"provider"}
    for stack in (outdir / "stacks").glob("*/cdk.tf.json"):
        document = json.loads(stack.read_text())
        wanted |= {kind.removeprefix("aws_").replace("_", "-") for kind in document.get("resource", {})}
        wanted |= {"data-" + kind.replace("_", "-") for kind in document.get("data", {})}
    return wanted


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fast_synth(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("fast") / "cdktf.out"
    done = run_main(outdir, NODE_DEBUG="module")  # Node logs each module it loads to stderr
    assert done.returncode == 0, done.stderr[-3000:]
    assert "synthesized 3 stacks" in done.stdout
    # The Node side of the fast import: the jsii kernel loaded exactly the provider modules of the
    # resource and data source types in the stacks (a few dozen), not all ~2,100.
    assert provider_modules_loaded(done.stderr) == provider_modules_for(outdir)
    return outdir


def test_synth_is_byte_identical_across_directories_times_and_import_paths(fast_synth, tmp_path):
    # Different working directory, time zone, umask and a later time, with the plain (slow) provider import.
    other_cwd = tmp_path / "elsewhere"
    other_cwd.mkdir()
    outdir = tmp_path / "plain" / "cdktf.out"
    done = run_main(outdir, cwd=other_cwd, TZ="Asia/Tokyo", INGEST_PLAIN_PROVIDER_IMPORT="1", NODE_DEBUG="module")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(provider_modules_loaded(done.stderr)) > 2000  # the plain path: Node loads every module
    first, second = tree_bytes(fast_synth), tree_bytes(outdir)
    assert sorted(first) == sorted(second)
    assert {p for p in first if p.endswith("cdk.tf.json")} == {
        "stacks/ingest-dev/cdk.tf.json", "stacks/ingest-prod/cdk.tf.json", "stacks/ingest-state-backend/cdk.tf.json"}
    different = [p for p in first if first[p] != second[p]]
    assert not different, f"not byte-identical: {different}"
    for path, content in first.items():
        text = content.decode("utf-8", errors="replace")
        for absolute in (str(PROJECT_ROOT), str(tmp_path), str(fast_synth.parent)):
            assert absolute not in text, f"{path} contains the absolute path {absolute}"


def test_fast_import_loads_only_the_provider_submodules_it_uses():
    # The plain import's cost is shown by `make bench` and its output by the byte-identity test above.
    code = (
        "import sys\n"
        "from modules.provider_import import aws\n"
        "aws('s3_bucket').S3Bucket\n"
        "loaded = [m for m in sys.modules if m.startswith('cdktf_cdktf_provider_aws.')]\n"
        "print(len(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    package = Path(importlib.util.find_spec("cdktf_cdktf_provider_aws").origin).parent
    available = [p for p in package.iterdir() if (p / "__init__.py").is_file()]
    assert len(available) > 2000  # what `import cdktf_cdktf_provider_aws` imports, one by one
    assert int(done.stdout.strip()) <= 5  # _jsii and s3_bucket with their internals, nothing else


def test_bad_config_fails_cleanly_and_leaves_previous_output_alone(tmp_path, project_config):
    config = json.loads((PROJECT_ROOT / "cdktf.json").read_text())
    config["context"]["ingest"]["environments"]["prod"]["function"] = {"memory_mb": 64}
    config["context"]["ingest"]["environments"]["dev"]["network"] = {"vpc_cidr": "10.0.0.0/8"}
    bad = tmp_path / "cdktf.json"
    bad.write_text(json.dumps(config))
    outdir = tmp_path / "out" / "cdktf.out"
    outdir.mkdir(parents=True)
    (outdir / "previous.txt").write_text("from the last good synth")
    done = run_main(outdir, INGEST_CONFIG_FILE=str(bad))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "environments.prod.function.memory_mb: 64 is out of range; allowed: 128–10240 MB" in done.stderr
    assert "environments.dev.network.vpc_cidr: '10.0.0.0/8' has prefix /8; allowed: /16–/24" in done.stderr
    assert [p.name for p in outdir.iterdir()] == ["previous.txt"]
    assert [p.name for p in outdir.parent.iterdir()] == ["cdktf.out"]  # no staging folder left behind


@pytest.mark.skipif(not CDKTF_CLI.exists(), reason="cdktf CLI not installed (run make setup)")
def test_cdktf_cli_synth_writes_the_same_stacks(fast_synth, tmp_path):
    outdir = tmp_path / "cli.out"
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "DISABLE_VERSION_CHECK": "1", "CI": "true"}
    done = subprocess.run([str(CDKTF_CLI), "synth", "--output", str(outdir)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    for stack in ("ingest-dev", "ingest-prod", "ingest-state-backend"):
        produced = outdir / "stacks" / stack / "cdk.tf.json"
        assert produced.read_bytes() == (fast_synth / "stacks" / stack / "cdk.tf.json").read_bytes(), stack


def test_resynth_keeps_terraform_working_files_and_local_state(tmp_path, project_config):
    from modules.app import synth as synth_app
    from modules.settings import load_project

    outdir = tmp_path / "cdktf.out"
    settings = load_project(copy.deepcopy(project_config))
    synth_app(settings, outdir, environments=[], bootstrap=True)
    stack_dir = outdir / "stacks" / "ingest-state-backend"
    (stack_dir / "terraform.tfstate").write_text('{"version": 4}')
    (stack_dir / ".terraform").mkdir()
    stale = json.loads((stack_dir / "cdk.tf.json").read_text())
    (stack_dir / "cdk.tf.json").write_text("{}")
    synth_app(settings, outdir, environments=[], bootstrap=True)
    assert (stack_dir / "terraform.tfstate").read_text() == '{"version": 4}'
    assert (stack_dir / ".terraform").is_dir()
    assert json.loads((stack_dir / "cdk.tf.json").read_text()) == stale
