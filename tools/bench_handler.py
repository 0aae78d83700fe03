"""Handler benchmarks against a moto S3/Secrets Manager server in another process.

- memory: peak RSS of a handler process (a fresh interpreter running
  ``lambda_handler`` on one S3 event) for a 1 MiB and a 512 MiB object; the
  difference shows whether memory grows with object size (target < 64 MiB).
- throughput: the handler's streaming read+hash (``S3Store.iter_chunks`` +
  ``digest_chunks``) against the baseline of reading the whole body and hashing
  it at once, same object, same server (target ratio >= 0.9).
- import: time to import ``handler.app`` against ``import boto3`` alone, each in
  a fresh interpreter, median of several runs (target <= 1.3x).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tools.moto_server import MotoServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
INGEST, MANIFESTS, PREFIX = "bench-ingest", "bench-manifests", "incoming/"
SECRET_VALUE = "b" * 64
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1"}


class _Pattern(io.RawIOBase):
    """A readable stream of ``size`` pseudo-random bytes without holding them in memory."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.block = hashlib.sha256(b"seed").digest() * (MIB // 32)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.remaining, len(self.block))
        buffer[:n] = self.block[:n]
        self.remaining -= n
        return n


def _setup(url: str, sizes: dict[str, int]) -> tuple[str, dict[str, str]]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=url)
    for bucket in (INGEST, MANIFESTS):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=INGEST, VersioningConfiguration={"Status": "Enabled"})
    versions = {}
    for key, size in sizes.items():
        s3.upload_fileobj(io.BufferedReader(_Pattern(size), buffer_size=8 * MIB), INGEST, key)
        versions[key] = s3.head_object(Bucket=INGEST, Key=key)["VersionId"]
    sm = boto3.client("secretsmanager", endpoint_url=url)
    arn = sm.create_secret(Name="bench-signing-key", SecretString=SECRET_VALUE)["ARN"]
    return arn, versions


_HANDLER_RUN = """
import json, resource, sys, time
from handler.app import lambda_handler
event = json.loads(sys.argv[1])
class Context:
    aws_request_id = "bench"
    function_name = "bench"
start = time.perf_counter()
lambda_handler(event, Context())
elapsed = time.perf_counter() - start
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "seconds": elapsed}))
"""


_WHOLE_BODY_RUN = """
import hashlib, json, resource, sys, boto3
s3 = boto3.client("s3")
body = s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])["Body"].read()
hashlib.sha256(body).hexdigest()
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_whole_body(url: str, key: str) -> dict:
    """Baseline: what reading the object at once (no streaming) costs in memory."""
    env = {**os.environ, **FAKE_AWS, "AWS_ENDPOINT_URL": url}
    done = subprocess.run([sys.executable, "-c", _WHOLE_BODY_RUN, INGEST, key], env=env, capture_output=True,
                          text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"whole-body run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _event(key: str, size: int, version: str) -> dict:
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": INGEST, "arn": f"arn:aws:s3:::{INGEST}"},
               "object": {"key": key, "size": size, "versionId": version}},
    }]}


def run_handler(url: str, secret_arn: str, key: str, size: int, version: str) -> dict:
    env = {**os.environ, **FAKE_AWS, "AWS_ENDPOINT_URL": url, "MANIFEST_BUCKET": MANIFESTS, "MANIFEST_PREFIX": "manifests/",
           "TRIGGER_PREFIX": PREFIX, "SIGNING_SECRET_ARN": secret_arn, "MAX_OBJECT_BYTES": str(1024 * MIB),
           "SERVICE_NAME": "bench", "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", _HANDLER_RUN, json.dumps(_event(key, size, version))], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"handler run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def throughput(url: str, key: str, size: int, version: str, repeat: int) -> tuple[float, float]:
    """(streaming MiB/s, whole-body MiB/s), medians."""
    import boto3

    from handler.adapters import S3Store
    from handler.core import digest_chunks

    s3 = boto3.client("s3", endpoint_url=url)
    store = S3Store(s3)
    streaming, whole = [], []
    s3.get_object(Bucket=INGEST, Key=key, VersionId=version)["Body"].read()  # warm-up: server-side caches
    for _ in range(repeat):
        start = time.perf_counter()
        head = store.head(INGEST, key, version)
        digest = digest_chunks(store.iter_chunks(INGEST, key, head, version))
        streaming.append(size / MIB / (time.perf_counter() - start))
        start = time.perf_counter()
        s3.head_object(Bucket=INGEST, Key=key, VersionId=version)
        body = s3.get_object(Bucket=INGEST, Key=key, VersionId=version)["Body"].read()
        whole_digest = hashlib.sha256(body).hexdigest()
        whole.append(size / MIB / (time.perf_counter() - start))
        del body
        assert digest.sha256 == whole_digest and digest.size == size
    return statistics.median(streaming), statistics.median(whole)


def import_times(repeat: int) -> tuple[float, float]:
    code = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"

    def once(module: str) -> float:
        done = subprocess.run([sys.executable, "-c", code.format(module)], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, **FAKE_AWS})
        return float(done.stdout.strip())

    boto = [once("boto3") for _ in range(repeat)]
    app = [once("handler.app") for _ in range(repeat)]
    return statistics.median(boto), statistics.median(app)


def bench_handler(repeat: int, large_mib: int = 512) -> None:
    os.environ.update(FAKE_AWS)
    sizes = {f"{PREFIX}small.bin": 1 * MIB, f"{PREFIX}large.bin": large_mib * MIB}
    with MotoServer() as server:
        url = server.url
        arn, versions = _setup(url, sizes)
        small, large = (run_handler(url, arn, key, size, versions[key]) for key, size in sizes.items())
        whole_large = run_whole_body(url, f"{PREFIX}large.bin")
        stream, whole = throughput(url, f"{PREFIX}large.bin", large_mib * MIB, versions[f"{PREFIX}large.bin"], repeat)
    boto_s, app_s = import_times(max(repeat, 5))
    growth = (large["peak_kib"] - small["peak_kib"]) / 1024
    print(f"handler, object served by moto_server in another process")
    print(f"  {'measure':<44}{'baseline':>14}{'handler':>14}{'ratio/diff':>14}")
    print(f"  {'peak RSS MiB (1 MiB vs ' + str(large_mib) + ' MiB object)':<44}{small['peak_kib'] / 1024:>14.1f}"
          f"{large['peak_kib'] / 1024:>14.1f}{growth:>+13.1f}M")
    print(f"  {'peak RSS MiB, ' + str(large_mib) + ' MiB object (read whole vs handler)':<44}"
          f"{whole_large['peak_kib'] / 1024:>14.1f}{large['peak_kib'] / 1024:>14.1f}"
          f"{large['peak_kib'] / whole_large['peak_kib']:>14.2f}")
    print(f"  {'throughput MiB/s (whole body vs streaming)':<44}{whole:>14.1f}{stream:>14.1f}{stream / whole:>14.2f}")
    print(f"  {'import s (boto3 vs handler.app)':<44}{boto_s:>14.3f}{app_s:>14.3f}{app_s / boto_s:>14.2f}")
    print("  targets: RSS difference < 64 MiB, streaming/whole >= 0.9, import ratio <= 1.3")
