"""Streaming reader for audit logs: JSONL as ``--audit-log-path`` writes it, ``.gz``, stdin.

Malformed lines are counted and remembered (file and line) in :class:`ReadStats` and skipped.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, cast

import msgspec

from kapsec.auditlog.event import AuditEvent, decode_event
from kapsec.errors import InputError

MAX_REMEMBERED_ERRORS = 100


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class ReadStats:
    files: int = 0
    lines: int = 0
    events: int = 0
    bytes: int = 0
    malformed: int = 0
    errors: list[tuple[Location, str]] = field(default_factory=list)

    def bad_line(self, loc: Location, reason: str) -> None:
        self.malformed += 1
        if len(self.errors) < MAX_REMEMBERED_ERRORS:
            self.errors.append((loc, reason))


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        fh: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from exc
    if fh.read(2) == b"\x1f\x8b":
        fh.seek(0)
        return cast(IO[bytes], gzip.GzipFile(fileobj=fh, mode="rb"))
    fh.seek(0)
    return fh


def read_events(
    paths: Iterable[str], stats: ReadStats | None = None
) -> Iterator[tuple[AuditEvent, Location]]:
    """Yield every event of every file in order, with its file and line."""
    stats = stats if stats is not None else ReadStats()
    for path in paths:
        stats.files += 1
        fh = _open(path)
        name = "<stdin>" if path == "-" else path
        lineno = 0
        try:
            for raw in fh:
                lineno += 1
                stats.lines += 1
                stats.bytes += len(raw)
                if not raw.strip():
                    continue
                try:
                    event = decode_event(raw)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    stats.bad_line(Location(name, lineno), str(exc))
                    continue
                stats.events += 1
                yield event, Location(name, lineno)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(
                f"compressed data is truncated or corrupt after line {lineno}", file=name
            ) from exc
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()
