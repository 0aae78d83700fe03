"""The metric and log contract, checked on real handler output."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import handler_world as hw
from emitted import split_output, standard_scenario
from handler import app, contract
from handler.observability import JsonLogger, Metrics

EXPECTED_METRICS = {
    "ObjectsAccepted": "Count", "ObjectsRejected": "Count", "BytesProcessed": "Bytes",
    "ProcessingErrors": "Count", "ObjectProcessingTime": "Milliseconds",
}


def test_contract_constants():
    assert contract.METRIC_NAMESPACE == "IngestPipeline"
    assert contract.SERVICE_DIMENSION == "service"
    assert dict(contract.METRICS) == EXPECTED_METRICS
    assert contract.LOG_LEVEL_FIELD == "level"
    assert contract.ERROR_LOG_FILTER_PATTERN == '{ $.level = "ERROR" }'
    assert set(contract.ENV_VARS) == {
        "MANIFEST_BUCKET", "MANIFEST_PREFIX", "TRIGGER_PREFIX", "SIGNING_SECRET_ARN",
        "MAX_OBJECT_BYTES", "SERVICE_NAME", "WEBHOOK_URL", "SIGNING_KEY_TTL_SECONDS", "LOG_LEVEL"}


def test_contract_module_imports_only_the_standard_library():
    src = Path(contract.__file__).read_text()
    imported = {n.names[0].name.split(".")[0] if isinstance(n, ast.Import) else (n.module or "")
                for n in ast.walk(ast.parse(src)) if isinstance(n, (ast.Import, ast.ImportFrom))}
    assert imported <= {"__future__", "types"}
    code = "import sys, handler.contract; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=hw.ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False False"


def test_handler_never_imports_infrastructure_code():
    for path in (hw.ROOT / "handler").glob("*.py"):
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            names = ([a.name for a in n.names] if isinstance(n, ast.Import)
                     else [n.module or ""] if isinstance(n, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("modules", "cdktf", "constructs")), (path, name)


def test_standard_scenario_emf_matches_the_contract():
    out = standard_scenario()
    assert out.error is not None
    assert len(out.emf_documents) == 1
    doc = out.emf_documents[0]
    spec = doc["_aws"]["CloudWatchMetrics"]
    assert len(spec) == 1
    assert spec[0]["Namespace"] == "IngestPipeline"
    assert spec[0]["Dimensions"] == [["service"]]
    assert doc["service"] == hw.SERVICE
    assert isinstance(doc["_aws"]["Timestamp"], int)
    names = {m["Name"]: m["Unit"] for m in spec[0]["Metrics"]}
    assert names == EXPECTED_METRICS
    assert doc["ObjectsAccepted"] == 1 and doc["ObjectsRejected"] == 1
    assert doc["ProcessingErrors"] == 1
    assert doc["BytesProcessed"] == len(b"accepted object")
    assert isinstance(doc["ObjectProcessingTime"], list) and len(doc["ObjectProcessingTime"]) == 2
    # no other top-level keys than the dimension, the metrics and _aws
    assert set(doc) == {"_aws", "service", *EXPECTED_METRICS}


def test_standard_scenario_logs_match_the_contract():
    out = standard_scenario()
    assert out.log_lines
    for line in out.log_lines:
        assert line["level"] in contract.LOG_LEVELS
        assert {"message", "timestamp", "service", "request_id"} <= set(line)
        assert line["service"] == hw.SERVICE and line["request_id"] == "scenario"
    errors = [x for x in out.log_lines if x["level"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["key"] == "incoming/denied/error.txt"
    outcomes = sorted(x["outcome"] for x in out.log_lines)
    assert outcomes == ["accepted", "error", "rejected"]
    for x in out.log_lines:
        assert {"bucket", "key", "version_id", "outcome", "duration_ms"} <= set(x)


def test_logs_never_contain_the_secret_or_object_content(world, capsys):
    world.runtime()
    secret = world.sm.get_secret_value(SecretId=world.secret_arn)["SecretString"]
    content = b"TOP-SECRET-CONTENT-1234567890"
    vid = world.put("incoming/c.txt", content)
    app.lambda_handler(world.event(world.record("incoming/c.txt", vid)), hw.context())
    out = capsys.readouterr().out
    assert secret not in out and content.decode() not in out
    for line in out.splitlines():
        json.loads(line)  # every line is one JSON object


def test_no_metrics_for_test_event(world, capsys):
    world.runtime()
    app.lambda_handler(hw.load_event("s3_test_event.json"), hw.context())
    emf, logs = split_output(capsys.readouterr().out)
    assert emf == [] and logs[0]["outcome"] == "test_event"


def test_metrics_reject_unknown_names_and_chunk_at_100_values():
    buf = io.StringIO()
    m = Metrics("svc", stream=buf, wall_clock=lambda: 1.5)
    with pytest.raises(ValueError):
        m.add("Other", 1)
    for i in range(150):
        m.add("ObjectProcessingTime", i)
    m.count("ObjectsAccepted", 2)
    m.flush()
    docs = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [len(d["ObjectProcessingTime"]) for d in docs] == [100, 50]
    assert docs[0]["_aws"]["Timestamp"] == 1500 and docs[1]["ObjectsAccepted"] == 2


def test_log_level_filtering_and_format():
    buf = io.StringIO()
    log = JsonLogger("svc", "WARNING", stream=buf, wall_clock=lambda: 0)
    log.info("hidden")
    log.warning("shown", key="k")
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert lines == [{"level": "WARNING", "message": "shown",
                      "timestamp": "1970-01-01T00:00:00.000Z", "service": "svc", "key": "k"}]
