"""``cdktf.Testing.to_be_valid_terraform`` on a full_synth of the dev stack, run in its own process.

    python -m tests.proof.cdktf_validity            # prints {"compliant": bool, "invalid": bool}

Why a separate process: ``to_be_valid_terraform`` runs ``terraform init`` and
``terraform validate`` from the jsii Node.js process with *that process's*
environment, fixed when jsii started. It needs ``TF_CLI_ARGS_init=-backend=false``
(a plain init cannot reach the S3 backend offline and the matcher then quietly
returns False) and ``TF_CLI_CONFIG_FILE`` (the project's offline provider
mirror), which the test passes to this process from
``tools.terraform_cli.environment()`` before jsii starts.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from cdktf import Testing, TerraformOutput

from modules.app import build_app, load_settings


def full_synth_dev(broken: bool) -> str:
    _, stacks = build_app(load_settings(), tempfile.mkdtemp(prefix="cdktf-validity-"), ["dev"], bootstrap=False)
    stack = stacks[0]
    if broken:  # a reference to a resource that does not exist: terraform validate rejects it
        TerraformOutput(stack, "broken", value="${aws_s3_bucket.does_not_exist.id}")
    return Testing.full_synth(stack)


def main() -> int:
    result = {kind: bool(Testing.to_be_valid_terraform(full_synth_dev(kind == "invalid")))
              for kind in ("compliant", "invalid")}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
