"""No secret value, password or key material in any synthesized ``cdk.tf.json``.

What is scanned, precisely: every ``stacks/*/cdk.tf.json`` of the session's
synthesis (all stacks), the whole document (terraform, provider, resource,
data, output sections, including cdktf's ``//`` metadata), every object key and
every string value at any depth. Three rules:

1. No resource or data source of a type whose state holds a secret value
   (``FORBIDDEN_TYPES``: a secret version, generated passwords, private keys,
   ciphertext of a literal, IAM access keys). Terraform state holds the
   configuration plus what the provider reads back; with none of these types,
   the signing key's value cannot reach the state.
2. No attribute named like a value holder (``FORBIDDEN_ATTRIBUTES``:
   ``secret_string``, ``password``, ...) anywhere.
3. No secret-shaped string: AWS access key ids, PEM blocks, and high-entropy
   runs. A run is ``[A-Za-z0-9+/=]{20,}`` after removing Terraform references
   (``${...}``: they name other resources, they carry no value); it is flagged
   when it mixes letters and digits, is not mostly words (``[A-Z]?[a-z]{3,}``
   covers less than half of it) and its Shannon entropy is at least
   3.5 bits/character (3.0 for hex-only runs of 32+). The only exemptions are
   *known hashes*, matched exactly: a Lambda function's ``source_code_hash``
   that equals the base64 SHA-256 of the zip it names, and the cdktf asset
   hash in that zip's ``assets/<name>/<hash>/`` path (an existing file).

Each rule is tested both ways: the real stacks pass; doctored copies, and a
real configuration carrying a token in a URL, fail.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_stacks, resources

FORBIDDEN_TYPES = ("aws_secretsmanager_secret_version", "random_password", "random_string", "random_bytes",
                   "tls_private_key", "aws_kms_ciphertext", "aws_iam_access_key", "aws_iam_user_login_profile")
FORBIDDEN_ATTRIBUTES = ("secret_string", "secret_string_wo", "secret_binary", "password", "master_password",
                        "private_key", "private_key_pem", "plaintext", "secret_access_key")
REFERENCE = re.compile(r"\$\{[^{}]*\}")
RUN = re.compile(r"[A-Za-z0-9+/=]{20,}")
HEX = re.compile(r"[0-9a-fA-F]{32,}")
ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
PEM = re.compile(r"-----BEGIN [A-Z ]*-----")


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


WORD = re.compile(r"[A-Z]?[a-z]{3,}")


def looks_random(run: str) -> bool:
    if not (re.search(r"[0-9]", run) and re.search(r"[A-Za-z]", run)):
        return False
    # Identifiers such as "AllowS3ServerAccessLogDelivery" are mostly words; random text is not.
    if len(WORD.sub("", run)) < len(run) / 2:
        return False
    if HEX.fullmatch(run):
        return entropy(run) >= 3.0
    return entropy(run) >= 3.5


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) for every object key and string value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}/{key}", key
            yield from strings(item, f"{path}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings(item, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


def known_hashes(document: dict[str, Any], stack_dir: Path) -> set[str]:
    """Hashes that are verifiably hashes: each function's zip SHA-256 and its cdktf asset directory hash."""
    known: set[str] = set()
    for function in resources(document, "aws_lambda_function").values():
        filename = function.get("filename", "")
        artifact = stack_dir / filename
        if not filename or not artifact.is_file():
            continue
        parts = Path(filename).parts
        if len(parts) == 4 and parts[0] == "assets":
            known.add(parts[2])
        digest = base64.b64encode(hashlib.sha256(artifact.read_bytes()).digest()).decode()
        if function.get("source_code_hash") == digest:
            known.add(digest)
    return known


def random_looking_part(run: str, known: set[str]) -> str | None:
    """The run, or a '/'-separated part of it, that looks random once known hashes are taken out."""
    if run in known:
        return None
    parts = [part for part in run.split("/") if part not in known]
    for candidate in ("/".join(parts), *parts):
        if len(candidate) >= 20 and looks_random(candidate):
            return candidate
    return None


def findings(document: dict[str, Any], known: set[str]) -> list[str]:
    found: list[str] = []
    for section in ("resource", "data"):
        for resource_type in document.get(section, {}):
            if resource_type in FORBIDDEN_TYPES:
                found.append(f"{section}.{resource_type}: holds a secret value in state")
    for path, text in strings(document):
        if path.rsplit("/", 1)[-1] in FORBIDDEN_ATTRIBUTES and text == path.rsplit("/", 1)[-1]:
            found.append(f"{path}: attribute {text!r} holds a value")
        if ACCESS_KEY_ID.search(text) or PEM.search(text):
            found.append(f"{path}: looks like an AWS access key id or a PEM block")
        for run in RUN.findall(REFERENCE.sub(" ", text)):
            piece = random_looking_part(run, known)
            if piece:
                found.append(f"{path}: high-entropy string {piece[:8]}... ({len(piece)} chars)")
    return found


def scan_dir(outdir: Path) -> dict[str, list[str]]:
    return {name: findings(document, known_hashes(document, outdir / "stacks" / name))
            for name, document in load_stacks(outdir).items()}


# --- the real output ---------------------------------------------------------------------------


def test_every_stack_is_scanned(synth_dir: Path) -> None:
    assert sorted(p.parent.name for p in (synth_dir / "stacks").glob("*/cdk.tf.json")) == \
        ["ingest-dev", "ingest-prod", "ingest-state-backend"]


def test_no_synthesized_stack_contains_a_secret(synth_dir: Path) -> None:
    assert scan_dir(synth_dir) == {"ingest-dev": [], "ingest-prod": [], "ingest-state-backend": []}


def test_the_only_exempted_strings_are_verified_hashes(synth_dir: Path, synth) -> None:
    for name in ("ingest-dev", "ingest-prod"):
        stack_dir = synth_dir / "stacks" / name
        known = known_hashes(synth[name], stack_dir)
        functions = resources(synth[name], "aws_lambda_function").values()
        # One content hash of the zip and one asset directory hash, shared by the functions that run it.
        assert {f["source_code_hash"] for f in functions} <= known
        assert len(known) == 2, known


# --- the rules fail on broken output ----------------------------------------------------------


@pytest.fixture
def dev_copy(synth) -> dict[str, Any]:
    return copy.deepcopy(synth["ingest-dev"])


@pytest.fixture
def dev_known(synth, synth_dir: Path) -> set[str]:
    return known_hashes(synth["ingest-dev"], synth_dir / "stacks" / "ingest-dev")


def random_token(length: int, alphabet: str) -> str:
    """A deterministic stand-in for a generated secret (same statistics as GetRandomPassword output)."""
    seed = hashlib.sha256(str(length).encode()).digest()
    out = []
    while len(out) < length:
        seed = hashlib.sha256(seed).digest()
        out.extend(alphabet[b % len(alphabet)] for b in seed)
    return "".join(out[:length])


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def test_a_secret_version_resource_is_found(dev_copy, dev_known) -> None:
    dev_copy["resource"]["aws_secretsmanager_secret_version"] = {"v": {
        "secret_id": "${aws_secretsmanager_secret.signing-secret_B57172EC.id}", "secret_string": "${var.x}"}}
    found = findings(dev_copy, dev_known)
    assert "resource.aws_secretsmanager_secret_version: holds a secret value in state" in found
    assert any("attribute 'secret_string' holds a value" in f for f in found)


def test_a_data_source_reading_the_value_back_is_found(dev_copy, dev_known) -> None:
    dev_copy.setdefault("data", {})["aws_secretsmanager_secret_version"] = {"v": {"secret_id": "x"}}
    assert findings(dev_copy, dev_known) == ["data.aws_secretsmanager_secret_version: holds a secret value in state"]


@pytest.mark.parametrize("value", [
    random_token(64, ALNUM),                                  # a signing key from GetRandomPassword
    random_token(20, ALNUM),                                  # a short token
    random_token(64, "0123456789abcdef"),                     # hex key material
    base64.b64encode(random_token(32, ALNUM).encode()).decode(),  # base64 key material
    "AKIA" + random_token(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
    "-----BEGIN RSA PRIVATE KEY-----",
])
def test_a_secret_in_an_environment_variable_is_found(dev_copy, dev_known, value: str) -> None:
    function = next(iter(resources(dev_copy, "aws_lambda_function").values()))
    function["environment"]["variables"]["SIGNING_KEY"] = value
    found = findings(dev_copy, dev_known)
    assert found and all(f.startswith("/resource/aws_lambda_function/") and "/variables/SIGNING_KEY:" in f
                         for f in found), found


def test_an_unverified_hash_is_not_exempt(dev_copy, synth_dir: Path) -> None:
    function = next(iter(resources(dev_copy, "aws_lambda_function").values()))
    function["source_code_hash"] = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    found = findings(dev_copy, known_hashes(dev_copy, synth_dir / "stacks" / "ingest-dev"))
    assert any(f.endswith("source_code_hash: high-entropy string " + function["source_code_hash"][:8] + "... (44 chars)")
               for f in found), found


def test_a_token_in_a_configured_url_is_found(synth_variant, tmp_path: Path) -> None:
    """A real configuration error: a webhook URL carrying its credential ends up in the function's environment."""
    token = random_token(24, ALNUM)
    synth_variant(lambda cfg: cfg["environments"]["dev"].setdefault("function", {}).update(
        {"webhook_url": f"https://hooks.example.com/services/{token}"}), environments=["dev"])
    found = scan_dir(tmp_path / "cdktf.out")["ingest-dev"]
    assert found and all("/environment/variables/" in f for f in found), found


def test_low_entropy_names_and_words_are_not_flagged() -> None:
    document = {"resource": {"aws_s3_bucket": {"b": {
        "bucket": "ingest-dev-manifests-111111111111-eu-west-1",
        "policy": "CloudWatchLogsEncryptsThisStacksLogGroups ApproximateNumberOfMessagesVisible 2012-10-17",
        "arn": "${aws_kms_key.key_F64E54E4.arn}/manifests/*"}}}}
    assert findings(document, set()) == []
