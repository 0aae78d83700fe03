"""End-to-end machinery: a fresh moto_server, the dev stack in emulator mode, and the real Terraform.

Used by ``tests/e2e/test_deploy.py`` (``make e2e``); ``python -m tools.e2e``
runs the Terraform part alone (synth, init, validate, apply, plan, destroy)
and prints each phase with its duration. With ``INGEST_EMULATOR_ENDPOINT``
set it only synthesizes the emulator-mode dev stack for that endpoint into
``cdktf.out.emulator/`` (for an emulator you run yourself).

* ``MotoServer`` (tools/moto_server.py): ``moto_server -H 127.0.0.1 -p <free port>`` as a child
  process, told not to run Lambda code in Docker, stopped on exit even on
  failure. Names are global per server process, so every run gets a new one.
* ``synth_emulator_stack``: the handler zip (tools/build_zip.py), then the dev
  stack synthesized in emulator mode (modules/emulator.py) into its own folder.
* ``Terraform``: every call has a timeout; a failed or timed-out call raises
  ``PhaseFailed`` carrying the tail of Terraform's output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.app import read_config, synth
from modules.emulator import EMULATOR_ENVIRONMENT, ENDPOINT_ENV, emulator_config
from modules.settings import load_project
from tools import build_zip, terraform_cli
from tools.moto_server import MotoServer, MotoServerError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMULATOR_OUTDIR = PROJECT_ROOT / "cdktf.out.emulator"
STACK = "ingest-dev"
REGION = "eu-west-1"

# Seconds. Measured here: init < 2, validate ~5, apply ~60-120, plan ~15, destroy ~30-60 on a busy 2-core box.
TIMEOUTS = {"init": 120, "validate": 120, "apply": 420, "plan": 180, "destroy": 300, "show": 60}

# Test credentials for the boto3 clients that read the emulator back (moto accepts anything).
EMULATOR_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class PhaseFailed(RuntimeError):
    """A phase of the end-to-end run failed; the message ends with the tail of the tool's output."""


def log(message: str) -> None:
    print(f"[e2e] {message}", flush=True)


@dataclass
class Phases:
    """Each phase's name and duration, printed as it finishes and summarised at the end."""

    durations: list[tuple[str, float, str]] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        log(f"{name} ...")
        start = time.monotonic()
        status = "failed"
        try:
            yield
            status = "ok"
        finally:
            seconds = time.monotonic() - start
            self.durations.append((name, seconds, status))
            log(f"{name} {status} in {seconds:.1f} s")

    def summary(self) -> str:
        lines = [f"  {name:<50} {seconds:7.1f} s  {status}" for name, seconds, status in self.durations]
        total = sum(seconds for _, seconds, _ in self.durations)
        return "\n".join(["[e2e] phases:", *lines, f"  {'total':<50} {total:7.1f} s"])


def synth_emulator_stack(endpoint: str, outdir: Path = EMULATOR_OUTDIR) -> Path:
    """Build the handler zip, synthesize the dev stack in emulator mode; returns the stack folder."""
    build_zip.build()
    # A fresh folder: synth keeps terraform.tfstate in a stack folder, and a state from an earlier server is stale.
    shutil.rmtree(outdir, ignore_errors=True)
    settings = load_project(emulator_config(read_config()))
    synth(settings, outdir, environments=[EMULATOR_ENVIRONMENT], bootstrap=False, emulator_endpoint=endpoint)
    return outdir / "stacks" / STACK


class Terraform:
    """Terraform in one stack folder, through tools/terraform_cli.py (offline mirror, timeouts)."""

    def __init__(self, stack_dir: Path) -> None:
        self.stack_dir = stack_dir

    def run(self, *args: str, phase: str, ok_codes: tuple[int, ...] = (0,)) -> terraform_cli.Result:
        result = terraform_cli.run([*args, "-no-color"], self.stack_dir, timeout=TIMEOUTS[phase])
        if result.returncode not in ok_codes:
            reason = "timed out" if result.returncode == 124 else f"exited with {result.returncode}"
            raise PhaseFailed(f"terraform {' '.join(args)} {reason}; last lines:\n{result.tail(60)}")
        return result

    def init(self) -> None:
        self.run("init", "-input=false", phase="init")

    def validate(self) -> None:
        self.run("validate", phase="validate")

    def apply(self) -> None:
        self.run("apply", "-auto-approve", "-input=false", phase="apply")

    def plan_exit_code(self) -> terraform_cli.Result:
        """``plan -detailed-exitcode``: 0 no change, 2 changes (the caller decides), 1 error (raises)."""
        return self.run("plan", "-detailed-exitcode", "-input=false", phase="plan", ok_codes=(0, 2))

    def destroy(self) -> None:
        self.run("destroy", "-auto-approve", "-input=false", phase="destroy")

    def state(self) -> dict[str, dict[str, Any]]:
        """Resource address -> attribute values, from ``terraform show -json``."""
        shown = self.run("show", "-json", phase="show")
        values = json.loads(shown.output[shown.output.index("{"):])
        return {r["address"]: r["values"] for r in values.get("values", {}).get("root_module", {}).get("resources", [])}


REFERENCE = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}$")


def resolve(value: Any, state: dict[str, dict[str, Any]]) -> Any:
    """A synthesized value with its ``${type.name.attribute}`` references replaced by the deployed values."""
    if isinstance(value, dict):
        return {k: resolve(v, state) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, state) for v in value]
    if isinstance(value, str) and (match := REFERENCE.match(value)):
        resource_type, name, attribute = match.groups()
        return state[f"{resource_type}.{name}"][attribute]
    return value


def main() -> int:
    endpoint = os.environ.get(ENDPOINT_ENV)
    if endpoint:
        # Synthesize only, for an emulator the user runs: then `terraform init/apply` in that folder.
        log(f"dev stack in emulator mode for {endpoint}: {synth_emulator_stack(endpoint)}")
        return 0
    usable, reason = terraform_cli.availability()
    if not usable:
        log(f"skipped: {reason}")
        return 0
    phases = Phases()
    try:
        with MotoServer() as server:
            with phases.phase("synth (emulator mode)"):
                stack_dir = synth_emulator_stack(server.url)
            terraform = Terraform(stack_dir)
            for name, step in (("terraform init", terraform.init), ("terraform validate", terraform.validate),
                               ("terraform apply", terraform.apply)):
                with phases.phase(name):
                    step()
            with phases.phase("terraform plan (expect no change)"):
                plan = terraform.plan_exit_code()
            with phases.phase("terraform destroy"):
                terraform.destroy()
            if plan.returncode != 0:
                raise PhaseFailed(f"plan after apply shows changes:\n{plan.tail(80)}")
    except (PhaseFailed, MotoServerError) as exc:
        log(str(exc))
        return 1
    finally:
        print(phases.summary(), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.update(EMULATOR_AWS_ENV)
    sys.exit(main())
