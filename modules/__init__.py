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
