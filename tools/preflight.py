"""Preflight: check everything a deploy needs before anything touches AWS.

``python -m tools.preflight --env dev`` (``make preflight ENV=dev``) checks, and
reports every problem it finds (not just the first) with the fix:

- the configuration (``cdktf.json`` ``context.ingest``) is valid and names the environment;
- Terraform >= 1.10 is on PATH (the S3 backend's ``use_lockfile`` needs it);
- AWS credentials are present (``AWS_PROFILE`` is honoured, as boto3 does) and
  belong to the environment's account, and the region matches;
- the state bucket exists, is versioned and is encrypted with SSE-KMS;
- ``dist/handler.zip`` exists and holds exactly what ``make build`` would build now.

``--bootstrap`` checks what ``make bootstrap`` needs instead: the state
account's credentials and Terraform (the state bucket is what it creates, and
the bootstrap stack has no function). Exit status 0 when every check passes, 1
otherwise. Only read-only calls are made: STS GetCallerIdentity and the S3
HeadBucket / GetBucketVersioning / GetBucketEncryption of the state bucket.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = PROJECT_ROOT / "cdktf.json"
HANDLER_ZIP = PROJECT_ROOT / "dist" / "handler.zip"
# The S3 backend's use_lockfile (S3-native state locking) arrived in Terraform 1.10.
MINIMUM_TERRAFORM = (1, 10)


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ``fix`` is empty when it passed."""

    check: str
    message: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return not self.fix


@dataclass(frozen=True)
class Target:
    """What is about to be deployed: an environment stack or the state-backend bootstrap stack."""

    stack: str
    account_id: str
    region: str
    state_bucket: str
    bootstrap: bool


def check_terraform(findings: list[Finding]) -> None:
    binary = shutil.which("terraform")
    if binary is None:
        findings.append(Finding("terraform", "terraform is not on PATH",
                                f"install Terraform >= {_dotted(MINIMUM_TERRAFORM)} (https://developer.hashicorp.com/terraform/install) and put it on PATH"))
        return
    try:
        done = subprocess.run([binary, "version", "-json"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        findings.append(Finding("terraform", f"{binary} could not be run ({exc})", "reinstall Terraform or fix PATH"))
        return
    version = _terraform_version(done.stdout)
    if version is None:
        findings.append(Finding("terraform", f"{binary} did not report a version (output: {done.stdout.strip()[:200]!r})",
                                "reinstall Terraform or fix PATH"))
    elif version[:2] < MINIMUM_TERRAFORM:
        findings.append(Finding("terraform", f"terraform {_dotted(version)} at {binary} is too old: the S3 backend's use_lockfile "
                                f"needs >= {_dotted(MINIMUM_TERRAFORM)}",
                                f"install Terraform >= {_dotted(MINIMUM_TERRAFORM)} and put it first on PATH"))
    else:
        findings.append(Finding("terraform", f"terraform {_dotted(version)} at {binary}"))


def _terraform_version(output: str) -> Optional[tuple[int, ...]]:
    """The version from ``terraform version -json``, or from the text banner of a Terraform too old for -json."""
    try:
        text = str(json.loads(output)["terraform_version"])
    except (ValueError, KeyError, TypeError):
        text = output
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in found.groups()) if found else None


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def load_target(env_name: Optional[str], bootstrap: bool, config_file: Path, findings: list[Finding]) -> Optional[Target]:
    from modules.app import load_settings
    from modules.bootstrap_stack import bootstrap_stack_name
    from modules.validation import ConfigError

    try:
        settings = load_settings(config_file)
        if bootstrap:
            target = Target(bootstrap_stack_name(settings), settings.state_account_id, settings.state_region,
                            settings.state_bucket, True)
        else:
            env = settings.environment(env_name or "")
            target = Target(env.stack_name, env.account_id, env.region, env.state_bucket, False)
    except ConfigError as exc:
        findings.append(Finding("config", f"{config_file.name} context.ingest is invalid:\n{exc}",
                                f"fix the listed settings in {config_file.name} (README: configuration reference)"))
        return None
    except (OSError, ValueError, KeyError) as exc:
        findings.append(Finding("config", f"{config_file} cannot be read ({exc!r})",
                                f"restore {config_file.name} with a context.ingest object"))
        return None
    findings.append(Finding("config", f"{config_file.name} is valid; stack {target.stack} (account {target.account_id}, {target.region})"))
    return target


def check_credentials(session, target: Target, findings: list[Finding]) -> bool:
    """True when the credentials work and are for the target account (later AWS checks need that)."""
    from botocore.exceptions import BotoCoreError, ClientError

    profile = session.profile_name if session.profile_name != "default" else None
    source = f"profile {profile!r}" if profile else "the default credential chain"
    if session.get_credentials() is None:
        findings.append(Finding("credentials", f"no AWS credentials found ({source})",
                                f"run `aws sso login` / `aws configure`, or export AWS_PROFILE for account {target.account_id}"))
        return False
    try:
        identity = session.client("sts", region_name=target.region).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        findings.append(Finding("credentials", f"STS GetCallerIdentity failed with {source}: {exc}",
                                "refresh the credentials (`aws sso login`, new access keys) and retry"))
        return False
    account = identity["Account"]
    if account != target.account_id:
        findings.append(Finding("credentials", f"credentials ({source}) are for account {account} ({identity['Arn']}), "
                                f"but {target.stack} deploys to account {target.account_id}",
                                f"export AWS_PROFILE=<a profile for account {target.account_id}>"))
        return False
    findings.append(Finding("credentials", f"account {account} as {identity['Arn']} ({source})"))
    region = session.region_name
    if region != target.region:
        findings.append(Finding("region", f"the AWS CLI/SDK region is {region or 'not set'}, but {target.stack} is in {target.region} "
                                "(Terraform uses the configured region; the operations commands in README use yours)",
                                f"export AWS_REGION={target.region}"))
    else:
        findings.append(Finding("region", region))
    return True


def check_state_bucket(session, target: Target, findings: list[Finding]) -> None:
    from botocore.exceptions import ClientError

    bucket = target.state_bucket
    s3 = session.client("s3", region_name=target.region)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket", "NotFound"):
            findings.append(Finding("state bucket", f"s3://{bucket} does not exist", "run `make bootstrap` once (it creates the state bucket)"))
        else:
            findings.append(Finding("state bucket", f"s3://{bucket} cannot be read ({code or exc})",
                                    "give these credentials s3:ListBucket on the state bucket (see README: operations)"))
        return
    problems = []
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if versioning != "Enabled":
        problems.append(Finding("state bucket", f"s3://{bucket} is not versioned (status: {versioning or 'never enabled'}): "
                                "a bad apply could not be rolled back to an earlier state",
                                "re-run `make bootstrap` (the bootstrap stack enables versioning) or "
                                f"`aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled`"))
    algorithms = _encryption_algorithms(s3, bucket)
    if "aws:kms" not in algorithms and "aws:kms:dsse" not in algorithms:
        problems.append(Finding("state bucket", f"s3://{bucket} has no SSE-KMS default encryption (found: {', '.join(algorithms) or 'none'}): "
                                "state holds resource attributes and must be encrypted with the state key",
                                "re-run `make bootstrap` (the bootstrap stack sets SSE-KMS with the state key)"))
    findings.extend(problems or [Finding("state bucket", f"s3://{bucket} exists, versioned, SSE-KMS")])


def _encryption_algorithms(s3, bucket: str) -> list[str]:
    from botocore.exceptions import ClientError

    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ServerSideEncryptionConfigurationNotFoundError":
            return []
        raise
    return [rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", "") for rule in rules]


def check_handler_zip(findings: list[Finding], artifact: Path = HANDLER_ZIP) -> None:
    """The artifact must be byte-identical to what ``make build`` writes now (the build is reproducible)."""
    from tools.build_zip import source_code_hash_of, zip_bytes

    shown = _shown(artifact)
    expected = zip_bytes()
    if not artifact.is_file():
        findings.append(Finding("handler zip", f"{shown} does not exist", "run `make build`"))
    elif artifact.read_bytes() != expected:
        findings.append(Finding("handler zip", f"{shown} does not match the sources in handler/ (stale build or edited by hand): "
                                "Terraform would deploy old code", "run `make build`"))
    else:
        findings.append(Finding("handler zip", f"{shown} matches handler/ (source_code_hash {source_code_hash_of(expected)})"))


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def run_checks(env_name: Optional[str], bootstrap: bool = False, config_file: Path = CONFIG_FILE,
               artifact: Path = HANDLER_ZIP, session_factory: Optional[Callable[[], object]] = None) -> list[Finding]:
    """Every check, in order; AWS checks run only once the target and the credentials are known to be right."""
    findings: list[Finding] = []
    target = load_target(env_name, bootstrap, config_file, findings)
    check_terraform(findings)
    if not bootstrap:
        check_handler_zip(findings, artifact)
    if target is None:
        return findings
    session = (session_factory or _default_session)()
    if check_credentials(session, target, findings) and not bootstrap:
        check_state_bucket(session, target, findings)
    return findings


def _default_session():
    import boto3

    # boto3 reads AWS_PROFILE, AWS_REGION/AWS_DEFAULT_REGION and AWS_ENDPOINT_URL itself.
    return boto3.Session()


def report(findings: list[Finding], out=sys.stdout) -> int:
    for finding in findings:
        message = finding.message.replace("\n", "\n       ")
        print(f"  {'ok  ' if finding.ok else 'FAIL'} {finding.check}: {message}", file=out)
        if not finding.ok:
            print(f"       fix: {finding.fix}", file=out)
    problems = [f for f in findings if not f.ok]
    if problems:
        print(f"preflight: {len(problems)} problem(s); nothing was deployed.", file=out)
        return 1
    print("preflight: all checks passed.", file=out)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preflight", description=__doc__.split("\n")[0])
    parser.add_argument("--env", help="environment name from cdktf.json (e.g. dev)")
    parser.add_argument("--bootstrap", action="store_true", help="check for `make bootstrap` (the state-backend stack)")
    parser.add_argument("--config", type=Path, default=CONFIG_FILE, help="cdktf.json to read (default: the project's)")
    parser.add_argument("--artifact", type=Path, default=HANDLER_ZIP, help="handler zip to check (default: dist/handler.zip)")
    args = parser.parse_args(argv)
    if not args.env and not args.bootstrap:
        parser.error("give --env <name> or --bootstrap")
    what = "bootstrap (state backend)" if args.bootstrap else f"environment {args.env}"
    print(f"preflight for {what}:")
    return report(run_checks(args.env, args.bootstrap, args.config, args.artifact))


if __name__ == "__main__":
    sys.exit(main())
