"""The metric, log and configuration contract of the ingest function.

Infrastructure code (alarms, metric filters, the function's environment) imports
this module, so it must stay side-effect free and import nothing but the standard
library (in particular: no boto3).

Metrics are CloudWatch embedded-metric-format (EMF) documents in namespace
``IngestPipeline`` with exactly one dimension, ``service`` = the function's name
(taken from the ``SERVICE_NAME`` environment variable).  Logs are one JSON object
per line with a ``level`` field; ``ERROR_LOG_FILTER_PATTERN`` matches error lines.
"""

from __future__ import annotations

from types import MappingProxyType

# --- metrics -----------------------------------------------------------------
METRIC_NAMESPACE = "IngestPipeline"
SERVICE_DIMENSION = "service"

OBJECTS_ACCEPTED = "ObjectsAccepted"
OBJECTS_REJECTED = "ObjectsRejected"
BYTES_PROCESSED = "BytesProcessed"
PROCESSING_ERRORS = "ProcessingErrors"
OBJECT_PROCESSING_TIME = "ObjectProcessingTime"

#: metric name -> CloudWatch unit (read-only)
METRICS = MappingProxyType(
    {
        OBJECTS_ACCEPTED: "Count",
        OBJECTS_REJECTED: "Count",
        BYTES_PROCESSED: "Bytes",
        PROCESSING_ERRORS: "Count",
        OBJECT_PROCESSING_TIME: "Milliseconds",
    }
)

# --- logs --------------------------------------------------------------------
LOG_LEVEL_FIELD = "level"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ERROR_LOG_FILTER_PATTERN = '{ $.level = "ERROR" }'

# --- environment of the ingest function -----------------------------------------
ENV_MANIFEST_BUCKET = "MANIFEST_BUCKET"
ENV_MANIFEST_PREFIX = "MANIFEST_PREFIX"
ENV_TRIGGER_PREFIX = "TRIGGER_PREFIX"
ENV_SIGNING_SECRET_ARN = "SIGNING_SECRET_ARN"
ENV_MAX_OBJECT_BYTES = "MAX_OBJECT_BYTES"
ENV_SERVICE_NAME = "SERVICE_NAME"  # value of the `service` metric dimension + log field
ENV_WEBHOOK_URL = "WEBHOOK_URL"  # optional; https (http only for loopback hosts)
ENV_SIGNING_KEY_TTL_SECONDS = "SIGNING_KEY_TTL_SECONDS"  # optional, default below
ENV_LOG_LEVEL = "LOG_LEVEL"  # optional, default INFO

DEFAULT_SIGNING_KEY_TTL_SECONDS = 300
DEFAULT_LOG_LEVEL = "INFO"

REQUIRED_ENV_VARS = (
    ENV_MANIFEST_BUCKET,
    ENV_MANIFEST_PREFIX,
    ENV_TRIGGER_PREFIX,
    ENV_SIGNING_SECRET_ARN,
    ENV_MAX_OBJECT_BYTES,
    ENV_SERVICE_NAME,
)
OPTIONAL_ENV_VARS = (ENV_WEBHOOK_URL, ENV_SIGNING_KEY_TTL_SECONDS, ENV_LOG_LEVEL)
#: every variable the ingest function reads (the infrastructure sets exactly these)
ENV_VARS = REQUIRED_ENV_VARS + OPTIONAL_ENV_VARS

# The rotation function reads no variable; the stack still sets SERVICE_NAME on it (labels, CKV_AWS_173).

# --- entry points (for the infrastructure) ---------------------------------------
INGEST_HANDLER = "handler.app.lambda_handler"
ROTATION_HANDLER = "handler.rotation.lambda_handler"

# --- signing secret value format (shared by rotation and the ingest handler) -----
#: The secret value is the raw string returned by GetRandomPassword with
#: PasswordLength=SIGNING_KEY_LENGTH, ExcludePunctuation=True, IncludeSpace=False;
#: its UTF-8 bytes are the HMAC-SHA256 key.
SIGNING_KEY_LENGTH = 64
