"""Record every AWS API call a client makes (for least-privilege proofs).

    rec = ApiCallRecorder().attach(client)   # any boto3 client
    ...; rec.calls -> [{"service": "s3", "operation": "HeadObject",
                        "params": {"Bucket": ..., "Key": ..., "VersionId": ...}}, ...]

Every call is also appended to the session-wide ``RECORDED_CALLS`` list.
The hook is ``before-parameter-build.*.*`` (it sees the API parameters, before
serialisation); payloads (``Body``, ``SecretString``) are never recorded.
"""

from __future__ import annotations

from typing import List

RECORDED_CALLS: List[dict] = []  # session-level, across all tests

RECORDED_PARAMS = (
    "Bucket", "Key", "VersionId", "IfNoneMatch", "IfMatch", "ContentType",
    "SecretId", "VersionStage", "ClientRequestToken", "MoveToVersionId",
    "RemoveFromVersionId", "VersionStages", "PasswordLength", "KeyId",
)


class ApiCallRecorder:
    def __init__(self) -> None:
        self.calls: List[dict] = []
        self._clients = []

    def attach(self, client) -> "ApiCallRecorder":
        client.meta.events.register("before-parameter-build.*.*", self._hook,
                                    unique_id=f"api-call-recorder-{id(self)}")
        self._clients.append(client)
        return self

    def detach(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-parameter-build.*.*",
                                          unique_id=f"api-call-recorder-{id(self)}")
        self._clients.clear()

    def _hook(self, params, model, **_):
        call = {
            "service": model.service_model.service_name,
            "signing_name": model.service_model.signing_name,
            "operation": model.name,
            "params": {k: params[k] for k in RECORDED_PARAMS if k in params},
        }
        self.calls.append(call)
        RECORDED_CALLS.append(call)

    def operations(self, service: str = None) -> List[str]:
        return [c["operation"] for c in self.calls if service in (None, c["service"])]

    def clear(self) -> None:
        self.calls.clear()
