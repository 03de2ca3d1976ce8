"""Where alerts go: stdout as JSON lines, an HTTP webhook, or syslog (RFC 5424).

Syslog messages follow RFC 5424 (``<PRI>1 TIMESTAMP HOST kapsec PID MSGID [SD] MSG``) with the
facility *log audit* (13) by default, the alert's severity mapped to syslog severities, the
key fields as structured data under the documentation enterprise number 32473 (RFC 5612), and
the alert as JSON in MSG. Over UDP one datagram per message (RFC 5426); over TCP with
octet-counting framing (RFC 6587).
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlparse

import msgspec

from kapsec.auditlog.detect import Alert
from kapsec.errors import ServiceError, UsageError
from kapsec.model.findings import Severity

SYSLOG_SEVERITY = {
    Severity.CRITICAL: 2,
    Severity.HIGH: 3,
    Severity.MEDIUM: 4,
    Severity.LOW: 5,
    Severity.INFO: 6,
}
FACILITIES = {
    "kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10, "audit": 13,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip
SD_ID = "kapsec@32473"


_enc = msgspec.json.Encoder()


_prefixes: dict[tuple[str, str, str, str, tuple[str, ...]], bytes] = {}


def alert_json(alert: Alert) -> str:
    """One alert as compact JSON (the hot path when a log raises many alerts): the rule part is
    encoded once per rule, the event part by the worker that matched the event."""
    if not alert.event_json or alert.detail:
        return _enc.encode(alert.to_dict()).decode()
    key = (alert.rule_id, alert.title, alert.severity.label, alert.confidence, alert.mitre)
    prefix = _prefixes.get(key)
    if prefix is None:
        head = {
            "rule": key[0],
            "title": key[1],
            "severity": key[2],
            "confidence": key[3],
            "mitre": list(key[4]),
        }
        prefix = _prefixes[key] = _enc.encode(head)[:-1] + b","
    loc = alert.location
    tail = _enc.encode({"file": loc.file if loc else None, "line": loc.line if loc else None})
    return (prefix + alert.event_json[1:-1] + b"," + tail[1:]).decode()


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def rfc5424(
    alert: Alert, *, facility: int = 13, hostname: str | None = None, now: datetime | None = None
) -> bytes:
    """One RFC 5424 message for an alert."""
    pri = facility * 8 + SYSLOG_SEVERITY[alert.severity]
    ts = (now or datetime.now(UTC)).isoformat(timespec="microseconds").replace("+00:00", "Z")
    host = (hostname or socket.gethostname() or "-")[:255].replace(" ", "-")
    msgid = alert.rule_id[:32] or "-"
    params = {
        "rule": alert.rule_id,
        "severity": alert.severity.label,
        "auditID": alert.audit_id,
        "user": alert.user,
        "verb": alert.verb,
        "target": alert.target,
    }
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_escape(v)}"' for k, v in params.items() if v) + "]"
    return f"<{pri}>1 {ts} {host} kapsec {os.getpid()} {msgid} {sd} {alert_json(alert)}".encode()


class SyslogSink:
    def __init__(self, url: str, facility: str = "audit") -> None:
        u = urlparse(url if "://" in url else f"udp://{url}")
        if u.scheme not in ("udp", "tcp") or not u.hostname or not u.port:
            raise UsageError(f"--syslog takes udp://HOST:PORT or tcp://HOST:PORT, not {url!r}")
        if facility not in FACILITIES:
            raise UsageError(f"unknown syslog facility {facility!r} (one of: {', '.join(FACILITIES)})")
        self.scheme = u.scheme
        self.addr = (u.hostname, u.port)
        self.facility = FACILITIES[facility]
        self.sock: socket.socket | None = None
        self.sent = 0

    def _connect(self) -> socket.socket:
        if self.sock is None:
            try:
                if self.scheme == "udp":
                    self.sock = socket.socket(
                        socket.AF_INET6 if ":" in self.addr[0] else socket.AF_INET, socket.SOCK_DGRAM
                    )
                else:
                    self.sock = socket.create_connection(self.addr, timeout=5)
            except OSError as exc:
                raise ServiceError(
                    f"cannot reach syslog at {self.scheme}://{self.addr[0]}:{self.addr[1]}: {exc}"
                ) from exc
        return self.sock

    def send(self, alert: Alert) -> None:
        msg = rfc5424(alert, facility=self.facility)
        for attempt in range(2):
            sock = self._connect()
            try:
                if self.scheme == "udp":
                    sock.sendto(msg, self.addr)
                else:
                    sock.sendall(str(len(msg)).encode() + b" " + msg)
                self.sent += 1
                return
            except OSError as exc:
                self.close()
                if attempt:
                    raise ServiceError(f"syslog send failed: {exc}") from exc

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class WebhookSink:
    """POST each alert as JSON; retried with backoff, then reported (the stream goes on)."""

    def __init__(
        self, url: str, timeout: float = 5.0, retries: int = 3, warn: Callable[[str], None] | None = None
    ) -> None:
        u = urlparse(url)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise UsageError(f"--webhook takes an http(s) URL, not {url!r}")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.warn = warn or (lambda _m: None)
        self.sent = 0
        self.failed = 0

    def send(self, alert: Alert) -> None:
        body = alert_json(alert).encode()
        delay = 0.2
        for attempt in range(self.retries):
            req = urllib.request.Request(  # noqa: S310 - http(s) only, checked in __init__
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "kapsec"},
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - http(s) only
                    if 200 <= resp.status < 300:
                        self.sent += 1
                        return
                    err = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                err = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                err = str(getattr(exc, "reason", exc))
            if attempt + 1 < self.retries:
                time.sleep(delay)
                delay *= 2
        self.failed += 1
        self.warn(f"webhook {self.url}: alert {alert.rule_id} {alert.audit_id} not delivered ({err})")

    def close(self) -> None:
        return None
