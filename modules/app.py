"""Build the cdktf App for a configuration and synthesize it atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cdktf import App

from modules.bootstrap_stack import StateBackendStack
from modules.emulator import use_emulator
from modules.ingest_stack import IngestStack
from modules.settings import ProjectSettings, load_project

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = PROJECT_ROOT / "cdktf.json"
CONTEXT_KEY = "ingest"


def config_file() -> Path:
    """cdktf.json, or the file named by ``INGEST_CONFIG_FILE`` (same shape; used to try a variant)."""
    return Path(os.environ.get("INGEST_CONFIG_FILE") or CONFIG_FILE)


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The project configuration: ``context.ingest`` of cdktf.json."""
    return json.loads((path or config_file()).read_text(encoding="utf-8"))["context"][CONTEXT_KEY]


def build_app(settings: ProjectSettings, outdir: str, environments: Iterable[str] | None = None,
              bootstrap: bool = True, emulator_endpoint: str | None = None) -> tuple[App, list]:
    """``emulator_endpoint``: point the environment stacks at a local AWS emulator (e2e tests only, see modules/emulator.py)."""
    app = App(outdir=outdir, skip_validation=False, stack_traces=False)
    stacks: list = []
    wanted = set(environments) if environments is not None else None
    for env in settings.environments:
        if wanted is None or env.name in wanted:
            stacks.append(IngestStack(app, env))
            if emulator_endpoint is not None:
                use_emulator(stacks[-1], emulator_endpoint)
    if bootstrap:
        stacks.append(StateBackendStack(app, settings))
    return app, stacks


def synth(settings: ProjectSettings, outdir: str | os.PathLike[str], environments: Iterable[str] | None = None,
          bootstrap: bool = True, emulator_endpoint: str | None = None) -> Path:
    """Synthesize into a temporary folder, then move the generated files into ``outdir``.

    Nothing is written to ``outdir`` unless synthesis (and the tag check) succeeded, so a
    failed synth never leaves half-written output. Files that Terraform keeps in a stack
    folder (``.terraform/``, the lock file, the bootstrap stack's local ``terraform.tfstate``)
    are left where they are: only what cdktf generates is replaced.
    """
    final = Path(outdir).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        app, stacks = build_app(settings, str(staging), environments, bootstrap, emulator_endpoint)
        app.synth()
        for stack in stacks:
            stack.tags_aspect.raise_if_any()
        _move_generated(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _replace(source: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    source.rename(target)


def _move_generated(staging: Path, final: Path) -> None:
    final.mkdir(exist_ok=True)
    for item in staging.iterdir():
        if item.name != "stacks":
            _replace(item, final / item.name)
            continue
        for stack_dir in item.iterdir():
            target_dir = final / "stacks" / stack_dir.name
            target_dir.mkdir(parents=True, exist_ok=True)
            for generated in stack_dir.iterdir():
                _replace(generated, target_dir / generated.name)


def load_settings(path: Path | None = None) -> ProjectSettings:
    return load_project(read_config(path))
