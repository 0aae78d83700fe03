"""Lambda entry point of the ingest function: ``handler.app.lambda_handler``.

Per record: decode key -> ignore (not ObjectCreated / outside TRIGGER_PREFIX) ->
HEAD (by version id) -> reject if larger than MAX_OBJECT_BYTES without reading it,
else stream it in 1 MiB chunks (hash, size, sniff) -> sign the manifest -> write it
with If-None-Match: * (an existing manifest means a re-delivery: logged no-op) ->
optional webhook.

Duplicate delivery and the webhook: when the manifest already exists, the *stored*
manifest is read back and POSTed again with the same ``Idempotency-Key``.  A
previous invocation may have written the manifest and then failed on the webhook;
the retry must still deliver it, byte-identical (the signing key may have rotated
since, so a freshly signed manifest could differ).  Receivers deduplicate on
``Idempotency-Key``.  This needs s3:GetObject on the manifest prefix only when a
webhook is configured.

Errors: a malformed event raises ``EventValidationError`` before any side
effect; ``s3:TestEvent`` and empty events return normally; deleted objects are
skipped.  Any other failure of a record (AccessDenied, KMS, throttling, webhook)
is logged and counted, the remaining records are still processed, and the
invocation then raises ``RecordsFailedError`` so Lambda retries and finally
dead-letters the event (already written manifests make the retry idempotent).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

from . import contract as c
from .adapters import (
    ObjectGone, S3Store, SigningKeyProvider, Webhook, client, error_code,
)
from .config import Config, load_config
from .core import (
    STATUS_ACCEPTED, STATUS_REJECTED, EventValidationError, build_manifest_fields,
    digest_chunks, manifest_key, parse_event, serialize_manifest, sign_manifest,
    skip_reason, sniff_content_type, too_large_reason,
)
from .observability import JsonLogger, Metrics

__all__ = ["lambda_handler", "RecordsFailedError", "EventValidationError"]


class RecordsFailedError(RuntimeError):
    """Some records failed (transiently); raised after all records were tried."""

    def __init__(self, failures):
        self.failures = list(failures)  # [(record, exception)]
        first = self.failures[0][1]
        super().__init__(
            f"{len(self.failures)} record(s) failed; first: {type(first).__name__}: {first}"
        )


@dataclass
class Runtime:
    config: Config
    store: S3Store
    keys: SigningKeyProvider
    webhook: Optional[Webhook]
    logger: JsonLogger
    metrics: Metrics
    clock: Callable[[], float] = time.monotonic


def build_runtime(env=None, *, clock: Callable[[], float] = time.monotonic,
                  stream=None, webhook_sleep: Callable[[float], None] = time.sleep) -> Runtime:
    config = load_config(os.environ if env is None else env)
    return Runtime(
        config=config,
        store=S3Store(client("s3")),
        keys=SigningKeyProvider(client("secretsmanager"), config.signing_secret_arn,
                                config.signing_key_ttl_seconds, clock=clock),
        webhook=Webhook(config.webhook_url, sleep=webhook_sleep) if config.webhook_url else None,
        logger=JsonLogger(config.service_name, config.log_level, stream=stream),
        metrics=Metrics(config.service_name, stream=stream),
        clock=clock,
    )


_runtime: Optional[Runtime] = None


def get_runtime() -> Runtime:
    """The container-wide runtime, built (and the config validated) on first use."""
    global _runtime
    if _runtime is None:
        _runtime = build_runtime()
    return _runtime


def reset_runtime(runtime: Optional[Runtime] = None) -> None:
    global _runtime
    _runtime = runtime


def lambda_handler(event, context):
    return handle(event, context, get_runtime())


def handle(event, context, rt: Runtime) -> dict:
    log, metrics = rt.logger, rt.metrics
    log.clear()
    log.bind(request_id=getattr(context, "aws_request_id", None))
    try:
        parsed = parse_event(event)
    except EventValidationError as exc:
        log.error("malformed event", error=str(exc), outcome="invalid_event")
        raise
    if parsed.is_test_event:
        log.info("s3:TestEvent ignored", outcome="test_event")
        return {"records": 0, "outcomes": {}}
    if not parsed.records:
        log.info("event has no records", outcome="empty")
        return {"records": 0, "outcomes": {}}

    outcomes: dict = {}
    failures = []
    for record in parsed.records:
        started = rt.clock()
        fields = dict(bucket=record.bucket, key=record.key, version_id=record.version_id,
                      event_name=record.event_name, record_index=record.index)
        try:
            outcome = _process_record(record, rt, fields)
        except Exception as exc:  # noqa: BLE001 - every record is tried, then we raise
            outcome = "error"
            failures.append((record, exc))
            metrics.count(c.PROCESSING_ERRORS)
            log.error("record failed", outcome=outcome, error_type=type(exc).__name__,
                      error_code=error_code(exc) or None, error=str(exc),
                      duration_ms=_ms(rt.clock() - started), **fields)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    metrics.flush()
    if failures:
        raise RecordsFailedError(failures) from failures[0][1]
    return {"records": len(parsed.records), "outcomes": outcomes}


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _process_record(record, rt: Runtime, fields: dict) -> str:
    cfg, log, metrics = rt.config, rt.logger, rt.metrics
    started = rt.clock()
    why = skip_reason(record, cfg.trigger_prefix)
    if why:
        log.info("record ignored", outcome="ignored", reason=why, **fields)
        return "ignored"
    try:
        head = rt.store.head(record.bucket, record.key, record.version_id)
        version_id = record.version_id or head.version_id
        reason = too_large_reason(head.size, cfg.max_object_bytes)
        if reason:
            size, sha, ctype, read = head.size, None, None, 0
        else:
            digest = digest_chunks(
                rt.store.iter_chunks(record.bucket, record.key, head, record.version_id),
                limit=cfg.max_object_bytes,
            )
            read = digest.size
            if digest.truncated:
                reason = too_large_reason(digest.size, cfg.max_object_bytes)
                size, sha, ctype = digest.size, None, None
            else:
                size, sha, ctype = digest.size, digest.sha256, sniff_content_type(digest.head)
    except ObjectGone as exc:
        log.info("object no longer exists; skipped", outcome="gone", error=str(exc), **fields)
        return "gone"
    status = STATUS_REJECTED if reason else STATUS_ACCEPTED
    metrics.count(c.BYTES_PROCESSED, read)

    key = rt.keys.current()
    manifest = sign_manifest(build_manifest_fields(
        record, version_id=version_id, size=size, sha256=sha, content_type=ctype,
        status=status, reason=reason, key_version=key.version_id,
    ), key.key)
    mkey = manifest_key(cfg.manifest_prefix, record.bucket, record.key, version_id)
    body = serialize_manifest(manifest)
    created = rt.store.put_if_absent(cfg.manifest_bucket, mkey, body)
    outcome = status if created else "duplicate"
    if created:
        metrics.count(c.OBJECTS_ACCEPTED if status == STATUS_ACCEPTED else c.OBJECTS_REJECTED)
    else:
        log.info("manifest already exists (re-delivery); not rewritten",
                 manifest_key=mkey, outcome=outcome, **fields)
    if rt.webhook is not None:
        if not created:
            body = rt.store.get_bytes(cfg.manifest_bucket, mkey)
        stored_sig = manifest["signature"] if created else _signature_of(body)
        rt.webhook.post(body, signature=stored_sig, idempotency_key=mkey)
    duration = _ms(rt.clock() - started)
    metrics.add(c.OBJECT_PROCESSING_TIME, duration)
    log.info("record processed", outcome=outcome, status=status, reason=reason, size=size,
             content_type=ctype, manifest_key=mkey, key_version=key.version_id,
             duration_ms=duration, **fields)
    return outcome


def _signature_of(body: bytes) -> str:
    return str(json.loads(body.decode("utf-8")).get("signature", ""))
