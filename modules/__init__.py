"""Construct library of the ingest pipeline.

Importing the package makes jsii use the project's local Node.js 22 (installed by
`make setup` when the system Node.js is older) for every entry point — `make synth`,
`npx cdktf synth` from any shell, pytest — unless JSII_NODE is already set.
"""

import os as _os
from pathlib import Path as _Path

_LOCAL_NODE = _Path(__file__).resolve().parent.parent / "tools" / "node22" / "node_modules" / "node" / "bin" / "node"
if _LOCAL_NODE.is_file():
    _os.environ.setdefault("JSII_NODE", str(_LOCAL_NODE))

# The Node side of the fast provider import (modules/lazy_provider_index.cjs; the Python side is
# modules/provider_import.py): Node preloads the hook, and the jsii kernel then loads only the provider
# modules the stacks use. INGEST_PLAIN_PROVIDER_IMPORT=1 turns both sides off (the benchmark's
# baseline), also in a child of a process that had turned it on.
_LAZY_INDEX = _Path(__file__).resolve().parent / "lazy_provider_index.cjs"
_REQUIRE_HOOK = f'--require "{_LAZY_INDEX}"'
_node_options = _os.environ.get("NODE_OPTIONS", "")
if _os.environ.get("INGEST_PLAIN_PROVIDER_IMPORT") == "1":
    if _REQUIRE_HOOK in _node_options:
        _os.environ["NODE_OPTIONS"] = _node_options.replace(_REQUIRE_HOOK, "").strip()
elif _REQUIRE_HOOK not in _node_options and not set(str(_LAZY_INDEX)) & set('"\\'):
    _os.environ["NODE_OPTIONS"] = f"{_node_options} {_REQUIRE_HOOK}".strip()
