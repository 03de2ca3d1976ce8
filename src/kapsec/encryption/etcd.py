"""A read-only etcd v3 reader over etcd's gRPC-gateway JSON API (the I/O edge of ``verify``).

etcd serves its KV API as JSON under ``/v3/`` (3.4+; ``/v3beta/`` on 3.3 and 3.4, ``/v3alpha/``
on 3.2): ``POST /v3/kv/range`` with base64 ``key``/``range_end``, ``limit`` and ``revision``
(``etcdserver/etcdserverpb/rpc.proto`` ``RangeRequest``). This module only ever calls ``range``
and ``/version``: kapsec never writes to etcd. Pages are read at the revision of the first page,
so a scan sees one consistent snapshot even while the API server keeps writing.

Only the standard library is used (``http.client`` and ``ssl``), so verification needs neither
``etcdctl`` nor a gRPC stack.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import ssl
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from kapsec.errors import InputError, ServiceError

API_PREFIXES = ("/v3", "/v3beta", "/v3alpha")


def prefix_range_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix`` (etcd's GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\x00"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _KV(msgspec.Struct):
    key: bytes  # msgspec decodes the gateway's base64 strings into bytes (in C)
    value: bytes = b""


class _Header(msgspec.Struct):
    revision: str = "0"


class _RangeResponse(msgspec.Struct):
    header: _Header = msgspec.field(default_factory=_Header)
    kvs: list[_KV] = msgspec.field(default_factory=list)
    more: bool = False
    count: str = "0"


_decode_range = msgspec.json.Decoder(_RangeResponse)


@dataclass(frozen=True, slots=True)
class TLSFiles:
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None


class EtcdReader:
    """Range reads against one etcd endpoint. Use as a context manager."""

    def __init__(self, url: str, tls: TLSFiles | None = None, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(
                f"not an etcd client URL: {url!r} (expected http://HOST:PORT or https://HOST:PORT)"
            )
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.hostname
        self._port = parts.port or 2379
        self._timeout = timeout
        self._tls = tls or TLSFiles()
        self._context: ssl.SSLContext | None = None
        if parts.scheme == "https" or self._tls.cacert or self._tls.cert:
            if parts.scheme != "https":
                raise InputError(f"TLS files given but the etcd URL {url!r} is not https://")
            self._context = self._make_context()
        elif self._tls.key:
            raise InputError("--key given without --cert")
        self._conn: http.client.HTTPConnection | None = None
        self._api: str | None = None

    def _make_context(self) -> ssl.SSLContext:
        for label, path in (
            ("--cacert", self._tls.cacert),
            ("--cert", self._tls.cert),
            ("--key", self._tls.key),
        ):
            if path is not None and not os.path.isfile(path):
                raise InputError(f"{label}: no such file", file=path)
        if bool(self._tls.cert) != bool(self._tls.key):
            raise InputError("--cert and --key must be given together")
        try:
            ctx = ssl.create_default_context(cafile=self._tls.cacert)
        except (ssl.SSLError, OSError) as exc:
            why = getattr(exc, "reason", None) or exc.strerror or exc
            raise InputError(f"--cacert: not a PEM CA bundle ({why})", file=self._tls.cacert) from exc
        if self._tls.cert and self._tls.key:
            try:
                ctx.load_cert_chain(self._tls.cert, self._tls.key)
            except (ssl.SSLError, OSError) as exc:
                why = getattr(exc, "reason", None) or exc.strerror or exc
                raise InputError(
                    f"--cert/--key: not a matching PEM certificate and key ({why})", file=self._tls.cert
                ) from exc
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def __enter__(self) -> EtcdReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._context is not None:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._context
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                return resp.status, resp.read()
            except ssl.SSLError as exc:
                self.close()
                raise ServiceError(
                    f"TLS handshake with etcd at {self.url} failed: {exc.reason or exc}{self._tls_hint(exc)}"
                ) from exc
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()  # a kept-alive connection was closed by the server: retry once
                if attempt == 2:
                    raise ServiceError(f"etcd at {self.url} closed the connection: {exc}") from exc
            except TimeoutError as exc:
                self.close()
                raise ServiceError(f"etcd at {self.url} did not answer within {self._timeout:g}s") from exc
            except OSError as exc:
                self.close()
                raise ServiceError(f"cannot connect to etcd at {self.url}: {exc.strerror or exc}") from exc
        raise AssertionError("unreachable")

    def _tls_hint(self, exc: ssl.SSLError) -> str:
        reason = str(exc.reason or "")
        if reason == "CERTIFICATE_VERIFY_FAILED":
            return " (etcd's serving certificate is not signed by a trusted CA: pass --cacert with etcd's CA)"
        if "ALERT" in reason and "CERTIFICATE" in reason:
            if not self._tls.cert:
                return " (etcd asks for a client certificate: pass --cert and --key)"
            return " (etcd rejected the client certificate: is it signed by etcd's --trusted-ca-file?)"
        return ""

    def version(self) -> dict[str, Any]:
        status, body = self._request("GET", "/version")
        if status != 200:
            raise ServiceError(f"etcd at {self.url} answered {status} to GET /version")
        try:
            out: dict[str, Any] = json.loads(body)
        except ValueError as exc:
            raise ServiceError(f"{self.url} is not etcd: /version did not return JSON") from exc
        return out

    def _range(self, payload: dict[str, Any]) -> _RangeResponse:
        body = json.dumps(payload).encode()
        apis = (self._api,) if self._api else API_PREFIXES
        for api in apis:
            status, data = self._request("POST", f"{api}/kv/range", body)
            if status == 404 and self._api is None:
                continue
            if status != 200:
                raise ServiceError(
                    f"etcd at {self.url} answered {status} to a range read: {_error_text(data)}"
                )
            self._api = api
            try:
                return _decode_range.decode(data)
            except msgspec.DecodeError as exc:
                raise ServiceError(
                    f"etcd at {self.url} sent a range answer kapsec cannot read: {exc}"
                ) from exc
        raise ServiceError(f"{self.url} serves no etcd v3 JSON gateway (tried {', '.join(API_PREFIXES)})")

    def scan_prefix(
        self, prefix: bytes, *, page_size: int = 5000, revision: int = 0
    ) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)`` under ``prefix`` in key order, ``page_size`` at a time, one revision
        (``revision``, or the one the first page was read at).

        The next page is requested while the caller works through the current one (one request
        in flight at a time, on one connection). etcd 3.4 walks every remaining key of the range
        for each page, so large pages are much cheaper than small ones.
        """
        if page_size < 1:
            raise InputError("page size must be at least 1")
        end = prefix_range_end(prefix)

        def fetch(start: bytes, revision: int) -> _RangeResponse:
            payload: dict[str, Any] = {"key": _b64(start), "range_end": _b64(end), "limit": page_size}
            if revision:
                payload["revision"] = revision
            return self._range(payload)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="etcd-range") as pool:
            page = fetch(prefix, revision)
            revision = revision or int(page.header.revision)
            while True:
                upcoming: Future[_RangeResponse] | None = None
                if page.more and page.kvs:
                    last = page.kvs[-1].key
                    upcoming = pool.submit(fetch, last + b"\x00", revision)
                try:
                    for kv in page.kvs:
                        yield kv.key, kv.value
                except BaseException:  # the caller stopped early (or failed): drop the prefetch
                    if upcoming is not None:
                        upcoming.cancel()
                    raise
                if upcoming is None:
                    return
                page = upcoming.result()

    def revision(self) -> int:
        """The current store revision (from an empty range read)."""
        page = self._range({"key": _b64(b"\x00"), "limit": 1, "count_only": True})
        return int(page.header.revision)


def _error_text(data: bytes) -> str:
    try:
        obj = json.loads(data)
    except ValueError:
        return data[:200].decode("utf-8", "replace")
    if isinstance(obj, dict):
        return str(obj.get("message") or obj.get("error") or obj)
    return str(obj)


def read_etcdctl_dump(path: str) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` pairs of an ``etcdctl get --prefix ... -w json`` dump (base64 fields)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=path) from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError("compressed data is truncated or corrupt", file=path) from exc
    if not raw.strip():
        raise InputError("the file is empty: expected `etcdctl get --prefix ... -w json` output", file=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=path) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno) from exc
    if not isinstance(data, dict) or not isinstance(data.get("kvs", []), list):
        raise InputError("not an `etcdctl get -w json` dump (no kvs list)", file=path)
    out: list[tuple[bytes, bytes]] = []
    for i, kv in enumerate(data.get("kvs") or []):
        try:
            out.append(
                (
                    base64.b64decode(kv["key"], validate=True),
                    base64.b64decode(kv.get("value", ""), validate=True),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"kvs[{i}]: key/value is not base64 ({exc})", file=path) from exc
    return out
