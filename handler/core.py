"""Pure core of the ingest function: no I/O, no clock, no AWS.

Event parsing
    ``parse_event`` turns an S3 notification into frozen ``S3Record`` values.  Keys
    are decoded with ``urllib.parse.unquote_plus`` (``+`` is a space, ``%2B`` a
    plus, non-ASCII keys arrive percent-encoded UTF-8).  Malformed events raise
    ``EventValidationError`` naming the offending path.

Manifest key
    ``manifest_key(prefix, bucket, key, version_id)`` =
    ``prefix + sha256(json.dumps([bucket, key, version_id], ensure_ascii=False,
    separators=(",", ":")).encode("utf-8")).hexdigest() + ".json"``
    (``version_id`` is JSON ``null`` for unversioned objects).  It depends on
    nothing else, so a re-delivered event maps to the same manifest.

Manifest canonical serialisation and signature
    The signed fields are every manifest field except ``signature``::

        canonical = json.dumps(fields_without_signature, sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        signature = hmac.new(key, canonical, hashlib.sha256).hexdigest()

    where ``key`` is the UTF-8 encoding of the signing secret's string value
    (the secret version used is recorded in the signed field ``key_version``).
    The stored manifest object is the same serialisation of the *whole* manifest
    (signature included) followed by a newline.  No wall-clock time is signed:
    ``event_time`` comes from the event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Tuple
from urllib.parse import unquote_plus

from .contract import SIGNING_KEY_LENGTH

STATUS_ACCEPTED = "accepted"
STATUS_REJECTED = "rejected"
MANIFEST_FIELDS = (
    "bucket", "key", "version_id", "size", "sha256", "content_type",
    "status", "reason", "event_time", "key_version",
)
SNIFF_BYTES = 512
DEFAULT_CHUNK_SIZE = 1024 * 1024  # 1 MiB
_SIGNING_KEY_RE = re.compile(r"^[A-Za-z0-9]{%d}$" % SIGNING_KEY_LENGTH)


class EventValidationError(ValueError):
    """The Lambda event is not a well-formed S3 notification."""


# --- event parsing -------------------------------------------------------------
@dataclass(frozen=True)
class S3Record:
    index: int
    event_name: str
    event_time: Optional[str]
    bucket: str
    key: str  # decoded
    version_id: Optional[str]
    size: Optional[int]

    @property
    def is_object_created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")


@dataclass(frozen=True)
class ParsedEvent:
    is_test_event: bool
    records: Tuple[S3Record, ...]


def decode_key(raw: str) -> str:
    """Decode an S3 event object key (``+`` -> space, ``%XX`` -> UTF-8 bytes)."""
    return unquote_plus(raw, encoding="utf-8", errors="strict")


def _get(obj: Any, path: str, key: str, typ, *, required: bool = True):
    if not isinstance(obj, Mapping):
        raise EventValidationError(f"{path} must be an object")
    if key not in obj or obj[key] is None:
        if required:
            raise EventValidationError(f"{path}.{key} is missing")
        return None
    value = obj[key]
    if not isinstance(value, typ) or isinstance(value, bool):
        raise EventValidationError(f"{path}.{key} has the wrong type ({type(value).__name__})")
    return value


def parse_event(event: Any) -> ParsedEvent:
    if not isinstance(event, Mapping):
        raise EventValidationError("event must be a JSON object")
    if event.get("Event") == "s3:TestEvent":
        return ParsedEvent(is_test_event=True, records=())
    records = event.get("Records")
    if records is None:
        raise EventValidationError("event has neither Records nor Event=s3:TestEvent")
    if not isinstance(records, list):
        raise EventValidationError("Records must be a list")
    parsed = []
    for i, rec in enumerate(records):
        p = f"Records[{i}]"
        name = _get(rec, p, "eventName", str)
        event_time = _get(rec, p, "eventTime", str, required=False)
        s3 = _get(rec, p, "s3", Mapping)
        bucket = _get(_get(s3, f"{p}.s3", "bucket", Mapping), f"{p}.s3.bucket", "name", str)
        obj = _get(s3, f"{p}.s3", "object", Mapping)
        raw_key = _get(obj, f"{p}.s3.object", "key", str)
        version = _get(obj, f"{p}.s3.object", "versionId", str, required=False) or None
        size = _get(obj, f"{p}.s3.object", "size", int, required=False)
        if not bucket:
            raise EventValidationError(f"{p}.s3.bucket.name is empty")
        try:
            key = decode_key(raw_key)
        except UnicodeDecodeError as exc:
            raise EventValidationError(f"{p}.s3.object.key is not percent-encoded UTF-8") from exc
        if not key:
            raise EventValidationError(f"{p}.s3.object.key is empty")
        parsed.append(S3Record(i, name, event_time, bucket, key, version, size))
    return ParsedEvent(is_test_event=False, records=tuple(parsed))


def skip_reason(record: S3Record, trigger_prefix: str) -> Optional[str]:
    """Why a record is ignored, or None if it must be processed."""
    if not record.is_object_created:
        return f"event {record.event_name} is not ObjectCreated"
    if not record.key.startswith(trigger_prefix):
        return "key is outside the trigger prefix"
    return None


# --- content ---------------------------------------------------------------------
@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str
    head: bytes  # the first SNIFF_BYTES bytes
    truncated: bool  # True when the stream exceeded the limit and reading stopped


def digest_chunks(chunks: Iterable[bytes], limit: Optional[int] = None) -> Digest:
    """Hash a stream of chunks (memory bounded by one chunk + SNIFF_BYTES).

    Stops as soon as more than ``limit`` bytes have been seen (``truncated``).
    """
    h = hashlib.sha256()
    size = 0
    head = b""
    for chunk in chunks:
        if not chunk:
            continue
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        size += len(chunk)
        if limit is not None and size > limit:
            return Digest(size, h.hexdigest(), head, truncated=True)
        h.update(chunk)
    return Digest(size, h.hexdigest(), head, truncated=False)


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),  # empty archive
    (b"\x1f\x8b", "application/gzip"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"PAR1", "application/vnd.apache.parquet"),
    (b"%!PS", "application/postscript"),
)


def sniff_content_type(head: bytes) -> str:
    """Guess a MIME type from the leading bytes of an object (never the key's suffix).

    Covers: empty (``application/x-empty``); PNG, JPEG, GIF, WebP (RIFF....WEBP),
    PDF, ZIP (also docx/xlsx/jar), GZIP, BZIP2, XZ, 7z, Zstandard, Parquet,
    PostScript; then text heuristics on the first bytes: valid UTF-8 (a multi-byte
    sequence cut at the sniff boundary is tolerated) without NUL/control bytes
    other than tab/CR/LF/FF is text: ``application/json`` if it starts (after
    whitespace/BOM) with ``{`` or ``[``, ``application/xml`` if with ``<?xml``,
    ``text/html`` if with ``<!doctype html``/``<html``, else ``text/plain``.
    Everything else is ``application/octet-stream``.
    """
    if not head:
        return "application/x-empty"
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    sample = head[:SNIFF_BYTES]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # tolerate a multi-byte character cut by the sniff window
        if exc.start < len(sample) - 3 or len(sample) < SNIFF_BYTES:
            return "application/octet-stream"
        text = sample[: exc.start].decode("utf-8")
    if any(ch < " " and ch not in "\t\r\n\f" for ch in text):
        return "application/octet-stream"
    stripped = text.lstrip("\ufeff \t\r\n\f")
    low = stripped[:20].lower()
    if stripped[:1] in ("{", "["):
        return "application/json"
    if low.startswith("<?xml"):
        return "application/xml"
    if low.startswith("<!doctype html") or low.startswith("<html"):
        return "text/html"
    return "text/plain"


# --- decision ----------------------------------------------------------------------
def too_large_reason(size: int, max_bytes: int) -> Optional[str]:
    if size > max_bytes:
        return f"object size {size} exceeds MAX_OBJECT_BYTES {max_bytes}"
    return None


# --- manifests -----------------------------------------------------------------------
def manifest_key(prefix: str, bucket: str, key: str, version_id: Optional[str]) -> str:
    ident = json.dumps([bucket, key, version_id], ensure_ascii=False, separators=(",", ":"))
    return prefix + hashlib.sha256(ident.encode("utf-8")).hexdigest() + ".json"


def build_manifest_fields(
    record: S3Record,
    *,
    version_id: Optional[str],
    size: int,
    sha256: Optional[str],
    content_type: Optional[str],
    status: str,
    reason: Optional[str],
    key_version: str,
) -> dict:
    if status not in (STATUS_ACCEPTED, STATUS_REJECTED):
        raise ValueError(f"unknown status {status!r}")
    return {
        "bucket": record.bucket,
        "key": record.key,
        "version_id": version_id,
        "size": size,
        "sha256": sha256,
        "content_type": content_type,
        "status": status,
        "reason": reason,
        "event_time": record.event_time,
        "key_version": key_version,
    }


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    """Canonical serialisation of the signed fields (see module docstring)."""
    return json.dumps(
        dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def compute_signature(fields: Mapping[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical_bytes(fields), hashlib.sha256).hexdigest()


def sign_manifest(fields: Mapping[str, Any], key: bytes) -> dict:
    if "signature" in fields:
        raise ValueError("fields must not contain a signature")
    manifest = dict(fields)
    manifest["signature"] = compute_signature(fields, key)
    return manifest


def verify_manifest(manifest: Mapping[str, Any], key: bytes) -> bool:
    """True iff ``manifest['signature']`` is the HMAC of all its other fields."""
    if not isinstance(manifest, Mapping):
        return False
    signature = manifest.get("signature")
    if not isinstance(signature, str):
        return False
    fields = {k: v for k, v in manifest.items() if k != "signature"}
    try:
        expected = compute_signature(fields, key)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(expected, signature)


def serialize_manifest(manifest: Mapping[str, Any]) -> bytes:
    """Bytes of the stored manifest object (deterministic)."""
    return canonical_bytes(manifest) + b"\n"


def is_valid_signing_key(value: Any) -> bool:
    """The secret value format: SIGNING_KEY_LENGTH ASCII letters/digits."""
    return isinstance(value, str) and bool(_SIGNING_KEY_RE.match(value))
