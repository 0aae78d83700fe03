"""Import submodules of the prebuilt AWS provider without loading all ~2,000 of them.

``import cdktf_cdktf_provider_aws`` runs the package ``__init__``, which imports
every resource submodule (about 10 s of a 16 s synth on a 2-core machine).
Each submodule only needs the package's ``_jsii`` module (the jsii assembly),
so we register an *empty* package object with the real ``__path__`` and import
just the submodules that the constructs use. The objects created are the same
classes either way, so ``cdk.tf.json`` is byte-identical (a test proves it).

Set ``INGEST_PLAIN_PROVIDER_IMPORT=1`` to use the plain import (the benchmark
does this to measure the baseline); any failure of the fast path falls back to
the plain import too.

This is the Python half. The jsii Node.js process would still ``require`` all of
the provider's JS modules when it loads the assembly; ``lazy_provider_index.cjs``
(preloaded through ``NODE_OPTIONS`` by ``modules/__init__.py``) is the Node half.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

PACKAGE = "cdktf_cdktf_provider_aws"
PLAIN_IMPORT_ENV = "INGEST_PLAIN_PROVIDER_IMPORT"


def _register_bare_package() -> bool:
    """Put a package object without its eager imports into ``sys.modules``."""
    if PACKAGE in sys.modules:
        return True
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return False
    package = types.ModuleType(PACKAGE)
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = PACKAGE
    sys.modules[PACKAGE] = package
    return True


def _plain_import() -> None:
    sys.modules.pop(PACKAGE, None)
    importlib.import_module(PACKAGE)


def aws(submodule: str) -> types.ModuleType:
    """Return ``cdktf_cdktf_provider_aws.<submodule>``, importing as little as possible."""
    if os.environ.get(PLAIN_IMPORT_ENV) == "1" and not hasattr(sys.modules.get(PACKAGE), "s3_bucket"):
        _plain_import()
    elif PACKAGE not in sys.modules:
        try:
            if not _register_bare_package():
                _plain_import()
        except Exception:  # pragma: no cover - defensive: the plain path always works
            _plain_import()
    try:
        return importlib.import_module(f"{PACKAGE}.{submodule}")
    except ImportError:
        _plain_import()
        return importlib.import_module(f"{PACKAGE}.{submodule}")
