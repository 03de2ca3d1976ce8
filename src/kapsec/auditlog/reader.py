"""Streaming reader for audit logs.

Reads what the API server and the usual collectors write:

* JSONL ``Event`` objects as ``--audit-log-path`` writes them (``audit.k8s.io/v1`` and ``v1beta1``);
* JSON documents spanning many lines: a pretty-printed ``Event``, a webhook ``EventList`` batch,
  or a ``List`` of events;
* the ``--audit-log-format=legacy`` text lines;
* cloud envelopes, normalised to Events: GKE Cloud Audit Log entries (``protoPayload``), AKS
  diagnostic logs (``properties.log`` as an object or a JSON string) and CloudWatch-style exports
  (``@message``/``message`` holding the Event as a string);
* ``.gz`` files (detected by magic number), a rotated set given as a directory or a glob (read in
  time order: backups by the time in their name, the active file last), and ``-`` for stdin.

Malformed lines are counted and remembered (file and line) in :class:`ReadStats` and skipped.
A truncated or corrupt gzip raises :class:`~kapsec.errors.InputError` naming the file and the
last good line. :class:`Deduper` keeps one event per request (``auditID``).
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import sys
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Generic, TypeVar, cast

import msgspec

from kapsec.auditlog.event import FINAL_STAGES, STAGE_RANK, AuditEvent, decode_event
from kapsec.errors import InputError

MAX_REMEMBERED_ERRORS = 100
#: A JSON document spanning many lines (EventList, pretty Event) is read whole up to this size.
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024

_GLOB_CHARS = re.compile(r"[*?\[]")
# lumberjack (the API server's log rotation) names backups NAME-2006-01-02T15-04-05.000.EXT[.gz]
_BACKUP_TIME = re.compile(r"-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.[^/]*$")


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
    skipped: int = 0  # lines the byte pre-filter ruled out without decoding
    duplicates: int = 0  # events dropped by de-duplication
    errors: list[tuple[Location, str]] = field(default_factory=list)

    def bad_line(self, loc: Location, reason: str) -> None:
        self.malformed += 1
        if len(self.errors) < MAX_REMEMBERED_ERRORS:
            self.errors.append((loc, reason))

    def merge(self, other: ReadStats) -> None:
        self.files += other.files
        self.lines += other.lines
        self.events += other.events
        self.bytes += other.bytes
        self.skipped += other.skipped
        self.duplicates += other.duplicates
        self.malformed += other.malformed
        room = MAX_REMEMBERED_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(other.errors[:room])


# ---------------------------------------------------------------------------------------------
# Which files


def _backup_time(path: str) -> float | None:
    m = _BACKUP_TIME.search(os.path.basename(path))
    if not m:
        return None
    text = m.group(1)
    day, clock = text.split("T")
    hms = clock.replace("-", ":", 2)
    try:
        dt = datetime.fromisoformat(f"{day}T{hms}").replace(tzinfo=UTC)
    except ValueError:
        return None
    return dt.timestamp()


def time_order(paths: Iterable[str]) -> list[str]:
    """Sort a rotated set oldest first: backups by the rotation time in their name, others by mtime."""

    def key(p: str) -> tuple[float, str]:
        t = _backup_time(p)
        if t is None:
            try:
                t = os.stat(p).st_mtime
            except OSError:
                t = float("inf")
        return (t, p)

    return sorted(paths, key=key)


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Turn LOG arguments into files: ``-`` stays, directories and globs become their files in time order."""
    out: list[str] = []
    for path in paths:
        if path == "-":
            out.append(path)
        elif os.path.isdir(path):
            names = [
                os.path.join(path, n)
                for n in os.listdir(path)
                if not n.startswith(".") and os.path.isfile(os.path.join(path, n))
            ]
            out.extend(time_order(names))
        elif not os.path.exists(path) and _GLOB_CHARS.search(path):
            matches = [p for p in glob.glob(path) if os.path.isfile(p)]
            if not matches:
                raise InputError("no file matches this pattern", file=path)
            out.extend(time_order(matches))
        else:
            out.append(path)
    return out


# ---------------------------------------------------------------------------------------------
# Bytes to lines


def open_log(path: str) -> IO[bytes]:
    """Open a log file (or stdin for ``-``), transparently gunzipping."""
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


def _display(path: str) -> str:
    return "<stdin>" if path == "-" else path


# ---------------------------------------------------------------------------------------------
# Envelopes and other formats


_LEGACY = re.compile(r'([a-z-]+)="((?:[^"\\]|\\.)*)"')
_GRPC_TO_HTTP = {0: 200, 3: 400, 5: 404, 6: 409, 7: 403, 9: 400, 10: 409, 13: 500, 14: 503, 16: 401}


def _unquote_legacy(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\")


def parse_legacy(line: str) -> dict[str, Any] | None:
    """One ``--audit-log-format=legacy`` line as an Event dict, or None if it is not one."""
    head, sep, rest = line.partition(" AUDIT: ")
    if not sep:
        return None
    kv = {k: _unquote_legacy(v) for k, v in _LEGACY.findall(rest)}
    if "id" not in kv:
        return None

    def strings(text: str) -> list[str]:
        if text in ("", "<none>", "<lookup>"):
            return []
        return [g.strip('"') for g in re.findall(r'"(?:[^"\\]|\\.)*"', text)]

    uri = kv.get("uri", "")
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": kv["id"],
        "stage": kv.get("stage", ""),
        "requestURI": uri,
        "verb": kv.get("method", ""),
        "user": {}
        if kv.get("user") in (None, "<none>")
        else {"username": kv["user"], "groups": strings(kv.get("groups", ""))},
        "sourceIPs": [ip for ip in kv.get("ip", "").split(",") if ip and ip != "<unknown>"],
        "userAgent": kv.get("user-agent", ""),
        "requestReceivedTimestamp": head.strip(),
        "stageTimestamp": head.strip(),
    }
    if kv.get("as") not in (None, "<self>"):
        event["impersonatedUser"] = {"username": kv["as"], "groups": strings(kv.get("asgroups", ""))}
    resp = kv.get("response", "")
    if resp.isdigit():
        event["responseStatus"] = {"code": int(resp)}
    ref = _object_ref_from_path(uri.split("?", 1)[0])
    if ref is not None:
        event["objectRef"] = ref
    return event


def _object_ref_from_path(path: str) -> dict[str, str] | None:
    """Resource attributes from a request path (/api/v1/..., /apis/g/v/...), as the request info resolver."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    ref: dict[str, str] = {"apiGroup": group, "apiVersion": version} if group else {"apiVersion": version}
    if rest[0] == "namespaces" and len(rest) >= 3:
        ref["namespace"] = rest[1]
        rest = rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        ref["namespace"] = rest[1]
        ref["name"] = rest[1]
        ref["resource"] = "namespaces"
        return ref
    ref["resource"] = rest[0]
    if len(rest) >= 2:
        ref["name"] = rest[1]
    if len(rest) >= 3:
        ref["subresource"] = rest[2]
    return ref


def _from_gke(entry: dict[str, Any]) -> dict[str, Any]:
    pp = entry.get("protoPayload") or {}
    method = str(pp.get("methodName", ""))
    verb = method.rsplit(".", 1)[-1] if method else ""
    auth = pp.get("authenticationInfo") or {}
    meta = pp.get("requestMetadata") or {}
    labels = entry.get("labels") or {}
    status = pp.get("status") or {}
    grpc = status.get("code", 0)
    code = _GRPC_TO_HTTP.get(grpc, 500) if isinstance(grpc, int) else 500
    name = str(pp.get("resourceName", ""))
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse" if (pp.get("request") or pp.get("response")) else "Metadata",
        "auditID": str((entry.get("operation") or {}).get("id") or entry.get("insertId", "")),
        "stage": "ResponseComplete",
        "requestURI": "/" + name if name else "",
        "verb": verb,
        "user": {"username": auth["principalEmail"]} if auth.get("principalEmail") else {},
        "sourceIPs": [meta["callerIp"]] if meta.get("callerIp") else [],
        "userAgent": str(meta.get("callerSuppliedUserAgent", "")),
        "responseStatus": {"code": code, "message": str(status.get("message", ""))},
        "requestReceivedTimestamp": str(entry.get("timestamp", "")),
        "stageTimestamp": str(entry.get("timestamp", "")),
        "annotations": {str(k): str(v) for k, v in labels.items()},
    }
    # resourceName: GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]; "core" is the legacy group
    parts = name.split("/")
    if len(parts) >= 3 and "/" in name:
        group = "" if parts[0] == "core" else parts[0]
        ref = _object_ref_from_path(("/api/" if not group else f"/apis/{group}/") + "/".join(parts[1:]))
        if ref is not None:
            event["objectRef"] = ref
            event["requestURI"] = ("/api/" if not group else f"/apis/{group}/") + "/".join(parts[1:])
    if pp.get("request") is not None:
        event["requestObject"] = pp["request"]
    if pp.get("response") is not None:
        event["responseObject"] = pp["response"]
    if "authorization.k8s.io/decision" not in event["annotations"]:
        infos = pp.get("authorizationInfo") or []
        if infos and isinstance(infos[0], dict) and "granted" in infos[0]:
            event["annotations"]["authorization.k8s.io/decision"] = (
                "allow" if infos[0]["granted"] else "forbid"
            )
    return event


def normalise(obj: Any) -> list[Any]:
    """The audit Events inside one decoded JSON value (an Event, a list, or an envelope)."""
    if isinstance(obj, list):
        return [e for item in obj for e in normalise(item)]
    if not isinstance(obj, dict):
        return [obj]
    if isinstance(obj.get("items"), list) and (
        obj.get("kind") in ("EventList", "List") or "auditID" not in obj
    ):
        return [e for item in obj["items"] for e in normalise(item)]
    if isinstance(obj.get("protoPayload"), dict):
        return [_from_gke(obj)]
    props = obj.get("properties")
    if isinstance(props, dict) and "log" in props and "auditID" not in obj:
        log = props["log"]
        if isinstance(log, str):
            log = json.loads(log)
        return normalise(log)
    for key in ("@message", "message", "log"):
        inner = obj.get(key)
        if isinstance(inner, str) and inner.lstrip().startswith("{") and "auditID" not in obj:
            return normalise(json.loads(inner))
    return [obj]


def _to_event(obj: Any) -> AuditEvent:
    if not isinstance(obj, dict):
        raise msgspec.ValidationError(f"expected an audit Event object, got {type(obj).__name__}")
    return decode_event(msgspec.json.encode(obj))


def _looks_like_event(ev: AuditEvent) -> bool:
    return bool(ev.auditID or ev.verb or ev.stage)


def decode_line(raw: bytes) -> list[AuditEvent]:
    """Decode one line into its events; raises ``ValueError`` (with a reason) when it is not one."""
    if b" AUDIT: " in raw[:80] and raw.lstrip()[:1] not in (b"{", b"["):
        legacy = parse_legacy(raw.decode("utf-8", "replace"))
        if legacy is not None:
            return [_to_event(legacy)]
    try:
        ev = decode_event(raw)
    except msgspec.ValidationError as exc:
        raise ValueError(f"not an audit Event: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if _looks_like_event(ev):
        return [ev]
    # An envelope, a list, or something else entirely.
    try:
        obj = msgspec.json.decode(raw)
        items = normalise(obj)
        events = [_to_event(o) for o in items]
    except (msgspec.DecodeError, msgspec.ValidationError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an audit Event: {exc}") from None
    events = [e for e in events if _looks_like_event(e)]
    if not events:
        raise ValueError("not an audit Event: no auditID, verb or stage")
    return events


# ---------------------------------------------------------------------------------------------
# Reading


def _iter_document(
    text: str, name: str, first_line: int, stats: ReadStats
) -> Iterator[tuple[AuditEvent, Location]]:
    """Events of a file holding JSON documents over many lines (pretty Event, EventList)."""
    dec = json.JSONDecoder()
    pos = 0
    line = first_line
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            if text[pos] == "\n":
                line += 1
            pos += 1
        if pos >= n:
            return
        start_line = line
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            stats.bad_line(Location(name, start_line), f"invalid JSON: {exc.msg}")
            nl = text.find("\n", pos)
            if nl == -1:
                return
            line += 1
            pos = nl + 1
            continue
        line += text.count("\n", pos, end)
        pos = end
        for item in normalise(obj):
            try:
                ev = _to_event(item)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                stats.bad_line(Location(name, start_line), f"not an audit Event: {exc}")
                continue
            if not _looks_like_event(ev):
                stats.bad_line(Location(name, start_line), "not an audit Event: no auditID, verb or stage")
                continue
            stats.events += 1
            yield ev, Location(name, start_line)


def _read_one(
    path: str, stats: ReadStats, prefilter: Callable[[bytes], bool] | None
) -> Iterator[tuple[AuditEvent, Location, int]]:
    stats.files += 1
    name = _display(path)
    fh = open_log(path)
    lineno = 0
    try:
        first = True
        for raw in fh:
            lineno += 1
            stats.lines += 1
            stats.bytes += len(raw)
            stripped = raw.strip()
            if not stripped:
                continue
            if first:
                first = False
                if stripped[:1] in (b"{", b"[") and not _complete_json(stripped):
                    # A document over many lines: read the rest of the file whole.
                    rest = fh.read(MAX_DOCUMENT_BYTES + 1)
                    if len(rest) > MAX_DOCUMENT_BYTES:
                        raise InputError(
                            f"a JSON document over many lines larger than {MAX_DOCUMENT_BYTES} bytes; "
                            "write one Event per line (JSONL) instead",
                            file=name,
                        )
                    stats.bytes += len(rest)
                    stats.lines += rest.count(b"\n")
                    text = (raw + rest).decode("utf-8", "replace")
                    for ev, loc in _iter_document(text, name, lineno, stats):
                        yield ev, loc, 0
                    return
            if prefilter is not None and not prefilter(raw):
                stats.skipped += 1
                continue
            try:
                events = decode_line(raw)
            except ValueError as exc:
                stats.bad_line(Location(name, lineno), str(exc))
                continue
            size = len(raw) // len(events)
            for ev in events:
                stats.events += 1
                yield ev, Location(name, lineno), size
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(
            f"compressed data is truncated or corrupt after line {lineno} ({exc})", file=name
        ) from exc
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def _complete_json(line: bytes) -> bool:
    """False when a line is the start of a JSON value that continues on the next lines."""
    try:
        msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        return "truncated" not in str(exc)
    return True


def read_events(
    paths: Iterable[str],
    stats: ReadStats | None = None,
    *,
    prefilter: Callable[[bytes], bool] | None = None,
    dedup: bool = False,
    expand: bool = True,
) -> Iterator[tuple[AuditEvent, Location]]:
    """Yield every event of every file in order, with its file and line.

    ``prefilter`` is a cheap test on the raw line (a necessary condition for the caller's query);
    lines it rejects are not decoded. With ``dedup`` one event is kept per request (see
    :class:`Deduper`). Directories and globs are expanded to their files in time order unless
    ``expand`` is false.
    """
    for ev, loc, _ in read_events_sized(paths, stats, prefilter=prefilter, dedup=dedup, expand=expand):
        yield ev, loc


def read_events_sized(
    paths: Iterable[str],
    stats: ReadStats | None = None,
    *,
    prefilter: Callable[[bytes], bool] | None = None,
    dedup: bool = False,
    expand: bool = True,
) -> Iterator[tuple[AuditEvent, Location, int]]:
    """Like :func:`read_events`, with each event's size in bytes in the log (0 inside a JSON document)."""
    stats = stats if stats is not None else ReadStats()
    files = expand_paths(paths) if expand else list(paths)
    stream = (item for path in files for item in _read_one(path, stats, prefilter))
    if not dedup:
        yield from stream
        return
    deduper: Deduper[tuple[AuditEvent, Location, int]] = Deduper()
    for item in stream:
        ev = item[0]
        yield from deduper.push(ev.auditID, ev.stage, item)
    yield from deduper.flush()
    stats.duplicates += deduper.dropped


T = TypeVar("T")


class Deduper(Generic[T]):
    """One item per request, in the order requests started: the ResponseComplete (or Panic)
    event, else the last stage seen.

    Each request holds a slot at the position of its first event; the slot is released once
    it reaches a final stage and every earlier slot is released. A request that never completes
    (a 401 is logged at ResponseStarted only; a watch may outlive the log) is released with its
    last stage when ``window`` slots wait behind it, or at :meth:`flush` (end of input, an idle
    ``--follow``). Released requests are remembered in a bounded LRU set so that a late
    ResponseComplete is not emitted twice. Memory is bounded; items without an ``auditID`` pass.
    """

    def __init__(self, window: int = 10000, memory: int = 200000) -> None:
        self.window = window
        self.memory = memory
        self.queue: deque[list[Any]] = deque()  # [key, rank, item, final]
        self.slots: dict[str, list[Any]] = {}
        self.done: OrderedDict[str, None] = OrderedDict()
        self.dropped = 0

    def _mark(self, key: str) -> None:
        if not key:
            return
        self.done[key] = None
        if len(self.done) > self.memory:
            self.done.popitem(last=False)

    def _release(self) -> list[T]:
        out: list[T] = []
        q = self.queue
        while q and q[0][3]:
            key, _, item, _ = q.popleft()
            if key:
                del self.slots[key]
                self._mark(key)
            out.append(item)
        return out

    def push(self, key: str, stage: str, item: T) -> list[T]:
        final = stage in FINAL_STAGES
        if not key:
            if not self.queue:
                return [item]
            self.queue.append(["", 0, item, True])
            return self._release()
        if key in self.done:
            self.dropped += 1
            return []
        rank = STAGE_RANK.get(stage, 0)
        slot = self.slots.get(key)
        if slot is not None:
            self.dropped += 1
            if rank >= slot[1]:
                slot[1], slot[2] = rank, item
            slot[3] = slot[3] or final
        else:
            slot = [key, rank, item, final]
            self.slots[key] = slot
            self.queue.append(slot)
        if len(self.queue) > self.window:
            self.queue[0][3] = True
        return self._release()

    def flush(self) -> list[T]:
        for slot in self.queue:
            slot[3] = True
        return self._release()
