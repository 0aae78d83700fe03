"""Structured JSON logs and CloudWatch embedded-metric-format (EMF) metrics.

Decision: hand-written, standard library only, instead of AWS Lambda Powertools.
Reasons: (1) bundling Powertools grows the zip and the cold-start import time
(target: importing ``handler.app`` costs at most 1.3x ``import boto3``);
(2) the public Powertools layer ARN cannot be exercised against the local
emulator, so a layer would be an untested dependency; (3) the contract is small:
one namespace, one dimension, five metrics, JSON lines with a ``level`` field.
The output is what Powertools would print for the same data: a JSON line per
flush with an ``_aws`` key, ``Dimensions: [["service"]]`` and the dimension value
at the top level.

Never pass secret values or object content to the logger.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, TextIO

from . import contract as c

MAX_VALUES_PER_METRIC = 100
_LEVEL_ORDER = {name: i for i, name in enumerate(c.LOG_LEVELS)}


def _default(o):  # anything not JSON-serialisable is logged as its str()
    return str(o)


class JsonLogger:
    def __init__(self, service: str, level: str = c.DEFAULT_LOG_LEVEL,
                 stream: Optional[TextIO] = None,
                 wall_clock: Callable[[], float] = time.time):
        self.service = service
        self.level = level
        self._stream = stream
        self._wall_clock = wall_clock
        self._context: Dict[str, object] = {}

    def bind(self, **fields) -> None:
        """Add fields (e.g. request_id) to every following line."""
        self._context.update(fields)

    def clear(self) -> None:
        self._context.clear()

    def log(self, level: str, message: str, **fields) -> None:
        if _LEVEL_ORDER[level] < _LEVEL_ORDER.get(self.level, 1):
            return
        ts = datetime.fromtimestamp(self._wall_clock(), tz=timezone.utc)
        line = {
            c.LOG_LEVEL_FIELD: level,
            "message": message,
            "timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "service": self.service,
        }
        line.update(self._context)
        line.update({k: v for k, v in fields.items() if v is not None})
        stream = self._stream or sys.stdout
        stream.write(json.dumps(line, default=_default, ensure_ascii=False) + "\n")
        stream.flush()

    def debug(self, message: str, **f) -> None:
        self.log("DEBUG", message, **f)

    def info(self, message: str, **f) -> None:
        self.log("INFO", message, **f)

    def warning(self, message: str, **f) -> None:
        self.log("WARNING", message, **f)

    def error(self, message: str, **f) -> None:
        self.log("ERROR", message, **f)


class Metrics:
    """Collects contract metrics and prints one EMF document per ``flush``."""

    def __init__(self, service: str, stream: Optional[TextIO] = None,
                 wall_clock: Callable[[], float] = time.time):
        self.service = service
        self._stream = stream
        self._wall_clock = wall_clock
        self._values: Dict[str, List[float]] = {}
        self._counters: Dict[str, float] = {}

    def count(self, name: str, value: float = 1) -> None:
        """Add to a counter (one value per flush: the sum)."""
        if name not in c.METRICS:
            raise ValueError(f"{name!r} is not a contract metric")
        self._counters[name] = self._counters.get(name, 0) + value

    def add(self, name: str, value: float) -> None:
        """Record one observation (a flush carries the list of observations)."""
        if name not in c.METRICS:
            raise ValueError(f"{name!r} is not a contract metric")
        values = self._values.setdefault(name, [])
        values.append(value)
        if len(values) >= MAX_VALUES_PER_METRIC:  # EMF limit: 100 values per metric
            self.flush()

    def document(self) -> Optional[dict]:
        if not self._values and not self._counters:
            return None
        names = [n for n in c.METRICS if n in self._values or n in self._counters]
        doc: dict = {
            "_aws": {
                "Timestamp": int(self._wall_clock() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": c.METRIC_NAMESPACE,
                    "Dimensions": [[c.SERVICE_DIMENSION]],
                    "Metrics": [{"Name": n, "Unit": c.METRICS[n]} for n in names],
                }],
            },
            c.SERVICE_DIMENSION: self.service,
        }
        for n in names:
            if n in self._counters:
                doc[n] = self._counters[n]
            else:
                vals = self._values[n]
                doc[n] = vals[0] if len(vals) == 1 else list(vals)
        return doc

    def flush(self) -> Optional[dict]:
        doc = self.document()
        self._values = {}
        self._counters = {}
        if doc is not None:
            stream = self._stream or sys.stdout
            stream.write(json.dumps(doc, separators=(",", ":")) + "\n")
            stream.flush()
        return doc
