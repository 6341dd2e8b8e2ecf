"""Builds a Record for a request that arrived as values (logging args, span attributes)."""

from __future__ import annotations

from .. import names
from ..record import Kind, Record


def http_record(
    method: str | None, path: str | None, status: int | None = None, client: str | None = None
) -> Record:
    fields: dict[str, object] = {}
    if method:
        fields[names.HTTP_METHOD] = method.upper()
    if path:
        fields[names.URL_PATH] = path.split("?", 1)[0]
    if status is not None:
        fields[names.HTTP_STATUS] = int(status)
    if client:
        host, sep, port = client.rpartition(":")
        if sep and port.isascii() and port.isdigit() and host:
            fields[names.CLIENT_ADDRESS] = host.strip("[]")
            fields[names.CLIENT_PORT] = int(port)
        else:
            fields[names.CLIENT_ADDRESS] = client
    return Record(text="", dialect="values", kind=Kind.HTTP, fields=fields)
