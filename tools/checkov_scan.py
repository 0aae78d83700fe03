"""Run the real checkov over every synthesized stack and hold it to ``checkov-exceptions.yaml``.

    python -m tools.checkov_scan [cdktf.out]    # print counts per stack; exit 1 on a finding

Why this is more than ``checkov -d cdktf.out``:

* checkov's ``terraform_json`` parser parses nothing when
  ``terraform.required_version`` is present: zero checks, exit 0, only a
  ``parsing_errors`` entry in the JSON report. We scan a *copy* of each
  ``cdk.tf.json`` without that one key (otherwise identical, pretty-printed)
  and treat any parsing error as a failure.
* checkov ignores skip comments inside cdktf JSON, and a skip in its own
  configuration turns a check off for every resource. Exceptions therefore
  live in one file keyed by (check id, stack, resource address), each with a
  reason, and ``compare`` fails on any failure not listed *and* on any listed
  exception that no longer fails (stale).
* The cloudsplaining IAM checks (CKV_AWS_286-290, CKV_AWS_355) produce *no
  result* on ``terraform_json`` inline policies: cdktf writes ``policy`` as a
  JSON string, checkov's HCL-style conversion keeps it a string (or mangles an
  object into nested lists) and the check returns UNKNOWN, which the report
  leaves out. We run exactly those checks' own classes, from checkov's
  environment, on the parsed policy document, passing it the way checkov's
  HCL runner passes ``jsonencode(...)`` (``{"policy": [document]}``). Those
  results are marked ``via = "checkov-check-class"``; checkov's own result
  wins if a later version produces one.

Only the standard library and PyYAML are imported at module level: the test
suite imports this file from the project venv, and the ``iam-checks``
sub-command runs it with checkov's own interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECKOV_VENV = PROJECT_ROOT / ".venv-checkov"
CHECKOV_BIN = CHECKOV_VENV / "bin" / "checkov"
CHECKOV_PYTHON = CHECKOV_VENV / "bin" / "python"
EXCEPTIONS_FILE = PROJECT_ROOT / "checkov-exceptions.yaml"

# checkov check id -> module defining it; all six skip string policies (see module docstring).
CLOUDSPLAINING_CHECKS = {
    "CKV_AWS_286": "IAMPrivilegeEscalation",
    "CKV_AWS_287": "IAMCredentialsExposure",
    "CKV_AWS_288": "IAMDataExfiltration",
    "CKV_AWS_289": "IAMPermissionsManagement",
    "CKV_AWS_290": "IAMWriteAccess",
    "CKV_AWS_355": "IAMStarResourcePolicyDocument",
}
# The resource types those checks support, with the attribute holding the policy.
IAM_POLICY_RESOURCES = {
    "aws_iam_role_policy": "policy",
    "aws_iam_user_policy": "policy",
    "aws_iam_group_policy": "policy",
    "aws_iam_policy": "policy",
}

# Checks that must produce a result (passed or failed) for every resource of a type
# present in a stack: proves checkov parsed the stack and really evaluated the rule.
REQUIRED_CHECKS = {
    "aws_s3_bucket": ("CKV_AWS_18", "CKV_AWS_19", "CKV_AWS_20", "CKV_AWS_21", "CKV_AWS_57", "CKV_AWS_144",
                      "CKV_AWS_145", "CKV2_AWS_6", "CKV2_AWS_61", "CKV2_AWS_62"),
    "aws_s3_bucket_public_access_block": ("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"),
    "aws_s3_bucket_policy": ("CKV_AWS_70",),
    "aws_s3_bucket_ownership_controls": ("CKV2_AWS_65",),
    "aws_s3_bucket_lifecycle_configuration": ("CKV_AWS_300",),
    "aws_kms_key": ("CKV_AWS_7", "CKV_AWS_33", "CKV_AWS_227", "CKV2_AWS_64"),
    "aws_iam_role": ("CKV_AWS_60", "CKV_AWS_61", "CKV_AWS_274"),
    "aws_iam_role_policy": ("CKV_AWS_62", "CKV_AWS_63", "CKV2_AWS_40", *CLOUDSPLAINING_CHECKS),
    "aws_lambda_function": ("CKV_AWS_45", "CKV_AWS_50", "CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117",
                            "CKV_AWS_173", "CKV_AWS_272", "CKV_AWS_363"),
    "aws_lambda_permission": ("CKV_AWS_301", "CKV_AWS_364"),
    "aws_cloudwatch_log_group": ("CKV_AWS_66", "CKV_AWS_158", "CKV_AWS_338"),
    "aws_sqs_queue": ("CKV_AWS_27", "CKV_AWS_168"),
    "aws_sqs_queue_policy": ("CKV_AWS_72",),
    "aws_sns_topic": ("CKV_AWS_26",),
    "aws_security_group": ("CKV_AWS_23", "CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260", "CKV2_AWS_5"),
    "aws_vpc_security_group_ingress_rule": ("CKV_AWS_23", "CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260"),
    "aws_vpc_security_group_egress_rule": ("CKV_AWS_23",),
    "aws_vpc": ("CKV2_AWS_11", "CKV2_AWS_12"),
    "aws_subnet": ("CKV_AWS_130",),
    "aws_secretsmanager_secret": ("CKV_AWS_149", "CKV2_AWS_57"),
    "aws_secretsmanager_secret_rotation": ("CKV_AWS_304",),
    "aws_cloudwatch_metric_alarm": ("CKV_AWS_319",),
}


@dataclass(frozen=True)
class Result:
    check_id: str
    stack: str
    address: str  # "<type>.<logical id>"
    result: str  # PASSED | FAILED | SKIPPED
    via: str = "checkov"


@dataclass
class Report:
    results: list[Result]
    stacks: list[str]
    parsing_errors: list[str]  # stack names checkov could not parse (it then reports nothing for them)

    def counts(self, stack: str) -> dict[str, int]:
        tally = Counter(r.result for r in self.results if r.stack == stack)
        return {"passed": tally["PASSED"], "failed": tally["FAILED"], "skipped": tally["SKIPPED"]}

    def outcome(self, check_id: str, stack: str, address: str) -> str | None:
        for r in self.results:
            if (r.check_id, r.stack, r.address) == (check_id, stack, address):
                return r.result
        return None

    def summary(self) -> str:
        lines = []
        for stack in self.stacks:
            c = self.counts(stack)
            via = sum(1 for r in self.results if r.stack == stack and r.via != "checkov")
            lines.append(f"{stack}: passed {c['passed']}, failed {c['failed']}, skipped {c['skipped']}"
                         f" (of which {via} from the cloudsplaining check classes on parsed policies)")
        return "\n".join(lines)


# --- the scan copy ---------------------------------------------------------------
def scan_copy(stack: dict[str, Any]) -> dict[str, Any]:
    """The stack as checkov must see it: identical except ``terraform.required_version``."""
    copy = json.loads(json.dumps(stack))
    copy.get("terraform", {}).pop("required_version", None)
    return copy


def write_scan_tree(stacks: dict[str, dict[str, Any]], dest: Path) -> None:
    for name, stack in stacks.items():
        (dest / name).mkdir(parents=True, exist_ok=True)
        # pretty-printed: checkov names python-check resources from line ranges
        (dest / name / "cdk.tf.json").write_text(json.dumps(scan_copy(stack), indent=2))


def load_stacks(synth_dir: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((synth_dir / "stacks").glob("*/cdk.tf.json"))}


# --- running checkov ---------------------------------------------------------------
def checkov_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BC_", "PRISMA_"))}
    # no platform calls: this machine (and CI) has no route to the Prisma Cloud API
    env.update(BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="WARNING")
    return env


def _parse_json_output(text: str) -> list[dict[str, Any]]:
    # checkov may print warnings before the document; the report starts at the first bracket
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise RuntimeError(f"checkov printed no JSON report: {text[-2000:]!r}")
    parsed = json.loads(text[min(starts):])
    return parsed if isinstance(parsed, list) else [parsed]


def _address(resource: str, stack: dict[str, Any]) -> str:
    """checkov sometimes names a python-check resource ``resource.<id>``: find its type."""
    if not resource.startswith("resource."):
        return resource
    name = resource.split(".", 1)[1]
    types = [t for t, found in stack.get("resource", {}).items() if name in found]
    return f"{types[0]}.{name}" if len(types) == 1 else resource


def run_checkov(scan_dir: Path, stacks: dict[str, dict[str, Any]],
                timeout: float = 600) -> tuple[list[Result], list[str]]:
    """checkov once over every ``<stack>/cdk.tf.json`` under ``scan_dir``: (results, unparsed stack names)."""
    done = subprocess.run(
        [str(CHECKOV_BIN), "-d", str(scan_dir), "--framework", "terraform_json", "-o", "json",
         "--skip-download"],
        env=checkov_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {done.returncode}: {done.stderr[-2000:]}")
    results, parsing_errors = [], []
    for report in _parse_json_output(done.stdout):
        if report.get("check_type") != "terraform_json":
            continue
        parsing_errors += [Path(p).parent.name for p in report["results"].get("parsing_errors", [])]
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            for rec in report["results"].get(kind, []):
                stack = Path(rec["file_path"]).parent.name
                results.append(Result(rec["check_id"], stack, _address(rec["resource"], stacks[stack]),
                                      rec["check_result"]["result"]))
    return results, parsing_errors


def run_iam_check_classes(scan_dir: Path, timeout: float = 300) -> list[Result]:
    done = subprocess.run([str(CHECKOV_PYTHON), str(Path(__file__).resolve()), "iam-checks", str(scan_dir)],
                          env=checkov_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"cloudsplaining check classes failed: {done.stderr[-2000:]}")
    return [Result(**r) for r in json.loads(done.stdout)]


def iam_checks_main(scan_dir: Path) -> list[dict[str, str]]:
    """Inside checkov's venv: the six cloudsplaining checks on each parsed inline/managed policy."""
    import importlib

    checks = {cid: importlib.import_module(f"checkov.terraform.checks.resource.aws.{module}").check
              for cid, module in CLOUDSPLAINING_CHECKS.items()}
    out = []
    for path in sorted(scan_dir.glob("*/cdk.tf.json")):
        stack = json.loads(path.read_text())
        for rtype, attribute in IAM_POLICY_RESOURCES.items():
            for name, conf in stack.get("resource", {}).get(rtype, {}).items():
                document = conf[attribute]
                document = json.loads(document) if isinstance(document, str) else document
                for cid, check in checks.items():
                    outcome = check.run(str(path), {attribute: [document]}, name, rtype, {})
                    out.append({"check_id": cid, "stack": path.parent.name, "address": f"{rtype}.{name}",
                                "result": outcome["result"].name, "via": "checkov-check-class"})
    return out


def scan(stacks: dict[str, dict[str, Any]]) -> Report:
    """One checkov invocation over every stack (+ the cloudsplaining classes): the whole report."""
    with tempfile.TemporaryDirectory(prefix="checkov-scan-") as tmp:
        scan_dir = Path(tmp)
        write_scan_tree(stacks, scan_dir)
        results, parsing_errors = run_checkov(scan_dir, stacks)
        seen = {(r.check_id, r.stack, r.address) for r in results}
        results += [r for r in run_iam_check_classes(scan_dir) if (r.check_id, r.stack, r.address) not in seen]
    return Report(results=results, stacks=sorted(stacks), parsing_errors=sorted(parsing_errors))


# --- exceptions ---------------------------------------------------------------------
@dataclass(frozen=True)
class ListedException:
    check_id: str
    stack: str
    address: str
    reason: str


def load_exceptions(path: Path = EXCEPTIONS_FILE) -> list[ListedException]:
    """``{check id: {reason: str, resources: {stack: [address, ...]}}}`` -> one entry per triple."""
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    problems, found = [], []
    for check_id, entry in data.items():
        reason = (entry or {}).get("reason", "").strip()
        if len(reason) < 20:
            problems.append(f"{check_id}: every exception needs a written reason")
        for stack, addresses in ((entry or {}).get("resources") or {}).items():
            found += [ListedException(check_id, stack, address, reason) for address in addresses]
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))
    return found


def required_missing(report: Report, stacks: dict[str, dict[str, Any]]) -> list[str]:
    """(check, stack, resource) triples of REQUIRED_CHECKS that produced no result at all."""
    have = {(r.check_id, r.stack, r.address) for r in report.results}
    missing = []
    for stack_name, stack in stacks.items():
        for rtype, check_ids in REQUIRED_CHECKS.items():
            for name in stack.get("resource", {}).get(rtype, {}):
                missing += [f"{cid} {stack_name} {rtype}.{name}" for cid in check_ids
                            if (cid, stack_name, f"{rtype}.{name}") not in have]
    return missing


def compare(report: Report, exceptions: list[ListedException]) -> tuple[list[Result], list[ListedException]]:
    """(failures not listed as exceptions, listed exceptions that no longer fail)."""
    listed = {(e.check_id, e.stack, e.address) for e in exceptions}
    unexpected = [r for r in report.results if r.result == "FAILED" and (r.check_id, r.stack, r.address) not in listed]
    stale = [e for e in exceptions if report.outcome(e.check_id, e.stack, e.address) != "FAILED"]
    return unexpected, stale


def main(argv: list[str]) -> int:
    if argv[:1] == ["iam-checks"]:
        print(json.dumps(iam_checks_main(Path(argv[1]))))
        return 0
    stacks = load_stacks(Path(argv[0]) if argv else PROJECT_ROOT / "cdktf.out")
    report = scan(stacks)
    print(report.summary())
    unexpected, stale = compare(report, load_exceptions())
    missing = required_missing(report, stacks)
    for r in unexpected:
        print(f"FAILED (not an exception): {r.check_id} {r.stack} {r.address}")
    for e in stale:
        print(f"STALE exception (no longer fails): {e.check_id} {e.stack} {e.address}")
    for m in missing:
        print(f"NO RESULT for a required check: {m}")
    for stack in report.parsing_errors:
        print(f"PARSING ERROR: checkov could not parse {stack}")
    return 1 if unexpected or stale or missing or report.parsing_errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
