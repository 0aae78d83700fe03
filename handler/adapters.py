"""Thin adapters: S3, Secrets Manager (signing key with TTL cache) and the webhook.

boto3 clients are created once per container, lazily, with the botocore
``standard`` retry mode and bounded connect/read timeouts.  The endpoint comes
from the standard ``AWS_ENDPOINT_URL`` variables (boto3 >= 1.28), which is how
the tests point the clients at a local emulator.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from .core import DEFAULT_CHUNK_SIZE, is_valid_signing_key

BOTO_CONFIG = BotoConfig(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=20,
    user_agent_extra="ingest-handler",
)

_clients: dict = {}


def client(service: str):
    """The container-wide client for ``service`` (created on first use)."""
    c = _clients.get(service)
    if c is None:
        c = _clients[service] = boto3.client(service, config=BOTO_CONFIG)
    return c


def reset_clients() -> None:
    """Forget cached clients (tests; a new container would do the same)."""
    _clients.clear()


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


# --- S3 --------------------------------------------------------------------------
_GONE_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
_DUPLICATE_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}


class ObjectGone(Exception):
    """The object (version) no longer exists: skip the record."""


class ObjectChanged(Exception):
    """The object changed between HEAD and GET (unversioned bucket): retry later."""


@dataclass(frozen=True)
class ObjectHead:
    size: int
    etag: str
    version_id: Optional[str]


class S3Store:
    def __init__(self, s3_client, chunk_size: int = DEFAULT_CHUNK_SIZE):
        self._s3 = s3_client
        self._chunk_size = chunk_size

    @staticmethod
    def _version_args(version_id: Optional[str]) -> dict:
        return {"VersionId": version_id} if version_id else {}

    def head(self, bucket: str, key: str, version_id: Optional[str]) -> ObjectHead:
        try:
            r = self._s3.head_object(Bucket=bucket, Key=key, **self._version_args(version_id))
        except ClientError as exc:
            # 405: the version is a delete marker
            if error_code(exc) in _GONE_CODES or _status(exc) in (404, 405):
                raise ObjectGone(f"{error_code(exc) or _status(exc)}") from exc
            raise
        return ObjectHead(int(r["ContentLength"]), r.get("ETag", ""), r.get("VersionId"))

    def iter_chunks(self, bucket: str, key: str, head: ObjectHead,
                    version_id: Optional[str]) -> Iterator[bytes]:
        """Stream the object in bounded chunks (pinned by version id, else by ETag)."""
        args = self._version_args(version_id)
        if not version_id and head.etag:
            args["IfMatch"] = head.etag
        try:
            r = self._s3.get_object(Bucket=bucket, Key=key, **args)
        except ClientError as exc:
            if error_code(exc) in _GONE_CODES or _status(exc) in (404, 405):
                raise ObjectGone(error_code(exc)) from exc
            if error_code(exc) == "PreconditionFailed":
                raise ObjectChanged(f"s3://{bucket}/{key} changed while being read") from exc
            raise
        body = r["Body"]
        try:
            yield from body.iter_chunks(self._chunk_size)
        finally:
            body.close()

    def put_if_absent(self, bucket: str, key: str, body: bytes) -> bool:
        """Conditional create (If-None-Match: *). False when the object already exists."""
        try:
            self._s3.put_object(
                Bucket=bucket, Key=key, Body=body, IfNoneMatch="*",
                ContentType="application/json",
            )
        except ClientError as exc:
            if error_code(exc) in _DUPLICATE_CODES or _status(exc) == 412:
                return False
            raise
        return True

    def get_bytes(self, bucket: str, key: str) -> bytes:
        r = self._s3.get_object(Bucket=bucket, Key=key)
        with r["Body"] as b:
            return b.read()


# --- signing key ------------------------------------------------------------------
class InvalidSigningKey(Exception):
    """The secret value does not have the documented format."""


@dataclass(frozen=True)
class SigningKey:
    version_id: str
    key: bytes = field(repr=False)


def fetch_signing_key(sm_client, secret_arn: str, version_id: Optional[str] = None) -> SigningKey:
    # AWSCURRENT is named explicitly (AWS's default anyway): moto's default version
    # does not follow UpdateSecretVersionStage, the label does.
    args = {"SecretId": secret_arn}
    if version_id:
        args["VersionId"] = version_id
    else:
        args["VersionStage"] = "AWSCURRENT"
    r = sm_client.get_secret_value(**args)
    value = r.get("SecretString")
    if not is_valid_signing_key(value):
        raise InvalidSigningKey(f"secret version {r.get('VersionId')} has an invalid format")
    return SigningKey(version_id=r["VersionId"], key=value.encode("utf-8"))


class SigningKeyProvider:
    """AWSCURRENT signing key, cached for ``ttl_seconds`` (clock injectable)."""

    def __init__(self, sm_client, secret_arn: str, ttl_seconds: int,
                 clock: Callable[[], float] = time.monotonic):
        self._sm = sm_client
        self._arn = secret_arn
        self._ttl = ttl_seconds
        self._clock = clock
        self._cached: Optional[SigningKey] = None
        self._fetched_at = 0.0

    def current(self) -> SigningKey:
        now = self._clock()
        if self._cached is None or now - self._fetched_at >= self._ttl:
            self._cached = fetch_signing_key(self._sm, self._arn)
            self._fetched_at = now
        return self._cached


# --- webhook -----------------------------------------------------------------------
class WebhookError(Exception):
    def __init__(self, message: str, status: Optional[int] = None, attempts: int = 0):
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class Webhook:
    """POST manifests; retries connection errors and 5xx with exponential backoff
    (``max_attempts`` in total), never 4xx."""

    def __init__(self, url: str, *, timeout: float = 5.0, max_attempts: int = 4,
                 backoff_base: float = 0.2, backoff_max: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.url = url
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        # no proxies from the environment: the URL is called directly
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post(self, body: bytes, *, signature: str, idempotency_key: str) -> int:
        headers = {
            "Content-Type": "application/json",
            "X-Signature": signature,
            "Idempotency-Key": idempotency_key,
            "User-Agent": "ingest-handler",
        }
        last = "no attempt made"
        status: Optional[int] = None
        for attempt in range(1, self.max_attempts + 1):
            req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with self._opener.open(req, timeout=self.timeout) as resp:
                    return resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()
                if 400 <= exc.code < 500:
                    raise WebhookError(f"webhook rejected the manifest: HTTP {exc.code}",
                                       status=exc.code, attempts=attempt) from None
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:  # connection errors, timeouts
                status = None
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < self.max_attempts:
                self._sleep(min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))
        raise WebhookError(f"webhook failed after {self.max_attempts} attempts: {last}",
                           status=status, attempts=self.max_attempts)


