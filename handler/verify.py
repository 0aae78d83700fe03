"""Verify a manifest's signature.

    python -m handler.verify [--secret-arn ARN] MANIFEST.json   ("-" reads stdin)

The signing key is the secret version named by the manifest's ``key_version``,
read from the secret given by ``--secret-arn`` or ``SIGNING_SECRET_ARN``.
Exit codes: 0 valid, 1 invalid (bad signature, unknown key version), 2 usage error
(bad arguments, unreadable or non-JSON file, no secret ARN).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Mapping, Optional, Sequence

from .contract import ENV_SIGNING_SECRET_ARN
from .core import verify_manifest


def verify(manifest: Mapping, key: bytes) -> bool:
    """True iff the manifest's signature matches ``key`` (HMAC-SHA256, see core)."""
    return verify_manifest(manifest, key)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handler.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", help="manifest JSON file, or - for stdin")
    parser.add_argument("--secret-arn", default=None,
                        help=f"signing secret ARN (default: ${ENV_SIGNING_SECRET_ARN})")
    args = parser.parse_args(argv)  # exits 2 on usage errors

    try:
        if args.manifest == "-":
            manifest = json.load(sys.stdin)
        else:
            with open(args.manifest, encoding="utf-8") as fh:
                manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read manifest: {exc}", file=sys.stderr)
        return 2
    if not isinstance(manifest, dict):
        print("error: manifest must be a JSON object", file=sys.stderr)
        return 2
    secret_arn = args.secret_arn or os.environ.get(ENV_SIGNING_SECRET_ARN)
    if not secret_arn:
        print(f"error: no secret ARN (--secret-arn or {ENV_SIGNING_SECRET_ARN})", file=sys.stderr)
        return 2
    key_version = manifest.get("key_version")
    if not isinstance(key_version, str) or not key_version:
        print("invalid: manifest has no key_version")
        return 1

    from botocore.exceptions import ClientError

    from .adapters import InvalidSigningKey, client, fetch_signing_key

    try:
        key = fetch_signing_key(client("secretsmanager"), secret_arn, key_version)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("ResourceNotFoundException", "InvalidParameterException", "InvalidRequestException"):
            print(f"invalid: key version {key_version} not found ({code})")
            return 1
        raise
    except InvalidSigningKey as exc:
        print(f"invalid: {exc}")
        return 1
    if verify(manifest, key.key):
        print("valid")
        return 0
    print("invalid: signature mismatch")
    return 1


if __name__ == "__main__":
    sys.exit(main())
