"""The Node side of the fast provider import: modules/lazy_provider_index.cjs.

Each test runs a real Node.js (the one jsii uses) with the hook preloaded, on a small package laid
out like the jsii kernel lays out @cdktf/provider-aws, and on the real provider's index. That the real
synth takes the lazy path, and that its output is byte-identical to the plain path, is shown by
tests/test_synth_cli.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

import modules
from modules.app import PROJECT_ROOT

HOOK = Path(modules.__file__).parent / "lazy_provider_index.cjs"
NODE = os.environ.get("JSII_NODE") or shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="no Node.js found (run make setup)")

HEADER = textwrap.dedent('''\
    "use strict";
    /**
     * Copyright (c) HashiCorp, Inc.
     * SPDX-License-Identifier: MPL-2.0
     */
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.provider = exports.s3Bucket = exports.kmsKey = void 0;
    // generated index
    exports.kmsKey = require("./kms-key");
    exports.s3Bucket = require("./s3-bucket");
    exports.provider = require("./provider");
    ''')
SOURCE_MAP = "//# sourceMappingURL=data:application/json;base64,e30=\n"

PROBE = textwrap.dedent('''\
    const path = require("path");
    globalThis.loaded = [];
    const index = path.join(process.argv[2], "node_modules", "@cdktf", "provider-aws", "lib", "index.js");
    const closure = require(index);
    const before = [...globalThis.loaded];
    const keys = Object.keys(closure);
    const first = closure.s3Bucket.S3Bucket;
    const again = closure.s3Bucket.S3Bucket;
    const direct = require(path.join(path.dirname(index), "s3-bucket")).S3Bucket;
    console.log(JSON.stringify({
      before, keys, after: globalThis.loaded, same: first === again && first === direct,
      esModule: closure.__esModule === true, cached: require(index) === closure,
    }));
    ''')


def make_package(root: Path, index_source: str) -> Path:
    lib = root / "node_modules" / "@cdktf" / "provider-aws" / "lib"
    for name, cls in (("kms-key", "KmsKey"), ("s3-bucket", "S3Bucket"), ("provider", "AwsProvider")):
        (lib / name).mkdir(parents=True)
        (lib / name / "index.js").write_text(
            f'"use strict";\nglobalThis.loaded.push("{name}");\nclass {cls} {{}}\nexports.{cls} = {cls};\n')
    (lib / "index.js").write_text(index_source)
    (root / "probe.js").write_text(PROBE)
    return root


def node(*args: str, hook: bool = True) -> object:
    """Run Node with only the hook preloaded (not this process's NODE_OPTIONS); its last stdout line, parsed."""
    env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    done = subprocess.run([NODE, *(["--require", str(HOOK)] if hook else []), *args],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # the hook never writes anything
    return json.loads(done.stdout.splitlines()[-1])


def probe(root: Path, hook: bool = True) -> dict:
    return node(str(root / "probe.js"), str(root), hook=hook)


def test_a_re_export_index_loads_each_module_on_first_read(tmp_path):
    result = probe(make_package(tmp_path, HEADER + SOURCE_MAP))
    assert result["before"] == []  # requiring the index loaded no resource module
    assert result["keys"] == ["kmsKey", "s3Bucket", "provider"]  # every export is there, in order
    assert result["after"] == ["s3-bucket"]  # reading one export loaded exactly that module, once
    assert result["same"] and result["esModule"] and result["cached"]


def test_without_the_hook_node_loads_every_module_up_front(tmp_path):
    result = probe(make_package(tmp_path, HEADER), hook=False)
    assert result["before"] == ["kms-key", "s3-bucket", "provider"]
    assert result["keys"] == ["kmsKey", "s3Bucket", "provider"] and result["same"]


@pytest.mark.parametrize("extra", [
    'exports.version = "1";\n',                      # any other statement
    'exports.s3 = require("../elsewhere");\n',        # a require outside the package's own modules
    'console.log("side effect");\n',
])
def test_an_index_with_anything_else_in_it_goes_to_nodes_own_loader(tmp_path, extra):
    if "elsewhere" in extra:
        (tmp_path / "node_modules" / "@cdktf" / "provider-aws" / "elsewhere").mkdir(parents=True)
        (tmp_path / "node_modules" / "@cdktf" / "provider-aws" / "elsewhere" / "index.js").write_text("")
    result = probe(make_package(tmp_path, HEADER + extra))
    assert result["before"] == ["kms-key", "s3-bucket", "provider"]  # loaded eagerly, as without the hook


def test_other_files_named_index_js_are_not_touched(tmp_path):
    lib = tmp_path / "node_modules" / "@cdktf" / "provider-other" / "lib"
    (lib / "a").mkdir(parents=True)
    (lib / "a" / "index.js").write_text('globalThis.loaded.push("a");\n')
    (lib / "index.js").write_text('"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\n'
                                  'exports.a = require("./a");\n')
    script = ('globalThis.loaded = []; require(process.argv[1]); console.log(JSON.stringify(globalThis.loaded));')
    assert node("-e", script, str(lib / "index.js")) == ["a"]


def test_the_real_provider_index_is_recognised_in_full(tmp_path):
    package = importlib.util.find_spec("cdktf_cdktf_provider_aws").submodule_search_locations[0]  # not imported
    tarball = next((Path(package) / "_jsii").glob("provider-aws@*.jsii.tgz"))
    with tarfile.open(tarball) as archive:
        source = archive.extractfile("package/lib/index.js").read().decode()
    (tmp_path / "index.js").write_text(source)
    script = ('const {parseIndex} = require(process.argv[1]);'
              'const e = parseIndex(require("fs").readFileSync(process.argv[2], "utf8"));'
              'console.log(JSON.stringify(e));')
    entries = node("-e", script, str(HOOK), str(tmp_path / "index.js"), hook=False)
    assert entries is not None, "the provider's lib/index.js is no longer a plain re-export index"
    assert len(entries) == source.count(' = require("./') > 2000
    assert ["s3Bucket", "./s3-bucket"] in entries and ["provider", "./provider"] in entries


def test_importing_modules_puts_the_hook_in_node_options_and_plain_takes_it_out():
    code = "import os, modules; print(os.environ.get('NODE_OPTIONS', ''))"
    base = {k: v for k, v in os.environ.items() if k not in ("NODE_OPTIONS", "INGEST_PLAIN_PROVIDER_IMPORT")}
    run = lambda **env: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], cwd=PROJECT_ROOT,
        env={**base, **env}, capture_output=True, text=True, timeout=60).stdout.strip()
    hook = f'--require "{HOOK}"'
    assert run() == hook
    assert run(NODE_OPTIONS="--max-old-space-size=2048") == f"--max-old-space-size=2048 {hook}"
    assert run(NODE_OPTIONS=hook) == hook  # not added twice
    assert run(INGEST_PLAIN_PROVIDER_IMPORT="1", NODE_OPTIONS=f"--no-warnings {hook}") == "--no-warnings"
