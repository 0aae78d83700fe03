"""Pure core and configuration: decoding, canonicalisation, sniffing, digests."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handler import core
from handler.config import ConfigError, load_config

KEY = b"k" * 64
text_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)


@given(text_keys)
def test_decode_key_inverts_quote_plus(key):
    assert core.decode_key(quote_plus(key)) == key
    assert core.decode_key(quote_plus(key, safe="/")) == key


@pytest.mark.parametrize("raw, decoded", [
    ("a+b", "a b"), ("a%2Bb", "a+b"), ("a%2520b", "a%20b"), ("d%C3%A9j%C3%A0", "déjà"),
    ("k%3Dv", "k=v"), ("k=v", "k=v"), ("x/y/z", "x/y/z"), ("%E6%97%A5", "日"),
])
def test_decode_key_examples(raw, decoded):
    assert core.decode_key(raw) == decoded


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53), text_keys)
fields_strategy = st.fixed_dictionaries({
    "bucket": text_keys, "key": text_keys, "version_id": st.one_of(st.none(), text_keys),
    "size": st.integers(0, 2**40), "sha256": st.one_of(st.none(), st.text("0123456789abcdef", min_size=64, max_size=64)),
    "content_type": st.one_of(st.none(), text_keys), "status": st.sampled_from(["accepted", "rejected"]),
    "reason": st.one_of(st.none(), text_keys), "event_time": st.one_of(st.none(), text_keys),
    "key_version": text_keys,
})


@settings(max_examples=75)
@given(fields_strategy, st.randoms(use_true_random=False))
def test_signature_is_stable_under_key_order(fields, rnd):
    items = list(fields.items())
    rnd.shuffle(items)
    assert core.compute_signature(dict(items), KEY) == core.compute_signature(fields, KEY)
    m = core.sign_manifest(dict(items), KEY)
    assert core.verify_manifest(m, KEY)
    assert core.verify_manifest(json.loads(core.serialize_manifest(m)), KEY)


@settings(max_examples=75)
@given(fields_strategy, st.data())
def test_any_field_change_changes_the_signature(fields, data):
    name = data.draw(st.sampled_from(sorted(fields)))
    new = data.draw(json_scalars.filter(lambda v: v != fields[name] or type(v) is not type(fields[name])))
    changed = {**fields, name: new}
    assert core.compute_signature(changed, KEY) != core.compute_signature(fields, KEY)
    m = core.sign_manifest(fields, KEY)
    assert not core.verify_manifest({**m, name: new}, KEY)


def test_canonical_serialisation_is_documented_form():
    fields = {"b": "é", "a": 1, "c": None}
    assert core.canonical_bytes(fields) == '{"a":1,"b":"é","c":null}'.encode("utf-8")


@given(text_keys, text_keys, st.one_of(st.none(), text_keys))
def test_manifest_key_is_deterministic_and_prefixed(bucket, key, version):
    k = core.manifest_key("manifests/", bucket, key, version)
    assert k == core.manifest_key("manifests/", bucket, key, version)
    assert k.startswith("manifests/") and k.endswith(".json") and len(k) == 10 + 64 + 5
    ident = json.dumps([bucket, key, version], ensure_ascii=False, separators=(",", ":"))
    assert k[10:-5] == hashlib.sha256(ident.encode()).hexdigest()


def test_manifest_key_distinguishes_versions_and_null():
    ks = {core.manifest_key("", "b", "k", v) for v in (None, "null", "", "v1")}
    assert len(ks) == 4


@pytest.mark.parametrize("head, mime", [
    (b"", "application/x-empty"),
    (b"\x89PNG\r\n\x1a\n....", "image/png"),
    (b"\xff\xd8\xff\xe0JFIF", "image/jpeg"),
    (b"GIF89a...", "image/gif"),
    (b"%PDF-1.4", "application/pdf"),
    (b"PK\x03\x04rest", "application/zip"),
    (b"\x1f\x8b\x08\x00", "application/gzip"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b'  {"a": 1}', "application/json"),
    (b"\xef\xbb\xbf[1,2]", "application/json"),
    (b"<?xml version='1.0'?>", "application/xml"),
    (b"<!DOCTYPE html><html>", "text/html"),
    (b"hello, world\n", "text/plain"),
    ("déjà vu".encode(), "text/plain"),
    (b"\x00\x01\x02binary", "application/octet-stream"),
    (b"\xff\xfe\xfdnot utf8", "application/octet-stream"),
])
def test_sniff_content_type(head, mime):
    assert core.sniff_content_type(head) == mime


def test_sniff_tolerates_multibyte_char_cut_at_the_window():
    head = (b"a" * (core.SNIFF_BYTES - 1) + "é".encode())[: core.SNIFF_BYTES]
    assert core.sniff_content_type(head) == "text/plain"


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_digest_chunks_matches_hashlib(chunks):
    data = b"".join(chunks)
    d = core.digest_chunks(iter(chunks))
    assert (d.size, d.sha256, d.head) == (len(data), hashlib.sha256(data).hexdigest(),
                                          data[: core.SNIFF_BYTES])
    assert not d.truncated


def test_digest_chunks_stops_at_the_limit():
    consumed = []

    def gen():
        for i in range(100):
            consumed.append(i)
            yield b"x" * 10

    d = core.digest_chunks(gen(), limit=25)
    assert d.truncated and d.size == 30 and len(consumed) == 3


# --- config -------------------------------------------------------------------------
GOOD = {
    "MANIFEST_BUCKET": "manifest-bucket", "MANIFEST_PREFIX": "manifests/",
    "TRIGGER_PREFIX": "incoming/", "MAX_OBJECT_BYTES": "1048576", "SERVICE_NAME": "fn",
    "SIGNING_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf",
}


def test_config_defaults():
    cfg = load_config(GOOD)
    assert cfg.signing_key_ttl_seconds == 300 and cfg.webhook_url is None
    assert cfg.max_object_bytes == 1048576 and cfg.log_level == "INFO"


def test_config_reports_every_missing_variable_by_name():
    with pytest.raises(ConfigError) as ei:
        load_config({})
    assert set(ei.value.problems) == {"MANIFEST_BUCKET", "MANIFEST_PREFIX", "TRIGGER_PREFIX",
                                      "SIGNING_SECRET_ARN", "MAX_OBJECT_BYTES", "SERVICE_NAME"}
    assert "MAX_OBJECT_BYTES: is required" in str(ei.value)


@pytest.mark.parametrize("var, value", [
    ("MAX_OBJECT_BYTES", "ten"), ("MAX_OBJECT_BYTES", "-1"), ("SIGNING_KEY_TTL_SECONDS", "x"),
    ("SIGNING_SECRET_ARN", "my-secret"), ("MANIFEST_BUCKET", "Bad_Bucket"),
    ("WEBHOOK_URL", "http://example.com/hook"), ("WEBHOOK_URL", "ftp://x/y"),
    ("WEBHOOK_URL", "not a url"), ("LOG_LEVEL", "TRACE"),
])
def test_config_invalid_values_name_the_variable(var, value):
    with pytest.raises(ConfigError) as ei:
        load_config({**GOOD, var: value})
    assert list(ei.value.problems) == [var] and var in str(ei.value)


@pytest.mark.parametrize("url", ["https://hooks.example.com/x", "http://127.0.0.1:8080/h",
                                 "http://localhost/h", "http://[::1]:9/h"])
def test_config_webhook_ok(url):
    assert load_config({**GOOD, "WEBHOOK_URL": url}).webhook_url == url


def test_handler_reports_config_errors_clearly(monkeypatch):
    from handler import app

    monkeypatch.delenv("MANIFEST_BUCKET", raising=False)
    with pytest.raises(ConfigError, match="MANIFEST_BUCKET"):
        app.lambda_handler({"Records": []}, None)
