"""Just enough protobuf to name the object inside a stored value.

Mirrors the wire layout of ``runtime.Unknown``
(``staging/src/k8s.io/apimachinery/pkg/runtime/generated.proto``: 1 ``typeMeta`` {1 apiVersion,
2 kind}, 2 ``raw``, 3 ``contentEncoding``, 4 ``contentType``) behind the ``k8s\\x00`` magic of
``staging/src/k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go``, and of
``ObjectMeta`` (``staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto``: 1 name,
3 namespace), which is field 1 of every top-level object. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """Yield ``(field number, wire type, value)``; length-delimited values are bytes."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ProtobufError("truncated field")
            yield number, wire, buf[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
            if pos > len(buf):
                raise ProtobufError("truncated field")
            yield number, wire, buf[pos - 8 : pos]
        elif wire == 5:
            pos += 4
            if pos > len(buf):
                raise ProtobufError("truncated field")
            yield number, wire, buf[pos - 4 : pos]
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _first(buf: bytes, number: int) -> bytes | None:
    for n, wire, value in fields(buf):
        if n == number and wire == 2 and isinstance(value, bytes):
            return value
    return None


@dataclass(frozen=True, slots=True)
class StoredObject:
    api_version: str
    kind: str
    name: str
    namespace: str


def decode_stored_object(value: bytes) -> StoredObject:
    """Decode ``k8s\\x00`` + runtime.Unknown into apiVersion, kind, name and namespace."""
    if not value.startswith(MAGIC):
        raise ProtobufError("not a protobuf-encoded object (no k8s\\x00 magic)")
    unknown = value[len(MAGIC) :]
    type_meta = _first(unknown, 1) or b""
    raw = _first(unknown, 2) or b""
    api_version = (_first(type_meta, 1) or b"").decode("utf-8", "replace")
    kind = (_first(type_meta, 2) or b"").decode("utf-8", "replace")
    meta = _first(raw, 1) or b""
    name = (_first(meta, 1) or b"").decode("utf-8", "replace")
    namespace = (_first(meta, 3) or b"").decode("utf-8", "replace")
    if not kind:
        raise ProtobufError("runtime.Unknown without a kind")
    return StoredObject(api_version, kind, name, namespace)
