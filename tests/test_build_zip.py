"""The handler artifact is byte-reproducible, holds only what Lambda needs, and is what the stack pins."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tools import build_zip
from tools.build_zip import ArtifactError, check_handler, source_code_hash_of

SCRIPT = build_zip.PROJECT_ROOT / "tools" / "build_zip.py"


def build_in_subprocess(output: Path, cwd: Path, umask: int, tz: str) -> bytes:
    env = {**os.environ, "TZ": tz, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-c",
                    f"import os, runpy, sys; os.umask({umask:#o}); sys.argv = ['build_zip', {str(output)!r}]; "
                    f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"],
                   cwd=cwd, env=env, check=True, capture_output=True, timeout=60)
    return output.read_bytes()


def copy_sources(destination: Path) -> Path:
    shutil.copytree(build_zip.PROJECT_ROOT / "handler", destination / "handler",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return destination


def test_same_bytes_from_different_directories_umasks_and_time_zones(tmp_path: Path):
    first_dir, second_dir = tmp_path / "one", tmp_path / "two" / "deeper"
    first_dir.mkdir()
    second_dir.mkdir(parents=True)
    first = build_in_subprocess(first_dir / "a.zip", cwd=first_dir, umask=0o022, tz="UTC")
    second = build_in_subprocess(second_dir / "b.zip", cwd=second_dir, umask=0o077, tz="Pacific/Kiritimati")
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert first == build_zip.zip_bytes()


def test_file_metadata_does_not_leak_into_the_zip(tmp_path: Path):
    root = copy_sources(tmp_path)
    for path in (root / "handler").rglob("*.py"):
        path.chmod(0o700)
        os.utime(path, (1_900_000_000, 1_900_000_000))
    assert build_zip.zip_bytes(root) == build_zip.zip_bytes()


def test_one_changed_byte_changes_the_hash(tmp_path: Path):
    root = copy_sources(tmp_path)
    before = source_code_hash_of(build_zip.zip_bytes(root))
    app = root / "handler" / "app.py"
    data = bytearray(app.read_bytes())
    data[-1] ^= 0x01
    app.write_bytes(bytes(data))
    assert source_code_hash_of(build_zip.zip_bytes(root)) != before


def test_entries_are_sorted_relative_fixed_and_only_python_sources(tmp_path: Path):
    root = copy_sources(tmp_path)
    (root / "handler" / "__pycache__").mkdir(exist_ok=True)
    (root / "handler" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (root / "handler" / "tests").mkdir()
    (root / "handler" / "tests" / "test_x.py").write_text("x = 1\n")
    (root / "handler" / "NOTES.md").write_text("docs\n")
    (root / "handler" / ".hidden.py").write_text("x = 1\n")
    output = tmp_path / "out" / "handler.zip"
    digest = build_zip.build(output, root)
    with zipfile.ZipFile(output) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    project_handler = build_zip.PROJECT_ROOT / "handler"
    assert names == sorted(f"handler/{p.relative_to(project_handler).as_posix()}"
                           for p in project_handler.rglob("*.py") if "__pycache__" not in p.parts)
    assert "handler/app.py" in names and "handler/rotation.py" in names
    for info in infos:
        assert not info.filename.startswith("/") and ".." not in info.filename
        assert info.date_time == build_zip.FIXED_DATE_TIME
        assert info.external_attr >> 16 == 0o100644
        assert info.create_system == build_zip.UNIX_HOST
    assert digest == base64.b64encode(hashlib.sha256(output.read_bytes()).digest()).decode()


def test_build_rewrites_only_when_the_bytes_change(tmp_path: Path):
    root = copy_sources(tmp_path)
    output = tmp_path / "handler.zip"
    build_zip.build(output, root)
    inode = output.stat().st_ino
    build_zip.build(output, root)
    assert output.stat().st_ino == inode
    (root / "handler" / "app.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    build_zip.build(output, root)
    assert output.stat().st_ino != inode


def test_check_handler_finds_the_function_in_the_zip(tmp_path: Path):
    output = tmp_path / "handler.zip"
    build_zip.build(output)
    check_handler(output, "handler.app.lambda_handler")
    check_handler(output, "handler.rotation.lambda_handler")
    with pytest.raises(ArtifactError, match=r"handler\.app\.nope.*handler/app\.py .*defines no top-level function 'nope'"):
        check_handler(output, "handler.app.nope")
    with pytest.raises(ArtifactError, match=r"handler/missing\.py is not in .*fix function\.handler"):
        check_handler(output, "handler.missing.lambda_handler")
    with pytest.raises(ArtifactError, match=r"is missing; run `make build`"):
        check_handler(tmp_path / "absent.zip", "handler.app.lambda_handler")


def test_the_stack_pins_the_zip_it_ships(dev_stack, prod_stack, synth_dir: Path):
    expected = build_zip.source_code_hash(build_zip.ARTIFACT)
    for name, stack in (("ingest-dev", dev_stack), ("ingest-prod", prod_stack)):
        functions = stack["resource"]["aws_lambda_function"].values()
        assert len(functions) == 2
        for function in functions:
            assert function["source_code_hash"] == expected
            # Relative to the stack folder: cdk.tf.json carries no absolute path and works wherever cdktf.out is.
            assert not function["filename"].startswith("/") and function["filename"].startswith("assets/")
            shipped = synth_dir / "stacks" / name / function["filename"]
            assert source_code_hash_of(shipped.read_bytes()) == expected
        assert str(build_zip.PROJECT_ROOT) not in (synth_dir / "stacks" / name / "cdk.tf.json").read_text()
