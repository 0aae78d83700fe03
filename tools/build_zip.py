"""Build the handler artifact ``dist/handler.zip``, byte-reproducibly, and inspect it.

The zip holds the Python sources of ``handler/`` and nothing else the function
does not need (boto3 is part of the Lambda Python runtime; no ``__pycache__``,
compiled files, tests, documentation or dot-files). Reproducible: entries sorted by their POSIX path, a fixed
timestamp (1980-01-01, the zip epoch), fixed permissions (0644, Unix host),
paths relative to the project root, fixed deflate level. Nothing depends on
the working directory, the umask, the time zone or the file system's listing
order, so an unchanged handler gives the same bytes and the same
``source_code_hash`` and ``terraform plan`` shows no diff.

``source_code_hash`` is Terraform's convention: base64 of the SHA-256 of the
zip's bytes (what ``filebase64sha256()`` returns and Lambda reports as
``CodeSha256``).

Run ``python -m tools.build_zip`` (``make build``); it prints the path and hash.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGE = "handler"
ARTIFACT = PROJECT_ROOT / "dist" / "handler.zip"

# The zip format cannot store dates before 1980; any fixed value would do.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Regular file, rw-r--r--: Lambda only needs to read the sources.
FILE_MODE = 0o100644
UNIX_HOST = 3
COMPRESS_LEVEL = 9
EXCLUDED_DIRECTORIES = frozenset({"__pycache__", "tests", "test"})
INCLUDED_SUFFIX = ".py"


class ArtifactError(ValueError):
    """The handler artifact is missing or does not contain the configured handler."""


def source_files(root: Path = PROJECT_ROOT, package: str = SOURCE_PACKAGE) -> list[str]:
    """The archive names (POSIX paths relative to ``root``) of every file that goes into the zip, sorted."""
    names = []
    for directory, subdirs, files in os.walk(root / package):
        subdirs[:] = [d for d in subdirs if d not in EXCLUDED_DIRECTORIES and not d.startswith(".")]
        for file in files:
            if file.startswith(".") or not file.endswith(INCLUDED_SUFFIX):
                continue
            names.append(PurePosixPath(Path(directory, file).relative_to(root)).as_posix())
    return sorted(names)


def zip_bytes(root: Path = PROJECT_ROOT, package: str = SOURCE_PACKAGE) -> bytes:
    """The artifact's bytes: a pure function of the sources' names and contents."""
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in source_files(root, package):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
                info.create_system = UNIX_HOST
                info.external_attr = FILE_MODE << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, (root / name).read_bytes(), compresslevel=COMPRESS_LEVEL)
        buffer.seek(0)
        return buffer.read()


def source_code_hash_of(data: bytes) -> str:
    """Terraform's ``source_code_hash``: base64-encoded SHA-256 of the zip bytes."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def build(output: Path = ARTIFACT, root: Path = PROJECT_ROOT, package: str = SOURCE_PACKAGE) -> str:
    """Write the zip (atomically, only when the bytes changed) and return its ``source_code_hash``."""
    data = zip_bytes(root, package)
    output.parent.mkdir(parents=True, exist_ok=True)
    if not output.exists() or output.read_bytes() != data:
        fd, staging = tempfile.mkstemp(prefix=f".{output.name}-", dir=output.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(staging, output)
        finally:
            if os.path.exists(staging):
                os.unlink(staging)
    else:
        os.utime(output)  # same bytes: mark it fresh for make, without rewriting it
    return source_code_hash_of(data)


def source_code_hash(path: Path) -> str:
    """``source_code_hash`` of an existing artifact; ArtifactError when it is missing."""
    if not path.is_file():
        raise ArtifactError(f"handler artifact {_shown(path)} is missing; run `make build` (python -m tools.build_zip) first")
    return source_code_hash_of(path.read_bytes())


def check_handler(path: Path, handler: str) -> None:
    """Fail unless ``handler`` ('package.module.function') is a top-level function in the zip at ``path``.

    The module's source is parsed with ``ast`` (never imported), so the check
    needs none of the handler's dependencies.
    """
    module, _, function = handler.rpartition(".")
    member = module.replace(".", "/") + ".py"
    if not path.is_file():
        raise ArtifactError(f"handler artifact {_shown(path)} is missing; run `make build` (python -m tools.build_zip) first")
    with zipfile.ZipFile(path) as archive:
        if member not in archive.namelist():
            raise ArtifactError(f"handler {handler!r}: {member} is not in {_shown(path)} "
                                f"(it holds {', '.join(archive.namelist())}); fix function.handler or rebuild with `make build`")
        tree = ast.parse(archive.read(member), filename=member)
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if function not in defined:
        raise ArtifactError(f"handler {handler!r}: {member} in {_shown(path)} defines no top-level function {function!r} "
                            f"(it defines: {', '.join(sorted(defined)) or 'none'}); fix function.handler or rebuild with `make build`")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    output = Path(argv[0]) if argv else ARTIFACT
    digest = build(output)
    print(f"{_shown(output)} source_code_hash={digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
