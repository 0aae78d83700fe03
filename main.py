#!/usr/bin/env python3
"""Compose the app: one IngestStack per configured environment, plus the state-backend stack.

Configuration: ``context.ingest`` in cdktf.json (see README, "Configuration").
Run by ``make synth`` or ``npx cdktf synth``; writes cdktf.out/stacks/<stack>/cdk.tf.json.
"""

import os
import sys

from modules.app import load_settings, synth
from modules.iam import RecursionRiskError
from modules.naming import NamingError
from modules.tagging import TagError
from modules.validation import ConfigError
from tools.build_zip import ArtifactError


def main() -> int:
    try:
        settings = load_settings()
        outdir = synth(settings, os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
    except (ConfigError, NamingError, TagError, ArtifactError, RecursionRiskError) as exc:
        print(f"synth failed: {exc}", file=sys.stderr)
        return 2
    print(f"synthesized {len(settings.environments) + 1} stacks into {os.path.relpath(outdir)}/stacks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
