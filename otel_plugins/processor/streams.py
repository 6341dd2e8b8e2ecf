"""Which stream a received record belongs to, and the table of streams with their pipelines.

A stream is one server's output: the resource's `service.instance.id`; else the log file
(`log.file.path`, else `log.file.name`, on the resource or on the record) on its host
(`host.name`); else the resource as a whole. Each stream has its own `LinePipeline`, so
its phase comes from its own lines only.

Streams idle for `idle_s` are closed (their sampling windows and any open crash dump
end), and so is the least recently used one when `max_streams` are open: state is
bounded whatever the senders do.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from ..pipeline import LinePipeline

INSTANCE_ID = "service.instance.id"
FILE_PATH = "log.file.path"
FILE_NAME = "log.file.name"
HOST_NAME = "host.name"
_IDENTITY = frozenset({INSTANCE_ID, FILE_PATH, FILE_NAME, HOST_NAME})

StreamKey = tuple


def _text(value: AnyValue) -> str | bytes:
    return value.string_value if value.HasField("string_value") else value.SerializeToString(deterministic=True)


class ResourceIdentity:
    """The identity attributes of one resource, read once per ResourceLogs."""

    __slots__ = ("host", "key", "resource")

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        found = {kv.key: _text(kv.value) for kv in resource.attributes if kv.key in _IDENTITY}
        self.host = found.get(HOST_NAME, "")
        self.key: StreamKey | None = None
        if INSTANCE_ID in found:
            self.key = (INSTANCE_ID, found[INSTANCE_ID])
        elif FILE_PATH in found or FILE_NAME in found:
            self.key = ("log.file", self.host, found.get(FILE_PATH) or found[FILE_NAME])

    def for_record(self, file: str | bytes | None) -> StreamKey:
        """The key of a record of this resource whose own attributes name `file` (or no file)."""
        if self.key is not None:
            return self.key
        if file is not None:
            return ("log.file", self.host, file)
        return ("resource", self.resource.SerializeToString(deterministic=True))


@dataclass
class Stream:
    key: StreamKey
    pipeline: LinePipeline
    resource: bytes  # serialized, for the records the stream makes when it closes
    last_seen: float


class StreamTable:
    """Open streams, least recently used first."""

    def __init__(
        self,
        make_pipeline: Callable[[], LinePipeline],
        *,
        idle_s: float,
        max_streams: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.make_pipeline = make_pipeline
        self.idle_s = idle_s
        self.max_streams = max_streams
        self.clock = clock
        self.opened = 0
        self._streams: OrderedDict[StreamKey, Stream] = OrderedDict()

    def __len__(self) -> int:
        return len(self._streams)

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self._streams.values()))

    def get(self, key: StreamKey, resource: Resource, evicted: list[Stream]) -> Stream:
        """The stream of `key`, opened if new; a stream pushed out by the bound goes to `evicted`."""
        stream = self._streams.get(key)
        now = self.clock()
        if stream is None:
            while len(self._streams) >= self.max_streams:
                evicted.append(self._streams.popitem(last=False)[1])
            stream = self._streams[key] = Stream(key, self.make_pipeline(), resource.SerializeToString(), now)
            self.opened += 1
        else:
            self._streams.move_to_end(key)
            stream.last_seen = now
        return stream

    def expired(self) -> list[Stream]:
        """Removes and returns the streams idle for longer than `idle_s`."""
        deadline = self.clock() - self.idle_s
        out = []
        while self._streams:
            stream = next(iter(self._streams.values()))
            if stream.last_seen > deadline:
                break
            out.append(self._streams.popitem(last=False)[1])
        return out

    def drain(self) -> list[Stream]:
        out = list(self._streams.values())
        self._streams.clear()
        return out
