"""Objects are streamed in bounded chunks (StreamingBody.iter_chunks), never read whole."""

from __future__ import annotations

import hashlib

from botocore.response import StreamingBody

import handler_world as hw
from handler import app, core


def test_large_object_is_read_in_1_mib_chunks(world, monkeypatch):
    size = 3 * 1024 * 1024 + 123
    data = bytes(range(256)) * (size // 256) + b"\x00" * (size % 256)
    vid = world.put("incoming/large.bin", data)
    seen = {"chunk_size": [], "max_chunk": 0, "read_all": 0}
    orig_iter, orig_read = StreamingBody.iter_chunks, StreamingBody.read

    def iter_chunks(self, chunk_size=1024):
        seen["chunk_size"].append(chunk_size)
        for c in orig_iter(self, chunk_size):
            seen["max_chunk"] = max(seen["max_chunk"], len(c))
            yield c

    def read(self, amt=None):
        if amt is None:
            seen["read_all"] += 1
        return orig_read(self, amt)

    monkeypatch.setattr(StreamingBody, "iter_chunks", iter_chunks)
    monkeypatch.setattr(StreamingBody, "read", read)
    world.runtime(MAX_OBJECT_BYTES=size)
    app.lambda_handler(world.event(world.record("incoming/large.bin", vid)), hw.context())
    assert seen["chunk_size"] == [core.DEFAULT_CHUNK_SIZE]
    assert 0 < seen["max_chunk"] <= core.DEFAULT_CHUNK_SIZE
    assert seen["read_all"] == 0
    monkeypatch.undo()
    m = world.manifest("incoming/large.bin", vid)
    assert m["size"] == size and m["sha256"] == hashlib.sha256(data).hexdigest()
